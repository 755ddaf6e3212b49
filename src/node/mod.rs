//! The node agent — K1s's kubelet. It turns pod objects into containers and container
//! state back into pod status: creates, starts, restarts (per `restartPolicy`, with
//! Kubernetes' crash backoff), recreates containers removed behind K1s's back, stops
//! and removes the containers of deleted pods, and feeds the metrics cache.
//!
//! It runs on the controller runtime (`crate::reconcile`), keyed by pod name (a pod is
//! never reconciled by two workers at once), fed by Docker's event stream and by store
//! changes, with a periodic relist as the safety net. It only touches containers that
//! carry this instance's id.

pub mod config;
pub mod lifecycle;
pub mod spec;
pub mod status;
pub mod volumes;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, ContainerState as K8sState, Pod, PodStatus, Secret};
use tokio::sync::{Semaphore, oneshot};
use tokio::time::Instant;

use crate::events::Events;
use crate::model::status::PodExt;
use crate::reconcile::{Action, Clock, Controller, Enqueuer, Reconciler};
use crate::runtime::logs::Logs;
use crate::runtime::metrics::Metrics;
use crate::runtime::{
    ContainerInfo, ContainerRuntime, LABEL_INSTANCE, LABEL_POD, LABEL_UID, RuntimeError,
};
use crate::store::{Kind, MetaExt, Source, Store, StoreError};
use lifecycle::{Backoff, RestartPolicy, Step};

/// How many containers are created/started at once (stops are not bounded: a pod's
/// grace period never holds a slot).
const START_SLOTS: usize = 8;
/// Reconcile workers.
const WORKERS: usize = 16;
/// The relist that catches whatever the event stream missed.
const RESYNC: Duration = Duration::from_secs(10);

/// What became of a pod a client just created (the POST waits for this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The container exists (and was started, or failed to start and is retried).
    Created(String),
    /// No container yet: the image is being pulled, or cannot be had (status says).
    Pending,
    /// The engine refused the container; the pod was rolled back.
    Refused {
        /// The name is taken (409) rather than the spec refused (422).
        conflict: bool,
        /// The engine's words.
        message: String,
    },
}

#[derive(Default)]
struct Memo {
    uid: String,
    backoff: Backoff,
    // (finished_at of the run we saw exit, when its restart is due)
    exit_seen: Option<(String, Instant)>,
    // image pulls and failed starts back off too
    retry: Backoff,
    retry_due: Option<Instant>,
}

/// The kubelet's reconciler: one pod name → one step toward its container.
pub struct Kubelet {
    store: Store,
    runtime: Arc<dyn ContainerRuntime>,
    metrics: Metrics,
    logs: Logs,
    events: Events,
    clock: Clock,
    queue: Enqueuer,
    memos: Arc<Mutex<HashMap<String, Memo>>>,
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<Outcome>>>>,
    // Pods whose deletion task runs (outside the queue: a grace period holds no worker).
    deleting: Arc<Mutex<HashSet<String>>>,
    // Pods whose container create is in flight: held from the last look at the pod
    // before the create until the new container is kept or removed (`settle_creates`).
    creating: Gates,
    start_slots: Arc<Semaphore>,
    engine_up: AtomicBool,
    // Where the pods' volumes live on the host.
    dirs: volumes::Dirs,
}

/// The store as the source of a pod's ConfigMaps and Secrets.
impl config::Sources for Store {
    fn config_map(&self, name: &str) -> Option<ConfigMap> {
        self.get::<ConfigMap>(name)
    }
    fn secret(&self, name: &str) -> Option<Secret> {
        self.get::<Secret>(name)
    }
}

/// Handle to the running agent; cheap to clone.
#[derive(Clone)]
pub struct NodeAgent {
    ctl: Controller<Kubelet>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Reconciler for Kubelet {
    type Error = RuntimeError;
    const NAME: &'static str = "node-agent";

    async fn reconcile(&self, name: &str) -> Result<Action, RuntimeError> {
        Ok(match self.reconcile_pod(name).await? {
            Some(after) => Action::RequeueAfter(after),
            None => Action::Done,
        })
    }
}

impl NodeAgent {
    /// Starts the agent: workers, the event stream, the store watch and the relist.
    pub fn start(
        store: Store,
        runtime: Arc<dyn ContainerRuntime>,
        metrics: Metrics,
        logs: Logs,
        events: Events,
        clock: Clock,
    ) -> NodeAgent {
        let watch = store.watch();
        let dirs = volumes::Dirs::new(store.path(), store.instance_id());
        let ctl = Controller::new_with(|queue| Kubelet {
            store,
            runtime,
            metrics,
            logs,
            events,
            clock,
            queue,
            memos: Arc::default(),
            waiters: Mutex::default(),
            deleting: Arc::default(),
            creating: Arc::default(),
            start_slots: Arc::new(Semaphore::new(START_SLOTS)),
            engine_up: AtomicBool::new(false),
            dirs,
        });
        ctl.run_workers(WORKERS);
        let c = ctl.clone();
        ctl.spawn_source(async move { c.reconciler().event_loop().await });
        ctl.watch_store(
            watch,
            |k, ch| match &ch.object {
                // The agent's own status writes need no reaction.
                b if b.kind() == Kind::Pod && ch.source != Source::Node => {
                    vec![b.name().to_string()]
                }
                // A ConfigMap or Secret: the pods that use it (waiting for it, or
                // with its files mounted).
                b if matches!(b.kind(), Kind::ConfigMap | Kind::Secret) => {
                    let secret = b.kind() == Kind::Secret;
                    k.store.scan(|p: &Pod| {
                        let (cms, secrets) = config::references(p);
                        let uses = if secret { secrets } else { cms };
                        uses.contains(b.name()).then(|| p.name().to_string())
                    })
                }
                _ => Vec::new(),
            },
            |k| k.store.names(Kind::Pod),
        );
        let c = ctl.clone();
        ctl.spawn_source(async move {
            let mut tick = tokio::time::interval(RESYNC);
            loop {
                tick.tick().await;
                c.reconciler().resync().await;
            }
        });
        NodeAgent { ctl }
    }

