//! `v1` and `events.k8s.io/v1` events, from what the node agent and the controllers
//! record (`src/events.rs`), so that `kubectl describe` shows them.
//!
//! The event log keys events by kind and name; the involved object's uid is the
//! stored object's (events are forgotten when their object goes).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{NAMESPACE, Req, Status, Target, json_response};
use crate::core::K1s;
use crate::events::Event;
use crate::model::labels::{FieldSelector, parse_label_selector};
use crate::store::{Kind, MetaExt};

/// `GET …/events`.
pub fn list(k1s: &Arc<K1s>, req: &Req) -> Result<Response, Status> {
    let v1 = !matches!(&req.target, Target::Collection { group, .. } if group == "events.k8s.io");
    let fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))
        .map_err(Status::bad_request)?;
    if let Some(f) = fields.reqs.iter().find(|r| field(&r.field).is_none()) {
        return Err(Status::bad_request(format!(
            "field label not supported: {}",
            f.field
        )));
    }
    let labels = parse_label_selector(req.param("labelSelector").unwrap_or(""))
        .map_err(Status::bad_request)?;
    let store = k1s.store();
    let mut rows: Vec<Row> = Vec::new();
    if labels.matches(&Default::default()) {
        for (kind, name, events) in k1s.events().all() {
            let uid = store
                .get_body(kind, &name)
                .map(|b| b.uid().to_string())
                .unwrap_or_default();
            for e in events {
                let row = Row {
                    kind,
                    name: name.clone(),
                    uid: uid.clone(),
                    event: e,
                };
                if fields.matches(|f| row.get(f)) {
                    rows.push(row);
                }
            }
        }
    }
    rows.sort_by(|a, b| a.event.last.cmp(&b.event.last));
    let items: Vec<Value> = rows
        .iter()
        .map(|r| if v1 { r.v1() } else { r.events_v1() })
        .collect();
    let rv = store.resource_version().to_string();
    if req.wants_table() {
        return Ok(json_response(StatusCode::OK, &table(&rows, &items, &rv)));
    }
    let api_version = if v1 { "v1" } else { "events.k8s.io/v1" };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": "EventList",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": rv},
            "items": items,
        }),
    ))
}

/// The apiserver's event Table: Last Seen, Type, Reason, Object, Message (+ wide:
/// Subobject, Source, First Seen, Count, Name).
fn table(rows: &[Row], items: &[Value], rv: &str) -> Value {
    let col = |name: &str, priority: u8| {
        json!({"name": name, "type": "string", "format": if name == "Name" { "name" } else { "" },
               "description": name, "priority": priority})
    };
    let now = jiff::Timestamp::now();
    let age = |t: &str| {
        t.parse::<jiff::Timestamp>()
            .map(|t| short_age(now.as_second() - t.as_second()))
            .unwrap_or_else(|_| "<unknown>".into())
    };
    let table_rows: Vec<Value> = rows
        .iter()
        .zip(items)
        .map(|(r, item)| {
            let e = &r.event;
            json!({
                "cells": [
                    age(&e.last),
                    e.kind,
                    e.reason,
                    format!("{}/{}", r.kind.as_str().to_ascii_lowercase(), r.name),
                    e.message,
                    "",
                    format!("{}, k1s", component(r.kind, &e.reason)),
                    age(&e.first),
                    e.count,
                    r.event_name(),
                ],
                "object": item,
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": [
            col("Last Seen", 0), col("Type", 0), col("Reason", 0), col("Object", 0),
            col("Message", 0), col("Subobject", 1), col("Source", 1), col("First Seen", 1),
            col("Count", 1), col("Name", 1),
        ],
        "rows": table_rows,
    })
}

/// `45s`, `3m`, `2h`, `5d`: kubectl's short ages.
fn short_age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// What a field selector may name (`involvedObject.*` in v1, `regarding.*` in
/// events.k8s.io), as the one name the row reads.
fn field(f: &str) -> Option<&'static str> {
    let f = f
        .strip_prefix("involvedObject.")
        .or_else(|| f.strip_prefix("regarding."))
        .map(|rest| match rest {
            "name" => "object.name",
            "namespace" => "object.namespace",
            "uid" => "object.uid",
            "kind" => "object.kind",
            "apiVersion" => "object.apiVersion",
            _ => "",
        })
        .unwrap_or(match f {
            "metadata.name" => "metadata.name",
            "metadata.namespace" => "metadata.namespace",
            "reason" => "reason",
            "type" => "type",
            "source" | "reportingController" => "source",
            _ => "",
        });
    (!f.is_empty()).then_some(f)
}

