//! The ReplicaSet controller: keeps exactly `spec.replicas` active pods matching the
//! selector. `reconcile(name)` is level-triggered and idempotent: it reads the
//! ReplicaSet and the pods, adopts orphans, releases pods that stopped matching,
//! creates the missing pods in slow-start batches or deletes the surplus in
//! Kubernetes' order, and writes status. Pure parts (ranking, batches, selector
//! matching) are free functions with table tests.
//!
//! A pod whose container dies is the node agent's to restart (RS pods have
//! `restartPolicy: Always`) and still counts here; a pod that is deleted or Failed is
//! this controller's to replace. The two healers never act on the same pod.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::workqueue::WorkQueue;
use crate::events::Events;
pub use crate::model::replicaset::selects;
use crate::store::{Change, Kind, Object, Op, Source, Store, StoreError};

/// Safety-net resync of every ReplicaSet.
const RESYNC: Duration = Duration::from_secs(30);
/// Most pods created by one reconcile (Kubernetes' burstReplicas).
const BURST: usize = 500;
/// Reconcile workers (a key is never reconciled by two at once).
const WORKERS: usize = 4;

/// Kubernetes' slow start: batches of 1, 2, 4, … adding up to `n`.
pub fn slow_start_batches(n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = n;
    let mut size = 1;
    while left > 0 {
        let b = size.min(left);
        out.push(b);
        left -= b;
        size *= 2;
    }
    out
}

/// What the deletion ranking needs to know of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRank {
    /// Name (the tie-breaker).
    pub name: String,
    /// `Pending`, `Running`, …
    pub phase: String,
    /// Ready condition.
    pub ready: bool,
    /// Container restarts.
    pub restarts: i64,
    /// creationTimestamp (RFC 3339 sorts as time).
    pub created: String,
}

/// Kubernetes' order of deletion: pending before running, not ready before ready,
/// more restarts before fewer, newer before older. Returns the pods to delete first
/// first.
pub fn deletion_order(pods: &mut [PodRank]) {
    fn phase_rank(p: &str) -> u8 {
        match p {
            "Pending" => 0,
            "Running" => 2,
            _ => 1,
        }
    }
    pods.sort_by(|a, b| {
        phase_rank(&a.phase)
            .cmp(&phase_rank(&b.phase))
            .then(a.ready.cmp(&b.ready))
            .then(b.restarts.cmp(&a.restarts))
            .then(b.created.cmp(&a.created))
            .then(a.name.cmp(&b.name))
    });
}

/// A pod counts toward its ReplicaSet while it is neither being deleted nor finished.
pub fn is_active(pod: &Object) -> bool {
    !pod.is_deleting()
        && !matches!(
            pod.body.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        )
}

/// Ready condition of a pod.
pub fn is_ready(pod: &Object) -> bool {
    pod.body
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// The uid of the pod's controller (its owner with `controller: true`), if any.
pub fn controller_uid(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r["controller"] == true)
        .and_then(|r| r["uid"].as_str())
}

fn controller_name(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r["controller"] == true && r["kind"] == "ReplicaSet")
        .and_then(|r| r["name"].as_str())
}

