//! `?watch=true`: chunked JSON event streams fed by the store's change stream.
//!
//! One `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":…}` per line. The
//! stream subscribes to the store's broadcast *before* it reads what came earlier (the
//! current objects, or the change log after `resourceVersion`), then skips broadcast
//! changes it already covered: nothing is lost and nothing is sent twice. A receiver
//! that falls behind the broadcast ends its stream with a 410 `ERROR` event, so the
//! client relists instead of silently missing changes.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body as HttpBody, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

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
    let labels = LabelSelector::parse(req.param("labelSelector").unwrap_or(""))
        .map_err(Status::bad_request)?;
    let fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))
        .map_err(Status::bad_request)?;
    if let Some(f) = fields
        .reqs
        .iter()
        .find(|r| !matches!(r.field.as_str(), "metadata.name" | "metadata.namespace"))
    {
        return Err(Status::bad_request(format!(
            "field label not supported: {}",
            f.field
        )));
    }
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
        labels,
        fields,
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
    labels: LabelSelector,
    fields: FieldSelector,
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
        let matches = self.labels.matches(o.labels())
            && self.fields.matches(|f| match f {
                "metadata.name" => Some(o.name().to_string()),
                "metadata.namespace" => Some(super::NAMESPACE.to_string()),
                _ => None,
            });
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
            if !t.is_null() {
                return t;
            }
            return fallback_table(o);
        }
        object_json(self.kind, o, &self.version)
    }

    fn bookmark(&self) -> Value {
        json!({"type": "BOOKMARK", "object": {
            "kind": self.kind.kind,
            "apiVersion": api_version(self.kind, &self.version),
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

/// `v1`, `apps/v1`, `autoscaling/v2beta2`: the URL's group version.
pub(super) fn api_version(kind: &KindInfo, version: &str) -> String {
    if kind.group.is_empty() {
        version.to_string()
    } else {
        format!("{}/{version}", kind.group)
    }
}

/// The object as JSON in the URL's version: the objects module's conversion, or until
/// that answers, the stored form under the URL's apiVersion.
pub(super) fn object_json(kind: &KindInfo, o: &Body, version: &str) -> Value {
    let v = super::objects::to_version(kind, o, version);
    if !v.is_null() {
        return v;
    }
    let mut v = match o {
        Body::Pod(p) => serde_json::to_value(p),
        Body::ReplicaSet(r) => serde_json::to_value(r),
        Body::HorizontalPodAutoscaler(h) => serde_json::to_value(h),
        Body::ConfigMap(c) => serde_json::to_value(c),
        Body::Secret(s) => serde_json::to_value(s),
    }
    .unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), json!(api_version(kind, version)));
        m.insert("kind".into(), json!(kind.kind));
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.entry("namespace")
                .or_insert_with(|| json!(super::NAMESPACE));
        }
    }
    v
}

/// A one-row Table (name and creation time) for when the table module has none.
fn fallback_table(o: &Body) -> Value {
    let meta = o.meta();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": o.resource_version().to_string()},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
            {"name": "Created At", "type": "date", "format": "", "description": "Creation time", "priority": 0},
        ],
        "rows": [{
            "cells": [o.name(), o.created()],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {
                    "name": o.name(),
                    "namespace": super::NAMESPACE,
                    "uid": o.uid(),
                    "resourceVersion": o.resource_version().to_string(),
                    "creationTimestamp": o.created(),
                    "labels": meta.labels,
                    "annotations": meta.annotations,
                    "ownerReferences": meta.owner_references,
                },
            },
        }],
    })
}

/// A label selector: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`,
/// comma-separated (all must hold).
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct LabelSelector {
    terms: Vec<LabelTerm>,
}

