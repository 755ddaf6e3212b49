//! Pods: admission (type meta, strict decoding, validation, defaults) and the checks
//! shared with ReplicaSet templates ([`validate_pod_spec`], [`validate_object_meta`],
//! [`apply_pod_spec_defaults`]).
//!
//! What K1s honours in a container, so the node agent knows what to apply: `name`,
//! `image`, `imagePullPolicy`, `command`, `args`, `workingDir`, `env` (`value`, and
//! `valueFrom.fieldRef`), `ports` (`hostPort` published on `hostIP`), `resources`
//! (cpu/memory limits and requests), `tty`, `stdin`, `stdinOnce`,
//! `securityContext.runAsUser/runAsGroup/readOnlyRootFilesystem`, and, only when host
//! power is allowed, `privileged`, `capabilities.add` and the pod's
//! `hostNetwork/hostPID/hostIPC/securityContext.sysctls`. Everything else is refused
//! (would change what runs) or accepted with a warning (no meaning on one machine).

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, Pod, PodSecurityContext, PodSpec, Probe,
    ResourceRequirements, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::meta::{
    apply_object_meta_defaults, check_label_map, child, index, key, validate_name_required,
    validate_object_meta,
};
use super::quantity::{cpu_millis, format_bytes, format_cpu, memory_bytes};
use super::{
    AdmissionOptions, Admitted, FieldError, HostLimits, Invalid, check_type_meta, decode_strict,
    names, strip_system_fields,
};

/// The only namespace K1s serves.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Kubernetes' default grace period, in seconds.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// Docker's smallest memory limit (and smallest non-zero memory reservation): 6 MiB.
pub const DOCKER_MIN_MEMORY_BYTES: i64 = 6 * 1024 * 1024;
/// Docker's smallest CPU limit: 0.01 CPU (`--cpus` range, and the 1 ms CFS quota).
pub const DOCKER_MIN_CPU_MILLIS: i64 = 10;
/// Largest total size of annotations, as in Kubernetes.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
const RESOURCE_NAMES: &[&str] = &["cpu", "memory", "ephemeral-storage"];
const FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels['<KEY>']",
    "metadata.annotations['<KEY>']",
    "spec.nodeName",
    "status.hostIP",
    "status.podIP",
];

/// Full admission of a Pod body for creation:
/// 1. `apiVersion` "v1" and `kind` "Pod" (nothing else is looked at when they are wrong);
/// 2. `status` and server-owned metadata dropped (`uid`, `resourceVersion`,
///    `creationTimestamp`, …: ignored, not errors);
/// 3. strict decoding: unknown fields and type errors, with their paths;
/// 4. semantic validation ([`validate_object_meta`], [`validate_pod_spec`]), every error
///    collected;
/// 5. defaults: `metadata.namespace` "default", [`apply_pod_spec_defaults`].
///
/// A name is required unless `generateName` is given; then `metadata.name` stays `None`
/// and the caller generates it ([`generated_name`]).
pub fn admit_pod(
    value: Value,
    host: &HostLimits,
    opts: &AdmissionOptions,
) -> Result<Admitted<Pod>, Invalid> {
    check_type_meta(&value, &["v1"], "Pod")?;
    let mut value = value;
    strip_system_fields(&mut value);

    let mut errs = Vec::new();
    let mut warnings = Vec::new();
    let Some(mut pod) = decode_strict::<Pod>(value, &mut errs) else {
        return Err(Invalid { causes: errs });
    };

    validate_object_meta(&pod.metadata, "metadata", &mut errs);
    validate_name_required(&pod.metadata, "metadata", &mut errs);
    validate_pod_name(&pod.metadata, "metadata", &mut errs);
    match &pod.spec {
        Some(spec) => validate_pod_spec(spec, "spec", host, opts, &mut errs, &mut warnings),
        None => errs.push(FieldError::required("spec.containers")),
    }
    if let Some(inv) = Invalid::from_causes(errs) {
        return Err(inv);
    }

    apply_object_meta_defaults(&mut pod.metadata);
    if let Some(spec) = pod.spec.as_mut() {
        apply_pod_spec_defaults(spec);
    }
    pod.status = None;
    Ok(Admitted {
        object: pod,
        warnings,
    })
}

/// Kubernetes' defaults that K1s relies on, for pods and pod templates:
/// `restartPolicy` Always, `terminationGracePeriodSeconds` 30, and per container
/// `imagePullPolicy` IfNotPresent (for every tag, `:latest` included: a documented
/// deviation: docs/decisions.md,
/// "Image pulls"), ports' `protocol` TCP, `requests` copied from `limits` where
/// absent, `env[].valueFrom.fieldRef.apiVersion` v1. Empty strings count as absent, as
/// in Go.
pub fn apply_pod_spec_defaults(spec: &mut PodSpec) {
    default_str(&mut spec.restart_policy, "Always");
    super::volumes::apply_volume_defaults(spec);
    if spec.termination_grace_period_seconds.is_none() {
        spec.termination_grace_period_seconds = Some(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    }
    for c in &mut spec.containers {
        default_str(&mut c.image_pull_policy, "IfNotPresent");
        for p in c.ports.iter_mut().flatten() {
            default_str(&mut p.protocol, "TCP");
        }
        if let Some(res) = c.resources.as_mut()
            && let Some(limits) = res.limits.as_ref().filter(|l| !l.is_empty())
        {
            let requests = res.requests.get_or_insert_with(BTreeMap::new);
            for (name, q) in limits {
                requests.entry(name.clone()).or_insert_with(|| q.clone());
            }
        }
        for e in c.env.iter_mut().flatten() {
            if let Some(fr) = e.value_from.as_mut().and_then(|vf| vf.field_ref.as_mut()) {
                default_str(&mut fr.api_version, "v1");
            }
        }
    }
}

fn default_str(field: &mut Option<String>, default: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(default.to_string());
    }
}

/// Pod names are also Docker container names, which need at least two characters
/// (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`); a valid DNS-1123 subdomain is otherwise one.
pub fn validate_pod_name(meta: &ObjectMeta, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(name) = meta.name.as_deref()
        && name.len() == 1
        && names::dns1123_subdomain(name).is_empty()
    {
        errs.push(FieldError::invalid(
                child(path, "name"),
                name,
                "must be at least 2 characters: K1s names the pod's container after the pod, and Docker container names have at least 2",
            ));
    }
}

/// Semantic validation of a PodSpec at a path prefix (`spec` for pods,
/// `spec.template.spec` for ReplicaSet templates). Works on a spec with or without
/// defaults applied. Errors go to `errs`, warnings for accepted-but-ignored fields to
/// `warnings`.
pub fn validate_pod_spec(
    spec: &PodSpec,
    path: &str,
    host: &HostLimits,
    opts: &AdmissionOptions,
    errs: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    let host_network = spec.host_network == Some(true);

    // Containers first: they are where most mistakes are.
    let cpath = child(path, "containers");
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&cpath));
    }
    let mut container_names = HashSet::new();
    let volumes = super::volumes::volume_names(spec);
    for (i, c) in spec.containers.iter().enumerate() {
        let ctx = ContainerCtx {
            path: index(&cpath, i),
            host,
            opts,
            host_network,
            volumes: &volumes,
        };
        validate_container(c, &ctx, &mut container_names, errs, warnings);
    }
    validate_host_port_conflicts(&spec.containers, &cpath, errs);
    if spec.containers.len() > 1 {
        warnings.push(format!(
            "{cpath}[1..]: only the first container runs in K1s; {} ignored",
            spec.containers.len() - 1
        ));
    }

    refuse_unsupported(spec, path, opts, errs);
    refuse_host_power(spec, path, opts, errs, warnings);
    validate_plain_values(spec, path, errs, warnings);
    warn_ignored(spec, path, warnings);
}

/// What K1s does not implement and that would change what runs: refused.
fn refuse_unsupported(
    spec: &PodSpec,
    path: &str,
    opts: &AdmissionOptions,
    errs: &mut Vec<FieldError>,
) {
    if spec.init_containers.as_ref().is_some_and(|v| !v.is_empty()) {
        errs.push(FieldError::unsupported_by_k1s(child(
            path,
            "initContainers",
        )));
    }
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        errs.push(FieldError::unsupported_by_k1s(child(
            path,
            "ephemeralContainers",
        )));
    }
    super::volumes::validate_volumes(spec, path, opts, errs);
    if spec.host_aliases.as_ref().is_some_and(|v| !v.is_empty()) {
        errs.push(FieldError::unsupported_by_k1s(child(path, "hostAliases")));
    }
    if spec.resource_claims.as_ref().is_some_and(|v| !v.is_empty()) {
        errs.push(FieldError::unsupported_by_k1s(child(
            path,
            "resourceClaims",
        )));
    }
    if spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        errs.push(FieldError::unsupported_by_k1s(child(
            path,
            "schedulingGates",
        )));
    }
    if spec
        .resources
        .as_ref()
        .is_some_and(|r| *r != ResourceRequirements::default())
    {
        errs.push(FieldError::unsupported_by_k1s(child(path, "resources")));
    }
    if spec.host_users == Some(false) {
        errs.push(FieldError::unsupported_by_k1s(child(path, "hostUsers")));
    }
    if let Some(os) = spec.os.as_ref()
        && os.name != "linux"
    {
        errs.push(FieldError::not_supported(
            child(&child(path, "os"), "name"),
            &os.name,
            &["linux"],
        ));
    }
}

