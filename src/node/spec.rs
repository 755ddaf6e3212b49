//! From an admitted Pod to the container that runs it: Kubernetes' mapping of
//! command/args, env (with `fieldRef`), ports and resources onto Docker's terms.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::config::ConfigEnv;
use crate::model::quantity::{cpu_millis, memory_bytes};
use crate::runtime::{
    ContainerSpec, LABEL_INSTANCE, LABEL_MARKER, LABEL_POD, LABEL_UID, MountSpec, PortSpec,
};

/// The first container of the pod: the one K1s runs (docs/decisions.md, "One container per pod").
pub fn first_container(pod: &Pod) -> Option<&Container> {
    pod.spec.as_ref().and_then(|s| s.containers.first())
}

/// Builds the container for `pod`, marked as this instance's (without anything from
/// ConfigMaps, Secrets or volumes: see [`container_spec_with`]).
pub fn container_spec(pod: &Pod, instance: &str, pod_ip: Option<&str>) -> Option<ContainerSpec> {
    container_spec_with(pod, instance, pod_ip, &ConfigEnv::default(), Vec::new())
}

/// Builds the container for `pod` with the environment its ConfigMaps and Secrets
/// give (`envFrom` first, then `env`, a later name replacing an earlier one) and the
/// bind mounts of its volumes.
pub fn container_spec_with(
    pod: &Pod,
    instance: &str,
    pod_ip: Option<&str>,
    config_env: &ConfigEnv,
    mounts: Vec<MountSpec>,
) -> Option<ContainerSpec> {
    let meta = &pod.metadata;
    let name = meta.name.clone()?;
    let uid = meta.uid.clone().unwrap_or_default();
    let c = first_container(pod)?;
    let mut labels: BTreeMap<String, String> = meta.labels.clone().unwrap_or_default();
    labels.insert(LABEL_MARKER.into(), "pod".into());
    labels.insert(LABEL_INSTANCE.into(), instance.into());
    labels.insert(LABEL_POD.into(), name.clone());
    labels.insert(LABEL_UID.into(), uid);

    let mut pairs: Vec<(String, String)> = config_env.from.clone();
    for (i, e) in c.env.iter().flatten().enumerate() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) => Some(expand(v, c)),
            (None, Some(from)) => match from.field_ref.as_ref() {
                Some(f) => Some(field_value(pod, &f.field_path, pod_ip)),
                // A key ref: its value, or nothing for an optional one that is missing.
                None => config_env.refs.get(&i).cloned().flatten(),
            },
            (None, None) => Some(String::new()),
        };
        if let Some(v) = value {
            pairs.retain(|(n, _)| *n != e.name);
            pairs.push((e.name.clone(), v));
        }
    }
    let env = pairs.into_iter().map(|(n, v)| format!("{n}={v}")).collect();

    let ports = c
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(PortSpec {
                container_port: u16::try_from(p.container_port).ok()?,
                protocol: p.protocol.as_deref().unwrap_or("TCP").to_lowercase(),
                host_port: p
                    .host_port
                    .and_then(|h| u16::try_from(h).ok())
                    .filter(|h| *h != 0),
                host_ip: p.host_ip.clone().filter(|s| !s.is_empty()),
            })
        })
        .collect();

    // Kubernetes' mapping: limits are hard limits, requests are shares and a soft
    // memory reservation; requests default from limits (admission already did that).
    let res = c.resources.as_ref();
    let q =
        |m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
         key: &str| m.and_then(|m| m.get(key)).map(|q| q.0.clone());
    let limits = res.and_then(|r| r.limits.as_ref());
    let requests = res.and_then(|r| r.requests.as_ref());
    let cpu_limit = q(limits, "cpu").and_then(|s| cpu_millis(&s).ok());
    let cpu_request = q(requests, "cpu").and_then(|s| cpu_millis(&s).ok());
    let mem_limit = q(limits, "memory").and_then(|s| memory_bytes(&s).ok());
    let mem_request = q(requests, "memory").and_then(|s| memory_bytes(&s).ok());

    let sc = c.security_context.as_ref();
    let user = sc.and_then(|s| match (s.run_as_user, s.run_as_group) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u.to_string()),
        _ => None,
    });
    let caps = sc.and_then(|s| s.capabilities.as_ref());

    Some(ContainerSpec {
        name: name.clone(),
        image: c.image.clone().unwrap_or_default(),
        labels,
        // Kubernetes expands `$(VAR)` in `command` as in `args`.
        entrypoint: c
            .command
            .as_ref()
            .map(|cmd| cmd.iter().map(|s| expand(s, c)).collect()),
        // Kubernetes: `command` without `args` ignores the image's CMD too.
        cmd: match (&c.command, &c.args) {
            (_, Some(a)) => Some(a.iter().map(|s| expand(s, c)).collect()),
            (Some(_), None) => Some(Vec::new()),
            (None, None) => None,
        },
        env,
        working_dir: c.working_dir.clone().filter(|s| !s.is_empty()),
        ports,
        nano_cpus: cpu_limit.filter(|m| *m > 0).map(|m| m * 1_000_000),
        // 1024 shares = one CPU, as the kubelet computes them (minimum 2).
        cpu_shares: cpu_request.map(|m| (m * 1024 / 1000).max(2)),
        memory: mem_limit.filter(|b| *b > 0),
        memory_reservation: mem_request.filter(|b| *b > 0),
        user,
        tty: c.tty.unwrap_or(false),
        stdin: c.stdin.unwrap_or(false),
        read_only_rootfs: sc
            .and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false),
        cap_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        cap_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
        privileged: sc.and_then(|s| s.privileged).unwrap_or(false),
        hostname: pod
            .spec
            .as_ref()
            .and_then(|s| s.hostname.clone())
            .or(Some(name)),
        mounts,
    })
}

