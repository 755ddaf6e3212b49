//! `metrics.k8s.io/v1beta1` pods, from the metrics cache (`kubectl top pod`).
//!
//! CPU is the mean over the last [`WINDOW`] of the cache's samples, in nanocores;
//! memory the latest working set, in Ki. A pod whose container has no CPU figure yet
//! (fewer than two samples) has no metrics, as with metrics-server.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::{NAMESPACE, Req, Status, json_response};
use crate::core::{K1s, pod_view};
use crate::model::labels::{FieldSelector, parse_label_selector};
use crate::runtime::metrics::Usage;
use crate::store::MetaExt;

/// The window CPU is averaged over.
const WINDOW: Duration = Duration::from_secs(10);

/// `GET …/pods` of the metrics group.
pub fn list(k1s: &Arc<K1s>, req: &Req) -> Result<Response, Status> {
    let labels = parse_label_selector(req.param("labelSelector").unwrap_or(""))
        .map_err(Status::bad_request)?;
    let fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))
        .map_err(Status::bad_request)?;
    let items: Vec<Value> = k1s.store().scan(|p: &Pod| {
        if p.is_deleting() || !labels.matches(p.labels()) {
            return None;
        }
        let name = p.name().to_string();
        let ok = fields.matches(|f| match f {
            "metadata.name" => Some(name.clone()),
            "metadata.namespace" => Some(NAMESPACE.into()),
            _ => None,
        });
        if !ok {
            return None;
        }
        pod_metrics(k1s, p)
    });
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": "PodMetricsList",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {},
            "items": items,
        }),
    ))
}

/// `GET …/pods/{name}` of the metrics group.
pub fn get(k1s: &Arc<K1s>, name: &str) -> Result<Response, Status> {
    let m = k1s
        .store()
        .get::<Pod>(name)
        .filter(|p| !p.is_deleting())
        .and_then(|p| pod_metrics(k1s, &p))
        .ok_or_else(|| Status {
            details: Some(json!({"name": name, "group": "metrics.k8s.io", "kind": "pods"})),
            ..Status::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("podmetrics.metrics.k8s.io \"{name}\" not found"),
            )
        })?;
    Ok(json_response(StatusCode::OK, &m))
}

/// A pod's `PodMetrics`, if its container has figures.
fn pod_metrics(k1s: &K1s, p: &Pod) -> Option<Value> {
    let id = pod_view(p).id?;
    let metrics = k1s.metrics();
    let latest = metrics.latest(&id)?;
    let cpu = metrics
        .average(&id, WINDOW)
        .and_then(|u| u.cpu_percent)
        .or(latest.cpu_percent)?;
    let container = p
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default();
    Some(json!({
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": p.name(),
            "namespace": NAMESPACE,
            "creationTimestamp": crate::util::now_rfc3339(),
            "labels": p.labels(),
        },
        "timestamp": crate::util::now_rfc3339(),
        "window": format!("{}s", WINDOW.as_secs()),
        "containers": [{"name": container, "usage": usage(Usage {
            cpu_percent: Some(cpu),
            memory_bytes: latest.memory_bytes,
        })}],
    }))
}

/// `{"cpu": "<nanocores>n", "memory": "<KiB>Ki"}`; 100 % is one CPU.
fn usage(u: Usage) -> Value {
    let nanocores = (u.cpu_percent.unwrap_or(0.0).max(0.0) * 1e7).round() as u64;
    json!({
        "cpu": format!("{nanocores}n"),
        "memory": format!("{}Ki", u.memory_bytes.div_ceil(1024)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_in_nanocores_and_kibibytes() {
        let u = |cpu: f64, mem: u64| {
            usage(Usage {
                cpu_percent: Some(cpu),
                memory_bytes: mem,
            })
        };
        assert_eq!(
            u(100.0, 1024),
            json!({"cpu": "1000000000n", "memory": "1Ki"})
        );
        assert_eq!(
            u(0.1234567, 2456 * 1024),
            json!({"cpu": "1234567n", "memory": "2456Ki"})
        );
        assert_eq!(u(-1.0, 1), json!({"cpu": "0n", "memory": "1Ki"}));
    }
}
