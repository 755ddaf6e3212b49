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

use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};

use crate::events::Events;
pub use crate::model::replicaset::selects;
use crate::model::status::PodExt;
use crate::reconcile::{Action, Clock, Controller, Reconciler};
use crate::store::{Change, Kind, MetaExt, Op, Source, Store, StoreError};

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
    pub restarts: i32,
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

/// The uid of the object's controller (its owner with `controller: true`), if any.
pub fn controller_uid(o: &impl MetaExt) -> Option<&str> {
    o.controller_ref().map(|r| r.uid.as_str())
}

/// The name of the pod's controlling ReplicaSet, if any.
fn controller_name(pod: &Pod) -> Option<&str> {
    pod.controller_ref()
        .filter(|r| r.kind == "ReplicaSet")
        .map(|r| r.name.as_str())
}

/// The owner reference a ReplicaSet puts on its pods.
pub fn owner_ref(rs: &ReplicaSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: rs.name().into(),
        uid: rs.uid().into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn rank_of(pod: &Pod) -> PodRank {
    PodRank {
        name: pod.name().to_string(),
        phase: pod.phase().to_string(),
        ready: pod.is_ready(),
        restarts: pod.restart_count(),
        created: pod.created(),
    }
}

/// The selector of a ReplicaSet.
pub fn selector_of(rs: &ReplicaSet) -> &LabelSelector {
    static EMPTY: LabelSelector = LabelSelector {
        match_expressions: None,
        match_labels: None,
    };
    rs.spec.as_ref().map_or(&EMPTY, |s| &s.selector)
}

/// `spec.replicas` (1 when unset, as Kubernetes defaults it).
pub fn desired_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// A pod object from a ReplicaSet's template, owned by it, created `now`.
pub fn pod_from_template(rs: &ReplicaSet, name: &str, now: Time) -> Pod {
    let template = rs.spec.as_ref().and_then(|s| s.template.clone());
    let (meta, spec) = match template {
        Some(t) => (t.metadata.unwrap_or_default(), t.spec),
        None => (ObjectMeta::default(), None),
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(crate::util::new_uid()),
            creation_timestamp: Some(now),
            owner_references: Some(vec![owner_ref(rs)]),
            generate_name: None,
            resource_version: None,
            ..meta
        },
        spec,
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    }
}

/// Marks a pod deleted `now`, as a user's delete does (the node agent takes it from
/// there); false when it already was.
pub fn mark_deleted(pod: &mut Pod, now: Time) -> bool {
    if pod.is_deleting() {
        return false;
    }
    let grace = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(30);
    pod.metadata.deletion_timestamp = Some(now);
    pod.metadata.deletion_grace_period_seconds = Some(grace);
    true
}

/// Store operations marking these pods deleted (one batch, one transaction).
pub fn deletion_marks(pods: impl IntoIterator<Item = String>, now: Time) -> Vec<Op> {
    pods.into_iter()
        .map(|n| {
            let now = now.clone();
            Op::update::<Pod>(n, move |p| mark_deleted(p, now))
        })
        .collect()
}

/// The ReplicaSet controller's reconciler.
pub struct ReplicaSets {
    store: Store,
    events: Events,
    clock: Clock,
}

/// The running controller; cheap to clone.
#[derive(Clone)]
pub struct ReplicaSetController {
    ctl: Controller<ReplicaSets>,
}

impl Reconciler for ReplicaSets {
    type Error = StoreError;
    const NAME: &'static str = "replicaset";

    async fn reconcile(&self, name: &str) -> Result<Action, StoreError> {
        self.reconcile_rs(name).await
    }

