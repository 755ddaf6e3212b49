//! The resource registry: every kind K1s serves, described once — its Kubernetes
//! names (group, version, kind, plural, short names), its `/k1s` path, what the REST
//! front door does with it (admission, storing, result shapes: [`KindOps`]), and how
//! `k1s_ctl` shows it (table columns, `describe`). The REST front door routes by this
//! table and `k1s_ctl` resolves names and renders by it; adding a kind is an entry
//! here, its types, its admission and its controller (ARCHITECTURE.md, "Adding a kind").

use serde_json::Value;

use crate::cli::kube_table::{self, KubeTable};
use crate::cli::{describe, format};
pub use crate::core::KindOps;
use crate::store::Kind;

/// One column of a kind's `k1s_ctl get` table, computed from the `/k1s` shape.
pub struct Column {
    /// The header, as kubectl prints it.
    pub header: &'static str,
    /// Shown only with `-o wide`.
    pub wide: bool,
    /// The cell of one item.
    pub cell: fn(&Value) -> String,
}

/// A subresource the Kubernetes API serves for a kind (discovery lists it).
pub struct Subresource {
    /// `log`, `scale`, `status`.
    pub name: &'static str,
    /// The kind it answers with (`Scale`, or the kind itself).
    pub kind: &'static str,
    /// The group and version of that kind when it is not the parent's
    /// (`("autoscaling", "v1")` for `Scale`).
    pub group_version: Option<(&'static str, &'static str)>,
    /// Its verbs.
    pub verbs: &'static [&'static str],
}

/// A kind K1s serves.
pub struct KindInfo {
    /// `Pod`, `ReplicaSet`, …
    pub kind: &'static str,
    /// The API group (`""` for the core group).
    pub group: &'static str,
    /// The version K1s stores and prefers.
    pub version: &'static str,
    /// Every version the Kubernetes API serves it in, preferred first (HPAs: `v2`,
    /// `v1`, `v2beta2`); all are views of the one stored form.
    pub versions: &'static [&'static str],
    /// `pods`, `replicasets`, …
    pub plural: &'static str,
    /// `pod`, `replicaset`, …
    pub singular: &'static str,
    /// kubectl's short names (`po`, `rs`, `hpa`).
    pub short_names: &'static [&'static str],
    /// The segment under `/k1s/` (the handout's names: `pod`, `rs`, `hpa`).
    pub path: &'static str,
    /// The store's kind.
    pub store: Kind,
    /// What the REST front door does with it.
    pub ops: &'static dyn KindOps,
    /// `k1s_ctl get` columns.
    pub columns: &'static [Column],
    /// The list shape lacks what the table shows: the CLI reads each item's details.
    pub table_from_details: bool,
    /// `k1s_ctl describe` from the details shape.
    pub describe: fn(&Value) -> String,
    /// The query `describe` adds to its GET (a pod's last 20 log lines).
    pub describe_query: &'static str,
    /// `k1s_ctl scale` (and a scale through the API) applies.
    pub scalable: bool,
    /// The Kubernetes API's subresources of the kind (discovery).
    pub subresources: &'static [Subresource],
    /// The Kubernetes API's server-side Table columns (`kubectl get`).
    pub kube_table: &'static KubeTable,
    /// The kind's OpenAPI schema at a served version, as a reference whose
    /// definitions land in the generator (`/openapi/v3`, `kubectl explain`).
    pub schema: fn(&mut schemars::SchemaGenerator, &str) -> schemars::Schema,
}

impl KindInfo {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// kubectl's name in messages: `pod`, `replicaset.apps`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.singular.to_string()
        } else {
            format!("{}.{}", self.singular, self.group)
        }
    }

    /// Whether `name` names this kind: its path, singular, plural or a short name,
    /// alone or qualified by the group (`replicasets.apps`), in any case.
    pub fn is_named(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let (base, group) = match name.split_once('.') {
            Some((b, g)) => (b, Some(g)),
            None => (name.as_str(), None),
        };
        if group.is_some_and(|g| g != self.group) {
            return false;
        }
        base == self.path
            || base == self.singular
            || base == self.plural
            || self.short_names.contains(&base)
    }
}

