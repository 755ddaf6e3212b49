//! HorizontalPodAutoscalers (docs/decisions.md, "Autoscaling"): scaling on real CPU
//! load up to max and back down to min, recovery after kill -9, admission (the
//! handout's v2beta2 example, v1, invalid specs), `k1s_ctl` (create/get/describe/delete
//! hpa, top pod) and pod CPU stats.
//!
//! Every test starts its own server with `--hpa-sync-period 2s`. Tests that burn CPU
//! hold `cpu_heavy()` for their whole run (2 cores: at most 3 burners at a time).

mod admission;
mod recovery;
mod scaling;
mod top;

use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// The server flags of every HPA test.
pub const SYNC_2S: &[&str] = &["--hpa-sync-period", "2s"];

/// How long an HPA may take to scale its ReplicaSet up to max on real load: a few
/// sync periods for the first averaged samples, plus container starts on 2 busy cores.
pub const SCALE_UP_DEADLINE: Duration = Duration::from_secs(60);
/// How long scaling back down may take once the load stopped (5 s stabilization window).
pub const SCALE_DOWN_DEADLINE: Duration = Duration::from_secs(90);

/// A server for an HPA test.
pub fn hpa_server() -> Server {
    Server::start_with(SYNC_2S)
}

/// A ReplicaSet of `replicas` burn pods labelled `app: <app>`, its container `burn`
/// running `args` (e.g. `["burn","--millicores","500"]`), with an optional CPU request.
pub fn burn_rs(name: &str, app: &str, replicas: i64, args: &[&str], cpu: Option<&str>) -> Value {
    let mut c = json!({"name": "burn", "image": BURN_IMAGE, "args": args});
    if let Some(cpu) = cpu {
        c["resources"] = json!({"requests": {"cpu": cpu}});
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [c]}
            }
        }
    })
}

/// An `autoscaling/v2` HPA on ReplicaSet `rs`: cpu at `util` % utilization.
pub fn hpa_v2(name: &str, rs: &str, min: i64, max: i64, util: i64) -> Value {
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": {"hpa-test": name}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs},
            "minReplicas": min,
            "maxReplicas": max,
            "metrics": [{
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": util}}
            }]
        }
    })
}

/// POSTs `body` to `/k1s/<kind>` and asserts 201; returns the answer.
pub fn create_ok(server: &Server, kind: &str, body: &Value) -> Value {
    let r = server.post_json(&format!("/k1s/{kind}"), body);
    assert_eq!(r.status, 201, "POST /k1s/{kind}: {r:?}");
    r.body
}

/// `GET /k1s/rs/NAME` (rsExtra), asserting 200.
pub fn rs_extra(server: &Server, name: &str) -> Value {
    let r = server.get(&format!("/k1s/rs/{name}"));
    assert_eq!(r.status, 200, "GET /k1s/rs/{name}: {r:?}");
    r.body
}

/// `GET /k1s/hpa/NAME` (hpaExtra) when 200, None when 404.
pub fn hpa_extra(server: &Server, name: &str) -> Option<Value> {
    let r = server.get(&format!("/k1s/hpa/{name}"));
    match r.status {
        200 => Some(r.body),
        404 => None,
        _ => panic!("GET /k1s/hpa/{name}: unexpected {r:?}"),
    }
}

/// `PATCH /k1s/rs/NAME` with a JSON merge patch, asserting 200.
pub fn patch_rs(server: &Server, name: &str, patch: &Value) -> Value {
    let bytes = serde_json::to_vec(patch).unwrap();
    let r = server.request(
        "PATCH",
        &format!("/k1s/rs/{name}"),
        Some(("application/merge-patch+json", &bytes)),
    );
    assert_eq!(r.status, 200, "PATCH /k1s/rs/{name} {patch}: {r:?}");
    r.body
}

/// The HPA's condition of `kind` (from `conditions`, else `status.conditions`).
pub fn condition<'a>(hpa: &'a Value, kind: &str) -> Option<&'a Value> {
    hpa["conditions"]
        .as_array()
        .or_else(|| hpa["status"]["conditions"].as_array())?
        .iter()
        .find(|c| c["type"] == kind)
}

/// True when the HPA has condition `kind` with `status` and `reason`.
pub fn has_condition(hpa: &Value, kind: &str, status: &str, reason: &str) -> bool {
    condition(hpa, kind).is_some_and(|c| c["status"] == status && c["reason"] == reason)
}

