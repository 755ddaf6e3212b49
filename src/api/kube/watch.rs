//! `?watch=true`: chunked JSON event streams fed by the store's change stream.
//!
//! One `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":…}` per line. The
//! stream subscribes to the store's broadcast *before* it reads what came earlier (the
//! current objects, or the change log after `resourceVersion`), then skips broadcast
//! changes it already covered: nothing is lost and nothing is sent twice. A receiver
//! that falls behind the broadcast ends its stream with a 410 `ERROR` event, so the
//! client relists instead of silently missing changes.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body as HttpBody, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::objects::Filter;
use super::{Req, Status};
use crate::core::K1s;
use crate::registry::KindInfo;
use crate::store::{Body, Change, ChangeType, ChangesSince, MetaExt};

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

/// `GET …/{resource}?watch=true`.
pub async fn serve(
    k1s: &Arc<K1s>,
    kind: &'static KindInfo,
    version: &str,
    req: &Req,
) -> Result<Response, Status> {
    let filter = Filter::from_req(req)?;
    let from = match req.param("resourceVersion").unwrap_or("") {
        "" => 0,
        v => v.parse::<u64>().map_err(|_| {
            Status::bad_request(format!("invalid resource version \"{v}\" for watch"))
        })?,
    };
    let timeout = match req.param("timeoutSeconds") {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| Status::bad_request(format!("invalid timeoutSeconds \"{v}\"")))?,
        ),
    };
    let mut w = Watch {
        k1s: k1s.clone(),
        kind,
        version: version.to_string(),
        req: copy_req(req),
        table: req.wants_table(),
        filter,
        // Subscribe before reading anything: every change after what is read below
        // arrives here.
        rx: k1s.store().watch(),
        skip_upto: 0,
        last_rv: 0,
        known: HashSet::new(),
        history_unknown: false,
        pending: VecDeque::new(),
        done: false,
        deadline: timeout.map(|s| Instant::now() + Duration::from_secs(s)),
        bookmarks: req
            .flag("allowWatchBookmarks")
            .then(|| tokio::time::interval_at(Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY)),
    };
    if from == 0 {
        // Synthetic ADDED for every current object, then the changes.
        let (objects, rv) = k1s.store().snapshot(kind.store);
        w.skip_upto = rv;
        w.last_rv = rv;
        for o in objects {
            w.consider(ChangeType::Added, &o);
        }
        if req.flag("sendInitialEvents") && w.bookmarks.is_some() {
            let mut b = w.bookmark();
            b["object"]["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            w.push(&b);
        }
    } else {
        match k1s.store().changes_since(from, Some(kind.store)).await {
            Ok(ChangesSince::Changes { changes, upto }) => {
                w.skip_upto = upto.max(from);
                w.last_rv = w.skip_upto;
                w.history_unknown = true;
                for (change, o) in &changes {
                    w.consider(*change, o);
                }
            }
            Ok(ChangesSince::Expired { oldest }) => {
                w.push(&expired(format!(
                    "too old resource version: {from} ({})",
                    oldest.saturating_sub(1)
                )));
                w.done = true;
            }
            Err(e) => {
                return Err(Status::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    format!("Internal error occurred: {e}"),
                ));
            }
        }
    }
    let stream = futures_util::stream::unfold(w, |mut w| async move {
        let chunk = w.next_chunk().await?;
        Some((Ok::<Bytes, std::convert::Infallible>(chunk), w))
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        HttpBody::from_stream(stream),
    )
        .into_response())
}

/// One watch stream's state.
struct Watch {
    k1s: Arc<K1s>,
    kind: &'static KindInfo,
    version: String,
    req: Req,
    table: bool,
    filter: Filter,
    rx: broadcast::Receiver<Change>,
    /// Broadcast changes up to this resourceVersion were already covered.
    skip_upto: u64,
    /// The newest resourceVersion this stream has seen (for bookmarks).
    last_rv: u64,
    /// Names of the objects the client currently sees as matching the selectors.
    known: HashSet<String>,
    /// Resumed from a resourceVersion: what the client saw before is not known, so a
    /// matching object not in `known` is taken to be one it has.
    history_unknown: bool,
    pending: VecDeque<Bytes>,
    done: bool,
    deadline: Option<Instant>,
    bookmarks: Option<tokio::time::Interval>,
}