    /// A failing ReplicaSet shows why: an event and Kubernetes' `ReplicaFailure`
    /// condition (the next successful status write clears it).
    async fn on_error(&self, name: &str, error: &StoreError, _failures: u32) {
        let message = error.to_string();
        self.events
            .warning(Kind::ReplicaSet, name, "FailedCreate", message.clone());
        let now = self.clock.time();
        let _ = self
            .store
            .update::<ReplicaSet>(name, Source::ReplicaSets, move |rs| {
                let status = rs.status.get_or_insert_with(Default::default);
                let same = status
                    .conditions
                    .as_ref()
                    .and_then(|c| c.first())
                    .is_some_and(|c| c.message.as_deref() == Some(message.as_str()));
                if same {
                    return false;
                }
                status.conditions = Some(vec![ReplicaSetCondition {
                    type_: "ReplicaFailure".into(),
                    status: "True".into(),
                    reason: Some("FailedCreate".into()),
                    message: Some(message),
                    last_transition_time: Some(now),
                }]);
                true
            })
            .await;
    }
}

impl ReplicaSetController {
    /// A controller that does nothing until [`ReplicaSetController::start`] (tests call
    /// `reconcile` directly).
    pub fn new(store: Store, events: Events, clock: Clock) -> ReplicaSetController {
        ReplicaSetController {
            ctl: Controller::new(ReplicaSets {
                store,
                events,
                clock,
            }),
        }
    }

    /// Starts the workers, the store watch and the resync.
    pub fn start(store: Store, events: Events, clock: Clock) -> ReplicaSetController {
        let c = Self::new(store, events, clock);
        let watch = c.ctl.reconciler().store.watch();
        c.ctl.run_workers(WORKERS);
        c.ctl.watch_store(
            watch,
            |r, ch| r.keys_of(ch),
            |r| r.store.names(Kind::ReplicaSet),
        );
        // Every stored ReplicaSet is reconciled again at start (the first tick is now).
        c.ctl
            .resync_every(RESYNC, |r| r.store.names(Kind::ReplicaSet));
        c
    }

    /// Asks for a ReplicaSet to be reconciled.
    pub fn enqueue(&self, name: &str) {
        self.ctl.enqueue(name);
    }

    /// One reconcile of `name`, now (tests).
    pub async fn reconcile(&self, name: &str) -> Result<Action, StoreError> {
        self.ctl.reconciler().reconcile_rs(name).await
    }

    /// Stops the workers and the sources.
    pub fn shutdown(&self) {
        self.ctl.shutdown();
    }
}

impl ReplicaSets {
    /// The ReplicaSets a change concerns.
    fn keys_of(&self, ch: &Change) -> Vec<String> {
        if let Some(rs) = ch.object_as::<ReplicaSet>() {
            // Our own status writes need no reaction.
            if ch.source != Source::ReplicaSets {
                return vec![rs.name().to_string()];
            }
        } else if let Some(pod) = ch.object_as::<Pod>() {
            if let Some(owner) = controller_name(pod) {
                return vec![owner.to_string()];
            } else if pod.controller_ref().is_none() {
                // An orphan: whoever selects it may adopt it.
                let labels = pod.labels();
                return self.store.scan(|rs: &ReplicaSet| {
                    selects(selector_of(rs), labels).then(|| rs.name().to_string())
                });
            }
        }
        Vec::new()
    }

