//! An in-memory container runtime for unit tests of the node agent and controllers:
//! containers are records whose state tests change by hand (`kill`, `remove_behind`),
//! and every change is sent as an event, as the Docker engine does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::broadcast;

use super::{
    ContainerEvent, ContainerInfo, ContainerRuntime, ContainerSpec, ContainerState, HostInfo,
    LogQuery, Result, RuntimeError, StatsSample,
};

#[derive(Default)]
struct State {
    containers: HashMap<String, (ContainerSpec, ContainerInfo)>,
    images: Vec<String>,
    next_id: u64,
    down: bool,
    calls: Vec<String>,
}

/// The fake engine; cheap to clone (clones share state).
#[derive(Clone)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
    // `None` tells open event streams that the connection dropped.
    events: broadcast::Sender<Option<ContainerEvent>>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeRuntime {
    /// An engine with no containers and the image `k1s-test/fake:1`.
    pub fn new() -> FakeRuntime {
        let (events, _) = broadcast::channel(1024);
        let state = State {
            images: vec!["k1s-test/fake:1".into()],
            ..Default::default()
        };
        FakeRuntime {
            state: Arc::new(Mutex::new(state)),
            events,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, id: &str, action: &str, labels: &BTreeMap<String, String>) {
        // An engine nobody can reach tells nobody: its events are lost, as a dropped
        // Docker event stream loses them.
        if self.lock().down {
            return;
        }
        let _ = self.events.send(Some(ContainerEvent {
            id: id.to_string(),
            action: action.to_string(),
            labels: labels.clone(),
            time_nano: 0,
        }));
    }

    /// Makes the engine unreachable (open event streams break) or reachable again.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
        if down {
            let _ = self.events.send(None);
        }
    }

    /// The container's process exits with `code`, as a crash or `docker kill` does.
    pub fn exit(&self, id: &str, code: i64) {
        let labels = {
            let mut s = self.lock();
            let Some((_, info)) = s.containers.get_mut(id) else {
                return;
            };
            info.state.status = "exited".into();
            info.state.exit_code = code;
            info.state.finished_at = Some(crate::util::now_rfc3339());
            info.labels.clone()
        };
        self.emit(id, "die", &labels);
    }

    /// Removes a container behind K1s's back, as `docker rm -f` does.
    pub fn remove_behind(&self, id: &str) {
        let removed = self.lock().containers.remove(id);
        if let Some((_, info)) = removed {
            self.emit(id, "destroy", &info.labels);
        }
    }

    /// All containers, by id.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        let mut v: Vec<_> = self
            .lock()
            .containers
            .values()
            .map(|(_, i)| i.clone())
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// The calls made so far (`create NAME`, `start ID`, `stop ID`, `remove ID`, `pull IMG`).
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    fn check_up(&self) -> Result<()> {
        if self.lock().down {
            Err(RuntimeError::Unavailable("fake engine is down".into()))
        } else {
            Ok(())
        }
    }
}

