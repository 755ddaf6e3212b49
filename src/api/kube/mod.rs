//! The Kubernetes API front door: what kubectl and client libraries (kube-rs,
//! client-go) ask of an API server, for every kind of the registry, in namespace
//! `default`. The same core, store and controllers as `/k1s` (one truth, two front
//! doors). Paths are parsed here (`/api/v1/...`, `/apis/{group}/{version}/...`) and
//! handed to the submodules; every error is a Kubernetes `Status`.
//!
//! - `discovery.rs` — `/version`, `/api`, `/apis`, `/api/v1`, `/apis/{g}/{v}` (legacy
//!   and aggregated), from the registry.
//! - `openapi.rs` — `/openapi/v3` and a document per served group version.
//! - `objects.rs` — list, get, create, replace (PUT), patch, delete of objects, with
//!   selectors, `dryRun`, versions (HPA v2 / v1 / v2beta2 views of one stored form).
//! - `table.rs` — server-side Tables with the real apiserver's columns.
//! - `watch.rs` — `?watch=true` streams fed by the store's change stream.
//! - `logs.rs`, `scale.rs`, `events.rs`, `metrics.rs` — subresources and companions.
//! - `protobuf.rs` — the one protobuf body kubectl sends (`kubectl autoscale`).

mod discovery;
mod events;
mod logs;
mod metrics;
mod objects;
mod openapi;
mod protobuf;
mod scale;
mod table;
mod watch;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

use super::AppState;
use crate::core::CoreError;
use crate::registry::{self, KindInfo};

/// The only namespace K1s serves.
pub const NAMESPACE: &str = "default";

/// The Kubernetes version K1s reports (`/version`); kubectl's dispatcher picks its
/// binary by it, so it must stay a 1.32.
pub const KUBE_VERSION: &str = "v1.32.0-k1s";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/version", get(discovery::version))
        .route("/api", any(entry))
        .route("/api/{*rest}", any(entry))
        .route("/apis", any(entry))
        .route("/apis/{*rest}", any(entry))
        .route("/openapi/v3", get(openapi::index))
        .route("/openapi/v3/{*rest}", get(openapi::document))
}

