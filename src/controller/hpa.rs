//! The HorizontalPodAutoscaler controller: every sync period (and whenever an HPA
//! changes) it reads the target ReplicaSet's pods' usage (averaged over the sync
//! period), asks the replica calculator for a proposal per metric, takes the largest,
//! applies the behaviour (stabilization, policies, bounds), and sets the ReplicaSet's
//! replicas through the same path a user's scale takes. Problems (no target, no
//! metrics) become conditions and events, never a crash loop.
//!
//! The split is Kubernetes': [`pod_samples`] (pods and usage → what the calculator
//! sees) and [`decide`] (samples, history, `now` → the decision) are pure and
//! table-tested; [`Autoscalers::reconcile`] reads the store, calls them, scales through
//! a [`Scaler`] and writes the status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::autoscaling::v2::{
    HPAScalingRules, HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition,
    HorizontalPodAutoscalerSpec, HorizontalPodAutoscalerStatus, MetricSpec, MetricStatus,
    MetricValueStatus, ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::time::Instant;

use super::replica_calculator::{
    self as calc, Behavior, History, Limit, PodSample, Policy, PolicyKind, Rules, Select, Target,
};
use super::replicaset::{controller_uid, desired_replicas};
use crate::events::Events;
use crate::model::quantity::{cpu_millis, memory_bytes};
use crate::model::status::PodExt;
use crate::reconcile::{Action, Clock, Controller, Reconciler};
use crate::runtime::metrics::{Metrics, Usage};
use crate::store::{Kind, MetaExt, Source, Store, StoreError};

/// Sets a ReplicaSet's replica count (the core's scale path).
pub trait Scaler: Send + Sync + 'static {
    /// Scales `rs` to `replicas`; the error is shown in the HPA's conditions.
    fn scale(&self, rs: &str, replicas: i32) -> BoxFuture<'_, Result<(), String>>;
}

/// Where the controller reads a container's usage averaged over a window.
pub trait UsageSource: Send + Sync + 'static {
    /// The average usage of container `id` over the last `window`.
    fn average(&self, id: &str, window: Duration) -> Option<Usage>;
}

impl UsageSource for Metrics {
    fn average(&self, id: &str, window: Duration) -> Option<Usage> {
        Metrics::average(self, id, window)
    }
}

/// The behaviour of a spec with Kubernetes' defaults filled in per direction.
pub fn behavior_of(spec: &HorizontalPodAutoscalerSpec) -> Behavior {
    let d = Behavior::default();
    let rules = |r: Option<&HPAScalingRules>, default: Rules| -> Rules {
        let Some(r) = r else { return default };
        Rules {
            window: r
                .stabilization_window_seconds
                .map(|s| Duration::from_secs(s.max(0) as u64))
                .unwrap_or(default.window),
            select: match r.select_policy.as_deref() {
                Some("Min") => Select::Min,
                Some("Disabled") => Select::Disabled,
                _ => Select::Max,
            },
            policies: match r.policies.as_ref() {
                Some(ps) if !ps.is_empty() => ps
                    .iter()
                    .map(|p| Policy {
                        kind: if p.type_ == "Pods" {
                            PolicyKind::Pods
                        } else {
                            PolicyKind::Percent
                        },
                        value: p.value,
                        period: Duration::from_secs(p.period_seconds.max(1) as u64),
                    })
                    .collect(),
                _ => default.policies,
            },
        }
    };
    let b = spec.behavior.as_ref();
    Behavior {
        up: rules(b.and_then(|b| b.scale_up.as_ref()), d.up),
        down: rules(b.and_then(|b| b.scale_down.as_ref()), d.down),
    }
}