impl ContainerRuntime for FakeRuntime {
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        async move { self.check_up() }.boxed()
    }

    fn info(&self) -> BoxFuture<'_, Result<HostInfo>> {
        async move {
            self.check_up()?;
            Ok(HostInfo {
                ncpu: 2,
                mem_total: 8 << 30,
            })
        }
        .boxed()
    }

    fn image_id<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        async move {
            self.check_up()?;
            Ok(self
                .lock()
                .images
                .iter()
                .any(|i| i == image)
                .then(|| format!("sha256:{image}")))
        }
        .boxed()
    }

    fn pull<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            self.check_up()?;
            self.lock().calls.push(format!("pull {image}"));
            Err(RuntimeError::NotFound(format!(
                "pull access denied for {image}, repository does not exist"
            )))
        }
        .boxed()
    }

    fn create<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, Result<String>> {
        async move {
            self.check_up()?;
            let (id, labels) = {
                let mut s = self.lock();
                if s.containers.values().any(|(c, _)| c.name == spec.name) {
                    return Err(RuntimeError::Conflict(format!(
                        "container name \"/{}\" is already in use",
                        spec.name
                    )));
                }
                s.next_id += 1;
                let id = format!("{:064x}", s.next_id);
                s.calls.push(format!("create {}", spec.name));
                let info = ContainerInfo {
                    id: id.clone(),
                    name: spec.name.clone(),
                    labels: spec.labels.clone(),
                    state: ContainerState {
                        status: "created".into(),
                        ..Default::default()
                    },
                    ip: None,
                    image_id: Some(format!("sha256:{}", spec.image)),
                    created: Some(crate::util::now_rfc3339()),
                };
                s.containers.insert(id.clone(), (spec.clone(), info));
                (id, spec.labels.clone())
            };
            self.emit(&id, "create", &labels);
            Ok(id)
        }
        .boxed()
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            self.check_up()?;
            let labels = {
                let mut s = self.lock();
                s.calls.push(format!("start {id}"));
                let n = s.containers.len();
                let Some((_, info)) = s.containers.get_mut(id) else {
                    return Err(RuntimeError::NotFound(id.to_string()));
                };
                info.state.status = "running".into();
                info.state.exit_code = 0;
                info.state.started_at = Some(crate::util::now_rfc3339());
                info.state.finished_at = None;
                info.ip = Some(format!("172.17.0.{}", n + 1));
                info.labels.clone()
            };
            self.emit(id, "start", &labels);
            Ok(())
        }
        .boxed()
    }

    fn stop<'a>(&'a self, id: &'a str, _grace_secs: i64) -> BoxFuture<'a, Result<()>> {
        async move {
            self.check_up()?;
            self.lock().calls.push(format!("stop {id}"));
            let running = self
                .lock()
                .containers
                .get(id)
                .is_some_and(|(_, i)| i.state.is_running());
            if running {
                self.exit(id, 143);
            }
            Ok(())
        }
        .boxed()
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            self.check_up()?;
            self.lock().calls.push(format!("remove {id}"));
            self.remove_behind(id);
            Ok(())
        }
        .boxed()
    }

    fn inspect<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ContainerInfo>>> {
        async move {
            self.check_up()?;
            let s = self.lock();
            Ok(s.containers.get(id).map(|(_, i)| i.clone()).or_else(|| {
                s.containers
                    .values()
                    .find(|(c, _)| c.name == id)
                    .map(|(_, i)| i.clone())
            }))
        }
        .boxed()
    }

    fn list<'a>(
        &'a self,
        labels: &'a [(&'a str, Option<&'a str>)],
    ) -> BoxFuture<'a, Result<Vec<ContainerInfo>>> {
        async move {
            self.check_up()?;
            Ok(self
                .containers()
                .into_iter()
                .filter(|c| {
                    labels.iter().all(|(k, v)| match v {
                        Some(v) => c.labels.get(*k).map(String::as_str) == Some(*v),
                        None => c.labels.contains_key(*k),
                    })
                })
                .collect())
        }
        .boxed()
    }

    fn logs<'a>(
        &'a self,
        id: &'a str,
        _tail: u32,
        _since_unix: i64,
    ) -> BoxFuture<'a, Result<String>> {
        async move {
            self.check_up()?;
            Ok(format!("fake log of {id}\n"))
        }
        .boxed()
    }

    fn follow_logs<'a>(
        &'a self,
        id: &'a str,
        _since_unix: i64,
        _tail: u32,
    ) -> BoxStream<'a, Result<String>> {
        futures_util::stream::once(async move { Ok(format!("fake log of {id}\n")) }).boxed()
    }

    fn read_logs<'a>(&'a self, id: &'a str, q: LogQuery) -> BoxStream<'a, Result<String>> {
        // Two lines, the timestamps the engine would add when asked, `tail` honoured.
        let lines: Vec<String> = ["fake log of", "more log of"]
            .iter()
            .map(|l| {
                let stamp = if q.timestamps {
                    "2025-01-01T00:00:00.000000000Z "
                } else {
                    ""
                };
                format!("{stamp}{l} {id}\n")
            })
            .collect();
        let skip = lines
            .len()
            .saturating_sub(q.tail.unwrap_or(u32::MAX) as usize);
        let text: String = lines[skip..].concat();
        async move {
            self.check_up()?;
            Ok(text)
        }
        .into_stream()
        .boxed()
    }

    fn events<'a>(
        &'a self,
        label: &'a str,
        value: &'a str,
    ) -> BoxStream<'a, Result<ContainerEvent>> {
        let rx = self.events.subscribe();
        futures_util::stream::unfold((rx, false), |(mut rx, ended)| async move {
            if ended {
                return None;
            }
            loop {
                match rx.recv().await {
                    Ok(Some(ev)) => return Some((Ok(ev), (rx, false))),
                    Ok(None) => {
                        let e = RuntimeError::Unavailable("fake engine went away".into());
                        return Some((Err(e), (rx, true)));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |ev| {
            let keep = match ev {
                Ok(ev) => ev.labels.get(label).map(String::as_str) == Some(value),
                Err(_) => true,
            };
            futures_util::future::ready(keep)
        })
        .boxed()
    }

    fn stats<'a>(&'a self, _id: &'a str) -> BoxStream<'a, Result<StatsSample>> {
        futures_util::stream::pending().boxed()
    }
}
