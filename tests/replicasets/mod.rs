//! ReplicaSets (docs/decisions.md, "ReplicaSets", "Result shapes", "Crash recovery"):
//! the handout's example through the REST API and `k1s_ctl`, healing, adoption,
//! ownership, scaling, cascading deletion, validation, and crash recovery.
//!
//! Every test uses its own server and a unique selector label (`app: <unique>`), so
//! "the containers carrying this label" are exactly the containers of this test's
//! ReplicaSet. The RS is named under the [`Cleanup`] prefix, so its pods
//! (`<rs>-xxxxx`) and their containers are removed by the guard.

use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

mod adopt;
mod ctl;
mod delete;
mod deleted_pod_gets_no_new_container;
mod heal;
mod recovery;
mod rest;
mod scale;
mod validation;

/// Deadline for a ReplicaSet of a few pods to converge (create + start on 2 busy cores).
pub const RS_DEADLINE: Duration = POD_DEADLINE;

/// The handout's `examples/rs.yaml` named `name`, selecting `app: <app>` (the template
/// keeps its `version: "1.0"` label), its container `web` running `HTTP_IMAGE`.
pub fn rs_manifest(name: &str, app: &str, replicas: i64) -> Value {
    let mut rs = example("rs.yaml");
    rs["metadata"]["name"] = json!(name);
    rs["spec"]["replicas"] = json!(replicas);
    rs["spec"]["selector"]["matchLabels"] = json!({ "app": app });
    rs["spec"]["template"]["metadata"]["labels"]["app"] = json!(app);
    rs["spec"]["template"]["spec"]["containers"][0]["name"] = json!("web");
    rs["spec"]["template"]["spec"]["containers"][0]["image"] = json!(HTTP_IMAGE);
    rs
}

/// POSTs a ReplicaSet as JSON and asserts 201; returns the answer.
pub fn create_rs(server: &Server, rs: &Value) -> Value {
    let r = server.post_json("/k1s/rs", rs);
    assert_eq!(r.status, 201, "POST /k1s/rs: {r:?}");
    r.body
}

/// `GET /k1s/rs/NAME` body when 200, None on 404.
pub fn get_rs(server: &Server, name: &str) -> Option<Value> {
    let r = server.get(&format!("/k1s/rs/{name}"));
    match r.status {
        200 => Some(r.body),
        404 => None,
        _ => panic!("GET /k1s/rs/{name}: unexpected {r:?}"),
    }
}

/// `GET /k1s/rs[?labels=…]` as a list.
pub fn list_rs(server: &Server, labels: Option<&str>) -> Vec<Value> {
    let path = match labels {
        Some(l) => format!("/k1s/rs?labels={l}"),
        None => "/k1s/rs".to_string(),
    };
    let r = server.get(&path);
    assert_eq!(r.status, 200, "GET {path}: {r:?}");
    r.body
        .as_array()
        .unwrap_or_else(|| panic!("GET {path} is not a list: {r:?}"))
        .clone()
}

/// `PATCH /k1s/rs/NAME` with a JSON merge patch.
pub fn patch_rs(server: &Server, name: &str, patch: &Value) -> Resp {
    let bytes = serde_json::to_vec(patch).unwrap();
    server.request(
        "PATCH",
        &format!("/k1s/rs/{name}"),
        Some(("application/merge-patch+json", &bytes)),
    )
}

/// `GET /k1s/pod?labels=SEL` as a list of pods.
pub fn list_pods(server: &Server, selector: &str) -> Vec<Value> {
    let path = format!("/k1s/pod?labels={selector}");
    let r = server.get(&path);
    assert_eq!(r.status, 200, "GET {path}: {r:?}");
    r.body
        .as_array()
        .unwrap_or_else(|| panic!("GET {path} is not a list: {r:?}"))
        .clone()
}

/// The instance id this server marks its containers with (from its start-up line).
pub fn instance_of(server: &Server) -> String {
    let log = server.log();
    let at = log
        .find(", instance ")
        .unwrap_or_else(|| panic!("no instance id in the start-up line:\n{log}"));
    let rest = &log[at + ", instance ".len()..];
    let end = rest.find([',', ')', ' ', '\n']).unwrap_or(rest.len());
    let id = rest[..end].to_string();
    assert!(!id.is_empty(), "empty instance id in:\n{log}");
    id
}

