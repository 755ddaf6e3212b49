//! The core: the handout's operations (`add_pod`, `remove_pod`, `get_pod`,
//! `list_pods`, `init`) over the store, the node agent and the runtime. The API layer
//! calls these and only maps their results and errors to HTTP.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use serde_json::{Value, json};

use crate::controller::hpa::{HpaController, Scaler};
use crate::controller::replicaset::{self as rsc, ReplicaSetController};
use crate::events::{Event, Events};
use crate::model::{self, AdmissionOptions, BadBody, HostLimits, Invalid};
use crate::node::{NodeAgent, Outcome};
use crate::runtime::logs::{KEEP_LINES, Logs};
use crate::runtime::metrics::Metrics;
use crate::runtime::{ContainerRuntime, RuntimeError};
use crate::store::{Kind, Object, Op, Source, Store, StoreError};

/// Server settings the core needs (SPEC §6).
#[derive(Debug, Clone)]
pub struct Config {
    /// The SQLite file.
    pub db: PathBuf,
    /// Let pods have host power (privileged, host namespaces…): off by default.
    pub allow_host_power: bool,
    /// Most replicas a ReplicaSet may ask for.
    pub max_replicas: u32,
    /// HPA sync period.
    pub hpa_sync_period: Duration,
    /// How long `POST /k1s/pod` waits for the container before answering `id: null`.
    pub create_wait: Duration,
}

impl Config {
    /// Defaults with the given database file.
    pub fn new(db: PathBuf) -> Config {
        Config {
            db,
            allow_host_power: false,
            max_replicas: 1000,
            hpa_sync_period: Duration::from_secs(5),
            create_wait: Duration::from_secs(5),
        }
    }
}

/// Everything that can go wrong in a core operation, classified for the API.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The body is not JSON/YAML at all (400).
    #[error("malformed body: {0}")]
    BadBody(#[from] BadBody),
    /// The object is invalid (422, with field paths).
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// No such object (404).
    #[error("{kind} \"{name}\" not found")]
    NotFound {
        /// `pod`, `replicaset`, …
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The name is in use, or being deleted, or a host port is taken (409).
    #[error("{0}")]
    Conflict(String),
    /// The Docker engine cannot be reached (503).
    #[error("Docker engine unreachable: {0}")]
    Unavailable(String),
    /// The engine refused what admission let through (422).
    #[error("{0}")]
    Refused(String),
    /// The store failed (500: not the user's fault).
    #[error(transparent)]
    Store(StoreError),
    /// The engine failed otherwise (500).
    #[error(transparent)]
    Runtime(RuntimeError),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists { kind, name } => {
                CoreError::Conflict(format!("{} \"{name}\" already exists", kind.to_lowercase()))
            }
            StoreError::NotFound { kind, name } => CoreError::NotFound {
                kind: match kind {
                    "Pod" => "pod",
                    "ReplicaSet" => "replicaset",
                    "HorizontalPodAutoscaler" => "horizontalpodautoscaler",
                    other => other,
                },
                name,
            },
            e => CoreError::Store(e),
        }
    }
}

impl From<RuntimeError> for CoreError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Unavailable(m) => CoreError::Unavailable(m),
            e => CoreError::Runtime(e),
        }
    }
}

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The pod shape of SPEC §4.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodView {
    /// Pod name.
    pub name: String,
    /// Pod uid.
    pub uid: String,
    /// Full container id, `null` while there is no container.
    pub id: Option<String>,
    /// The spec's image reference.
    pub image: String,
    /// Phase.
    pub status: String,
    /// Container waiting/terminated reason (what kubectl shows as STATUS).
    pub reason: Option<String>,
    /// The user's labels.
    pub labels: BTreeMap<String, String>,
    /// Pod IP.
    pub addr: Option<String>,
    /// Restarts of its container.
    pub restart_count: i64,
    /// Creation time.
    pub creation_timestamp: String,
    /// Owners (ReplicaSets).
    pub owner_references: Vec<Value>,
}

