//! The kubelet's decisions as pure functions: what to do with a pod given its
//! container (restart policy, crash backoff), and how container state maps onto
//! Kubernetes' pod phase and container state. No I/O here: the agent in `mod.rs`
//! observes, calls these, and acts.

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ContainerState as K8sState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting,
};

use crate::runtime::ContainerState;

/// First delay of Kubernetes' crash backoff.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// Its cap.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container that ran this long before exiting resets the backoff.
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(600);

/// Crash backoff of one pod: the first restart at once, then 10 s doubling to 300 s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    /// The wait before the next restart.
    pub fn delay(&self) -> Duration {
        self.next.unwrap_or(Duration::ZERO)
    }
    /// Records a restart: the one after it waits longer.
    pub fn restarted(&mut self) {
        self.next = Some(match self.next {
            None => BACKOFF_INITIAL,
            Some(d) => (d * 2).min(BACKOFF_MAX),
        });
    }
    /// A clean long run: back to restarting at once.
    pub fn reset(&mut self) {
        self.next = None;
    }
}

/// `restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Restart whatever the exit code.
    Always,
    /// Restart on a non-zero exit code.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// From the spec's string (admission already refused anything else).
    pub fn parse(s: Option<&str>) -> RestartPolicy {
        match s {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether an exit with `code` is restarted.
    pub fn restarts(self, code: i64) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// What the agent should do next for a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to change.
    Steady,
    /// Create and start a container: the first one, or a replacement for one removed
    /// behind K1s's back (`replacement`: counts as a restart, without backoff).
    Create {
        /// A replacement for a removed container.
        replacement: bool,
    },
    /// Start the existing container that never ran (created, start failed or cut short).
    Start,
    /// Restart the exited container in place (counts as a restart).
    Restart,
    /// Wait this long, then restart (CrashLoopBackOff).
    BackOff(Duration),
    /// The pod is done: Succeeded (exit 0) or Failed.
    Finish {
        /// Whether it ended well.
        succeeded: bool,
    },
    /// The container vanished and the policy does not bring it back: Failed.
    Lost,
}

/// Decides the next step. `had_container`: the pod's status names a container (so a
/// missing one was removed behind K1s's back); `finished`: the pod already reached
/// Succeeded/Failed; `wait_left`: how much of the current backoff is still to wait.
pub fn decide(
    policy: RestartPolicy,
    finished: bool,
    had_container: bool,
    last_exit_code: Option<i64>,
    container: Option<&ContainerState>,
    wait_left: Duration,
) -> Step {
    if finished {
        return Step::Steady;
    }
    match container {
        None if !had_container => Step::Create { replacement: false },
        None => {
            // A removal is not a crash: the policy decides as if the container had been
            // running (OnFailure brings it back too), unless it had already exited 0.
            let restarts = match policy {
                RestartPolicy::Never => false,
                RestartPolicy::OnFailure => last_exit_code != Some(0),
                RestartPolicy::Always => true,
            };
            if restarts {
                Step::Create { replacement: true }
            } else if last_exit_code == Some(0) {
                Step::Finish { succeeded: true }
            } else {
                Step::Lost
            }
        }
        Some(s) if s.is_running() => Step::Steady,
        Some(s) if s.status == "created" => Step::Start,
        Some(s) if s.is_exited() => {
            if !policy.restarts(s.exit_code) {
                Step::Finish {
                    succeeded: s.exit_code == 0,
                }
            } else if wait_left.is_zero() {
                Step::Restart
            } else {
                Step::BackOff(wait_left)
            }
        }
        // removing and other passing states: look again on the next event
        Some(_) => Step::Steady,
    }
}

/// How long a run lasted, from Docker's timestamps.
pub fn run_length(s: &ContainerState) -> Option<Duration> {
    let start: jiff::Timestamp = s.started_at.as_deref()?.parse().ok()?;
    let end: jiff::Timestamp = s.finished_at.as_deref()?.parse().ok()?;
    let d = end.duration_since(start);
    d.is_positive()
        .then(|| Duration::from_secs_f64(d.as_secs_f64()))
}

/// Kubernetes' reason for a terminated container.
pub fn terminated_reason(s: &ContainerState) -> &'static str {
    if s.oom_killed {
        "OOMKilled"
    } else if s.exit_code == 0 {
        "Completed"
    } else {
        "Error"
    }
}

