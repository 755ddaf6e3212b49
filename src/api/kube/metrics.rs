//! `metrics.k8s.io/v1beta1` pods, from the metrics cache (`kubectl top pod`).

use std::sync::Arc;

use axum::response::Response;

use super::{Req, Status};
use crate::core::K1s;

/// `GET …/pods` of the metrics group.
pub fn list(_k1s: &Arc<K1s>, _req: &Req) -> Result<Response, Status> {
    Err(Status::method_not_allowed("pods.metrics.k8s.io"))
}

/// `GET …/pods/{name}` of the metrics group.
pub fn get(_k1s: &Arc<K1s>, _name: &str) -> Result<Response, Status> {
    Err(Status::method_not_allowed("pods.metrics.k8s.io"))
}