/// The calculator's view of `pods` for one resource (`cpu` or `memory`): readiness,
/// average usage over `window` (CPU in millicores, memory in bytes) and the request.
/// CPU utilization of a pod without a CPU request is a share of one full CPU (1000m).
pub fn pod_samples(
    pods: &[Pod],
    resource: &str,
    usage: &dyn UsageSource,
    window: Duration,
) -> Vec<PodSample> {
    let cpu = resource == "cpu";
    pods.iter()
        .map(|p| {
            let used = p
                .container_id()
                .and_then(|id| usage.average(id, window))
                .and_then(|u| {
                    if cpu {
                        u.cpu_percent.map(|c| c * 10.0)
                    } else {
                        Some(u.memory_bytes as f64)
                    }
                });
            let request = p
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .and_then(|c| c.resources.as_ref())
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get(resource))
                .and_then(|q| quantity(&q.0, cpu))
                .map(|v| v as f64);
            PodSample {
                ready: p.is_ready(),
                usage: used,
                request: if cpu {
                    Some(request.unwrap_or(1000.0))
                } else {
                    request
                },
            }
        })
        .collect()
}

fn quantity(q: &str, cpu: bool) -> Option<i64> {
    if cpu {
        cpu_millis(q).ok()
    } else {
        memory_bytes(q).ok()
    }
}

/// What one evaluation decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The replica count to set (equal to the current one: no change).
    pub desired: i32,
    /// The metrics as observed, for the status.
    pub metrics: Vec<MetricStatus>,
    /// `ScalingActive`: whether a count could be computed, its reason and message.
    pub active: (bool, &'static str, String),
    /// `ScalingLimited`, when a count was computed.
    pub limited: Option<Limit>,
}

/// One evaluation: `current` replicas, the samples of each metric of the spec (in the
/// spec's order; `None` for a metric K1s does not read), the HPA's history and `now`.
/// Pure: the history is the only thing it changes.
pub fn decide(
    spec: &HorizontalPodAutoscalerSpec,
    current: i32,
    samples: &[Option<Vec<PodSample>>],
    history: &mut Option<History>,
    now: Instant,
) -> Decision {
    let min = spec.min_replicas.unwrap_or(1);
    let max = spec.max_replicas;
    if current == 0 && min != 0 {
        return Decision {
            desired: 0,
            metrics: Vec::new(),
            active: (
                false,
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero".into(),
            ),
            limited: None,
        };
    }
    let mut proposals = Vec::new();
    let mut statuses = Vec::new();
    let mut errors = Vec::new();
    let metrics: &[MetricSpec] = spec.metrics.as_deref().unwrap_or_default();
    for (m, samples) in metrics.iter().zip(samples) {
        let (Some(res), Some(samples)) = (m.resource.as_ref(), samples) else {
            continue;
        };
        let cpu = res.name == "cpu";
        let t = &res.target;
        let target = match t.type_.as_str() {
            "AverageValue" => Target::AverageValue(
                t.average_value
                    .as_ref()
                    .and_then(|q| quantity(&q.0, cpu))
                    .unwrap_or(1) as f64,
            ),
            _ => Target::Utilization(t.average_utilization.unwrap_or(80)),
        };
        let name: &'static str = if cpu { "cpu" } else { "memory" };
        match calc::resource_replicas(current, samples, target, name) {
            Ok(p) => {
                proposals.push(p.replicas);
                let avg = if cpu {
                    format!("{}m", p.average.round() as i64)
                } else {
                    format!("{}", p.average.round() as i64)
                };
                statuses.push(MetricStatus {
                    type_: "Resource".into(),
                    resource: Some(ResourceMetricStatus {
                        name: res.name.clone(),
                        current: MetricValueStatus {
                            average_value: Some(Quantity(avg)),
                            average_utilization: p.utilization,
                            value: None,
                        },
                    }),
                    ..Default::default()
                });
            }
            Err(e) => errors.push(format!("failed to get {name} utilization: {e}")),
        }
    }
    let Some(mut proposal) = proposals.iter().copied().max() else {
        let msg = if errors.is_empty() {
            "no metrics".to_string()
        } else {
            errors.join("; ")
        };
        return Decision {
            desired: current.clamp(min, max),
            metrics: statuses,
            active: (
                false,
                "FailedGetResourceMetric",
                format!("the HPA was unable to compute the replica count: {msg}"),
            ),
            limited: (current < min || current > max).then_some(if current < min {
                Limit::TooFewReplicas
            } else {
                Limit::TooManyReplicas
            }),
        };
    };
    // Kubernetes: with a metric failing, never scale down on the others' word.
    if !errors.is_empty() && proposal < current {
        proposal = current;
    }
    let behavior = behavior_of(spec);
    let h = history.get_or_insert_with(|| History::starting_at(now, current));
    let (desired, limit) = if current > max {
        (max, Limit::TooManyReplicas)
    } else if current < min {
        (min, Limit::TooFewReplicas)
    } else {
        calc::normalize(current, proposal, min, max, &behavior, h, now)
    };
    Decision {
        desired,
        metrics: statuses,
        active: (
            true,
            "ValidMetricFound",
            "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)".into(),
        ),
        limited: Some(limit),
    }
}

