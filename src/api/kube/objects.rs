//! Objects: list, get, create, replace (PUT), patch, delete.
//!
//! Bodies are JSON (YAML by Content-Type; the one protobuf body kubectl sends is
//! decoded by `protobuf.rs`); every answer is the object in the URL's version with
//! `apiVersion` and `kind`. The core's generic operations (`core/objects.rs`) do the
//! admitting and storing; patches are JSON on JSON here (`model::patch`).

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde_json::{Value, json};

use super::{NAMESPACE, Req, Status, api_version, json_response, table};
use crate::core::{CoreError, K1s, Propagation};
use crate::model::labels::{FieldSelector, Selector, parse_label_selector};
use crate::model::status::PodExt;
use crate::model::{self, patch as patches, replicaset::merge_patch};
use crate::registry::KindInfo;
use crate::store::{Body, MetaExt};

/// A list's (or watch's) filter: `labelSelector` with every operator and
/// `fieldSelector` on `metadata.name`, `metadata.namespace` (and a pod's
/// `status.phase`).
pub struct Filter {
    labels: Selector,
    fields: FieldSelector,
}

impl Filter {
    /// The filter a request's query asks for (400 when a selector does not parse).
    pub fn from_req(req: &Req) -> Result<Filter, Status> {
        let labels = parse_label_selector(req.param("labelSelector").unwrap_or(""))
            .map_err(Status::bad_request)?;
        let fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))
            .map_err(Status::bad_request)?;
        if let Some(r) = fields.reqs.iter().find(|r| {
            !matches!(
                r.field.as_str(),
                "metadata.name" | "metadata.namespace" | "status.phase"
            )
        }) {
            return Err(Status::bad_request(format!(
                "field label not supported: {}",
                r.field
            )));
        }
        Ok(Filter { labels, fields })
    }

    /// Whether an object passes.
    pub fn matches(&self, b: &Body) -> bool {
        self.labels.matches(b.labels())
            && self.fields.matches(|f| match f {
                "metadata.name" => Some(b.name().to_string()),
                "metadata.namespace" => Some(NAMESPACE.to_string()),
                _ => match b {
                    Body::Pod(p) => Some(p.phase().to_string()),
                    _ => None,
                },
            })
    }
}

/// `GET …/{resource}` (not a watch).
pub fn list(k1s: &Arc<K1s>, kind: &KindInfo, version: &str, req: &Req) -> Result<Response, Status> {
    let filter = Filter::from_req(req)?;
    // Read the version first: a change racing this list is then replayed by a watch
    // from it rather than missed.
    let rv = k1s.store().resource_version();
    let objects: Vec<Body> = k1s
        .objects(kind.store)
        .into_iter()
        .filter(|b| filter.matches(b))
        .collect();
    if req.wants_table() {
        return Ok(json_response(
            StatusCode::OK,
            &table::table(k1s, kind, &objects, req, rv),
        ));
    }
    let items: Vec<Value> = objects
        .iter()
        .map(|b| to_version(kind, b, version))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", kind.kind),
            "apiVersion": api_version(kind, version),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items,
        }),
    ))
}