#[derive(Debug, Clone, PartialEq)]
enum LabelTerm {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl LabelSelector {
    /// Parses a selector ("" selects everything).
    pub(super) fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut terms = Vec::new();
        for part in split_top_level(s) {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            let bad = || format!("unable to parse requirement: invalid label selector: \"{p}\"");
            let key_ok = |k: &str| !k.is_empty() && !k.contains([' ', '(', ')', '!', '=']);
            let term = if let Some(k) = p.strip_prefix('!') {
                let k = k.trim();
                key_ok(k).then(|| LabelTerm::NotExists(k.into()))
            } else if let Some((k, v)) = p.split_once("!=") {
                let k = k.trim();
                key_ok(k).then(|| LabelTerm::NotIn(k.into(), vec![v.trim().into()]))
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                let k = k.trim();
                key_ok(k).then(|| LabelTerm::In(k.into(), vec![v.trim().into()]))
            } else if let Some((k, rest)) = split_set_op(p) {
                let (op, list) = rest;
                let list = list
                    .trim()
                    .strip_prefix('(')
                    .and_then(|l| l.strip_suffix(')'))
                    .ok_or_else(bad)?;
                let values: Vec<String> = list.split(',').map(|v| v.trim().to_string()).collect();
                match op {
                    "in" if key_ok(k) => Some(LabelTerm::In(k.into(), values)),
                    "notin" if key_ok(k) => Some(LabelTerm::NotIn(k.into(), values)),
                    _ => None,
                }
            } else {
                key_ok(p).then(|| LabelTerm::Exists(p.into()))
            };
            terms.push(term.ok_or_else(bad)?);
        }
        Ok(LabelSelector { terms })
    }

    /// Whether `labels` satisfy every requirement.
    pub(super) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.terms.iter().all(|t| match t {
            LabelTerm::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            LabelTerm::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            LabelTerm::Exists(k) => labels.contains_key(k),
            LabelTerm::NotExists(k) => !labels.contains_key(k),
        })
    }
}

/// `key in (…)` / `key notin (…)` → `(key, (op, "(…)"))`.
fn split_set_op(p: &str) -> Option<(&str, (&str, &str))> {
    let open = p.find('(')?;
    let head = p[..open].trim();
    let (k, op) = head.rsplit_once(char::is_whitespace)?;
    Some((k.trim(), (op.trim(), &p[open..])))
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// A field selector: `f=v`, `f==v`, `f!=v`, comma-separated.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct FieldSelector {
    pub(super) reqs: Vec<FieldReq>,
}

/// One requirement of a field selector.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FieldReq {
    pub(super) field: String,
    pub(super) equal: bool,
    pub(super) value: String,
}

impl FieldSelector {
    /// Parses a selector ("" selects everything).
    pub(super) fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut reqs = Vec::new();
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = p.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!("invalid field selector: \"{p}\""));
            };
            reqs.push(FieldReq {
                field: field.trim().to_string(),
                equal,
                value: value.trim().to_string(),
            });
        }
        Ok(FieldSelector { reqs })
    }

    /// Whether every requirement holds; `get` reads a field (`None`: not a field of
    /// this object, which never matches).
    pub(super) fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.reqs
            .iter()
            .all(|r| get(&r.field).is_some_and(|v| (v == r.value) == r.equal))
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

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors_parse_and_match() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&l);
        assert!(m(""));
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("app in (db, web),tier notin (back)"));
        assert!(!m("app notin (web)"));
        assert!(m("!gone"));
        assert!(!m("!app"));
        assert!(!m("missing=x"));
        assert!(m("missing!=x"));
        for bad in ["app in web", "=x", "a b", "app in (x", "k in"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors_parse_and_match() {
        let get = |f: &str| (f == "metadata.name").then(|| "web".to_string());
        let m = |s: &str| FieldSelector::parse(s).unwrap().matches(get);
        assert!(m(""));
        assert!(m("metadata.name=web"));
        assert!(m("metadata.name==web"));
        assert!(!m("metadata.name!=web"));
        assert!(!m("metadata.name=db"));
        assert!(!m("spec.nodeName=x"));
        assert!(FieldSelector::parse("nonsense").is_err());
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