/// CPU and memory of a pod, from the metrics cache.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsView {
    /// Percent of one CPU (100 = one CPU); null until the first two samples.
    pub cpu_percent: Option<f64>,
    /// Working-set bytes; null until the first sample.
    pub memory_bytes: Option<u64>,
}

/// The podExtra shape of SPEC §4.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDetails {
    /// The pod shape.
    #[serde(flatten)]
    pub pod: PodView,
    /// Container state (`{"running": …}`, `{"waiting": {"reason": …}}`, …).
    pub state: Value,
    /// The previous run's state, if any.
    pub last_state: Value,
    /// Image id.
    #[serde(rename = "imageID")]
    pub image_id: Option<String>,
    /// When the pod first ran.
    pub start_time: Option<String>,
    /// Restart policy.
    pub restart_policy: String,
    /// Output of the current run (last lines).
    pub logs: String,
    /// Resource use.
    pub stats: StatsView,
    /// What admission accepted but K1s ignores.
    pub warnings: Vec<String>,
    /// Recent events.
    pub events: Vec<Event>,
    /// The pod's spec.
    pub spec: Value,
    /// The pod's full status.
    #[serde(rename = "podStatus")]
    pub pod_status: Value,
}

/// Result of a create: the object plus admission warnings.
#[derive(Debug, Clone)]
pub struct Created<T> {
    /// What was created.
    pub object: T,
    /// Warnings for the client (`Warning:` headers).
    pub warnings: Vec<String>,
}

/// Annotation holding admission warnings, so `get_pod` can show them later.
const ANNOTATION_WARNINGS: &str = "k1s.io/warnings";

/// The K1s core; shared by the API handlers.
pub struct K1s {
    store: Store,
    runtime: Arc<dyn ContainerRuntime>,
    agent: NodeAgent,
    replica_sets: ReplicaSetController,
    hpas: OnceLock<HpaController>,
    metrics: Metrics,
    logs: Logs,
    events: Events,
    config: Config,
    host: Mutex<Option<HostLimits>>,
}

impl K1s {
    /// `init()`: opens (creating) the store, starts the node agent, which finds the
    /// containers of this instance again and resumes their pods. Returns once the
    /// server can answer truthfully.
    pub async fn init(
        config: Config,
        runtime: Arc<dyn ContainerRuntime>,
    ) -> Result<Arc<K1s>, InitError> {
        let store = Store::open(&config.db)?;
        let metrics = Metrics::new(runtime.clone());
        let events = Events::default();
        let logs = Logs::new(runtime.clone());
        let agent = NodeAgent::start(
            store.clone(),
            runtime.clone(),
            metrics.clone(),
            logs.clone(),
            events.clone(),
        );
        // Every stored ReplicaSet is reconciled again at start (its resync fires at once).
        let replica_sets = ReplicaSetController::start(store.clone(), events.clone());
        let k1s = Arc::new(K1s {
            store,
            runtime,
            agent,
            replica_sets,
            hpas: OnceLock::new(),
            metrics,
            logs,
            events,
            config,
            host: Mutex::new(None),
        });
        let scaler = Arc::new(CoreScaler(Arc::downgrade(&k1s)));
        let hpas = HpaController::new(
            k1s.store.clone(),
            k1s.metrics.clone(),
            k1s.events.clone(),
            scaler,
            k1s.config.hpa_sync_period,
        )
        .start();
        let _ = k1s.hpas.set(hpas);
        // Learn the host's size now if the engine is there; admission needs it.
        let _ = k1s.host_limits().await;
        Ok(k1s)
    }

    /// The store (for the API's watch and the controllers).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This server's instance id.
    pub fn instance_id(&self) -> &str {
        self.store.instance_id()
    }

    /// How many containers are being sampled for stats.
    pub fn stats_streams(&self) -> usize {
        self.metrics.streams()
    }

