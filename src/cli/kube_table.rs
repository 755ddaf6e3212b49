//! The Kubernetes API's server-side Table columns per kind, as the real apiserver's
//! printers compute them (`kubectl get` prints these cells as they are). The registry
//! points each kind at its [`KubeTable`]; `api::kube::table` builds the Table.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};

use super::format;
use crate::model::status::PodExt;
use crate::store::{Body, MetaExt};

/// One column of a Table.
pub struct KubeColumn {
    /// `Name`, `Ready`, … (kubectl upper-cases it).
    pub name: &'static str,
    /// `string` or `integer`.
    pub type_: &'static str,
    /// `name` on the name column (`get all` prefixes rows with `kind/`), else "".
    pub format: &'static str,
    /// 0, or 1 for the `-o wide` columns.
    pub priority: u8,
    /// The column's description.
    pub description: &'static str,
}

/// A kind's Table: its columns and the cells of one object at `now` (seconds).
pub struct KubeTable {
    /// The columns.
    pub columns: &'static [KubeColumn],
    /// One row's cells, in column order.
    pub cells: fn(&Body, i64) -> Vec<Value>,
}

const fn col(name: &'static str, type_: &'static str, priority: u8) -> KubeColumn {
    KubeColumn {
        name,
        type_,
        format: "",
        priority,
        description: "",
    }
}

const NAME: KubeColumn = KubeColumn {
    name: "Name",
    type_: "string",
    format: "name",
    priority: 0,
    description: "Name must be unique within a namespace.",
};

/// The age cell: `12s`, `5m3s`, `2d` (kubectl's HumanDuration).
pub fn age(body: &Body, now: i64) -> Value {
    match body.meta().creation_timestamp.as_ref() {
        Some(t) => json!(format::human_duration((now - t.0.as_second()).max(0))),
        None => json!("<unknown>"),
    }
}

/// Pods.
pub static POD_TABLE: KubeTable = KubeTable {
    columns: &[
        NAME,
        col("Ready", "string", 0),
        col("Status", "string", 0),
        col("Restarts", "string", 0),
        col("Age", "string", 0),
        col("IP", "string", 1),
        col("Node", "string", 1),
        col("Nominated Node", "string", 1),
        col("Readiness Gates", "string", 1),
    ],
    cells: pod_cells,
};

fn pod_cells(body: &Body, now: i64) -> Vec<Value> {
    let Some(p) = body.downcast::<Pod>() else {
        return vec![];
    };
    let total = p.spec.as_ref().map_or(0, |s| s.containers.len());
    let ready = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| cs.iter().filter(|c| c.ready).count());
    let status = if p.is_deleting() {
        "Terminating".to_string()
    } else {
        p.state_reason()
            .map(str::to_string)
            .or_else(|| {
                p.status
                    .as_ref()
                    .and_then(|s| s.reason.clone())
                    .filter(|r| !r.is_empty())
            })
            .unwrap_or_else(|| p.phase().to_string())
    };
    let node = p
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
        .or_else(|| {
            p.status
                .as_ref()
                .and_then(|s| s.host_ip.as_ref())
                .map(|_| "k1s-node".to_string())
        })
        .unwrap_or_else(|| "<none>".into());
    let gates = p
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .filter(|g| !g.is_empty())
        .map(|g| format!("0/{}", g.len()))
        .unwrap_or_else(|| "<none>".into());
    vec![
        json!(p.name()),
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(p.restart_count().to_string()),
        age(body, now),
        json!(p.pod_ip().unwrap_or("<none>")),
        json!(node),
        json!("<none>"),
        json!(gates),
    ]
}

/// ReplicaSets.
pub static REPLICA_SET_TABLE: KubeTable = KubeTable {
    columns: &[
        NAME,
        col("Desired", "integer", 0),
        col("Current", "integer", 0),
        col("Ready", "integer", 0),
        col("Age", "string", 0),
        col("Containers", "string", 1),
        col("Images", "string", 1),
        col("Selector", "string", 1),
    ],
    cells: rs_cells,
};

fn rs_cells(body: &Body, now: i64) -> Vec<Value> {
    let Some(rs) = body.downcast::<ReplicaSet>() else {
        return vec![];
    };
    let spec = rs.spec.as_ref();
    let status = rs.status.as_ref();
    let containers: Vec<_> = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.iter().collect())
        .unwrap_or_default();
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|c| c.image.as_deref().unwrap_or_default())
        .collect();
    vec![
        json!(rs.name()),
        json!(spec.and_then(|s| s.replicas).unwrap_or(1)),
        json!(status.map_or(0, |s| s.replicas)),
        json!(status.and_then(|s| s.ready_replicas).unwrap_or(0)),
        age(body, now),
        json!(names.join(",")),
        json!(images.join(",")),
        json!(spec.map_or_else(|| "<none>".into(), |s| selector_string(&s.selector))),
    ]
}

