//! The handout's REST API: `/k1s/<kind>` and `/k1s/<kind>/NAME` for every kind of the
//! registry (`pod`, `rs`, `hpa`, …), with the result shapes each kind's
//! [`crate::registry::KindOps`] gives (docs/decisions.md, "Result shapes").

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{ApiError, AppState, read_body, with_warnings};
use crate::core::{GetOptions, Json};
use crate::model::labels::parse_selector;
use crate::registry::{self, KindInfo};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/k1s/{kind}", get(list).post(create))
        .route(
            "/k1s/{kind}/{name}",
            get(get_one).delete(delete).patch(patch),
        )
        // Merged routers lose a fallback set afterwards: set it here, on the routes.
        .method_not_allowed_fallback(super::method_not_allowed)
}

#[derive(Deserialize)]
struct ListQuery {
    labels: Option<String>,
}

#[derive(Deserialize)]
struct GetQuery {
    #[serde(rename = "tailLines")]
    tail_lines: Option<String>,
}

/// Query strings and paths that do not parse are the client's mistake: 400 in JSON.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

fn kind(path: &str) -> Result<&'static KindInfo, ApiError> {
    registry::by_path(path).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no such resource type \"{path}\" (served: {})",
                registry::names_help()
            ),
        )
    })
}

fn kind_only(p: Result<Path<String>, PathRejection>) -> Result<&'static KindInfo, ApiError> {
    let Path(k) = p.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    kind(&k)
}

fn kind_and_name(
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<(&'static KindInfo, String), ApiError> {
    let Path((k, name)) = p.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok((kind(&k)?, name))
}

fn json(status: StatusCode, body: Json) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.0).into_response()
}

async fn list(
    State(s): State<AppState>,
    k: Result<Path<String>, PathRejection>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let k = kind_only(k)?;
    let q = query(q)?;
    let sel = parse_selector(q.labels.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("labels: {e}")))?;
    Ok(json(StatusCode::OK, k.ops.list(&s.k1s, &sel)?))
}

async fn create(
    State(s): State<AppState>,
    k: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let k = kind_only(k)?;
    let value = read_body(&headers, body).await?;
    let created = k.ops.create(&s.k1s, value).await?;
    let resp = json(StatusCode::CREATED, created.object);
    Ok(with_warnings(resp, &created.warnings))
}

async fn get_one(
    State(s): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<GetQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (k, name) = kind_and_name(p)?;
    let q = query(q)?;
    let tail_lines = match q.tail_lines.as_deref() {
        None => None,
        Some(t) => Some(t.parse::<u32>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("tailLines: not a count: {t:?}"),
            )
        })?),
    };
    let body = k.ops.get(&s.k1s, &name, GetOptions { tail_lines }).await?;
    Ok(json(StatusCode::OK, body))
}

async fn delete(
    State(s): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (k, name) = kind_and_name(p)?;
    Ok(json(StatusCode::OK, k.ops.delete(&s.k1s, &name).await?))
}

/// JSON merge patch (`application/merge-patch+json`, or plain JSON/YAML bodies, read
/// the same way), where the kind allows it (405 otherwise).
async fn patch(
    State(s): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (k, name) = kind_and_name(p)?;
    let patch = read_body(&headers, body).await?;
    Ok(json(
        StatusCode::OK,
        k.ops.patch(&s.k1s, &name, patch).await?,
    ))
}
