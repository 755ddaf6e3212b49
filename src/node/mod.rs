//! The node agent — K1s's kubelet. It turns pod objects into containers and container
//! state back into pod status: creates, starts, restarts (per `restartPolicy`, with
//! Kubernetes' crash backoff), recreates containers removed behind K1s's back, stops
//! and removes the containers of deleted pods, and feeds the metrics cache.
//!
//! It is driven by Docker's event stream and by store changes, through a deduplicating
//! work queue keyed by pod name (a pod is never reconciled by two workers at once),
//! with a periodic relist as the safety net. It only touches containers that carry
//! this instance's id.

pub mod lifecycle;
pub mod spec;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, broadcast, oneshot};

use crate::controller::workqueue::WorkQueue;
use crate::events::Events;
use crate::runtime::logs::Logs;
use crate::runtime::metrics::Metrics;
use crate::runtime::{
    ContainerInfo, ContainerRuntime, LABEL_INSTANCE, LABEL_POD, LABEL_UID, RuntimeError,
};
use crate::store::{Kind, Object, Source, Store};
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

struct Inner {
    store: Store,
    runtime: Arc<dyn ContainerRuntime>,
    metrics: Metrics,
    logs: Logs,
    events: Events,
    queue: WorkQueue<String>,
    memos: Mutex<HashMap<String, Memo>>,
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<Outcome>>>>,
    deleting: Mutex<HashSet<String>>,
    start_slots: Semaphore,
    engine_up: AtomicBool,
}

