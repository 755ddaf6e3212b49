//! Generic object operations for the Kubernetes API front door: read a stored object
//! of any kind, create from JSON (or only admit it: `dryRun`), replace a whole object
//! with a resourceVersion precondition, delete with a propagation policy. Each kind's
//! own rules (admission, what an update may change, cascades) stay the kind's.

use super::*;
use k8s_openapi::api::apps::v1::ReplicaSet;

use crate::store::Body;

/// What happens to the dependents of a deleted object (DeleteOptions'
/// `propagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Dependents are deleted after the owner (the default).
    #[default]
    Background,
    /// Kubernetes deletes dependents first; K1s treats it as `Background`.
    Foreground,
    /// Dependents stay, their owner references to the deleted object removed.
    Orphan,
}

/// The message of a failed resourceVersion precondition (409 Conflict).
pub fn modified_message(kind: Kind, name: &str) -> String {
    format!(
        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
        plural(kind)
    )
}

fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::Pod => "pods",
        Kind::ReplicaSet => "replicasets.apps",
        Kind::HorizontalPodAutoscaler => "horizontalpodautoscalers.autoscaling",
        Kind::ConfigMap => "configmaps",
        Kind::Secret => "secrets",
    }
}

fn not_found(kind: Kind, name: &str) -> CoreError {
    CoreError::NotFound {
        kind: kind.as_str(),
        name: name.to_string(),
    }
}

/// Annotations K1s writes itself (admission warnings), kept across updates.
fn is_own_annotation(k: &str) -> bool {
    k.starts_with("k1s.io/")
}

impl K1s {
    /// One stored object, being deleted or not.
    pub fn object(&self, kind: Kind, name: &str) -> Option<Body> {
        self.store.get_body(kind, name)
    }

    /// Every stored object of a kind, by name (those being deleted too).
    pub fn objects(&self, kind: Kind) -> Vec<Body> {
        self.store
            .names(kind)
            .iter()
            .filter_map(|n| self.store.get_body(kind, n))
            .collect()
    }

    /// Creates an object from its JSON (any served version) and answers the stored
    /// object; with `dry_run`, admits and names it, checks the name, stores nothing.
    pub async fn create_object(
        &self,
        kind: Kind,
        value: Value,
        dry_run: bool,
    ) -> Result<Created<Body>, CoreError> {
        if dry_run {
            return self.admit_new(kind, value).await;
        }
        let (name, warnings) = match kind {
            Kind::Pod => {
                let c = self.add_pod(value).await?;
                (c.object.pod.name, c.warnings)
            }
            Kind::ReplicaSet => {
                let c = self.add_replica_set(value).await?;
                (c.object.rs.name, c.warnings)
            }
            Kind::HorizontalPodAutoscaler => {
                let c = self.add_horizontal_pod_autoscaler(value).await?;
                (c.object.hpa.name, c.warnings)
            }
            Kind::ConfigMap => {
                let c = self.add_config_map(value).await?;
                (c.object.view.name, c.warnings)
            }
            Kind::Secret => {
                let c = self.add_secret(value).await?;
                (c.object.view.name, c.warnings)
            }
        };
        let object = self
            .store
            .get_body(kind, &name)
            .ok_or_else(|| not_found(kind, &name))?;
        Ok(Created { object, warnings })
    }

    async fn admit_new(&self, kind: Kind, value: Value) -> Result<Created<Body>, CoreError> {
        let (mut body, warnings) = self.admit(kind, value).await?;
        let name = self.name_new_object(body.meta_mut())?;
        if self.store.get_body(kind, &name).is_some() {
            return Err(CoreError::Conflict(format!(
                "{} \"{name}\" already exists",
                kind.as_str().to_lowercase()
            )));
        }
        Ok(Created {
            object: body,
            warnings,
        })
    }

    /// The kind's full admission of a body.
    async fn admit(&self, kind: Kind, value: Value) -> Result<(Body, Vec<String>), CoreError> {
        let host = self.host_limits().await;
        Ok(match kind {
            Kind::Pod => {
                let a = model::pod::admit_pod(value, &host, &self.admission())?;
                (Body::Pod(a.object), a.warnings)
            }
            Kind::ReplicaSet => {
                let a = model::replicaset::admit_replica_set(
                    value,
                    &host,
                    &self.admission(),
                    self.config.max_replicas,
                )?;
                (Body::ReplicaSet(a.object), a.warnings)
            }
            Kind::HorizontalPodAutoscaler => {
                let a = model::hpa::admit_hpa(value, self.config.max_replicas)?;
                (Body::HorizontalPodAutoscaler(a.object), a.warnings)
            }
            Kind::ConfigMap => {
                let a = model::configmap::admit_config_map(value)?;
                (Body::ConfigMap(a.object), a.warnings)
            }
            Kind::Secret => {
                let a = model::configmap::admit_secret(value)?;
                (Body::Secret(a.object), a.warnings)
            }
        })
    }