/// The messages of the HPA's events with `reason`.
pub fn event_messages(hpa: &Value, reason: &str) -> Vec<String> {
    hpa["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["reason"] == reason)
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The cpu `averageUtilization` in the HPA's `status.currentMetrics`, if any.
pub fn cpu_utilization(hpa: &Value) -> Option<i64> {
    hpa["status"]["currentMetrics"]
        .as_array()?
        .iter()
        .find(|m| m["type"] == "Resource" && m["resource"]["name"] == "cpu")?["resource"]["current"]
        ["averageUtilization"]
        .as_i64()
}

/// The status-relevant fields of an HPA, for failure messages.
pub fn hpa_brief(h: &Value) -> String {
    json!({
        "currentReplicas": h["currentReplicas"], "desiredReplicas": h["desiredReplicas"],
        "currentMetrics": h["status"]["currentMetrics"],
        "lastScaleTime": h["status"]["lastScaleTime"],
        "conditions": h["conditions"].as_array().map(|cs| cs.iter().map(|c| {
            format!("{} {} {}: {}", c["type"], c["status"], c["reason"], c["message"])
        }).collect::<Vec<_>>()),
        "events": h["events"].as_array().map(|es| es.iter().map(|e| {
            format!("{} x{}: {}", e["reason"], e["count"], e["message"])
        }).collect::<Vec<_>>()),
    })
    .to_string()
}

/// The names of an rsExtra's pods whose phase is Running.
pub fn running_pods(rs: &Value) -> Vec<String> {
    rs["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["status"] == "Running")
        .map(|p| p["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Short form of an rsExtra, for failure messages.
pub fn rs_brief(rs: &Value) -> String {
    json!({
        "replicas": rs["replicas"], "current": rs["current"], "ready": rs["ready"],
        "pods": rs["pods"].as_array().map(|ps| ps.iter().map(|p| {
            format!("{} {}", p["name"].as_str().unwrap_or("?"), p["status"].as_str().unwrap_or("?"))
        }).collect::<Vec<_>>()),
    })
    .to_string()
}

/// Waits until the ReplicaSet wants `n` replicas and has exactly `n` pods, all Running.
pub fn wait_rs_running(server: &Server, rs: &str, n: i64, timeout: Duration, what: &str) -> Value {
    wait_for(timeout, what, || {
        let r = rs_extra(server, rs);
        let pods = r["pods"].as_array().map_or(0, Vec::len);
        if r["replicas"] == n && pods as i64 == n && running_pods(&r).len() as i64 == n {
            Ok(r)
        } else {
            Err(rs_brief(&r))
        }
    })
}

/// Waits until the HPA's target ReplicaSet wants `n` replicas; shows the HPA on timeout.
pub fn wait_rs_replicas(
    server: &Server,
    rs: &str,
    hpa: &str,
    n: i64,
    timeout: Duration,
    what: &str,
) -> Value {
    wait_for(timeout, what, || {
        let r = rs_extra(server, rs);
        if r["replicas"] == n {
            Ok(r)
        } else {
            let h = hpa_extra(server, hpa).map(|h| hpa_brief(&h));
            Err(format!(
                "rs {}; hpa {}",
                rs_brief(&r),
                h.unwrap_or_default()
            ))
        }
    })
}

/// The line of a `k1s_ctl` table whose first column is `name`.
pub fn table_line<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
}

/// The cpu `averageValue` (millicores, `"123m"`) in the HPA's `status.currentMetrics`.
pub fn cpu_average_millis(hpa: &Value) -> Option<f64> {
    let m = hpa["status"]["currentMetrics"]
        .as_array()?
        .iter()
        .find(|m| m["type"] == "Resource" && m["resource"]["name"] == "cpu")?;
    let v = m["resource"]["current"]["averageValue"].as_str()?;
    match v.strip_suffix('m') {
        Some(n) => n.parse().ok(),
        None => v.parse::<f64>().ok().map(|c| c * 1000.0),
    }
}

/// Asserts that the HPA's cpu utilization is its average usage as a percentage of
/// `request_millis` (what docs/decisions.md, "Autoscaling" says: of the request, or of
/// one full CPU without one).
pub fn assert_utilization_of(hpa: &Value, request_millis: f64) {
    let util = cpu_utilization(hpa).unwrap_or_else(|| panic!("no utilization: {}", hpa_brief(hpa)));
    let avg =
        cpu_average_millis(hpa).unwrap_or_else(|| panic!("no averageValue: {}", hpa_brief(hpa)));
    let expected = avg * 100.0 / request_millis;
    assert!(
        (util as f64 - expected).abs() <= 1.5,
        "averageUtilization {util} % should be averageValue {avg}m as a percentage of {request_millis}m ({expected:.1} %): {}",
        hpa_brief(hpa)
    );
}