/// Host power: refused unless the server allows it.
fn refuse_host_power(
    spec: &PodSpec,
    path: &str,
    opts: &AdmissionOptions,
    errs: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    for (name, on) in [
        ("hostNetwork", spec.host_network),
        ("hostPID", spec.host_pid),
        ("hostIPC", spec.host_ipc),
    ] {
        if on == Some(true) && !opts.allow_host_power {
            errs.push(FieldError::host_power(child(path, name)));
        }
    }
    if let Some(sc) = spec.security_context.as_ref() {
        validate_pod_security_context(sc, &child(path, "securityContext"), opts, errs, warnings);
    }
}

/// Enumerations and numbers of the pod spec.
fn validate_plain_values(
    spec: &PodSpec,
    path: &str,
    errs: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    if let Some(rp) = spec.restart_policy.as_deref().filter(|s| !s.is_empty())
        && !RESTART_POLICIES.contains(&rp)
    {
        errs.push(FieldError::not_supported(
            child(path, "restartPolicy"),
            rp,
            RESTART_POLICIES,
        ));
    }
    if let Some(g) = spec.termination_grace_period_seconds
        && g < 0
    {
        errs.push(FieldError::invalid_num(
            child(path, "terminationGracePeriodSeconds"),
            g,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(a) = spec.active_deadline_seconds {
        let ap = child(path, "activeDeadlineSeconds");
        if !(1..=i64::from(i32::MAX)).contains(&a) {
            errs.push(FieldError::invalid_num(
                ap,
                a,
                "must be between 1 and 2147483647, inclusive",
            ));
        } else {
            warnings.push(format!("{ap}: not enforced by K1s"));
        }
    }
    if let Some(d) = spec.dns_policy.as_deref().filter(|s| !s.is_empty()) {
        const DNS: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
        if !DNS.contains(&d) {
            errs.push(FieldError::not_supported(child(path, "dnsPolicy"), d, DNS));
        }
    }
    if let Some(p) = spec.preemption_policy.as_deref().filter(|s| !s.is_empty()) {
        const PRE: &[&str] = &["PreemptLowerPriority", "Never"];
        if !PRE.contains(&p) {
            errs.push(FieldError::not_supported(
                child(path, "preemptionPolicy"),
                p,
                PRE,
            ));
        }
    }
    if let Some(ns) = spec.node_selector.as_ref() {
        check_label_map(Some(ns), &child(path, "nodeSelector"), false, errs);
    }
}

/// No meaning on one machine, or not implemented and harmless: accepted, with a warning.
fn warn_ignored(spec: &PodSpec, path: &str, warnings: &mut Vec<String>) {
    const ONE_MACHINE: &str = "ignored by K1s (one machine)";
    const IGNORED: &str = "ignored by K1s";
    // A value equal to Kubernetes' default (what `kubectl run` sends: dnsPolicy
    // ClusterFirst, …) asks for nothing, so it gets no warning.
    let set_str = |s: &Option<String>, default: &str| {
        s.as_deref().is_some_and(|s| !s.is_empty() && s != default)
    };
    let non_empty = |n: Option<usize>| n.is_some_and(|n| n > 0);
    let ignored: [(&str, bool, &str); 21] = [
        (
            "nodeSelector",
            non_empty(spec.node_selector.as_ref().map(BTreeMap::len)),
            ONE_MACHINE,
        ),
        ("nodeName", set_str(&spec.node_name, ""), ONE_MACHINE),
        ("affinity", spec.affinity.is_some(), ONE_MACHINE),
        (
            "tolerations",
            non_empty(spec.tolerations.as_ref().map(Vec::len)),
            ONE_MACHINE,
        ),
        (
            "priority",
            spec.priority.is_some_and(|p| p != 0),
            ONE_MACHINE,
        ),
        (
            "priorityClassName",
            set_str(&spec.priority_class_name, ""),
            ONE_MACHINE,
        ),
        (
            "schedulerName",
            set_str(&spec.scheduler_name, "default-scheduler"),
            ONE_MACHINE,
        ),
        (
            "topologySpreadConstraints",
            non_empty(spec.topology_spread_constraints.as_ref().map(Vec::len)),
            ONE_MACHINE,
        ),
        (
            "preemptionPolicy",
            set_str(&spec.preemption_policy, "PreemptLowerPriority"),
            ONE_MACHINE,
        ),
        (
            "overhead",
            non_empty(spec.overhead.as_ref().map(BTreeMap::len)),
            ONE_MACHINE,
        ),
        (
            "runtimeClassName",
            set_str(&spec.runtime_class_name, ""),
            IGNORED,
        ),
        (
            "serviceAccountName",
            set_str(&spec.service_account_name, "default"),
            IGNORED,
        ),
        (
            "serviceAccount",
            set_str(&spec.service_account, "default"),
            IGNORED,
        ),
        // No tokens are mounted: only asking for one deserves a warning.
        (
            "automountServiceAccountToken",
            spec.automount_service_account_token == Some(true),
            IGNORED,
        ),
        (
            "dnsPolicy",
            set_str(&spec.dns_policy, "ClusterFirst"),
            IGNORED,
        ),
        ("dnsConfig", spec.dns_config.is_some(), IGNORED),
        ("hostname", set_str(&spec.hostname, ""), IGNORED),
        ("subdomain", set_str(&spec.subdomain, ""), IGNORED),
        (
            "imagePullSecrets",
            non_empty(spec.image_pull_secrets.as_ref().map(Vec::len)),
            IGNORED,
        ),
        (
            "readinessGates",
            non_empty(spec.readiness_gates.as_ref().map(Vec::len)),
            IGNORED,
        ),
        (
            "enableServiceLinks",
            spec.enable_service_links == Some(false),
            IGNORED,
        ),
    ];
    for (name, set, why) in ignored {
        if set {
            warnings.push(format!("{}: {why}", child(path, name)));
        }
    }
    if spec.share_process_namespace.is_some() {
        warnings.push(format!(
            "{}: {IGNORED} (one container per pod)",
            child(path, "shareProcessNamespace")
        ));
    }
    if spec.set_hostname_as_fqdn.is_some() {
        warnings.push(format!("{}: {IGNORED}", child(path, "setHostnameAsFQDN")));
    }
}

/// Pod-level securityContext: sysctls and unconfined profiles are host power; the rest
/// is not applied by K1s (the container's own securityContext is), hence a warning.
fn validate_pod_security_context(
    sc: &PodSecurityContext,
    sp: &str,
    opts: &AdmissionOptions,
    errs: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    let mut rest = sc.clone();
    if sc.sysctls.as_ref().is_some_and(|s| !s.is_empty()) && !opts.allow_host_power {
        errs.push(FieldError::host_power(child(sp, "sysctls")));
    }
    rest.sysctls = None;
    if !opts.allow_host_power {
        if sc
            .seccomp_profile
            .as_ref()
            .is_some_and(|p| p.type_ == "Unconfined")
        {
            errs.push(FieldError::host_power(child(
                &child(sp, "seccompProfile"),
                "type",
            )));
            rest.seccomp_profile = None;
        }
        if sc
            .app_armor_profile
            .as_ref()
            .is_some_and(|p| p.type_ == "Unconfined")
        {
            errs.push(FieldError::host_power(child(
                &child(sp, "appArmorProfile"),
                "type",
            )));
            rest.app_armor_profile = None;
        }
    }
    if rest != PodSecurityContext::default() {
        warnings.push(format!(
            "{sp}: ignored by K1s (set runAsUser, runAsGroup or readOnlyRootFilesystem on the container)"
        ));
    }
}

/// What container checks need besides the container.
struct ContainerCtx<'a> {
    path: String,
    host: &'a HostLimits,
    opts: &'a AdmissionOptions,
    host_network: bool,
    volumes: &'a HashSet<String>,
}

fn validate_container(
    c: &Container,
    ctx: &ContainerCtx<'_>,
    container_names: &mut HashSet<String>,
    errs: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    let cp = ctx.path.as_str();

    let np = child(cp, "name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&np));
    } else {
        for m in names::dns1123_label(&c.name) {
            errs.push(FieldError::invalid(&np, &c.name, &m));
        }
        if !container_names.insert(c.name.clone()) {
            errs.push(FieldError::duplicate(&np, &c.name));
        }
    }

    let ip = child(cp, "image");
    match c.image.as_deref() {
        None => errs.push(FieldError::required(&ip)),
        Some(img) if img.trim().is_empty() => errs.push(FieldError::required(&ip)),
        Some(img) if img.trim() != img => errs.push(FieldError::invalid(
            &ip,
            img,
            "must not have leading or trailing whitespace",
        )),
        Some(img) => {
            if let Err(e) = names::image_reference(img) {
                errs.push(FieldError::invalid(&ip, img, &e));
            }
        }
    }
    if let Some(p) = c.image_pull_policy.as_deref().filter(|s| !s.is_empty())
        && !PULL_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(
            child(cp, "imagePullPolicy"),
            p,
            PULL_POLICIES,
        ));
    }
    if let Some(wd) = c.working_dir.as_deref().filter(|s| !s.is_empty())
        && !wd.starts_with('/')
    {
        errs.push(FieldError::invalid(
            child(cp, "workingDir"),
            wd,
            "must be an absolute path (Docker requires one)",
        ));
    }

    let pp = child(cp, "ports");
    let mut port_names = HashSet::new();
    for (j, port) in c.ports.iter().flatten().enumerate() {
        validate_port(
            port,
            &index(&pp, j),
            ctx.host_network,
            &mut port_names,
            errs,
        );
    }

    let ep = child(cp, "env");
    for (j, e) in c.env.iter().flatten().enumerate() {
        validate_env(e, &index(&ep, j), errs);
    }
    super::volumes::validate_env_from(c, cp, errs);

    if let Some(r) = c.resources.as_ref() {
        validate_resources(r, &child(cp, "resources"), ctx.host, errs, warnings);
    }

    super::volumes::validate_mounts(c, cp, ctx.volumes, errs);
    if c.volume_devices.as_ref().is_some_and(|v| !v.is_empty()) {
        errs.push(FieldError::unsupported_by_k1s(child(cp, "volumeDevices")));
    }
    if c.lifecycle
        .as_ref()
        .is_some_and(|l| *l != Default::default())
    {
        errs.push(FieldError::unsupported_by_k1s(child(cp, "lifecycle")));
    }
    if c.restart_policy.is_some() {
        errs.push(FieldError::forbidden(
            child(cp, "restartPolicy"),
            "may not be set for non-init containers",
        ));
    }
    if let Some(tp) = c
        .termination_message_policy
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        const TMP: &[&str] = &["File", "FallbackToLogsOnError"];
        if !TMP.contains(&tp) {
            errs.push(FieldError::not_supported(
                child(cp, "terminationMessagePolicy"),
                tp,
                TMP,
            ));
        }
    }

    for (name, probe) in [
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
        ("startupProbe", &c.startup_probe),
    ] {
        if let Some(p) = probe {
            let pp = child(cp, name);
            validate_probe(p, &pp, errs);
            warnings.push(format!("{pp}: not yet enforced by K1s"));
        }
    }
    if c.resize_policy.as_ref().is_some_and(|v| !v.is_empty()) {
        warnings.push(format!("{}: ignored by K1s", child(cp, "resizePolicy")));
    }

    if let Some(sc) = c.security_context.as_ref() {
        validate_security_context(sc, &child(cp, "securityContext"), ctx.opts, errs, warnings);
    }
}

