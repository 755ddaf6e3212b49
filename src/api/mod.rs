//! The HTTP face of K1s: the handout's REST API under `/k1s` (`k1s.rs`). Only this
//! module knows HTTP: it reads bodies (JSON, or YAML when the Content-Type says so),
//! checks the token, calls the core and maps its errors to status codes.

mod k1s;
mod kube;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::core::{CoreError, K1s};
use crate::model;

/// Largest request body accepted (docs/decisions.md, "REST API"); larger ones get 413.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The core.
    pub k1s: Arc<K1s>,
    /// The access token, when one is configured.
    pub token: Option<Arc<str>>,
}

/// The whole router: `/k1s/…`, `/healthz`, behind the token check.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(k1s::routes())
        .merge(kube::routes())
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such path").into_response() })
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

/// 405 in the API's JSON error shape (the `Allow` header stays as axum sets it).
pub(crate) async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this path",
    )
    .into_response()
}

/// Every route, loopback clients included, needs the token when one is set.
async fn auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong token: send Authorization: Bearer <token>",
            )
            .into_response();
        }
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error answer: `{"error": …, "field": …, "causes": […]}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({"error": message.into()}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        let status = match &e {
            CoreError::BadBody(_) => StatusCode::BAD_REQUEST,
            CoreError::Invalid(_) | CoreError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            CoreError::Conflict(_) => StatusCode::CONFLICT,
            CoreError::NotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            CoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            CoreError::Store(_) | CoreError::Runtime(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "internal error");
        }
        let mut body = json!({"error": e.to_string()});
        if let CoreError::Invalid(inv) = &e {
            if let Some(first) = inv.causes.first() {
                body["field"] = json!(first.field);
            }
            body["causes"] = inv
                .causes
                .iter()
                .map(|c| json!({"field": c.field, "message": c.message}))
                .collect();
        }
        ApiError { status, body }
    }
}

/// Reads a request body with the size limit and parses it as YAML or JSON by its
/// Content-Type (anything but YAML is read as JSON, whatever it says).
pub async fn read_body(headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {} MiB", MAX_BODY >> 20),
        )
    })?;
    let yaml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(model::is_yaml_content_type);
    model::parse_body(&bytes, yaml).map_err(|e| ApiError::from(CoreError::BadBody(e)))
}

/// Adds one `Warning: 299 - "…"` header per warning, as the Kubernetes API does.
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = w.replace('"', "'");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{text}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}

/// The API over real HTTP on loopback, with the core on the in-memory engine.
#[cfg(test)]
mod http_tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;

    async fn serve(token: Option<&str>) -> (String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::Config::new(dir.path().join("k1s.db"));
        let k1s = K1s::init(config, Arc::new(FakeRuntime::new()))
            .await
            .unwrap();
        let app = router(AppState {
            k1s,
            token: token.map(Arc::from),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, dir)
    }

    fn call(method: &str, url: &str, body: Option<&str>, token: Option<&str>) -> (u16, Value) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = agent
            .run(req.body(body.unwrap_or("").as_bytes().to_vec()).unwrap())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.into_body().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        tokio::task::spawn_blocking(f).await.unwrap()
    }

    const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"a"}},
        "spec":{"containers":[{"name":"c","image":"k1s-test/fake:1"}]}}"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pods_over_http_with_json_errors() {
        let (url, _dir) = serve(None).await;
        let u = url.clone();
        let (status, pod) =
            blocking(move || call("POST", &format!("{u}/k1s/pod"), Some(POD), None)).await;
        assert_eq!(status, 201, "{pod}");
        assert_eq!(pod["status"], "Running");
        assert_eq!(pod["id"].as_str().map(str::len), Some(64));
        let u = url.clone();
        let checks = blocking(move || {
            vec![
                call("GET", &format!("{u}/k1s/pod?labels=app=a"), None, None),
                call("GET", &format!("{u}/k1s/pod?labels=app=b"), None, None),
                call("POST", &format!("{u}/k1s/pod"), Some(POD), None),
                call("PUT", &format!("{u}/k1s/pod"), None, None),
                call("GET", &format!("{u}/k1s/pod?labels=a&labels=b"), None, None),
                call("GET", &format!("{u}/k1s/pod/web?tailLines=x"), None, None),
                call("GET", &format!("{u}/nowhere"), None, None),
                call("DELETE", &format!("{u}/k1s/pod/web"), None, None),
                call("GET", &format!("{u}/k1s/pod/web"), None, None),
            ]
        })
        .await;
        assert_eq!(checks[0].0, 200);
        assert_eq!(checks[0].1.as_array().map(Vec::len), Some(1));
        assert_eq!(checks[1].1.as_array().map(Vec::len), Some(0));
        let statuses: Vec<u16> = checks.iter().skip(2).map(|c| c.0).collect();
        assert_eq!(statuses, vec![409, 405, 400, 400, 404, 200, 404]);
        for (s, body) in checks.iter().skip(2) {
            if *s >= 400 {
                assert!(body["error"].is_string(), "JSON error for {s}: {body}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_posts_for_one_host_port_store_exactly_one_pod() {
        let (url, _dir) = serve(None).await;
        let mut threads = Vec::new();
        for i in 0..6 {
            let u = url.clone();
            threads.push(std::thread::spawn(move || {
                let body = POD
                    .replace("\"web\"", &format!("\"web{i}\""))
                    .replace("\"image\":\"k1s-test/fake:1\"", "\"image\":\"k1s-test/fake:1\",\"ports\":[{\"containerPort\":80,\"hostPort\":18099}]");
                call("POST", &format!("{u}/k1s/pod"), Some(&body), None).0
            }));
        }
        let codes: Vec<u16> =
            blocking(move || threads.into_iter().map(|t| t.join().unwrap()).collect()).await;
        assert_eq!(codes.iter().filter(|c| **c == 201).count(), 1, "{codes:?}");
        assert_eq!(codes.iter().filter(|c| **c == 409).count(), 5, "{codes:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_configured_token_guards_every_route() {
        let (url, _dir) = serve(Some("s3cret")).await;
        let got = blocking(move || {
            vec![
                call("GET", &format!("{url}/k1s/pod"), None, None).0,
                call("GET", &format!("{url}/k1s/pod"), None, Some("wrong")).0,
                call("GET", &format!("{url}/healthz"), None, None).0,
                call("POST", &format!("{url}/k1s/pod"), Some("{bad"), None).0,
                call("GET", &format!("{url}/k1s/pod"), None, Some("s3cret")).0,
            ]
        })
        .await;
        assert_eq!(got, vec![401, 401, 401, 401, 200]);
    }
}
