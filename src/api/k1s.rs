//! The handout's REST API: `/k1s/pod`, `/k1s/rs` and `/k1s/hpa`,
//! with the result shapes SPEC §4 pins.

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, AppState, read_body, with_warnings};
use crate::model::labels::parse_selector;
use crate::store::Source;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/k1s/pod", get(list_pods).post(create_pod))
        .route("/k1s/pod/{name}", get(get_pod).delete(delete_pod))
        .route("/k1s/rs", get(list_rs).post(create_rs))
        .route(
            "/k1s/rs/{name}",
            get(get_rs).delete(delete_rs).patch(patch_rs),
        )
        .route("/k1s/hpa", get(list_hpa).post(create_hpa))
        .route("/k1s/hpa/{name}", get(get_hpa).delete(delete_hpa))
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

fn path(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(p)| p)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

fn selector(q: &ListQuery) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    parse_selector(q.labels.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("labels: {e}")))
}

async fn list_pods(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let sel = selector(&query(q)?)?;
    Ok(Json(s.k1s.list_pods(&sel)).into_response())
}

async fn create_pod(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value = read_body(&headers, body).await?;
    let created = s.k1s.add_pod(value).await?;
    let resp = (StatusCode::CREATED, Json(created.object)).into_response();
    Ok(with_warnings(resp, &created.warnings))
}

async fn get_pod(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<GetQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let name = path(name)?;
    let q = query(q)?;
    let tail = match q.tail_lines.as_deref() {
        None => None,
        Some(t) => Some(t.parse::<u32>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("tailLines: not a count: {t:?}"),
            )
        })?),
    };
    Ok(Json(s.k1s.get_pod(&name, tail).await?).into_response())
}

async fn delete_pod(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = path(name)?;
    Ok(Json(s.k1s.remove_pod(&name).await?).into_response())
}

async fn list_rs(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let sel = selector(&query(q)?)?;
    Ok(Json(s.k1s.list_replica_sets(&sel)).into_response())
}

async fn create_rs(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value = read_body(&headers, body).await?;
    let created = s.k1s.add_replica_set(value).await?;
    let resp = (StatusCode::CREATED, Json(created.object)).into_response();
    Ok(with_warnings(resp, &created.warnings))
}

async fn get_rs(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = path(name)?;
    Ok(Json(s.k1s.get_replica_set(&name)?).into_response())
}

async fn delete_rs(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = path(name)?;
    Ok(Json(s.k1s.remove_replica_set(&name).await?).into_response())
}

/// JSON merge patch (`application/merge-patch+json`, or plain JSON/YAML bodies, read
/// the same way).
async fn patch_rs(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let name = path(name)?;
    let patch = read_body(&headers, body).await?;
    Ok(Json(s.k1s.patch_replica_set(&name, patch, Source::Api).await?).into_response())
}

async fn list_hpa(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let sel = selector(&query(q)?)?;
    Ok(Json(s.k1s.list_horizontal_pod_autoscalers(&sel)).into_response())
}

async fn create_hpa(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value = read_body(&headers, body).await?;
    let created = s.k1s.add_horizontal_pod_autoscaler(value).await?;
    let resp = (StatusCode::CREATED, Json(created.object)).into_response();
    Ok(with_warnings(resp, &created.warnings))
}

async fn get_hpa(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = path(name)?;
    Ok(Json(s.k1s.get_horizontal_pod_autoscaler(&name)?).into_response())
}

async fn delete_hpa(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = path(name)?;
    Ok(Json(s.k1s.remove_horizontal_pod_autoscaler(&name).await?).into_response())
}