/// A probe must name exactly one handler; K1s does not run probes yet.
fn validate_probe(p: &Probe, path: &str, errs: &mut Vec<FieldError>) {
    let handlers = [
        p.exec.is_some(),
        p.http_get.is_some(),
        p.tcp_socket.is_some(),
        p.grpc.is_some(),
    ]
    .iter()
    .filter(|h| **h)
    .count();
    match handlers {
        0 => errs.push(FieldError::required_detail(
            path,
            "must specify a handler type",
        )),
        1 => {}
        _ => errs.push(FieldError::forbidden(
            path,
            "may not specify more than 1 handler type",
        )),
    }
}

fn validate_port(
    port: &ContainerPort,
    pp: &str,
    host_network: bool,
    port_names: &mut HashSet<String>,
    errs: &mut Vec<FieldError>,
) {
    const RANGE: &str = "must be between 1 and 65535, inclusive";
    let cport = child(pp, "containerPort");
    if port.container_port == 0 {
        errs.push(FieldError::required(&cport));
    } else if !(1..=65535).contains(&port.container_port) {
        errs.push(FieldError::invalid_num(
            &cport,
            port.container_port.into(),
            RANGE,
        ));
    }
    if let Some(h) = port.host_port.filter(|h| *h != 0) {
        let hp = child(pp, "hostPort");
        if !(1..=65535).contains(&h) {
            errs.push(FieldError::invalid_num(&hp, h.into(), RANGE));
        } else if host_network && h != port.container_port {
            errs.push(FieldError::invalid_num(
                &hp,
                h.into(),
                "must match `containerPort` when `hostNetwork` is true",
            ));
        }
    }
    if let Some(p) = port.protocol.as_deref().filter(|s| !s.is_empty())
        && !PROTOCOLS.contains(&p)
    {
        errs.push(FieldError::not_supported(
            child(pp, "protocol"),
            p,
            PROTOCOLS,
        ));
    }
    if let Some(n) = port.name.as_deref().filter(|s| !s.is_empty()) {
        let np = child(pp, "name");
        for m in names::iana_svc_name(n) {
            errs.push(FieldError::invalid(&np, n, &m));
        }
        if !port_names.insert(n.to_string()) {
            errs.push(FieldError::duplicate(&np, n));
        }
    }
    if let Some(ip) = port.host_ip.as_deref().filter(|s| !s.is_empty())
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        errs.push(FieldError::invalid(
            child(pp, "hostIP"),
            ip,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ));
    }
}

/// A host port published by a pod's running container: what must be unique on the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPortBinding {
    /// The host address, empty for all addresses (Docker binds 0.0.0.0).
    pub host_ip: String,
    /// "TCP", "UDP" or "SCTP".
    pub protocol: String,
    /// 1..=65535.
    pub host_port: i32,
}

impl std::fmt::Display for HostPortBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host_ip.is_empty() {
            write!(f, "{}/{}", self.host_port, self.protocol)
        } else if self.host_ip.contains(':') {
            write!(f, "[{}]:{}/{}", self.host_ip, self.host_port, self.protocol)
        } else {
            write!(f, "{}:{}/{}", self.host_ip, self.host_port, self.protocol)
        }
    }
}

fn bindings_of(c: &Container) -> impl Iterator<Item = (usize, HostPortBinding)> + '_ {
    c.ports.iter().flatten().enumerate().filter_map(|(j, p)| {
        let h = p.host_port.filter(|h| *h != 0)?;
        Some((
            j,
            HostPortBinding {
                host_ip: p.host_ip.clone().unwrap_or_default(),
                protocol: p
                    .protocol
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "TCP".into()),
                host_port: h,
            },
        ))
    })
}

/// The host ports a pod publishes: those of its first container, the one K1s runs.
/// The API layer refuses a pod whose bindings another pod already holds (409; docs/decisions.md,
/// "Network").
pub fn host_port_bindings(spec: &PodSpec) -> Vec<HostPortBinding> {
    spec.containers
        .first()
        .map(|c| bindings_of(c).map(|(_, b)| b).collect())
        .unwrap_or_default()
}

/// The same (hostIP, protocol, hostPort) twice among the pod's containers.
fn validate_host_port_conflicts(containers: &[Container], cpath: &str, errs: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        for (j, b) in bindings_of(c) {
            let shown = b.to_string();
            if !seen.insert(b) {
                let hp = child(&index(&child(&index(cpath, i), "ports"), j), "hostPort");
                errs.push(FieldError::duplicate(hp, &shown));
            }
        }
    }
}

fn validate_env(e: &EnvVar, ep: &str, errs: &mut Vec<FieldError>) {
    let np = child(ep, "name");
    if e.name.is_empty() {
        errs.push(FieldError::required(&np));
    } else {
        for m in names::env_var_name(&e.name) {
            errs.push(FieldError::invalid(&np, &e.name, &m));
        }
    }
    let Some(vf) = e.value_from.as_ref() else {
        return;
    };
    let vp = child(ep, "valueFrom");
    if e.value.as_deref().is_some_and(|v| !v.is_empty()) {
        errs.push(FieldError::invalid(
            &vp,
            "",
            "may not be specified when `value` is not empty",
        ));
        return;
    }
    let sources = [
        ("fieldRef", vf.field_ref.is_some()),
        ("resourceFieldRef", vf.resource_field_ref.is_some()),
        ("configMapKeyRef", vf.config_map_key_ref.is_some()),
        ("secretKeyRef", vf.secret_key_ref.is_some()),
    ];
    match sources.iter().filter(|(_, set)| *set).count() {
        0 => {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
            return;
        }
        1 => {}
        _ => {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "may not have more than one field specified at a time",
            ));
            return;
        }
    }
    if vf.resource_field_ref.is_some() {
        errs.push(FieldError::unsupported_by_k1s(child(
            &vp,
            "resourceFieldRef",
        )));
    }
    if let Some(r) = vf.config_map_key_ref.as_ref() {
        super::volumes::validate_key_ref(&r.name, &r.key, &child(&vp, "configMapKeyRef"), errs);
    }
    if let Some(r) = vf.secret_key_ref.as_ref() {
        super::volumes::validate_key_ref(&r.name, &r.key, &child(&vp, "secretKeyRef"), errs);
    }
    if let Some(fr) = vf.field_ref.as_ref() {
        let fp = child(&vp, "fieldRef");
        if let Some(v) = fr.api_version.as_deref().filter(|s| !s.is_empty())
            && v != "v1"
        {
            errs.push(FieldError::not_supported(
                child(&fp, "apiVersion"),
                v,
                &["v1"],
            ));
        }
        let pathp = child(&fp, "fieldPath");
        if fr.field_path.is_empty() {
            errs.push(FieldError::required(&pathp));
        } else if let Err(detail) = check_field_path(&fr.field_path) {
            match detail {
                None => errs.push(FieldError::not_supported(
                    &pathp,
                    &fr.field_path,
                    FIELD_PATHS,
                )),
                Some(m) => errs.push(FieldError::invalid(&pathp, &fr.field_path, &m)),
            }
        }
    }
}

