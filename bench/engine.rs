//! The Docker engine side: a bollard client (the reference work is done through the
//! Docker API, never the CLI) and a log of the engine's own container events, from
//! which every duration of the benchmark is read (`timeNano`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerSummaryStateEnum, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, EventsOptions, KillContainerOptions, ListContainersOptions,
    RemoveContainerOptions, StartContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

/// A container as the engine lists it.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub running: bool,
}

/// One container event as the engine stamped it.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: String,
    pub id: String,
    pub time_ns: i64,
}

#[derive(Default)]
struct Log {
    /// By container name, in arrival order.
    by_name: HashMap<String, Vec<Event>>,
    /// Set when the stream ended or failed: waiting is pointless then.
    broken: Option<String>,
}

/// The engine, reached from synchronous code through a tokio runtime.
pub struct Engine {
    rt: Runtime,
    docker: Docker,
    log: Arc<Mutex<Log>>,
    notify: Arc<Notify>,
    /// The label every container of this run carries (`key=value`).
    pub run_label: (String, String),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    /// Connects (negotiating the API version: the engine here speaks 1.41), checks the
    /// engine answers, and subscribes to the container events of this run's label,
    /// replayed from the moment of subscription so that none is missed.
    pub fn connect(run_label: (String, String)) -> Result<Engine, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let docker = rt.block_on(async {
            let d = Docker::connect_with_defaults()
                .map_err(|e| format!("cannot reach the Docker engine: {e}"))?;
            let d = tokio::time::timeout(Duration::from_secs(10), d.negotiate_version())
                .await
                .map_err(|_| "the Docker engine did not answer within 10 s".to_string())?
                .map_err(|e| format!("the Docker engine is unreachable: {e}"))?;
            d.ping()
                .await
                .map_err(|e| format!("the Docker engine is unreachable: {e}"))?;
            Ok::<_, String>(d)
        })?;
        let engine = Engine {
            rt,
            docker,
            log: Arc::default(),
            notify: Arc::new(Notify::new()),
            run_label,
        };
        engine.subscribe();
        Ok(engine)
    }

    fn subscribe(&self) {
        let since = crate::util::now_ns() - 1_000_000_000;
        let opts = EventsOptions {
            since: Some(format!(
                "{}.{:09}",
                since / 1_000_000_000,
                since % 1_000_000_000
            )),
            until: None,
            filters: Some(HashMap::from([
                ("type".to_string(), vec!["container".to_string()]),
                (
                    "label".to_string(),
                    vec![format!("{}={}", self.run_label.0, self.run_label.1)],
                ),
            ])),
        };
        let docker = self.docker.clone();
        let log = self.log.clone();
        let notify = self.notify.clone();
        self.rt.spawn(async move {
            let mut stream = docker.events(Some(opts));
            let why = loop {
                match stream.next().await {
                    Some(Ok(m)) => {
                        let actor = m.actor.unwrap_or_default();
                        let attrs = actor.attributes.unwrap_or_default();
                        let Some(name) = attrs.get("name").cloned() else {
                            continue;
                        };
                        let ev = Event {
                            action: m.action.unwrap_or_default(),
                            id: actor.id.unwrap_or_default(),
                            time_ns: m.time_nano.unwrap_or(0),
                        };
                        lock(&log).by_name.entry(name).or_default().push(ev);
                        notify.notify_waiters();
                    }
                    Some(Err(e)) => break format!("Docker event stream failed: {e}"),
                    None => break "Docker event stream ended".to_string(),
                }
            };
            lock(&log).broken = Some(why);
            notify.notify_waiters();
        });
    }

    /// `key=value` of the run label.
    pub fn run_label(&self) -> String {
        format!("{}={}", self.run_label.0, self.run_label.1)
    }

    /// The first `action` event of container `name` stamped at or after `after_ns`,
    /// waiting up to `within` for it.
    pub fn wait_event(
        &self,
        name: &str,
        action: &str,
        after_ns: i64,
        within: Duration,
    ) -> Result<Event, String> {
        let find = || {
            let log = lock(&self.log);
            let hit = log.by_name.get(name).and_then(|evs| {
                evs.iter()
                    .find(|e| e.action == action && e.time_ns >= after_ns)
                    .cloned()
            });
            (hit, log.broken.clone())
        };
        self.rt.block_on(async {
            let deadline = tokio::time::Instant::now() + within;
            loop {
                let notified = self.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match find() {
                    (Some(ev), _) => return Ok(ev),
                    (None, Some(broken)) => return Err(broken),
                    (None, None) => {}
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return Err(format!(
                        "no `{action}` event for container {name} within {within:?}"
                    ));
                }
            }
        })
    }

    /// Every event of container `name` stamped at or after `after_ns`.
    pub fn events_of(&self, name: &str, after_ns: i64) -> Vec<Event> {
        lock(&self.log)
            .by_name
            .get(name)
            .map(|evs| {
                evs.iter()
                    .filter(|e| e.time_ns >= after_ns)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `action` events stamped at or after `after_ns` of every container whose
    /// name starts with `prefix`, one per container (its first).
    pub fn events_with_prefix(&self, prefix: &str, action: &str, after_ns: i64) -> Vec<Event> {
        lock(&self.log)
            .by_name
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .filter_map(|(_, evs)| {
                evs.iter()
                    .find(|e| e.action == action && e.time_ns >= after_ns)
                    .cloned()
            })
            .collect()
    }

    pub fn server_version(&self) -> String {
        self.rt
            .block_on(self.docker.version())
            .ok()
            .map(|v| {
                format!(
                    "{} (API {})",
                    v.version.unwrap_or_default(),
                    v.api_version.unwrap_or_default()
                )
            })
            .unwrap_or_else(|| "unknown".into())
    }

    /// The creation body of a reference container: the same image, hostname, exposed
    /// port and as many labels as K1s gives a pod's container.
    pub fn raw_body(&self, name: &str, image: &str, side: &str) -> ContainerCreateBody {
        let labels = HashMap::from([
            (self.run_label.0.clone(), self.run_label.1.clone()),
            ("k1sbench-side".to_string(), side.to_string()),
            ("bench.k1s.test/marker".to_string(), "raw".to_string()),
            ("bench.k1s.test/instance".to_string(), "0".repeat(32)),
            ("bench.k1s.test/pod".to_string(), name.to_string()),
            (
                "bench.k1s.test/uid".to_string(),
                "00000000-0000-0000-0000-000000000000".to_string(),
            ),
        ]);
        ContainerCreateBody {
            image: Some(image.to_string()),
            hostname: Some(name.to_string()),
            labels: Some(labels),
            exposed_ports: Some(vec!["80/tcp".to_string()]),
            host_config: Some(HostConfig::default()),
            ..Default::default()
        }
    }

    /// `POST /containers/create` then `POST /containers/{id}/start`.
    pub fn create_and_start(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, String> {
        self.rt.block_on(async {
            let opts = CreateContainerOptions {
                name: Some(name.to_string()),
                ..Default::default()
            };
            let id = self
                .docker
                .create_container(Some(opts), body)
                .await
                .map_err(|e| format!("create container {name}: {e}"))?
                .id;
            self.docker
                .start_container(&id, None::<StartContainerOptions>)
                .await
                .map_err(|e| format!("start container {name}: {e}"))?;
            Ok(id)
        })
    }

    /// Creates and starts one container per name, `concurrency` at a time (as a
    /// client with that many threads would). Returns their ids.
    pub fn create_and_start_many(
        &self,
        names: &[String],
        image: &str,
        concurrency: usize,
    ) -> Result<Vec<String>, String> {
        self.rt.block_on(async {
            let results: Vec<Result<String, String>> =
                futures_util::stream::iter(names.iter().map(|name| {
                    let body = self.raw_body(name, image, "raw");
                    async move {
                        let opts = CreateContainerOptions {
                            name: Some(name.clone()),
                            ..Default::default()
                        };
                        let id = self
                            .docker
                            .create_container(Some(opts), body)
                            .await
                            .map_err(|e| format!("create container {name}: {e}"))?
                            .id;
                        self.docker
                            .start_container(&id, None::<StartContainerOptions>)
                            .await
                            .map_err(|e| format!("start container {name}: {e}"))?;
                        Ok(id)
                    }
                }))
                .buffer_unordered(concurrency)
                .collect()
                .await;
            results.into_iter().collect()
        })
    }

    /// `DELETE /containers/{id}?force=true` (SIGKILL, then removal).
    pub fn force_remove(&self, id: &str) -> Result<(), String> {
        self.rt.block_on(async {
            self.docker
                .remove_container(
                    id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        link: false,
                    }),
                )
                .await
                .map_err(|e| format!("remove container {id}: {e}"))
        })
    }

    /// Force-removes every id, `concurrency` at a time (as a client with that many
    /// threads would).
    pub fn force_remove_many(&self, ids: &[String], concurrency: usize) -> Result<(), String> {
        self.rt.block_on(async {
            let results: Vec<Result<(), String>> =
                futures_util::stream::iter(ids.iter().map(|id| async move {
                    self.docker
                        .remove_container(
                            id,
                            Some(RemoveContainerOptions {
                                force: true,
                                v: true,
                                link: false,
                            }),
                        )
                        .await
                        .map_err(|e| format!("remove container {id}: {e}"))
                }))
                .buffer_unordered(concurrency)
                .collect()
                .await;
            results.into_iter().collect()
        })
    }

    /// What K1s does to delete a pod's container: stop (SIGTERM, SIGKILL after the
    /// grace period), then a forced removal.
    pub fn stop_then_remove(&self, id: &str, grace_secs: i32) -> Result<(), String> {
        self.rt.block_on(async {
            let opts = StopContainerOptions {
                t: Some(grace_secs),
                signal: None,
            };
            self.docker
                .stop_container(id, Some(opts))
                .await
                .map_err(|e| format!("stop container {id}: {e}"))
        })?;
        self.force_remove(id)
    }

    /// `POST /containers/{id}/start`.
    pub fn start(&self, id: &str) -> Result<(), String> {
        self.rt.block_on(async {
            self.docker
                .start_container(id, None::<StartContainerOptions>)
                .await
                .map_err(|e| format!("start container {id}: {e}"))
        })
    }

    /// `POST /containers/{id}/kill` with SIGKILL.
    pub fn kill(&self, id: &str) -> Result<(), String> {
        self.rt.block_on(async {
            self.docker
                .kill_container(
                    id,
                    Some(KillContainerOptions {
                        signal: "SIGKILL".to_string(),
                    }),
                )
                .await
                .map_err(|e| format!("kill container {id}: {e}"))
        })
    }

    /// Ids and names of every container (running or not) carrying all these labels
    /// (`key=value`).
    pub fn containers_with(&self, labels: &[String]) -> Result<Vec<(String, String)>, String> {
        self.rt.block_on(async {
            let opts = ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([("label".to_string(), labels.to_vec())])),
                ..Default::default()
            };
            let list = self
                .docker
                .list_containers(Some(opts))
                .await
                .map_err(|e| format!("list containers: {e}"))?;
            Ok(list
                .into_iter()
                .map(|c| {
                    let name = c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string();
                    (c.id.unwrap_or_default(), name)
                })
                .collect())
        })
    }

    /// Every container (running or not) carrying all these labels: (id, name, state),
    /// state as the engine says it (`running`, `exited`, `created`…).
    pub fn containers_state(&self, labels: &[String]) -> Result<Vec<Container>, String> {
        self.rt.block_on(async {
            let opts = ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([("label".to_string(), labels.to_vec())])),
                ..Default::default()
            };
            let list = self
                .docker
                .list_containers(Some(opts))
                .await
                .map_err(|e| format!("list containers: {e}"))?;
            Ok(list
                .into_iter()
                .map(|c| Container {
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    id: c.id.unwrap_or_default(),
                    running: matches!(c.state, Some(ContainerSummaryStateEnum::RUNNING)),
                })
                .collect())
        })
    }

    /// Force-removes every container of this run (the reference ones and the pods'
    /// containers, which carry the run label as a pod label). Returns how many.
    pub fn clean_up(&self) -> usize {
        let Ok(list) = self.containers_with(&[self.run_label()]) else {
            return 0;
        };
        list.iter()
            .filter(|(id, _)| self.force_remove(id).is_ok())
            .count()
    }
}