/// The value of a `fieldRef` (admission allowed only these paths).
fn field_value(pod: &Pod, path: &str, pod_ip: Option<&str>) -> String {
    let meta = &pod.metadata;
    let from_map = |m: &Option<BTreeMap<String, String>>, prefix: &str| {
        let key = path
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .unwrap_or_default();
        m.as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default()
    };
    match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => "default".into(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => "k1s".into(),
        "status.hostIP" => "127.0.0.1".into(),
        "status.podIP" => pod_ip.unwrap_or_default().into(),
        p if p.starts_with("metadata.labels['") => from_map(&meta.labels, "metadata.labels['"),
        p if p.starts_with("metadata.annotations['") => {
            from_map(&meta.annotations, "metadata.annotations['")
        }
        _ => String::new(),
    }
}

/// Kubernetes' `$(VAR)` expansion in command, args and env values, from the container's literal
/// env values; `$$` escapes, unknown references stay as written.
fn expand(s: &str, c: &Container) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let vars: BTreeMap<&str, &str> = c
        .env
        .iter()
        .flatten()
        .filter_map(|e| e.value.as_deref().map(|v| (e.name.as_str(), v)))
        .collect();
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = tail.strip_prefix("$(")
            && let Some(end) = body.find(')')
        {
            let name = &body[..end];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&tail[..end + 3]),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(text: &str) -> Pod {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn maps_command_env_ports_and_resources() {
        let p = pod(r#"{
            "metadata": {"name": "web", "uid": "u1", "labels": {"app": "x"}},
            "spec": {"containers": [{
                "name": "c", "image": "k1s-test/http:1",
                "command": ["/bin/app"], "args": ["--greet", "$(WHO)", "$$(WHO)"],
                "env": [{"name": "WHO", "value": "world"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}],
                "ports": [{"containerPort": 80, "hostPort": 8081, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "32Mi"}}
            }]}
        }"#);
        let s = container_spec(&p, "inst", None).unwrap();
        assert_eq!(s.name, "web");
        assert_eq!(s.labels["app"], "x");
        assert_eq!(s.labels[LABEL_INSTANCE], "inst");
        assert_eq!(s.labels[LABEL_UID], "u1");
        assert_eq!(s.entrypoint, Some(vec!["/bin/app".to_string()]));
        assert_eq!(
            s.cmd,
            Some(vec!["--greet".into(), "world".into(), "$(WHO)".into()])
        );
        assert_eq!(s.env, vec!["WHO=world", "POD=web", "APP=x"]);
        assert_eq!(s.ports[0].host_port, Some(8081));
        assert_eq!(s.ports[1].protocol, "udp");
        assert_eq!(s.ports[1].host_port, None);
        assert_eq!(s.nano_cpus, Some(500_000_000));
        assert_eq!(s.cpu_shares, Some(256));
        assert_eq!(s.memory, Some(64 << 20));
        assert_eq!(s.memory_reservation, Some(32 << 20));
    }

    #[test]
    fn config_env_comes_first_env_wins_and_mounts_pass_through() {
        let p = pod(
            r#"{"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i",
            "env": [{"name": "A", "value": "literal"},
                    {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                    {"name": "O", "valueFrom": {"secretKeyRef": {"name": "s", "key": "o", "optional": true}}}]}]}}"#,
        );
        let env = ConfigEnv {
            from: vec![("A".into(), "from-cm".into()), ("B".into(), "b".into())],
            refs: [(1, Some("kv".to_string())), (2, None)].into(),
        };
        let m = MountSpec {
            source: "/src".into(),
            target: "/dst".into(),
            read_only: true,
        };
        let s = container_spec_with(&p, "i", None, &env, vec![m.clone()]).unwrap();
        assert_eq!(s.env, vec!["B=b", "A=literal", "K=kv"]);
        assert_eq!(s.mounts, vec![m]);
    }

    #[test]
    fn command_is_expanded_like_args() {
        let p = pod(r#"{"metadata": {"name": "a"}, "spec": {"containers": [
            {"name": "c", "image": "i", "command": ["/bin/$(PROG)", "$$(PROG)", "$(NOPE)"],
             "env": [{"name": "PROG", "value": "app"}]}]}}"#);
        let s = container_spec(&p, "i", None).unwrap();
        assert_eq!(
            s.entrypoint,
            Some(vec!["/bin/app".into(), "$(PROG)".into(), "$(NOPE)".into()])
        );
    }

    #[test]
    fn command_without_args_drops_the_image_cmd() {
        let p = pod(r#"{"metadata": {"name": "a"}, "spec": {"containers": [
            {"name": "c", "image": "i", "command": ["x"]}]}}"#);
        assert_eq!(container_spec(&p, "i", None).unwrap().cmd, Some(vec![]));
        let p = pod(
            r#"{"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}"#,
        );
        let s = container_spec(&p, "i", None).unwrap();
        assert_eq!((s.entrypoint, s.cmd), (None, None));
    }
}