    async fn host_limits(&self) -> HostLimits {
        if let Some(h) = *self.host.lock().unwrap_or_else(|e| e.into_inner()) {
            return h;
        }
        match self.runtime.info().await {
            Ok(info) => {
                let h = HostLimits {
                    cpu_millis: info.ncpu * 1000,
                    memory_bytes: info.mem_total,
                };
                *self.host.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
                h
            }
            // Engine down: judge by this machine (the engine runs on it) without caching.
            Err(_) => local_host_limits(),
        }
    }

    fn admission(&self) -> AdmissionOptions {
        AdmissionOptions {
            allow_host_power: self.config.allow_host_power,
        }
    }

    /// `add_pod(spec)`: validates, checks the engine and the name, stores the pod and
    /// waits (bounded) for its container.
    pub async fn add_pod(&self, value: Value) -> Result<Created<PodDetails>, CoreError> {
        let host = self.host_limits().await;
        let admitted = model::pod::admit_pod(value, &host, &self.admission())?;
        let mut pod = admitted.object;
        let warnings = admitted.warnings;
        let name = name_new_object(&mut pod.metadata)?;
        self.runtime.ping().await?;
        self.check_name_free(&name).await?;
        self.check_host_ports(&pod)?;

        if !warnings.is_empty() {
            pod.metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(ANNOTATION_WARNINGS.into(), json!(warnings).to_string());
        }
        // The first container only runs: say so in the status too (SPEC §1).
        let mut status = json!({"phase": "Pending", "qosClass": qos_class(&pod)});
        let ignored: Vec<&str> = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter().skip(1))
            .map(|c| c.name.as_str())
            .collect();
        if !ignored.is_empty() {
            status["message"] = json!(format!(
                "K1s runs only the first container of a pod; ignored: {}",
                ignored.join(", ")
            ));
        }
        let body = new_body(&pod, "v1", "Pod", status)?;

