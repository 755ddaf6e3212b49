//! A pod's use of ConfigMaps and Secrets, with Kubernetes' validation: volumes
//! (`configMap`, `secret`, `emptyDir`; `hostPath` only with host power and still not
//! supported; every other source refused), `volumeMounts`, `envFrom`, and
//! `env[].valueFrom.configMapKeyRef | secretKeyRef` (docs/decisions.md, "Pod fields").

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Container, KeyToPath, PodSpec, Volume};

use super::configmap::config_key_errors;
use super::meta::{child, index};
use super::{AdmissionOptions, FieldError, names};

/// Kubernetes' default `defaultMode` of configMap and secret volumes (0644).
pub const DEFAULT_MODE: i32 = 0o644;

/// The names of the volumes K1s can mount (for the mounts' checks).
pub fn volume_names(spec: &PodSpec) -> HashSet<String> {
    spec.volumes
        .iter()
        .flatten()
        .map(|v| v.name.clone())
        .collect()
}

/// The sources a volume names, in Kubernetes' words.
fn sources(v: &Volume) -> Vec<&'static str> {
    let all = [
        ("configMap", v.config_map.is_some()),
        ("secret", v.secret.is_some()),
        ("emptyDir", v.empty_dir.is_some()),
        ("hostPath", v.host_path.is_some()),
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("cephfs", v.cephfs.is_some()),
        ("cinder", v.cinder.is_some()),
        ("csi", v.csi.is_some()),
        ("downwardAPI", v.downward_api.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("fc", v.fc.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("flocker", v.flocker.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("image", v.image.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("nfs", v.nfs.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("projected", v.projected.is_some()),
        ("quobyte", v.quobyte.is_some()),
        ("rbd", v.rbd.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("storageos", v.storageos.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
    ];
    all.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect()
}

/// `spec.volumes`: names (DNS labels, unique), exactly one source, and that source's
/// rules; sources K1s cannot provide are refused.
pub fn validate_volumes(
    spec: &PodSpec,
    path: &str,
    opts: &AdmissionOptions,
    errs: &mut Vec<FieldError>,
) {
    let mut seen = HashSet::new();
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let vp = index(&child(path, "volumes"), i);
        let np = child(&vp, "name");
        if v.name.is_empty() {
            errs.push(FieldError::required(&np));
        } else {
            for m in names::dns1123_label(&v.name) {
                errs.push(FieldError::invalid(&np, &v.name, &m));
            }
            if !seen.insert(v.name.clone()) {
                errs.push(FieldError::duplicate(&np, &v.name));
            }
        }
        let found = sources(v);
        match found.as_slice() {
            [] => errs.push(FieldError::required_detail(
                &vp,
                "must specify a volume type",
            )),
            [one] => match *one {
                "configMap" => {
                    if let Some(c) = v.config_map.as_ref() {
                        let cp = child(&vp, "configMap");
                        name_required(c.name.as_str(), &child(&cp, "name"), errs);
                        check_items(c.items.as_deref(), &cp, errs);
                        check_mode(c.default_mode, &child(&cp, "defaultMode"), errs);
                    }
                }
                "secret" => {
                    if let Some(s) = v.secret.as_ref() {
                        let sp = child(&vp, "secret");
                        name_required(
                            s.secret_name.as_deref().unwrap_or(""),
                            &child(&sp, "secretName"),
                            errs,
                        );
                        check_items(s.items.as_deref(), &sp, errs);
                        check_mode(s.default_mode, &child(&sp, "defaultMode"), errs);
                    }
                }
                "emptyDir" => {
                    let medium = v
                        .empty_dir
                        .as_ref()
                        .and_then(|e| e.medium.as_deref())
                        .unwrap_or("");
                    if !matches!(medium, "" | "Memory") {
                        errs.push(FieldError::not_supported(
                            child(&child(&vp, "emptyDir"), "medium"),
                            medium,
                            &["", "Memory"],
                        ));
                    }
                }
                "hostPath" if !opts.allow_host_power => {
                    errs.push(FieldError::host_power(child(&vp, "hostPath")));
                }
                other => errs.push(FieldError::unsupported_by_k1s(child(&vp, other))),
            },
            [_, second, ..] => errs.push(FieldError::forbidden(
                child(&vp, second),
                "may not specify more than 1 volume type",
            )),
        }
    }
}

fn name_required(name: &str, np: &str, errs: &mut Vec<FieldError>) {
    ref_name(name, np, errs);
}

fn check_mode(mode: Option<i32>, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(m) = mode
        && !(0..=0o777).contains(&m)
    {
        errs.push(FieldError::invalid_num(
            path,
            m.into(),
            "must be a number between 0 and 0777 (octal), both inclusive",
        ));
    }
}

/// A relative path without `..` elements (Kubernetes' `validateLocalDescendingPath`).
fn check_relative_path(p: &str, path: &str, errs: &mut Vec<FieldError>) {
    if p.starts_with('/') {
        errs.push(FieldError::invalid(path, p, "must be a relative path"));
    }
    if p.split('/').any(|e| e == "..") {
        errs.push(FieldError::invalid(path, p, "must not contain '..'"));
    }
}

fn check_items(items: Option<&[KeyToPath]>, path: &str, errs: &mut Vec<FieldError>) {
    let ip = child(path, "items");
    for (i, it) in items.into_iter().flatten().enumerate() {
        let p = index(&ip, i);
        let kp = child(&p, "key");
        if it.key.is_empty() {
            errs.push(FieldError::required(&kp));
        } else {
            for m in config_key_errors(&it.key) {
                errs.push(FieldError::invalid(&kp, &it.key, &m));
            }
        }
        let pp = child(&p, "path");
        if it.path.is_empty() {
            errs.push(FieldError::required(&pp));
        } else {
            check_relative_path(&it.path, &pp, errs);
            if it
                .path
                .split('/')
                .next()
                .is_some_and(|f| f.starts_with(".."))
            {
                errs.push(FieldError::invalid(
                    &pp,
                    &it.path,
                    "must not start with '..'",
                ));
            }
        }
        check_mode(it.mode, &child(&p, "mode"), errs);
    }
}

/// A container's `volumeMounts`: the volume exists, `mountPath` is absolute and
/// unique, `subPath` relative; `subPathExpr` and mount propagation are refused.
pub fn validate_mounts(
    c: &Container,
    cp: &str,
    volumes: &HashSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let mp = child(cp, "volumeMounts");
    let mut paths = HashSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let p = index(&mp, i);
        let np = child(&p, "name");
        if m.name.is_empty() {
            errs.push(FieldError::required(&np));
        } else if !volumes.contains(&m.name) {
            errs.push(FieldError::new(
                &np,
                format!("Not found: {}", super::quote(&m.name)),
            ));
        }
        let pp = child(&p, "mountPath");
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&pp));
        } else if !m.mount_path.starts_with('/') {
            errs.push(FieldError::invalid(
                &pp,
                &m.mount_path,
                "must be an absolute path",
            ));
        } else if !paths.insert(m.mount_path.trim_end_matches('/').to_string()) {
            errs.push(FieldError::invalid(&pp, &m.mount_path, "must be unique"));
        }
        if let Some(sp) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            check_relative_path(sp, &child(&p, "subPath"), errs);
        }
        if m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty()) {
            errs.push(FieldError::unsupported_by_k1s(child(&p, "subPathExpr")));
        }
        if m.mount_propagation.as_deref().is_some_and(|s| s != "None") {
            errs.push(FieldError::unsupported_by_k1s(child(
                &p,
                "mountPropagation",
            )));
        }
        if m.recursive_read_only
            .as_deref()
            .is_some_and(|s| s != "Disabled")
        {
            errs.push(FieldError::unsupported_by_k1s(child(
                &p,
                "recursiveReadOnly",
            )));
        }
    }
}

