//! Pods: `add_pod`, `remove_pod`, `get_pod`, `list_pods`, and the pod shapes.

use super::*;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// The pod shape (docs/decisions.md, "Result shapes").
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
    pub owner_references: Vec<OwnerReference>,
}

/// CPU and memory of a pod, from the metrics cache.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsView {
    /// Percent of one CPU (100 = one CPU); null until the first two samples.
    pub cpu_percent: Option<f64>,
    /// Working-set bytes; null until the first sample.
    pub memory_bytes: Option<u64>,
}

/// The podExtra shape (docs/decisions.md, "Result shapes").
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDetails {
    /// The pod shape.
    #[serde(flatten)]
    pub pod: PodView,
    /// Container state (`{"running": …}`, `{"waiting": {"reason": …}}`, …).
    pub state: ContainerState,
    /// The previous run's state, if any.
    pub last_state: ContainerState,
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
    pub spec: PodSpec,
    /// The pod's full status.
    #[serde(rename = "podStatus")]
    pub pod_status: PodStatus,
}

/// Annotation holding admission warnings, so `get_pod` can show them later.
const ANNOTATION_WARNINGS: &str = "k1s.io/warnings";

impl K1s {
    /// `add_pod(spec)`: validates, checks the engine and the name, stores the pod and
    /// waits (bounded) for its container.
    pub async fn add_pod(&self, value: Value) -> Result<Created<PodDetails>, CoreError> {
        let host = self.host_limits().await;
        let admitted = model::pod::admit_pod(value, &host, &self.admission())?;
        let mut pod = admitted.object;
        let warnings = admitted.warnings;
        let name = self.name_new_object(&mut pod.metadata)?;
        self.runtime.ping().await?;
        self.check_name_free(&name).await?;
        // Host ports are checked against the stored pods and then claimed by storing
        // this one: two POSTs must not both pass the check before either is stored.
        let admission = self.host_port_admission.lock().await;
        self.check_host_ports(&pod)?;

        if !warnings.is_empty() {
            pod.metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(
                    ANNOTATION_WARNINGS.into(),
                    serde_json::to_string(&warnings).unwrap_or_default(),
                );
        }
        // The first container only runs: say so in the status too (docs/decisions.md,
        // "One container per pod").
        let ignored: Vec<&str> = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter().skip(1))
            .map(|c| c.name.as_str())
            .collect();
        pod.status = Some(PodStatus {
            phase: Some("Pending".into()),
            qos_class: Some(qos_class(&pod).into()),
            message: (!ignored.is_empty()).then(|| {
                format!(
                    "K1s runs only the first container of a pod; ignored: {}",
                    ignored.join(", ")
                )
            }),
            ..Default::default()
        });

        let outcome = self.agent.expect(&name);
        let stored = match self.store.create(pod, Source::Api).await {
            Ok(o) => o,
            Err(e) => {
                drop(outcome);
                self.agent.forget_expectation(&name);
                return Err(e.into());
            }
        };
        drop(admission);
        self.agent.enqueue(&name);
        let waited = tokio::time::timeout(self.config.create_wait, outcome).await;
        // Answered one way or the other: a later refusal must not roll back a pod the
        // client was told exists.
        self.agent.forget_expectation(&name);
        match waited {
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
            .get::<Pod>(&name)
            .filter(|o| o.uid() == stored.uid())
            .unwrap_or(stored);
        let details = self.details_of(latest, Some(0)).await;
        Ok(Created {
            object: details,
            warnings,
        })
    }