/// `GET …/{resource}/{name}`.
pub fn get(
    k1s: &Arc<K1s>,
    kind: &KindInfo,
    version: &str,
    name: &str,
    req: &Req,
) -> Result<Response, Status> {
    let b = k1s
        .object(kind.store, name)
        .ok_or_else(|| Status::not_found(kind, name))?;
    if req.wants_table() {
        let rv = b.resource_version();
        return Ok(json_response(
            StatusCode::OK,
            &table::table(k1s, kind, std::slice::from_ref(&b), req, rv),
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &to_version(kind, &b, version),
    ))
}

/// The request body as JSON: protobuf (kubectl autoscale), YAML or JSON.
fn body_value(req: &Req) -> Result<Value, Status> {
    let ct = req.content_type();
    if ct == "application/vnd.kubernetes.protobuf" {
        return super::protobuf::decode(&req.body).map_err(Status::bad_request);
    }
    let yaml = model::is_yaml_content_type(&ct) || ct == "application/apply-patch+yaml";
    model::parse_body(&req.body, yaml).map_err(|e| Status::bad_request(e.0))
}

/// Fills in `apiVersion` and `kind` from the URL when the body lacks them, and
/// refuses a body of another kind or namespace.
fn check_object_body(v: &mut Value, kind: &KindInfo, version: &str) -> Result<(), Status> {
    let Some(o) = v.as_object_mut() else {
        return Err(Status::bad_request("the body must be a JSON object"));
    };
    match o.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            o.insert("kind".into(), json!(kind.kind));
        }
        Some(k) if k != kind.kind => {
            return Err(Status::bad_request(format!(
                "the kind of the body ({k}) does not match the resource ({})",
                super::resource_name(kind)
            )));
        }
        Some(_) => {}
    }
    if o.get("apiVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        o.insert("apiVersion".into(), json!(api_version(kind, version)));
    }
    if let Some(ns) = o
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        && !ns.is_empty()
        && ns != NAMESPACE
    {
        return Err(Status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

fn name_in(v: &Value) -> String {
    let m = &v["metadata"];
    m["name"]
        .as_str()
        .or_else(|| m["generateName"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// A core error as the apiserver words it; with `fieldValidation=Strict`, unknown
/// fields are a 400 BadRequest ("strict decoding error"), as the apiserver answers.
fn error_status(e: CoreError, kind: &KindInfo, version: &str, name: &str, req: &Req) -> Status {
    if let CoreError::Invalid(inv) = &e
        && req.param("fieldValidation") == Some("Strict")
        && inv
            .causes
            .iter()
            .all(|c| c.message.starts_with("unknown field"))
    {
        let fields: Vec<String> = inv
            .causes
            .iter()
            .map(|c| format!("unknown field \"{}\"", c.field))
            .collect();
        return Status::bad_request(format!(
            "{} in version \"{version}\" cannot be handled as a {}: strict decoding error: {}",
            kind.kind,
            kind.kind,
            fields.join(", ")
        ));
    }
    Status::from_core(e, kind, name)
}

fn answer(code: StatusCode, v: &Value, warnings: &[String]) -> Response {
    let mut r = json_response(code, v);
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "'"));
        if let Ok(h) = HeaderValue::from_str(&text) {
            r.headers_mut().append("warning", h);
        }
    }
    r.into_response()
}

/// `POST …/{resource}`.
pub async fn create(
    k1s: &Arc<K1s>,
    kind: &KindInfo,
    version: &str,
    req: &Req,
) -> Result<Response, Status> {
    let mut value = body_value(req)?;
    check_object_body(&mut value, kind, version)?;
    let name = name_in(&value);
    let c = k1s
        .create_object(kind.store, value, req.dry_run())
        .await
        .map_err(|e| error_status(e, kind, version, &name, req))?;
    Ok(answer(
        StatusCode::CREATED,
        &to_version(kind, &c.object, version),
        &c.warnings,
    ))
}

/// `PUT …/{resource}/{name}`.
pub async fn replace(
    k1s: &Arc<K1s>,
    kind: &KindInfo,
    version: &str,
    name: &str,
    req: &Req,
) -> Result<Response, Status> {
    let mut value = body_value(req)?;
    check_object_body(&mut value, kind, version)?;
    let body_name = value["metadata"]["name"].as_str().unwrap_or_default();
    if body_name != name {
        return Err(Status::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let expected = resource_version_of(&value)?;
    let b = k1s
        .replace_object(kind.store, name, value, expected, req.dry_run())
        .await
        .map_err(|e| error_status(e, kind, version, name, req))?;
    Ok(json_response(
        StatusCode::OK,
        &to_version(kind, &b, version),
    ))
}

/// `metadata.resourceVersion` of a body, as a precondition.
fn resource_version_of(v: &Value) -> Result<Option<u64>, Status> {
    match v["metadata"]["resourceVersion"].as_str() {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            Status::bad_request(format!("invalid resourceVersion {s:?}: not a K1s version"))
        }),
    }
}

/// The patch types the API accepts.
const PATCH_TYPES: &[&str] = &[
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
];

/// Applies one patch of type `ct` to the object's JSON.
pub fn apply_patch(ct: &str, doc: &mut Value, patch: &Value) -> Result<(), String> {
    match ct {
        "application/merge-patch+json" | "application/apply-patch+yaml" => {
            if !patch.is_object() {
                return Err("a merge patch must be a JSON object".into());
            }
            merge_patch(doc, patch);
            Ok(())
        }
        "application/strategic-merge-patch+json" => patches::strategic_merge_patch(doc, patch),
        "application/json-patch+json" => patches::json_patch(doc, patch),
        other => Err(format!("unsupported patch type {other}")),
    }
}

/// `PATCH …/{resource}/{name}`.
pub async fn patch(
    k1s: &Arc<K1s>,
    kind: &KindInfo,
    version: &str,
    name: &str,
    req: &Req,
) -> Result<Response, Status> {
    let ct = req.content_type();
    if !PATCH_TYPES.contains(&ct.as_str()) {
        return Err(Status::unsupported_media_type(&ct));
    }
    let patch: Value = if ct == "application/apply-patch+yaml" {
        model::parse_body(&req.body, true).map_err(|e| Status::bad_request(e.0))?
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| Status::bad_request(format!("the patch is not JSON: {e}")))?
    };
    if ct == "application/apply-patch+yaml" && k1s.object(kind.store, name).is_none() {
        // Server-side apply of an absent object creates it.
        let mut value = patch;
        check_object_body(&mut value, kind, version)?;
        if name_in(&value) != name {
            return Err(Status::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_in(&value)
            )));
        }
        let c = k1s
            .create_object(kind.store, value, req.dry_run())
            .await
            .map_err(|e| error_status(e, kind, version, name, req))?;
        return Ok(answer(
            StatusCode::CREATED,
            &to_version(kind, &c.object, version),
            &c.warnings,
        ));
    }
    let explicit = if patch.is_object() {
        resource_version_of(&patch)?
    } else {
        None
    };
    for _ in 0..5 {
        let current = k1s
            .object(kind.store, name)
            .ok_or_else(|| Status::not_found(kind, name))?;
        let mut doc = to_version(kind, &current, version);
        apply_patch(&ct, &mut doc, &patch)
            .map_err(|e| Status::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e.to_string()))?;
        let expected = explicit.unwrap_or(current.resource_version());
        match k1s
            .replace_object(kind.store, name, doc, Some(expected), req.dry_run())
            .await
        {
            Ok(b) => {
                return Ok(json_response(
                    StatusCode::OK,
                    &to_version(kind, &b, version),
                ));
            }
            Err(CoreError::Conflict(m))
                if explicit.is_none() && m.starts_with("Operation cannot be fulfilled") =>
            {
                continue;
            }
            Err(e) => return Err(error_status(e, kind, version, name, req)),
        }
    }
    Err(Status::new(
        StatusCode::CONFLICT,
        "Conflict",
        crate::core::modified_message(kind.store, name),
    ))
}

