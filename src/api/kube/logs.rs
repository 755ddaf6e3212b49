//! `pods/{name}/log`: a pod's output, followed when asked.

use std::sync::Arc;

use axum::response::Response;

use super::{Req, Status};
use crate::core::K1s;

/// `GET …/pods/{name}/log`.
pub async fn serve(_k1s: &Arc<K1s>, _name: &str, _req: &Req) -> Result<Response, Status> {
    Err(Status::method_not_allowed("pods/log"))
}