    /// Replaces an object with `value` (a whole object, any served version): admitted
    /// as a create would be, then only what the kind lets an update change is taken
    /// (pods: labels, annotations, owner references; ReplicaSets and HPAs: the spec
    /// too, but not a ReplicaSet's selector). With `expected_rv` the object must still
    /// be at that resourceVersion (409 Conflict otherwise); without it, a write that
    /// raced another is tried again. `dry_run` stores nothing.
    pub async fn replace_object(
        &self,
        kind: Kind,
        name: &str,
        value: Value,
        expected_rv: Option<u64>,
        dry_run: bool,
    ) -> Result<Body, CoreError> {
        for _ in 0..8 {
            let current = self
                .store
                .get_body(kind, name)
                .ok_or_else(|| not_found(kind, name))?;
            let read = current.resource_version();
            if expected_rv.is_some_and(|rv| rv != read) {
                return Err(CoreError::Conflict(modified_message(kind, name)));
            }
            match self
                .replace_once(&current, value.clone(), Source::Api, dry_run)
                .await?
            {
                Some(b) => return Ok(b),
                None if expected_rv.is_some() => {
                    return Err(CoreError::Conflict(modified_message(kind, name)));
                }
                None => continue,
            }
        }
        Err(CoreError::Conflict(modified_message(kind, name)))
    }

    /// One attempt of a replace of `current` by `value`; `None` when the stored object
    /// moved on meanwhile (the caller decides whether to merge again).
    pub(crate) async fn replace_once(
        &self,
        current: &Body,
        value: Value,
        source: Source,
        dry_run: bool,
    ) -> Result<Option<Body>, CoreError> {
        let kind = current.kind();
        let name = current.name().to_string();
        let (new, _) = self.admit(kind, value).await?;
        let mut errs = Vec::new();
        if new.meta().name.as_deref() != Some(name.as_str()) {
            errs.push(model::FieldError::invalid(
                "metadata.name",
                new.meta().name.as_deref().unwrap_or(""),
                "field is immutable",
            ));
        }
        let mut updated = current.clone();
        let spec_changed = match (&mut updated, new) {
            (Body::Pod(cur), Body::Pod(new)) => {
                if cur.spec != new.spec {
                    let images_only = {
                        let mut a = cur.spec.clone();
                        let b = new.spec.clone();
                        if let (Some(a), Some(b)) = (a.as_mut(), b.as_ref()) {
                            for (ca, cb) in a.containers.iter_mut().zip(&b.containers) {
                                ca.image = cb.image.clone();
                            }
                        }
                        a == b
                    };
                    errs.push(if images_only {
                        model::FieldError::forbidden(
                            "spec.containers[0].image",
                            "K1s does not replace a pod's container for a new image; delete the pod and create it again",
                        )
                    } else {
                        model::FieldError::forbidden(
                            "spec",
                            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                        )
                    });
                }
                let mut ann = new.metadata.annotations.unwrap_or_default();
                for (k, v) in cur.metadata.annotations.iter().flatten() {
                    if is_own_annotation(k) {
                        ann.insert(k.clone(), v.clone());
                    }
                }
                cur.metadata.annotations = Some(ann).filter(|a| !a.is_empty());
                cur.metadata.labels = new.metadata.labels;
                cur.metadata.owner_references = new.metadata.owner_references;
                false
            }
            (Body::ReplicaSet(cur), Body::ReplicaSet(new)) => {
                if new.spec.as_ref().map(|s| &s.selector) != cur.spec.as_ref().map(|s| &s.selector)
                {
                    errs.push(model::FieldError::new(
                        "spec.selector",
                        "Invalid value: field is immutable",
                    ));
                }
                let changed = cur.spec != new.spec;
                cur.metadata.labels = new.metadata.labels;
                cur.metadata.annotations = new.metadata.annotations;
                cur.spec = new.spec;
                changed
            }
            (Body::HorizontalPodAutoscaler(cur), Body::HorizontalPodAutoscaler(new)) => {
                let changed = cur.spec != new.spec;
                cur.metadata.labels = new.metadata.labels;
                cur.metadata.annotations = new.metadata.annotations;
                cur.spec = new.spec;
                changed
            }
            (Body::ConfigMap(cur), Body::ConfigMap(new)) => {
                if let Err(inv) = model::configmap::validate_config_map_update(cur, &new) {
                    errs.extend(inv.causes);
                }
                cur.metadata.labels = new.metadata.labels;
                cur.metadata.annotations = new.metadata.annotations;
                cur.data = new.data;
                cur.binary_data = new.binary_data;
                cur.immutable = new.immutable;
                false
            }
            (Body::Secret(cur), Body::Secret(new)) => {
                if let Err(inv) = model::configmap::validate_secret_update(cur, &new) {
                    errs.extend(inv.causes);
                }
                cur.metadata.labels = new.metadata.labels;
                cur.metadata.annotations = new.metadata.annotations;
                cur.data = new.data;
                cur.immutable = new.immutable;
                false
            }
            _ => false,
        };
        if let Some(inv) = Invalid::from_causes(errs) {
            return Err(CoreError::Invalid(inv));
        }
        if spec_changed {
            let g = updated.generation() + 1;
            updated.meta_mut().generation = Some(g);
        }
        if dry_run || updated == *current {
            return Ok(Some(updated));
        }
        let read = current.resource_version();
        let uid = current.uid().to_string();
        let moved_on = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let moved = moved_on.clone();
        let op = Op::Update(
            kind,
            name.clone(),
            Box::new(move |b: &mut Body| {
                if b.uid() != uid || b.resource_version() != read {
                    moved.store(true, std::sync::atomic::Ordering::Relaxed);
                    return false;
                }
                *b = updated;
                true
            }),
        );
        let written = self.store.apply(vec![op], source).await?;
        if moved_on.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        match kind {
            Kind::Pod => self.agent.enqueue(&name),
            Kind::ReplicaSet => self.replica_sets.enqueue(&name),
            Kind::HorizontalPodAutoscaler => {
                if let Some(c) = self.hpas.get() {
                    c.enqueue(&name);
                }
            }
            // The node agent hears of these through the store's change stream.
            Kind::ConfigMap | Kind::Secret => {}
        }
        Ok(written
            .into_iter()
            .next()
            .or_else(|| self.store.get_body(kind, &name)))
    }