/// `DELETE …/{resource}/{name}`.
pub async fn delete(
    k1s: &Arc<K1s>,
    kind: &KindInfo,
    version: &str,
    name: &str,
    req: &Req,
) -> Result<Response, Status> {
    let opts: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| Status::bad_request(format!("the DeleteOptions are not JSON: {e}")))?
    };
    let policy = opts["propagationPolicy"]
        .as_str()
        .or_else(|| req.param("propagationPolicy"))
        .unwrap_or("Background");
    let propagation = match policy {
        "Background" => Propagation::Background,
        "Foreground" => Propagation::Foreground,
        "Orphan" => Propagation::Orphan,
        other => {
            return Err(Status::bad_request(format!(
                "unsupported propagationPolicy {other:?}: Orphan, Background or Foreground"
            )));
        }
    };
    let dry_run = req.dry_run()
        || opts["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    let b = k1s
        .delete_object(kind.store, name, propagation, dry_run)
        .await
        .map_err(|e| error_status(e, kind, version, name, req))?;
    Ok(json_response(
        StatusCode::OK,
        &to_version(kind, &b, version),
    ))
}

/// The object as JSON in the version the URL names (HPAs: `v2` stored, `v1` and
/// `v2beta2` converted), with `apiVersion` and `kind`.
pub fn to_version(kind: &KindInfo, body: &crate::store::Body, version: &str) -> serde_json::Value {
    let mut v = match body {
        Body::Pod(o) => serde_json::to_value(o),
        Body::ReplicaSet(o) => serde_json::to_value(o),
        Body::HorizontalPodAutoscaler(o) if version == "v1" => Ok(hpa_v1(o)),
        Body::HorizontalPodAutoscaler(o) => serde_json::to_value(o),
        Body::ConfigMap(o) => serde_json::to_value(o),
        Body::Secret(o) => serde_json::to_value(o),
    }
    .unwrap_or_default();
    v["apiVersion"] = json!(api_version(kind, version));
    v["kind"] = json!(kind.kind);
    v
}