/// Every kind, in the order `k1s_ctl help` lists them.
pub static KINDS: &[&KindInfo] = &[&POD, &REPLICA_SET, &HPA, &CONFIG_MAP, &SECRET];

/// The kind a user's word names (`po`, `pods`, `rs`, `replicaset.apps`, `hpa`, …).
pub fn lookup(name: &str) -> Option<&'static KindInfo> {
    KINDS.iter().copied().find(|k| k.is_named(name))
}

/// The kind served under `/k1s/<path>`.
pub fn by_path(path: &str) -> Option<&'static KindInfo> {
    KINDS.iter().copied().find(|k| k.path == path)
}

/// The kind served at `group`/`version` under the plural `resource` (the Kubernetes
/// API's paths: `""`/`v1`/`pods`, `apps`/`v1`/`replicasets`).
pub fn by_resource(group: &str, version: &str, resource: &str) -> Option<&'static KindInfo> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.group == group && k.plural == resource && k.versions.contains(&version))
}

/// The kind of a manifest's `kind` field.
pub fn by_kind(kind: &str) -> Option<&'static KindInfo> {
    KINDS.iter().copied().find(|k| k.kind == kind)
}

/// The names a user may type, for help and errors: `pod (pods, po)`, …
pub fn names_help() -> String {
    KINDS.iter().map(|k| k.path).collect::<Vec<_>>().join(", ")
}

fn name(v: &Value) -> String {
    format::text(format::pick(v, &["name", "metadata.name"]), "<unknown>")
}

fn age(v: &Value) -> String {
    format::age(v.get("creationTimestamp"))
}

static POD: KindInfo = KindInfo {
    kind: "Pod",
    group: "",
    version: "v1",
    versions: &["v1"],
    plural: "pods",
    singular: "pod",
    short_names: &["po"],
    path: "pod",
    store: Kind::Pod,
    ops: &crate::core::PodOps,
    columns: &[
        Column {
            header: "NAME",
            wide: false,
            cell: name,
        },
        Column {
            header: "READY",
            wide: false,
            cell: |p| format::pod_ready(p).to_string(),
        },
        Column {
            header: "STATUS",
            wide: false,
            cell: format::pod_status,
        },
        Column {
            header: "RESTARTS",
            wide: false,
            cell: |p| format::text(p.get("restartCount"), "0"),
        },
        Column {
            header: "AGE",
            wide: false,
            cell: age,
        },
        Column {
            header: "IP",
            wide: true,
            cell: |p| format::text(p.get("addr"), "<none>"),
        },
        Column {
            header: "CONTAINER",
            wide: true,
            cell: |p| format::short_id(p.get("id")),
        },
        Column {
            header: "IMAGE",
            wide: true,
            cell: |p| format::text(p.get("image"), "<none>"),
        },
    ],
    table_from_details: false,
    describe: describe::pod,
    describe_query: "?tailLines=20",
    scalable: false,
    subresources: &[
        Subresource {
            name: "log",
            kind: "Pod",
            group_version: None,
            verbs: &["get"],
        },
        Subresource {
            name: "status",
            kind: "Pod",
            group_version: None,
            verbs: &["get"],
        },
    ],
    kube_table: &kube_table::POD_TABLE,
    schema: |g, _| g.subschema_for::<k8s_openapi::api::core::v1::Pod>(),
};

