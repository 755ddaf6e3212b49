//! Kubernetes' replica calculator and its scaling behaviour, as pure functions (the
//! `replica_calculator.go` / `horizontal.go` split): given the pods' metrics, what
//! replica count a metric proposes; given proposals over time, what the autoscaler
//! may actually set (stabilization windows, scaling policies, min/max). No I/O and no
//! clock: the caller passes `now`. Table tests below follow Kubernetes' own cases.

use std::time::Duration;

use tokio::time::Instant;

/// No change when the usage ratio is within 10 % of 1.
pub const TOLERANCE: f64 = 0.1;

/// One pod as the calculator sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodSample {
    /// Ready condition true (and not pending).
    pub ready: bool,
    /// Usage in the metric's unit (CPU millicores, memory bytes); `None`: no sample.
    pub usage: Option<f64>,
    /// The request in the same unit, if the pod has one.
    pub request: Option<f64>,
}

/// What a metric aims for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Percent of the request (`averageUtilization`).
    Utilization(i32),
    /// Absolute average per pod (`averageValue`), in the metric's unit.
    AverageValue(f64),
}

/// A metric's proposal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proposal {
    /// Replicas this metric asks for.
    pub replicas: i32,
    /// Current average utilization (percent of request) over the ready pods with metrics.
    pub utilization: Option<i32>,
    /// Current average usage per pod in the metric's unit.
    pub average: f64,
}

/// Why a metric could not propose anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalcError {
    /// No pod has a sample yet.
    #[error("no metrics returned for any pod yet")]
    NoMetrics,
    /// Utilization needs a request.
    #[error("missing request for {0}")]
    MissingRequest(&'static str),
}

fn ratio_of(samples: &[(f64, f64)], target: Target) -> (f64, Option<i32>, f64) {
    let n = samples.len().max(1) as f64;
    let usage: f64 = samples.iter().map(|(u, _)| u).sum();
    let average = usage / n;
    match target {
        Target::Utilization(t) => {
            let requests: f64 = samples.iter().map(|(_, r)| r).sum();
            // Kubernetes computes the utilization as a whole percentage first.
            let util = if requests > 0.0 {
                (usage * 100.0 / requests).floor()
            } else {
                0.0
            };
            (util / f64::from(t), Some(util as i32), average)
        }
        Target::AverageValue(v) => (average / v, None, average),
    }
}

/// Kubernetes' `GetResourceReplicas` / `GetRawResourceReplicas`: pods without a sample
/// count as using 100 % of their target when the rest says scale down, and 0 % when it
/// says scale up; not-ready pods count as 0 % when scaling up and are ignored otherwise.
/// Within the tolerance, or when the missing pods would flip the direction, the current
/// count stands.
pub fn resource_replicas(
    current: i32,
    pods: &[PodSample],
    target: Target,
    resource: &'static str,
) -> Result<Proposal, CalcError> {
    let utilization = matches!(target, Target::Utilization(_));
    let mut ready = Vec::new();
    let mut unready = Vec::new();
    let mut missing = Vec::new();
    for p in pods {
        let request = p.request.unwrap_or(0.0);
        match p.usage {
            None => missing.push(request),
            Some(_) if !p.ready => unready.push(request),
            Some(u) => ready.push((u, request)),
        }
    }
    if ready.is_empty() {
        return Err(CalcError::NoMetrics);
    }
    if utilization && (ready.iter().any(|(_, r)| *r <= 0.0) || missing.iter().any(|r| *r <= 0.0)) {
        return Err(CalcError::MissingRequest(resource));
    }
    let (ratio, util, average) = ratio_of(&ready, target);
    let scale_up_with_unready = !unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && missing.is_empty() {
        if (1.0 - ratio).abs() <= TOLERANCE {
            return Ok(Proposal {
                replicas: current,
                utilization: util,
                average,
            });
        }
        let replicas = (ratio * ready.len() as f64).ceil() as i32;
        return Ok(Proposal {
            replicas,
            utilization: util,
            average,
        });
    }
    let mut all = ready.clone();
    for r in &missing {
        let assumed = if ratio < 1.0 {
            match target {
                Target::Utilization(_) => *r,
                Target::AverageValue(v) => v,
            }
        } else {
            0.0
        };
        if ratio != 1.0 {
            all.push((assumed, *r));
        }
    }
    if scale_up_with_unready {
        all.extend(unready.iter().map(|r| (0.0, *r)));
    }
    let (new_ratio, _, _) = ratio_of(&all, target);
    let flipped = (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0);
    if (1.0 - new_ratio).abs() <= TOLERANCE || flipped {
        return Ok(Proposal {
            replicas: current,
            utilization: util,
            average,
        });
    }
    let replicas = (new_ratio * all.len() as f64).ceil() as i32;
    let replicas =
        if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
            current
        } else {
            replicas
        };
    Ok(Proposal {
        replicas,
        utilization: util,
        average,
    })
}

