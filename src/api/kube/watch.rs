//! `?watch=true`: chunked JSON event streams fed by the store's change stream.

use std::sync::Arc;

use axum::response::Response;

use super::{Req, Status};
use crate::core::K1s;
use crate::registry::KindInfo;

/// `GET …/{resource}?watch=true`.
pub async fn serve(
    _k1s: &Arc<K1s>,
    kind: &KindInfo,
    _version: &str,
    _req: &Req,
) -> Result<Response, Status> {
    Err(Status::method_not_allowed(kind.plural))
}
