//! Writing a pod's status as the kubelet does: the container status (state, last
//! state, restarts, ids), the conditions and the addresses. Pure functions on
//! `PodStatus`; the agent applies them in one store update and writes only when the
//! result differs (status is persisted coalesced).

use k8s_openapi::api::core::v1::{
    ContainerState as K8sState, ContainerStatus, Pod, PodCondition, PodIP, PodStatus,
};

use super::lifecycle::CONTAINER_ID_PREFIX;
use crate::runtime::ContainerInfo;

/// Sets the pod's container status, keeping what the observation does not replace
/// (restart count, last state, image id): `restarts` is added to the count.
pub fn set_container_status(
    st: &mut PodStatus,
    c: Option<&ContainerInfo>,
    state: K8sState,
    last_state: Option<K8sState>,
    restarts: i32,
    ready: bool,
) {
    let mut cs = st
        .container_statuses
        .as_mut()
        .and_then(|v| v.drain(..).next())
        .unwrap_or_default();
    cs.restart_count = cs.restart_count.saturating_add(restarts);
    cs.state = Some(state);
    if let Some(l) = last_state {
        cs.last_state = Some(l);
    } else if cs.last_state.is_none() {
        cs.last_state = Some(K8sState::default());
    }
    if let Some(c) = c {
        cs.container_id = Some(format!("{CONTAINER_ID_PREFIX}{}", c.id));
        if let Some(img) = &c.image_id {
            cs.image_id = img.clone();
        }
    }
    cs.ready = ready;
    cs.started = Some(ready);
    st.container_statuses = Some(vec![cs]);
}

/// The phase, `Pending` when unset.
pub fn phase(st: &PodStatus) -> &str {
    st.phase.as_deref().unwrap_or("Pending")
}

/// Sets the phase.
pub fn set_phase(st: &mut PodStatus, phase: &str) {
    st.phase = Some(phase.into());
}

/// Drops the pod's addresses (its container is gone for good).
pub fn clear_ips(st: &mut PodStatus) {
    st.pod_ip = None;
    st.pod_ips = None;
}

/// Sets the pod's address.
pub fn set_ip(st: &mut PodStatus, ip: Option<&str>) {
    match ip {
        Some(ip) => {
            st.pod_ip = Some(ip.into());
            st.pod_ips = Some(vec![PodIP { ip: ip.into() }]);
        }
        None => st.pod_ip = None,
    }
}

/// Completes a status after any change: the container status names the container
/// and image it is about; the conditions follow its readiness; the host's address.
pub fn finish(pod: &Pod, st: &mut PodStatus) {
    let container = pod.spec.as_ref().and_then(|s| s.containers.first());
    let mut ready = false;
    if let Some(cs) = st.container_statuses.as_mut().and_then(|v| v.first_mut()) {
        if let Some(c) = container {
            cs.name = c.name.clone();
            cs.image = c.image.clone().unwrap_or_default();
        }
        ready = cs.ready;
    }
    let r = if ready { "True" } else { "False" };
    let cond = |t: &str, s: &str| PodCondition {
        type_: t.into(),
        status: s.into(),
        ..Default::default()
    };
    st.conditions = Some(vec![
        cond("PodScheduled", "True"),
        cond("Initialized", "True"),
        cond("ContainersReady", r),
        cond("Ready", r),
    ]);
    if st.host_ip.is_none() {
        st.host_ip = Some("127.0.0.1".into());
    }
}

/// The container status, if any.
pub fn container_status(st: &PodStatus) -> Option<&ContainerStatus> {
    st.container_statuses.as_ref().and_then(|v| v.first())
}
