//! The Docker engine behind [`ContainerRuntime`], through bollard over the local socket
//! (or `DOCKER_HOST`).

use std::collections::{BTreeMap, HashMap};

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, InspectContainerOptions,
    ListContainersOptions, LogsOptions, RemoveContainerOptions, StartContainerOptions,
    StatsOptions, StopContainerOptions,
};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt, TryStreamExt};

use super::{
    ContainerEvent, ContainerInfo, ContainerRuntime, ContainerSpec, ContainerState, HostInfo,
    LogQuery, Result, RuntimeError, StatsSample,
};

/// A connection to the Docker engine.
pub struct Docker {
    // None until the socket could be opened: an engine that is down at start-up
    // must not keep K1s from starting (docs/decisions.md, "Docker engine").
    client: std::sync::RwLock<Option<bollard::Docker>>,
    negotiated: std::sync::atomic::AtomicBool,
}

impl Docker {
    /// A client of the local engine (`DOCKER_HOST` or the default socket). Nothing is
    /// required of the engine yet: the connection and the API version negotiation
    /// (bollard speaks a newer API than this machine's engine, 1.41, and nothing works
    /// without it) happen on the first successful ping, and again after a failure.
    pub async fn connect() -> Result<Docker> {
        let docker = Docker {
            client: std::sync::RwLock::new(None),
            negotiated: std::sync::atomic::AtomicBool::new(false),
        };
        let _ = docker.negotiate().await;
        Ok(docker)
    }

    fn client(&self) -> Result<bollard::Docker> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                RuntimeError::Unavailable("not connected to the Docker engine yet".into())
            })
    }

    async fn negotiate(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.negotiated.load(Ordering::Acquire) {
            return Ok(());
        }
        let base = bollard::Docker::connect_with_defaults().map_err(classify)?;
        let c = base.negotiate_version().await.map_err(classify)?;
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = Some(c);
        self.negotiated.store(true, Ordering::Release);
        Ok(())
    }
}

/// Maps bollard's errors onto the distinctions callers act on.
fn classify(e: BollardError) -> RuntimeError {
    match e {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 => RuntimeError::NotFound(message),
            409 => RuntimeError::Conflict(message),
            400 => RuntimeError::Refused(message),
            _ => RuntimeError::Other(message),
        },
        BollardError::IOError { .. }
        | BollardError::HyperResponseError { .. }
        | BollardError::SocketNotFoundError(_)
        | BollardError::RequestTimeoutError => RuntimeError::Unavailable(e.to_string()),
        other => RuntimeError::Other(other.to_string()),
    }
}

/// "no such container" and "removal already in progress" count as done on our removals.
fn gone_is_ok(r: std::result::Result<(), BollardError>) -> Result<()> {
    match r.map_err(classify) {
        Ok(()) | Err(RuntimeError::NotFound(_)) => Ok(()),
        Err(RuntimeError::Conflict(m)) if m.contains("in progress") => Ok(()),
        Err(e) => Err(e),
    }
}

fn inspect_to_info(c: bollard::models::ContainerInspectResponse) -> ContainerInfo {
    let state = c.state.unwrap_or_default();
    let labels = c
        .config
        .as_ref()
        .and_then(|cfg| cfg.labels.clone())
        .unwrap_or_default()
        .into_iter()
        .collect::<BTreeMap<_, _>>();
    let ip = c
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|nets| {
            // The default bridge first; otherwise whichever network has an address.
            let mut addrs: Vec<(bool, String)> = nets
                .into_iter()
                .filter_map(|(name, ep)| {
                    ep.ip_address
                        .filter(|a| !a.is_empty())
                        .map(|a| (name != "bridge", a))
                })
                .collect();
            addrs.sort();
            addrs.into_iter().next().map(|(_, a)| a)
        });
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty() && !s.starts_with("0001-"));
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: c
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        labels,
        state: ContainerState {
            status: state
                .status
                .map(|s| s.to_string())
                .unwrap_or_default()
                .to_lowercase(),
            exit_code: state.exit_code.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            started_at: non_empty(state.started_at),
            finished_at: non_empty(state.finished_at),
            error: state.error.filter(|e| !e.is_empty()),
        },
        ip,
        image_id: c.image,
        created: c.created,
    }
}

fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &spec.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        if let Some(hp) = p.host_port {
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: p.host_ip.clone(),
                    host_port: Some(hp.to_string()),
                });
        }
    }
    let host_config = HostConfig {
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        nano_cpus: spec.nano_cpus,
        cpu_shares: spec.cpu_shares,
        memory: spec.memory,
        memory_reservation: spec.memory_reservation,
        readonly_rootfs: spec.read_only_rootfs.then_some(true),
        cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
        cap_drop: (!spec.cap_drop.is_empty()).then(|| spec.cap_drop.clone()),
        privileged: spec.privileged.then_some(true),
        mounts: (!spec.mounts.is_empty()).then(|| {
            spec.mounts
                .iter()
                .map(|m| Mount {
                    target: Some(m.target.clone()),
                    source: Some(m.source.clone()),
                    typ: Some(MountType::BIND),
                    read_only: Some(m.read_only),
                    ..Default::default()
                })
                .collect()
        }),
        // No restart policy and no AutoRemove: restarts are K1s's job (count, backoff),
        // and an exited container must stay for its logs and exit code.
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        hostname: spec.hostname.clone(),
        labels: Some(spec.labels.clone().into_iter().collect()),
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.cmd.clone(),
        env: (!spec.env.is_empty()).then(|| spec.env.clone()),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        tty: spec.tty.then_some(true),
        open_stdin: spec.stdin.then_some(true),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(host_config),
        ..Default::default()
    }
}

