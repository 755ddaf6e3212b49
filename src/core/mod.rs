//! The core: the handout's operations over the store, the node agent, the
//! controllers and the runtime — `init` here, pods in `pods.rs`, ReplicaSets in
//! `replicasets.rs`, HPAs in `hpas.rs`. The API layer calls these and only maps their
//! results and errors to HTTP.

mod configmaps;
mod hpas;
mod objects;
mod pods;
mod replicasets;

pub use configmaps::{
    CmDetails, CmView, ConfigMapOps, SecretDetails, SecretOps, SecretView, cm_view, secret_view,
};
pub use hpas::{HpaDetails, HpaOps, HpaView, hpa_view};
pub use objects::{Propagation, modified_message};
pub use pods::{PodDetails, PodOps, PodView, StatsView, pod_view};
pub use replicasets::{ReplicaSetOps, RsDetails, RsPod, RsView, rs_view};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;

use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use serde_json::Value;

use crate::controller::hpa::{HpaController, Scaler};
use crate::controller::replicaset::{self as rsc, ReplicaSetController};
use crate::events::{Event, Events};
use crate::model::status::PodExt;
use crate::model::{self, AdmissionOptions, BadBody, HostLimits, Invalid};
use crate::node::{NodeAgent, Outcome};
use crate::reconcile::Clock;
use crate::runtime::logs::{KEEP_LINES, Logs};
use crate::runtime::metrics::Metrics;
use crate::runtime::{ContainerRuntime, RuntimeError};
use crate::store::{KeySource, Kind, MetaExt, Op, Source, Store, StoreError};

/// Server settings the core needs (docs/decisions.md, "Configuration").
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
    /// Where the key that encrypts Secrets in the database comes from.
    pub encryption_key: KeySource,
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
            encryption_key: KeySource::BesideDatabase,
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
    /// The operation does not apply to this kind (405).
    #[error("{0}")]
    NotAllowed(String),
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
                    "ConfigMap" => "configmap",
                    "Secret" => "secret",
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

/// A `/k1s` result shape, serialized as JSON (the REST front door sends it as is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json(pub Vec<u8>);

impl Json {
    /// Serializes a result shape.
    pub fn of(v: &impl Serialize) -> Result<Json, CoreError> {
        serde_json::to_vec(v)
            .map(Json)
            .map_err(|e| CoreError::Store(StoreError::Corrupt(e)))
    }

    /// A create's answer with its shape serialized.
    pub fn of_created(c: Created<impl Serialize>) -> Result<Created<Json>, CoreError> {
        Ok(Created {
            object: Json::of(&c.object)?,
            warnings: c.warnings,
        })
    }
}

/// Options of a `GET /k1s/<kind>/NAME`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// How many log lines a pod's details carry (default 1000).
    pub tail_lines: Option<u32>,
}

/// What the REST front door can do with one kind: the handout's five routes. Each
/// kind's implementation admits bodies with its rules and answers with its shapes;
/// the registry (`crate::registry`) points at it.
pub trait KindOps: Send + Sync {
    /// `POST /k1s/<kind>`: admit and store; the details shape, and warnings.
    fn create<'a>(
        &'a self,
        k1s: &'a K1s,
        body: Value,
    ) -> BoxFuture<'a, Result<Created<Json>, CoreError>>;
    /// `GET /k1s/<kind>?labels=…`: the list shape.
    fn list(&self, k1s: &K1s, selector: &BTreeMap<String, String>) -> Result<Json, CoreError>;
    /// `GET /k1s/<kind>/NAME`: the details shape.
    fn get<'a>(
        &'a self,
        k1s: &'a K1s,
        name: &'a str,
        opts: GetOptions,
    ) -> BoxFuture<'a, Result<Json, CoreError>>;
    /// `DELETE /k1s/<kind>/NAME`: answers at once with the shape of what was deleted.
    fn delete<'a>(&'a self, k1s: &'a K1s, name: &'a str) -> BoxFuture<'a, Result<Json, CoreError>>;
    /// `PATCH /k1s/<kind>/NAME` (JSON merge patch), where the kind allows it.
    fn patch<'a>(
        &'a self,
        k1s: &'a K1s,
        name: &'a str,
        patch: Value,
    ) -> BoxFuture<'a, Result<Json, CoreError>> {
        let _ = (k1s, patch);
        Box::pin(async move {
            Err(CoreError::NotAllowed(format!(
                "{name}: this kind cannot be patched through /k1s"
            )))
        })
    }
}

/// Result of a create: the object plus admission warnings.
#[derive(Debug, Clone)]
pub struct Created<T> {
    /// What was created.
    pub object: T,
    /// Warnings for the client (`Warning:` headers).
    pub warnings: Vec<String>,
}

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
    clock: Clock,
    // Serializes the host-port check with the store write that claims the ports.
    host_port_admission: tokio::sync::Mutex<()>,
}

impl K1s {
    /// `init()`: opens (creating) the store, starts the node agent, which finds the
    /// containers of this instance again and resumes their pods. Returns once the
    /// server can answer truthfully.
    pub async fn init(
        config: Config,
        runtime: Arc<dyn ContainerRuntime>,
    ) -> Result<Arc<K1s>, InitError> {
        let store = Store::open_with_key(&config.db, &config.encryption_key)?;
        let clock = Clock::system();
        let metrics = Metrics::new(runtime.clone());
        let events = Events::default();
        let logs = Logs::new(runtime.clone());
        let agent = NodeAgent::start(
            store.clone(),
            runtime.clone(),
            metrics.clone(),
            logs.clone(),
            events.clone(),
            clock,
        );
        // Every stored ReplicaSet is reconciled again at start (its resync fires at once).
        let replica_sets = ReplicaSetController::start(store.clone(), events.clone(), clock);
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
            clock,
            host_port_admission: tokio::sync::Mutex::new(()),
        });
        let scaler = Arc::new(hpas::CoreScaler(Arc::downgrade(&k1s)));
        let hpas = HpaController::new(
            k1s.store.clone(),
            Arc::new(k1s.metrics.clone()),
            k1s.events.clone(),
            scaler,
            k1s.config.hpa_sync_period,
            clock,
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

    /// The event log (the Kubernetes API's event lists).
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The metrics cache (the Kubernetes API's `metrics.k8s.io`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The container runtime (the Kubernetes API's pod logs).
    pub fn runtime(&self) -> &Arc<dyn ContainerRuntime> {
        &self.runtime
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This server's instance id.
    pub fn instance_id(&self) -> &str {
        self.store.instance_id()
    }

    /// Stops every control loop (the node agent and the controllers); pods keep
    /// running. The server calls this on its way out.
    pub fn shutdown(&self) {
        self.agent.shutdown();
        self.replica_sets.shutdown();
        if let Some(h) = self.hpas.get() {
            h.shutdown();
        }
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
}

impl K1s {
    /// Names a new object (`generateName` → prefix + 5 random characters) and gives it
    /// a uid, a creation time and its first generation; server-owned fields the client
    /// sent are dropped.
    fn name_new_object(
        &self,
        meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Result<String, CoreError> {
        let name = match (&meta.name, &meta.generate_name) {
            (Some(n), _) => n.clone(),
            (None, Some(prefix)) => {
                model::meta::generated_name(prefix, &crate::util::random_suffix(5))
            }
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
        meta.creation_timestamp = Some(self.clock.time());
        meta.deletion_timestamp = None;
        Ok(name)
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