    /// Asks for a pod to be reconciled.
    pub fn enqueue(&self, name: &str) {
        self.ctl.enqueue(name);
    }

    /// Registers interest in what becomes of a pod about to be created.
    pub fn expect(&self, name: &str) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        lock(&self.ctl.reconciler().waiters)
            .entry(name.to_string())
            .or_default()
            .push(tx);
        rx
    }

    /// Drops the interest registered by [`NodeAgent::expect`] once its POST answered.
    pub fn forget_expectation(&self, name: &str) {
        let mut waiters = lock(&self.ctl.reconciler().waiters);
        if let Some(list) = waiters.get_mut(name) {
            list.retain(|s| !s.is_closed());
            if list.is_empty() {
                waiters.remove(name);
            }
        }
    }

    /// Waits until no container create that may have missed these pods' deletion
    /// marks is in flight. Called after the marks are committed: a create that starts
    /// later sees the mark and does not happen; one in flight finds the mark when the
    /// engine answers and removes its container before this returns. So once a DELETE
    /// answered, its pods never get a new container.
    pub async fn settle_creates(&self, names: &[String]) {
        let creating = &self.ctl.reconciler().creating;
        for name in names {
            let gate = lock(creating).get(name).cloned();
            if let Some(gate) = gate {
                drop(gate.lock().await);
            }
        }
    }

    /// Whether the event stream is connected (the engine answered lately).
    pub fn engine_up(&self) -> bool {
        self.ctl.reconciler().engine_up.load(Ordering::Relaxed)
    }

    /// Enqueues every pod, and every container of ours whose pod is gone.
    pub async fn resync(&self) {
        self.ctl.reconciler().resync().await;
    }

    /// Stops the workers and the sources (pods keep running).
    pub fn shutdown(&self) {
        self.ctl.shutdown();
    }
}

impl Kubelet {
    /// The pod may have a container started: the store still has this very pod (same
    /// uid) and it is not being deleted. `pod` was read when the reconcile began,
    /// possibly long before (image checks, pulls, start slots, engine calls).
    fn may_run(&self, pod: &Pod) -> bool {
        self.store
            .get::<Pod>(pod.name())
            .is_some_and(|p| p.uid() == pod.uid() && !p.is_deleting())
    }

    /// A POST still waits on this pod (its answer is not given yet): only then may a
    /// refused create be rolled back. Senders whose POST gave up are dropped here.
    fn someone_waits(&self, name: &str) -> bool {
        let mut waiters = lock(&self.waiters);
        let Some(list) = waiters.get_mut(name) else {
            return false;
        };
        list.retain(|s| !s.is_closed());
        let waiting = !list.is_empty();
        if !waiting {
            waiters.remove(name);
        }
        waiting
    }

    /// A running container: sample its stats and follow its output.
    fn watch_container(&self, c: &ContainerInfo) {
        self.metrics.watch(&c.id);
        self.logs
            .follow(&c.id, run_start_unix(c.state.started_at.as_deref()));
    }

    /// A container that is gone: drop its figures and lines.
    fn forget_container(&self, id: &str) {
        self.metrics.forget(id);
        self.logs.forget(id);
    }

    /// Forgets the container the pod's status names (it was removed).
    fn forget_recorded_container(&self, pod: &Pod) {
        if let Some(id) = pod.container_id() {
            self.forget_container(id);
        }
    }

    fn notify(&self, name: &str, outcome: Outcome) {
        let senders = lock(&self.waiters).remove(name).unwrap_or_default();
        for s in senders {
            let _ = s.send(outcome.clone());
        }
    }

