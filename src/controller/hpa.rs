//! The HorizontalPodAutoscaler controller: every sync period (and whenever an HPA
//! changes) it reads the target ReplicaSet's pods' usage from the metrics cache
//! (averaged over the sync period), asks the replica calculator for a proposal per
//! metric, takes the largest, applies the behaviour (stabilization, policies, bounds),
//! and sets the ReplicaSet's replicas through the same path a user's scale takes.
//! Problems (no target, no metrics) become conditions and events, never a crash loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerSpec};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::replica_calculator::{
    self as calc, Behavior, History, Limit, PodSample, Policy, PolicyKind, Rules, Select, Target,
};
use super::replicaset::{controller_uid, is_active, is_ready};
use super::workqueue::WorkQueue;
use crate::events::Events;
use crate::model::quantity::{cpu_millis, memory_bytes};
use crate::runtime::metrics::Metrics;
use crate::store::{Change, Kind, Object, Source, Store, StoreError};

/// Sets a ReplicaSet's replica count (the core's scale path).
pub trait Scaler: Send + Sync + 'static {
    /// Scales `rs` to `replicas`; the error is shown in the HPA's conditions.
    fn scale(&self, rs: &str, replicas: i32) -> BoxFuture<'_, Result<(), String>>;
}

/// The running controller; cheap to clone.
#[derive(Clone)]
pub struct HpaController {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    metrics: Metrics,
    events: Events,
    scaler: Arc<dyn Scaler>,
    queue: WorkQueue<String>,
    period: Duration,
    history: Mutex<HashMap<String, History>>,
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

struct Observation {
    desired: i32,
    metrics: Vec<Value>,
    active: (bool, &'static str, String),
    limited: Option<Limit>,
}

impl HpaController {
    /// A controller that does nothing until started (tests call `reconcile`).
    pub fn new(
        store: Store,
        metrics: Metrics,
        events: Events,
        scaler: Arc<dyn Scaler>,
        period: Duration,
    ) -> HpaController {
        HpaController {
            inner: Arc::new(Inner {
                store,
                metrics,
                events,
                scaler,
                queue: WorkQueue::new(),
                period,
                history: Mutex::default(),
            }),
        }
    }

    /// Starts the workers, the store watch and the sync ticker.
    pub fn start(self) -> HpaController {
        for _ in 0..2 {
            let w = self.clone();
            tokio::spawn(async move {
                while let Some(name) = w.inner.queue.next().await {
                    if let Err(e) = w.reconcile(&name).await {
                        tracing::warn!(hpa = %name, error = %e, "HPA reconcile failed");
                    }
                    w.inner.queue.done(&name);
                }
            });
        }
        let w = self.clone();
        let rx = self.inner.store.watch();
        tokio::spawn(async move { w.watch(rx).await });
        let w = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(w.inner.period);
            loop {
                tick.tick().await;
                for h in w.inner.store.list(Kind::HorizontalPodAutoscaler) {
                    w.inner.queue.add(h.name);
                }
            }
        });
        self
    }

    /// Asks for an HPA to be evaluated now.
    pub fn enqueue(&self, name: &str) {
        self.inner.queue.add(name.to_string());
    }