        let outcome = self.agent.expect(&name);
        let stored = self.store.create(Kind::Pod, body, Source::Api).await?;
        self.agent.enqueue(&name);
        match tokio::time::timeout(self.config.create_wait, outcome).await {
            Ok(Ok(Outcome::Refused {
                conflict: true,
                message,
            })) => {
                return Err(CoreError::Conflict(message));
            }
            Ok(Ok(Outcome::Refused {
                conflict: false,
                message,
            })) => {
                return Err(CoreError::Refused(message));
            }
            _ => {}
        }
        // The pod as it is now; if it is already being deleted (a ReplicaSet that
        // adopted it found it surplus, a client's DELETE), it was still created: 201
        // with what was stored or last seen, as Kubernetes answers.
        let latest = self
            .store
            .get(Kind::Pod, &name)
            .filter(|o| o.uid == stored.uid)
            .unwrap_or(stored);
        let details = self.details_of(latest, Some(0)).await;
        Ok(Created {
            object: details,
            warnings,
        })
    }

    async fn check_name_free(&self, name: &str) -> Result<(), CoreError> {
        if let Some(existing) = self.store.get(Kind::Pod, name) {
            return Err(CoreError::Conflict(if existing.is_deleting() {
                format!("pod \"{name}\" is being deleted; try again when it is gone")
            } else {
                format!("pod \"{name}\" already exists")
            }));
        }
        // Pod names are container names: a container of that name, whoever made it
        // (a user, another K1s), makes the name unavailable.
        if let Some(c) = self.runtime.inspect(name).await? {
            let owner = match c.labels.get(crate::runtime::LABEL_INSTANCE) {
                Some(_) => "another K1s server",
                None => "a container not managed by K1s",
            };
            return Err(CoreError::Conflict(format!(
                "pod \"{name}\": the container name is in use by {owner}"
            )));
        }
        Ok(())
    }

    /// Two pods may not publish the same host port (SPEC §9: 409 at admission).
    fn check_host_ports(&self, pod: &Pod) -> Result<(), CoreError> {
        let wanted = host_ports(pod);
        if wanted.is_empty() {
            return Ok(());
        }
        for other in self.store.list(Kind::Pod) {
            let phase = other.body.pointer("/status/phase").and_then(Value::as_str);
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            let Ok(op) = serde_json::from_value::<Pod>(other.body.clone()) else {
                continue;
            };
            for (port, proto, ip) in host_ports(&op) {
                for (wp, wproto, wip) in &wanted {
                    let ips_overlap = ip.is_empty() || wip.is_empty() || ip == *wip;
                    if port == *wp && proto == *wproto && ips_overlap {
                        return Err(CoreError::Conflict(format!(
                            "hostPort {port}/{proto} is already used by pod \"{}\"",
                            other.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// `remove_pod(name)`: marks the pod deleted and answers at once; the node agent
    /// stops and removes its container in the background.
    pub async fn remove_pod(&self, name: &str) -> Result<PodView, CoreError> {
        let not_found = || CoreError::NotFound {
            kind: "pod",
            name: name.to_string(),
        };
        let current = self.store.get(Kind::Pod, name).ok_or_else(not_found)?;
        if current.is_deleting() {
            return Err(not_found());
        }
        let uid = current.uid.clone();
        let obj = self
            .store
            .update(Kind::Pod, name, Source::Api, move |body| {
                body.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid.as_str())
                    && rsc::mark_deleted(body)
            })
            .await?;
        self.agent.enqueue(name);
        Ok(pod_view(&obj))
    }

    /// `get_pod(name)`: the pod with state, logs (last `tail_lines`, default 1000, of
    /// the current run) and stats from the cache. Pods being deleted are not shown.
    pub async fn get_pod(
        &self,
        name: &str,
        tail_lines: Option<u32>,
    ) -> Result<PodDetails, CoreError> {
        let obj = self
            .store
            .get(Kind::Pod, name)
            .filter(|o| !o.is_deleting())
            .ok_or_else(|| CoreError::NotFound {
                kind: "pod",
                name: name.to_string(),
            })?;
        Ok(self.details_of(obj, tail_lines).await)
    }

    async fn details_of(&self, obj: Object, tail_lines: Option<u32>) -> PodDetails {
        let view = pod_view(&obj);
        let cs = obj
            .body
            .pointer("/status/containerStatuses/0")
            .cloned()
            .unwrap_or(json!({}));
        let state = cs.get("state").cloned().unwrap_or(json!({}));
        let tail = tail_lines.unwrap_or(1000);
        let logs = match (&view.id, tail) {
            (_, 0) | (None, _) => String::new(),
            (Some(id), tail) => self.logs_of(id, &cs, tail).await,
        };
        let usage = view.id.as_deref().and_then(|id| self.metrics.latest(id));
        let warnings = obj
            .body
            .pointer(&format!(
                "/metadata/annotations/{}",
                ANNOTATION_WARNINGS.replace('/', "~1")
            ))
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
            .unwrap_or_default();
        PodDetails {
            state,
            last_state: cs.get("lastState").cloned().unwrap_or(json!({})),
            image_id: cs
                .get("imageID")
                .and_then(Value::as_str)
                .map(str::to_string),
            start_time: obj
                .body
                .pointer("/status/startTime")
                .and_then(Value::as_str)
                .map(str::to_string),
            restart_policy: obj
                .body
                .pointer("/spec/restartPolicy")
                .and_then(Value::as_str)
                .unwrap_or("Always")
                .to_string(),
            logs,
            stats: StatsView {
                cpu_percent: usage
                    .and_then(|u| u.cpu_percent)
                    .map(|c| (c * 100.0).round() / 100.0),
                memory_bytes: usage.map(|u| u.memory_bytes),
            },
            warnings,
            events: self.events.of(Kind::Pod, &obj.name),
            spec: obj.body.get("spec").cloned().unwrap_or(json!({})),
            pod_status: obj.body.get("status").cloned().unwrap_or(json!({})),
            pod: view,
        }
    }

    /// The last `tail` lines of the container's current run: from the log cache, or
    /// (longer tails, a run K1s did not follow) from the engine, bounded in time.
    async fn logs_of(&self, id: &str, cs: &Value, tail: u32) -> String {
        // The current run, or while waiting to restart, the run that just ended.
        let started = cs
            .pointer("/state/running/startedAt")
            .or_else(|| cs.pointer("/state/terminated/startedAt"))
            .or_else(|| cs.pointer("/lastState/terminated/startedAt"))
            .and_then(Value::as_str);
        let ended = cs.pointer("/state/running").is_none();
        let since = crate::node::run_start_unix(started);
        if tail as usize <= KEEP_LINES
            && let Some(text) = self.logs.tail(id, since, tail as usize)
        {
            return text;
        }
        let fetched =
            tokio::time::timeout(Duration::from_secs(2), self.runtime.logs(id, tail, since))
                .await
                .ok()
                .and_then(Result::ok);
        match fetched {
            Some(text) => {
                // A run that ended does not change any more: keep what was read.
                if ended && tail as usize >= KEEP_LINES {
                    self.logs.remember(id, since, &text);
                }
                text
            }
            None => String::new(),
        }
    }

    /// `list_pods(labels)`: pods carrying every given label, by name; pods being
    /// deleted are not listed.
    pub fn list_pods(&self, selector: &BTreeMap<String, String>) -> Vec<PodView> {
        self.store.scan(Kind::Pod, |o| {
            (!o.is_deleting() && model::labels::matches(&o.labels(), selector)).then(|| pod_view(o))
        })
    }
}

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
        for pod in self.store.list(Kind::Pod) {
            if rsc::controller_uid(&pod.body) == Some(rs.uid.as_str()) && !pod.is_deleting() {
                ops.push(Op::Update(
                    Kind::Pod,
                    pod.name.clone(),
                    Box::new(rsc::mark_deleted),
                ));
            }
        }
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
        let current =
            self.store
                .get(Kind::ReplicaSet, name)
                .ok_or_else(|| CoreError::NotFound {
                    kind: "replicaset",
                    name: name.to_string(),
                })?;
        let mut body = current.body.clone();
        model::strip_system_fields(&mut body);
        model::replicaset::merge_patch(&mut body, &patch);
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
        let obj = self
            .store
            .update(Kind::ReplicaSet, name, source, move |b| {
                if b.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
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
        self.replica_sets.enqueue(name);
        Ok(rs_view(&obj))
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

/// The HPA's way to scale: the same path as a user's scale, through the core.
struct CoreScaler(Weak<K1s>);

impl Scaler for CoreScaler {
    fn scale(
        &self,
        rs: &str,
        replicas: i32,
    ) -> futures_util::future::BoxFuture<'_, Result<(), String>> {
        let rs = rs.to_string();
        Box::pin(async move {
            let k1s = self.0.upgrade().ok_or("the server is shutting down")?;
            k1s.scale_replica_set(&rs, replicas, Source::Autoscaler)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

impl K1s {
    /// `add_horizontal_pod_autoscaler(spec)`: validates (v2, v2beta2 or v1) and stores
    /// it in its v2 form; its controller evaluates it at once and every sync period.
    pub async fn add_horizontal_pod_autoscaler(
        &self,
        value: Value,
    ) -> Result<Created<HpaDetails>, CoreError> {
        let admitted = model::hpa::admit_hpa(value, self.config.max_replicas)?;
        let mut hpa = admitted.object;
        let name = name_new_object(&mut hpa.metadata)?;
        let body = new_body(
            &hpa,
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            json!({"desiredReplicas": 0}),
        )?;
        self.store
            .create(Kind::HorizontalPodAutoscaler, body, Source::Api)
            .await?;
        if let Some(c) = self.hpas.get() {
            c.enqueue(&name);
        }
        Ok(Created {
            object: self.get_horizontal_pod_autoscaler(&name)?,
            warnings: admitted.warnings,
        })
    }

    /// `remove_horizontal_pod_autoscaler(name)`: the ReplicaSet stays as it is.
    pub async fn remove_horizontal_pod_autoscaler(&self, name: &str) -> Result<HpaView, CoreError> {
        let removed = self
            .store
            .delete(Kind::HorizontalPodAutoscaler, name, None, Source::Api)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                kind: "horizontalpodautoscaler",
                name: name.to_string(),
            })?;
        if let Some(c) = self.hpas.get() {
            c.forget(&removed.uid);
        }
        self.events.forget(Kind::HorizontalPodAutoscaler, name);
        Ok(hpa_view(&removed))
    }

    /// `get_horizontal_pod_autoscaler(name)`: spec, status (current metrics, last scale
    /// time) and conditions.
    pub fn get_horizontal_pod_autoscaler(&self, name: &str) -> Result<HpaDetails, CoreError> {
        let h = self
            .store
            .get(Kind::HorizontalPodAutoscaler, name)
            .ok_or_else(|| CoreError::NotFound {
                kind: "horizontalpodautoscaler",
                name: name.to_string(),
            })?;
        let status = h.body.get("status").cloned().unwrap_or(json!({}));
        Ok(HpaDetails {
            hpa: hpa_view(&h),
            spec: h.body.get("spec").cloned().unwrap_or(json!({})),
            conditions: status.get("conditions").cloned().unwrap_or(json!([])),
            status,
            events: self.events.of(Kind::HorizontalPodAutoscaler, name),
        })
    }

    /// `list_horizontal_pod_autoscalers(labels)`.
    pub fn list_horizontal_pod_autoscalers(
        &self,
        selector: &BTreeMap<String, String>,
    ) -> Vec<HpaView> {
        self.store.scan(Kind::HorizontalPodAutoscaler, |o| {
            model::labels::matches(&o.labels(), selector).then(|| hpa_view(o))
        })
    }
}

/// The hpa shape of SPEC §4.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HpaView {
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// The target ReplicaSet's name.
    pub target: String,
    /// minReplicas.
    pub min_replicas: i64,
    /// maxReplicas.
    pub max_replicas: i64,
    /// The target's current replicas, as last observed.
    pub current_replicas: Option<i64>,
    /// What the autoscaler last decided.
    pub desired_replicas: Option<i64>,
    /// The user's labels.
    pub labels: BTreeMap<String, String>,
    /// Creation time.
    pub creation_timestamp: String,
}

/// The hpaExtra shape of SPEC §4.
#[derive(Debug, Clone, Serialize)]
pub struct HpaDetails {
    /// The hpa shape.
    #[serde(flatten)]
    pub hpa: HpaView,
    /// Its spec (v2 form).
    pub spec: Value,
    /// Its status: currentMetrics, lastScaleTime, …
    pub status: Value,
    /// Its conditions (AbleToScale, ScalingActive, ScalingLimited).
    pub conditions: Value,
    /// Recent events.
    pub events: Vec<Event>,
}

/// The hpa shape of a stored HPA.
pub fn hpa_view(obj: &Object) -> HpaView {
    let b = &obj.body;
    let n = |p: &str| b.pointer(p).and_then(Value::as_i64);
    HpaView {
        name: obj.name.clone(),
        uid: obj.uid.clone(),
        target: b
            .pointer("/spec/scaleTargetRef/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        min_replicas: n("/spec/minReplicas").unwrap_or(1),
        max_replicas: n("/spec/maxReplicas").unwrap_or(0),
        current_replicas: n("/status/currentReplicas"),
        desired_replicas: n("/status/desiredReplicas"),
        labels: obj.labels(),
        creation_timestamp: b
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

/// Names a new object (`generateName` → prefix + 5 random characters) and gives it a
/// uid and its first generation; server-owned fields the client sent are dropped.
fn name_new_object(
    meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Result<String, CoreError> {
    let name = match (&meta.name, &meta.generate_name) {
        (Some(n), _) => n.clone(),
        (None, Some(prefix)) => model::pod::generated_name(prefix, &crate::util::random_suffix(5)),
        // Admission requires one of the two; keep a clear error all the same.
        (None, None) => {
            return Err(CoreError::Invalid(Invalid {
                causes: vec![model::FieldError::required_detail(
                    "metadata.name",
                    "name or generateName is required",
                )],
            }));
        }
    };
    meta.name = Some(name.clone());
    meta.namespace = Some("default".into());
    meta.uid = Some(crate::util::new_uid());
    meta.generation = Some(1);
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.deletion_timestamp = None;
    Ok(name)
}

/// The stored form of a new object: its type, a creation time, an initial status.
fn new_body(
    obj: &impl Serialize,
    api_version: &str,
    kind: &str,
    status: Value,
) -> Result<Value, CoreError> {
    let mut body =
        serde_json::to_value(obj).map_err(|e| CoreError::Store(StoreError::Corrupt(e)))?;
    body["apiVersion"] = json!(api_version);
    body["kind"] = json!(kind);
    body["metadata"]["creationTimestamp"] = json!(crate::util::now_rfc3339());
    body["status"] = status;
    Ok(body)
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

/// The pod shape of a stored pod.
pub fn pod_view(obj: &Object) -> PodView {
    let b = &obj.body;
    let s = |p: &str| b.pointer(p).and_then(Value::as_str).map(str::to_string);
    let cs = b.pointer("/status/containerStatuses/0");
    let reason = cs.and_then(|cs| {
        cs.pointer("/state/waiting/reason")
            .or_else(|| cs.pointer("/state/terminated/reason"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    PodView {
        name: obj.name.clone(),
        uid: obj.uid.clone(),
        id: cs
            .and_then(|cs| cs.get("containerID"))
            .and_then(Value::as_str)
            .map(|s| s.trim_start_matches("docker://").to_string())
            .filter(|s| !s.is_empty()),
        image: s("/spec/containers/0/image").unwrap_or_default(),
        status: s("/status/phase").unwrap_or_else(|| "Pending".into()),
        reason,
        labels: obj.labels(),
        addr: s("/status/podIP"),
        restart_count: cs
            .and_then(|cs| cs.get("restartCount"))
            .and_then(Value::as_i64)
            .unwrap_or(0),
        creation_timestamp: s("/metadata/creationTimestamp").unwrap_or_default(),
        owner_references: b
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    }
}

fn host_ports(pod: &Pod) -> Vec<(i32, String, String)> {
    pod.spec
        .as_ref()
        .map(model::pod::host_port_bindings)
        .unwrap_or_default()
        .into_iter()
        .map(|b| {
            let ip = if b.host_ip == "0.0.0.0" {
                String::new()
            } else {
                b.host_ip
            };
            (b.host_port, b.protocol, ip)
        })
        .collect()
}

/// Kubernetes' QoS class from the first container's resources.
fn qos_class(pod: &Pod) -> &'static str {
    let Some(c) = pod.spec.as_ref().and_then(|s| s.containers.first()) else {
        return "BestEffort";
    };
    let r = c.resources.as_ref();
    let limits = r.and_then(|r| r.limits.as_ref());
    let requests = r.and_then(|r| r.requests.as_ref());
    let has = |m: Option<&BTreeMap<_, _>>| m.is_some_and(|m: &BTreeMap<String, _>| !m.is_empty());
    if !has(limits) && !has(requests) {
        return "BestEffort";
    }
    let guaranteed = ["cpu", "memory"].iter().all(|k| {
        let l = limits.and_then(|m| m.get(*k));
        let q = requests.and_then(|m| m.get(*k));
        l.is_some() && (q.is_none() || q == l)
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// This machine's CPUs and memory, for when the engine cannot tell.
fn local_host_limits() -> HostLimits {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as i64;
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<i64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(i64::MAX);
    HostLimits {
        cpu_millis: cpus * 1000,
        memory_bytes: mem,
    }
}
