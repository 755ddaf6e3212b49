//! What a stored pod's status says, read in one place: phase, its container's status
//! and engine id, readiness, restarts. The node agent writes these fields
//! (`node::status`); the core, the controllers and the API read them through here.

use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::store::MetaExt;

/// Reading a pod's status.
pub trait PodExt {
    /// The pod.
    fn pod(&self) -> &Pod;

    /// `status.phase` (`Pending` when unset).
    fn phase(&self) -> &str {
        self.pod()
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Pending")
    }

    /// Reached `Succeeded` or `Failed`, which a pod never leaves.
    fn is_finished(&self) -> bool {
        matches!(self.phase(), "Succeeded" | "Failed")
    }

    /// Counts toward its owner: neither being deleted nor finished.
    fn is_active(&self) -> bool {
        !self.pod().is_deleting() && !self.is_finished()
    }

    /// The status of the pod's (one) container.
    fn container_status(&self) -> Option<&ContainerStatus> {
        self.pod()
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.first())
    }

    /// The engine's id of the pod's container, if it has one.
    fn container_id(&self) -> Option<&str> {
        self.container_status()
            .and_then(|cs| cs.container_id.as_deref())
            .and_then(crate::node::lifecycle::engine_id)
    }

    /// Its container's restarts.
    fn restart_count(&self) -> i32 {
        self.container_status().map_or(0, |cs| cs.restart_count)
    }

    /// Its container's current state, if observed.
    fn container_state(&self) -> Option<&ContainerState> {
        self.container_status().and_then(|cs| cs.state.as_ref())
    }

    /// The Waiting or Terminated reason (what kubectl shows as STATUS).
    fn state_reason(&self) -> Option<&str> {
        let st = self.container_state()?;
        st.waiting
            .as_ref()
            .and_then(|w| w.reason.as_deref())
            .or_else(|| st.terminated.as_ref().and_then(|t| t.reason.as_deref()))
    }

    /// The `Ready` condition is True.
    fn is_ready(&self) -> bool {
        self.pod()
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    }

    /// `status.podIP`.
    fn pod_ip(&self) -> Option<&str> {
        self.pod().status.as_ref().and_then(|s| s.pod_ip.as_deref())
    }

    /// The image of the first container.
    fn image(&self) -> &str {
        self.pod()
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.as_deref())
            .unwrap_or_default()
    }
}

impl PodExt for Pod {
    fn pod(&self) -> &Pod {
        self
    }
}

/// When the container's current run started, or while it waits to restart, when the
/// run that just ended did (whose output `logs` shows then).
pub fn current_run_start(cs: &ContainerStatus) -> Option<&Time> {
    let state = cs.state.as_ref();
    state
        .and_then(|s| s.running.as_ref())
        .and_then(|r| r.started_at.as_ref())
        .or_else(|| {
            state
                .and_then(|s| s.terminated.as_ref())
                .and_then(|t| t.started_at.as_ref())
        })
        .or_else(|| {
            cs.last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .and_then(|t| t.started_at.as_ref())
        })
}
