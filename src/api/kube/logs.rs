//! `pods/{name}/log`: a pod's output, followed when asked.
//!
//! `container`, `follow`, `tailLines`, `timestamps`, `previous` (the run before the
//! current one, while the engine still has its container), `sinceSeconds`,
//! `sinceTime`, `limitBytes`; `text/plain`. The output comes from the engine; a
//! followed stream ends when the container stops, the pod goes away or the client
//! leaves.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body as HttpBody, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Req, Status};
use crate::core::K1s;
use crate::model::status::PodExt;
use crate::runtime::LogQuery;
use crate::store::MetaExt;

/// How often a followed stream checks that its pod is still there.
const POD_CHECK: Duration = Duration::from_secs(1);

/// `GET …/pods/{name}/log`.
pub async fn serve(k1s: &Arc<K1s>, name: &str, req: &Req) -> Result<Response, Status> {
    let kind = crate::registry::by_resource("", "v1", "pods").ok_or_else(Status::no_route)?;
    let pod = k1s
        .store()
        .get::<Pod>(name)
        .ok_or_else(|| Status::not_found(kind, name))?;
    let container = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default();
    if let Some(c) = req.param("container").filter(|c| !c.is_empty())
        && c != container
    {
        return Err(Status::bad_request(format!(
            "container {c} is not valid for pod {name}"
        )));
    }
    let opts = Options::parse(req)?;
    let cs = pod.container_status().cloned().unwrap_or_default();
    let Some(id) = pod.container_id().map(str::to_string) else {
        let reason = pod.state_reason().unwrap_or("ContainerCreating");
        return Err(Status::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    };
    let (run_start, until) = if opts.previous {
        let t = cs
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .ok_or_else(|| {
                Status::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                ))
            })?;
        (
            secs(t.started_at.as_ref()),
            t.finished_at.as_ref().map(|f| f.0.as_second() + 1),
        )
    } else {
        (secs(crate::model::status::current_run_start(&cs)), None)
    };
    let now = jiff::Timestamp::now().as_second();
    let since = [
        Some(run_start),
        opts.since_seconds.map(|s| now.saturating_sub(s)),
        opts.since_time,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    let running = cs.state.as_ref().is_some_and(|s| s.running.is_some());
    let q = LogQuery {
        since_unix: since,
        until_unix: until,
        tail: opts.tail,
        timestamps: opts.timestamps,
        follow: opts.follow && !opts.previous && running,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let k = k1s.clone();
    let (pod_name, uid, limit) = (name.to_string(), pod.uid().to_string(), opts.limit_bytes);
    tokio::spawn(async move {
        let runtime = k.runtime().clone();
        let mut stream = runtime.read_logs(&id, q);
        let mut check = tokio::time::interval(POD_CHECK);
        let mut left = limit.unwrap_or(u64::MAX);
        loop {
            let chunk = tokio::select! {
                c = stream.next() => c,
                _ = check.tick(), if q.follow => {
                    let there = k.store().get::<Pod>(&pod_name).is_some_and(|p| p.uid() == uid);
                    if there { continue } else { break }
                }
                _ = tx.closed() => break,
            };
            let Some(Ok(text)) = chunk else { break };
            let mut bytes = Bytes::from(text);
            if bytes.len() as u64 > left {
                bytes.truncate(left as usize);
            }
            left -= bytes.len() as u64;
            if tx.send(bytes).await.is_err() || left == 0 {
                break;
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        let b = rx.recv().await?;
        Some((Ok::<Bytes, std::convert::Infallible>(b), rx))
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        HttpBody::from_stream(body),
    )
        .into_response())
}

fn secs(t: Option<&Time>) -> i64 {
    t.map_or(0, |t| t.0.as_second())
}

/// The query parameters of a log request.
#[derive(Debug, Default, PartialEq)]
struct Options {
    follow: bool,
    previous: bool,
    timestamps: bool,
    tail: Option<u32>,
    since_seconds: Option<i64>,
    since_time: Option<i64>,
    limit_bytes: Option<u64>,
}

impl Options {
    fn parse(req: &Req) -> Result<Options, Status> {
        fn num<T: std::str::FromStr + PartialOrd + Default>(
            req: &Req,
            key: &str,
            positive: bool,
        ) -> Result<Option<T>, Status> {
            match req.param(key).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => match v.parse::<T>() {
                    Ok(n) if !positive || n > T::default() => Ok(Some(n)),
                    _ => Err(Status::bad_request(format!(
                        "invalid {key} \"{v}\": must be a {} integer",
                        if positive { "positive" } else { "non-negative" }
                    ))),
                },
            }
        }
        if req.param("sinceSeconds").is_some() && req.param("sinceTime").is_some() {
            return Err(Status::bad_request(
                "at most one of sinceTime or sinceSeconds may be specified",
            ));
        }
        let since_time = match req.param("sinceTime").filter(|v| !v.is_empty()) {
            None => None,
            Some(t) => Some(
                t.parse::<jiff::Timestamp>()
                    .map_err(|_| Status::bad_request(format!("invalid sinceTime \"{t}\"")))?
                    .as_second(),
            ),
        };
        Ok(Options {
            follow: req.flag("follow"),
            previous: req.flag("previous"),
            timestamps: req.flag("timestamps"),
            tail: num::<u32>(req, "tailLines", false)?,
            since_seconds: num::<i64>(req, "sinceSeconds", true)?,
            since_time,
            limit_bytes: num::<u64>(req, "limitBytes", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, Method};
    use serde_json::json;

    fn req(query: &str) -> Req {
        Req {
            method: Method::GET,
            target: super::super::Target::Groups,
            query: super::super::parse_query(query),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn options_parse_and_refuse_nonsense() {
        let o = Options::parse(&req(
            "follow=true&tailLines=0&timestamps=1&sinceSeconds=5&limitBytes=10",
        ))
        .unwrap();
        assert_eq!(
            o,
            Options {
                follow: true,
                timestamps: true,
                tail: Some(0),
                since_seconds: Some(5),
                limit_bytes: Some(10),
                ..Default::default()
            }
        );
        let t = Options::parse(&req("sinceTime=2025-01-01T00:00:00Z")).unwrap();
        assert_eq!(t.since_time, Some(1_735_689_600));
        for bad in [
            "tailLines=-1",
            "tailLines=x",
            "sinceSeconds=0",
            "limitBytes=0",
            "sinceTime=yesterday",
            "sinceSeconds=1&sinceTime=2025-01-01T00:00:00Z",
        ] {
            assert!(Options::parse(&req(bad)).is_err(), "{bad}");
        }
    }

    async fn text(r: Response) -> String {
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain");
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logs_of_a_pod_with_tail_timestamps_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::Config::new(dir.path().join("k1s.db"));
        let k1s = K1s::init(config, Arc::new(crate::runtime::fake::FakeRuntime::new()))
            .await
            .unwrap();
        let created = k1s
            .add_pod(
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lg"},
                "spec": {"containers": [{"name": "c", "image": "k1s-test/fake:1"}]}}),
            )
            .await
            .unwrap();
        let id = created.object.pod.id.unwrap();
        let all = text(serve(&k1s, "lg", &req("container=c")).await.unwrap()).await;
        assert_eq!(all, format!("fake log of {id}\nmore log of {id}\n"));
        let one = text(
            serve(&k1s, "lg", &req("tailLines=1&timestamps=true"))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            one,
            format!("2025-01-01T00:00:00.000000000Z more log of {id}\n")
        );
        let cut = text(serve(&k1s, "lg", &req("limitBytes=4")).await.unwrap()).await;
        assert_eq!(cut, "fake");
        let err = |q: &'static str| {
            let k1s = k1s.clone();
            async move { serve(&k1s, "lg", &req(q)).await.unwrap_err() }
        };
        assert!(err("container=other").await.message.contains("not valid"));
        assert!(
            err("previous=true")
                .await
                .message
                .contains("previous terminated")
        );
        assert_eq!(
            serve(&k1s, "nope", &req("")).await.unwrap_err().code,
            StatusCode::NOT_FOUND
        );
    }
}
