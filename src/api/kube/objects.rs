//! Objects: list, get, create, replace (PUT), patch, delete.

use std::sync::Arc;

use axum::response::Response;

use super::{Req, Status};
use crate::core::K1s;
use crate::registry::KindInfo;

/// `GET …/{resource}` (not a watch).
pub fn list(
    _k1s: &Arc<K1s>,
    kind: &KindInfo,
    _version: &str,
    _req: &Req,
) -> Result<Response, Status> {
    Err(Status::method_not_allowed(kind.plural))
}

/// `GET …/{resource}/{name}`.
pub fn get(
    _k1s: &Arc<K1s>,
    kind: &KindInfo,
    _version: &str,
    _name: &str,
    _req: &Req,
) -> Result<Response, Status> {
    Err(Status::method_not_allowed(kind.plural))
}

/// `POST …/{resource}`.
pub async fn create(
    _k1s: &Arc<K1s>,
    kind: &KindInfo,
    _version: &str,
    _req: &Req,
) -> Result<Response, Status> {
    Err(Status::method_not_allowed(kind.plural))
}

/// `PUT …/{resource}/{name}`.
pub async fn replace(
    _k1s: &Arc<K1s>,
    kind: &KindInfo,
    _version: &str,
    _name: &str,
    _req: &Req,
) -> Result<Response, Status> {
    Err(Status::method_not_allowed(kind.plural))
}

/// `PATCH …/{resource}/{name}`.
pub async fn patch(
    _k1s: &Arc<K1s>,
    kind: &KindInfo,
    _version: &str,
    _name: &str,
    _req: &Req,
) -> Result<Response, Status> {
    Err(Status::method_not_allowed(kind.plural))
}

/// `DELETE …/{resource}/{name}`.
pub async fn delete(
    _k1s: &Arc<K1s>,
    kind: &KindInfo,
    _version: &str,
    _name: &str,
    _req: &Req,
) -> Result<Response, Status> {
    Err(Status::method_not_allowed(kind.plural))
}

/// The object as JSON in the version the URL names (HPAs: `v2` stored, `v1` and
/// `v2beta2` converted), with `apiVersion` and `kind`.
pub fn to_version(
    _kind: &KindInfo,
    _body: &crate::store::Body,
    _version: &str,
) -> serde_json::Value {
    serde_json::Value::Null
}