fn owner_ref(rs: &Object) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": rs.name,
        "uid": rs.uid,
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn rank_of(pod: &Object) -> PodRank {
    PodRank {
        name: pod.name.clone(),
        phase: pod
            .body
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Pending")
            .to_string(),
        ready: is_ready(pod),
        restarts: pod
            .body
            .pointer("/status/containerStatuses/0/restartCount")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        created: pod
            .body
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

/// The selector of a stored ReplicaSet.
pub fn selector_of(rs: &Object) -> LabelSelector {
    rs.body
        .pointer("/spec/selector")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// A pod object from a ReplicaSet's template, owned by it.
pub fn pod_from_template(rs: &Object, name: &str) -> Value {
    let template = rs
        .body
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
    if !meta.is_object() {
        meta = json!({});
    }
    meta["name"] = json!(name);
    meta["namespace"] = json!("default");
    meta["uid"] = json!(crate::util::new_uid());
    meta["creationTimestamp"] = json!(crate::util::now_rfc3339());
    meta["ownerReferences"] = json!([owner_ref(rs)]);
    if let Some(m) = meta.as_object_mut() {
        m.remove("generateName");
        m.remove("resourceVersion");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
        "status": {"phase": "Pending"},
    })
}

/// Marks a pod deleted, as a user's delete does (the node agent takes it from there).
pub fn mark_deleted(body: &mut Value) -> bool {
    if body
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return false;
    }
    let grace = body
        .pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    body["metadata"]["deletionTimestamp"] = json!(crate::util::now_rfc3339());
    body["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    true
}

/// Store operations marking these pods deleted (one batch, one transaction).
pub fn deletion_marks(pods: impl IntoIterator<Item = String>) -> Vec<Op> {
    pods.into_iter()
        .map(|n| Op::Update(Kind::Pod, n, Box::new(mark_deleted)))
        .collect()
}

/// The running controller; cheap to clone.
#[derive(Clone)]
pub struct ReplicaSetController {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    events: Events,
    queue: WorkQueue<String>,
    // Consecutive failures per ReplicaSet, for its backoff (shared by the workers).
    failures: std::sync::Mutex<BTreeMap<String, u32>>,
}

impl ReplicaSetController {
    /// A controller that does nothing until [`ReplicaSetController::start`] (tests call
    /// `reconcile` directly).
    pub fn new(store: Store, events: Events) -> ReplicaSetController {
        ReplicaSetController {
            inner: Arc::new(Inner {
                store,
                events,
                queue: WorkQueue::new(),
                failures: std::sync::Mutex::default(),
            }),
        }
    }

    /// Starts the workers, the store watch and the resync.
    pub fn start(store: Store, events: Events) -> ReplicaSetController {
        let c = Self::new(store, events);
        for _ in 0..WORKERS {
            let w = c.clone();
            tokio::spawn(async move { w.worker().await });
        }
        let w = c.clone();
        let rx = c.inner.store.watch();
        tokio::spawn(async move { w.watch(rx).await });
        let w = c.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RESYNC);
            loop {
                tick.tick().await;
                w.resync();
            }
        });
        c
    }

    /// Asks for a ReplicaSet to be reconciled.
    pub fn enqueue(&self, name: &str) {
        self.inner.queue.add(name.to_string());
    }

    fn resync(&self) {
        for rs in self.inner.store.list(Kind::ReplicaSet) {
            self.inner.queue.add(rs.name);
        }
    }

    async fn worker(&self) {
        while let Some(name) = self.inner.queue.next().await {
            let result = self.reconcile(&name).await;
            let failures = {
                let mut f = self
                    .inner
                    .failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                match &result {
                    Ok(()) => {
                        f.remove(&name);
                        0
                    }
                    Err(_) => {
                        let n = f.entry(name.clone()).or_default();
                        *n += 1;
                        *n
                    }
                }
            };
            if let Err(e) = result {
                // Per-key backoff: a failing ReplicaSet must not spin; the failure shows
                // in its status and events.
                let delay = Duration::from_millis(200 * 2u64.pow(failures.min(8)));
                tracing::warn!(rs = %name, error = %e, "reconcile failed; retrying in {delay:?}");
                self.inner
                    .events
                    .warning(Kind::ReplicaSet, &name, "FailedCreate", e.to_string());
                self.set_failure(&name, &e.to_string()).await;
                self.inner.queue.add_after(name.clone(), delay);
            }
            self.inner.queue.done(&name);
        }
    }

    /// Kubernetes' `ReplicaFailure` condition; the next successful status write clears it.
    async fn set_failure(&self, name: &str, message: &str) {
        let cond = json!([{
            "type": "ReplicaFailure",
            "status": "True",
            "reason": "FailedCreate",
            "message": message,
            "lastTransitionTime": crate::util::now_rfc3339(),
        }]);
        let _ = self
            .inner
            .store
            .update(Kind::ReplicaSet, name, Source::ReplicaSets, move |b| {
                if b.pointer("/status/conditions/0/message") == cond.pointer("/0/message") {
                    return false;
                }
                b["status"]["conditions"] = cond;
                true
            })
            .await;
    }

    async fn watch(&self, mut rx: broadcast::Receiver<Change>) {
        loop {
            match rx.recv().await {
                Ok(ch) => self.on_change(&ch),
                Err(broadcast::error::RecvError::Lagged(_)) => self.resync(),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn on_change(&self, ch: &Change) {
        match ch.object.kind {
            Kind::ReplicaSet => {
                // Our own status writes need no reaction.
                if ch.source != Source::ReplicaSets {
                    self.inner.queue.add(ch.object.name.clone());
                }
            }
            Kind::Pod => {
                if let Some(owner) = controller_name(&ch.object.body) {
                    self.inner.queue.add(owner.to_string());
                } else if controller_uid(&ch.object.body).is_none() {
                    // An orphan: whoever selects it may adopt it.
                    let labels = ch.object.labels();
                    for rs in self.inner.store.list(Kind::ReplicaSet) {
                        if selects(&selector_of(&rs), &labels) {
                            self.inner.queue.add(rs.name);
                        }
                    }
                }
            }
            Kind::HorizontalPodAutoscaler => {}
        }
    }

    /// One level-triggered step for one ReplicaSet.
    pub async fn reconcile(&self, name: &str) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let Some(rs) = store.get(Kind::ReplicaSet, name) else {
            return self.collect_orphans_of(name).await;
        };
        let selector = selector_of(&rs);
        let want = rs
            .body
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize;

        // Adopt orphans that match; release ours that no longer match.
        let mut ops = Vec::new();
        let mut mine = Vec::new();
        // Only the pods it owns or could adopt are copied.
        let candidates = store.scan(Kind::Pod, |p| {
            let owned = controller_uid(&p.body) == Some(rs.uid.as_str());
            let orphan = controller_uid(&p.body).is_none();
            (owned || (orphan && selects(&selector, &p.labels()))).then(|| p.clone())
        });
        for pod in candidates {
            let labels = pod.labels();
            let matches = selects(&selector, &labels);
            match controller_uid(&pod.body) {
                Some(uid) if uid == rs.uid => {
                    if matches || pod.is_deleting() {
                        mine.push(pod);
                    } else {
                        let uid = rs.uid.clone();
                        ops.push(Op::Update(
                            Kind::Pod,
                            pod.name.clone(),
                            Box::new(move |b: &mut Value| release(b, &uid)),
                        ));
                    }
                }
                Some(_) => {}
                None if matches && is_active(&pod) => {
                    let oref = owner_ref(&rs);
                    ops.push(Op::Update(
                        Kind::Pod,
                        pod.name.clone(),
                        Box::new(move |b: &mut Value| adopt(b, oref)),
                    ));
                    mine.push(pod);
                }
                None => {}
            }
        }
        if !ops.is_empty() {
            ops.push(require(&rs));
            match store.apply(ops, Source::ReplicaSets).await {
                // Deleted meanwhile: nothing of ours to do (its pods were marked).
                Err(StoreError::NotFound { .. }) => return Ok(()),
                r => r.map(|_| ())?,
            }
        }

        let active: Vec<&Object> = mine.iter().filter(|p| is_active(p)).collect();
        let have = active.len();
        if have < want {
            let missing = (want - have).min(BURST);
            self.inner.events.normal(
                Kind::ReplicaSet,
                name,
                "SuccessfulCreate",
                format!("Creating {missing} pod(s)"),
            );
            for batch in slow_start_batches(missing) {
                let mut ops: Vec<Op> = (0..batch)
                    .map(|_| {
                        let pod_name = format!("{name}-{}", crate::util::random_suffix(5));
                        Op::Create(Kind::Pod, pod_from_template(&rs, &pod_name))
                    })
                    .collect();
                // Never a pod for a ReplicaSet deleted since this pass read it.
                ops.push(require(&rs));
                match store.apply(ops, Source::ReplicaSets).await {
                    Ok(_) => {}
                    Err(StoreError::NotFound { .. }) => return Ok(()),
                    // A random name collided: the next pass tries new names.
                    Err(StoreError::AlreadyExists { .. }) => {
                        self.inner
                            .queue
                            .add_after(name.to_string(), Duration::from_millis(10));
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        } else if have > want {
            let mut ranks: Vec<PodRank> = active.iter().map(|p| rank_of(p)).collect();
            deletion_order(&mut ranks);
            let doomed: Vec<String> = ranks
                .into_iter()
                .take(have - want)
                .map(|r| r.name)
                .collect();
            self.inner.events.normal(
                Kind::ReplicaSet,
                name,
                "SuccessfulDelete",
                format!("Deleting {} pod(s): {}", doomed.len(), doomed.join(", ")),
            );
            store
                .apply(deletion_marks(doomed), Source::ReplicaSets)
                .await?;
        }
        self.write_status(&rs).await
    }

    /// Kubernetes' garbage collector for one name: pods whose controller is a
    /// ReplicaSet of this name that no longer exists are deleted (a safety net: the
    /// ReplicaSet's own deletion marks its pods in the same transaction).
    async fn collect_orphans_of(&self, name: &str) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let live: Vec<String> = store.scan(Kind::ReplicaSet, |r| Some(r.uid.clone()));
        let doomed: Vec<String> = store.scan(Kind::Pod, |p| {
            let owner_gone = controller_name(&p.body) == Some(name)
                && controller_uid(&p.body).is_some_and(|u| !live.iter().any(|l| l == u));
            (owner_gone && !p.is_deleting()).then(|| p.name.clone())
        });
        if doomed.is_empty() {
            return Ok(());
        }
        store
            .apply(deletion_marks(doomed), Source::ReplicaSets)
            .await
            .map(|_| ())
    }

    async fn write_status(&self, rs: &Object) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let selector = selector_of(rs);
        // (active, ready, fully labeled) for each active pod it owns, without copies.
        let pods: Vec<(bool, bool)> = store.scan(Kind::Pod, |p| {
            (controller_uid(&p.body) == Some(rs.uid.as_str()) && is_active(p))
                .then(|| (is_ready(p), selects(&selector, &p.labels())))
        });
        let ready = pods.iter().filter(|(r, _)| *r).count();
        let labeled = pods.iter().filter(|(_, l)| *l).count();
        let generation = rs
            .body
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        let status = json!({
            "replicas": pods.len(),
            "fullyLabeledReplicas": labeled,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": generation,
        });
        let uid = rs.uid.clone();
        let r = store
            .update(Kind::ReplicaSet, &rs.name, Source::ReplicaSets, move |b| {
                if b.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str())
                    || b.get("status") == Some(&status)
                {
                    return false;
                }
                b["status"] = status;
                true
            })
            .await;
        match r {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn require(rs: &Object) -> Op {
    Op::Require(Kind::ReplicaSet, rs.name.clone(), rs.uid.clone())
}

fn adopt(b: &mut Value, oref: Value) -> bool {
    if controller_uid(b).is_some()
        || b.pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
    {
        return false;
    }
    let refs = b["metadata"]
        .as_object_mut()
        .map(|m| m.entry("ownerReferences").or_insert(json!([])));
    match refs.and_then(Value::as_array_mut) {
        Some(list) => {
            list.push(oref);
            true
        }
        None => false,
    }
}

fn release(b: &mut Value, uid: &str) -> bool {
    let Some(list) = b
        .pointer_mut("/metadata/ownerReferences")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let before = list.len();
    list.retain(|r| r["uid"] != uid);
    list.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["a".into(), "b".into()]),
            }]),
        };
        assert!(selects(&sel, &labels(&[("app", "web"), ("tier", "a")])));
        assert!(!selects(&sel, &labels(&[("app", "web"), ("tier", "c")])));
        assert!(!selects(&sel, &labels(&[("app", "web")])));
        assert!(
            !selects(&LabelSelector::default(), &labels(&[("app", "web")])),
            "empty selects nothing"
        );
    }

    #[test]
    fn slow_start_doubles() {
        assert_eq!(slow_start_batches(0), Vec::<usize>::new());
        assert_eq!(slow_start_batches(1), vec![1]);
        assert_eq!(slow_start_batches(30), vec![1, 2, 4, 8, 15]);
        assert_eq!(slow_start_batches(31), vec![1, 2, 4, 8, 16]);
    }

    fn r(name: &str, phase: &str, ready: bool, restarts: i64, created: &str) -> PodRank {
        PodRank {
            name: name.into(),
            phase: phase.into(),
            ready,
            restarts,
            created: created.into(),
        }
    }

    #[test]
    fn deletion_ranking_follows_kubernetes() {
        let mut pods = vec![
            r("old-ready", "Running", true, 0, "2026-01-01T00:00:00Z"),
            r("new-ready", "Running", true, 0, "2026-01-02T00:00:00Z"),
            r("pending", "Pending", false, 0, "2026-01-01T00:00:00Z"),
            r("not-ready", "Running", false, 0, "2026-01-01T00:00:00Z"),
            r("crashy", "Running", true, 5, "2026-01-01T00:00:00Z"),
        ];
        deletion_order(&mut pods);
        let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["pending", "not-ready", "crashy", "new-ready", "old-ready"]
        );
    }

    fn rs_body(name: &str, replicas: i64) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "uid": format!("uid-{name}"), "generation": 1, "labels": {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "k1s-test/fake:1"}]}}}
        })
    }

    fn loose_pod(name: &str, app: &str, owner: Option<&str>) -> Value {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "uid": format!("uid-{name}"), "labels": {"app": app},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Running"}});
        if let Some(o) = owner {
            p["metadata"]["ownerReferences"] =
                json!([{"uid": o, "controller": true, "kind": "ReplicaSet", "name": o}]);
        }
        p
    }

    fn owned(store: &Store, rs: &str) -> Vec<Object> {
        store
            .list(Kind::Pod)
            .into_iter()
            .filter(|p| {
                controller_uid(&p.body) == Some(format!("uid-{rs}").as_str()) && is_active(p)
            })
            .collect()
    }

    #[tokio::test]
    async fn reconcile_creates_adopts_scales_down_and_leaves_others_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        let c = ReplicaSetController::new(store.clone(), Events::default());
        // an orphan that matches, and a matching pod owned by someone else
        store
            .create(Kind::Pod, loose_pod("orphan", "web", None), Source::Api)
            .await
            .unwrap();
        store
            .create(
                Kind::Pod,
                loose_pod("theirs", "web", Some("other")),
                Source::Api,
            )
            .await
            .unwrap();
        store
            .create(Kind::ReplicaSet, rs_body("web", 3), Source::Api)
            .await
            .unwrap();

        c.reconcile("web").await.unwrap();
        let pods = owned(&store, "web");
        assert_eq!(pods.len(), 3, "the orphan is adopted and two are created");
        assert!(pods.iter().any(|p| p.name == "orphan"));
        for p in &pods {
            let r = &p.body["metadata"]["ownerReferences"][0];
            assert_eq!(
                (r["kind"].as_str(), r["blockOwnerDeletion"].as_bool()),
                (Some("ReplicaSet"), Some(true))
            );
            if p.name != "orphan" {
                assert!(p.name.starts_with("web-") && p.name.len() == "web-".len() + 5);
            }
        }
        let theirs = store.get(Kind::Pod, "theirs").unwrap();
        assert_eq!(controller_uid(&theirs.body), Some("other"), "never touched");

        // idempotent: a second pass changes nothing
        let rv = store.resource_version();
        c.reconcile("web").await.unwrap();
        assert_eq!(store.resource_version(), rv);
        let rs = store.get(Kind::ReplicaSet, "web").unwrap();
        assert_eq!(rs.body["status"]["replicas"], 3);
        assert_eq!(rs.body["status"]["observedGeneration"], 1);

        // scale down to 1: two are marked deleted, the adopted running one (oldest) stays
        store
            .update(Kind::ReplicaSet, "web", Source::Api, |b| {
                b["spec"]["replicas"] = json!(1);
                true
            })
            .await
            .unwrap();
        c.reconcile("web").await.unwrap();
        let left = owned(&store, "web");
        assert_eq!(left.len(), 1);
        assert_eq!(
            left[0].name, "orphan",
            "pending (new) pods go before running ones"
        );

        // a pod that failed is replaced
        store
            .update(Kind::Pod, "orphan", Source::Node, |b| {
                b["status"]["phase"] = json!("Failed");
                true
            })
            .await
            .unwrap();
        c.reconcile("web").await.unwrap();
        let left = owned(&store, "web");
        assert_eq!(left.len(), 1);
        assert_ne!(left[0].name, "orphan");
    }

    #[tokio::test]
    async fn pods_of_a_deleted_replica_set_are_collected_and_never_created() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        let c = ReplicaSetController::new(store.clone(), Events::default());
        store
            .create(Kind::ReplicaSet, rs_body("gone", 2), Source::Api)
            .await
            .unwrap();
        let rs = store.get(Kind::ReplicaSet, "gone").unwrap();
        // a batch written for an owner deleted meanwhile is refused whole
        store
            .delete(Kind::ReplicaSet, "gone", None, Source::Api)
            .await
            .unwrap();
        let late = vec![
            Op::Create(Kind::Pod, pod_from_template(&rs, "gone-late1")),
            require(&rs),
        ];
        assert!(matches!(
            store.apply(late, Source::ReplicaSets).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(store.get(Kind::Pod, "gone-late1").is_none());
        // a pod that slipped through anyway is collected on the owner's next pass
        store
            .create(
                Kind::Pod,
                loose_pod("gone-x", "gone", Some("uid-gone")),
                Source::Api,
            )
            .await
            .unwrap();
        store
            .update(Kind::Pod, "gone-x", Source::Api, |b| {
                b["metadata"]["ownerReferences"][0]["name"] = json!("gone");
                true
            })
            .await
            .unwrap();
        c.reconcile("gone").await.unwrap();
        assert!(store.get(Kind::Pod, "gone-x").unwrap().is_deleting());
    }

    #[test]
    fn adoption_and_release_edit_owner_references() {
        let mut b = json!({"metadata": {"name": "p"}});
        assert!(adopt(&mut b, json!({"uid": "u1", "controller": true})));
        assert_eq!(controller_uid(&b), Some("u1"));
        assert!(
            !adopt(&mut b, json!({"uid": "u2", "controller": true})),
            "never steal a pod"
        );
        assert!(release(&mut b, "u1"));
        assert_eq!(controller_uid(&b), None);
    }
}