    async fn watch(&self, mut rx: broadcast::Receiver<Change>) {
        loop {
            match rx.recv().await {
                Ok(ch)
                    if ch.object.kind == Kind::HorizontalPodAutoscaler
                        && ch.source != Source::Autoscaler =>
                {
                    self.inner.queue.add(ch.object.name.clone());
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn lock_history(&self) -> std::sync::MutexGuard<'_, HashMap<String, History>> {
        self.inner.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One evaluation of one HPA.
    pub async fn reconcile(&self, name: &str) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let Some(hpa) = store.get(Kind::HorizontalPodAutoscaler, name) else {
            return Ok(());
        };
        let spec: HorizontalPodAutoscalerSpec =
            match hpa.body.get("spec").cloned().map(serde_json::from_value) {
                Some(Ok(s)) => s,
                _ => return Ok(()),
            };
        let min = spec.min_replicas.unwrap_or(1);
        let max = spec.max_replicas;
        let target = spec.scale_target_ref.name.clone();
        let Some(rs) = store.get(Kind::ReplicaSet, &target) else {
            let msg = format!(
                "the HPA controller was unable to get the target's current scale: replicasets \"{target}\" not found"
            );
            self.inner.events.warning(
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
        let current = rs
            .body
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0) as i32;
        let actual = rs
            .body
            .pointer("/status/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0) as i32;
        let now = Instant::now();
        let obs = if current == 0 && min != 0 {
            Observation {
                desired: 0,
                metrics: Vec::new(),
                active: (
                    false,
                    "ScalingDisabled",
                    "scaling is disabled since the replica count of the target is zero".into(),
                ),
                limited: None,
            }
        } else {
            self.observe(&spec, &rs, current, min, max, &hpa.uid, now)
        };

        let mut able = cond(
            "AbleToScale",
            true,
            "ReadyForNewScale",
            "recommended size matches current size",
        );
        let mut last_scale = None;
        if obs.desired != current {
            match self.inner.scaler.scale(&target, obs.desired).await {
                Ok(()) => {
                    let direction = if obs.desired > current {
                        "above"
                    } else {
                        "below"
                    };
                    let msg = format!(
                        "New size: {}; reason: {}",
                        obs.desired,
                        match obs.limited {
                            Some(Limit::TooFewReplicas) if obs.desired > current =>
                                "Current number of replicas below Spec.MinReplicas".to_string(),
                            Some(Limit::TooManyReplicas) if obs.desired < current =>
                                "Current number of replicas above Spec.MaxReplicas".to_string(),
                            _ => format!("All metrics {direction} target"),
                        }
                    );
                    self.inner.events.normal(
                        Kind::HorizontalPodAutoscaler,
                        name,
                        "SuccessfulRescale",
                        msg,
                    );
                    self.lock_history()
                        .entry(hpa.uid.clone())
                        .or_default()
                        .record_scale(now, current, obs.desired);
                    able = cond(
                        "AbleToScale",
                        true,
                        "SucceededRescale",
                        &format!(
                            "the HPA controller was able to update the target scale to {}",
                            obs.desired
                        ),
                    );
                    last_scale = Some(crate::util::now_rfc3339());
                }
                Err(e) => {
                    let msg =
                        format!("the HPA controller was unable to update the target scale: {e}");
                    self.inner.events.warning(
                        Kind::HorizontalPodAutoscaler,
                        name,
                        "FailedRescale",
                        msg.clone(),
                    );
                    able = cond("AbleToScale", false, "FailedUpdateScale", &msg);
                }
            }
        }
        let (ok, reason, msg) = &obs.active;
        let mut conditions = vec![able, cond("ScalingActive", *ok, reason, msg)];
        if let Some(l) = obs.limited {
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
            Some(obs.desired),
            obs.metrics,
            conditions,
            last_scale,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    fn observe(
        &self,
        spec: &HorizontalPodAutoscalerSpec,
        rs: &Object,
        current: i32,
        min: i32,
        max: i32,
        uid: &str,
        now: Instant,
    ) -> Observation {
        let pods: Vec<Object> = self
            .inner
            .store
            .list(Kind::Pod)
            .into_iter()
            .filter(|p| controller_uid(&p.body) == Some(rs.uid.as_str()) && is_active(p))
            .collect();
        // Average over the sync period (at least a few samples), not one noisy sample.
        let window = self.inner.period.max(Duration::from_secs(3));
        let mut proposals = Vec::new();
        let mut statuses = Vec::new();
        let mut errors = Vec::new();
        for m in spec.metrics.iter().flatten() {
            let Some(res) = m.resource.as_ref() else {
                continue;
            };
            let cpu = res.name == "cpu";
            let samples: Vec<PodSample> = pods
                .iter()
                .map(|p| {
                    let id = p
                        .body
                        .pointer("/status/containerStatuses/0/containerID")
                        .and_then(Value::as_str)
                        .map(|s| s.trim_start_matches("docker://").to_string());
                    let usage = id
                        .as_deref()
                        .and_then(|id| self.inner.metrics.average(id, window))
                        .and_then(|u| {
                            if cpu {
                                u.cpu_percent.map(|c| c * 10.0)
                            } else {
                                Some(u.memory_bytes as f64)
                            }
                        });
                    let req = p
                        .body
                        .pointer(&format!(
                            "/spec/containers/0/resources/requests/{}",
                            res.name
                        ))
                        .and_then(Value::as_str)
                        .and_then(|q| {
                            if cpu {
                                cpu_millis(q).ok()
                            } else {
                                memory_bytes(q).ok()
                            }
                        })
                        .map(|v| v as f64);
                    PodSample {
                        ready: is_ready(p),
                        usage,
                        // SPEC §3: CPU utilization of a pod without a request is a
                        // percentage of one full CPU.
                        request: if cpu {
                            Some(req.unwrap_or(1000.0))
                        } else {
                            req
                        },
                    }
                })
                .collect();
            let t = &res.target;
            let target = match t.type_.as_str() {
                "AverageValue" => {
                    let v = t
                        .average_value
                        .as_ref()
                        .and_then(|q| {
                            if cpu {
                                cpu_millis(&q.0).ok()
                            } else {
                                memory_bytes(&q.0).ok()
                            }
                        })
                        .unwrap_or(1);
                    Target::AverageValue(v as f64)
                }
                _ => Target::Utilization(t.average_utilization.unwrap_or(80)),
            };
            let name: &'static str = if cpu { "cpu" } else { "memory" };
            match calc::resource_replicas(current, &samples, target, name) {
                Ok(p) => {
                    proposals.push(p.replicas);
                    let avg = if cpu {
                        format!("{}m", p.average.round() as i64)
                    } else {
                        format!("{}", p.average.round() as i64)
                    };
                    let mut cur = json!({"averageValue": avg});
                    if let Some(u) = p.utilization {
                        cur["averageUtilization"] = json!(u);
                    }
                    statuses.push(
                        json!({"type": "Resource", "resource": {"name": res.name, "current": cur}}),
                    );
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
            return Observation {
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
        let (desired, limit) = {
            let mut hist = self.lock_history();
            let h = hist
                .entry(uid.to_string())
                .or_insert_with(|| History::starting_at(now, current));
            if current > max {
                (max, Limit::TooManyReplicas)
            } else if current < min {
                (min, Limit::TooFewReplicas)
            } else {
                calc::normalize(current, proposal, min, max, &behavior, h, now)
            }
        };
        Observation {
            desired,
            metrics: statuses,
            active: (true, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)".into()),
            limited: Some(limit),
        }
    }

    async fn write_status(
        &self,
        hpa: &Object,
        current: Option<i32>,
        desired: Option<i32>,
        metrics: Vec<Value>,
        conditions: Vec<Value>,
        last_scale: Option<String>,
    ) -> Result<(), StoreError> {
        let uid = hpa.uid.clone();
        let r = self
            .inner
            .store
            .update(Kind::HorizontalPodAutoscaler, &hpa.name, Source::Autoscaler, move |b| {
                if b.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
                    return false;
                }
                let old = b.get("status").cloned().unwrap_or(json!({}));
                let mut st = json!({
                    "currentReplicas": current.or_else(|| old.get("currentReplicas").and_then(Value::as_i64).map(|v| v as i32)),
                    "desiredReplicas": desired.or_else(|| old.get("desiredReplicas").and_then(Value::as_i64).map(|v| v as i32)).unwrap_or(0),
                    "currentMetrics": metrics,
                    "observedGeneration": b.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
                });
                let last = last_scale.or_else(|| {
                    old.get("lastScaleTime").and_then(Value::as_str).map(str::to_string)
                });
                if let Some(t) = last {
                    st["lastScaleTime"] = json!(t);
                }
                // A condition keeps its transition time while its status stays.
                let now = crate::util::now_rfc3339();
                let conds: Vec<Value> = conditions
                    .into_iter()
                    .map(|mut c| {
                        let prev = old
                            .get("conditions")
                            .and_then(Value::as_array)
                            .and_then(|cs| cs.iter().find(|p| p["type"] == c["type"]));
                        c["lastTransitionTime"] = match prev {
                            Some(p) if p["status"] == c["status"] => p["lastTransitionTime"].clone(),
                            _ => json!(now),
                        };
                        c
                    })
                    .collect();
                st["conditions"] = json!(conds);
                if st == old {
                    return false;
                }
                b["status"] = st;
                true
            })
            .await;
        match r {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Forgets an HPA's history (it was deleted).
    pub fn forget(&self, uid: &str) {
        self.lock_history().remove(uid);
    }
}

fn cond(kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }, "reason": reason, "message": message})
}
