//! The container runtime: what the node agent needs from a container engine, as a trait
//! ([`ContainerRuntime`]), with the Docker engine as the real implementation
//! ([`docker::Docker`]) and an in-memory one for unit tests ([`fake::FakeRuntime`]).
//!
//! Only this module knows bollard.

pub mod docker;
pub mod fake;
pub mod logs;
pub mod metrics;

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

/// Label every K1s container carries (value `pod`).
pub const LABEL_MARKER: &str = "k1s";
/// Label with the id of the K1s instance that owns the container.
pub const LABEL_INSTANCE: &str = "k1s.io/instance";
/// Label with the pod's name.
pub const LABEL_POD: &str = "k1s.io/pod";
/// Label with the pod's uid: a container of an older pod of the same name is not adopted.
pub const LABEL_UID: &str = "k1s.io/uid";

/// Failures of the engine, classified for the callers that must react differently.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine could not be reached at all.
    #[error("Docker engine unreachable: {0}")]
    Unavailable(String),
    /// The object (container, image) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A name is taken, or an operation is already in progress.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The engine refused the request as invalid (bad reference, bad config).
    #[error("{0}")]
    Refused(String),
    /// Anything else the engine answered.
    #[error("Docker engine error: {0}")]
    Other(String),
}

/// Short for results of runtime calls.
pub type Result<T> = std::result::Result<T, RuntimeError>;

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Port inside the container.
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Host port to publish on, if any.
    pub host_port: Option<u16>,
    /// Host address to bind (`None`: all addresses, as Docker and Kubernetes do).
    pub host_ip: Option<String>,
}

/// A host directory or file bound into the container (a pod's volume).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountSpec {
    /// The host path (K1s's own directory for the pod's volume).
    pub source: String,
    /// The path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// Everything needed to create one container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerSpec {
    /// Container name (= pod name).
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Labels (pod labels plus K1s's own).
    pub labels: BTreeMap<String, String>,
    /// Kubernetes `command`: replaces the image's entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Kubernetes `args`: replaces the image's cmd.
    pub cmd: Option<Vec<String>>,
    /// `NAME=value` pairs.
    pub env: Vec<String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// Ports to expose / publish.
    pub ports: Vec<PortSpec>,
    /// CPU limit in nano-CPUs.
    pub nano_cpus: Option<i64>,
    /// CPU request as relative shares.
    pub cpu_shares: Option<i64>,
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Memory request in bytes (soft limit).
    pub memory_reservation: Option<i64>,
    /// User (`uid[:gid]`).
    pub user: Option<String>,
    /// Allocate a TTY.
    pub tty: bool,
    /// Keep stdin open.
    pub stdin: bool,
    /// Mount the root filesystem read-only.
    pub read_only_rootfs: bool,
    /// Capabilities to drop.
    pub cap_drop: Vec<String>,
    /// Capabilities to add (only with host power allowed).
    pub cap_add: Vec<String>,
    /// Privileged (only with host power allowed).
    pub privileged: bool,
    /// Hostname inside the container.
    pub hostname: Option<String>,
    /// Bind mounts (the pod's volumes).
    pub mounts: Vec<MountSpec>,
}

/// A container's state as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub status: String,
    /// Exit code of the last run.
    pub exit_code: i64,
    /// The kernel killed it for memory.
    pub oom_killed: bool,
    /// Start of the current or last run (RFC 3339, Docker's precision), if it ever ran.
    pub started_at: Option<String>,
    /// End of the last run, if it ended.
    pub finished_at: Option<String>,
    /// The engine's error, e.g. when starting failed.
    pub error: Option<String>,
}

impl ContainerState {
    /// Running (or paused/restarting, which still hold their process).
    pub fn is_running(&self) -> bool {
        matches!(self.status.as_str(), "running" | "paused" | "restarting")
    }
    /// Ended: it ran and stopped, or died.
    pub fn is_exited(&self) -> bool {
        matches!(self.status.as_str(), "exited" | "dead")
    }
}

/// What the node agent knows of one container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerInfo {
    /// Full id.
    pub id: String,
    /// Name without the leading slash.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its state.
    pub state: ContainerState,
    /// IP address on the default bridge.
    pub ip: Option<String>,
    /// Image id (`sha256:…`).
    pub image_id: Option<String>,
    /// Creation time (RFC 3339).
    pub created: Option<String>,
}