/// One K1s container as `docker ps -a` shows it.
#[derive(Debug, Clone)]
pub struct Ctr {
    pub id: String,
    pub name: String,
    /// `running`, `exited`, `created`, `removing`, …
    pub state: String,
    /// Its `k1s.io/pod` label.
    pub pod: String,
    /// Its `k1s.io/instance` label.
    pub instance: String,
    /// Its `k1s.io/uid` label.
    pub uid: String,
}

/// Every container (any state) with the K1s marker and the label `label` (`k=v`).
pub fn k1s_containers(label: &str) -> Vec<Ctr> {
    let filter = format!("label={label}");
    let out = docker_ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        "label=k1s=pod",
        "--filter",
        &filter,
        "--format",
        "{{.ID}}\t{{.Names}}\t{{.State}}\t{{.Label \"k1s.io/pod\"}}\t{{.Label \"k1s.io/instance\"}}\t{{.Label \"k1s.io/uid\"}}",
    ]);
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let g = |i: usize| f.get(i).map(|s| s.trim().to_string()).unwrap_or_default();
            Ctr {
                id: g(0),
                name: g(1).trim_start_matches('/').to_string(),
                state: g(2),
                pod: g(3),
                instance: g(4),
                uid: g(5),
            }
        })
        .collect()
}

/// What a converged ReplicaSet looks like from outside.
#[derive(Debug, Clone)]
pub struct Conv {
    /// rsExtra.
    pub rs: Value,
    /// Its pods (pod shape), sorted by name.
    pub pods: Vec<Value>,
    /// Its containers, sorted by pod name.
    pub containers: Vec<Ctr>,
}

impl Conv {
    pub fn names(&self) -> BTreeSet<String> {
        self.pods.iter().map(pod_name).collect()
    }
    pub fn pod(&self, name: &str) -> &Value {
        self.pods
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no pod {name} in {:?}", self.names()))
    }
}

pub fn pod_name(p: &Value) -> String {
    p["name"].as_str().expect("pod name").to_string()
}

fn short(pods: &[Value]) -> String {
    let v: Vec<Value> = pods
        .iter()
        .map(|p| {
            json!({"name": p["name"], "status": p["status"], "reason": p["reason"],
                   "restartCount": p["restartCount"], "id": p["id"].as_str().map(|s| &s[..12.min(s.len())])})
        })
        .collect();
    Value::Array(v).to_string()
}

/// Checks that ReplicaSet `rs` has converged to exactly `n` pods, as seen by the API
/// and by Docker: the RS says replicas = current = ready = n; exactly `n` pods carry
/// `selector` (`k=v`), all Running, all controlled by the RS (same uid), the same set
/// as rsExtra's `pods`; exactly `n` containers carry `selector`, all running, one per
/// pod, each the pod's container (id, `k1s.io/pod`, `k1s.io/uid`), of one instance.
pub fn observe(server: &Server, rs: &str, selector: &str, n: usize) -> Result<Conv, String> {
    let details = get_rs(server, rs).ok_or_else(|| format!("rs {rs}: 404"))?;
    let uid = details["uid"].as_str().ok_or("rs without uid")?.to_string();
    let counts = (
        details["replicas"].as_u64(),
        details["current"].as_u64(),
        details["ready"].as_u64(),
    );
    let want = Some(n as u64);
    if counts != (want, want, want) {
        return Err(format!(
            "rs replicas/current/ready = {counts:?}, want {n}; pods: {}",
            details["pods"]
        ));
    }
    let mut pods = list_pods(server, selector);
    pods.sort_by_key(pod_name);
    if pods.len() != n {
        return Err(format!("{} pods, want {n}: {}", pods.len(), short(&pods)));
    }
    for p in &pods {
        if p["status"] != "Running" || !p["id"].is_string() {
            return Err(format!("not all Running: {}", short(&pods)));
        }
        let owner = controller_of(p);
        if owner.map(|o| o["uid"].clone()) != Some(json!(uid)) {
            return Err(format!(
                "pod {} is not controlled by rs {rs} ({uid}): {}",
                p["name"], p["ownerReferences"]
            ));
        }
    }
    let names: BTreeSet<String> = pods.iter().map(pod_name).collect();
    let listed: BTreeSet<String> = details["pods"]
        .as_array()
        .ok_or("rsExtra without pods")?
        .iter()
        .map(pod_name)
        .collect();
    if listed != names {
        return Err(format!("rsExtra pods {listed:?} != pods {names:?}"));
    }
    let mut containers = k1s_containers(selector);
    containers.sort_by(|a, b| a.pod.cmp(&b.pod));
    let seen: Vec<String> = containers
        .iter()
        .map(|c| format!("{} {} pod={}", &c.id[..12], c.state, c.pod))
        .collect();
    if containers.len() != n {
        return Err(format!(
            "{} containers, want {n}: {seen:?}",
            containers.len()
        ));
    }
    let instances: BTreeSet<&str> = containers.iter().map(|c| c.instance.as_str()).collect();
    if instances.len() > 1 || instances.contains("") {
        return Err(format!("containers of several instances: {instances:?}"));
    }
    for (c, p) in containers.iter().zip(&pods) {
        if c.state != "running"
            || c.pod != pod_name(p)
            || c.name != c.pod
            || p["id"] != c.id.as_str()
            || p["uid"] != c.uid.as_str()
        {
            return Err(format!(
                "containers {seen:?} do not match pods {}",
                short(&pods)
            ));
        }
    }
    Ok(Conv {
        rs: details,
        pods,
        containers,
    })
}