struct Row {
    kind: Kind,
    name: String,
    uid: String,
    event: Event,
}

impl Row {
    fn get(&self, f: &str) -> Option<String> {
        Some(match field(f)? {
            "object.name" => self.name.clone(),
            "object.namespace" | "metadata.namespace" => NAMESPACE.to_string(),
            "object.uid" => self.uid.clone(),
            "object.kind" => self.kind.as_str().to_string(),
            "object.apiVersion" => api_version(self.kind).to_string(),
            "metadata.name" => self.event_name(),
            "reason" => self.event.reason.clone(),
            "type" => self.event.kind.clone(),
            "source" => component(self.kind, &self.event.reason).to_string(),
            _ => return None,
        })
    }

    /// A name stable for the event's life: the object and when it first happened.
    fn event_name(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self
            .event
            .reason
            .bytes()
            .chain(self.event.message.bytes())
            .chain(self.event.first.bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        format!("{}.{:016x}", self.name, h)
    }

    fn involved(&self) -> Value {
        json!({
            "kind": self.kind.as_str(),
            "namespace": NAMESPACE,
            "name": self.name,
            "uid": self.uid,
            "apiVersion": api_version(self.kind),
        })
    }

    fn metadata(&self) -> Value {
        json!({
            "name": self.event_name(),
            "namespace": NAMESPACE,
            "creationTimestamp": self.event.first,
        })
    }

    /// A `v1` Event.
    fn v1(&self) -> Value {
        let e = &self.event;
        json!({
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": self.metadata(),
            "involvedObject": self.involved(),
            "reason": e.reason,
            "message": e.message,
            "source": {"component": component(self.kind, &e.reason), "host": "k1s"},
            "firstTimestamp": e.first,
            "lastTimestamp": e.last,
            "count": e.count,
            "type": e.kind,
            "eventTime": null,
            "reportingComponent": component(self.kind, &e.reason),
            "reportingInstance": "k1s",
        })
    }

    /// An `events.k8s.io/v1` Event.
    fn events_v1(&self) -> Value {
        let e = &self.event;
        let mut v = json!({
            "kind": "Event",
            "apiVersion": "events.k8s.io/v1",
            "metadata": self.metadata(),
            "eventTime": micro_time(&e.first),
            "reportingController": component(self.kind, &e.reason),
            "reportingInstance": "k1s",
            "action": e.reason,
            "reason": e.reason,
            "regarding": self.involved(),
            "note": e.message,
            "type": e.kind,
            "deprecatedSource": {"component": component(self.kind, &e.reason), "host": "k1s"},
            "deprecatedFirstTimestamp": e.first,
            "deprecatedLastTimestamp": e.last,
            "deprecatedCount": e.count,
        });
        if e.count > 1 {
            v["series"] = json!({"count": e.count, "lastObservedTime": micro_time(&e.last)});
        }
        v
    }
}

/// `2025-01-01T00:00:00Z` → `2025-01-01T00:00:00.000000Z` (a MicroTime).
fn micro_time(t: &str) -> String {
    match t.strip_suffix('Z') {
        Some(s) if !s.contains('.') => format!("{s}.000000Z"),
        _ => t.to_string(),
    }
}

fn api_version(kind: Kind) -> &'static str {
    match kind {
        Kind::Pod => "v1",
        Kind::ReplicaSet => "apps/v1",
        Kind::HorizontalPodAutoscaler => "autoscaling/v2",
        Kind::ConfigMap | Kind::Secret => "v1",
    }
}