static REPLICA_SET: KindInfo = KindInfo {
    kind: "ReplicaSet",
    group: "apps",
    version: "v1",
    versions: &["v1"],
    plural: "replicasets",
    singular: "replicaset",
    short_names: &["rs"],
    path: "rs",
    store: Kind::ReplicaSet,
    ops: &crate::core::ReplicaSetOps,
    columns: &[
        Column {
            header: "NAME",
            wide: false,
            cell: name,
        },
        Column {
            header: "DESIRED",
            wide: false,
            cell: |r| format::text(format::pick(r, &["replicas", "spec.replicas"]), "0"),
        },
        Column {
            header: "CURRENT",
            wide: false,
            cell: |r| format::text(format::pick(r, &["current", "status.replicas"]), "0"),
        },
        Column {
            header: "READY",
            wide: false,
            cell: |r| format::text(format::pick(r, &["ready", "status.readyReplicas"]), "0"),
        },
        Column {
            header: "AGE",
            wide: false,
            cell: age,
        },
        Column {
            header: "SELECTOR",
            wide: true,
            cell: |r| format::selector_string(format::pick(r, &["selector", "spec.selector"])),
        },
    ],
    table_from_details: false,
    describe: describe::rs,
    describe_query: "",
    scalable: true,
    subresources: &[
        Subresource {
            name: "scale",
            kind: "Scale",
            group_version: Some(("autoscaling", "v1")),
            verbs: &["get", "patch", "update"],
        },
        Subresource {
            name: "status",
            kind: "ReplicaSet",
            group_version: None,
            verbs: &["get"],
        },
    ],
    kube_table: &kube_table::REPLICA_SET_TABLE,
    schema: |g, _| g.subschema_for::<k8s_openapi::api::apps::v1::ReplicaSet>(),
};

static HPA: KindInfo = KindInfo {
    kind: "HorizontalPodAutoscaler",
    group: "autoscaling",
    version: "v2",
    versions: &["v2", "v1", "v2beta2"],
    plural: "horizontalpodautoscalers",
    singular: "horizontalpodautoscaler",
    short_names: &["hpa"],
    path: "hpa",
    store: Kind::HorizontalPodAutoscaler,
    ops: &crate::core::HpaOps,
    columns: &[
        Column {
            header: "NAME",
            wide: false,
            cell: name,
        },
        Column {
            header: "REFERENCE",
            wide: false,
            cell: |h| format!("ReplicaSet/{}", format::hpa_target_name(h)),
        },
        Column {
            header: "TARGETS",
            wide: false,
            cell: format::hpa_targets,
        },
        Column {
            header: "MINPODS",
            wide: false,
            cell: |h| format::text(format::pick(h, &["minReplicas", "spec.minReplicas"]), "1"),
        },
        Column {
            header: "MAXPODS",
            wide: false,
            cell: |h| {
                format::text(
                    format::pick(h, &["maxReplicas", "spec.maxReplicas"]),
                    "<unknown>",
                )
            },
        },
        Column {
            header: "REPLICAS",
            wide: false,
            cell: |h| {
                format::text(
                    format::pick(h, &["currentReplicas", "status.currentReplicas"]),
                    "0",
                )
            },
        },
        Column {
            header: "AGE",
            wide: false,
            cell: age,
        },
    ],
    table_from_details: true,
    describe: describe::hpa,
    describe_query: "",
    scalable: false,
    subresources: &[Subresource {
        name: "status",
        kind: "HorizontalPodAutoscaler",
        group_version: None,
        verbs: &["get"],
    }],
    kube_table: &kube_table::HPA_TABLE,
    schema: |g, version| match version {
        "v1" => g.subschema_for::<k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler>(),
        // v2beta2 is served as an alias of v2: the same fields.
        _ => g.subschema_for::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>(),
    },
};

fn key_count(v: &Value) -> String {
    v.get("keys")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
        .to_string()
}

