//! `/openapi/v3`: the index and one document per served group version.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};

use super::Status;

/// `GET /openapi/v3`.
pub async fn index() -> Response {
    Status::no_route().into_response()
}

/// `GET /openapi/v3/{path}`.
pub async fn document(Path(_rest): Path<String>) -> Response {
    Status::no_route().into_response()
}