/// The host, as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostInfo {
    /// CPUs.
    pub ncpu: i64,
    /// Memory in bytes.
    pub mem_total: i64,
}

/// A container event from the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// Container id.
    pub id: String,
    /// `create`, `start`, `die`, `destroy`, `oom`, …
    pub action: String,
    /// Its labels (the engine sends them with each event).
    pub labels: BTreeMap<String, String>,
    /// Engine time of the event in nanoseconds since the epoch.
    pub time_nano: i64,
}

/// One resource-usage sample of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSample {
    /// Cumulative CPU time used, nanoseconds.
    pub cpu_total_ns: u64,
    /// Cumulative host CPU time, nanoseconds (as Docker reports `system_cpu_usage`).
    pub system_ns: u64,
    /// CPUs online.
    pub online_cpus: u32,
    /// Working-set memory in bytes (usage less inactive file cache, as `docker stats`).
    pub memory_bytes: u64,
}

/// What the Kubernetes API's pod log asks of the engine ([`ContainerRuntime::read_logs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogQuery {
    /// Only output since this UNIX time (0: every run the engine kept).
    pub since_unix: i64,
    /// Only output before this UNIX time (`None`: no bound).
    pub until_unix: Option<i64>,
    /// Only the last lines (`None`: all).
    pub tail: Option<u32>,
    /// Each line prefixed with its RFC 3339 time and a space.
    pub timestamps: bool,
    /// Then new output as it comes, until the container stops.
    pub follow: bool,
}

/// The operations K1s needs from a container engine. Implementations treat "no such
/// container" and "removal already in progress" on stop/remove as success.
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Is the engine there?
    fn ping(&self) -> BoxFuture<'_, Result<()>>;
    /// CPUs and memory of the host.
    fn info(&self) -> BoxFuture<'_, Result<HostInfo>>;
    /// The image's id if it is present locally.
    fn image_id<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<Option<String>>>;
    /// Pulls an image.
    fn pull<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Creates a container (not started) and returns its id.
    fn create<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, Result<String>>;
    /// Starts a created or exited container.
    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;
    /// SIGTERM, then SIGKILL after `grace_secs`.
    fn stop<'a>(&'a self, id: &'a str, grace_secs: i64) -> BoxFuture<'a, Result<()>>;
    /// Force-removes a container.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Inspects a container by id or name; `None` when it does not exist.
    fn inspect<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ContainerInfo>>>;
    /// All containers (running or not) carrying every given label (`None` value: any
    /// value). Only id, name, labels and `state.status` are filled: inspect for more.
    fn list<'a>(
        &'a self,
        labels: &'a [(&'a str, Option<&'a str>)],
    ) -> BoxFuture<'a, Result<Vec<ContainerInfo>>>;
    /// The last `tail` lines of output since `since_unix` (0: all runs).
    fn logs<'a>(&'a self, id: &'a str, tail: u32, since_unix: i64)
    -> BoxFuture<'a, Result<String>>;
    /// The last `tail` lines since `since_unix`, then new output as it comes, until the
    /// container stops.
    fn follow_logs<'a>(
        &'a self,
        id: &'a str,
        since_unix: i64,
        tail: u32,
    ) -> BoxStream<'a, Result<String>>;
    /// Output as `q` asks, in chunks. The default serves it with [`Self::logs`] and
    /// [`Self::follow_logs`], without timestamps or an end time; engines that can do
    /// better override it.
    fn read_logs<'a>(&'a self, id: &'a str, q: LogQuery) -> BoxStream<'a, Result<String>> {
        use futures_util::StreamExt;
        let tail = q.tail.unwrap_or(u32::MAX);
        if q.follow {
            self.follow_logs(id, q.since_unix, tail)
        } else {
            futures_util::stream::once(self.logs(id, tail, q.since_unix)).boxed()
        }
    }
    /// Container events for containers carrying `label=value`, from now on. The stream
    /// ends (or yields an error) when the connection drops; callers reconnect.
    fn events<'a>(
        &'a self,
        label: &'a str,
        value: &'a str,
    ) -> BoxStream<'a, Result<ContainerEvent>>;
    /// A stream of usage samples (about one a second) until the container stops.
    fn stats<'a>(&'a self, id: &'a str) -> BoxStream<'a, Result<StatsSample>>;
}
