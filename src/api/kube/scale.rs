//! The `scale` subresource (`autoscaling/v1 Scale`).

use std::sync::Arc;

use axum::response::Response;

use super::{Req, Status};
use crate::core::K1s;
use crate::registry::KindInfo;

/// `GET | PUT | PATCH …/{resource}/{name}/scale`.
pub async fn serve(
    _k1s: &Arc<K1s>,
    kind: &KindInfo,
    _name: &str,
    _req: &Req,
) -> Result<Response, Status> {
    Err(Status::method_not_allowed(kind.plural))
}