/// Handle to the running agent; cheap to clone.
#[derive(Clone)]
pub struct NodeAgent {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl NodeAgent {
    /// Starts the agent: workers, the event stream, the store watch and the relist.
    pub fn start(
        store: Store,
        runtime: Arc<dyn ContainerRuntime>,
        metrics: Metrics,
        logs: Logs,
        events: Events,
    ) -> NodeAgent {
        let agent = NodeAgent {
            inner: Arc::new(Inner {
                store,
                runtime,
                metrics,
                logs,
                events,
                queue: WorkQueue::new(),
                memos: Mutex::default(),
                waiters: Mutex::default(),
                deleting: Mutex::default(),
                start_slots: Semaphore::new(START_SLOTS),
                engine_up: AtomicBool::new(false),
            }),
        };
        for _ in 0..WORKERS {
            let a = agent.clone();
            tokio::spawn(async move { a.worker().await });
        }
        let a = agent.clone();
        tokio::spawn(async move { a.event_loop().await });
        let a = agent.clone();
        let rx = a.inner.store.watch();
        tokio::spawn(async move { a.watch_store(rx).await });
        let a = agent.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RESYNC);
            loop {
                tick.tick().await;
                a.resync().await;
            }
        });
        agent
    }

    /// Asks for a pod to be reconciled.
    pub fn enqueue(&self, name: &str) {
        self.inner.queue.add(name.to_string());
    }

    /// Registers interest in what becomes of a pod about to be created.
    pub fn expect(&self, name: &str) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.waiters)
            .entry(name.to_string())
            .or_default()
            .push(tx);
        rx
    }

    /// A POST still waits on this pod (its answer is not given yet): only then may a
    /// refused create be rolled back. Senders whose POST gave up are dropped here.
    fn someone_waits(&self, name: &str) -> bool {
        let mut waiters = lock(&self.inner.waiters);
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

    /// Drops the interest registered by [`NodeAgent::expect`] once its POST answered.
    pub fn forget_expectation(&self, name: &str) {
        let mut waiters = lock(&self.inner.waiters);
        if let Some(list) = waiters.get_mut(name) {
            list.retain(|s| !s.is_closed());
            if list.is_empty() {
                waiters.remove(name);
            }
        }
    }

    /// Whether the event stream is connected (the engine answered lately).
    pub fn engine_up(&self) -> bool {
        self.inner.engine_up.load(Ordering::Relaxed)
    }

    /// A running container: sample its stats and follow its output.
    fn watch_container(&self, c: &ContainerInfo) {
        self.inner.metrics.watch(&c.id);
        self.inner
            .logs
            .follow(&c.id, run_start_unix(c.state.started_at.as_deref()));
    }

    /// A container that is gone: drop its figures and lines.
    fn forget_container(&self, id: &str) {
        self.inner.metrics.forget(id);
        self.inner.logs.forget(id);
    }

    /// Forgets the container a container status names (it was removed).
    fn forget_recorded_container(&self, cs: &Value) {
        if let Some(old) = cs.get("containerID").and_then(Value::as_str) {
            self.forget_container(old.trim_start_matches("docker://"));
        }
    }

    fn notify(&self, name: &str, outcome: Outcome) {
        let senders = lock(&self.inner.waiters).remove(name).unwrap_or_default();
        for s in senders {
            let _ = s.send(outcome.clone());
        }
    }

    async fn worker(&self) {
        while let Some(name) = self.inner.queue.next().await {
            match self.reconcile(&name).await {
                Ok(Some(after)) => self.inner.queue.add_after(name.clone(), after),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(pod = %name, error = %e, "reconcile failed; retrying");
                    self.inner
                        .queue
                        .add_after(name.clone(), Duration::from_millis(500));
                }
            }
            self.inner.queue.done(&name);
        }
    }

    async fn event_loop(&self) {
        let instance = self.inner.store.instance_id().to_string();
        let mut delay = Duration::from_millis(100);
        loop {
            if self.inner.runtime.ping().await.is_err() {
                if self.inner.engine_up.swap(false, Ordering::Relaxed) {
                    tracing::warn!("Docker engine unreachable; reconnecting");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
            if !self.inner.engine_up.swap(true, Ordering::Relaxed) {
                tracing::info!("connected to the Docker engine");
            }
            delay = Duration::from_millis(100);
            let mut events = self.inner.runtime.events(LABEL_INSTANCE, &instance);
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
                            self.inner.queue.add(pod.clone());
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

    async fn watch_store(&self, mut rx: broadcast::Receiver<crate::store::Change>) {
        loop {
            match rx.recv().await {
                Ok(ch) if ch.object.kind == Kind::Pod && ch.source != Source::Node => {
                    self.inner.queue.add(ch.object.name.clone());
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => self.resync().await,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Enqueues every pod, and every container of ours whose pod is gone.
    pub async fn resync(&self) {
        let mut names: HashSet<String> = self
            .inner
            .store
            .list(Kind::Pod)
            .into_iter()
            .map(|o| o.name)
            .collect();
        let instance = self.inner.store.instance_id().to_string();
        if let Ok(cs) = self
            .inner
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
            self.inner.queue.add(n);
        }
    }

    /// One level-triggered step for one pod. Returns when to look again, if a timer
    /// (backoff) rather than an event will make the next step possible.
    async fn reconcile(&self, name: &str) -> Result<Option<Duration>, RuntimeError> {
        let instance = self.inner.store.instance_id().to_string();
        let object = self.inner.store.get(Kind::Pod, name);
        let containers = self
            .inner
            .runtime
            .list(&[
                (LABEL_INSTANCE, Some(instance.as_str())),
                (LABEL_POD, Some(name)),
            ])
            .await?;
        let Some(object) = object else {
            // A container of ours without a pod: a deletion cut short by a crash.
            for c in containers {
                self.forget_container(&c.id);
                self.inner.runtime.remove(&c.id).await?;
            }
            lock(&self.inner.memos).remove(name);
            return Ok(None);
        };
        if object.is_deleting() {
            self.spawn_deletion(object, containers);
            return Ok(None);
        }
        let pod: Pod = match serde_json::from_value(object.body.clone()) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(pod = %name, error = %e, "stored pod does not parse");
                return Ok(None);
            }
        };
        // Containers of an older pod of the same name are not ours to adopt.
        let (mut mine, stale): (Vec<_>, Vec<_>) = containers
            .into_iter()
            .partition(|c| c.labels.get(LABEL_UID) == Some(&object.uid));
        for c in stale {
            self.forget_container(&c.id);
            self.inner.runtime.remove(&c.id).await?;
        }
        // Never two containers for one pod: keep the running one, else any.
        mine.sort_by_key(|c| c.state.status != "running");
        for extra in mine.iter().skip(1) {
            self.forget_container(&extra.id);
            self.inner.runtime.remove(&extra.id).await?;
        }
        let container = match mine.first() {
            Some(c) => self.inner.runtime.inspect(&c.id).await?,
            None => None,
        };
        self.step(&object, &pod, container).await
    }

    async fn step(
        &self,
        object: &Object,
        pod: &Pod,
        container: Option<ContainerInfo>,
    ) -> Result<Option<Duration>, RuntimeError> {
        let name = object.name.as_str();
        let status = object.body.get("status").cloned().unwrap_or(json!({}));
        let phase = status
            .get("phase")
            .and_then(Value::as_str)
            .unwrap_or("Pending");
        let finished = matches!(phase, "Succeeded" | "Failed");
        let cs = status
            .pointer("/containerStatuses/0")
            .cloned()
            .unwrap_or(json!({}));
        let had_container = cs
            .get("containerID")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        let last_exit = cs
            .pointer("/state/terminated/exitCode")
            .and_then(Value::as_i64);
        let policy =
            RestartPolicy::parse(pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()));
        let now = Instant::now();

        // How much of the crash backoff is left for this exit.
        let wait_left = match &container {
            Some(c) if c.state.is_exited() => {
                let mut memos = lock(&self.inner.memos);
                let memo = memo_for(&mut memos, name, &object.uid);
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
            finished,
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
                    }
                    self.write_observed(object, c, None, 0).await?;
                }
                Ok(None)
            }
            Step::Create { replacement } => {
                // The container it replaces is gone: so are its figures and lines.
                self.forget_recorded_container(&cs);
                let last = replacement.then(|| {
                    cs.get("state")
                        .filter(|s| s.get("terminated").is_some())
                        .cloned()
                        .unwrap_or_else(|| {
                            json!({"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                                "message": "The container could not be located when the pod was terminated"}})
                        })
                });
                if replacement {
                    self.inner.events.warning(
                        Kind::Pod,
                        name,
                        "ContainerRemoved",
                        "The container was removed outside K1s; recreating it",
                    );
                }
                self.create_and_start(object, pod, last, !had_container)
                    .await
            }
            Step::Start => {
                let Some(c) = container else { return Ok(None) };
                self.start_existing(object, &c, None, 0).await
            }
            Step::Restart => {
                let Some(c) = container else { return Ok(None) };
                self.inner.metrics.forget(&c.id);
                let last = lifecycle::terminated_json(&c.state, &c.id);
                {
                    let mut memos = lock(&self.inner.memos);
                    let memo = memo_for(&mut memos, name, &object.uid);
                    memo.backoff.restarted();
                    memo.exit_seen = None;
                }
                self.start_existing(object, &c, Some(last), 1).await
            }
            Step::BackOff(wait) => {
                let Some(c) = container else { return Ok(None) };
                self.inner.metrics.forget(&c.id);
                let cname = first_container_name(pod);
                let msg = format!(
                    "back-off {}s restarting failed container={cname} pod={name}",
                    wait.as_millis().div_ceil(1000).max(1)
                );
                self.inner.events.warning(
                    Kind::Pod,
                    name,
                    "BackOff",
                    "Back-off restarting failed container",
                );
                let last = lifecycle::terminated_json(&c.state, &c.id);
                let c = c.clone();
                self.write_status(object, move |st| {
                    st["phase"] = json!("Running");
                    set_container_status(
                        st,
                        Some(&c),
                        lifecycle::waiting_json("CrashLoopBackOff", Some(&msg)),
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
                    self.inner.metrics.forget(&c.id);
                    self.write_observed(object, c, Some(succeeded), 0).await?;
                } else {
                    self.forget_recorded_container(&cs);
                    self.write_status(object, move |st| {
                        st["phase"] = json!(if succeeded { "Succeeded" } else { "Failed" });
                    })
                    .await?;
                }
                Ok(None)
            }
            Step::Lost => {
                self.forget_recorded_container(&cs);
                self.inner.events.warning(
                    Kind::Pod,
                    name,
                    "ContainerRemoved",
                    "The container was removed outside K1s; restartPolicy Never keeps it down",
                );
                self.write_status(object, move |st| {
                    st["phase"] = json!("Failed");
                    let state = json!({"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                        "message": "The container could not be located when the pod was terminated"}});
                    set_container_status(st, None, state, None, 0, false);
                    st.as_object_mut().map(|m| m.remove("podIP"));
                    st.as_object_mut().map(|m| m.remove("podIPs"));
                })
                .await?;
                Ok(None)
            }
        }
    }

    /// Makes the pod's first container (or its replacement) and starts it.
    async fn create_and_start(
        &self,
        object: &Object,
        pod: &Pod,
        last_state: Option<Value>,
        first: bool,
    ) -> Result<Option<Duration>, RuntimeError> {
        let name = object.name.as_str();
        let now = Instant::now();
        // A pull or create that failed waits for its backoff.
        let due = lock(&self.inner.memos)
            .get(name)
            .filter(|m| m.uid == object.uid)
            .and_then(|m| m.retry_due);
        if let Some(due) = due.filter(|d| *d > now) {
            let left = due - now;
            self.write_status(object, move |st| {
                if let Some(w) = st.pointer_mut("/containerStatuses/0/state/waiting/reason")
                    && w == "ErrImagePull"
                {
                    *w = json!("ImagePullBackOff");
                }
            })
            .await?;
            return Ok(Some(left));
        }
        let _slot = self.inner.start_slots.acquire().await;
        let Some(c) = spec::first_container(pod) else {
            return Ok(None);
        };
        let image = c.image.clone().unwrap_or_default();
        let pull_policy = c.image_pull_policy.as_deref().unwrap_or("IfNotPresent");
        let present = self.inner.runtime.image_id(&image).await?;
        let must_pull = match pull_policy {
            "Always" => true,
            "Never" => false,
            _ => present.is_none(),
        };
        if pull_policy == "Never" && present.is_none() {
            let msg =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            return self
                .wait_to_retry(object, "ErrImageNeverPull", "ErrImageNeverPull", msg)
                .await;
        }
        if must_pull {
            self.inner.events.normal(
                Kind::Pod,
                name,
                "Pulling",
                format!("Pulling image \"{image}\""),
            );
            self.write_status(object, move |st| {
                set_container_status(
                    st,
                    None,
                    lifecycle::waiting_json("ContainerCreating", Some("pulling image")),
                    None,
                    0,
                    false,
                );
            })
            .await?;
            if let Err(e) = self.inner.runtime.pull(&image).await {
                if matches!(e, RuntimeError::Unavailable(_)) {
                    return Err(e);
                }
                let msg = format!("Failed to pull image \"{image}\": {e}");
                return self
                    .wait_to_retry(object, "Failed", "ErrImagePull", msg)
                    .await;
            }
            self.inner.events.normal(
                Kind::Pod,
                name,
                "Pulled",
                format!("Successfully pulled image \"{image}\""),
            );
        }
        let Some(cspec) = spec::container_spec(pod, self.inner.store.instance_id(), None) else {
            return Ok(None);
        };
        let id = match self.inner.runtime.create(&cspec).await {
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
                self.inner
                    .store
                    .delete(Kind::Pod, name, Some(&object.uid), Source::Node)
                    .await
                    .map_err(|e| RuntimeError::Other(e.to_string()))?;
                self.inner.events.forget(Kind::Pod, name);
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
                    .wait_to_retry(object, "Failed", "CreateContainerError", e.to_string())
                    .await;
            }
        };
        self.inner
            .events
            .normal(Kind::Pod, name, "Created", "Created container");
        let info = ContainerInfo {
            id: id.clone(),
            state: crate::runtime::ContainerState {
                status: "created".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let inc = i64::from(last_state.is_some());
        self.start_existing(object, &info, last_state, inc).await
    }

    /// Starts a container that exists (new, or exited for a restart in place) and
    /// records the result; `restarts` is added to the restart count.
    async fn start_existing(
        &self,
        object: &Object,
        c: &ContainerInfo,
        last_state: Option<Value>,
        restarts: i64,
    ) -> Result<Option<Duration>, RuntimeError> {
        let name = object.name.as_str();
        let started = self.inner.runtime.start(&c.id).await;
        let info = self.inner.runtime.inspect(&c.id).await?;
        match (started, info) {
            (Err(RuntimeError::Unavailable(m)), _) => Err(RuntimeError::Unavailable(m)),
            (Ok(()), Some(info)) => {
                if restarts == 0 && last_state.is_none() {
                    self.inner
                        .events
                        .normal(Kind::Pod, name, "Started", "Started container");
                } else {
                    self.inner
                        .events
                        .normal(Kind::Pod, name, "Started", "Restarted container");
                }
                if info.state.is_running() {
                    self.watch_container(&info);
                }
                if let Some(m) = lock(&self.inner.memos).get_mut(name) {
                    m.retry = Backoff::default();
                    m.retry_due = None;
                }
                self.write_observed_with(object, &info, None, restarts, last_state)
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
                self.inner
                    .events
                    .warning(Kind::Pod, name, "Failed", format!("Error: {msg}"));
                let id = c.id.clone();
                let c = c.clone();
                self.write_status(object, move |st| {
                    st["phase"] = json!(if st["phase"] == "Running" {
                        "Running"
                    } else {
                        "Pending"
                    });
                    set_container_status(
                        st,
                        Some(&c),
                        lifecycle::waiting_json("RunContainerError", Some(&msg)),
                        last_state,
                        restarts,
                        false,
                    );
                })
                .await?;
                self.notify(name, Outcome::Created(id));
                Ok(Some(self.retry_later(name, &object.uid)))
            }
        }
    }

    /// No container could be made: say why (event, Waiting reason), let a waiting POST
    /// answer, and look again after the pod's retry backoff.
    async fn wait_to_retry(
        &self,
        object: &Object,
        event_reason: &str,
        waiting_reason: &'static str,
        message: String,
    ) -> Result<Option<Duration>, RuntimeError> {
        let name = object.name.as_str();
        self.inner
            .events
            .warning(Kind::Pod, name, event_reason, message.clone());
        self.write_status(object, move |st| {
            if st["phase"] != "Running" {
                st["phase"] = json!("Pending");
            }
            let state = lifecycle::waiting_json(waiting_reason, Some(&message));
            set_container_status(st, None, state, None, 0, false);
        })
        .await?;
        self.notify(name, Outcome::Pending);
        Ok(Some(self.retry_later(name, &object.uid)))
    }

    fn retry_later(&self, name: &str, uid: &str) -> Duration {
        let mut memos = lock(&self.inner.memos);
        let memo = memo_for(&mut memos, name, uid);
        memo.retry.restarted();
        let d = memo.retry.delay();
        memo.retry_due = Some(Instant::now() + d);
        d
    }

    async fn write_observed(
        &self,
        object: &Object,
        c: &ContainerInfo,
        finished: Option<bool>,
        restarts: i64,
    ) -> Result<(), RuntimeError> {
        self.write_observed_with(object, c, finished, restarts, None)
            .await
            .map(|_| ())
    }

    /// Writes the status that the container's engine state implies.
    async fn write_observed_with(
        &self,
        object: &Object,
        c: &ContainerInfo,
        finished: Option<bool>,
        restarts: i64,
        last_state: Option<Value>,
    ) -> Result<(), RuntimeError> {
        let running = c.state.is_running();
        let state = if running {
            lifecycle::running_json(&c.state)
        } else if c.state.is_exited() {
            lifecycle::terminated_json(&c.state, &c.id)
        } else {
            lifecycle::waiting_json("ContainerCreating", None)
        };
        let c = c.clone();
        self.write_status(object, move |st| {
            let phase = match finished {
                Some(true) => "Succeeded",
                Some(false) => "Failed",
                // A finished pod stays finished whatever is observed later.
                None if st["phase"] == "Succeeded" => "Succeeded",
                None if st["phase"] == "Failed" => "Failed",
                None if running || st["phase"] == "Running" => "Running",
                None => "Pending",
            };
            st["phase"] = json!(phase);
            if running {
                if st.get("startTime").is_none_or(Value::is_null) {
                    let started = c
                        .state
                        .started_at
                        .as_deref()
                        .and_then(crate::util::docker_time);
                    st["startTime"] = json!(started.unwrap_or_else(crate::util::now_rfc3339));
                }
                match &c.ip {
                    Some(ip) => {
                        st["podIP"] = json!(ip);
                        st["podIPs"] = json!([{"ip": ip}]);
                    }
                    None => {
                        st.as_object_mut().map(|m| m.remove("podIP"));
                    }
                }
            } else if finished.is_some() {
                st.as_object_mut().map(|m| m.remove("podIP"));
                st.as_object_mut().map(|m| m.remove("podIPs"));
            }
            set_container_status(st, Some(&c), state, last_state, restarts, running);
        })
        .await
    }

    /// Read-modify-write of the pod's status; writes only when it changed (status is
    /// persisted coalesced: an unchanged observation costs no fsync).
    async fn write_status<F>(&self, object: &Object, f: F) -> Result<(), RuntimeError>
    where
        F: FnOnce(&mut Value) + Send + 'static,
    {
        let uid = object.uid.clone();
        let r = self
            .inner
            .store
            .update(Kind::Pod, &object.name, Source::Node, move |body| {
                if body.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
                    return false;
                }
                let before = body.get("status").cloned().unwrap_or(json!({}));
                let mut st = before.clone();
                if !st.is_object() {
                    st = json!({});
                }
                f(&mut st);
                name_container_status(body, &mut st);
                set_conditions(&mut st);
                if st == before {
                    return false;
                }
                body["status"] = st;
                true
            })
            .await;
        match r {
            Ok(_) | Err(crate::store::StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(RuntimeError::Other(e.to_string())),
        }
    }

    /// Stops and removes the containers of a deleted pod in the background, then
    /// removes its record. Not bounded by the start slots: a grace period of 30 s
    /// must not hold up other pods.
    fn spawn_deletion(&self, object: Object, containers: Vec<ContainerInfo>) {
        if !lock(&self.inner.deleting).insert(object.name.clone()) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let grace = object
                .body
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .or_else(|| {
                    object
                        .body
                        .pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(30);
            let name = object.name.clone();
            if !containers.is_empty() {
                this.inner.events.normal(
                    Kind::Pod,
                    &name,
                    "Killing",
                    format!("Stopping container {}", name),
                );
            }
            for c in &containers {
                this.forget_container(&c.id);
                let mut delay = Duration::from_millis(200);
                loop {
                    let r = match this.inner.runtime.stop(&c.id, grace).await {
                        Ok(()) => this.inner.runtime.remove(&c.id).await,
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
            if let Some(cs) = object.body.pointer("/status/containerStatuses/0") {
                this.forget_recorded_container(cs);
            }
            let _ = this
                .inner
                .store
                .delete(Kind::Pod, &name, Some(&object.uid), Source::Node)
                .await;
            this.inner.events.forget(Kind::Pod, &name);
            lock(&this.inner.memos).remove(&name);
            lock(&this.inner.deleting).remove(&name);
            // A new pod of the same name may have been waiting for this one to go.
            this.inner.queue.add(name);
        });
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

/// Sets `containerStatuses[0]`, keeping what the observation does not replace
/// (restart count, last state, image).
fn set_container_status(
    st: &mut Value,
    c: Option<&ContainerInfo>,
    state: Value,
    last_state: Option<Value>,
    restarts: i64,
    ready: bool,
) {
    let mut cs = st
        .pointer("/containerStatuses/0")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    let count = cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0) + restarts;
    cs["restartCount"] = json!(count);
    cs["state"] = state;
    if let Some(l) = last_state {
        cs["lastState"] = l;
    } else if cs.get("lastState").is_none() {
        cs["lastState"] = json!({});
    }
    if let Some(c) = c {
        cs["containerID"] = json!(format!("docker://{}", c.id));
        if let Some(img) = &c.image_id {
            cs["imageID"] = json!(img);
        }
    }
    cs["ready"] = json!(ready);
    cs["started"] = json!(ready);
    st["containerStatuses"] = json!([cs]);
}

/// The container status names the container and image it is about.
fn name_container_status(body: &Value, st: &mut Value) {
    let Some(cs) = st.pointer_mut("/containerStatuses/0") else {
        return;
    };
    if let Some(c) = body.pointer("/spec/containers/0") {
        cs["name"] = c.get("name").cloned().unwrap_or(Value::Null);
        cs["image"] = c.get("image").cloned().unwrap_or(Value::Null);
    }
}

/// Kubernetes' pod conditions from the container status.
fn set_conditions(st: &mut Value) {
    let ready = st
        .pointer("/containerStatuses/0/ready")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let r = if ready { "True" } else { "False" };
    st["conditions"] = json!([
        {"type": "PodScheduled", "status": "True"},
        {"type": "Initialized", "status": "True"},
        {"type": "ContainersReady", "status": r},
        {"type": "Ready", "status": r},
    ]);
    if st.get("hostIP").is_none() {
        st["hostIP"] = json!("127.0.0.1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;

    fn pod(name: &str, policy: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "uid": format!("uid-{name}"), "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "k1s-test/fake:1", "imagePullPolicy": "IfNotPresent"}]},
            "status": {"phase": "Pending"}})
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
        );
        (dir, store, fake, agent)
    }

    /// Stores a pod as a client would and waits for its container's id.
    async fn create_running(store: &Store, agent: &NodeAgent, name: &str, policy: &str) -> String {
        let outcome = agent.expect(name);
        store
            .create(Kind::Pod, pod(name, policy), Source::Api)
            .await
            .unwrap();
        match outcome.await.unwrap() {
            Outcome::Created(id) => id,
            other => panic!("no container for {name}: {other:?}"),
        }
    }

    fn status(store: &Store, name: &str) -> Value {
        store
            .get(Kind::Pod, name)
            .map(|o| o.body["status"].clone())
            .unwrap_or(Value::Null)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn agent_runs_restarts_recreates_and_deletes_through_the_runtime() {
        let (_dir, store, fake, agent) = setup();
        let id = create_running(&store, &agent, "web", "Always").await;
        let c = &fake.containers()[0];
        assert_eq!((c.id.as_str(), c.name.as_str()), (id.as_str(), "web"));
        assert_eq!(c.labels[LABEL_INSTANCE], store.instance_id());
        until("Running", || {
            (status(&store, "web")["phase"] == "Running").then_some(())
        })
        .await;

        // a crash is restarted in place at once, and counted
        fake.exit(&id, 1);
        until("restart 1", || {
            (status(&store, "web")["containerStatuses"][0]["restartCount"] == 1).then_some(())
        })
        .await;
        assert_eq!(fake.containers().len(), 1);
        assert!(fake.containers()[0].state.is_running());
        let st = status(&store, "web");
        assert_eq!(
            st["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            1
        );

        // the second crash waits for the backoff: CrashLoopBackOff
        fake.exit(&id, 1);
        until("CrashLoopBackOff", || {
            (status(&store, "web")["containerStatuses"][0]["state"]["waiting"]["reason"]
                == "CrashLoopBackOff")
                .then_some(())
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
        until("restart 2", || {
            (status(&store, "web")["containerStatuses"][0]["restartCount"] == 2).then_some(())
        })
        .await;

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
            .update(Kind::Pod, "web", Source::Api, |b| {
                b["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                true
            })
            .await
            .unwrap();
        until("record gone", || {
            store.get(Kind::Pod, "web").is_none().then_some(())
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
            (status(&store, "web")["containerStatuses"][0]["restartCount"] == 1
                && fake.containers()[0].state.is_running())
            .then_some(())
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
            .create(Kind::Pod, pod("posted", "Always"), Source::Api)
            .await
            .unwrap();
        assert!(matches!(
            outcome.await.unwrap(),
            Outcome::Refused { conflict: true, .. }
        ));
        until("rolled back", || {
            store.get(Kind::Pod, "posted").is_none().then_some(())
        })
        .await;

        store
            .create(Kind::Pod, pod("owned", "Always"), Source::ReplicaSets)
            .await
            .unwrap();
        until("CreateContainerError", || {
            (status(&store, "owned")["containerStatuses"][0]["state"]["waiting"]["reason"]
                == "CreateContainerError")
                .then_some(())
        })
        .await;
        assert!(
            store.get(Kind::Pod, "owned").is_some(),
            "kept, retried with backoff"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_policy_leaves_a_killed_pod_failed() {
        let (_dir, store, fake, agent) = setup();
        let id = create_running(&store, &agent, "once", "Never").await;
        fake.exit(&id, 137);
        until("Failed", || {
            (status(&store, "once")["phase"] == "Failed").then_some(())
        })
        .await;
        assert_eq!(
            status(&store, "once")["containerStatuses"][0]["restartCount"],
            0
        );
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
        p["spec"]["containers"][0]["image"] = json!("k1s-test/absent:1");
        let outcome = agent.expect("nopull");
        store.create(Kind::Pod, p, Source::Api).await.unwrap();
        assert_eq!(outcome.await.unwrap(), Outcome::Pending);
        let st = status(&store, "nopull");
        assert_eq!(st["phase"], "Pending");
        let reason = st["containerStatuses"][0]["state"]["waiting"]["reason"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            reason == "ErrImagePull" || reason == "ImagePullBackOff",
            "{reason}"
        );
        assert!(fake.containers().is_empty());
        assert!(fake.calls().contains(&"pull k1s-test/absent:1".to_string()));
    }
}