/// `state.terminated` of a container status.
pub fn terminated_state(s: &ContainerState, container_id: &str) -> K8sState {
    K8sState {
        terminated: Some(ContainerStateTerminated {
            exit_code: i32::try_from(s.exit_code).unwrap_or(i32::MAX),
            reason: Some(terminated_reason(s).into()),
            container_id: Some(format!("{CONTAINER_ID_PREFIX}{container_id}")),
            started_at: s
                .started_at
                .as_deref()
                .and_then(crate::util::docker_k8s_time),
            finished_at: s
                .finished_at
                .as_deref()
                .and_then(crate::util::docker_k8s_time),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The state of a container that vanished while its policy keeps it down (Kubernetes'
/// words for a container that cannot be located).
pub fn unknown_state() -> K8sState {
    K8sState {
        terminated: Some(ContainerStateTerminated {
            exit_code: 137,
            reason: Some("ContainerStatusUnknown".into()),
            message: Some("The container could not be located when the pod was terminated".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `state.running` of a container status.
pub fn running_state(s: &ContainerState) -> K8sState {
    K8sState {
        running: Some(ContainerStateRunning {
            started_at: s
                .started_at
                .as_deref()
                .and_then(crate::util::docker_k8s_time),
        }),
        ..Default::default()
    }
}

/// `state.waiting` with a reason and message.
pub fn waiting_state(reason: &str, message: Option<&str>) -> K8sState {
    K8sState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.into()),
            message: message.map(str::to_string),
        }),
        ..Default::default()
    }
}

/// The prefix of a container status' `containerID` (Kubernetes names the runtime).
pub const CONTAINER_ID_PREFIX: &str = "docker://";

/// The engine's id in a `containerID` (`docker://…`); `None` when empty.
pub fn engine_id(container_id: &str) -> Option<&str> {
    let id = container_id
        .strip_prefix(CONTAINER_ID_PREFIX)
        .unwrap_or(container_id);
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RestartPolicy::*;

    fn st(status: &str, code: i64) -> ContainerState {
        ContainerState {
            status: status.into(),
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn decisions_follow_restart_policy() {
        let z = Duration::ZERO;
        let ten = Duration::from_secs(10);
        let running = st("running", 0);
        let ok = st("exited", 0);
        let bad = st("exited", 1);
        let killed = st("exited", 137);
        let created = st("created", 0);
        #[rustfmt::skip]
        type Row<'a> = (RestartPolicy, bool, bool, Option<i64>, Option<&'a ContainerState>, Duration, Step);
        let table: Vec<Row> = vec![
            // first container
            (
                Always,
                false,
                false,
                None,
                None,
                z,
                Step::Create { replacement: false },
            ),
            (
                Never,
                false,
                false,
                None,
                None,
                z,
                Step::Create { replacement: false },
            ),
            // steady
            (Always, false, true, None, Some(&running), z, Step::Steady),
            (Always, false, true, None, Some(&created), z, Step::Start),
            // exits
            (Always, false, true, None, Some(&ok), z, Step::Restart),
            (
                Always,
                false,
                true,
                None,
                Some(&bad),
                ten,
                Step::BackOff(ten),
            ),
            (
                OnFailure,
                false,
                true,
                None,
                Some(&ok),
                z,
                Step::Finish { succeeded: true },
            ),
            (OnFailure, false, true, None, Some(&bad), z, Step::Restart),
            (
                Never,
                false,
                true,
                None,
                Some(&killed),
                z,
                Step::Finish { succeeded: false },
            ),
            (
                Never,
                false,
                true,
                None,
                Some(&ok),
                z,
                Step::Finish { succeeded: true },
            ),
            // removed behind our back
            (
                Always,
                false,
                true,
                None,
                None,
                ten,
                Step::Create { replacement: true },
            ),
            (
                OnFailure,
                false,
                true,
                None,
                None,
                z,
                Step::Create { replacement: true },
            ),
            (
                OnFailure,
                false,
                true,
                Some(0),
                None,
                z,
                Step::Finish { succeeded: true },
            ),
            (Never, false, true, None, None, z, Step::Lost),
            // a finished pod stays finished
            (Always, true, true, Some(1), None, z, Step::Steady),
        ];
        for (i, (p, fin, had, last, c, wait, want)) in table.into_iter().enumerate() {
            assert_eq!(decide(p, fin, had, last, c, wait), want, "row {i}");
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::default();
        assert_eq!(b.delay(), Duration::ZERO, "the first restart is at once");
        let mut seen = Vec::new();
        for _ in 0..8 {
            b.restarted();
            seen.push(b.delay().as_secs());
        }
        assert_eq!(seen, vec![10, 20, 40, 80, 160, 300, 300, 300]);
        b.reset();
        assert_eq!(b.delay(), Duration::ZERO);
    }

    #[test]
    fn terminated_reasons() {
        let mut s = st("exited", 0);
        assert_eq!(terminated_reason(&s), "Completed");
        s.exit_code = 2;
        assert_eq!(terminated_reason(&s), "Error");
        s.oom_killed = true;
        assert_eq!(terminated_reason(&s), "OOMKilled");
    }

    #[test]
    fn run_length_from_docker_times() {
        let s = ContainerState {
            status: "exited".into(),
            started_at: Some("2026-01-01T00:00:00.5Z".into()),
            finished_at: Some("2026-01-01T00:10:00.5Z".into()),
            ..Default::default()
        };
        assert_eq!(run_length(&s), Some(Duration::from_secs(600)));
        assert_eq!(run_length(&st("exited", 0)), None);
    }
}