impl ContainerRuntime for Docker {
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        async move {
            self.negotiate().await?;
            self.client()?.ping().await.map(|_| ()).map_err(classify)
        }
        .boxed()
    }

    fn info(&self) -> BoxFuture<'_, Result<HostInfo>> {
        async move {
            let info = self.client()?.info().await.map_err(classify)?;
            Ok(HostInfo {
                ncpu: info.ncpu.unwrap_or(1),
                mem_total: info.mem_total.unwrap_or(0),
            })
        }
        .boxed()
    }

    fn image_id<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        async move {
            match self.client()?.inspect_image(image).await.map_err(classify) {
                Ok(i) => Ok(Some(i.id.unwrap_or_default())),
                Err(RuntimeError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        }
        .boxed()
    }

    fn pull<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            // Docker pulls every tag of a repository when no tag is given.
            let reference = if has_tag_or_digest(image) {
                image.to_string()
            } else {
                format!("{image}:latest")
            };
            let opts = CreateImageOptions {
                from_image: Some(reference),
                ..Default::default()
            };
            let mut s = self.client()?.create_image(Some(opts), None, None);
            while let Some(item) = s.next().await {
                let item = item.map_err(classify)?;
                if let Some(err) = item.error_detail.and_then(|d| d.message) {
                    return Err(RuntimeError::Other(err));
                }
            }
            Ok(())
        }
        .boxed()
    }

    fn create<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, Result<String>> {
        async move {
            let opts = CreateContainerOptions {
                name: Some(spec.name.clone()),
                ..Default::default()
            };
            let r = self
                .client()?
                .create_container(Some(opts), create_body(spec))
                .await
                .map_err(classify)?;
            Ok(r.id)
        }
        .boxed()
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            self.client()?
                .start_container(id, None::<StartContainerOptions>)
                .await
                .map_err(classify)
        }
        .boxed()
    }

    fn stop<'a>(&'a self, id: &'a str, grace_secs: i64) -> BoxFuture<'a, Result<()>> {
        async move {
            let opts = StopContainerOptions {
                t: Some(grace_secs.clamp(0, i32::MAX as i64) as i32),
                signal: None,
            };
            // The engine answers a stop only once the container stopped: the request
            // must outlive the grace period (bollard's default timeout is 120 s).
            let mut client = self.client()?;
            client.set_timeout(std::time::Duration::from_secs(
                (grace_secs.max(0) as u64).saturating_add(30).max(120),
            ));
            match client.stop_container(id, Some(opts)).await {
                // 304: already stopped.
                Err(BollardError::DockerResponseServerError {
                    status_code: 304, ..
                }) => Ok(()),
                r => gone_is_ok(r),
            }
        }
        .boxed()
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            let opts = RemoveContainerOptions {
                force: true,
                v: true,
                link: false,
            };
            gone_is_ok(self.client()?.remove_container(id, Some(opts)).await)
        }
        .boxed()
    }

    fn inspect<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ContainerInfo>>> {
        async move {
            match self
                .client()?
                .inspect_container(id, None::<InspectContainerOptions>)
                .await
                .map_err(classify)
            {
                Ok(c) => Ok(Some(inspect_to_info(c))),
                Err(RuntimeError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        }
        .boxed()
    }

    fn list<'a>(
        &'a self,
        labels: &'a [(&'a str, Option<&'a str>)],
    ) -> BoxFuture<'a, Result<Vec<ContainerInfo>>> {
        async move {
            let filter: Vec<String> = labels
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.to_string(),
                })
                .collect();
            let opts = ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([("label".to_string(), filter)])),
                ..Default::default()
            };
            let summaries = self
                .client()?
                .list_containers(Some(opts))
                .await
                .map_err(classify)?;
            let out = summaries
                .into_iter()
                .filter_map(|s| {
                    Some(ContainerInfo {
                        id: s.id?,
                        name: s
                            .names
                            .and_then(|n| n.into_iter().next())
                            .unwrap_or_default()
                            .trim_start_matches('/')
                            .to_string(),
                        labels: s.labels.unwrap_or_default().into_iter().collect(),
                        state: ContainerState {
                            status: s.state.map(|s| s.to_string()).unwrap_or_default(),
                            ..Default::default()
                        },
                        ..Default::default()
                    })
                })
                .collect();
            Ok(out)
        }
        .boxed()
    }

    fn logs<'a>(
        &'a self,
        id: &'a str,
        tail: u32,
        since_unix: i64,
    ) -> BoxFuture<'a, Result<String>> {
        async move {
            let opts = LogsOptions {
                stdout: true,
                stderr: true,
                tail: tail.to_string(),
                since: since_unix.clamp(0, i32::MAX as i64) as i32,
                ..Default::default()
            };
            let chunks: Vec<_> = self
                .client()?
                .logs(id, Some(opts))
                .try_collect()
                .await
                .map_err(classify)?;
            let mut out = String::new();
            for c in chunks {
                out.push_str(&String::from_utf8_lossy(c.as_ref()));
            }
            Ok(out)
        }
        .boxed()
    }

    fn follow_logs<'a>(
        &'a self,
        id: &'a str,
        since_unix: i64,
        tail: u32,
    ) -> BoxStream<'a, Result<String>> {
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return futures_util::stream::once(async move { Err(e) }).boxed(),
        };
        let opts = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            tail: tail.to_string(),
            since: since_unix.clamp(0, i32::MAX as i64) as i32,
            ..Default::default()
        };
        client
            .logs(id, Some(opts))
            .map(|r| {
                r.map(|c| String::from_utf8_lossy(c.as_ref()).into_owned())
                    .map_err(classify)
            })
            .boxed()
    }

    fn read_logs<'a>(&'a self, id: &'a str, q: LogQuery) -> BoxStream<'a, Result<String>> {
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return futures_util::stream::once(async move { Err(e) }).boxed(),
        };
        let secs = |t: i64| t.clamp(0, i32::MAX as i64) as i32;
        let opts = LogsOptions {
            follow: q.follow,
            stdout: true,
            stderr: true,
            since: secs(q.since_unix),
            until: q.until_unix.map_or(0, secs),
            timestamps: q.timestamps,
            tail: q.tail.map_or_else(|| "all".to_string(), |n| n.to_string()),
        };
        client
            .logs(id, Some(opts))
            .map(|r| {
                r.map(|c| String::from_utf8_lossy(c.as_ref()).into_owned())
                    .map_err(classify)
            })
            .boxed()
    }

    fn events<'a>(
        &'a self,
        label: &'a str,
        value: &'a str,
    ) -> BoxStream<'a, Result<ContainerEvent>> {
        let opts = EventsOptions {
            filters: Some(HashMap::from([
                ("type".to_string(), vec!["container".to_string()]),
                ("label".to_string(), vec![format!("{label}={value}")]),
            ])),
            ..Default::default()
        };
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return futures_util::stream::once(async move { Err(e) }).boxed(),
        };
        client
            .events(Some(opts))
            .map(|r| {
                let m = r.map_err(classify)?;
                let actor = m.actor.unwrap_or_default();
                Ok(ContainerEvent {
                    id: actor.id.unwrap_or_default(),
                    action: m.action.unwrap_or_default(),
                    labels: actor.attributes.unwrap_or_default().into_iter().collect(),
                    time_nano: m.time_nano.unwrap_or(0),
                })
            })
            .boxed()
    }

    fn stats<'a>(&'a self, id: &'a str) -> BoxStream<'a, Result<StatsSample>> {
        let opts = StatsOptions {
            stream: true,
            one_shot: false,
        };
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return futures_util::stream::once(async move { Err(e) }).boxed(),
        };
        client
            .stats(id, Some(opts))
            .map(|r| {
                let s = r.map_err(classify)?;
                let cpu = s.cpu_stats.unwrap_or_default();
                let usage = cpu.cpu_usage.unwrap_or_default();
                let online = cpu.online_cpus.filter(|n| *n > 0).unwrap_or_else(|| {
                    usage
                        .percpu_usage
                        .as_ref()
                        .map(|v| v.len() as u32)
                        .unwrap_or(1)
                        .max(1)
                });
                let mem = s.memory_stats.unwrap_or_default();
                let inactive = mem
                    .stats
                    .as_ref()
                    .and_then(|m| {
                        // cgroup v1 reports total_inactive_file, v2 inactive_file: what
                        // `docker stats` subtracts.
                        m.get("total_inactive_file")
                            .or_else(|| m.get("inactive_file"))
                            .copied()
                    })
                    .unwrap_or(0);
                let usage_mem = mem.usage.unwrap_or(0);
                Ok(StatsSample {
                    cpu_total_ns: usage.total_usage.unwrap_or(0),
                    system_ns: cpu.system_cpu_usage.unwrap_or(0),
                    online_cpus: online,
                    memory_bytes: usage_mem.saturating_sub(inactive),
                })
            })
            .boxed()
    }
}

