//! `/version` and discovery (legacy and aggregated), built from the registry.

use axum::response::{IntoResponse, Response};

use super::{Req, Status};

/// `GET /version`.
pub async fn version() -> Response {
    Status::no_route().into_response()
}

/// `GET /api`.
pub fn core_versions(_req: &Req) -> Result<Response, Status> {
    Err(Status::no_route())
}

/// `GET /apis`.
pub fn groups(_req: &Req) -> Result<Response, Status> {
    Err(Status::no_route())
}

/// `GET /api/v1`, `GET /apis/{group}/{version}`.
pub fn resources(_group: &str, _version: &str) -> Result<Response, Status> {
    Err(Status::no_route())
}
