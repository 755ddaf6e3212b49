//! ReplicaSets: `add_replica_set`, `remove_replica_set`, `get_replica_set`,
//! `list_replica_sets`, patch and scale, and the rs shapes.

use super::*;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};

use crate::store::Body;

impl K1s {
    /// `add_replica_set(spec)`: validates and stores a ReplicaSet; its controller
    /// creates the pods.
    pub async fn add_replica_set(&self, value: Value) -> Result<Created<RsDetails>, CoreError> {
        let host = self.host_limits().await;
        let admitted = model::replicaset::admit_replica_set(
            value,
            &host,
            &self.admission(),
            self.config.max_replicas,
        )?;
        let mut rs = admitted.object;
        let name = self.name_new_object(&mut rs.metadata)?;
        rs.status = Some(ReplicaSetStatus::default());
        self.store.create(rs, Source::Api).await?;
        self.replica_sets.enqueue(&name);
        Ok(Created {
            object: self.get_replica_set(&name)?,
            warnings: admitted.warnings,
        })
    }

    /// `remove_replica_set(name)`: removes it and marks its pods deleted in one
    /// transaction (a crash in between orphans nothing); answers at once.
    pub async fn remove_replica_set(&self, name: &str) -> Result<RsView, CoreError> {
        let rs = self
            .store
            .get::<ReplicaSet>(name)
            .ok_or_else(|| not_found(name))?;
        let mut ops = vec![Op::delete::<ReplicaSet>(name, Some(rs.uid().to_string()))];
        let pods = self.store.scan(|p: &Pod| {
            (rsc::controller_uid(p) == Some(rs.uid()) && !p.is_deleting())
                .then(|| p.name().to_string())
        });
        ops.extend(rsc::deletion_marks(pods.clone(), self.clock.time()));
        self.store.apply(ops, Source::Api).await?;
        // A container create that read a pod before its mark is not left behind.
        self.agent.settle_creates(&pods).await;
        self.events.forget(Kind::ReplicaSet, name);
        Ok(rs_view(&rs))
    }

    /// `get_replica_set(name)`: spec, status, desired/current/ready and its pods.
    pub fn get_replica_set(&self, name: &str) -> Result<RsDetails, CoreError> {
        let rs = self
            .store
            .get::<ReplicaSet>(name)
            .ok_or_else(|| not_found(name))?;
        let pods = self.store.scan(|p: &Pod| {
            (rsc::controller_uid(p) == Some(rs.uid()) && !p.is_deleting()).then(|| {
                let v = pod_view(p);
                RsPod {
                    phase: v.status.clone(),
                    ready: p.is_ready(),
                    name: v.name,
                    status: v.status,
                    reason: v.reason,
                    restart_count: v.restart_count,
                    addr: v.addr,
                    id: v.id,
                    creation_timestamp: v.creation_timestamp,
                }
            })
        });
        Ok(RsDetails {
            rs: rs_view(&rs),
            events: self.events.of(Kind::ReplicaSet, name),
            spec: rs.spec.unwrap_or_default(),
            status: rs.status.unwrap_or_default(),
            pods,
        })
    }

    /// `list_replica_sets(labels)`: ReplicaSets carrying every given label.
    pub fn list_replica_sets(&self, selector: &BTreeMap<String, String>) -> Vec<RsView> {
        self.store.scan(|rs: &ReplicaSet| {
            model::labels::matches(rs.labels(), selector).then(|| rs_view(rs))
        })
    }

    /// Applies a client's JSON merge patch (`{"spec":{"replicas":5}}` scales) and
    /// validates the result as a whole; the selector and name are immutable.
    pub async fn patch_replica_set(&self, name: &str, patch: Value) -> Result<RsView, CoreError> {
        self.patch_replica_set_as(name, patch, Source::Api).await
    }

    /// [`K1s::patch_replica_set`] on behalf of `source` (a controller's own writes are
    /// told apart in the change stream).
    pub(crate) async fn patch_replica_set_as(
        &self,
        name: &str,
        patch: Value,
        source: Source,
    ) -> Result<RsView, CoreError> {
        if !patch.is_object() {
            return Err(CoreError::BadBody(BadBody(
                "a merge patch must be a JSON object".into(),
            )));
        }
        // Optimistic concurrency: the patch applies to the version it was merged into;
        // if another write (a user, the HPA) came in between, merge again.
        for _ in 0..8 {
            if let Some(view) = self.try_patch_replica_set(name, &patch, source).await? {
                return Ok(view);
            }
        }
        Err(CoreError::Conflict(format!(
            "replicaset \"{name}\" kept changing while being patched; try again"
        )))
    }