/// Whether a reference names a tag or digest (a `:` after the last `/`, or `@`).
fn has_tag_or_digest(image: &str) -> bool {
    image.contains('@')
        || image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests_are_recognised() {
        assert!(has_tag_or_digest("nginx:1.25"));
        assert!(has_tag_or_digest("localhost:5000/app:v1"));
        assert!(!has_tag_or_digest("localhost:5000/app"));
        assert!(!has_tag_or_digest("nginx"));
        assert!(has_tag_or_digest("nginx@sha256:abcd"));
    }

    #[test]
    fn ports_become_exposed_and_published() {
        let spec = ContainerSpec {
            name: "p".into(),
            image: "i".into(),
            ports: vec![
                super::super::PortSpec {
                    container_port: 80,
                    protocol: "tcp".into(),
                    host_port: Some(8081),
                    host_ip: None,
                },
                super::super::PortSpec {
                    container_port: 53,
                    protocol: "udp".into(),
                    host_port: None,
                    host_ip: None,
                },
            ],
            ..Default::default()
        };
        let body = create_body(&spec);
        let exposed = body.exposed_ports.unwrap();
        assert!(exposed.contains(&"80/tcp".to_string()) && exposed.contains(&"53/udp".to_string()));
        let hc = body.host_config.unwrap();
        let b = hc.port_bindings.unwrap();
        assert_eq!(
            b["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("8081")
        );
        assert!(!b.contains_key("53/udp"));
        assert!(hc.restart_policy.is_none() && hc.auto_remove.is_none());
    }
}