impl Watch {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some(b);
            }
            if self.done {
                return None;
            }
            let deadline = self.deadline;
            let timeout = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let bookmark = async {
                match self.bookmarks.as_mut() {
                    Some(i) => {
                        i.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            enum Next {
                End,
                Bookmark,
                Change(Result<Box<Change>, RecvError>),
            }
            let next = tokio::select! {
                _ = timeout => Next::End,
                _ = bookmark => Next::Bookmark,
                r = self.rx.recv() => Next::Change(r.map(Box::new)),
            };
            match next {
                Next::End | Next::Change(Err(RecvError::Closed)) => return None,
                Next::Bookmark => {
                    let b = self.bookmark();
                    self.push(&b);
                }
                Next::Change(Err(RecvError::Lagged(n))) => {
                    // Events were lost: say so rather than carry on with a gap.
                    self.push(&expired(format!(
                        "the watch fell behind by {n} changes; relist and watch again"
                    )));
                    self.done = true;
                }
                Next::Change(Ok(c)) => {
                    if c.object.kind() != self.kind.store {
                        continue;
                    }
                    let rv = c.object.resource_version();
                    if rv <= self.skip_upto {
                        continue;
                    }
                    self.last_rv = self.last_rv.max(rv);
                    self.consider(c.change, &c.object);
                }
            }
        }
    }

    /// Queues the event (if any) that `change` of `o` means for this client: an object
    /// entering the selection is ADDED, one leaving it DELETED.
    fn consider(&mut self, change: ChangeType, o: &Body) {
        let matches = self.filter.matches(o);
        let name = o.name().to_string();
        let had = self.known.contains(&name) || (self.history_unknown && matches);
        let typ = match change {
            ChangeType::Added if matches => "ADDED",
            ChangeType::Modified if matches && had => "MODIFIED",
            ChangeType::Modified if matches => "ADDED",
            ChangeType::Modified if had => "DELETED",
            ChangeType::Deleted if had => "DELETED",
            _ => return,
        };
        if typ == "DELETED" {
            self.known.remove(&name);
        } else {
            self.known.insert(name);
        }
        let object = self.render(o);
        self.push(&json!({"type": typ, "object": object}));
    }

    fn render(&self, o: &Body) -> Value {
        if self.table {
            let t = super::table::table(
                &self.k1s,
                self.kind,
                std::slice::from_ref(o),
                &self.req,
                o.resource_version(),
            );
            return t;
        }
        super::objects::to_version(self.kind, o, &self.version)
    }

    fn bookmark(&self) -> Value {
        json!({"type": "BOOKMARK", "object": {
            "kind": self.kind.kind,
            "apiVersion": super::api_version(self.kind, &self.version),
            "metadata": {"resourceVersion": self.last_rv.to_string()},
        }})
    }

    fn push(&mut self, event: &Value) {
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        self.pending.push_back(Bytes::from(line));
    }
}

/// A 410 `Expired` ERROR event.
fn expired(message: String) -> Value {
    json!({"type": "ERROR", "object": Status::new(StatusCode::GONE, "Expired", message).body()})
}