/// The HPA controller's reconciler.
pub struct Autoscalers {
    store: Store,
    usage: Arc<dyn UsageSource>,
    events: Events,
    scaler: Arc<dyn Scaler>,
    clock: Clock,
    period: Duration,
    history: Mutex<HashMap<String, Option<History>>>,
}

/// The running controller; cheap to clone.
#[derive(Clone)]
pub struct HpaController {
    ctl: Controller<Autoscalers>,
}

impl Reconciler for Autoscalers {
    type Error = StoreError;
    const NAME: &'static str = "hpa";

    async fn reconcile(&self, name: &str) -> Result<Action, StoreError> {
        self.reconcile_hpa(name).await.map(|()| Action::Done)
    }
}

impl HpaController {
    /// A controller that does nothing until started (tests call `reconcile`).
    pub fn new(
        store: Store,
        usage: Arc<dyn UsageSource>,
        events: Events,
        scaler: Arc<dyn Scaler>,
        period: Duration,
        clock: Clock,
    ) -> HpaController {
        HpaController {
            ctl: Controller::new(Autoscalers {
                store,
                usage,
                events,
                scaler,
                clock,
                period,
                history: Mutex::default(),
            }),
        }
    }

    /// Starts the workers, the store watch and the sync ticker.
    pub fn start(self) -> HpaController {
        let r = self.ctl.reconciler();
        let watch = r.store.watch();
        self.ctl.run_workers(2);
        self.ctl.watch_store(
            watch,
            |_, ch| match ch.object_as::<HorizontalPodAutoscaler>() {
                // Its own status writes need no reaction.
                Some(h) if ch.source != Source::Autoscaler => vec![h.name().to_string()],
                _ => Vec::new(),
            },
            |r| r.store.names(Kind::HorizontalPodAutoscaler),
        );
        self.ctl
            .resync_every(r.period, |r| r.store.names(Kind::HorizontalPodAutoscaler));
        self
    }

    /// Asks for an HPA to be evaluated now.
    pub fn enqueue(&self, name: &str) {
        self.ctl.enqueue(name);
    }

    /// One evaluation of `name`, now (tests).
    pub async fn reconcile(&self, name: &str) -> Result<(), StoreError> {
        self.ctl.reconciler().reconcile_hpa(name).await
    }

    /// Forgets an HPA's history (it was deleted).
    pub fn forget(&self, uid: &str) {
        self.ctl.reconciler().lock_history().remove(uid);
    }

    /// Stops the workers and the sources.
    pub fn shutdown(&self) {
        self.ctl.shutdown();
    }
}

fn cond(kind: &str, ok: bool, reason: &str, message: &str) -> HorizontalPodAutoscalerCondition {
    HorizontalPodAutoscalerCondition {
        type_: kind.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: None,
    }
}

