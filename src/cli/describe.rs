//! `describe` output, kubectl-describe-like, from podExtra / rsExtra / hpaExtra.
//! Every field is optional: a missing one prints `<none>` or `<unknown>`.

use serde_json::Value;

use super::format::{
    age, cpu_percent, hpa_metrics, hpa_target_name, label_lines, last_lines, mem_human, pick,
    pod_status, selector_string, str_field, table, text,
};

/// Key/value lines whose values line up in one column.
#[derive(Default)]
pub struct Desc {
    lines: Vec<Line>,
}

enum Line {
    Kv {
        indent: usize,
        key: String,
        value: String,
    },
    Raw(String),
}

impl Desc {
    pub fn kv(&mut self, indent: usize, key: &str, value: impl Into<String>) {
        self.lines.push(Line::Kv {
            indent,
            key: key.to_string(),
            value: value.into(),
        });
    }

    /// A key with several values: the first on the key's line, the rest below it.
    pub fn multi(&mut self, indent: usize, key: &str, values: &[String], none: &str) {
        if values.is_empty() {
            self.kv(indent, key, none);
            return;
        }
        for (i, v) in values.iter().enumerate() {
            self.kv(indent, if i == 0 { key } else { "" }, v.clone());
        }
    }

    /// Lines printed as they are (tables, logs).
    pub fn raw(&mut self, text: &str) {
        for l in text.lines() {
            self.lines.push(Line::Raw(l.to_string()));
        }
    }

    pub fn render(&self) -> String {
        let col = self
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Kv { indent, key, value } if !key.is_empty() && !value.is_empty() => {
                    Some(indent + key.chars().count() + 1)
                }
                _ => None,
            })
            .max()
            .unwrap_or(0)
            + 2;
        let mut out = String::new();
        for l in &self.lines {
            match l {
                Line::Kv { indent, key, value } => {
                    let mut s = " ".repeat(*indent);
                    if !key.is_empty() {
                        s.push_str(key);
                        s.push(':');
                    }
                    if !value.is_empty() {
                        let used = s.chars().count();
                        s.push_str(&" ".repeat(col.saturating_sub(used).max(1)));
                        s.push_str(value);
                    }
                    out.push_str(s.trim_end());
                }
                Line::Raw(s) => out.push_str(s.trim_end()),
            }
            out.push('\n');
        }
        out
    }
}

/// A describe-style table (`Type  Reason …` with a dashed line under the
/// headers), indented by two spaces.
fn sub_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let dashes: Vec<String> = headers.iter().map(|h| "-".repeat(h.len())).collect();
    let mut all = vec![dashes];
    all.extend(rows.iter().cloned());
    table(headers, &all)
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect()
}

fn events(d: &mut Desc, v: &Value) {
    let evs = pick(v, &["events", "status.events"])
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    let Some(evs) = evs else {
        d.kv(0, "Events", "<none>");
        return;
    };
    d.kv(0, "Events", "");
    let rows: Vec<Vec<String>> = evs
        .iter()
        .map(|e| {
            let ts = pick(e, &["timestamp", "lastTimestamp", "eventTime"]);
            let mut a = age(ts);
            if let Some(c) = e.get("count").and_then(Value::as_u64).filter(|c| *c > 1) {
                a = format!("{a} (x{c})");
            }
            vec![
                text(e.get("type"), "Normal"),
                text(e.get("reason"), ""),
                a,
                text(e.get("message"), ""),
            ]
        })
        .collect();
    d.raw(&sub_table(&["Type", "Reason", "Age", "Message"], &rows));
}

fn labels(d: &mut Desc, v: &Value) {
    d.multi(0, "Labels", &label_lines(v.get("labels")), "<none>");
}

fn state(d: &mut Desc, indent: usize, key: &str, st: Option<&Value>) {
    let Some(Value::Object(m)) = st else {
        d.kv(indent, key, "<unknown>");
        return;
    };
    let Some((which, inner)) = m.iter().find(|(_, v)| !v.is_null()) else {
        d.kv(indent, key, "<unknown>");
        return;
    };
    let title = match which.as_str() {
        "waiting" => "Waiting".to_string(),
        "running" => "Running".to_string(),
        "terminated" => "Terminated".to_string(),
        other => other.to_string(),
    };
    d.kv(indent, key, title);
    let i = indent + 2;
    if let Some(r) = str_field(inner, "reason") {
        d.kv(i, "Reason", r);
    }
    if let Some(msg) = str_field(inner, "message") {
        d.kv(i, "Message", super::format::one_line(msg));
    }
    if let Some(c) = inner.get("exitCode").filter(|c| !c.is_null()) {
        d.kv(i, "Exit Code", text(Some(c), ""));
    }
    if let Some(s) = str_field(inner, "startedAt") {
        d.kv(i, "Started", s);
    }
    if let Some(s) = str_field(inner, "finishedAt") {
        d.kv(i, "Finished", s);
    }
}