static CONFIG_MAP: KindInfo = KindInfo {
    kind: "ConfigMap",
    group: "",
    version: "v1",
    versions: &["v1"],
    plural: "configmaps",
    singular: "configmap",
    short_names: &["cm"],
    path: "cm",
    store: Kind::ConfigMap,
    ops: &crate::core::ConfigMapOps,
    columns: &[
        Column {
            header: "NAME",
            wide: false,
            cell: name,
        },
        Column {
            header: "DATA",
            wide: false,
            cell: key_count,
        },
        Column {
            header: "AGE",
            wide: false,
            cell: age,
        },
    ],
    table_from_details: false,
    describe: describe::config_map,
    describe_query: "",
    scalable: false,
    subresources: &[],
    kube_table: &kube_table::CONFIG_MAP_TABLE,
    schema: |g, _| g.subschema_for::<k8s_openapi::api::core::v1::ConfigMap>(),
};

static SECRET: KindInfo = KindInfo {
    kind: "Secret",
    group: "",
    version: "v1",
    versions: &["v1"],
    plural: "secrets",
    singular: "secret",
    short_names: &[],
    path: "secret",
    store: Kind::Secret,
    ops: &crate::core::SecretOps,
    columns: &[
        Column {
            header: "NAME",
            wide: false,
            cell: name,
        },
        Column {
            header: "TYPE",
            wide: false,
            cell: |s| format::text(s.get("type"), "Opaque"),
        },
        Column {
            header: "DATA",
            wide: false,
            cell: key_count,
        },
        Column {
            header: "AGE",
            wide: false,
            cell: age,
        },
    ],
    table_from_details: false,
    describe: describe::secret,
    describe_query: "",
    scalable: false,
    subresources: &[],
    kube_table: &kube_table::SECRET_TABLE,
    schema: |g, _| g.subschema_for::<k8s_openapi::api::core::v1::Secret>(),
};

/// A kubectl-style table of `items` of kind `k` (`wide`: with the wide columns).
pub fn render_table(k: &KindInfo, items: &[Value], wide: bool) -> String {
    let cols: Vec<&Column> = k.columns.iter().filter(|c| wide || !c.wide).collect();
    let headers: Vec<&str> = cols.iter().map(|c| c.header).collect();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| cols.iter().map(|c| (c.cell)(i)).collect())
        .collect();
    format::table(&headers, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_as_kubectl_resolves_them() {
        for (word, kind) in [
            ("pod", "Pod"),
            ("pods", "Pod"),
            ("po", "Pod"),
            ("PODS", "Pod"),
            ("rs", "ReplicaSet"),
            ("replicaset", "ReplicaSet"),
            ("replicasets.apps", "ReplicaSet"),
            ("hpa", "HorizontalPodAutoscaler"),
            ("cm", "ConfigMap"),
            ("configmaps", "ConfigMap"),
            ("secret", "Secret"),
            ("secrets", "Secret"),
            (
                "horizontalpodautoscalers.autoscaling",
                "HorizontalPodAutoscaler",
            ),
        ] {
            assert_eq!(lookup(word).map(|k| k.kind), Some(kind), "{word}");
        }
        for word in ["deploy", "replicasets.autoscaling", "", "p"] {
            assert!(lookup(word).is_none(), "{word}");
        }
    }

    #[test]
    fn every_kind_is_described_once_and_consistently() {
        for k in KINDS {
            assert_eq!(by_kind(k.kind).map(|x| x.path), Some(k.path));
            assert_eq!(by_path(k.path).map(|x| x.kind), Some(k.kind));
            assert_eq!(k.store.as_str(), k.kind);
            assert_eq!(k.columns.first().map(|c| c.header), Some("NAME"));
            let narrow: Vec<&str> = k
                .columns
                .iter()
                .filter(|c| !c.wide)
                .map(|c| c.header)
                .collect();
            assert_eq!(narrow.last(), Some(&"AGE"));
        }
        assert_eq!(REPLICA_SET.api_version(), "apps/v1");
        assert_eq!(POD.api_version(), "v1");
        assert_eq!(REPLICA_SET.qualified(), "replicaset.apps");
    }
}