/// Who records such an event in Kubernetes.
fn component(kind: Kind, reason: &str) -> &'static str {
    match (kind, reason) {
        (Kind::Pod, "Scheduled") => "default-scheduler",
        (Kind::Pod, _) => "kubelet",
        (Kind::ReplicaSet, _) => "replicaset-controller",
        (Kind::HorizontalPodAutoscaler, _) => "horizontal-pod-autoscaler",
        (Kind::ConfigMap | Kind::Secret, _) => "kubelet",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, Method};

    fn req(group: &str, query: &str) -> Req {
        Req {
            method: Method::GET,
            target: Target::Collection {
                res: super::super::Resource::Events,
                group: group.into(),
                version: "v1".into(),
                ns: Some(NAMESPACE.into()),
            },
            query: super::super::parse_query(query),
            headers: HeaderMap::new(),
            body: axum::body::Bytes::new(),
        }
    }

    async fn items(k1s: &Arc<K1s>, group: &str, query: &str) -> Vec<Value> {
        let r = list(k1s, &req(group, query)).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["kind"], "EventList");
        v["items"].as_array().unwrap().clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pods_events_are_listed_by_involved_object() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::Config::new(dir.path().join("k1s.db"));
        let k1s = K1s::init(config, Arc::new(crate::runtime::fake::FakeRuntime::new()))
            .await
            .unwrap();
        let pod = k1s
            .add_pod(
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ev"},
                "spec": {"containers": [{"name": "c", "image": "k1s-test/fake:1"}]}}),
            )
            .await
            .unwrap();
        let uid = pod.object.pod.uid.clone();
        k1s.events()
            .normal(Kind::ReplicaSet, "rs", "SuccessfulCreate", "Created pod: x");
        let q = format!(
            "fieldSelector=involvedObject.name%3Dev%2CinvolvedObject.namespace%3Ddefault%2CinvolvedObject.uid%3D{uid}"
        );
        let got = items(&k1s, "", &q).await;
        let reasons: Vec<&str> = got.iter().map(|e| e["reason"].as_str().unwrap()).collect();
        assert_eq!(reasons.first(), Some(&"Scheduled"), "{reasons:?}");
        assert!(reasons.contains(&"Started"), "{reasons:?}");
        assert_eq!(got[0]["involvedObject"]["uid"], uid.as_str());
        assert_eq!(got[0]["source"]["component"], "default-scheduler");
        assert!(got[0]["count"].as_u64().unwrap() >= 1);
        // another uid, another kind: nothing; the ReplicaSet's by kind
        assert!(
            items(&k1s, "", "fieldSelector=involvedObject.uid%3Dother")
                .await
                .is_empty()
        );
        let rs = items(&k1s, "", "fieldSelector=involvedObject.kind%3DReplicaSet").await;
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0]["reason"], "SuccessfulCreate");
        let ev = items(&k1s, "events.k8s.io", "fieldSelector=regarding.name%3Drs").await;
        assert_eq!(ev[0]["apiVersion"], "events.k8s.io/v1");
        assert_eq!(ev[0]["note"], "Created pod: x");
        assert!(list(&k1s, &req("", "fieldSelector=spec.x%3Dy")).is_err());
        let mut t = req("", "fieldSelector=involvedObject.kind%3DReplicaSet");
        t.headers.insert(
            axum::http::header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io"
                .parse()
                .unwrap(),
        );
        let r = list(&k1s, &t).unwrap();
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let table: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(table["kind"], "Table");
        let cells = &table["rows"][0]["cells"];
        assert_eq!(cells[1], "Normal");
        assert_eq!(cells[2], "SuccessfulCreate");
        assert_eq!(cells[3], "replicaset/rs");
        assert_eq!(short_age(59), "59s");
        assert_eq!(short_age(600), "10m");
        assert_eq!(short_age(3 * 86_400), "3d");
    }
}