pub fn pod(p: &Value) -> String {
    let mut d = Desc::default();
    d.kv(0, "Name", text(p.get("name"), "<unknown>"));
    d.kv(0, "Namespace", "default");
    labels(&mut d, p);
    if let Some(t) = str_field(p, "startTime") {
        d.kv(0, "Start Time", t);
    } else if let Some(t) = str_field(p, "creationTimestamp") {
        d.kv(0, "Created", t);
    }
    d.kv(0, "Status", text(p.get("status"), "<unknown>"));
    if let Some(r) = str_field(p, "reason") {
        d.kv(0, "Reason", r);
    }
    d.kv(0, "IP", text(p.get("addr"), "<none>"));
    if let Some(owners) = p.get("ownerReferences").and_then(Value::as_array) {
        for o in owners {
            if o.get("controller").and_then(Value::as_bool) == Some(true) {
                d.kv(
                    0,
                    "Controlled By",
                    format!("{}/{}", text(o.get("kind"), "?"), text(o.get("name"), "?")),
                );
            }
        }
    }
    let cname = pick(p, &["spec.containers"])
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|c| c.get("name"))
        .map(|n| text(Some(n), "container"))
        .unwrap_or_else(|| "container".into());
    d.kv(0, "Containers", "");
    d.kv(2, &cname, "");
    d.kv(4, "Container ID", text(p.get("id"), "<none>"));
    d.kv(4, "Image", text(p.get("image"), "<none>"));
    d.kv(
        4,
        "Image ID",
        text(pick(p, &["imageID", "state.imageID"]), "<none>"),
    );
    state(&mut d, 4, "State", p.get("state"));
    if let Some(last) = p
        .get("lastState")
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    {
        state(&mut d, 4, "Last State", Some(last));
    }
    let ready = super::format::pod_ready(p) == "1/1";
    d.kv(4, "Ready", if ready { "True" } else { "False" });
    d.kv(4, "Restart Count", text(p.get("restartCount"), "0"));
    d.kv(
        0,
        "Restart Policy",
        text(
            pick(p, &["restartPolicy", "spec.restartPolicy"]),
            "<unknown>",
        ),
    );
    let stats = p.get("stats").unwrap_or(&Value::Null);
    d.kv(0, "CPU", cpu_percent(stats.get("cpu_percent")));
    d.kv(0, "Memory", mem_human(stats.get("memory_bytes")));
    let warnings: Vec<String> = p
        .get("warnings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|w| text(Some(w), ""))
                .filter(|w| !w.is_empty() && w != "{}")
                .collect()
        })
        .unwrap_or_default();
    d.multi(0, "Warnings", &warnings, "<none>");
    events(&mut d, p);
    let logs = p.get("logs").and_then(Value::as_str).unwrap_or("");
    let lines = last_lines(logs, 20);
    d.raw("Logs (last 20 lines):");
    if lines.is_empty() {
        d.raw("  <none>");
    } else {
        for l in lines {
            d.raw(&format!("  {l}"));
        }
    }
    d.render()
}