/// Whether the downward API can fill an env var from this path. `Err(None)`: not a
/// supported path; `Err(Some(reason))`: a subscripted path with a bad key.
fn check_field_path(p: &str) -> Result<(), Option<String>> {
    const PLAIN: &[&str] = &[
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "status.hostIP",
        "status.podIP",
    ];
    if PLAIN.contains(&p) {
        return Ok(());
    }
    for prefix in ["metadata.labels['", "metadata.annotations['"] {
        if let Some(k) = p.strip_prefix(prefix).and_then(|r| r.strip_suffix("']")) {
            let msgs = names::qualified_name(&k.to_lowercase());
            return if msgs.is_empty() {
                Ok(())
            } else {
                Err(Some(msgs.join("; ")))
            };
        }
    }
    Err(None)
}

/// Parsed quantity of one resource entry, or `None` when it was refused.
fn parse_resource(name: &str, q: &Quantity) -> Option<Result<i64, String>> {
    match name {
        "cpu" => Some(cpu_millis(&q.0)),
        "memory" | "ephemeral-storage" => Some(memory_bytes(&q.0)),
        _ => None,
    }
}

fn cpus_shown(millis: i64) -> String {
    let n = format_cpu(millis);
    if millis == 1000 {
        format!("{n} CPU")
    } else {
        format!("{n} CPUs")
    }
}

fn validate_resources(
    r: &ResourceRequirements,
    rp: &str,
    host: &HostLimits,
    errs: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    if r.claims.as_ref().is_some_and(|c| !c.is_empty()) {
        errs.push(FieldError::unsupported_by_k1s(child(rp, "claims")));
    }
    // Parse both maps first: comparisons need both sides.
    let mut parsed: [HashMap<&str, (i64, &str)>; 2] = [HashMap::new(), HashMap::new()];
    for (slot, (kind, map)) in [("limits", &r.limits), ("requests", &r.requests)]
        .into_iter()
        .enumerate()
    {
        let mp = child(rp, kind);
        for (name, q) in map.iter().flatten() {
            let ep = key(&mp, name);
            match parse_resource(name, q) {
                None => errs.push(FieldError::not_supported(&ep, name, RESOURCE_NAMES)),
                Some(Err(m)) => errs.push(FieldError::invalid(&ep, &q.0, &m)),
                Some(Ok(v)) if v < 0 => errs.push(FieldError::invalid(
                    &ep,
                    &q.0,
                    "must be greater than or equal to 0",
                )),
                Some(Ok(v)) => {
                    if name == "ephemeral-storage" {
                        warnings.push(format!("{ep}: not enforced by K1s"));
                    }
                    parsed[slot].insert(name.as_str(), (v, q.0.as_str()));
                }
            }
        }
    }
    let [limits, requests] = &parsed;
    let lp = child(rp, "limits");
    let qp = child(rp, "requests");

    for name in ["cpu", "memory"] {
        let limit = limits.get(name);
        let request = requests.get(name);
        if let (Some((l, lq)), Some((q, qq))) = (limit, request)
            && q > l
        {
            errs.push(FieldError::invalid(
                key(&qp, name),
                qq,
                &format!("must be less than or equal to {name} limit of {lq}"),
            ));
        }
        // Above the host: the limit if any, else the request (a request defaulted from
        // the limit must not report the same thing twice).
        let (host_value, shown_host) = match name {
            "cpu" => (host.cpu_millis, cpus_shown(host.cpu_millis)),
            _ => (
                host.memory_bytes,
                format!("{} of memory", format_bytes(host.memory_bytes)),
            ),
        };
        if host_value > 0 {
            let over = |(v, q): &(i64, &str), p: String| {
                (*v > host_value).then(|| {
                    FieldError::invalid(
                        p,
                        q,
                        &format!("exceeds what this machine has ({shown_host})"),
                    )
                })
            };
            if let Some(e) = limit.and_then(|l| over(l, key(&lp, name))) {
                errs.push(e);
            }
            if let Some(e) = request
                .filter(|_| limit.is_none())
                .and_then(|q| over(q, key(&qp, name)))
            {
                errs.push(e);
            }
        }
    }

    // Docker's floors: below them the container would not start at all.
    if let Some((v, q)) = limits.get("memory")
        && *v < DOCKER_MIN_MEMORY_BYTES
    {
        errs.push(FieldError::invalid(
            key(&lp, "memory"),
            q,
            "must be at least 6Mi (Docker's minimum memory limit)",
        ));
    }
    if let Some((v, q)) = requests.get("memory")
        && *v > 0
        && *v < DOCKER_MIN_MEMORY_BYTES
    {
        errs.push(FieldError::invalid(
            key(&qp, "memory"),
            q,
            "must be 0 or at least 6Mi (Docker's minimum memory reservation)",
        ));
    }
    if let Some((v, q)) = limits.get("cpu")
        && *v < DOCKER_MIN_CPU_MILLIS
    {
        errs.push(FieldError::invalid(
            key(&lp, "cpu"),
            q,
            "must be at least 10m (Docker's minimum CPU limit)",
        ));
    }
}

