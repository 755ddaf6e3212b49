//! `/openapi/v3`: the index and one document per served group version.
//!
//! The documents carry the operations of each kind — enough for kubectl to see that
//! the server validates fields itself (a PATCH operation with
//! `x-kubernetes-group-version-kind` and a `fieldValidation` parameter), so
//! `create -f` and `apply -f` work with the default `--validate=strict` and send
//! `fieldValidation=Strict` — and the kinds' schemas under `components.schemas`
//! (generated from the Kubernetes types, descriptions included), each top-level one
//! marked with its group, version and kind, for `kubectl explain`.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{KUBE_VERSION, Status, json_response};
use crate::registry::{self, KindInfo};

/// The group versions with a document: those of the registry's kinds.
fn documents() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for k in registry::KINDS {
        for v in k.versions {
            if !out.contains(&(k.group, *v)) {
                out.push((k.group, *v));
            }
        }
    }
    out
}

fn doc_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Changes whenever what the documents say may change (the K1s build).
fn hash() -> String {
    format!("k1s-{}", env!("CARGO_PKG_VERSION")).replace('.', "-")
}

/// `GET /openapi/v3`.
pub async fn index() -> Response {
    let mut paths = Map::new();
    for (g, v) in documents() {
        let p = doc_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash())}),
        );
    }
    json_response(StatusCode::OK, &json!({"paths": paths}))
}

/// `GET /openapi/v3/{path}`.
pub async fn document(Path(rest): Path<String>) -> Response {
    // The documents depend only on the build: made once, then served from memory.
    static DOCS: std::sync::OnceLock<Vec<(String, Bytes)>> = std::sync::OnceLock::new();
    let docs = DOCS.get_or_init(|| {
        documents()
            .into_iter()
            .map(|(g, v)| {
                let body = serde_json::to_vec(&make_document(g, v)).unwrap_or_default();
                (doc_path(g, v), Bytes::from(body))
            })
            .collect()
    });
    let rest = rest.trim_matches('/');
    match docs.iter().find(|(p, _)| p == rest) {
        Some((_, body)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body.clone(),
        )
            .into_response(),
        None => Status::no_route().into_response(),
    }
}

/// The document of one group version.
fn make_document(group: &'static str, version: &'static str) -> Value {
    let kinds: Vec<&KindInfo> = registry::KINDS
        .iter()
        .copied()
        .filter(|k| k.group == group && k.versions.contains(&version))
        .collect();
    let mut paths = Map::new();
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    let mut tops = Vec::new();
    for k in &kinds {
        let reference = (k.schema)(&mut generator, version);
        if let Some(name) = reference
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
        {
            tops.push((name.to_string(), k.kind));
        }
    }
    let mut schemas = generator.take_definitions(true);
    for (name, kind) in tops {
        if let Some(s) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
            s.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": group, "version": version, "kind": kind}]),
            );
        }
    }
    for k in kinds {
        let base = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let gvk = json!({"group": group, "version": version, "kind": k.kind});
        let param = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": true});
        let write_params = json!([
            param("dryRun"),
            param("fieldManager"),
            param("fieldValidation")
        ]);
        let op = |id: &str, action: &str, params: &Value| {
            json!({
                "operationId": id,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
            })
        };
        let plural = k.plural;
        let kind = k.kind;
        paths.insert(
            format!("{base}/namespaces/{{namespace}}/{plural}"),
            json!({
                "get": op(&format!("list{kind}"), "list", &json!([param("labelSelector"), param("fieldSelector"), param("watch")])),
                "post": op(&format!("create{kind}"), "post", &write_params),
                "parameters": [{"name": "namespace", "in": "path", "required": true, "schema": {"type": "string"}}],
            }),
        );
        let mut patch_params = write_params.clone();
        if let Some(a) = patch_params.as_array_mut() {
            a.push(param("force"));
        }
        paths.insert(
            format!("{base}/namespaces/{{namespace}}/{plural}/{{name}}"),
            json!({
                "get": op(&format!("read{kind}"), "get", &json!([])),
                "put": op(&format!("replace{kind}"), "put", &write_params),
                "patch": op(&format!("patch{kind}"), "patch", &patch_params),
                "delete": op(&format!("delete{kind}"), "delete", &json!([param("dryRun"), param("gracePeriodSeconds"), param("propagationPolicy")])),
                "parameters": [
                    {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "namespace", "in": "path", "required": true, "schema": {"type": "string"}},
                ],
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}
