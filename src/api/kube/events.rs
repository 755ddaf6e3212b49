//! `v1` and `events.k8s.io/v1` events, from what the node agent and the controllers
//! record.

use std::sync::Arc;

use axum::response::Response;

use super::{Req, Status};
use crate::core::K1s;

/// `GET …/events`.
pub fn list(_k1s: &Arc<K1s>, _req: &Req) -> Result<Response, Status> {
    Err(Status::method_not_allowed("events"))
}
