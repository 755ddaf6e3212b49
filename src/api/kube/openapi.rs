//! `/openapi/v3`: the index and one document per served group version.
//!
//! The documents carry the operations of each kind (paths only, no schemas): enough
//! for kubectl to see that the server validates fields itself (a PATCH operation with
//! `x-kubernetes-group-version-kind` and a `fieldValidation` parameter, KUBECTL.md
//! §3.12), so `create -f` and `apply -f` work with the default `--validate=strict`
//! and send `fieldValidation=Strict`. `kubectl explain` is not served (no schemas).

use axum::extract::Path;
use axum::http::StatusCode;
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
    let rest = rest.trim_matches('/');
    let Some((group, version)) = documents()
        .into_iter()
        .find(|(g, v)| doc_path(g, v) == rest)
    else {
        return Status::no_route().into_response();
    };
    let kinds: Vec<&KindInfo> = registry::KINDS
        .iter()
        .copied()
        .filter(|k| k.group == group && k.versions.contains(&version))
        .collect();
    let mut paths = Map::new();
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
    json_response(
        StatusCode::OK,
        &json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": KUBE_VERSION},
            "paths": paths,
            "components": {"schemas": {}},
        }),
    )
}