/// `Pods` or `Percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// An absolute number of pods per period.
    Pods,
    /// A percentage of the pods at the period's start.
    Percent,
}

/// One scaling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Pods or Percent.
    pub kind: PolicyKind,
    /// How many (or what percent).
    pub value: i32,
    /// Over what period.
    pub period: Duration,
}

/// `selectPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The policy allowing the largest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// Rules for one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Stabilization window.
    pub window: Duration,
    /// Which policy wins.
    pub select: Select,
    /// The policies.
    pub policies: Vec<Policy>,
}

/// Both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    /// Scaling up.
    pub up: Rules,
    /// Scaling down.
    pub down: Rules,
}

impl Default for Behavior {
    /// Kubernetes' defaults: up at once by 4 pods or 100 % per 15 s (whichever is more);
    /// down after a 300 s window, by up to 100 % per 15 s.
    fn default() -> Self {
        let secs = Duration::from_secs;
        Behavior {
            up: Rules {
                window: Duration::ZERO,
                select: Select::Max,
                policies: vec![
                    Policy {
                        kind: PolicyKind::Pods,
                        value: 4,
                        period: secs(15),
                    },
                    Policy {
                        kind: PolicyKind::Percent,
                        value: 100,
                        period: secs(15),
                    },
                ],
            },
            down: Rules {
                window: secs(300),
                select: Select::Max,
                policies: vec![Policy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period: secs(15),
                }],
            },
        }
    }
}

/// What an autoscaler remembers between decisions (in memory, as Kubernetes does).
#[derive(Debug, Clone, Default)]
pub struct History {
    recommendations: Vec<(Instant, i32)>,
    ups: Vec<(Instant, i32)>,
    downs: Vec<(Instant, i32)>,
}

impl History {
    /// A history that starts with the current count as a recommendation (Kubernetes'
    /// `recordInitialRecommendation`): a new HPA, or one recovered after a restart,
    /// does not scale down before its window has seen the load.
    pub fn starting_at(now: Instant, current: i32) -> History {
        History {
            recommendations: vec![(now, current)],
            ..Default::default()
        }
    }

    /// Records a rescale that happened at `now`.
    pub fn record_scale(&mut self, now: Instant, from: i32, to: i32) {
        if to > from {
            self.ups.push((now, to - from));
        } else if to < from {
            self.downs.push((now, from - to));
        }
    }

    fn prune(&mut self, now: Instant, b: &Behavior) {
        let longest = |r: &Rules| {
            r.policies
                .iter()
                .map(|p| p.period)
                .max()
                .unwrap_or_default()
        };
        let keep_events = longest(&b.up).max(longest(&b.down));
        let keep_recs = b.up.window.max(b.down.window);
        let fresh = |t: &Instant, keep: Duration| now.saturating_duration_since(*t) <= keep;
        self.ups.retain(|(t, _)| fresh(t, keep_events));
        self.downs.retain(|(t, _)| fresh(t, keep_events));
        self.recommendations.retain(|(t, _)| fresh(t, keep_recs));
    }
}