    /// One attempt of [`K1s::patch_replica_set`]; `None` when the object moved on.
    async fn try_patch_replica_set(
        &self,
        name: &str,
        patch: &Value,
        source: Source,
    ) -> Result<Option<RsView>, CoreError> {
        let current = self
            .store
            .get::<ReplicaSet>(name)
            .ok_or_else(|| not_found(name))?;
        // A merge patch is JSON on JSON: the edge where the stored object meets the
        // client's body. The result is admitted as a whole, as a create would be.
        let mut body =
            serde_json::to_value(&current).map_err(|e| CoreError::Store(StoreError::Corrupt(e)))?;
        model::strip_system_fields(&mut body);
        model::replicaset::merge_patch(&mut body, patch);
        // The result is admitted as a whole and replaces the object if it is still the
        // version the patch was merged into (the generic replace: core/objects.rs).
        Ok(self
            .replace_once(&Body::ReplicaSet(current), body, source, false)
            .await?
            .and_then(|b| b.downcast::<ReplicaSet>().map(rs_view)))
    }

    /// Sets a ReplicaSet's replica count: the path both a user's scale and the HPA take.
    pub(crate) async fn scale_replica_set(
        &self,
        name: &str,
        replicas: i32,
        source: Source,
    ) -> Result<RsView, CoreError> {
        self.patch_replica_set_as(
            name,
            serde_json::json!({"spec": {"replicas": replicas}}),
            source,
        )
        .await
    }
}

fn not_found(name: &str) -> CoreError {
    CoreError::NotFound {
        kind: "replicaset",
        name: name.to_string(),
    }
}

/// The rs shape (docs/decisions.md, "Result shapes").
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RsView {
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// Desired replicas.
    pub replicas: i64,
    /// Active pods it owns.
    pub current: i64,
    /// Ready pods it owns.
    pub ready: i64,
    /// The user's labels.
    pub labels: BTreeMap<String, String>,
    /// `spec.selector.matchLabels` (see `spec` for expressions).
    pub selector: BTreeMap<String, String>,
    /// Creation time.
    pub creation_timestamp: String,
}

/// One of a ReplicaSet's pods in its details.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RsPod {
    /// Pod name.
    pub name: String,
    /// Phase.
    pub status: String,
    /// Phase (the same, under its Kubernetes name).
    pub phase: String,
    /// Container waiting/terminated reason.
    pub reason: Option<String>,
    /// Ready condition.
    pub ready: bool,
    /// Restarts of its container.
    pub restart_count: i64,
    /// Pod IP.
    pub addr: Option<String>,
    /// Container id.
    pub id: Option<String>,
    /// Creation time.
    pub creation_timestamp: String,
}

/// The rsExtra shape (docs/decisions.md, "Result shapes").
#[derive(Debug, Clone, Serialize)]
pub struct RsDetails {
    /// The rs shape.
    #[serde(flatten)]
    pub rs: RsView,
    /// Its spec.
    pub spec: ReplicaSetSpec,
    /// Its status.
    pub status: ReplicaSetStatus,
    /// Its pods: name, status (phase), reason, ready, restartCount, addr, id.
    pub pods: Vec<RsPod>,
    /// Recent events.
    pub events: Vec<Event>,
}

/// The rs shape of a stored ReplicaSet.
pub fn rs_view(rs: &ReplicaSet) -> RsView {
    let status = rs.status.as_ref();
    RsView {
        name: rs.name().to_string(),
        uid: rs.uid().to_string(),
        replicas: i64::from(rsc::desired_replicas(rs)),
        current: status.map_or(0, |s| i64::from(s.replicas)),
        ready: status.and_then(|s| s.ready_replicas).map_or(0, i64::from),
        labels: rs.labels().clone(),
        selector: rsc::selector_of(rs)
            .match_labels
            .clone()
            .unwrap_or_default(),
        creation_timestamp: rs.created(),
    }
}

/// The REST front door's ReplicaSet operations.
pub struct ReplicaSetOps;

impl KindOps for ReplicaSetOps {
    fn create<'a>(
        &'a self,
        k1s: &'a K1s,
        body: Value,
    ) -> BoxFuture<'a, Result<Created<Json>, CoreError>> {
        Box::pin(async move { Json::of_created(k1s.add_replica_set(body).await?) })
    }

    fn list(&self, k1s: &K1s, selector: &BTreeMap<String, String>) -> Result<Json, CoreError> {
        Json::of(&k1s.list_replica_sets(selector))
    }

    fn get<'a>(
        &'a self,
        k1s: &'a K1s,
        name: &'a str,
        _opts: GetOptions,
    ) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.get_replica_set(name)?) })
    }

    fn delete<'a>(&'a self, k1s: &'a K1s, name: &'a str) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.remove_replica_set(name).await?) })
    }

    fn patch<'a>(
        &'a self,
        k1s: &'a K1s,
        name: &'a str,
        patch: Value,
    ) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.patch_replica_set(name, patch).await?) })
    }
}