pub fn rs(r: &Value) -> String {
    let mut d = Desc::default();
    d.kv(0, "Name", text(r.get("name"), "<unknown>"));
    d.kv(0, "Namespace", "default");
    d.kv(
        0,
        "Selector",
        selector_string(pick(r, &["selector", "spec.selector"])),
    );
    labels(&mut d, r);
    if let Some(t) = str_field(r, "creationTimestamp") {
        d.kv(0, "Created", t);
    }
    let desired = text(pick(r, &["replicas", "spec.replicas"]), "?");
    let current = text(pick(r, &["current", "status.replicas"]), "?");
    d.kv(
        0,
        "Replicas",
        format!("{current} current / {desired} desired"),
    );
    let pods: Vec<Value> = r
        .get("pods")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pods: Vec<Value> = pods
        .into_iter()
        .map(|p| match p {
            Value::String(name) => serde_json::json!({ "name": name }),
            other => other,
        })
        .collect();
    let phase = |p: &Value| text(pick(p, &["status", "phase"]), "Unknown");
    let count = |want: &str| pods.iter().filter(|p| phase(p) == want).count();
    d.kv(
        0,
        "Pods Status",
        format!(
            "{} Running / {} Waiting / {} Succeeded / {} Failed",
            count("Running"),
            count("Pending"),
            count("Succeeded"),
            count("Failed")
        ),
    );
    if let Some(t) = pick(r, &["spec.template"]) {
        d.kv(0, "Pod Template", "");
        d.multi(
            2,
            "Labels",
            &label_lines(pick(t, &["metadata.labels"])),
            "<none>",
        );
        let containers: Vec<String> = pick(t, &["spec.containers"])
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|c| {
                        format!(
                            "{}: {}",
                            text(c.get("name"), "?"),
                            text(c.get("image"), "<none>")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        d.multi(2, "Containers", &containers, "<none>");
    }
    if pods.is_empty() {
        d.kv(0, "Pods", "<none>");
    } else {
        d.kv(0, "Pods", "");
        let rows: Vec<Vec<String>> = pods
            .iter()
            .map(|p| {
                let status = if p.get("status").is_some() || p.get("reason").is_some() {
                    pod_status(p)
                } else {
                    phase(p)
                };
                vec![text(p.get("name"), "?"), status]
            })
            .collect();
        d.raw(&sub_table(&["Name", "Status"], &rows));
    }
    events(&mut d, r);
    d.render()
}

pub fn hpa(h: &Value) -> String {
    let mut d = Desc::default();
    d.kv(0, "Name", text(h.get("name"), "<unknown>"));
    d.kv(0, "Namespace", "default");
    labels(&mut d, h);
    if let Some(t) = str_field(h, "creationTimestamp") {
        d.kv(0, "CreationTimestamp", t);
    }
    d.kv(0, "Reference", format!("ReplicaSet/{}", hpa_target_name(h)));
    match hpa_metrics(h) {
        None => d.kv(0, "Metrics", "<unknown>"),
        Some(ms) if ms.is_empty() => d.kv(0, "Metrics", "<none>"),
        Some(ms) => {
            d.kv(0, "Metrics", "( current / target )");
            for m in ms {
                let key = if m.utilization {
                    format!("resource {} on pods (as a percentage of request)", m.name)
                } else {
                    format!("resource {} on pods", m.name)
                };
                d.kv(2, &key, format!("{} / {}", m.current, m.target));
            }
        }
    }
    d.kv(
        0,
        "Min replicas",
        text(pick(h, &["minReplicas", "spec.minReplicas"]), "1"),
    );
    d.kv(
        0,
        "Max replicas",
        text(pick(h, &["maxReplicas", "spec.maxReplicas"]), "<unknown>"),
    );
    d.kv(
        0,
        "ReplicaSet pods",
        format!(
            "{} current / {} desired",
            text(pick(h, &["currentReplicas", "status.currentReplicas"]), "?"),
            text(pick(h, &["desiredReplicas", "status.desiredReplicas"]), "?")
        ),
    );
    if let Some(t) = pick(h, &["status.lastScaleTime", "lastScaleTime"]) {
        d.kv(0, "Last Scale Time", text(Some(t), "<none>"));
    }
    let conds = pick(h, &["conditions", "status.conditions"])
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    match conds {
        None => d.kv(0, "Conditions", "<none>"),
        Some(cs) => {
            d.kv(0, "Conditions", "");
            let rows: Vec<Vec<String>> = cs
                .iter()
                .map(|c| {
                    vec![
                        text(c.get("type"), "?"),
                        text(c.get("status"), "Unknown"),
                        text(c.get("reason"), ""),
                        text(c.get("message"), ""),
                    ]
                })
                .collect();
            d.raw(&sub_table(&["Type", "Status", "Reason", "Message"], &rows));
        }
    }
    events(&mut d, h);
    d.render()
}

/// `describe cm`: name, labels, annotations, each key with its value (kubectl's page).
pub fn config_map(c: &Value) -> String {
    let mut d = Desc::default();
    d.kv(0, "Name", text(c.get("name"), "<unknown>"));
    d.kv(0, "Namespace", "default");
    labels(&mut d, c);
    d.multi(
        0,
        "Annotations",
        &label_lines(c.get("annotations")),
        "<none>",
    );
    if c.get("immutable").and_then(Value::as_bool) == Some(true) {
        d.kv(0, "Immutable", "true");
    }
    let mut out = d.render();
    out.push_str("\nData\n====\n");
    if let Some(Value::Object(m)) = c.get("data") {
        for (k, v) in m {
            out.push_str(&format!(
                "{k}:\n----\n{}\n\n",
                v.as_str().unwrap_or_default()
            ));
        }
    }
    out.push_str("\nBinaryData\n====\n");
    if let Some(Value::Object(m)) = c.get("binaryData") {
        for (k, v) in m {
            let n = v.as_str().map_or(0, |s| s.len() / 4 * 3);
            out.push_str(&format!("{k}: {n} bytes\n"));
        }
    }
    out.push_str("\nEvents:  <none>\n");
    out
}

/// `describe secret`: name, labels, type, each key with its size, never a value.
pub fn secret(s: &Value) -> String {
    let mut d = Desc::default();
    d.kv(0, "Name", text(s.get("name"), "<unknown>"));
    d.kv(0, "Namespace", "default");
    labels(&mut d, s);
    d.kv(0, "", "");
    d.kv(0, "Type", text(s.get("type"), "Opaque"));
    if s.get("immutable").and_then(Value::as_bool) == Some(true) {
        d.kv(0, "Immutable", "true");
    }
    let mut out = d.render();
    out.push_str("\nData\n====\n");
    if let Some(Value::Object(m)) = s.get("sizes") {
        for (k, v) in m {
            out.push_str(&format!("{k}:  {} bytes\n", v.as_u64().unwrap_or(0)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aligned_values() {
        let mut d = Desc::default();
        d.kv(0, "Name", "web");
        d.multi(0, "Labels", &["a=b".into(), "c=d".into()], "<none>");
        d.kv(0, "Events", "");
        d.kv(2, "Restart Count", "0");
        assert_eq!(
            d.render(),
            "Name:             web\nLabels:           a=b\n                  c=d\nEvents:\n  Restart Count:  0\n"
        );
    }

    #[test]
    fn pod_describe_full_and_empty() {
        let p = json!({
            "name": "web", "status": "Running", "reason": "CrashLoopBackOff",
            "labels": {"app": "web"}, "addr": "172.17.0.2", "id": "abc", "image": "nginx",
            "restartCount": 3, "restartPolicy": "Always",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            "stats": {"cpu_percent": 1.25, "memory_bytes": 10485760},
            "warnings": ["only the first container is used"],
            "events": [{"type": "Warning", "reason": "BackOff", "message": "Back-off restarting", "count": 3}],
            "logs": (1..=30).map(|i| format!("line {i}\n")).collect::<String>()
        });
        let out = pod(&p);
        assert!(out.contains("Labels:"), "{out}");
        assert!(out.contains("app=web"));
        assert!(out.contains("Reason:"));
        assert!(out.contains("CrashLoopBackOff"));
        assert!(out.contains("1.2%") || out.contains("1.3%"));
        assert!(out.contains("10.0MiB"));
        assert!(out.contains("BackOff"));
        assert!(out.contains("(x3)"));
        assert!(out.contains("line 30"));
        assert!(out.contains("line 11\n"));
        assert!(!out.contains("line 10\n"));
        // Nothing at all must not panic.
        let empty = pod(&json!({}));
        assert!(
            empty
                .lines()
                .any(|l| l.starts_with("Labels: ") && l.ends_with(" <none>")),
            "{empty}"
        );
        assert!(empty.contains("Events:"));
        let weird = pod(&json!({"state": 3, "stats": null, "events": "x", "labels": [1]}));
        assert!(weird.contains("<unknown>"));
    }

    #[test]
    fn rs_and_hpa_describe() {
        let r = json!({"name": "web", "replicas": 3, "current": 2, "ready": 1,
            "selector": {"app": "web"},
            "pods": [{"name": "web-a", "status": "Running"}, {"name": "web-b", "status": "Pending", "reason": "ErrImagePull"}, "web-c"]});
        let out = rs(&r);
        assert!(out.contains("2 current / 3 desired"), "{out}");
        assert!(out.contains("1 Running / 1 Waiting / 0 Succeeded / 0 Failed"));
        assert!(out.contains("ErrImagePull"));
        assert!(out.contains("app=web"));
        let h = json!({"name": "h", "target": "web", "minReplicas": 1, "maxReplicas": 5,
            "currentReplicas": 2, "desiredReplicas": 3,
            "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "ok"}]});
        let out = hpa(&h);
        assert!(out.contains("ReplicaSet/web"), "{out}");
        assert!(out.contains("2 current / 3 desired"));
        assert!(out.contains("AbleToScale"));
        assert!(hpa(&json!(null)).contains("Name:"));
        assert!(rs(&json!([])).contains("Pods:"));
    }
}