/// A resource the Kubernetes API serves: a kind of the registry, or one of the
/// companions that are not stored objects.
#[derive(Clone, Copy)]
pub enum Resource {
    /// A registry kind, at the version the URL names.
    Kind(&'static KindInfo),
    /// `v1` or `events.k8s.io/v1` events (what the node agent and controllers record).
    Events,
    /// `metrics.k8s.io/v1beta1` pods (`kubectl top pod`).
    PodMetrics,
}

/// What a request's path names.
#[derive(Clone)]
pub enum Target {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/api/v1`, `/apis/{group}/{version}`
    GroupVersion {
        /// `""` for the core group.
        group: String,
        /// `v1`, …
        version: String,
    },
    /// `…/namespaces/{ns}/{resource}`, or `…/{resource}` across namespaces (`ns`
    /// `None`).
    Collection {
        /// The resource.
        res: Resource,
        /// The URL's group version.
        group: String,
        /// The URL's version.
        version: String,
        /// The namespace, if the path names one.
        ns: Option<String>,
    },
    /// `…/namespaces/{ns}/{resource}/{name}[/{sub}]`
    Object {
        /// The resource.
        res: Resource,
        /// The URL's version.
        version: String,
        /// The namespace.
        ns: String,
        /// The object's name.
        name: String,
        /// A subresource (`log`, `scale`, `status`, `exec`), if any.
        sub: Option<String>,
    },
}

/// A parsed request of the Kubernetes API.
pub struct Req {
    /// The method.
    pub method: Method,
    /// What the path names.
    pub target: Target,
    /// The query, percent-decoded, in order (keys may repeat: `command=…&command=…`).
    pub query: Vec<(String, String)>,
    /// The headers.
    pub headers: HeaderMap,
    /// The body (at most the API's limit).
    pub body: Bytes,
}

impl Req {
    /// The first value of a query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter (`true`, `1`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }

    /// `dryRun=All`: admit, answer, store nothing.
    pub fn dry_run(&self) -> bool {
        self.param("dryRun") == Some("All")
    }

    /// The Accept header asks for a server-side Table.
    pub fn wants_table(&self) -> bool {
        self.header(header::ACCEPT).contains("as=Table")
    }

    /// A header's value ("" when absent or not text).
    pub fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The Content-Type's essence, lowercased (`application/json`).
    pub fn content_type(&self) -> String {
        self.header(header::CONTENT_TYPE)
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }
}

/// A Kubernetes `Status` answer (every error of this front door).
#[derive(Debug, Clone)]
pub struct Status {
    /// HTTP status.
    pub code: StatusCode,
    /// `NotFound`, `AlreadyExists`, `Invalid`, …
    pub reason: &'static str,
    /// What kubectl prints after `Error from server (<reason>): `.
    pub message: String,
    /// `details` (name, group, kind, causes), when known.
    pub details: Option<Value>,
}

impl Status {
    /// A Status without details.
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Status {
        Status {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Status {
        Status::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 404 for a path that names nothing K1s serves.
    pub fn no_route() -> Status {
        Status::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 404 for an object: `pods "x" not found`, `replicasets.apps "x" not found`.
    pub fn not_found(kind: &KindInfo, name: &str) -> Status {
        Status {
            details: Some(details(kind, name)),
            ..Status::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("{} \"{name}\" not found", resource_name(kind)),
            )
        }
    }

    /// 404 for a namespace K1s does not serve.
    pub fn namespace_not_found(ns: &str) -> Status {
        Status {
            details: Some(json!({"name": ns, "kind": "namespaces"})),
            ..Status::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!(
                    "namespaces \"{ns}\" not found (K1s serves only the \"{NAMESPACE}\" namespace)"
                ),
            )
        }
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(what: &str) -> Status {
        Status::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource: {what}"),
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Status {
        Status::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format: {content_type}"),
        )
    }

    /// A core error about `name` of `kind`, as the apiserver words it.
    pub fn from_core(e: CoreError, kind: &KindInfo, name: &str) -> Status {
        let d = || Some(details(kind, name));
        match e {
            CoreError::BadBody(b) => Status::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: {b}",
                kind.kind, kind.version, kind.kind
            )),
            CoreError::Invalid(inv) => {
                let causes: Vec<Value> = inv
                    .causes
                    .iter()
                    .map(|c| {
                        json!({"reason": "FieldValueInvalid", "message": c.message, "field": c.field})
                    })
                    .collect();
                Status {
                    details: Some(
                        json!({"name": name, "group": kind.group, "kind": kind.kind, "causes": causes}),
                    ),
                    ..Status::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        format!("{} \"{name}\" is invalid: {inv}", kind.kind),
                    )
                }
            }
            CoreError::NotFound { name: n, .. } => Status::not_found(kind, &n),
            CoreError::Conflict(m) if m.ends_with("already exists") => Status {
                details: d(),
                ..Status::new(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("{} \"{name}\" already exists", resource_name(kind)),
                )
            },
            CoreError::Conflict(m) => Status {
                details: d(),
                ..Status::new(StatusCode::CONFLICT, "Conflict", m)
            },
            CoreError::NotAllowed(m) => {
                Status::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", m)
            }
            CoreError::Unavailable(m) => Status::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!("Docker engine unreachable: {m}"),
            ),
            CoreError::Refused(m) => Status {
                details: d(),
                ..Status::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", m)
            },
            e @ (CoreError::Store(_) | CoreError::Runtime(_)) => {
                tracing::error!(error = %e, "internal error");
                Status::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    format!("Internal error occurred: {e}"),
                )
            }
        }
    }

    /// The Status object.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl IntoResponse for Status {
    fn into_response(self) -> Response {
        let body = self.body();
        (self.code, axum::Json(body)).into_response()
    }
}

/// `pods`, `replicasets.apps`: the resource as the apiserver names it in messages.
pub fn resource_name(kind: &KindInfo) -> String {
    if kind.group.is_empty() {
        kind.plural.to_string()
    } else {
        format!("{}.{}", kind.plural, kind.group)
    }
}

fn details(kind: &KindInfo, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": kind.plural});
    if !kind.group.is_empty() {
        d["group"] = json!(kind.group);
    }
    d
}

/// `v1`, `apps/v1`, `autoscaling/v2beta2`: a kind's group with the URL's version.
pub fn api_version(kind: &KindInfo, version: &str) -> String {
    if kind.group.is_empty() {
        version.to_string()
    } else {
        format!("{}/{version}", kind.group)
    }
}

/// A JSON answer with the API's Content-Type.
pub fn json_response(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

async fn entry(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let req = match parse(method, &uri, headers, body).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match dispatch(&s, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn parse(method: Method, uri: &Uri, headers: HeaderMap, body: Body) -> Result<Req, Status> {
    let body = axum::body::to_bytes(body, super::MAX_BODY)
        .await
        .map_err(|_| {
            Status::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!("request body larger than {} MiB", super::MAX_BODY >> 20),
            )
        })?;
    let query = parse_query(uri.query().unwrap_or(""));
    let segs: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let target = target_of(&segs).ok_or_else(Status::no_route)?;
    Ok(Req {
        method,
        target,
        query,
        headers,
        body,
    })
}

/// `a=1&b=x%3Dy` → `[("a","1"),("b","x=y")]`.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn resource_of(group: &str, version: &str, resource: &str) -> Option<Resource> {
    if let Some(k) = registry::by_resource(group, version, resource) {
        return Some(Resource::Kind(k));
    }
    match (group, version, resource) {
        ("", "v1", "events") | ("events.k8s.io", "v1", "events") => Some(Resource::Events),
        ("metrics.k8s.io", "v1beta1", "pods") => Some(Resource::PodMetrics),
        _ => None,
    }
}

fn target_of(segs: &[&str]) -> Option<Target> {
    let (group, version, rest) = match segs {
        ["api"] => return Some(Target::CoreVersions),
        ["apis"] => return Some(Target::Groups),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let gv = |res| (res, group.to_string(), version.to_string());
    match rest {
        [] => Some(Target::GroupVersion {
            group: group.into(),
            version: version.into(),
        }),
        ["namespaces", ns, resource] => {
            let (res, group, version) = gv(resource_of(group, version, resource)?);
            Some(Target::Collection {
                res,
                group,
                version,
                ns: Some(ns.to_string()),
            })
        }
        ["namespaces", ns, resource, name, sub @ ..] if sub.len() <= 1 => {
            let (res, _, version) = gv(resource_of(group, version, resource)?);
            Some(Target::Object {
                res,
                version,
                ns: ns.to_string(),
                name: name.to_string(),
                sub: sub.first().map(|s| s.to_string()),
            })
        }
        [resource] => {
            let (res, group, version) = gv(resource_of(group, version, resource)?);
            Some(Target::Collection {
                res,
                group,
                version,
                ns: None,
            })
        }
        _ => None,
    }
}

async fn dispatch(s: &AppState, req: Req) -> Result<Response, Status> {
    let k1s = &s.k1s;
    match req.target.clone() {
        Target::CoreVersions => discovery::core_versions(&req),
        Target::Groups => discovery::groups(&req),
        Target::GroupVersion { group, version } => discovery::resources(&group, &version),
        Target::Collection { ns: Some(ns), .. } | Target::Object { ns, .. } if ns != NAMESPACE => {
            Err(Status::namespace_not_found(&ns))
        }
        Target::Collection {
            res: Resource::Kind(kind),
            version,
            ..
        } => match req.method {
            Method::GET if req.flag("watch") => watch::serve(k1s, kind, &version, &req).await,
            Method::GET => objects::list(k1s, kind, &version, &req),
            Method::POST => objects::create(k1s, kind, &version, &req).await,
            _ => Err(Status::method_not_allowed(kind.plural)),
        },
        Target::Object {
            res: Resource::Kind(kind),
            version,
            name,
            sub,
            ..
        } => match (sub.as_deref(), req.method.clone()) {
            (None | Some("status"), Method::GET) => objects::get(k1s, kind, &version, &name, &req),
            (None, Method::PUT) => objects::replace(k1s, kind, &version, &name, &req).await,
            (None, Method::PATCH) => objects::patch(k1s, kind, &version, &name, &req).await,
            (None, Method::DELETE) => objects::delete(k1s, kind, &version, &name, &req).await,
            (Some("log"), Method::GET) if kind.kind == "Pod" => logs::serve(k1s, &name, &req).await,
            (Some("scale"), Method::GET | Method::PUT | Method::PATCH) if kind.scalable => {
                scale::serve(k1s, kind, &name, &req).await
            }
            (Some(sub), _) => Err(Status::method_not_allowed(&format!(
                "{}/{sub}",
                kind.plural
            ))),
            (None, _) => Err(Status::method_not_allowed(kind.plural)),
        },
        Target::Collection {
            res: Resource::Events,
            ..
        } if req.method == Method::GET => events::list(k1s, &req),
        Target::Collection {
            res: Resource::PodMetrics,
            ..
        } if req.method == Method::GET => metrics::list(k1s, &req),
        Target::Object {
            res: Resource::PodMetrics,
            name,
            sub: None,
            ..
        } if req.method == Method::GET => metrics::get(k1s, &name),
        _ => Err(Status::method_not_allowed("this resource")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_what_kubectl_asks_for() {
        let t = |p: &str| {
            let segs: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
            target_of(&segs)
        };
        assert!(matches!(t("/api"), Some(Target::CoreVersions)));
        assert!(matches!(t("/apis"), Some(Target::Groups)));
        assert!(matches!(
            t("/apis/apps/v1"),
            Some(Target::GroupVersion { .. })
        ));
        assert!(matches!(
            t("/api/v1/namespaces/default/pods"),
            Some(Target::Collection { res: Resource::Kind(k), ns: Some(_), .. }) if k.kind == "Pod"
        ));
        assert!(matches!(
            t("/apis/autoscaling/v2beta2/namespaces/default/horizontalpodautoscalers/h"),
            Some(Target::Object { res: Resource::Kind(k), sub: None, .. }) if k.kind == "HorizontalPodAutoscaler"
        ));
        assert!(matches!(
            t("/apis/apps/v1/namespaces/default/replicasets/web/scale"),
            Some(Target::Object { sub: Some(s), .. }) if s == "scale"
        ));
        assert!(matches!(
            t("/api/v1/pods"),
            Some(Target::Collection { ns: None, .. })
        ));
        assert!(matches!(
            t("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/x"),
            Some(Target::Object {
                res: Resource::PodMetrics,
                ..
            })
        ));
        assert!(t("/apis/apps/v2/namespaces/default/replicasets").is_none());
        assert!(t("/api/v1/namespaces/default/nothings").is_none());
    }

    #[test]
    fn queries_are_decoded() {
        assert_eq!(
            parse_query("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=true&x"),
            vec![
                (
                    "labelSelector".to_string(),
                    "app=web,tier in (a)".to_string()
                ),
                ("watch".to_string(), "true".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
        assert_eq!(parse_query("a=%zz%4"), vec![("a".into(), "%zz%4".into())]);
    }
}