    async fn check_name_free(&self, name: &str) -> Result<(), CoreError> {
        if let Some(existing) = self.store.get::<Pod>(name) {
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

    /// Two pods may not publish the same host port (409 at admission;
    /// docs/decisions.md, "Network").
    fn check_host_ports(&self, pod: &Pod) -> Result<(), CoreError> {
        let wanted = host_ports(pod);
        if wanted.is_empty() {
            return Ok(());
        }
        // Only pods that publish host ports are looked at, without copies.
        let taken = self.store.scan(|other: &Pod| {
            let ports = host_ports(other);
            (!other.is_finished() && !ports.is_empty()).then(|| (other.name().to_string(), ports))
        });
        for (other, ports) in taken {
            for (port, proto, ip) in ports {
                for (wp, wproto, wip) in &wanted {
                    let ips_overlap = ip.is_empty() || wip.is_empty() || ip == *wip;
                    if port == *wp && proto == *wproto && ips_overlap {
                        return Err(CoreError::Conflict(format!(
                            "hostPort {port}/{proto} is already used by pod \"{other}\""
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
        let current = self.store.get::<Pod>(name).ok_or_else(not_found)?;
        if current.is_deleting() {
            return Err(not_found());
        }
        let uid = current.uid().to_string();
        let now = self.clock.time();
        let obj = self
            .store
            .update::<Pod>(name, Source::Api, move |p| {
                p.uid() == uid && rsc::mark_deleted(p, now)
            })
            .await?;
        self.agent.settle_creates(&[name.to_string()]).await;
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
            .get::<Pod>(name)
            .filter(|o| !o.is_deleting())
            .ok_or_else(|| CoreError::NotFound {
                kind: "pod",
                name: name.to_string(),
            })?;
        Ok(self.details_of(obj, tail_lines).await)
    }

    async fn details_of(&self, pod: Pod, tail_lines: Option<u32>) -> PodDetails {
        let view = pod_view(&pod);
        let cs = pod.container_status().cloned().unwrap_or_default();
        let tail = tail_lines.unwrap_or(1000);
        let logs = match (&view.id, tail) {
            (_, 0) | (None, _) => String::new(),
            (Some(id), tail) => self.logs_of(id, &cs, tail).await,
        };
        let usage = view.id.as_deref().and_then(|id| self.metrics.latest(id));
        let warnings = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_WARNINGS))
            .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
            .unwrap_or_default();
        PodDetails {
            state: cs.state.clone().unwrap_or_default(),
            last_state: cs.last_state.clone().unwrap_or_default(),
            image_id: Some(cs.image_id.clone()).filter(|s| !s.is_empty()),
            start_time: pod
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| crate::util::format_time(&t.0)),
            restart_policy: pod
                .spec
                .as_ref()
                .and_then(|s| s.restart_policy.clone())
                .unwrap_or_else(|| "Always".into()),
            logs,
            stats: StatsView {
                cpu_percent: usage
                    .and_then(|u| u.cpu_percent)
                    .map(|c| (c * 100.0).round() / 100.0),
                memory_bytes: usage.map(|u| u.memory_bytes),
            },
            warnings,
            events: self.events.of(Kind::Pod, pod.name()),
            pod: view,
            spec: pod.spec.unwrap_or_default(),
            pod_status: pod.status.unwrap_or_default(),
        }
    }

    /// The last `tail` lines of the container's current run: from the log cache, or
    /// (longer tails, a run K1s did not follow) from the engine, bounded in time.
    async fn logs_of(&self, id: &str, cs: &ContainerStatus, tail: u32) -> String {
        // The current run, or while waiting to restart, the run that just ended.
        let started = crate::model::status::current_run_start(cs);
        let state = cs.state.as_ref();
        let ended = state.is_none_or(|s| s.running.is_none());
        let since = started.map_or(0, |t| t.0.as_second());
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
        self.store.scan(|p: &Pod| {
            (!p.is_deleting() && model::labels::matches(p.labels(), selector)).then(|| pod_view(p))
        })
    }
}

/// The pod shape of a stored pod.
pub fn pod_view(p: &Pod) -> PodView {
    PodView {
        name: p.name().to_string(),
        uid: p.uid().to_string(),
        id: p.container_id().map(str::to_string),
        image: p.image().to_string(),
        status: p.phase().to_string(),
        reason: p.state_reason().map(str::to_string),
        labels: p.labels().clone(),
        addr: p.pod_ip().map(str::to_string),
        restart_count: i64::from(p.restart_count()),
        creation_timestamp: p.created(),
        owner_references: p.metadata.owner_references.clone().unwrap_or_default(),
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

/// The REST front door's pod operations.
pub struct PodOps;

impl KindOps for PodOps {
    fn create<'a>(
        &'a self,
        k1s: &'a K1s,
        body: Value,
    ) -> BoxFuture<'a, Result<Created<Json>, CoreError>> {
        Box::pin(async move { Json::of_created(k1s.add_pod(body).await?) })
    }

    fn list(&self, k1s: &K1s, selector: &BTreeMap<String, String>) -> Result<Json, CoreError> {
        Json::of(&k1s.list_pods(selector))
    }

    fn get<'a>(
        &'a self,
        k1s: &'a K1s,
        name: &'a str,
        opts: GetOptions,
    ) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.get_pod(name, opts.tail_lines).await?) })
    }

    fn delete<'a>(&'a self, k1s: &'a K1s, name: &'a str) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.remove_pod(name).await?) })
    }
}