/// An HPA in its `autoscaling/v1` form: the cpu utilization metric as
/// `targetCPUUtilizationPercentage`, its current value as
/// `currentCPUUtilizationPercentage`.
fn hpa_v1(h: &HorizontalPodAutoscaler) -> Value {
    let spec = h.spec.as_ref();
    let target_cpu = spec
        .and_then(|s| s.metrics.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|m| m.resource.as_ref())
        .find(|r| r.name == "cpu")
        .and_then(|r| r.target.average_utilization);
    let current_cpu = h
        .status
        .as_ref()
        .and_then(|s| s.current_metrics.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|m| m.resource.as_ref())
        .find(|r| r.name == "cpu")
        .and_then(|r| r.current.average_utilization);
    let mut spec_v = json!({});
    if let Some(s) = spec {
        spec_v = json!({
            "scaleTargetRef": s.scale_target_ref,
            "maxReplicas": s.max_replicas,
        });
        if let Some(m) = s.min_replicas {
            spec_v["minReplicas"] = json!(m);
        }
        if let Some(t) = target_cpu {
            spec_v["targetCPUUtilizationPercentage"] = json!(t);
        }
    }
    let mut status_v = json!({});
    if let Some(s) = h.status.as_ref() {
        status_v = json!({"desiredReplicas": s.desired_replicas});
        if let Some(c) = s.current_replicas {
            status_v["currentReplicas"] = json!(c);
        }
        if let Some(g) = s.observed_generation {
            status_v["observedGeneration"] = json!(g);
        }
        if let Some(t) = &s.last_scale_time {
            status_v["lastScaleTime"] = json!(t);
        }
        if let Some(c) = current_cpu {
            status_v["currentCPUUtilizationPercentage"] = json!(c);
        }
    }
    json!({
        "metadata": h.metadata,
        "spec": spec_v,
        "status": status_v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpas_answer_in_the_urls_version() {
        let h: HorizontalPodAutoscaler = serde_json::from_value(json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "ReplicaSet", "name": "rs", "apiVersion": "apps/v1"},
                     "minReplicas": 1, "maxReplicas": 5,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 60}}}]},
            "status": {"desiredReplicas": 2, "currentReplicas": 2, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 7}}}]}
        }))
        .unwrap();
        let kind = crate::registry::by_kind("HorizontalPodAutoscaler").unwrap();
        let b = Body::HorizontalPodAutoscaler(h);
        let v1 = to_version(kind, &b, "v1");
        assert_eq!(v1["apiVersion"], "autoscaling/v1");
        assert_eq!(v1["kind"], "HorizontalPodAutoscaler");
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
        assert_eq!(v1["spec"]["scaleTargetRef"]["name"], "rs");
        assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 7);
        assert!(v1["spec"].get("metrics").is_none());
        // v1 goes back through admission to the same v2 spec.
        let back = crate::model::hpa::admit_hpa(v1, 100).unwrap().object;
        let v2 = crate::model::hpa::admit_hpa(to_version(kind, &b, "v2"), 100)
            .unwrap()
            .object;
        assert_eq!(back.spec, v2.spec);
        let beta = to_version(kind, &b, "v2beta2");
        assert_eq!(beta["apiVersion"], "autoscaling/v2beta2");
        assert_eq!(
            beta["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            60
        );
    }

    #[test]
    fn patch_types() {
        let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": [1, 2]}});
        apply_patch(
            "application/merge-patch+json",
            &mut doc,
            &json!({"metadata": {"labels": {"a": null, "b": "2"}}}),
        )
        .unwrap();
        assert_eq!(doc["metadata"]["labels"], json!({"b": "2"}));
        apply_patch(
            "application/json-patch+json",
            &mut doc,
            &json!([{"op": "add", "path": "/spec/x/-", "value": 3}]),
        )
        .unwrap();
        assert_eq!(doc["spec"]["x"], json!([1, 2, 3]));
        assert!(apply_patch("application/json-patch+json", &mut doc, &json!({})).is_err());
    }
}