    /// One level-triggered step for one ReplicaSet.
    pub async fn reconcile_rs(&self, name: &str) -> Result<Action, StoreError> {
        let store = &self.store;
        let Some(rs) = store.get::<ReplicaSet>(name) else {
            self.collect_orphans_of(name).await?;
            return Ok(Action::Done);
        };
        let selector = selector_of(&rs);
        let want = desired_replicas(&rs).max(0) as usize;
        let rs_uid = rs.uid();

        // Adopt orphans that match; release ours that no longer match.
        let mut ops = Vec::new();
        let mut mine = Vec::new();
        // Only the pods it owns or could adopt are copied.
        let candidates = store.scan(|p: &Pod| {
            let owned = controller_uid(p) == Some(rs_uid);
            let orphan = controller_uid(p).is_none();
            (owned || (orphan && selects(selector, p.labels()))).then(|| p.clone())
        });
        for pod in candidates {
            let matches = selects(selector, pod.labels());
            match controller_uid(&pod) {
                Some(uid) if uid == rs_uid => {
                    if matches || pod.is_deleting() {
                        mine.push(pod);
                    } else {
                        let uid = rs_uid.to_string();
                        ops.push(Op::update::<Pod>(pod.name(), move |p| release(p, &uid)));
                    }
                }
                Some(_) => {}
                None if matches && pod.is_active() => {
                    let oref = owner_ref(&rs);
                    ops.push(Op::update::<Pod>(pod.name(), move |p| adopt(p, oref)));
                    mine.push(pod);
                }
                None => {}
            }
        }
        if !ops.is_empty() {
            ops.push(require(&rs));
            match store.apply(ops, Source::ReplicaSets).await {
                // Deleted meanwhile: nothing of ours to do (its pods were marked).
                Err(StoreError::NotFound { .. }) => return Ok(Action::Done),
                r => r.map(|_| ())?,
            }
        }

        let active: Vec<&Pod> = mine.iter().filter(|p| p.is_active()).collect();
        let have = active.len();
        let mut next = Action::Done;
        if have < want {
            let missing = (want - have).min(BURST);
            self.events.normal(
                Kind::ReplicaSet,
                name,
                "SuccessfulCreate",
                format!("Creating {missing} pod(s)"),
            );
            for batch in slow_start_batches(missing) {
                let now = self.clock.time();
                let mut ops: Vec<Op> = (0..batch)
                    .map(|_| {
                        let pod_name = format!("{name}-{}", crate::util::random_suffix(5));
                        Op::create(pod_from_template(&rs, &pod_name, now.clone()))
                    })
                    .collect();
                // Never a pod for a ReplicaSet deleted since this pass read it.
                ops.push(require(&rs));
                match store.apply(ops, Source::ReplicaSets).await {
                    Ok(_) => {}
                    Err(StoreError::NotFound { .. }) => return Ok(Action::Done),
                    // A random name collided: the next pass tries new names.
                    Err(StoreError::AlreadyExists { .. }) => {
                        next = Action::RequeueAfter(Duration::from_millis(10));
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
            self.events.normal(
                Kind::ReplicaSet,
                name,
                "SuccessfulDelete",
                format!("Deleting {} pod(s): {}", doomed.len(), doomed.join(", ")),
            );
            store
                .apply(
                    deletion_marks(doomed, self.clock.time()),
                    Source::ReplicaSets,
                )
                .await?;
        }
        self.write_status(&rs).await?;
        Ok(next)
    }

    /// Kubernetes' garbage collector for one name: pods whose controller is a
    /// ReplicaSet of this name that no longer exists are deleted (a safety net: the
    /// ReplicaSet's own deletion marks its pods in the same transaction).
    async fn collect_orphans_of(&self, name: &str) -> Result<(), StoreError> {
        let store = &self.store;
        let live: Vec<String> = store.scan(|r: &ReplicaSet| Some(r.uid().to_string()));
        let doomed: Vec<String> = store.scan(|p: &Pod| {
            let owner_gone = controller_name(p) == Some(name)
                && controller_uid(p).is_some_and(|u| !live.iter().any(|l| l == u));
            (owner_gone && !p.is_deleting()).then(|| p.name().to_string())
        });
        if doomed.is_empty() {
            return Ok(());
        }
        store
            .apply(
                deletion_marks(doomed, self.clock.time()),
                Source::ReplicaSets,
            )
            .await
            .map(|_| ())
    }

    async fn write_status(&self, rs: &ReplicaSet) -> Result<(), StoreError> {
        let store = &self.store;
        let selector = selector_of(rs);
        // (ready, fully labeled) for each active pod it owns, without copies.
        let pods: Vec<(bool, bool)> = store.scan(|p: &Pod| {
            (controller_uid(p) == Some(rs.uid()) && p.is_active())
                .then(|| (p.is_ready(), selects(selector, p.labels())))
        });
        let count = |f: fn(&(bool, bool)) -> bool| pods.iter().filter(|p| f(p)).count() as i32;
        let ready = count(|p| p.0);
        let status = ReplicaSetStatus {
            replicas: pods.len() as i32,
            fully_labeled_replicas: Some(count(|p| p.1)),
            ready_replicas: Some(ready),
            available_replicas: Some(ready),
            observed_generation: Some(rs.generation()),
            conditions: None,
            terminating_replicas: None,
        };
        let uid = rs.uid().to_string();
        let r = store
            .update::<ReplicaSet>(rs.name(), Source::ReplicaSets, move |b| {
                if b.uid() != uid || b.status.as_ref() == Some(&status) {
                    return false;
                }
                b.status = Some(status);
                true
            })
            .await;
        match r {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn require(rs: &ReplicaSet) -> Op {
    Op::require::<ReplicaSet>(rs.name(), rs.uid())
}

fn adopt(p: &mut Pod, oref: OwnerReference) -> bool {
    if p.controller_ref().is_some() || p.is_deleting() {
        return false;
    }
    p.metadata
        .owner_references
        .get_or_insert_with(Vec::new)
        .push(oref);
    true
}

fn release(p: &mut Pod, uid: &str) -> bool {
    let Some(list) = p.metadata.owner_references.as_mut() else {
        return false;
    };
    let before = list.len();
    list.retain(|r| r.uid != uid);
    list.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use std::collections::BTreeMap;

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

    fn r(name: &str, phase: &str, ready: bool, restarts: i32, created: &str) -> PodRank {
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

    fn rs_body(name: &str, replicas: i32) -> ReplicaSet {
        serde_json::from_str(&format!(
            r#"{{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {{"name": "{name}", "uid": "uid-{name}", "generation": 1, "labels": {{}}}},
            "spec": {{"replicas": {replicas}, "selector": {{"matchLabels": {{"app": "{name}"}}}},
                     "template": {{"metadata": {{"labels": {{"app": "{name}"}}}},
                                  "spec": {{"containers": [{{"name": "c", "image": "k1s-test/fake:1"}}]}}}}}}}}"#
        ))
        .unwrap()
    }

    fn oref(uid: &str, name: &str) -> OwnerReference {
        OwnerReference {
            uid: uid.into(),
            name: name.into(),
            kind: "ReplicaSet".into(),
            controller: Some(true),
            ..Default::default()
        }
    }

    fn loose_pod(name: &str, app: &str, owner: Option<&str>) -> Pod {
        let mut p: Pod = serde_json::from_str(&format!(
            r#"{{"apiVersion": "v1", "kind": "Pod",
            "metadata": {{"name": "{name}", "uid": "uid-{name}", "labels": {{"app": "{app}"}},
                         "creationTimestamp": "2026-01-01T00:00:00Z"}},
            "spec": {{"containers": [{{"name": "c", "image": "i"}}]}}, "status": {{"phase": "Running"}}}}"#
        ))
        .unwrap();
        if let Some(o) = owner {
            p.metadata.owner_references = Some(vec![oref(o, o)]);
        }
        p
    }

    fn owned(store: &Store, rs: &str) -> Vec<Pod> {
        store
            .list::<Pod>()
            .into_iter()
            .filter(|p| controller_uid(p) == Some(format!("uid-{rs}").as_str()) && p.is_active())
            .collect()
    }

    fn controller(store: &Store) -> ReplicaSetController {
        ReplicaSetController::new(store.clone(), Events::default(), Clock::system())
    }

    #[tokio::test]
    async fn reconcile_creates_adopts_scales_down_and_leaves_others_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        let c = controller(&store);
        // an orphan that matches, and a matching pod owned by someone else
        store
            .create(loose_pod("orphan", "web", None), Source::Api)
            .await
            .unwrap();
        store
            .create(loose_pod("theirs", "web", Some("other")), Source::Api)
            .await
            .unwrap();
        store.create(rs_body("web", 3), Source::Api).await.unwrap();

        c.reconcile("web").await.unwrap();
        let pods = owned(&store, "web");
        assert_eq!(pods.len(), 3, "the orphan is adopted and two are created");
        assert!(pods.iter().any(|p| p.name() == "orphan"));
        for p in &pods {
            let r = p.controller_ref().unwrap();
            assert_eq!(
                (r.kind.as_str(), r.block_owner_deletion),
                ("ReplicaSet", Some(true))
            );
            if p.name() != "orphan" {
                assert!(p.name().starts_with("web-") && p.name().len() == "web-".len() + 5);
            }
        }
        let theirs = store.get::<Pod>("theirs").unwrap();
        assert_eq!(controller_uid(&theirs), Some("other"), "never touched");

        // idempotent: a second pass changes nothing
        let rv = store.resource_version();
        c.reconcile("web").await.unwrap();
        assert_eq!(store.resource_version(), rv);
        let rs = store.get::<ReplicaSet>("web").unwrap();
        let st = rs.status.unwrap();
        assert_eq!((st.replicas, st.observed_generation), (3, Some(1)));

        // scale down to 1: two are marked deleted, the adopted running one (oldest) stays
        store
            .update("web", Source::Api, |rs: &mut ReplicaSet| {
                rs.spec.as_mut().unwrap().replicas = Some(1);
                true
            })
            .await
            .unwrap();
        c.reconcile("web").await.unwrap();
        let left = owned(&store, "web");
        assert_eq!(left.len(), 1);
        assert_eq!(
            left[0].name(),
            "orphan",
            "pending (new) pods go before running ones"
        );

        // a pod that failed is replaced
        store
            .update("orphan", Source::Node, |p: &mut Pod| {
                p.status.as_mut().unwrap().phase = Some("Failed".into());
                true
            })
            .await
            .unwrap();
        c.reconcile("web").await.unwrap();
        let left = owned(&store, "web");
        assert_eq!(left.len(), 1);
        assert_ne!(left[0].name(), "orphan");
    }

    #[tokio::test]
    async fn pods_of_a_deleted_replica_set_are_collected_and_never_created() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        let c = controller(&store);
        store.create(rs_body("gone", 2), Source::Api).await.unwrap();
        let rs = store.get::<ReplicaSet>("gone").unwrap();
        // a batch written for an owner deleted meanwhile is refused whole
        store
            .delete::<ReplicaSet>("gone", None, Source::Api)
            .await
            .unwrap();
        let late = vec![
            Op::create(pod_from_template(&rs, "gone-late1", Clock::system().time())),
            require(&rs),
        ];
        assert!(matches!(
            store.apply(late, Source::ReplicaSets).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(store.get::<Pod>("gone-late1").is_none());
        // a pod that slipped through anyway is collected on the owner's next pass
        let mut stray = loose_pod("gone-x", "gone", None);
        stray.metadata.owner_references = Some(vec![oref("uid-gone", "gone")]);
        store.create(stray, Source::Api).await.unwrap();
        c.reconcile("gone").await.unwrap();
        assert!(store.get::<Pod>("gone-x").unwrap().is_deleting());
    }

    #[test]
    fn adoption_and_release_edit_owner_references() {
        let mut p = Pod::default();
        assert!(adopt(&mut p, oref("u1", "a")));
        assert_eq!(controller_uid(&p), Some("u1"));
        assert!(!adopt(&mut p, oref("u2", "b")), "never steal a pod");
        assert!(release(&mut p, "u1"));
        assert_eq!(controller_uid(&p), None);
    }
}