/// Why the final count differs from the proposal (Kubernetes' ScalingLimited reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Not limited.
    DesiredWithinRange,
    /// Capped by maxReplicas.
    TooManyReplicas,
    /// Raised to minReplicas.
    TooFewReplicas,
    /// Held by a scale-up policy.
    ScaleUpLimit,
    /// Held by a scale-down policy.
    ScaleDownLimit,
}

impl Limit {
    /// The condition reason.
    pub fn reason(self) -> &'static str {
        match self {
            Limit::DesiredWithinRange => "DesiredWithinRange",
            Limit::TooManyReplicas => "TooManyReplicas",
            Limit::TooFewReplicas => "TooFewReplicas",
            Limit::ScaleUpLimit => "ScaleUpLimit",
            Limit::ScaleDownLimit => "ScaleDownLimit",
        }
    }
}

fn within(events: &[(Instant, i32)], now: Instant, period: Duration) -> i32 {
    events
        .iter()
        .filter(|(t, _)| now.saturating_duration_since(*t) <= period)
        .map(|(_, n)| n)
        .sum()
}

/// Kubernetes' `normalizeDesiredReplicasWithBehaviors`: the stabilized recommendation
/// (the lowest of the scale-up window's proposals, the highest of the scale-down
/// window's), then the policies' rate limits and min/max. Records the proposal.
pub fn normalize(
    current: i32,
    proposal: i32,
    min: i32,
    max: i32,
    behavior: &Behavior,
    history: &mut History,
    now: Instant,
) -> (i32, Limit) {
    history.prune(now, behavior);
    // Stabilization.
    let mut up = proposal;
    let mut down = proposal;
    for (t, r) in &history.recommendations {
        let age = now.saturating_duration_since(*t);
        if age <= behavior.up.window {
            up = up.min(*r);
        }
        if age <= behavior.down.window {
            down = down.max(*r);
        }
    }
    history.recommendations.push((now, proposal));
    let mut desired = current;
    if desired < up {
        desired = up;
    }
    if desired > down {
        desired = down;
    }
    // Rate limits and bounds.
    let added = |p: &Policy| within(&history.ups, now, p.period);
    let removed = |p: &Policy| within(&history.downs, now, p.period);
    if desired > current {
        let limit = match behavior.up.select {
            Select::Disabled => current,
            sel => {
                let proposals = behavior.up.policies.iter().map(|p| {
                    let start = current - added(p) + removed(p);
                    match p.kind {
                        PolicyKind::Pods => start + p.value,
                        PolicyKind::Percent => {
                            (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
                        }
                    }
                });
                match sel {
                    Select::Min => proposals.min().unwrap_or(current),
                    _ => proposals.max().unwrap_or(current),
                }
            }
        }
        .max(current);
        let (allowed, why) = if max > limit {
            (limit, Limit::ScaleUpLimit)
        } else {
            (max, Limit::TooManyReplicas)
        };
        if desired > allowed {
            return (allowed, why);
        }
    } else if desired < current {
        let limit = match behavior.down.select {
            Select::Disabled => current,
            sel => {
                let proposals = behavior.down.policies.iter().map(|p| {
                    let start = current - added(p) + removed(p);
                    match p.kind {
                        PolicyKind::Pods => start - p.value,
                        PolicyKind::Percent => {
                            (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
                        }
                    }
                });
                match sel {
                    Select::Min => proposals.max().unwrap_or(current),
                    _ => proposals.min().unwrap_or(current),
                }
            }
        }
        .min(current);
        let (allowed, why) = if min < limit {
            (limit, Limit::ScaleDownLimit)
        } else {
            (min, Limit::TooFewReplicas)
        };
        if desired < allowed {
            return (allowed, why);
        }
    }
    if desired > max {
        return (max, Limit::TooManyReplicas);
    }
    if desired < min {
        return (min, Limit::TooFewReplicas);
    }
    (desired, Limit::DesiredWithinRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(usage: f64, request: f64) -> PodSample {
        PodSample {
            ready: true,
            usage: Some(usage),
            request: Some(request),
        }
    }

    #[test]
    fn resource_replicas_table() {
        let missing = PodSample {
            ready: true,
            usage: None,
            request: Some(1000.0),
        };
        let unready = PodSample {
            ready: false,
            usage: Some(0.0),
            request: Some(1000.0),
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, i32, Vec<PodSample>, Target, i32)> = vec![
            ("scale up by ratio", 3, vec![ready(500.0, 1000.0); 3], Target::Utilization(20), 8),
            ("within tolerance", 3, vec![ready(540.0, 1000.0); 3], Target::Utilization(50), 3),
            ("just past tolerance", 3, vec![ready(560.0, 1000.0); 3], Target::Utilization(50), 4),
            ("scale down", 4, vec![ready(100.0, 1000.0); 4], Target::Utilization(50), 1),
            ("average value", 2, vec![ready(300.0, 0.0), ready(300.0, 0.0)], Target::AverageValue(100.0), 6),
            // missing pods count 100 % when scaling down: 3 at 10 % + 1 at 100 % → 32 % → 0.64 → 3
            ("missing on scale down", 4, vec![ready(100.0, 1000.0), ready(100.0, 1000.0), ready(100.0, 1000.0), missing], Target::Utilization(50), 3),
            // missing pods count 0 % when scaling up: (90+90+0)/3 = 60 % of 50 → 1.2 → 4
            ("missing on scale up", 3, vec![ready(900.0, 1000.0), ready(900.0, 1000.0), missing], Target::Utilization(50), 4),
            // unready pods count 0 % on scale up: (100+0)/2 = 50 % of 40 → 1.25 → 3
            ("unready on scale up", 2, vec![ready(1000.0, 1000.0), unready], Target::Utilization(40), 3),
            // unready pods are ignored on scale down
            ("unready on scale down", 2, vec![ready(100.0, 1000.0), unready], Target::Utilization(50), 1),
            // the missing pod would flip the direction: keep
            ("flip keeps current", 2, vec![ready(600.0, 1000.0), missing], Target::Utilization(50), 2),
        ];
        for (name, current, pods, target, want) in cases {
            let got = resource_replicas(current, &pods, target, "cpu").unwrap();
            assert_eq!(got.replicas, want, "{name}: {got:?}");
        }
    }

    #[test]
    fn resource_replicas_errors() {
        let none = PodSample {
            ready: true,
            usage: None,
            request: Some(1.0),
        };
        assert_eq!(
            resource_replicas(1, &[none], Target::Utilization(50), "cpu"),
            Err(CalcError::NoMetrics)
        );
        let no_req = PodSample {
            ready: true,
            usage: Some(5.0),
            request: None,
        };
        assert_eq!(
            resource_replicas(1, &[no_req], Target::Utilization(50), "memory"),
            Err(CalcError::MissingRequest("memory"))
        );
        assert!(resource_replicas(1, &[no_req], Target::AverageValue(5.0), "memory").is_ok());
    }

    #[test]
    fn scale_up_is_rate_limited_by_default_policies() {
        let b = Behavior::default();
        let mut h = History::default();
        let t = Instant::now();
        // from 1, the Pods policy (+4) beats Percent (+100 %): at most 5
        assert_eq!(
            normalize(1, 20, 1, 50, &b, &mut h, t),
            (5, Limit::ScaleUpLimit)
        );
        h.record_scale(t, 1, 5);
        // within the same 15 s period nothing more is allowed
        assert_eq!(
            normalize(5, 20, 1, 50, &b, &mut h, t + Duration::from_secs(5)),
            (5, Limit::ScaleUpLimit)
        );
        // after it, from 5: max(5+4, 10) = 10
        assert_eq!(
            normalize(5, 20, 1, 50, &b, &mut h, t + Duration::from_secs(16)),
            (10, Limit::ScaleUpLimit)
        );
        // max caps
        assert_eq!(
            normalize(5, 20, 1, 7, &b, &mut h, t + Duration::from_secs(40)),
            (7, Limit::TooManyReplicas)
        );
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let b = Behavior::default();
        let mut h = History::default();
        let t = Instant::now();
        assert_eq!(normalize(4, 4, 1, 10, &b, &mut h, t).0, 4);
        // load gone: the proposal is 1, but 4 was recommended within 300 s
        assert_eq!(
            normalize(4, 1, 1, 10, &b, &mut h, t + Duration::from_secs(60)).0,
            4
        );
        assert_eq!(
            normalize(4, 1, 1, 10, &b, &mut h, t + Duration::from_secs(299)).0,
            4
        );
        assert_eq!(
            normalize(4, 1, 1, 10, &b, &mut h, t + Duration::from_secs(301)),
            (1, Limit::DesiredWithinRange)
        );
    }

    #[test]
    fn short_window_and_policies_from_the_spec() {
        let b = Behavior {
            up: Behavior::default().up,
            down: Rules {
                window: Duration::from_secs(10),
                select: Select::Max,
                policies: vec![Policy {
                    kind: PolicyKind::Pods,
                    value: 1,
                    period: Duration::from_secs(60),
                }],
            },
        };
        let mut h = History::default();
        let t = Instant::now();
        normalize(3, 3, 1, 5, &b, &mut h, t);
        let t2 = t + Duration::from_secs(11);
        assert_eq!(
            normalize(3, 1, 1, 5, &b, &mut h, t2),
            (2, Limit::ScaleDownLimit)
        );
        h.record_scale(t2, 3, 2);
        assert_eq!(
            normalize(2, 1, 1, 5, &b, &mut h, t2 + Duration::from_secs(20)),
            (2, Limit::ScaleDownLimit)
        );
        assert_eq!(
            normalize(2, 1, 1, 5, &b, &mut h, t2 + Duration::from_secs(61)),
            (1, Limit::DesiredWithinRange)
        );
        let disabled = Behavior {
            up: Rules {
                select: Select::Disabled,
                ..Behavior::default().up
            },
            ..b
        };
        assert_eq!(
            normalize(1, 4, 1, 5, &disabled, &mut History::default(), t).0,
            1
        );
    }

    #[test]
    fn a_new_autoscaler_holds_its_count_for_the_scale_down_window() {
        let b = Behavior::default();
        let t = Instant::now();
        let mut h = History::starting_at(t, 3);
        assert_eq!(normalize(3, 1, 1, 5, &b, &mut h, t).0, 3);
        assert_eq!(
            normalize(3, 1, 1, 5, &b, &mut h, t + Duration::from_secs(290)).0,
            3
        );
        assert_eq!(
            normalize(3, 1, 1, 5, &b, &mut h, t + Duration::from_secs(301)).0,
            1
        );
    }

    #[test]
    fn bounds_apply_within_range() {
        let b = Behavior::default();
        let t = Instant::now();
        let mut h = History::default();
        // no earlier recommendation: nothing to stabilize against; min bounds it
        assert_eq!(
            normalize(3, 0, 2, 5, &b, &mut h, t),
            (2, Limit::TooFewReplicas)
        );
        // a 3 recommended within the window holds the count at 3
        let mut h = History::default();
        normalize(3, 3, 2, 5, &b, &mut h, t);
        assert_eq!(
            normalize(3, 0, 2, 5, &b, &mut h, t + Duration::from_secs(30)).0,
            3
        );
    }
}
