//! The HTTP side: one blocking ureq agent, the server URL and the token.
//! Every failure becomes a one-line message (without the `error: ` prefix).

use std::time::Duration;

use serde_json::Value;

use crate::format::{one_line, warning_text};

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

/// A raw answer: status, body text and the `Warning` headers (already decoded).
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// What a request is about, to word a 404 as `pod "x" not found`.
pub struct Target<'a> {
    pub noun: &'a str,
    pub name: &'a str,
}

/// Normalise the server URL: add `http://` when no scheme, drop trailing `/`.
pub fn normalize_base(url: &str) -> Result<String, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("empty server URL".into());
    }
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    if !url.starts_with("http://") {
        return Err(format!(
            "unsupported server URL {url}: only plain http:// is supported"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn is_loopback_url(base: &str) -> bool {
    let rest = base.strip_prefix("http://").unwrap_or(base);
    let host = rest.split('/').next().unwrap_or("");
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Result<Client, String> {
        let base = normalize_base(base)?;
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(30)))
            .user_agent(concat!("k1s_ctl/", env!("CARGO_PKG_VERSION")));
        if is_loopback_url(&base) {
            // A local server is never behind the user's HTTP proxy.
            cfg = cfg.proxy(None);
        }
        Ok(Client {
            agent: ureq::Agent::new_with_config(cfg.build()),
            base,
            token: token.filter(|t| !t.is_empty()),
        })
    }

    /// Send one request; `Err` only when no HTTP answer came back.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Reply, String> {
        let url = format!("{}{}", self.base, path);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        macro_rules! prep {
            ($rb:expr) => {{
                let rb = $rb.header("Accept", "application/json");
                match &auth {
                    Some(a) => rb.header("Authorization", a.as_str()),
                    None => rb,
                }
            }};
        }
        let (ct, bytes) = body.unwrap_or(("application/json", Vec::new()));
        let res = match method {
            Method::Get => prep!(self.agent.get(&url)).call(),
            Method::Delete => prep!(self.agent.delete(&url)).call(),
            Method::Post => prep!(self.agent.post(&url))
                .header("Content-Type", ct)
                .send(bytes),
            Method::Patch => prep!(self.agent.patch(&url))
                .header("Content-Type", ct)
                .send(bytes),
        };
        let mut resp = res.map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        let warnings = resp
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(warning_text)
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| self.transport_error(&e))?;
        Ok(Reply {
            status,
            body,
            warnings,
        })
    }

    fn transport_error(&self, e: &ureq::Error) -> String {
        use std::io::ErrorKind;
        let base = &self.base;
        match e {
            ureq::Error::Io(io) => {
                let reason = match io.kind() {
                    ErrorKind::ConnectionRefused => "connection refused".to_string(),
                    ErrorKind::ConnectionReset => "connection reset".to_string(),
                    ErrorKind::ConnectionAborted => "connection aborted".to_string(),
                    ErrorKind::TimedOut => "timed out".to_string(),
                    ErrorKind::UnexpectedEof => "the connection was closed".to_string(),
                    _ => {
                        let t = one_line(&io.to_string());
                        if t.contains("lookup") || t.contains("not known") {
                            format!("host not found ({t})")
                        } else {
                            t
                        }
                    }
                };
                format!("cannot reach the K1s server at {base}: {reason}")
            }
            ureq::Error::Timeout(t) => match t {
                ureq::Timeout::Connect | ureq::Timeout::Resolve => {
                    format!("cannot reach the K1s server at {base}: connection timed out")
                }
                _ => format!("the K1s server at {base} did not answer in time"),
            },
            ureq::Error::HostNotFound => {
                format!("cannot reach the K1s server at {base}: host not found")
            }
            ureq::Error::ConnectionFailed => {
                format!("cannot reach the K1s server at {base}: connection failed")
            }
            ureq::Error::BadUri(u) => format!("invalid server URL {base}: {}", one_line(u)),
            ureq::Error::Protocol(p) => format!(
                "the server at {base} did not answer HTTP: {}",
                one_line(&p.to_string())
            ),
            other => format!(
                "request to the K1s server at {base} failed: {}",
                one_line(&other.to_string())
            ),
        }
    }

    /// Send, require a 2xx, parse the JSON body. Warnings are printed to stderr.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        target: Option<Target<'_>>,
    ) -> Result<Value, String> {
        let reply = self.send(method, path, body)?;
        for w in &reply.warnings {
            eprintln!("Warning: {w}");
        }
        if !(200..300).contains(&reply.status) {
            return Err(http_error(
                reply.status,
                &reply.body,
                target.as_ref(),
                self.token.is_some(),
            ));
        }
        if reply.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&reply.body).map_err(|e| {
            format!(
                "unexpected answer from the server to {} {path}: not JSON ({e})",
                method.as_str()
            )
        })
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// One line for an HTTP error answer, from the JSON body's `error` (and
/// `field`) when there is one.
pub fn http_error(status: u16, body: &str, target: Option<&Target<'_>>, has_token: bool) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let server_msg = parsed.as_ref().and_then(|v| {
        let err = v.get("error")?;
        let msg = match err {
            Value::String(s) => s.clone(),
            // A Kubernetes-style Status or a nested object: take its message.
            Value::Object(o) => o.get("message")?.as_str()?.to_string(),
            _ => return None,
        };
        let msg = one_line(&msg);
        if msg.is_empty() {
            return None;
        }
        match v.get("field").and_then(Value::as_str) {
            Some(f) if !f.is_empty() && !msg.contains(f) => Some(format!("{f}: {msg}")),
            _ => Some(msg),
        }
    });
    let mut msg = match (status, server_msg, target) {
        (404, Some(m), Some(t)) if !m.contains(t.name) => {
            format!("{} \"{}\" not found", t.noun, t.name)
        }
        (_, Some(m), _) => m,
        (404, None, Some(t)) => format!("{} \"{}\" not found", t.noun, t.name),
        (_, None, _) => {
            let phrase = reason_phrase(status);
            let snippet = one_line(body);
            let mut m = format!("the server answered {status} {phrase}")
                .trim_end()
                .to_string();
            if !snippet.is_empty() && snippet.len() <= 200 && parsed.is_none() {
                m.push_str(&format!(": {snippet}"));
            }
            m
        }
    };
    if status == 401 && !has_token {
        msg.push_str(" (the server needs a token: use --token or K1S_TOKEN)");
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            normalize_base("http://127.0.0.1:8080/").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        assert_eq!(
            normalize_base("localhost:9000").as_deref(),
            Ok("http://localhost:9000")
        );
        assert!(normalize_base("https://x").is_err());
        assert!(normalize_base("").is_err());
        assert!(is_loopback_url("http://127.0.0.1:8080"));
        assert!(is_loopback_url("http://localhost"));
        assert!(!is_loopback_url("http://10.0.0.1:8080"));
    }

    #[test]
    fn http_errors() {
        let t = Target {
            noun: "pod",
            name: "x",
        };
        assert_eq!(
            http_error(
                422,
                r#"{"error":"Required value","field":"spec.containers[0].image"}"#,
                None,
                false
            ),
            "spec.containers[0].image: Required value"
        );
        assert_eq!(
            http_error(
                422,
                r#"{"error":"spec.containers[0].image: Required value","field":"spec.containers[0].image"}"#,
                None,
                false
            ),
            "spec.containers[0].image: Required value"
        );
        assert_eq!(
            http_error(404, r#"{"error":"pod \"x\" not found"}"#, Some(&t), false),
            "pod \"x\" not found"
        );
        assert_eq!(
            http_error(404, r#"{"error":"not found"}"#, Some(&t), false),
            "pod \"x\" not found"
        );
        assert_eq!(http_error(404, "", Some(&t), false), "pod \"x\" not found");
        assert_eq!(
            http_error(500, "oops\n", None, false),
            "the server answered 500 Internal Server Error: oops"
        );
        assert_eq!(
            http_error(418, r#"{"x":1}"#, None, false),
            "the server answered 418"
        );
        assert_eq!(
            http_error(401, r#"{"error":"unauthorized"}"#, None, false),
            "unauthorized (the server needs a token: use --token or K1S_TOKEN)"
        );
        assert_eq!(
            http_error(401, r#"{"error":"unauthorized"}"#, None, true),
            "unauthorized"
        );
    }
}