fn copy_req(req: &Req) -> Req {
    Req {
        method: req.method.clone(),
        target: req.target.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        body: Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;
    use axum::http::{HeaderMap, Method};
    use futures_util::StreamExt;

    pub(crate) async fn k1s() -> (Arc<K1s>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::Config::new(dir.path().join("k1s.db"));
        let k1s = K1s::init(config, Arc::new(FakeRuntime::new()))
            .await
            .unwrap();
        (k1s, dir)
    }

    fn req(query: &str) -> Req {
        Req {
            method: Method::GET,
            target: super::super::Target::Groups,
            query: super::super::parse_query(query),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    fn pod(name: &str, app: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "k1s-test/fake:1"}]}})
    }

    struct Events {
        body: axum::body::BodyDataStream,
        buf: Vec<u8>,
    }

    impl Events {
        fn of(r: Response) -> Events {
            assert_eq!(r.status(), StatusCode::OK);
            Events {
                body: r.into_body().into_data_stream(),
                buf: Vec::new(),
            }
        }

        /// The next event, `None` when the stream ended.
        async fn next(&mut self) -> Option<Value> {
            loop {
                if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = self.buf.drain(..=i).collect();
                    return Some(serde_json::from_slice(&line).unwrap());
                }
                let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                    .await
                    .expect("an event within 10 s")?;
                self.buf.extend_from_slice(&chunk.unwrap());
            }
        }

        /// Skips events until one of `typ` comes.
        async fn until(&mut self, typ: &str) -> Value {
            loop {
                let e = self.next().await.expect("stream open");
                if e["type"] == typ {
                    return e;
                }
            }
        }
    }

    fn kind_pod() -> &'static KindInfo {
        crate::registry::by_resource("", "v1", "pods").unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watch_lists_then_follows_changes_through_the_selector() {
        let (k1s, _dir) = k1s().await;
        k1s.add_pod(pod("w1", "a")).await.unwrap();
        k1s.add_pod(pod("other", "b")).await.unwrap();
        let r = serve(
            &k1s,
            kind_pod(),
            "v1",
            &req("watch=true&labelSelector=app%3Da"),
        )
        .await
        .unwrap();
        let mut ev = Events::of(r);
        let first = ev.next().await.unwrap();
        assert_eq!(first["type"], "ADDED");
        assert_eq!(first["object"]["metadata"]["name"], "w1");
        assert_eq!(first["object"]["kind"], "Pod");
        assert_eq!(first["object"]["apiVersion"], "v1");
        k1s.add_pod(pod("w2", "a")).await.unwrap();
        let added = ev.until("ADDED").await;
        assert_eq!(added["object"]["metadata"]["name"], "w2");
        k1s.remove_pod("w2").await.unwrap();
        let deleted = ev.until("DELETED").await;
        assert_eq!(deleted["object"]["metadata"]["name"], "w2");
        // `other` never shows: every event is about w1 or w2
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watch_resumes_after_a_version_and_ends_at_its_timeout() {
        let (k1s, _dir) = k1s().await;
        k1s.add_pod(pod("r1", "a")).await.unwrap();
        let rv = k1s.store().resource_version();
        k1s.add_pod(pod("r2", "a")).await.unwrap();
        let q = format!(
            "watch=true&resourceVersion={rv}&timeoutSeconds=1&fieldSelector=metadata.name%3Dr2"
        );
        let mut ev = Events::of(serve(&k1s, kind_pod(), "v1", &req(&q)).await.unwrap());
        let mut names = Vec::new();
        while let Some(e) = ev.next().await {
            assert_ne!(e["type"], "ERROR", "{e}");
            names.push(
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
            assert!(
                e["object"]["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    > rv
            );
        }
        assert!(
            !names.is_empty() && names.iter().all(|n| n == "r2"),
            "{names:?}"
        );
        // bad parameters are refused
        for q in [
            "watch=true&resourceVersion=x",
            "watch=true&fieldSelector=spec.x%3Dy",
            "watch=true&labelSelector=a+in+b",
        ] {
            assert!(serve(&k1s, kind_pod(), "v1", &req(q)).await.is_err(), "{q}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_watch_sends_one_row_tables_and_bookmarks_when_asked() {
        let (k1s, _dir) = k1s().await;
        k1s.add_pod(pod("t1", "a")).await.unwrap();
        let mut r = req("watch=true&allowWatchBookmarks=true&sendInitialEvents=true");
        r.headers.insert(
            header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io"
                .parse()
                .unwrap(),
        );
        let mut ev = Events::of(serve(&k1s, kind_pod(), "v1", &r).await.unwrap());
        let e = ev.next().await.unwrap();
        assert_eq!(e["type"], "ADDED");
        assert_eq!(e["object"]["kind"], "Table");
        assert_eq!(e["object"]["rows"].as_array().unwrap().len(), 1);
        let b = ev.next().await.unwrap();
        assert_eq!(b["type"], "BOOKMARK");
        assert_eq!(
            b["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watch_that_falls_behind_ends_with_410() {
        use crate::store::{Op, Source};
        use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
        let (k1s, _dir) = k1s().await;
        let r = serve(&k1s, kind_pod(), "v1", &req("watch=true"))
            .await
            .unwrap();
        // More changes in one batch than the broadcast holds, before the watch reads.
        let ops = (0..5000)
            .map(|i| {
                let mut h = HorizontalPodAutoscaler::default();
                h.metadata.name = Some(format!("lag-{i}"));
                h.metadata.uid = Some(format!("u{i}"));
                Op::create(h)
            })
            .collect();
        k1s.store().apply(ops, Source::Api).await.unwrap();
        let mut ev = Events::of(r);
        let e = ev.next().await.unwrap();
        assert_eq!(e["type"], "ERROR", "{e}");
        assert_eq!(e["object"]["code"], 410);
        assert!(ev.next().await.is_none());
    }
}