/// Waits for [`observe`] to hold.
pub fn wait_converged(
    server: &Server,
    rs: &str,
    selector: &str,
    n: usize,
    deadline: Duration,
) -> Conv {
    wait_for(
        deadline,
        &format!("rs {rs} to converge to exactly {n} Running pods ({selector})"),
        || observe(server, rs, selector, n),
    )
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(pod: &Value) -> Option<&Value> {
    pod["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
}

/// Asserts the pod has exactly one owner reference: the ReplicaSet, as Kubernetes
/// writes it.
pub fn assert_owned_by(pod: &Value, rs: &str, uid: &str) {
    let refs = pod["ownerReferences"]
        .as_array()
        .unwrap_or_else(|| panic!("pod {} without ownerReferences: {pod}", pod["name"]));
    assert_eq!(refs.len(), 1, "pod {}: {refs:?}", pod["name"]);
    let r = &refs[0];
    assert_eq!(r["apiVersion"], "apps/v1", "{r}");
    assert_eq!(r["kind"], "ReplicaSet", "{r}");
    assert_eq!(r["name"], rs, "{r}");
    assert_eq!(r["uid"], uid, "{r}");
    assert_eq!(r["controller"], true, "{r}");
    assert_eq!(r["blockOwnerDeletion"], true, "{r}");
}

/// Asserts `pod` is named `<rs>-xxxxx` (five lowercase alphanumerics).
pub fn assert_rs_pod_name(pod: &str, rs: &str) {
    let suffix = pod
        .strip_prefix(&format!("{rs}-"))
        .unwrap_or_else(|| panic!("pod {pod} is not named {rs}-xxxxx"));
    assert!(
        suffix.len() == 5
            && suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "pod {pod}: suffix {suffix:?} is not 5 lowercase alphanumerics"
    );
}

/// Waits until no container carries `label` any more; panics naming what is left.
pub fn wait_no_containers(label: &str, deadline: Duration) {
    wait_for(deadline, &format!("no container labelled {label}"), || {
        let left = k1s_containers(label);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{:?}",
                left.iter()
                    .map(|c| format!("{} {}", c.name, c.state))
                    .collect::<Vec<_>>()
            ))
        }
    });
}

/// Sum of the counts of the RS's events with this reason (`SuccessfulCreate`, …).
pub fn rs_event_total(server: &Server, rs: &str, reason: &str) -> u64 {
    let d = get_rs(server, rs).unwrap_or_else(|| panic!("rs {rs}: 404"));
    d["events"]
        .as_array()
        .unwrap_or_else(|| panic!("rsExtra without events: {d}"))
        .iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| e["count"].as_u64().unwrap_or(1))
        .sum()
}

/// Adds the names of the pods now carrying `selector` to `seen`.
pub fn note_pods(server: &Server, selector: &str, seen: &mut BTreeSet<String>) {
    seen.extend(list_pods(server, selector).iter().map(pod_name));
}
