//! Kubernetes-style events ("Pulling", "Started", "BackOff", …) kept in memory per
//! object, with repeats folded into a count as Kubernetes does. They explain what
//! happened in `describe`; they are not state, so they are not persisted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::store::Kind;

/// How many events are kept per object.
const KEEP: usize = 30;

/// One event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub kind: String,
    /// CamelCase reason.
    pub reason: String,
    /// Human text.
    pub message: String,
    /// First seen (RFC 3339).
    #[serde(rename = "firstTimestamp")]
    pub first: String,
    /// Last seen (RFC 3339).
    #[serde(rename = "timestamp")]
    pub last: String,
    /// How often it happened.
    pub count: u32,
}

type EventMap = HashMap<(Kind, String), VecDeque<Event>>;

/// The event log; cheap to clone.
#[derive(Clone, Default)]
pub struct Events {
    inner: Arc<Mutex<EventMap>>,
}

impl Events {
    /// Records a `Normal` event.
    pub fn normal(&self, kind: Kind, name: &str, reason: &str, message: impl Into<String>) {
        self.record(kind, name, "Normal", reason, message.into());
    }

    /// Records a `Warning` event.
    pub fn warning(&self, kind: Kind, name: &str, reason: &str, message: impl Into<String>) {
        self.record(kind, name, "Warning", reason, message.into());
    }

    /// Records a `Normal` event unless the object already has one with this reason
    /// (`Scheduled`: once per pod, however often its container is made again).
    pub fn normal_once(&self, kind: Kind, name: &str, reason: &str, message: impl Into<String>) {
        let has = {
            let all = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            all.get(&(kind, name.to_string()))
                .is_some_and(|l| l.iter().any(|e| e.reason == reason))
        };
        if !has {
            self.record(kind, name, "Normal", reason, message.into());
        }
    }

    fn record(&self, kind: Kind, name: &str, typ: &str, reason: &str, message: String) {
        let now = crate::util::now_rfc3339();
        let mut all = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let list = all.entry((kind, name.to_string())).or_default();
        if let Some(last) = list
            .iter_mut()
            .find(|e| e.reason == reason && e.message == message && e.kind == typ)
        {
            last.count += 1;
            last.last = now;
            return;
        }
        list.push_back(Event {
            kind: typ.into(),
            reason: reason.into(),
            message,
            first: now.clone(),
            last: now,
            count: 1,
        });
        while list.len() > KEEP {
            list.pop_front();
        }
    }

    /// The events of one object, oldest first.
    pub fn of(&self, kind: Kind, name: &str) -> Vec<Event> {
        let all = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        all.get(&(kind, name.to_string()))
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every object's events: `(kind, name, events oldest first)`, by kind and name
    /// (the Kubernetes API's event lists).
    pub fn all(&self) -> Vec<(Kind, String, Vec<Event>)> {
        let all = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(Kind, String, Vec<Event>)> = all
            .iter()
            .map(|((k, n), l)| (*k, n.clone(), l.iter().cloned().collect()))
            .collect();
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        out
    }

    /// Forgets an object's events (it is gone).
    pub fn forget(&self, kind: Kind, name: &str) {
        let mut all = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(&(kind, name.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_fold_into_a_count() {
        let e = Events::default();
        e.warning(Kind::Pod, "a", "BackOff", "back-off");
        e.warning(Kind::Pod, "a", "BackOff", "back-off");
        e.normal(Kind::Pod, "a", "Started", "Started container");
        let list = e.of(Kind::Pod, "a");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].count, 2);
        assert!(e.of(Kind::Pod, "b").is_empty());
        e.normal_once(Kind::Pod, "a", "Scheduled", "assigned");
        e.normal_once(Kind::Pod, "a", "Scheduled", "assigned again");
        assert_eq!(e.of(Kind::Pod, "a").len(), 3);
        e.normal(Kind::ReplicaSet, "r", "SuccessfulCreate", "Created pod");
        let all = e.all();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].0, all[0].1.as_str(), all[0].2.len()),
            (Kind::Pod, "a", 3)
        );
        e.forget(Kind::Pod, "a");
        assert!(e.of(Kind::Pod, "a").is_empty());
    }
}
