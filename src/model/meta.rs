//! Object metadata, the same for every kind: Kubernetes' rules for `name`,
//! `generateName`, `namespace`, `labels`, `annotations`, `ownerReferences` and
//! `finalizers`; defaults; names for `generateName`; and the field-path notation
//! (`spec.containers[0]`, `limits[cpu]`) every kind's validation writes its errors in.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::pod::{ANNOTATIONS_MAX_BYTES, DEFAULT_NAMESPACE};
use super::{FieldError, labels, names};

/// `base.child`, or `child` at the root.
pub(crate) fn child(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

/// `base[i]`
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// `base[key]`, Kubernetes' notation for map entries such as `limits[cpu]`.
pub(crate) fn key(base: &str, k: &str) -> String {
    format!("{base}[{k}]")
}

/// Metadata defaults for a new object: namespace "default"; an empty name is no name.
pub fn apply_object_meta_defaults(meta: &mut ObjectMeta) {
    if meta.namespace.as_deref().is_none_or(str::is_empty) {
        meta.namespace = Some(DEFAULT_NAMESPACE.to_string());
    }
    if meta.name.as_deref() == Some("") {
        meta.name = None;
    }
    if meta.generate_name.as_deref() == Some("") {
        meta.generate_name = None;
    }
}

/// A name for an object created from `generateName`: the prefix, cut to 58 characters as
/// Kubernetes does, then `suffix` (the caller's random 5 characters, e.g. from
/// [`NAME_SUFFIX_ALPHABET`]).
pub fn generated_name(prefix: &str, suffix: &str) -> String {
    // The prefix is ASCII once validated; cut on a char boundary anyway.
    let cut: String = prefix.chars().take(58).collect();
    format!("{cut}{suffix}")
}

/// Kubernetes' alphabet for random name suffixes (no vowels, no look-alikes).
pub const NAME_SUFFIX_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";

/// `metadata.name: Required value: name or generateName is required` when both are
/// absent or empty. Not part of [`validate_object_meta`], as pod templates have no name.
pub fn validate_name_required(meta: &ObjectMeta, path: &str, errs: &mut Vec<FieldError>) {
    let empty = |s: &Option<String>| s.as_deref().is_none_or(str::is_empty);
    if empty(&meta.name) && empty(&meta.generate_name) {
        errs.push(FieldError::required_detail(
            child(path, "name"),
            "name or generateName is required",
        ));
    }
}

/// Metadata checks shared by all kinds: `name` and `generateName` (DNS-1123 subdomain,
/// at most 253), `namespace` absent or "default", `labels` (Kubernetes' key and value
/// rules; the keys `k1s` and `k1s.io/…` are reserved), `annotations` keys (and total size),
/// `ownerReferences` well formed, `finalizers` refused (K1s has no finalizer support).
/// Whether a name is required is [`validate_name_required`]'s business.
pub fn validate_object_meta(meta: &ObjectMeta, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(name) = meta.name.as_deref().filter(|n| !n.is_empty()) {
        for m in names::dns1123_subdomain(name) {
            errs.push(FieldError::invalid(child(path, "name"), name, &m));
        }
    }
    if let Some(g) = meta.generate_name.as_deref().filter(|n| !n.is_empty()) {
        for m in names::dns1123_subdomain_prefix(g) {
            errs.push(FieldError::invalid(child(path, "generateName"), g, &m));
        }
    }
    if let Some(ns) = meta.namespace.as_deref()
        && !ns.is_empty()
        && ns != DEFAULT_NAMESPACE
    {
        errs.push(FieldError::invalid(
            child(path, "namespace"),
            ns,
            "K1s serves only the default namespace",
        ));
    }
    validate_labels(meta.labels.as_ref(), &child(path, "labels"), errs);
    if let Some(ann) = meta.annotations.as_ref() {
        let ap = child(path, "annotations");
        let mut total = 0usize;
        for (k, v) in ann {
            // Kubernetes checks annotation keys lowercased: any case is fine.
            for m in names::qualified_name(&k.to_lowercase()) {
                errs.push(FieldError::invalid(&ap, k, &m));
            }
            total += k.len() + v.len();
        }
        if total > ANNOTATIONS_MAX_BYTES {
            errs.push(FieldError::too_long(&ap, ANNOTATIONS_MAX_BYTES));
        }
    }
    if meta.finalizers.as_ref().is_some_and(|f| !f.is_empty()) {
        errs.push(FieldError::unsupported_by_k1s(child(path, "finalizers")));
    }
    if let Some(refs) = meta.owner_references.as_ref() {
        let rp = child(path, "ownerReferences");
        for (i, r) in refs.iter().enumerate() {
            let ip = index(&rp, i);
            for (name, v) in [
                ("apiVersion", &r.api_version),
                ("kind", &r.kind),
                ("name", &r.name),
                ("uid", &r.uid),
            ] {
                if v.is_empty() {
                    errs.push(FieldError::required(child(&ip, name)));
                }
            }
        }
        let controllers = refs.iter().filter(|r| r.controller == Some(true)).count();
        if controllers > 1 {
            errs.push(FieldError::invalid_shown(
                &rp,
                &format!("{controllers} controllers"),
                "Only one reference can have Controller set to true",
            ));
        }
    }
}

/// An object's labels: Kubernetes' key and value rules, and K1s' own keys (`k1s`,
/// `k1s.io/…`) refused, since they mark K1s' containers. Errors are at the map
/// (`metadata.labels`) with the offending key or value, as Kubernetes reports them.
pub fn validate_labels(
    labels_map: Option<&BTreeMap<String, String>>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    check_label_map(labels_map, path, true, errs);
}

pub(crate) fn check_label_map(
    labels_map: Option<&BTreeMap<String, String>>,
    path: &str,
    refuse_reserved: bool,
    errs: &mut Vec<FieldError>,
) {
    for (k, v) in labels_map.into_iter().flatten() {
        let key_msgs = names::qualified_name(k);
        let key_ok = key_msgs.is_empty();
        for m in key_msgs {
            errs.push(FieldError::invalid(path, k, &m));
        }
        if refuse_reserved && key_ok && labels::is_reserved_label_key(k) {
            errs.push(FieldError::invalid(
                path,
                k,
                "the label keys k1s and k1s.io/... are reserved for K1s",
            ));
        }
        for m in names::label_value(v) {
            errs.push(FieldError::invalid(path, v, &m));
        }
    }
}