    /// Deletes an object and answers it as it was last seen (a pod: with its
    /// deletionTimestamp, as it stays visible until the node agent has removed its
    /// container). A ReplicaSet's pods are deleted with it, or orphaned (`Orphan`:
    /// their owner references to it removed, in the same transaction).
    pub async fn delete_object(
        &self,
        kind: Kind,
        name: &str,
        propagation: Propagation,
        dry_run: bool,
    ) -> Result<Body, CoreError> {
        let current = self
            .store
            .get_body(kind, name)
            .ok_or_else(|| not_found(kind, name))?;
        if dry_run {
            return Ok(current);
        }
        match kind {
            Kind::Pod => {
                if current.is_deleting() {
                    return Ok(current);
                }
                self.remove_pod(name).await?;
                Ok(self.store.get_body(kind, name).unwrap_or(current))
            }
            Kind::ReplicaSet if propagation == Propagation::Orphan => {
                let uid = current.uid().to_string();
                let mut ops = vec![Op::delete::<ReplicaSet>(name, Some(uid.clone()))];
                let pods = self.store.scan(|p: &Pod| {
                    p.meta_ref()
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|r| r.uid == uid)
                        .then(|| p.name().to_string())
                });
                for pod in pods {
                    let uid = uid.clone();
                    ops.push(Op::update::<Pod>(pod, move |p| {
                        if let Some(refs) = p.metadata.owner_references.as_mut() {
                            refs.retain(|r| r.uid != uid);
                        }
                        if p.metadata
                            .owner_references
                            .as_ref()
                            .is_some_and(Vec::is_empty)
                        {
                            p.metadata.owner_references = None;
                        }
                        true
                    }));
                }
                self.store.apply(ops, Source::Api).await?;
                self.events.forget(Kind::ReplicaSet, name);
                Ok(current)
            }
            Kind::ReplicaSet => {
                self.remove_replica_set(name).await?;
                Ok(current)
            }
            Kind::HorizontalPodAutoscaler => {
                self.remove_horizontal_pod_autoscaler(name).await?;
                Ok(current)
            }
            Kind::ConfigMap => {
                self.remove_config_map(name).await?;
                Ok(current)
            }
            Kind::Secret => {
                self.remove_secret(name).await?;
                Ok(current)
            }
        }
    }
}