/// Container securityContext: host power refused unless allowed; `runAsUser`,
/// `runAsGroup`, `readOnlyRootFilesystem` honoured; the rest not enforced (warning).
fn validate_security_context(
    sc: &SecurityContext,
    sp: &str,
    opts: &AdmissionOptions,
    errs: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    let allow = opts.allow_host_power;
    if sc.privileged == Some(true) && !allow {
        errs.push(FieldError::host_power(child(sp, "privileged")));
    }
    if let Some(caps) = sc.capabilities.as_ref() {
        let cp = child(sp, "capabilities");
        if caps.add.as_ref().is_some_and(|a| !a.is_empty()) && !allow {
            errs.push(FieldError::host_power(child(&cp, "add")));
        }
        if caps.drop.as_ref().is_some_and(|d| !d.is_empty()) {
            warnings.push(format!("{}: not enforced by K1s", child(&cp, "drop")));
        }
    }
    for (name, id) in [
        ("runAsUser", sc.run_as_user),
        ("runAsGroup", sc.run_as_group),
    ] {
        if let Some(id) = id
            && !(0..=i64::from(i32::MAX)).contains(&id)
        {
            errs.push(FieldError::invalid_num(
                child(sp, name),
                id,
                "must be between 0 and 2147483647, inclusive",
            ));
        }
    }
    if let Some(pm) = sc.proc_mount.as_deref().filter(|s| !s.is_empty()) {
        let pp = child(sp, "procMount");
        match pm {
            "Default" => {}
            "Unmasked" if !allow => errs.push(FieldError::host_power(pp)),
            "Unmasked" => {}
            other => errs.push(FieldError::not_supported(
                pp,
                other,
                &["Default", "Unmasked"],
            )),
        }
    }
    for (name, ty) in [
        (
            "seccompProfile",
            sc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
        ),
        (
            "appArmorProfile",
            sc.app_armor_profile.as_ref().map(|p| p.type_.as_str()),
        ),
    ] {
        match ty {
            Some("Unconfined") if !allow => {
                errs.push(FieldError::host_power(child(&child(sp, name), "type")));
            }
            Some(_) => warnings.push(format!("{}: not enforced by K1s", child(sp, name))),
            None => {}
        }
    }
    if sc.allow_privilege_escalation == Some(false) {
        warnings.push(format!(
            "{}: not enforced by K1s",
            child(sp, "allowPrivilegeEscalation")
        ));
    }
    for (name, set) in [
        ("runAsNonRoot", sc.run_as_non_root.is_some()),
        ("seLinuxOptions", sc.se_linux_options.is_some()),
        ("windowsOptions", sc.windows_options.is_some()),
    ] {
        if set {
            warnings.push(format!("{}: not enforced by K1s", child(sp, name)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::meta::generated_name;
    use crate::model::parse_body;
    use serde_json::json;

    /// The handout's example, `examples/pod.yaml`.
    const EXAMPLE_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: nginx
  labels:
    app: hello
    version: "1.0"
spec:
  containers:
  - name: nginx
    image: nginx
    ports:
    - containerPort: 80
      protocol: TCP
"#;

    const HOST: HostLimits = HostLimits {
        cpu_millis: 2000,
        memory_bytes: 8 << 30,
    };
    const STRICT: AdmissionOptions = AdmissionOptions {
        allow_host_power: false,
    };
    const POWER: AdmissionOptions = AdmissionOptions {
        allow_host_power: true,
    };

    fn admit_yaml(y: &str) -> Result<Admitted<Pod>, Invalid> {
        let v = parse_body(y.as_bytes(), true).expect("test YAML parses");
        admit_pod(v, &HOST, &STRICT)
    }

    /// Every cause of a refused pod, displayed.
    fn errors(y: &str) -> Vec<String> {
        match admit_yaml(y) {
            Ok(a) => panic!("expected errors, admitted: {:?}", a.object.metadata.name),
            Err(inv) => inv.causes.iter().map(ToString::to_string).collect(),
        }
    }

    /// A pod with one container `c`, image `busybox`, and `extra` appended to the
    /// container (indented 4 spaces) and `spec_extra` to the spec (indented 2).
    fn pod_with(container_extra: &str, spec_extra: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\nspec:\n{spec_extra}  containers:\n  - name: c\n    image: busybox\n{container_extra}"
        )
    }

    fn assert_one_error(y: &str, want: &str) {
        assert_eq!(errors(y), vec![want.to_string()], "{y}");
    }

    #[test]
    fn example_pod_admits_with_defaults() {
        let a = admit_yaml(EXAMPLE_POD).unwrap();
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        let pod = a.object;
        assert_eq!(pod.metadata.name.as_deref(), Some("nginx"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        let labels = pod.metadata.labels.unwrap();
        assert_eq!(labels.get("app").map(String::as_str), Some("hello"));
        assert_eq!(labels.get("version").map(String::as_str), Some("1.0"));
        let spec = pod.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        let c = &spec.containers[0];
        assert_eq!(c.image.as_deref(), Some("nginx"));
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        let p = &c.ports.as_ref().unwrap()[0];
        assert_eq!(p.container_port, 80);
        assert_eq!(p.protocol.as_deref(), Some("TCP"));
        assert!(pod.status.is_none());
    }

    #[test]
    fn json_body_and_defaults() {
        let body = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "web", "image": "nginx:latest",
                "ports": [{"containerPort": 8080, "hostPort": 8080}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}}]}
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        let a = admit_pod(parse_body(&bytes, false).unwrap(), &HOST, &STRICT).unwrap();
        let spec = a.object.spec.unwrap();
        let c = &spec.containers[0];
        // IfNotPresent for :latest too (docs/decisions.md, "Image pulls").
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(
            c.ports.as_ref().unwrap()[0].protocol.as_deref(),
            Some("TCP")
        );
        let r = c.resources.as_ref().unwrap();
        assert_eq!(r.requests, r.limits, "requests default from limits");
        assert_eq!(
            host_port_bindings(&spec),
            vec![HostPortBinding {
                host_ip: String::new(),
                protocol: "TCP".into(),
                host_port: 8080
            }]
        );
    }

    #[test]
    fn explicit_values_are_kept() {
        let y = pod_with(
            "    imagePullPolicy: Always\n    resources:\n      requests:\n        cpu: 100m\n      limits:\n        cpu: 1\n",
            "  restartPolicy: Never\n  terminationGracePeriodSeconds: 5\n",
        );
        let a = admit_yaml(&y).unwrap();
        let spec = a.object.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.termination_grace_period_seconds, Some(5));
        let c = &spec.containers[0];
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        let r = c.resources.as_ref().unwrap();
        assert_eq!(r.requests.as_ref().unwrap()["cpu"].0, "100m");
        // `cpu: 1` (a YAML number) is a valid quantity, as in Kubernetes.
        assert_eq!(r.limits.as_ref().unwrap()["cpu"].0, "1");
    }

    #[test]
    fn type_meta_checked_first() {
        let y = EXAMPLE_POD.replace("apiVersion: v1", "apiVersion: apps/v1");
        assert_one_error(
            &y,
            r#"apiVersion: Unsupported value: "apps/v1": supported values: "v1""#,
        );
        let y = EXAMPLE_POD.replace("kind: Pod", "kind: ReplicaSet");
        assert_one_error(
            &y,
            r#"kind: Unsupported value: "ReplicaSet": supported values: "Pod""#,
        );
        // Nothing else is reported while the kind is wrong.
        let y = "kind: Pod\nspec: {}\n";
        assert_one_error(y, "apiVersion: Required value");
        let e = admit_pod(json!({"metadata": {}}), &HOST, &STRICT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "apiVersion: Required value; kind: Required value"
        );
    }

    #[test]
    fn names() {
        let y = EXAMPLE_POD.replace("name: nginx\n  labels", "name: My_Pod\n  labels");
        let e = errors(&y);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(
                r#"metadata.name: Invalid value: "My_Pod": a lowercase RFC 1123 subdomain"#
            ),
            "{e:?}"
        );
        let long = format!("name: {}\n  labels", "a".repeat(254));
        let e = errors(&EXAMPLE_POD.replace("name: nginx\n  labels", &long));
        assert!(
            e[0].contains("must be no more than 253 characters"),
            "{e:?}"
        );
        // 253 is fine: pods need not be DNS labels.
        let ok = format!("name: {}\n  labels", "a".repeat(253));
        assert!(admit_yaml(&EXAMPLE_POD.replace("name: nginx\n  labels", &ok)).is_ok());
        // One character is a DNS name but not a Docker container name.
        let e = errors(&EXAMPLE_POD.replace("name: nginx\n  labels", "name: a\n  labels"));
        assert!(
            e[0].starts_with(r#"metadata.name: Invalid value: "a": must be at least 2"#),
            "{e:?}"
        );

        let y = EXAMPLE_POD.replace("  name: nginx\n", "");
        assert_one_error(
            &y,
            "metadata.name: Required value: name or generateName is required",
        );
        let y = EXAMPLE_POD.replace("  name: nginx\n", "  name: \"\"\n");
        assert_one_error(
            &y,
            "metadata.name: Required value: name or generateName is required",
        );
    }

    #[test]
    fn generate_name() {
        let y = EXAMPLE_POD.replace("  name: nginx\n", "  generateName: web-\n");
        let a = admit_yaml(&y).unwrap();
        assert_eq!(a.object.metadata.name, None);
        assert_eq!(a.object.metadata.generate_name.as_deref(), Some("web-"));
        let y = EXAMPLE_POD.replace("  name: nginx\n", "  generateName: Web_\n");
        let e = errors(&y);
        assert!(
            e[0].starts_with(r#"metadata.generateName: Invalid value: "Web_""#),
            "{e:?}"
        );
        assert_eq!(generated_name("web-", "x7k2q"), "web-x7k2q");
        assert_eq!(generated_name(&"a".repeat(100), "bcdfg").len(), 63);
    }

    #[test]
    fn namespace() {
        let y = EXAMPLE_POD.replace(
            "  name: nginx\n",
            "  name: nginx\n  namespace: kube-system\n",
        );
        assert_one_error(
            &y,
            r#"metadata.namespace: Invalid value: "kube-system": K1s serves only the default namespace"#,
        );
        let y = EXAMPLE_POD.replace("  name: nginx\n", "  name: nginx\n  namespace: default\n");
        assert!(admit_yaml(&y).is_ok());
    }

    #[test]
    fn labels_checked() {
        let y = EXAMPLE_POD.replace("    app: hello\n", "    bad key: hello\n");
        let e = errors(&y);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                r#"metadata.labels: Invalid value: "bad key": name part must consist of"#
            ),
            "{e:?}"
        );
        let y = EXAMPLE_POD.replace("    app: hello\n", "    app: -hello\n");
        let e = errors(&y);
        assert!(
            e[0].starts_with(r#"metadata.labels: Invalid value: "-hello": a valid label must be"#),
            "{e:?}"
        );
        let y = EXAMPLE_POD.replace(
            "    app: hello\n",
            &format!("    app: {}\n", "v".repeat(64)),
        );
        assert!(errors(&y)[0].contains("must be no more than 63 characters"));
        for reserved in ["k1s", "k1s.io/pod", "sub.k1s.io/x"] {
            let y = EXAMPLE_POD.replace("    app: hello\n", &format!("    {reserved}: pod\n"));
            assert_one_error(
                &y,
                &format!(
                    r#"metadata.labels: Invalid value: "{reserved}": the label keys k1s and k1s.io/... are reserved for K1s"#
                ),
            );
        }
        let y = EXAMPLE_POD.replace("    app: hello\n", "    app.kubernetes.io/name: hello\n");
        assert!(admit_yaml(&y).is_ok());
    }

    #[test]
    fn unquoted_version_is_a_type_error() {
        // Kubernetes refuses `version: 1.0`: labels are strings; it must not become "1.0".
        let y = EXAMPLE_POD.replace("version: \"1.0\"", "version: 1.0");
        assert_one_error(
            &y,
            "metadata.labels.version: Invalid value: 1.0: must be a string",
        );
        let y = EXAMPLE_POD.replace("version: \"1.0\"", "version: 2");
        assert_one_error(
            &y,
            "metadata.labels.version: Invalid value: 2: must be a string",
        );
        let y = EXAMPLE_POD.replace("version: \"1.0\"", "version: true");
        assert_one_error(
            &y,
            "metadata.labels.version: Invalid value: true: must be a string",
        );
        // YAML 1.1 booleans are booleans here too, as with Kubernetes' YAML decoder.
        let y = EXAMPLE_POD.replace("version: \"1.0\"", "enabled: yes");
        assert_one_error(
            &y,
            "metadata.labels.enabled: Invalid value: true: must be a string",
        );
        let y = EXAMPLE_POD.replace("version: \"1.0\"", "version: null");
        assert_one_error(
            &y,
            "metadata.labels.version: Invalid value: null: must be a string",
        );
    }

    #[test]
    fn annotations() {
        let y = EXAMPLE_POD.replace(
            "  name: nginx\n",
            "  name: nginx\n  annotations:\n    Example.com/Note: any text at all\n    \"bad/key/x\": v\n",
        );
        let e = errors(&y);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(r#"metadata.annotations: Invalid value: "bad/key/x""#),
            "{e:?}"
        );
    }

    #[test]
    fn containers_required() {
        let base = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\n";
        assert_one_error(base, "spec.containers: Required value");
        assert_one_error(
            &format!("{base}spec: {{}}\n"),
            "spec.containers: Required value",
        );
        assert_one_error(
            &format!("{base}spec:\n  containers: []\n"),
            "spec.containers: Required value",
        );
        assert_one_error(
            &format!("{base}spec:\n  containers: null\n"),
            "spec.containers: Required value",
        );
    }

    #[test]
    fn container_name_and_image() {
        let base = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\nspec:\n  containers:\n";
        assert_one_error(
            &format!("{base}  - name: c\n"),
            "spec.containers[0].image: Required value",
        );
        assert_one_error(
            &format!("{base}  - name: c\n    image: \"  \"\n"),
            "spec.containers[0].image: Required value",
        );
        assert_one_error(
            &format!("{base}  - image: nginx\n"),
            "spec.containers[0].name: Required value",
        );
        assert_one_error(
            &format!("{base}  - name: c\n    image: Nginx\n"),
            r#"spec.containers[0].image: Invalid value: "Nginx": invalid reference format: repository name must be lowercase"#,
        );
        assert_one_error(
            &format!("{base}  - name: c\n    image: \"nginx:\"\n"),
            r#"spec.containers[0].image: Invalid value: "nginx:": invalid reference format: invalid tag format"#,
        );
        assert_one_error(
            &format!("{base}  - name: c\n    image: \" nginx\"\n"),
            r#"spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace"#,
        );
        let e = errors(&format!("{base}  - name: My.C\n    image: nginx\n"));
        assert!(
            e[0].starts_with(
                r#"spec.containers[0].name: Invalid value: "My.C": a lowercase RFC 1123 label"#
            ),
            "{e:?}"
        );
        let e = errors(&format!(
            "{base}  - name: c\n    image: nginx\n  - name: c\n    image: nginx\n"
        ));
        assert_eq!(
            e,
            vec![r#"spec.containers[1].name: Duplicate value: "c""#.to_string()]
        );
    }

    #[test]
    fn several_containers_warn() {
        let y = pod_with(
            "  - name: d\n    image: redis\n  - name: e\n    image: redis\n",
            "",
        );
        let a = admit_yaml(&y).unwrap();
        assert_eq!(
            a.warnings,
            vec![
                "spec.containers[1..]: only the first container runs in K1s; 2 ignored".to_string()
            ]
        );
        // The others are still validated.
        let y = pod_with("  - name: d\n", "");
        assert_one_error(&y, "spec.containers[1].image: Required value");
    }

    #[test]
    fn ports() {
        let port = |p: &str| pod_with(&format!("    ports:\n    - {p}\n"), "");
        assert_one_error(
            &port("containerPort: 0"),
            "spec.containers[0].ports[0].containerPort: Required value",
        );
        assert_one_error(
            &port("name: http"),
            "spec.containers[0].ports[0].containerPort: Required value",
        );
        assert_one_error(
            &port("containerPort: 70000"),
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        );
        assert_one_error(
            &port("containerPort: -1"),
            "spec.containers[0].ports[0].containerPort: Invalid value: -1: must be between 1 and 65535, inclusive",
        );
        assert_one_error(
            &port("containerPort: eighty"),
            r#"spec.containers[0].ports[0].containerPort: Invalid value: "eighty": must be an integer"#,
        );
        assert_one_error(
            &port("containerPort: \"80\""),
            r#"spec.containers[0].ports[0].containerPort: Invalid value: "80": must be an integer"#,
        );
        assert_one_error(
            &port("containerPort: 80.5"),
            "spec.containers[0].ports[0].containerPort: Invalid value: 80.5: must be an integer",
        );
        assert_one_error(
            &port("containerPort: 3000000000"),
            "spec.containers[0].ports[0].containerPort: Invalid value: 3000000000: must be a 32-bit integer",
        );
        assert_one_error(
            &port("{containerPort: 80, protocol: XYZ}"),
            r#"spec.containers[0].ports[0].protocol: Unsupported value: "XYZ": supported values: "TCP", "UDP", "SCTP""#,
        );
        assert_one_error(
            &port("{containerPort: 80, hostPort: 70000}"),
            "spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        );
        assert_one_error(
            &port("{containerPort: 80, hostPort: 8080, hostIP: localhost}"),
            r#"spec.containers[0].ports[0].hostIP: Invalid value: "localhost": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"#,
        );
        assert_one_error(
            &port("{containerPort: 80, name: Http}"),
            r#"spec.containers[0].ports[0].name: Invalid value: "Http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"#,
        );
        for ok in [
            "{containerPort: 80, hostPort: 0}",
            "{containerPort: 53, protocol: UDP, name: dns}",
            "{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}",
            "{containerPort: 80, hostPort: 8080, hostIP: \"::1\"}",
            "{containerPort: 65535, protocol: SCTP}",
        ] {
            assert!(admit_yaml(&port(ok)).is_ok(), "{ok}");
        }
        let y = pod_with(
            "    ports:\n    - {containerPort: 80, name: web}\n    - {containerPort: 81, name: web}\n",
            "",
        );
        assert_one_error(
            &y,
            r#"spec.containers[0].ports[1].name: Duplicate value: "web""#,
        );
        let y = pod_with(
            "    ports:\n    - {containerPort: 80, hostPort: 8080}\n  - name: d\n    image: redis\n    ports:\n    - {containerPort: 81, hostPort: 8080, protocol: TCP}\n    - {containerPort: 82, hostPort: 8080, protocol: UDP}\n",
            "",
        );
        assert_one_error(
            &y,
            r#"spec.containers[1].ports[0].hostPort: Duplicate value: "8080/TCP""#,
        );
    }

    #[test]
    fn resources() {
        let res = |r: &str| pod_with(&format!("    resources:\n{r}"), "");
        let lim = |k: &str, v: &str| res(&format!("      limits:\n        {k}: {v}\n"));
        let req = |k: &str, v: &str| res(&format!("      requests:\n        {k}: {v}\n"));
        assert_one_error(
            &lim("cpu", "\"-1\""),
            r#"spec.containers[0].resources.limits[cpu]: Invalid value: "-1": must be greater than or equal to 0"#,
        );
        assert_one_error(
            &req("memory", "-128Mi"),
            r#"spec.containers[0].resources.requests[memory]: Invalid value: "-128Mi": must be greater than or equal to 0"#,
        );
        assert_one_error(
            &lim("cpu", "\"64\""),
            r#"spec.containers[0].resources.limits[cpu]: Invalid value: "64": exceeds what this machine has (2 CPUs)"#,
        );
        assert_one_error(
            &req("cpu", "2500m"),
            r#"spec.containers[0].resources.requests[cpu]: Invalid value: "2500m": exceeds what this machine has (2 CPUs)"#,
        );
        assert_one_error(
            &lim("memory", "1Ti"),
            r#"spec.containers[0].resources.limits[memory]: Invalid value: "1Ti": exceeds what this machine has (8Gi of memory)"#,
        );
        assert_one_error(
            &lim("memory", "\"1e400\""),
            r#"spec.containers[0].resources.limits[memory]: Invalid value: "1e400": is too large (more than 2^63-1)"#,
        );
        assert_one_error(
            &lim("memory", "lots"),
            r#"spec.containers[0].resources.limits[memory]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"#,
        );
        assert_one_error(
            &lim("memory", "4Mi"),
            r#"spec.containers[0].resources.limits[memory]: Invalid value: "4Mi": must be at least 6Mi (Docker's minimum memory limit)"#,
        );
        assert_one_error(
            &req("memory", "1Mi"),
            r#"spec.containers[0].resources.requests[memory]: Invalid value: "1Mi": must be 0 or at least 6Mi (Docker's minimum memory reservation)"#,
        );
        assert_one_error(
            &lim("cpu", "1m"),
            r#"spec.containers[0].resources.limits[cpu]: Invalid value: "1m": must be at least 10m (Docker's minimum CPU limit)"#,
        );
        assert_one_error(
            &lim("nvidia.com/gpu", "1"),
            r#"spec.containers[0].resources.limits[nvidia.com/gpu]: Unsupported value: "nvidia.com/gpu": supported values: "cpu", "memory", "ephemeral-storage""#,
        );
        assert_one_error(
            &res("      limits:\n        cpu: 500m\n      requests:\n        cpu: 1\n"),
            r#"spec.containers[0].resources.requests[cpu]: Invalid value: "1": must be less than or equal to cpu limit of 500m"#,
        );
        assert_one_error(
            &res("      limits:\n        memory: 64Mi\n      requests:\n        memory: 128Mi\n"),
            r#"spec.containers[0].resources.requests[memory]: Invalid value: "128Mi": must be less than or equal to memory limit of 64Mi"#,
        );
        // A limit over the host is reported once, not again for the defaulted request.
        assert_eq!(errors(&lim("cpu", "3")).len(), 1);
        let a = admit_yaml(&lim("ephemeral-storage", "1Gi")).unwrap();
        assert_eq!(
            a.warnings,
            vec![
                "spec.containers[0].resources.limits[ephemeral-storage]: not enforced by K1s"
                    .to_string()
            ]
        );
        assert!(admit_yaml(&req("cpu", "0")).is_ok());
        assert!(admit_yaml(&req("cpu", "0.25")).is_ok());
        assert!(admit_yaml(&lim("memory", "6Mi")).is_ok());
        // Unknown host size: not checked.
        let v = parse_body(lim("cpu", "64").as_bytes(), true).unwrap();
        assert!(admit_pod(v, &HostLimits::UNKNOWN, &STRICT).is_ok());
        let e = errors(&res("      limits:\n        cpu: [1]\n"));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("spec.containers[0].resources.limits.cpu: Invalid value: list"),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_fields() {
        let y = pod_with("    resource:\n      limits:\n        cpu: 1\n", "");
        assert_one_error(
            &y,
            r#"spec.containers[0].resource: unknown field "resource""#,
        );
        let y = EXAMPLE_POD.replace("kind: Pod\n", "kind: Pod\nspecs: {}\n");
        assert_one_error(&y, r#"specs: unknown field "specs""#);
        let y = pod_with(
            "    ports:\n    - containerPort: 80\n      hostport: 8080\n",
            "",
        );
        assert_one_error(
            &y,
            r#"spec.containers[0].ports[0].hostport: unknown field "hostport""#,
        );
        // Unknown fields and semantic errors are reported together.
        let y = pod_with("    resource: {}\n    imagePullPolicy: Sometimes\n", "");
        assert_eq!(
            errors(&y),
            vec![
                r#"spec.containers[0].resource: unknown field "resource""#.to_string(),
                r#"spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never""#.to_string(),
            ]
        );
    }

    #[test]
    fn status_and_system_fields_ignored() {
        let y = EXAMPLE_POD.replace(
            "  name: nginx\n",
            "  name: nginx\n  uid: abc\n  resourceVersion: \"42\"\n  creationTimestamp: not-a-time\n",
        ) + "status:\n  phase: Running\n  podIP: 1.2.3.4\n  bogus: 1\n";
        let a = admit_yaml(&y).unwrap();
        assert_eq!(a.object.metadata.uid, None);
        assert_eq!(a.object.metadata.resource_version, None);
        assert_eq!(a.object.metadata.creation_timestamp, None);
        assert!(a.object.status.is_none());
    }

    #[test]
    fn host_power() {
        let forbidden = |f: &str| format!("{f}: Forbidden: {}", crate::model::HOST_POWER_REFUSED);
        let cases = [
            (
                pod_with("    securityContext:\n      privileged: true\n", ""),
                "spec.containers[0].securityContext.privileged",
            ),
            (
                pod_with(
                    "    securityContext:\n      capabilities:\n        add: [NET_ADMIN]\n",
                    "",
                ),
                "spec.containers[0].securityContext.capabilities.add",
            ),
            (pod_with("", "  hostNetwork: true\n"), "spec.hostNetwork"),
            (pod_with("", "  hostPID: true\n"), "spec.hostPID"),
            (pod_with("", "  hostIPC: true\n"), "spec.hostIPC"),
            (
                pod_with(
                    "",
                    "  securityContext:\n    sysctls:\n    - {name: net.core.somaxconn, value: \"1024\"}\n",
                ),
                "spec.securityContext.sysctls",
            ),
            (
                pod_with(
                    "",
                    "  volumes:\n  - name: root\n    hostPath:\n      path: /\n",
                ),
                "spec.volumes[0].hostPath",
            ),
        ];
        for (y, field) in &cases {
            assert_one_error(y, &forbidden(field));
        }
        // Allowed by the server: accepted (volumes stay unsupported).
        for (y, field) in &cases[..6] {
            let v = parse_body(y.as_bytes(), true).unwrap();
            assert!(admit_pod(v, &HOST, &POWER).is_ok(), "{field}");
        }
        let v = parse_body(cases[6].0.as_bytes(), true).unwrap();
        let e = admit_pod(v, &HOST, &POWER).unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.volumes[0].hostPath: Forbidden: not supported by K1s"
        );
        // Harmless settings pass quietly.
        let y = pod_with(
            "    securityContext:\n      privileged: false\n      allowPrivilegeEscalation: true\n      runAsUser: 1000\n      runAsGroup: 1000\n      readOnlyRootFilesystem: true\n",
            "  hostNetwork: false\n",
        );
        let a = admit_yaml(&y).unwrap();
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        // hostNetwork needs hostPort == containerPort, as in Kubernetes.
        let y = pod_with(
            "    ports:\n    - {containerPort: 80, hostPort: 8080}\n",
            "  hostNetwork: true\n",
        );
        let e = admit_pod(parse_body(y.as_bytes(), true).unwrap(), &HOST, &POWER).unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true"
        );
    }

    #[test]
    fn config_volumes_mounts_and_env_from_config() {
        let ok = pod_with(
            "    env:\n    - name: A\n      valueFrom:\n        configMapKeyRef: {name: cm, key: a.txt, optional: true}\n    - name: B\n      valueFrom:\n        secretKeyRef: {name: s, key: p}\n    envFrom:\n    - configMapRef: {name: cm}\n      prefix: CM_\n    - secretRef: {name: s, optional: true}\n    volumeMounts:\n    - {name: conf, mountPath: /etc/conf}\n    - {name: sec, mountPath: /etc/sec, readOnly: true}\n    - {name: one, mountPath: /etc/one.txt, subPath: a.txt}\n    - {name: scratch, mountPath: /scratch}\n    - {name: mem, mountPath: /mem}\n",
            "  volumes:\n  - name: conf\n    configMap: {name: cm, items: [{key: a.txt, path: sub/a.txt, mode: 384}]}\n  - name: sec\n    secret: {secretName: s, defaultMode: 0400}\n  - name: one\n    configMap: {name: cm}\n  - name: scratch\n    emptyDir: {}\n  - name: mem\n    emptyDir: {medium: Memory}\n",
        );
        let a = admit_yaml(&ok).unwrap();
        let vols = a.object.spec.unwrap().volumes.unwrap();
        assert_eq!(
            vols[0].config_map.as_ref().unwrap().default_mode,
            Some(0o644)
        );
        assert_eq!(vols[1].secret.as_ref().unwrap().default_mode, Some(0o400));
        assert_eq!(
            vols[0].config_map.as_ref().unwrap().items.as_ref().unwrap()[0].mode,
            Some(0o600)
        );
        let table: &[(&str, &str, &str)] = &[
            (
                "",
                "  volumes:\n  - name: v\n    emptyDir: {}\n  - name: v\n    emptyDir: {}\n",
                "spec.volumes[1].name: Duplicate value: \"v\"",
            ),
            (
                "",
                "  volumes:\n  - name: v\n    emptyDir: {}\n    configMap: {name: c}\n",
                "spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type",
            ),
            (
                "",
                "  volumes:\n  - name: v\n",
                "spec.volumes[0]: Required value: must specify a volume type",
            ),
            (
                "",
                "  volumes:\n  - name: v\n    secret: {}\n",
                "spec.volumes[0].secret.secretName: Required value",
            ),
            (
                "",
                "  volumes:\n  - name: v\n    configMap: {name: c, items: [{key: k, path: ../x}]}\n",
                "spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\": must not contain '..'",
            ),
            (
                "",
                "  volumes:\n  - name: v\n    configMap: {name: c, defaultMode: 4096}\n",
                "spec.volumes[0].configMap.defaultMode: Invalid value: 4096: must be a number between 0 and 0777 (octal), both inclusive",
            ),
            (
                "",
                "  volumes:\n  - name: v\n    emptyDir: {medium: HugePages}\n",
                "spec.volumes[0].emptyDir.medium: Unsupported value: \"HugePages\"",
            ),
            (
                "    volumeMounts:\n    - {name: nope, mountPath: /x}\n",
                "",
                "spec.containers[0].volumeMounts[0].name: Not found: \"nope\"",
            ),
            (
                "    volumeMounts:\n    - {name: v, mountPath: rel}\n",
                "  volumes:\n  - name: v\n    emptyDir: {}\n",
                "spec.containers[0].volumeMounts[0].mountPath: Invalid value: \"rel\": must be an absolute path",
            ),
            (
                "    volumeMounts:\n    - {name: v, mountPath: /a}\n    - {name: v, mountPath: /a}\n",
                "  volumes:\n  - name: v\n    emptyDir: {}\n",
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/a\": must be unique",
            ),
            (
                "    volumeMounts:\n    - {name: v, mountPath: /a, subPath: /abs}\n",
                "  volumes:\n  - name: v\n    emptyDir: {}\n",
                "spec.containers[0].volumeMounts[0].subPath: Invalid value: \"/abs\": must be a relative path",
            ),
            (
                "    envFrom:\n    - prefix: X\n",
                "",
                "spec.containers[0].envFrom[0]: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`",
            ),
            (
                "    envFrom:\n    - configMapRef: {name: c}\n      prefix: a=b\n",
                "",
                "spec.containers[0].envFrom[0].prefix: Invalid value: \"a=b\"",
            ),
            (
                "    env:\n    - name: A\n      valueFrom:\n        secretKeyRef: {name: s, key: 'bad key'}\n",
                "",
                "spec.containers[0].env[0].valueFrom.secretKeyRef.key: Invalid value: \"bad key\"",
            ),
            (
                "    env:\n    - name: A\n      valueFrom:\n        configMapKeyRef: {key: k}\n",
                "",
                "spec.containers[0].env[0].valueFrom.configMapKeyRef.name: Required value",
            ),
        ];
        for (c, sp, want) in table {
            let e = errors(&pod_with(c, sp));
            assert!(e[0].starts_with(want), "{want}: {e:?}");
        }
    }

    #[test]
    fn unsupported_features() {
        let cases = [
            (
                pod_with(
                    "",
                    "  volumes:\n  - name: v\n    nfs: {server: x, path: /}\n",
                ),
                "spec.volumes[0].nfs",
            ),
            (
                pod_with(
                    "    volumeDevices:\n    - {name: v, devicePath: /dev/xvda}\n",
                    "",
                ),
                "spec.containers[0].volumeDevices",
            ),
            (
                pod_with("", "  initContainers:\n  - name: i\n    image: busybox\n"),
                "spec.initContainers",
            ),
            (
                pod_with(
                    "    lifecycle:\n      preStop:\n        exec: {command: [sh]}\n",
                    "",
                ),
                "spec.containers[0].lifecycle",
            ),
            (
                pod_with(
                    "    env:\n    - name: A\n      valueFrom:\n        resourceFieldRef: {resource: limits.cpu}\n",
                    "",
                ),
                "spec.containers[0].env[0].valueFrom.resourceFieldRef",
            ),
            (
                pod_with("", "  hostAliases:\n  - ip: 1.2.3.4\n    hostnames: [x]\n"),
                "spec.hostAliases",
            ),
        ];
        for (y, field) in &cases {
            assert_one_error(y, &format!("{field}: Forbidden: not supported by K1s"));
        }
        // Empty lists are no request at all.
        let y = pod_with(
            "    volumeMounts: []\n    envFrom: []\n",
            "  volumes: []\n  initContainers: []\n",
        );
        assert!(admit_yaml(&y).is_ok());
    }

    #[test]
    fn env() {
        let env = |e: &str| pod_with(&format!("    env:\n{e}"), "");
        let a = admit_yaml(&env(
            "    - {name: A, value: x}\n    - {name: B}\n    - name: POD\n      valueFrom:\n        fieldRef: {fieldPath: metadata.name}\n    - name: APP\n      valueFrom:\n        fieldRef: {fieldPath: \"metadata.labels['app']\"}\n",
        ))
        .unwrap();
        let spec = a.object.spec.unwrap();
        let e = &spec.containers[0].env.as_ref().unwrap()[2];
        let fr = e.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
        assert_eq!(fr.api_version.as_deref(), Some("v1"), "defaulted");
        assert_one_error(
            &env("    - {value: x}\n"),
            "spec.containers[0].env[0].name: Required value",
        );
        assert_one_error(
            &env("    - {name: \"A=B\", value: x}\n"),
            r#"spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='"#,
        );
        assert_one_error(
            &env(
                "    - name: A\n      value: x\n      valueFrom:\n        fieldRef: {fieldPath: metadata.name}\n",
            ),
            r#"spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when `value` is not empty"#,
        );
        let e = errors(&env(
            "    - name: A\n      valueFrom:\n        fieldRef: {fieldPath: spec.containers}\n",
        ));
        assert!(
            e[0].starts_with(r#"spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "spec.containers": supported values: "metadata.name""#),
            "{e:?}"
        );
        assert_one_error(
            &env(
                "    - name: A\n      valueFrom:\n        fieldRef: {fieldPath: metadata.name, apiVersion: v2}\n",
            ),
            r#"spec.containers[0].env[0].valueFrom.fieldRef.apiVersion: Unsupported value: "v2": supported values: "v1""#,
        );
        assert_one_error(
            &env("    - name: A\n      valueFrom: {}\n"),
            r#"spec.containers[0].env[0].valueFrom: Invalid value: "": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"#,
        );
        assert_one_error(
            &env("    - name: A\n      value: 8080\n"),
            "spec.containers[0].env[0].value: Invalid value: 8080: must be a string",
        );
    }

    #[test]
    fn plain_values() {
        assert_one_error(
            &pod_with("", "  restartPolicy: Sometimes\n"),
            r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
        );
        assert_one_error(
            &pod_with("    imagePullPolicy: always\n", ""),
            r#"spec.containers[0].imagePullPolicy: Unsupported value: "always": supported values: "Always", "IfNotPresent", "Never""#,
        );
        assert_one_error(
            &pod_with("", "  terminationGracePeriodSeconds: -1\n"),
            "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0",
        );
        assert_one_error(
            &pod_with("", "  activeDeadlineSeconds: 0\n"),
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
        );
        assert_one_error(
            &pod_with("    workingDir: data\n", ""),
            r#"spec.containers[0].workingDir: Invalid value: "data": must be an absolute path (Docker requires one)"#,
        );
        let a = admit_yaml(&pod_with("", "  activeDeadlineSeconds: 60\n")).unwrap();
        assert_eq!(
            a.warnings,
            vec!["spec.activeDeadlineSeconds: not enforced by K1s".to_string()]
        );
        let a = admit_yaml(&pod_with(
            "    command: [sh, -c]\n    args: [\"echo hi\"]\n    workingDir: /tmp\n    tty: true\n    stdin: true\n    stdinOnce: true\n    terminationMessagePath: /dev/termination-log\n    terminationMessagePolicy: File\n",
            "  restartPolicy: OnFailure\n",
        ))
        .unwrap();
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    }

    #[test]
    fn warnings_for_ignored_fields() {
        let y = pod_with(
            "    livenessProbe:\n      httpGet: {path: /, port: 80}\n    readinessProbe:\n      tcpSocket: {port: http}\n",
            "  nodeSelector:\n    disktype: ssd\n  serviceAccountName: builder\n  tolerations:\n  - {key: k, operator: Exists}\n  priorityClassName: high\n  dnsPolicy: Default\n  securityContext:\n    runAsUser: 1000\n",
        );
        let a = admit_yaml(&y).unwrap();
        assert_eq!(
            a.warnings,
            vec![
                "spec.containers[0].livenessProbe: not yet enforced by K1s",
                "spec.containers[0].readinessProbe: not yet enforced by K1s",
                "spec.securityContext: ignored by K1s (set runAsUser, runAsGroup or readOnlyRootFilesystem on the container)",
                "spec.nodeSelector: ignored by K1s (one machine)",
                "spec.tolerations: ignored by K1s (one machine)",
                "spec.priorityClassName: ignored by K1s (one machine)",
                "spec.serviceAccountName: ignored by K1s",
                "spec.dnsPolicy: ignored by K1s",
            ]
        );
        assert_one_error(
            &pod_with("    livenessProbe:\n      periodSeconds: 5\n", ""),
            "spec.containers[0].livenessProbe: Required value: must specify a handler type",
        );
        assert_one_error(
            &pod_with("", "  dnsPolicy: Cluster\n"),
            r#"spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None""#,
        );
    }

    #[test]
    fn kubectl_run_body_admits_quietly() {
        // What `kubectl run web --image=nginx` sends.
        let body = br#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","creationTimestamp":null,"labels":{"run":"web"}},"spec":{"containers":[{"name":"web","image":"nginx","resources":{}}],"restartPolicy":"Always","dnsPolicy":"ClusterFirst","schedulerName":"default-scheduler","enableServiceLinks":true,"securityContext":{}},"status":{}}"#;
        let a = admit_pod(parse_body(body, false).unwrap(), &HOST, &STRICT).unwrap();
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        assert_eq!(a.object.metadata.name.as_deref(), Some("web"));
    }

    #[test]
    fn collects_all_errors_in_order() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\n  labels:\n    k1s: x\nspec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 0\n  - image: nginx\n  restartPolicy: Maybe\n";
        let e = errors(y);
        assert_eq!(e.len(), 6, "{e:#?}");
        assert!(e[0].starts_with("metadata.name: Invalid value"));
        assert!(e[1].starts_with("metadata.labels: Invalid value: \"k1s\""));
        assert_eq!(e[2], "spec.containers[0].image: Required value");
        assert_eq!(
            e[3],
            "spec.containers[0].ports[0].containerPort: Required value"
        );
        assert_eq!(e[4], "spec.containers[1].name: Required value");
        assert!(e[5].starts_with("spec.restartPolicy: Unsupported value"));
    }

    #[test]
    fn template_paths() {
        let spec: PodSpec = serde_json::from_value(json!({"containers": [{"name": "c"}]})).unwrap();
        let (mut errs, mut warnings) = (Vec::new(), Vec::new());
        validate_pod_spec(
            &spec,
            "spec.template.spec",
            &HOST,
            &STRICT,
            &mut errs,
            &mut warnings,
        );
        assert_eq!(
            errs,
            vec![FieldError::required(
                "spec.template.spec.containers[0].image"
            )]
        );
        let mut meta = ObjectMeta::default();
        let mut errs = Vec::new();
        validate_object_meta(&meta, "spec.template.metadata", &mut errs);
        assert!(errs.is_empty(), "templates need no name");
        meta.labels = Some([("k1s.io/x".to_string(), "y".to_string())].into());
        validate_object_meta(&meta, "spec.template.metadata", &mut errs);
        assert_eq!(errs[0].field, "spec.template.metadata.labels");
    }

    #[test]
    fn no_panics_on_odd_shapes() {
        let odd = [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": []}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": "x"}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": ["a"]}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 5}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x1"}, "spec": "x"}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x1"}, "spec": {"containers": {}}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x1"}, "spec": {"containers": [null]}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x1"}, "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": null}]}]}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x1"}, "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "9".repeat(5000)}}}]}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x1"}, "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": 1e300}}}]}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x1", "ownerReferences": [{}, {"controller": true}, {"controller": true}]}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x1"}, "spec": {"containers": [{"name": "ü", "image": "ü:ü@ü", "env": [{"name": "", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['"}}}]}]}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x1"}, "spec": {"containers": [{"name": "c", "image": "[", "workingDir": "", "ports": [{"containerPort": 1, "hostPort": -5, "hostIP": ""}]}]}}),
            json!([]),
            json!(null),
            json!("Pod"),
        ];
        for v in odd {
            let shown = v.to_string();
            let r = admit_pod(v, &HOST, &STRICT);
            assert!(r.is_err(), "{shown}");
        }
    }
}