impl Autoscalers {
    fn lock_history(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<History>>> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One evaluation of one HPA.
    pub async fn reconcile_hpa(&self, name: &str) -> Result<(), StoreError> {
        let store = &self.store;
        let Some(hpa) = store.get::<HorizontalPodAutoscaler>(name) else {
            return Ok(());
        };
        let Some(spec) = hpa.spec.clone() else {
            return Ok(());
        };
        let target = spec.scale_target_ref.name.clone();
        let Some(rs) = store.get::<ReplicaSet>(&target) else {
            let msg = format!(
                "the HPA controller was unable to get the target's current scale: replicasets \"{target}\" not found"
            );
            self.events.warning(
                Kind::HorizontalPodAutoscaler,
                name,
                "FailedGetScale",
                msg.clone(),
            );
            let conditions = vec![cond("AbleToScale", false, "FailedGetScale", &msg)];
            return self
                .write_status(&hpa, None, None, Vec::new(), conditions, None)
                .await;
        };
        let current = desired_replicas(&rs);
        let actual = rs.status.as_ref().map_or(0, |s| s.replicas);
        let now = self.clock.now();
        let pods: Vec<Pod> = store.scan(|p: &Pod| {
            (controller_uid(p) == Some(rs.uid()) && p.is_active()).then(|| p.clone())
        });
        // Average over the sync period (at least a few samples), not one noisy sample.
        let window = self.period.max(Duration::from_secs(3));
        let samples: Vec<Option<Vec<PodSample>>> = spec
            .metrics
            .iter()
            .flatten()
            .map(|m| {
                m.resource
                    .as_ref()
                    .map(|r| pod_samples(&pods, &r.name, self.usage.as_ref(), window))
            })
            .collect();
        let decision = {
            let mut hist = self.lock_history();
            let h = hist.entry(hpa.uid().to_string()).or_default();
            decide(&spec, current, &samples, h, now)
        };

        let mut able = cond(
            "AbleToScale",
            true,
            "ReadyForNewScale",
            "recommended size matches current size",
        );
        let mut last_scale = None;
        if decision.desired != current {
            match self.scaler.scale(&target, decision.desired).await {
                Ok(()) => {
                    let direction = if decision.desired > current {
                        "above"
                    } else {
                        "below"
                    };
                    let reason = match decision.limited {
                        Some(Limit::TooFewReplicas) if decision.desired > current => {
                            "Current number of replicas below Spec.MinReplicas".to_string()
                        }
                        Some(Limit::TooManyReplicas) if decision.desired < current => {
                            "Current number of replicas above Spec.MaxReplicas".to_string()
                        }
                        _ => format!("All metrics {direction} target"),
                    };
                    self.events.normal(
                        Kind::HorizontalPodAutoscaler,
                        name,
                        "SuccessfulRescale",
                        format!("New size: {}; reason: {reason}", decision.desired),
                    );
                    self.lock_history()
                        .entry(hpa.uid().to_string())
                        .or_default()
                        .get_or_insert_with(History::default)
                        .record_scale(now, current, decision.desired);
                    able = cond(
                        "AbleToScale",
                        true,
                        "SucceededRescale",
                        &format!(
                            "the HPA controller was able to update the target scale to {}",
                            decision.desired
                        ),
                    );
                    last_scale = Some(self.clock.time());
                }
                Err(e) => {
                    let msg =
                        format!("the HPA controller was unable to update the target scale: {e}");
                    self.events.warning(
                        Kind::HorizontalPodAutoscaler,
                        name,
                        "FailedRescale",
                        msg.clone(),
                    );
                    able = cond("AbleToScale", false, "FailedUpdateScale", &msg);
                }
            }
        }
        let (ok, reason, msg) = &decision.active;
        let mut conditions = vec![able, cond("ScalingActive", *ok, reason, msg)];
        if let Some(l) = decision.limited {
            let limited = l != Limit::DesiredWithinRange;
            let msg = match l {
                Limit::DesiredWithinRange => "the desired count is within the acceptable range",
                Limit::TooManyReplicas => {
                    "the desired replica count is more than the maximum replica count"
                }
                Limit::TooFewReplicas => {
                    "the desired replica count is less than the minimum replica count"
                }
                Limit::ScaleUpLimit => {
                    "the desired replica count is increasing faster than the maximum scale rate"
                }
                Limit::ScaleDownLimit => {
                    "the desired replica count is decreasing faster than the maximum scale rate"
                }
            };
            conditions.push(cond("ScalingLimited", limited, l.reason(), msg));
        }
        self.write_status(
            &hpa,
            Some(actual),
            Some(decision.desired),
            decision.metrics,
            conditions,
            last_scale,
        )
        .await
    }

    async fn write_status(
        &self,
        hpa: &HorizontalPodAutoscaler,
        current: Option<i32>,
        desired: Option<i32>,
        metrics: Vec<MetricStatus>,
        conditions: Vec<HorizontalPodAutoscalerCondition>,
        last_scale: Option<Time>,
    ) -> Result<(), StoreError> {
        let uid = hpa.uid().to_string();
        let now = self.clock.time();
        let r = self
            .store
            .update::<HorizontalPodAutoscaler>(hpa.name(), Source::Autoscaler, move |b| {
                if b.uid() != uid {
                    return false;
                }
                let old = b.status.clone().unwrap_or_default();
                // A condition keeps its transition time while its status stays.
                let conditions = conditions
                    .into_iter()
                    .map(|mut c| {
                        let prev = old.conditions.iter().flatten().find(|p| p.type_ == c.type_);
                        c.last_transition_time = match prev {
                            Some(p) if p.status == c.status => p.last_transition_time.clone(),
                            _ => Some(now.clone()),
                        };
                        c
                    })
                    .collect();
                let st = HorizontalPodAutoscalerStatus {
                    current_replicas: current.or(old.current_replicas),
                    desired_replicas: desired.unwrap_or(old.desired_replicas),
                    current_metrics: Some(metrics),
                    observed_generation: Some(b.generation()),
                    last_scale_time: last_scale.or_else(|| old.last_scale_time.clone()),
                    conditions: Some(conditions),
                };
                if st == old {
                    return false;
                }
                b.status = Some(st);
                true
            })
            .await;
        match r {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::replica_calculator::Limit;
    use crate::controller::replicaset::pod_from_template;

    const WINDOW: Duration = Duration::from_secs(5);

    /// Usage by container id.
    #[derive(Default)]
    struct FakeUsage(Mutex<HashMap<String, Usage>>);

    impl UsageSource for FakeUsage {
        fn average(&self, id: &str, _window: Duration) -> Option<Usage> {
            self.0.lock().unwrap().get(id).copied()
        }
    }

    /// Records every scale; refuses when told to.
    #[derive(Default)]
    struct FakeScaler {
        calls: Mutex<Vec<(String, i32)>>,
        refuse: bool,
    }

    impl Scaler for FakeScaler {
        fn scale(&self, rs: &str, replicas: i32) -> BoxFuture<'_, Result<(), String>> {
            self.calls.lock().unwrap().push((rs.to_string(), replicas));
            let refuse = self.refuse;
            Box::pin(async move {
                if refuse {
                    Err("refused by the test".to_string())
                } else {
                    Ok(())
                }
            })
        }
    }

    fn spec(text: &str) -> HorizontalPodAutoscalerSpec {
        serde_json::from_str(text).unwrap()
    }

    /// min 1, max 5, CPU at 50 % of the request.
    fn cpu_spec() -> HorizontalPodAutoscalerSpec {
        spec(
            r#"{"minReplicas": 1, "maxReplicas": 5,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web"},
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50}}}]}"#,
        )
    }

    fn pod(name: &str, ready: bool, cpu_request: Option<&str>) -> Pod {
        let request = cpu_request
            .map(|r| format!(r#", "resources": {{"requests": {{"cpu": "{r}"}}}}"#))
            .unwrap_or_default();
        let ready = if ready { "True" } else { "False" };
        serde_json::from_str(&format!(
            r#"{{"metadata": {{"name": "{name}"}},
                "spec": {{"containers": [{{"name": "c", "image": "i"{request}}}]}},
                "status": {{"phase": "Running",
                    "conditions": [{{"type": "Ready", "status": "{ready}"}}],
                    "containerStatuses": [{{"name": "c", "image": "i", "imageID": "",
                        "ready": true, "restartCount": 0, "containerID": "docker://id-{name}"}}]}}}}"#
        ))
        .unwrap()
    }

    fn usage(pairs: &[(&str, f64)]) -> FakeUsage {
        let u = FakeUsage::default();
        for (name, cpu_percent) in pairs {
            u.0.lock().unwrap().insert(
                format!("id-{name}"),
                Usage {
                    cpu_percent: Some(*cpu_percent),
                    memory_bytes: 1 << 20,
                },
            );
        }
        u
    }

    #[test]
    fn pod_samples_read_usage_requests_and_readiness() {
        let pods = vec![
            pod("a", true, Some("200m")),
            pod("b", false, None),
            pod("c", true, Some("1")),
        ];
        // 10 % of one CPU = 100m; b has no sample at all.
        let u = usage(&[("a", 10.0), ("c", 55.0)]);
        let cpu = pod_samples(&pods, "cpu", &u, WINDOW);
        assert_eq!(
            cpu,
            vec![
                PodSample {
                    ready: true,
                    usage: Some(100.0),
                    request: Some(200.0)
                },
                // no request: a share of one full CPU
                PodSample {
                    ready: false,
                    usage: None,
                    request: Some(1000.0)
                },
                PodSample {
                    ready: true,
                    usage: Some(550.0),
                    request: Some(1000.0)
                },
            ]
        );
        let mem = pod_samples(&pods, "memory", &u, WINDOW);
        assert_eq!(mem[0].usage, Some(1048576.0));
        assert_eq!(mem[0].request, None, "no memory request");
    }

    #[test]
    fn decide_follows_the_calculator_the_bounds_and_the_zero_rule() {
        let now = Instant::now();
        let s = |usage: f64| PodSample {
            ready: true,
            usage: Some(usage),
            request: Some(1000.0),
        };
        // (current, samples per pod in millicores of 1000m requests, desired, limit, active)
        type Row = (
            i32,
            Option<Vec<PodSample>>,
            i32,
            Option<Limit>,
            &'static str,
        );
        let table: Vec<Row> = vec![
            // 100 % on a 50 % target: double
            (
                2,
                Some(vec![s(1000.0), s(1000.0)]),
                4,
                Some(Limit::DesiredWithinRange),
                "ValidMetricFound",
            ),
            // within the 0.1 tolerance: no change
            (
                2,
                Some(vec![s(520.0), s(520.0)]),
                2,
                Some(Limit::DesiredWithinRange),
                "ValidMetricFound",
            ),
            // far above: capped at max 5
            (
                3,
                Some(vec![s(1000.0); 3]),
                5,
                Some(Limit::TooManyReplicas),
                "ValidMetricFound",
            ),
            // a target scaled to 0 by hand is left alone
            (0, Some(vec![]), 0, None, "ScalingDisabled"),
            // no samples: keep the count, inactive
            (
                2,
                Some(vec![
                    PodSample {
                        ready: true,
                        usage: None,
                        request: Some(1000.0)
                    };
                    2
                ]),
                2,
                None,
                "FailedGetResourceMetric",
            ),
            // a metric K1s does not read: nothing to go on
            (2, None, 2, None, "FailedGetResourceMetric"),
        ];
        for (i, (current, samples, desired, limit, active)) in table.into_iter().enumerate() {
            // an HPA that first looked a minute ago
            let mut h = Some(History::starting_at(now, current));
            let later = now + Duration::from_secs(60);
            let d = decide(&cpu_spec(), current, &[samples], &mut h, later);
            assert_eq!(
                (d.desired, d.limited, d.active.1),
                (desired, limit, active),
                "row {i}: {d:?}"
            );
        }
    }

    #[test]
    fn decide_holds_a_scale_down_for_the_window_then_follows_it() {
        let t0 = Instant::now();
        let idle = vec![Some(vec![
            PodSample {
                ready: true,
                usage: Some(10.0),
                request: Some(1000.0)
            };
            4
        ])];
        let mut h = None;
        // the first look seeds the history with the current count: no scale-down
        let d = decide(&cpu_spec(), 4, &idle, &mut h, t0);
        assert_eq!(d.desired, 4);
        let d = decide(&cpu_spec(), 4, &idle, &mut h, t0 + Duration::from_secs(299));
        assert_eq!(d.desired, 4, "the default 300 s window still holds");
        let d = decide(&cpu_spec(), 4, &idle, &mut h, t0 + Duration::from_secs(301));
        assert_eq!(d.desired, 1, "after the window: down to min");
        let m = &d.metrics[0].resource.as_ref().unwrap().current;
        assert_eq!(
            (
                m.average_value.as_ref().map(|q| q.0.as_str()),
                m.average_utilization
            ),
            (Some("10m"), Some(1))
        );
    }

    async fn setup(
        scaler: Arc<FakeScaler>,
        u: FakeUsage,
    ) -> (tempfile::TempDir, Store, HpaController) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        let rs: ReplicaSet = serde_json::from_str(
            r#"{"metadata": {"name": "web", "uid": "uid-web"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "c", "image": "i"}]}}}}"#,
        )
        .unwrap();
        for n in ["p1", "p2"] {
            let mut p = pod(n, true, None);
            p.metadata = pod_from_template(&rs, n, Clock::system().time()).metadata;
            store.create(p, Source::Api).await.unwrap();
        }
        store.create(rs, Source::Api).await.unwrap();
        let hpa = HorizontalPodAutoscaler {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("h".into()),
                uid: Some("uid-h".into()),
                ..Default::default()
            },
            spec: Some(cpu_spec()),
            status: None,
        };
        store.create(hpa, Source::Api).await.unwrap();
        let c = HpaController::new(
            store.clone(),
            Arc::new(u),
            Events::default(),
            scaler,
            WINDOW,
            Clock::system(),
        );
        (dir, store, c)
    }

    fn condition(store: &Store, kind: &str) -> (String, String) {
        let h = store.get::<HorizontalPodAutoscaler>("h").unwrap();
        let c = h
            .status
            .unwrap()
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == kind)
            .unwrap();
        (c.status, c.reason.unwrap_or_default())
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_scales_through_the_scaler_and_writes_status() {
        let scaler = Arc::new(FakeScaler::default());
        // two pods at 100 % of one CPU on a 50 % target: 4 replicas
        let (_dir, store, c) = setup(scaler.clone(), usage(&[("p1", 100.0), ("p2", 100.0)])).await;
        // the first look seeds the history with the current count (Kubernetes'
        // recordInitialRecommendation) and holds
        c.reconcile("h").await.unwrap();
        assert!(scaler.calls.lock().unwrap().is_empty());
        tokio::time::advance(WINDOW).await;
        c.reconcile("h").await.unwrap();
        assert_eq!(*scaler.calls.lock().unwrap(), vec![("web".to_string(), 4)]);
        let st = store
            .get::<HorizontalPodAutoscaler>("h")
            .unwrap()
            .status
            .unwrap();
        assert_eq!((st.desired_replicas, st.current_replicas), (4, Some(0)));
        assert!(st.last_scale_time.is_some());
        assert_eq!(
            condition(&store, "AbleToScale"),
            ("True".into(), "SucceededRescale".into())
        );
        // the fake scaler left the ReplicaSet at 2: the next look asks again
        scaler.calls.lock().unwrap().clear();
        c.reconcile("h").await.unwrap();
        assert_eq!(*scaler.calls.lock().unwrap(), vec![("web".to_string(), 4)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_scale_shows_in_the_conditions() {
        let scaler = Arc::new(FakeScaler {
            refuse: true,
            ..Default::default()
        });
        let (_dir, store, c) = setup(scaler.clone(), usage(&[("p1", 100.0), ("p2", 100.0)])).await;
        c.reconcile("h").await.unwrap();
        tokio::time::advance(WINDOW).await;
        c.reconcile("h").await.unwrap();
        assert_eq!(
            condition(&store, "AbleToScale"),
            ("False".into(), "FailedUpdateScale".into())
        );
        assert!(
            store
                .get::<HorizontalPodAutoscaler>("h")
                .unwrap()
                .status
                .unwrap()
                .last_scale_time
                .is_none()
        );
    }

    #[tokio::test]
    async fn no_metrics_keep_the_count_and_say_why() {
        let scaler = Arc::new(FakeScaler::default());
        let (_dir, store, c) = setup(scaler.clone(), FakeUsage::default()).await;
        c.reconcile("h").await.unwrap();
        assert!(scaler.calls.lock().unwrap().is_empty());
        assert_eq!(
            condition(&store, "ScalingActive"),
            ("False".into(), "FailedGetResourceMetric".into())
        );
        // a missing target is a condition too, never an error
        store
            .delete::<ReplicaSet>("web", None, Source::Api)
            .await
            .unwrap();
        c.reconcile("h").await.unwrap();
        assert_eq!(
            condition(&store, "AbleToScale"),
            ("False".into(), "FailedGetScale".into())
        );
    }
}