/// A container's `envFrom`: each entry names exactly one of `configMapRef` and
/// `secretRef`, with a name; `prefix` must be a valid start of an env name.
pub fn validate_env_from(c: &Container, cp: &str, errs: &mut Vec<FieldError>) {
    let ep = child(cp, "envFrom");
    for (i, e) in c.env_from.iter().flatten().enumerate() {
        let p = index(&ep, i);
        match (e.config_map_ref.as_ref(), e.secret_ref.as_ref()) {
            (None, None) => errs.push(FieldError::invalid(
                &p,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            )),
            (Some(_), Some(_)) => errs.push(FieldError::invalid(
                &p,
                "",
                "may not have more than one field specified at a time",
            )),
            (Some(r), None) => ref_name(&r.name, &child(&child(&p, "configMapRef"), "name"), errs),
            (None, Some(r)) => ref_name(&r.name, &child(&child(&p, "secretRef"), "name"), errs),
        }
        if let Some(prefix) = e.prefix.as_deref().filter(|s| !s.is_empty()) {
            for m in names::env_var_name(prefix) {
                errs.push(FieldError::invalid(child(&p, "prefix"), prefix, &m));
            }
        }
    }
}

fn ref_name(name: &str, path: &str, errs: &mut Vec<FieldError>) {
    if name.is_empty() {
        errs.push(FieldError::required(path));
    } else {
        for m in names::dns1123_subdomain(name) {
            errs.push(FieldError::invalid(path, name, &m));
        }
    }
}

/// `valueFrom.configMapKeyRef` / `secretKeyRef`: a name and a valid key.
pub fn validate_key_ref(name: &str, key: &str, path: &str, errs: &mut Vec<FieldError>) {
    ref_name(name, &child(path, "name"), errs);
    let kp = child(path, "key");
    if key.is_empty() {
        errs.push(FieldError::required(&kp));
    } else {
        for m in config_key_errors(key) {
            errs.push(FieldError::invalid(&kp, key, &m));
        }
    }
}

/// Kubernetes' defaults: `defaultMode` 0644 on configMap and secret volumes.
pub fn apply_volume_defaults(spec: &mut PodSpec) {
    for v in spec.volumes.iter_mut().flatten() {
        if let Some(c) = v.config_map.as_mut() {
            c.default_mode.get_or_insert(DEFAULT_MODE);
        }
        if let Some(s) = v.secret.as_mut() {
            s.default_mode.get_or_insert(DEFAULT_MODE);
        }
    }
}
