//! The `scale` subresource (`autoscaling/v1 Scale`).
//!
//! GET reads the ReplicaSet; PUT and PATCH (JSON merge patch, or a strategic merge
//! patch, which is the same for a Scale) set `spec.replicas` through the core's scale
//! path, the one `/k1s` and the HPA take.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::{Value, json};

use super::{Req, Status, json_response};
use crate::core::K1s;
use crate::registry::KindInfo;
use crate::store::{MetaExt, Source};

/// `GET | PUT | PATCH …/{resource}/{name}/scale`.
pub async fn serve(
    k1s: &Arc<K1s>,
    kind: &KindInfo,
    name: &str,
    req: &Req,
) -> Result<Response, Status> {
    let current = k1s
        .store()
        .get::<ReplicaSet>(name)
        .filter(|rs| !rs.is_deleting())
        .ok_or_else(|| Status::not_found(kind, name))?;
    let before = scale_of(&current);
    let wanted = match req.method {
        Method::GET => return Ok(json_response(StatusCode::OK, &before)),
        Method::PUT => {
            let body: Value = serde_json::from_slice(&req.body)
                .map_err(|e| Status::bad_request(format!("the body is not a Scale: {e}")))?;
            if let Some(n) = body["metadata"]["name"].as_str().filter(|n| *n != name) {
                return Err(Status::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            if let Some(rv) = body["metadata"]["resourceVersion"]
                .as_str()
                .filter(|rv| !rv.is_empty())
                && *rv != current.resource_version().to_string()
            {
                return Err(Status::new(
                    StatusCode::CONFLICT,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                        super::resource_name(kind)
                    ),
                ));
            }
            body
        }
        _ => {
            let ct = req.content_type();
            if !matches!(
                ct.as_str(),
                "application/merge-patch+json" | "application/strategic-merge-patch+json"
            ) {
                return Err(Status::unsupported_media_type(&ct));
            }
            let patch: Value = serde_json::from_slice(&req.body)
                .map_err(|e| Status::bad_request(format!("the patch is not JSON: {e}")))?;
            if !patch.is_object() {
                return Err(Status::bad_request("a merge patch must be a JSON object"));
            }
            let mut merged = before.clone();
            crate::model::replicaset::merge_patch(&mut merged, &patch);
            merged
        }
    };
    let replicas = replicas_of(&wanted, name)?;
    if req.dry_run() {
        let mut s = before;
        s["spec"]["replicas"] = json!(replicas);
        return Ok(json_response(StatusCode::OK, &s));
    }
    k1s.scale_replica_set(name, replicas, Source::Api)
        .await
        .map_err(|e| Status::from_core(e, kind, name))?;
    let after = k1s
        .store()
        .get::<ReplicaSet>(name)
        .ok_or_else(|| Status::not_found(kind, name))?;
    Ok(json_response(StatusCode::OK, &scale_of(&after)))
}

/// `spec.replicas` of a Scale body: a non-negative 32-bit integer.
fn replicas_of(scale: &Value, name: &str) -> Result<i32, Status> {
    let invalid = |message: &str| Status {
        details: Some(
            json!({"name": name, "group": "autoscaling", "kind": "Scale", "causes": [
            {"reason": "FieldValueInvalid", "message": message, "field": "spec.replicas"}]}),
        ),
        ..Status::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("Scale.autoscaling \"{name}\" is invalid: spec.replicas: {message}"),
        )
    };
    match &scale["spec"]["replicas"] {
        Value::Null => Ok(0),
        v => match v.as_i64() {
            Some(n) if n < 0 => Err(invalid(&format!(
                "Invalid value: {n}: must be greater than or equal to 0"
            ))),
            Some(n) => i32::try_from(n).map_err(|_| invalid(&format!("Invalid value: {n}"))),
            None => Err(Status::bad_request(format!(
                "Scale in version \"v1\" cannot be handled as a Scale: spec.replicas: expected an integer, got {v}"
            ))),
        },
    }
}

/// The `autoscaling/v1 Scale` of a ReplicaSet.
pub fn scale_of(rs: &ReplicaSet) -> Value {
    let spec = rs.spec.as_ref();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": rs.name(),
            "namespace": super::NAMESPACE,
            "uid": rs.uid(),
            "resourceVersion": rs.resource_version().to_string(),
            "creationTimestamp": rs.created(),
        },
        "spec": {"replicas": spec.and_then(|s| s.replicas).unwrap_or(1)},
        "status": {
            "replicas": rs.status.as_ref().map_or(0, |s| s.replicas),
            "selector": spec.map(|s| crate::model::labels::format_label_selector(&s.selector)).unwrap_or_default(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    #[test]
    fn selectors_print_as_kubernetes_does() {
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement {
                    key: "legacy".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            crate::model::labels::format_label_selector(&sel),
            "app=web,tier in (a,b),!legacy"
        );
    }

    #[test]
    fn replicas_must_be_a_non_negative_int32() {
        let r = |v: Value| replicas_of(&json!({"spec": {"replicas": v}}), "x");
        assert_eq!(r(json!(5)).unwrap(), 5);
        assert_eq!(
            r(json!(-1)).unwrap_err().code,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            r(json!(1u64 << 40)).unwrap_err().code,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(r(json!("5")).unwrap_err().code, StatusCode::BAD_REQUEST);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn get_and_patch_scale_a_replica_set() {
        use axum::http::{HeaderMap, header};
        let dir = tempfile::tempdir().unwrap();
        let config = crate::Config::new(dir.path().join("k1s.db"));
        let k1s = K1s::init(config, Arc::new(crate::runtime::fake::FakeRuntime::new()))
            .await
            .unwrap();
        k1s.add_replica_set(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "k1s-test/fake:1"}]}}}}))
            .await
            .unwrap();
        let kind = crate::registry::by_resource("apps", "v1", "replicasets").unwrap();
        let req = |method: Method, ct: &str, body: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            Req {
                method,
                target: super::super::Target::Groups,
                query: Vec::new(),
                headers,
                body: axum::body::Bytes::from(body.to_string()),
            }
        };
        let read = |r: Response| async move {
            assert_eq!(r.status(), StatusCode::OK);
            let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            serde_json::from_slice::<Value>(&b).unwrap()
        };
        let s = read(
            serve(&k1s, kind, "web", &req(Method::GET, "", ""))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s["kind"], "Scale");
        assert_eq!(s["spec"]["replicas"], 1);
        assert_eq!(s["status"]["selector"], "app=web");
        let patch = r#"{"spec":{"replicas":3}}"#;
        let r = req(Method::PATCH, "application/merge-patch+json", patch);
        let s = read(serve(&k1s, kind, "web", &r).await.unwrap()).await;
        assert_eq!(s["spec"]["replicas"], 3);
        let rs = k1s.store().get::<ReplicaSet>("web").unwrap();
        assert_eq!(rs.spec.unwrap().replicas, Some(3));
        let put = r#"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":2}}"#;
        let s = read(
            serve(
                &k1s,
                kind,
                "web",
                &req(Method::PUT, "application/json", put),
            )
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(s["spec"]["replicas"], 2);
        let bad = serve(
            &k1s,
            kind,
            "web",
            &req(Method::PATCH, "application/json-patch+json", "[]"),
        )
        .await;
        assert_eq!(bad.unwrap_err().code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let missing = serve(&k1s, kind, "nope", &req(Method::GET, "", "")).await;
        assert_eq!(missing.unwrap_err().code, StatusCode::NOT_FOUND);
    }
}