    async fn event_loop(&self) {
        let instance = self.store.instance_id().to_string();
        let mut delay = Duration::from_millis(100);
        loop {
            if self.runtime.ping().await.is_err() {
                if self.engine_up.swap(false, Ordering::Relaxed) {
                    tracing::warn!("Docker engine unreachable; reconnecting");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
            if !self.engine_up.swap(true, Ordering::Relaxed) {
                tracing::info!("connected to the Docker engine");
            }
            delay = Duration::from_millis(100);
            let mut events = self.runtime.events(LABEL_INSTANCE, &instance);
            // Relist once the stream is asked for, so that nothing between the two is missed
            // for long (the periodic resync covers the rest).
            let first = events.next();
            let resync = self.resync();
            let (first, ()) = tokio::join!(first, resync);
            let mut item = first;
            while let Some(ev) = item {
                match ev {
                    Ok(ev) => {
                        if let Some(pod) = ev.labels.get(LABEL_POD) {
                            self.queue.enqueue(pod.clone());
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Docker event stream broke; reconnecting");
                        break;
                    }
                }
                item = events.next().await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Enqueues every pod, and every container of ours whose pod is gone.
    async fn resync(&self) {
        // Volume directories of pods that are gone (a deletion cut short, a crash).
        let live: HashSet<String> = self
            .store
            .scan(|p: &Pod| Some(p.uid().to_string()))
            .into_iter()
            .collect();
        self.dirs.sweep(&live);
        let mut names: HashSet<String> = self.store.names(Kind::Pod).into_iter().collect();
        let instance = self.store.instance_id().to_string();
        if let Ok(cs) = self
            .runtime
            .list(&[(LABEL_INSTANCE, Some(instance.as_str()))])
            .await
        {
            names.extend(
                cs.into_iter()
                    .filter_map(|c| c.labels.get(LABEL_POD).cloned()),
            );
        }
        for n in names {
            self.queue.enqueue(n);
        }
    }

    /// One level-triggered step for one pod. Returns when to look again, if a timer
    /// (backoff) rather than an event will make the next step possible.
    async fn reconcile_pod(&self, name: &str) -> Result<Option<Duration>, RuntimeError> {
        let instance = self.store.instance_id().to_string();
        let containers = self
            .runtime
            .list(&[
                (LABEL_INSTANCE, Some(instance.as_str())),
                (LABEL_POD, Some(name)),
            ])
            .await?;
        // Read the pod after the engine answered, so that a deletion marked meanwhile
        // is seen here rather than acted on with a stale copy.
        let Some(pod) = self.store.get::<Pod>(name) else {
            // A container of ours without a pod: a deletion cut short by a crash.
            for c in containers {
                self.forget_container(&c.id);
                self.runtime.remove(&c.id).await?;
            }
            lock(&self.memos).remove(name);
            return Ok(None);
        };
        if pod.is_deleting() {
            self.spawn_deletion(pod, containers);
            return Ok(None);
        }
        // Containers of an older pod of the same name are not ours to adopt.
        let (mut mine, stale): (Vec<_>, Vec<_>) = containers
            .into_iter()
            .partition(|c| c.labels.get(LABEL_UID).map(String::as_str) == Some(pod.uid()));
        for c in stale {
            self.forget_container(&c.id);
            self.runtime.remove(&c.id).await?;
        }
        // Never two containers for one pod: keep the running one, else any.
        mine.sort_by_key(|c| c.state.status != "running");
        for extra in mine.iter().skip(1) {
            self.forget_container(&extra.id);
            self.runtime.remove(&extra.id).await?;
        }
        let container = match mine.first() {
            Some(c) => self.runtime.inspect(&c.id).await?,
            None => None,
        };
        self.step(&pod, container).await
    }

    async fn step(
        &self,
        pod: &Pod,
        container: Option<ContainerInfo>,
    ) -> Result<Option<Duration>, RuntimeError> {
        let name = pod.name();
        let uid = pod.uid();
        let cs = pod.container_status();
        let had_container = pod.container_id().is_some();
        let last_exit = pod
            .container_state()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| i64::from(t.exit_code));
        let policy =
            RestartPolicy::parse(pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()));
        let now = self.clock.now();

        // How much of the crash backoff is left for this exit.
        let wait_left = match &container {
            Some(c) if c.state.is_exited() => {
                let mut memos = lock(&self.memos);
                let memo = memo_for(&mut memos, name, uid);
                let finished_at = c.state.finished_at.clone().unwrap_or_default();
                let due = match &memo.exit_seen {
                    Some((f, due)) if *f == finished_at => *due,
                    _ => {
                        if lifecycle::run_length(&c.state)
                            .is_some_and(|d| d >= lifecycle::BACKOFF_RESET_AFTER)
                        {
                            memo.backoff.reset();
                        }
                        let due = now + memo.backoff.delay();
                        memo.exit_seen = Some((finished_at, due));
                        due
                    }
                };
                due.saturating_duration_since(now)
            }
            _ => Duration::ZERO,
        };

        let step = lifecycle::decide(
            policy,
            pod.is_finished(),
            had_container,
            last_exit,
            container.as_ref().map(|c| &c.state),
            wait_left,
        );
        match step {
            Step::Steady => {
                if let Some(c) = &container {
                    if c.state.is_running() {
                        self.watch_container(c);
                        self.refresh_volumes(pod);
                    }
                    self.write_observed(pod, c, None, 0, None).await?;
                }
                Ok(None)
            }
            Step::Create { replacement } => {
                // The container it replaces is gone: so are its figures and lines.
                self.forget_recorded_container(pod);
                let last = replacement.then(|| {
                    cs.and_then(|cs| cs.state.clone())
                        .filter(|s| s.terminated.is_some())
                        .unwrap_or_else(lifecycle::unknown_state)
                });
                if replacement {
                    self.events.warning(
                        Kind::Pod,
                        name,
                        "ContainerRemoved",
                        "The container was removed outside K1s; recreating it",
                    );
                }
                self.create_and_start(pod, last, !had_container).await
            }
            Step::Start => {
                let Some(c) = container else { return Ok(None) };
                self.start_existing(pod, &c, None, 0).await
            }
            Step::Restart => {
                let Some(c) = container else { return Ok(None) };
                self.metrics.forget(&c.id);
                let last = lifecycle::terminated_state(&c.state, &c.id);
                {
                    let mut memos = lock(&self.memos);
                    let memo = memo_for(&mut memos, name, uid);
                    memo.backoff.restarted();
                    memo.exit_seen = None;
                }
                self.start_existing(pod, &c, Some(last), 1).await
            }
            Step::BackOff(wait) => {
                let Some(c) = container else { return Ok(None) };
                self.metrics.forget(&c.id);
                let cname = first_container_name(pod);
                let msg = format!(
                    "back-off {}s restarting failed container={cname} pod={name}",
                    wait.as_millis().div_ceil(1000).max(1)
                );
                self.events.warning(
                    Kind::Pod,
                    name,
                    "BackOff",
                    "Back-off restarting failed container",
                );
                let last = lifecycle::terminated_state(&c.state, &c.id);
                self.write_status(pod, move |st| {
                    status::set_phase(st, "Running");
                    status::set_container_status(
                        st,
                        Some(&c),
                        lifecycle::waiting_state("CrashLoopBackOff", Some(&msg)),
                        Some(last),
                        0,
                        false,
                    );
                })
                .await?;
                Ok(Some(wait))
            }
            Step::Finish { succeeded } => {
                if let Some(c) = &container {
                    self.metrics.forget(&c.id);
                    self.write_observed(pod, c, Some(succeeded), 0, None)
                        .await?;
                } else {
                    self.forget_recorded_container(pod);
                    self.write_status(pod, move |st| {
                        status::set_phase(st, if succeeded { "Succeeded" } else { "Failed" });
                    })
                    .await?;
                }
                Ok(None)
            }
            Step::Lost => {
                self.forget_recorded_container(pod);
                self.events.warning(
                    Kind::Pod,
                    name,
                    "ContainerRemoved",
                    "The container was removed outside K1s; restartPolicy Never keeps it down",
                );
                self.write_status(pod, move |st| {
                    status::set_phase(st, "Failed");
                    status::set_container_status(
                        st,
                        None,
                        lifecycle::unknown_state(),
                        None,
                        0,
                        false,
                    );
                    status::clear_ips(st);
                })
                .await?;
                Ok(None)
            }
        }
    }

    /// Makes the pod's first container (or its replacement) and starts it.
    async fn create_and_start(
        &self,
        pod: &Pod,
        last_state: Option<K8sState>,
        first: bool,
    ) -> Result<Option<Duration>, RuntimeError> {
        let name = pod.name();
        let now = self.clock.now();
        // A pull or create that failed waits for its backoff.
        let due = lock(&self.memos)
            .get(name)
            .filter(|m| m.uid == pod.uid())
            .and_then(|m| m.retry_due);
        if let Some(due) = due.filter(|d| *d > now) {
            let left = due - now;
            self.write_status(pod, move |st| {
                let waiting = st
                    .container_statuses
                    .as_mut()
                    .and_then(|v| v.first_mut())
                    .and_then(|cs| cs.state.as_mut())
                    .and_then(|s| s.waiting.as_mut());
                if let Some(w) = waiting
                    && w.reason.as_deref() == Some("ErrImagePull")
                {
                    w.reason = Some("ImagePullBackOff".into());
                }
            })
            .await?;
            return Ok(Some(left));
        }
        // The one node "schedules" every pod it is about to run (Kubernetes' first event).
        self.events.normal_once(
            Kind::Pod,
            name,
            "Scheduled",
            format!("Successfully assigned default/{name} to k1s"),
        );
        let _slot = self.start_slots.acquire().await;
        let Some(c) = spec::first_container(pod) else {
            return Ok(None);
        };
        let image = c.image.clone().unwrap_or_default();
        let pull_policy = c.image_pull_policy.as_deref().unwrap_or("IfNotPresent");
        let present = self.runtime.image_id(&image).await?;
        let must_pull = match pull_policy {
            "Always" => true,
            "Never" => false,
            _ => present.is_none(),
        };
        if pull_policy == "Never" && present.is_none() {
            let msg =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            return self
                .wait_to_retry(pod, "ErrImageNeverPull", "ErrImageNeverPull", msg)
                .await;
        }
        if must_pull {
            self.events.normal(
                Kind::Pod,
                name,
                "Pulling",
                format!("Pulling image \"{image}\""),
            );
            self.write_status(pod, move |st| {
                status::set_container_status(
                    st,
                    None,
                    lifecycle::waiting_state("ContainerCreating", Some("pulling image")),
                    None,
                    0,
                    false,
                );
            })
            .await?;
            if let Err(e) = self.runtime.pull(&image).await {
                if matches!(e, RuntimeError::Unavailable(_)) {
                    return Err(e);
                }
                let msg = format!("Failed to pull image \"{image}\": {e}");
                return self.wait_to_retry(pod, "Failed", "ErrImagePull", msg).await;
            }
            self.events.normal(
                Kind::Pod,
                name,
                "Pulled",
                format!("Successfully pulled image \"{image}\""),
            );
        }
        // What the pod takes from ConfigMaps and Secrets, and its volumes' files.
        let (config_env, mounts) = match self.prepare_config(pod) {
            Ok(c) => c,
            Err(msg) => return self.config_error(pod, msg).await,
        };
        let Some(cspec) =
            spec::container_spec_with(pod, self.store.instance_id(), None, &config_env, mounts)
        else {
            return Ok(None);
        };
        // A pod being deleted never gets a new container. Its deletion mark may have
        // been written since this reconcile read it, or be written while the engine
        // creates the container: look again before the create and once it is made,
        // under a gate that the deleting side waits on (`settle_creates`).
        let gate = CreateGate::enter(&self.creating, name);
        if !self.may_run(pod) {
            self.notify(name, Outcome::Pending);
            return Ok(None);
        }
        let id = match self.runtime.create(&cspec).await {
            Ok(id) => id,
            Err(RuntimeError::Unavailable(m)) => return Err(RuntimeError::Unavailable(m)),
            Err(e @ (RuntimeError::Conflict(_) | RuntimeError::Refused(_)))
                if first && self.someone_waits(name) =>
            {
                // The engine refused what admission let through (a name taken since, a
                // reference it rejects) while a client waits on its POST: roll back,
                // nothing half-created, and the client hears why. A controller's pod
                // is not rolled back (its owner would make another at once, in a
                // loop): it waits in CreateContainerError with backoff, as in
                // Kubernetes.
                let conflict = matches!(e, RuntimeError::Conflict(_));
                self.store
                    .delete::<Pod>(name, Some(pod.uid()), Source::Node)
                    .await
                    .map_err(store_error)?;
                self.dirs.remove_pod(pod.uid());
                self.events.forget(Kind::Pod, name);
                self.notify(
                    name,
                    Outcome::Refused {
                        conflict,
                        message: e.to_string(),
                    },
                );
                return Ok(None);
            }
            Err(e) => {
                return self
                    .wait_to_retry(pod, "Failed", "CreateContainerError", e.to_string())
                    .await;
            }
        };
        if !self.may_run(pod) {
            // Marked deleted while the engine was creating it: removed unstarted before
            // the gate opens. The deletion itself is the next reconcile's.
            self.runtime.remove(&id).await?;
            self.notify(name, Outcome::Pending);
            return Ok(None);
        }
        drop(gate);
        self.events
            .normal(Kind::Pod, name, "Created", "Created container");
        let info = ContainerInfo {
            id: id.clone(),
            state: crate::runtime::ContainerState {
                status: "created".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let inc = i32::from(last_state.is_some());
        self.start_existing(pod, &info, last_state, inc).await
    }

    /// Starts a container that exists (new, or exited for a restart in place) and
    /// records the result; `restarts` is added to the restart count.
    async fn start_existing(
        &self,
        pod: &Pod,
        c: &ContainerInfo,
        last_state: Option<K8sState>,
        restarts: i32,
    ) -> Result<Option<Duration>, RuntimeError> {
        let name = pod.name();
        // Nor is a container of a pod being deleted (re)started: the deletion, queued
        // behind this reconcile, stops and removes it.
        if !self.may_run(pod) {
            return Ok(None);
        }
        let started = self.runtime.start(&c.id).await;
        let info = self.runtime.inspect(&c.id).await?;
        match (started, info) {
            (Err(RuntimeError::Unavailable(m)), _) => Err(RuntimeError::Unavailable(m)),
            (Ok(()), Some(info)) => {
                let msg = if restarts == 0 && last_state.is_none() {
                    "Started container"
                } else {
                    "Restarted container"
                };
                self.events.normal(Kind::Pod, name, "Started", msg);
                if info.state.is_running() {
                    self.watch_container(&info);
                }
                if let Some(m) = lock(&self.memos).get_mut(name) {
                    m.retry = Backoff::default();
                    m.retry_due = None;
                }
                self.write_observed(pod, &info, None, restarts, last_state)
                    .await?;
                self.notify(name, Outcome::Created(info.id.clone()));
                Ok(None)
            }
            (Ok(()), None) => {
                // Removed right after starting: the next event brings us back.
                self.notify(name, Outcome::Pending);
                Ok(None)
            }
            (Err(e), _) => {
                let msg = e.to_string();
                self.events
                    .warning(Kind::Pod, name, "Failed", format!("Error: {msg}"));
                let id = c.id.clone();
                let c = c.clone();
                self.write_status(pod, move |st| {
                    let phase = if status::phase(st) == "Running" {
                        "Running"
                    } else {
                        "Pending"
                    };
                    status::set_phase(st, phase);
                    status::set_container_status(
                        st,
                        Some(&c),
                        lifecycle::waiting_state("RunContainerError", Some(&msg)),
                        last_state,
                        restarts,
                        false,
                    );
                })
                .await?;
                self.notify(name, Outcome::Created(id));
                Ok(Some(self.retry_later(name, pod.uid())))
            }
        }
    }

    /// The pod's environment from ConfigMaps and Secrets, and its volumes written to
    /// the host with their bind mounts; an error names what is missing.
    fn prepare_config(
        &self,
        pod: &Pod,
    ) -> Result<(config::ConfigEnv, Vec<crate::runtime::MountSpec>), String> {
        let env = config::resolve_env(pod, &self.store)?;
        let vols = config::resolve_volumes(pod, &self.store)?;
        let mounts = self.dirs.write(pod, &vols)?;
        Ok((env, mounts))
    }

    /// A running pod's ConfigMap and Secret files brought up to date (environment
    /// variables keep their start values, as in Kubernetes). A source gone missing
    /// leaves the files as they were.
    fn refresh_volumes(&self, pod: &Pod) {
        let projected = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .any(|v| v.config_map.is_some() || v.secret.is_some());
        if !projected {
            return;
        }
        let written = config::resolve_volumes(pod, &self.store)
            .and_then(|vols| self.dirs.write_volumes(pod, &vols));
        if let Err(msg) = written {
            self.events.warning(
                Kind::Pod,
                pod.name(),
                "FailedMount",
                format!("Unable to update volumes: {msg}"),
            );
        }
    }

    /// A ConfigMap, Secret or key the pod needs is missing: the pod waits in
    /// `CreateContainerConfigError` (no backoff: the object's creation wakes it at
    /// once through the change stream; a look every 10 s all the same).
    async fn config_error(
        &self,
        pod: &Pod,
        message: String,
    ) -> Result<Option<Duration>, RuntimeError> {
        self.events
            .warning(Kind::Pod, pod.name(), "Failed", format!("Error: {message}"));
        self.write_status(pod, move |st| {
            if status::phase(st) != "Running" {
                status::set_phase(st, "Pending");
            }
            let state = lifecycle::waiting_state("CreateContainerConfigError", Some(&message));
            status::set_container_status(st, None, state, None, 0, false);
        })
        .await?;
        self.notify(pod.name(), Outcome::Pending);
        Ok(Some(Duration::from_secs(10)))
    }

    /// No container could be made: say why (event, Waiting reason), let a waiting POST
    /// answer, and look again after the pod's retry backoff.
    async fn wait_to_retry(
        &self,
        pod: &Pod,
        event_reason: &str,
        waiting_reason: &'static str,
        message: String,
    ) -> Result<Option<Duration>, RuntimeError> {
        let name = pod.name();
        self.events
            .warning(Kind::Pod, name, event_reason, message.clone());
        self.write_status(pod, move |st| {
            if status::phase(st) != "Running" {
                status::set_phase(st, "Pending");
            }
            let state = lifecycle::waiting_state(waiting_reason, Some(&message));
            status::set_container_status(st, None, state, None, 0, false);
        })
        .await?;
        self.notify(name, Outcome::Pending);
        Ok(Some(self.retry_later(name, pod.uid())))
    }

    fn retry_later(&self, name: &str, uid: &str) -> Duration {
        let mut memos = lock(&self.memos);
        let memo = memo_for(&mut memos, name, uid);
        memo.retry.restarted();
        let d = memo.retry.delay();
        memo.retry_due = Some(self.clock.now() + d);
        d
    }

    /// Writes the status that the container's engine state implies.
    async fn write_observed(
        &self,
        pod: &Pod,
        c: &ContainerInfo,
        finished: Option<bool>,
        restarts: i32,
        last_state: Option<K8sState>,
    ) -> Result<(), RuntimeError> {
        let running = c.state.is_running();
        let state = if running {
            lifecycle::running_state(&c.state)
        } else if c.state.is_exited() {
            lifecycle::terminated_state(&c.state, &c.id)
        } else {
            lifecycle::waiting_state("ContainerCreating", None)
        };
        let c = c.clone();
        let now = self.clock.time();
        self.write_status(pod, move |st| {
            let phase = match (finished, status::phase(st)) {
                (Some(true), _) => "Succeeded",
                (Some(false), _) => "Failed",
                // A finished pod stays finished whatever is observed later.
                (None, "Succeeded") => "Succeeded",
                (None, "Failed") => "Failed",
                (None, "Running") => "Running",
                (None, _) if running => "Running",
                (None, _) => "Pending",
            };
            status::set_phase(st, phase);
            if running {
                if st.start_time.is_none() {
                    let started = c
                        .state
                        .started_at
                        .as_deref()
                        .and_then(crate::util::docker_k8s_time);
                    st.start_time = Some(started.unwrap_or(now));
                }
                status::set_ip(st, c.ip.as_deref());
            } else if finished.is_some() {
                status::clear_ips(st);
            }
            status::set_container_status(st, Some(&c), state, last_state, restarts, running);
        })
        .await
    }

    /// Read-modify-write of the pod's status; writes only when it changed (status is
    /// persisted coalesced: an unchanged observation costs no fsync).
    async fn write_status<F>(&self, pod: &Pod, f: F) -> Result<(), RuntimeError>
    where
        F: FnOnce(&mut PodStatus) + Send + 'static,
    {
        let uid = pod.uid().to_string();
        let r = self
            .store
            .update::<Pod>(pod.name(), Source::Node, move |p| {
                if p.uid() != uid {
                    return false;
                }
                let before = p.status.clone().unwrap_or_default();
                let mut st = before.clone();
                f(&mut st);
                status::finish(p, &mut st);
                if st == before {
                    return false;
                }
                p.status = Some(st);
                true
            })
            .await;
        match r {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Stops and removes the containers of a deleted pod in the background, then
    /// removes its record. Not bounded by the start slots: a grace period of 30 s
    /// must not hold up other pods.
    fn spawn_deletion(&self, pod: Pod, containers: Vec<ContainerInfo>) {
        if !lock(&self.deleting).insert(pod.name().to_string()) {
            return;
        }
        // Only this pod's containers: one of a newer pod of the same name is not ours
        // to stop (others are the next reconcile's, queued when this one ends).
        let containers: Vec<ContainerInfo> = containers
            .into_iter()
            .filter(|c| c.labels.get(LABEL_UID).map(String::as_str) == Some(pod.uid()))
            .collect();
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                pod.spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30);
        let store = self.store.clone();
        let runtime = self.runtime.clone();
        let metrics = self.metrics.clone();
        let logs = self.logs.clone();
        let events = self.events.clone();
        let queue = self.queue.clone();
        let memos = self.memos.clone();
        let deleting = self.deleting.clone();
        let dirs = self.dirs.clone();
        let recorded = pod.container_id().map(str::to_string);
        let (name, uid) = (pod.name().to_string(), pod.uid().to_string());
        tokio::spawn(async move {
            if !containers.is_empty() {
                events.normal(
                    Kind::Pod,
                    &name,
                    "Killing",
                    format!("Stopping container {name}"),
                );
            }
            for c in &containers {
                metrics.forget(&c.id);
                logs.forget(&c.id);
                let mut delay = Duration::from_millis(200);
                loop {
                    let r = match runtime.stop(&c.id, grace).await {
                        Ok(()) => runtime.remove(&c.id).await,
                        Err(e) => Err(e),
                    };
                    match r {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(pod = %name, error = %e, "removing container failed; retrying");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
            if let Some(id) = recorded {
                metrics.forget(&id);
                logs.forget(&id);
            }
            // Nothing K1s wrote for the pod stays on the host.
            dirs.remove_pod(&uid);
            let _ = store.delete::<Pod>(&name, Some(&uid), Source::Node).await;
            events.forget(Kind::Pod, &name);
            lock(&memos).remove(&name);
            lock(&deleting).remove(&name);
            // A new pod of the same name may have been waiting for this one to go; and a
            // container made meanwhile is found and removed by the next reconcile.
            queue.enqueue(name);
        });
    }
}

/// The per-pod gates of container creates in flight.
type Gates = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// A pod's container create in flight (see [`NodeAgent::settle_creates`]). Creates of
/// one pod never overlap (one reconcile per pod at a time), so the entry is this one's.
struct CreateGate {
    map: Gates,
    name: String,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl CreateGate {
    fn enter(map: &Gates, name: &str) -> Self {
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        // A new mutex is free: `try_lock_owned` cannot fail here.
        let held = match gate.clone().try_lock_owned() {
            Ok(h) => h,
            Err(_) => unreachable!("a new mutex is free"),
        };
        lock(map).insert(name.to_string(), gate);
        CreateGate {
            map: map.clone(),
            name: name.to_string(),
            _held: held,
        }
    }
}

impl Drop for CreateGate {
    fn drop(&mut self) {
        // Unlisted first, then released (fields drop after this): a waiter that found
        // the entry waits for the release.
        lock(&self.map).remove(&self.name);
    }
}

/// The start of a run in whole seconds since the epoch (the log cache's key for a run,
/// and Docker's `since`); 0 when unknown.
pub fn run_start_unix(started_at: Option<&str>) -> i64 {
    started_at
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second())
        .unwrap_or(0)
}

fn memo_for<'a>(memos: &'a mut HashMap<String, Memo>, name: &str, uid: &str) -> &'a mut Memo {
    let m = memos.entry(name.to_string()).or_default();
    if m.uid != uid {
        *m = Memo {
            uid: uid.to_string(),
            ..Default::default()
        };
    }
    m
}

fn first_container_name(pod: &Pod) -> String {
    spec::first_container(pod)
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

/// A store failure while acting on the engine's side: the reconcile is retried.
fn store_error(e: StoreError) -> RuntimeError {
    RuntimeError::Other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;

    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use std::time::Instant;

    fn pod(name: &str, policy: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time("2026-01-01T00:00:00Z".parse().unwrap())),
                ..Default::default()
            },
            spec: Some(PodSpec {
                restart_policy: Some(policy.into()),
                containers: vec![Container {
                    name: "c".into(),
                    image: Some("k1s-test/fake:1".into()),
                    image_pull_policy: Some("IfNotPresent".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                ..Default::default()
            }),
        }
    }

    async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A store in a temp dir, the fake engine, and an agent running on both.
    fn setup() -> (tempfile::TempDir, Store, FakeRuntime, NodeAgent) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        let fake = FakeRuntime::new();
        let rt: Arc<dyn ContainerRuntime> = Arc::new(fake.clone());
        let agent = NodeAgent::start(
            store.clone(),
            rt.clone(),
            Metrics::new(rt.clone()),
            Logs::new(rt),
            Events::default(),
            Clock::system(),
        );
        (dir, store, fake, agent)
    }

    /// Stores a pod as a client would and waits for its container's id.
    async fn create_running(store: &Store, agent: &NodeAgent, name: &str, policy: &str) -> String {
        let outcome = agent.expect(name);
        store.create(pod(name, policy), Source::Api).await.unwrap();
        match outcome.await.unwrap() {
            Outcome::Created(id) => id,
            other => panic!("no container for {name}: {other:?}"),
        }
    }

    fn get(store: &Store, name: &str) -> Pod {
        store.get::<Pod>(name).unwrap_or_default()
    }

    fn phase(store: &Store, name: &str) -> String {
        get(store, name).phase().to_string()
    }

    fn restarts(store: &Store, name: &str) -> i32 {
        get(store, name).restart_count()
    }

    fn reason(store: &Store, name: &str) -> String {
        get(store, name)
            .state_reason()
            .unwrap_or_default()
            .to_string()
    }

    /// A pod waiting in CreateContainerConfigError for a missing ConfigMap starts as
    /// soon as the ConfigMap is created: woken by the store's change, with no retry
    /// backoff (nor the 10 s look) to wait for.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pod_waiting_for_its_config_map_starts_at_once_when_it_is_created() {
        use k8s_openapi::api::core::v1::{ConfigMapKeySelector, EnvVar, EnvVarSource};
        let (_dir, store, fake, agent) = setup();
        let mut p = pod("late", "Always");
        p.spec.as_mut().unwrap().containers[0].env = Some(vec![EnvVar {
            name: "LATE".into(),
            value_from: Some(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: "late-cm".into(),
                    key: "k".into(),
                    optional: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        let outcome = agent.expect("late");
        store.create(p, Source::Api).await.unwrap();
        assert!(matches!(outcome.await.unwrap(), Outcome::Pending));
        until("CreateContainerConfigError", || {
            (reason(&store, "late") == "CreateContainerConfigError").then_some(())
        })
        .await;
        assert!(fake.containers().is_empty());
        // Several looks while it waits: none may arm a backoff.
        for _ in 0..3 {
            agent.enqueue("late");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(fake.containers().is_empty());

        let t0 = Instant::now();
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("late-cm".into()),
                ..Default::default()
            },
            data: Some([("k".to_string(), "v".to_string())].into()),
            ..Default::default()
        };
        store.create(cm, Source::Api).await.unwrap();
        until("the container running", || {
            fake.containers()
                .first()
                .filter(|c| c.state.is_running())
                .map(|_| ())
        })
        .await;
        let took = t0.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "started {took:?} after the ConfigMap"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn agent_runs_restarts_recreates_and_deletes_through_the_runtime() {
        let (_dir, store, fake, agent) = setup();
        let id = create_running(&store, &agent, "web", "Always").await;
        let c = &fake.containers()[0];
        assert_eq!((c.id.as_str(), c.name.as_str()), (id.as_str(), "web"));
        assert_eq!(c.labels[LABEL_INSTANCE], store.instance_id());
        until("Running", || {
            (phase(&store, "web") == "Running").then_some(())
        })
        .await;

        // a crash is restarted in place at once, and counted
        fake.exit(&id, 1);
        until("restart 1", || (restarts(&store, "web") == 1).then_some(())).await;
        assert_eq!(fake.containers().len(), 1);
        assert!(fake.containers()[0].state.is_running());
        let last = get(&store, "web")
            .container_status()
            .unwrap()
            .last_state
            .clone();
        assert_eq!(last.unwrap().terminated.unwrap().exit_code, 1);

        // the second crash waits for the backoff: CrashLoopBackOff
        fake.exit(&id, 1);
        until("CrashLoopBackOff", || {
            (reason(&store, "web") == "CrashLoopBackOff").then_some(())
        })
        .await;
        assert!(!fake.containers()[0].state.is_running());

        // removed behind our back: recreated at once, count + 1, backoff not waited for
        fake.remove_behind(&id);
        let new_id = until("recreated", || {
            fake.containers()
                .first()
                .filter(|c| c.id != id && c.state.is_running())
                .map(|c| c.id.clone())
        })
        .await;
        until("restart 2", || (restarts(&store, "web") == 2).then_some(())).await;

        // a container of ours with no pod (a deletion cut short) is removed on resync
        let stray = fake
            .create(&crate::runtime::ContainerSpec {
                name: "stray".into(),
                image: "k1s-test/fake:1".into(),
                labels: [
                    (LABEL_INSTANCE.to_string(), store.instance_id().to_string()),
                    (LABEL_POD.to_string(), "stray".to_string()),
                ]
                .into(),
                ..Default::default()
            })
            .await
            .unwrap();
        agent.resync().await;
        until("stray removed", || {
            (!fake.containers().iter().any(|c| c.id == stray)).then_some(())
        })
        .await;

        // delete: marked, then the container is stopped and removed, then the record goes
        store
            .update("web", Source::Api, |p: &mut Pod| {
                p.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
                true
            })
            .await
            .unwrap();
        until("record gone", || {
            store.get::<Pod>("web").is_none().then_some(())
        })
        .await;
        assert!(fake.containers().is_empty());
        let calls = fake.calls();
        let stop = calls
            .iter()
            .position(|c| *c == format!("stop {new_id}"))
            .unwrap();
        let remove = calls
            .iter()
            .position(|c| *c == format!("remove {new_id}"))
            .unwrap();
        assert!(
            stop < remove,
            "stopped (grace period) before removed: {calls:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_event_stream_is_reconnected_and_missed_changes_are_caught_up() {
        let (_dir, store, fake, agent) = setup();
        let id = create_running(&store, &agent, "web", "Always").await;
        until("connected", || agent.engine_up().then_some(())).await;

        // The engine goes away; the container dies meanwhile and its event is lost.
        fake.set_down(true);
        until("noticed the engine is gone", || {
            (!agent.engine_up()).then_some(())
        })
        .await;
        fake.exit(&id, 1);
        fake.set_down(false);
        // Reconnected (with backoff), the relist finds the dead container and restarts it.
        until("reconnected", || agent.engine_up().then_some(())).await;
        until("restarted after reconnecting", || {
            (restarts(&store, "web") == 1 && fake.containers()[0].state.is_running()).then_some(())
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_create_rolls_back_a_posted_pod_but_not_a_controllers() {
        let (_dir, store, fake, agent) = setup();
        // Someone else's containers hold both names.
        for n in ["posted", "owned"] {
            fake.create(&crate::runtime::ContainerSpec {
                name: n.into(),
                image: "k1s-test/fake:1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        let outcome = agent.expect("posted");
        store
            .create(pod("posted", "Always"), Source::Api)
            .await
            .unwrap();
        assert!(matches!(
            outcome.await.unwrap(),
            Outcome::Refused { conflict: true, .. }
        ));
        until("rolled back", || {
            store.get::<Pod>("posted").is_none().then_some(())
        })
        .await;

        store
            .create(pod("owned", "Always"), Source::ReplicaSets)
            .await
            .unwrap();
        until("CreateContainerError", || {
            (reason(&store, "owned") == "CreateContainerError").then_some(())
        })
        .await;
        assert!(
            store.get::<Pod>("owned").is_some(),
            "kept, retried with backoff"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_policy_leaves_a_killed_pod_failed() {
        let (_dir, store, fake, agent) = setup();
        let id = create_running(&store, &agent, "once", "Never").await;
        fake.exit(&id, 137);
        until("Failed", || {
            (phase(&store, "once") == "Failed").then_some(())
        })
        .await;
        assert_eq!(restarts(&store, "once"), 0);
        let starts = fake
            .calls()
            .iter()
            .filter(|c| c.starts_with("start"))
            .count();
        assert_eq!(starts, 1, "never restarted");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_image_that_cannot_be_pulled_shows_err_image_pull() {
        let (_dir, store, fake, agent) = setup();
        let mut p = pod("nopull", "Always");
        p.spec.as_mut().unwrap().containers[0].image = Some("k1s-test/absent:1".into());
        let outcome = agent.expect("nopull");
        store.create(p, Source::Api).await.unwrap();
        assert_eq!(outcome.await.unwrap(), Outcome::Pending);
        assert_eq!(phase(&store, "nopull"), "Pending");
        let reason = reason(&store, "nopull");
        assert!(
            reason == "ErrImagePull" || reason == "ImagePullBackOff",
            "{reason}"
        );
        assert!(fake.containers().is_empty());
        assert!(fake.calls().contains(&"pull k1s-test/absent:1".to_string()));
    }
}
