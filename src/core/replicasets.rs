//! ReplicaSets: `add_replica_set`, `remove_replica_set`, `get_replica_set`,
//! `list_replica_sets`, patch and scale, and the rs shapes.

use super::*;

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
        let name = name_new_object(&mut rs.metadata)?;
        let body = new_body(&rs, "apps/v1", "ReplicaSet", json!({"replicas": 0}))?;
        self.store
            .create(Kind::ReplicaSet, body, Source::Api)
            .await?;
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
            .get(Kind::ReplicaSet, name)
            .ok_or_else(|| CoreError::NotFound {
                kind: "replicaset",
                name: name.to_string(),
            })?;
        let mut ops = vec![Op::Delete(
            Kind::ReplicaSet,
            name.to_string(),
            Some(rs.uid.clone()),
        )];
        let pods = self.store.scan(Kind::Pod, |p| {
            (rsc::controller_uid(&p.body) == Some(rs.uid.as_str()) && !p.is_deleting())
                .then(|| p.name.clone())
        });
        ops.extend(rsc::deletion_marks(pods));
        self.store.apply(ops, Source::Api).await?;
        self.events.forget(Kind::ReplicaSet, name);
        Ok(rs_view(&rs))
    }

    /// `get_replica_set(name)`: spec, status, desired/current/ready and its pods.
    pub fn get_replica_set(&self, name: &str) -> Result<RsDetails, CoreError> {
        let rs = self
            .store
            .get(Kind::ReplicaSet, name)
            .ok_or_else(|| CoreError::NotFound {
                kind: "replicaset",
                name: name.to_string(),
            })?;
        let pods = self
            .store
            .list(Kind::Pod)
            .into_iter()
            .filter(|p| rsc::controller_uid(&p.body) == Some(rs.uid.as_str()) && !p.is_deleting())
            .map(|p| {
                let v = pod_view(&p);
                json!({
                    "name": v.name,
                    "status": v.status,
                    "phase": v.status,
                    "reason": v.reason,
                    "ready": rsc::is_ready(&p),
                    "restartCount": v.restart_count,
                    "addr": v.addr,
                    "id": v.id,
                    "creationTimestamp": v.creation_timestamp,
                })
            })
            .collect();
        Ok(RsDetails {
            rs: rs_view(&rs),
            spec: rs.body.get("spec").cloned().unwrap_or(json!({})),
            status: rs.body.get("status").cloned().unwrap_or(json!({})),
            pods,
            events: self.events.of(Kind::ReplicaSet, name),
        })
    }

    /// `list_replica_sets(labels)`: ReplicaSets carrying every given label.
    pub fn list_replica_sets(&self, selector: &BTreeMap<String, String>) -> Vec<RsView> {
        self.store.scan(Kind::ReplicaSet, |o| {
            model::labels::matches(&o.labels(), selector).then(|| rs_view(o))
        })
    }

    /// Applies a JSON merge patch (`{"spec":{"replicas":5}}` scales) and validates the
    /// result as a whole; the selector and name are immutable.
    pub async fn patch_replica_set(
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
        let current =
            self.store
                .get(Kind::ReplicaSet, name)
                .ok_or_else(|| CoreError::NotFound {
                    kind: "replicaset",
                    name: name.to_string(),
                })?;
        let mut body = current.body.clone();
        model::strip_system_fields(&mut body);
        model::replicaset::merge_patch(&mut body, patch);
        let host = self.host_limits().await;
        let admitted = model::replicaset::admit_replica_set(
            body,
            &host,
            &self.admission(),
            self.config.max_replicas,
        )?;
        let rs = admitted.object;
        let mut errs = Vec::new();
        if rs.metadata.name.as_deref() != Some(name) {
            errs.push(model::FieldError::invalid(
                "metadata.name",
                rs.metadata.name.as_deref().unwrap_or(""),
                "field is immutable",
            ));
        }
        let new_selector = rs
            .spec
            .as_ref()
            .map(|s| serde_json::to_value(&s.selector).unwrap_or(Value::Null));
        if new_selector.as_ref() != current.body.pointer("/spec/selector") {
            errs.push(model::FieldError::new(
                "spec.selector",
                "Invalid value: field is immutable",
            ));
        }
        if let Some(inv) = Invalid::from_causes(errs) {
            return Err(CoreError::Invalid(inv));
        }
        let mut new =
            serde_json::to_value(&rs).map_err(|e| CoreError::Store(StoreError::Corrupt(e)))?;
        let uid = current.uid.clone();
        let read_version = current.resource_version.to_string();
        let moved_on = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let moved = moved_on.clone();
        let obj = self
            .store
            .update(Kind::ReplicaSet, name, source, move |b| {
                if b.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
                    return false;
                }
                if b.pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    != Some(read_version.as_str())
                {
                    moved.store(true, std::sync::atomic::Ordering::Relaxed);
                    return false;
                }
                let spec_changed = b.get("spec") != new.get("spec");
                let meta_changed = b.pointer("/metadata/labels") != new.pointer("/metadata/labels")
                    || b.pointer("/metadata/annotations") != new.pointer("/metadata/annotations");
                if !spec_changed && !meta_changed {
                    return false;
                }
                let generation = b
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                for k in ["uid", "creationTimestamp", "namespace"] {
                    new["metadata"][k] = b["metadata"][k].clone();
                }
                new["metadata"]["generation"] = json!(if spec_changed {
                    generation + 1
                } else {
                    generation
                });
                new["apiVersion"] = json!("apps/v1");
                new["kind"] = json!("ReplicaSet");
                new["status"] = b.get("status").cloned().unwrap_or(json!({}));
                *b = new;
                true
            })
            .await?;
        if moved_on.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        self.replica_sets.enqueue(name);
        Ok(Some(rs_view(&obj)))
    }

    /// Sets a ReplicaSet's replica count: the path both a user's scale and the HPA take.
    pub async fn scale_replica_set(
        &self,
        name: &str,
        replicas: i32,
        source: Source,
    ) -> Result<RsView, CoreError> {
        self.patch_replica_set(name, json!({"spec": {"replicas": replicas}}), source)
            .await
    }
}

/// The rs shape of SPEC §4.
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

/// The rsExtra shape of SPEC §4.
#[derive(Debug, Clone, Serialize)]
pub struct RsDetails {
    /// The rs shape.
    #[serde(flatten)]
    pub rs: RsView,
    /// Its spec.
    pub spec: Value,
    /// Its status.
    pub status: Value,
    /// Its pods: name, status (phase), reason, ready, restartCount, addr, id.
    pub pods: Vec<Value>,
    /// Recent events.
    pub events: Vec<Event>,
}

/// The rs shape of a stored ReplicaSet.
pub fn rs_view(obj: &Object) -> RsView {
    let b = &obj.body;
    let n = |p: &str| b.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    RsView {
        name: obj.name.clone(),
        uid: obj.uid.clone(),
        replicas: b
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1),
        current: n("/status/replicas"),
        ready: n("/status/readyReplicas"),
        labels: obj.labels(),
        selector: b
            .pointer("/spec/selector/matchLabels")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
        creation_timestamp: b
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}