/// `app=web,tier in (a,b)`, or `<none>` for the empty selector (the table's words).
pub fn selector_string(sel: &LabelSelector) -> String {
    match crate::model::labels::format_label_selector(sel) {
        s if s.is_empty() => "<none>".into(),
        s => s,
    }
}

/// HorizontalPodAutoscalers.
pub static HPA_TABLE: KubeTable = KubeTable {
    columns: &[
        NAME,
        col("Reference", "string", 0),
        col("Targets", "string", 0),
        col("MinPods", "string", 0),
        col("MaxPods", "integer", 0),
        col("Replicas", "integer", 0),
        col("Age", "string", 0),
    ],
    cells: hpa_cells,
};

fn hpa_cells(body: &Body, now: i64) -> Vec<Value> {
    let Some(h) = body.downcast::<HorizontalPodAutoscaler>() else {
        return vec![];
    };
    let spec = h.spec.as_ref();
    let reference = spec.map_or_else(
        || "<unknown>".into(),
        |s| format!("{}/{}", s.scale_target_ref.kind, s.scale_target_ref.name),
    );
    vec![
        json!(h.name()),
        json!(reference),
        json!(hpa_targets(h)),
        json!(
            spec.and_then(|s| s.min_replicas)
                .map_or_else(|| "<unset>".into(), |m| m.to_string())
        ),
        json!(spec.map_or(0, |s| s.max_replicas)),
        json!(
            h.status
                .as_ref()
                .and_then(|s| s.current_replicas)
                .unwrap_or(0)
        ),
        age(body, now),
    ]
}

/// ConfigMaps: `NAME DATA AGE`.
pub static CONFIG_MAP_TABLE: KubeTable = KubeTable {
    columns: &[NAME, col("Data", "string", 0), col("Age", "string", 0)],
    cells: |body, now| {
        let Some(c) = body.downcast::<ConfigMap>() else {
            return vec![];
        };
        let n =
            c.data.as_ref().map_or(0, |d| d.len()) + c.binary_data.as_ref().map_or(0, |d| d.len());
        vec![json!(c.name()), json!(n), age(body, now)]
    },
};

/// Secrets: `NAME TYPE DATA AGE`.
pub static SECRET_TABLE: KubeTable = KubeTable {
    columns: &[
        NAME,
        col("Type", "string", 0),
        col("Data", "string", 0),
        col("Age", "string", 0),
    ],
    cells: |body, now| {
        let Some(s) = body.downcast::<Secret>() else {
            return vec![];
        };
        vec![
            json!(s.name()),
            json!(s.type_.as_deref().unwrap_or("Opaque")),
            json!(s.data.as_ref().map_or(0, |d| d.len())),
            age(body, now),
        ]
    },
};

/// The Targets cell: `cpu: 7%/60%`, `cpu: <unknown>/60%`, metrics joined by ", ".
pub fn hpa_targets(h: &HorizontalPodAutoscaler) -> String {
    let v = serde_json::to_value(h).unwrap_or_default();
    match format::hpa_metrics(&v) {
        Some(ms) if !ms.is_empty() => ms
            .iter()
            .map(|m| format!("{}: {}/{}", m.name, m.current, m.target))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "<none>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpa_targets_read_like_the_apiserver() {
        let mut h: HorizontalPodAutoscaler = serde_json::from_value(json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "ReplicaSet", "name": "rs"}, "maxReplicas": 5,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 60}}}]}
        }))
        .unwrap();
        assert_eq!(hpa_targets(&h), "cpu: <unknown>/60%");
        h.status = serde_json::from_value(json!({"desiredReplicas": 1, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 7}}}]}))
        .unwrap();
        assert_eq!(hpa_targets(&h), "cpu: 7%/60%");
        let cells = hpa_cells(&Body::HorizontalPodAutoscaler(h), 0);
        assert_eq!(cells[1], "ReplicaSet/rs");
    }

    #[test]
    fn selectors_read_like_format_label_selector() {
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "x", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        assert_eq!(selector_string(&sel), "app=web,tier in (a,b),!x");
        assert_eq!(selector_string(&LabelSelector::default()), "<none>");
    }
}
