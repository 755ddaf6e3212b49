//! Pure formatting helpers: tables, ages, pod status, quantities, selectors.
//! Nothing here does I/O, so everything is unit-tested.

use serde_json::Value;

/// Render a kubectl-style table: columns padded to the widest cell plus three
/// spaces (at least six wide, like kubectl's tabwriter); the last column is
/// not padded. Every line ends with a newline.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let ncols = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(ncols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut s = String::new();
        for (i, width) in widths.iter().enumerate() {
            let cell = cells.get(i).map(String::as_str).unwrap_or("");
            if i + 1 == ncols {
                s.push_str(cell);
            } else {
                let w = (width + 3).max(6);
                s.push_str(cell);
                for _ in cell.chars().count()..w {
                    s.push(' ');
                }
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
    out
}

/// kubectl's `duration.HumanDuration`: 45s, 3m12s, 15m, 3h5m, 10h, 2d3h, 30d, 1y20d.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Age of an RFC 3339 timestamp relative to `now` (milliseconds since the epoch);
/// `<unknown>` when missing or unparseable.
pub fn age_at(ts: Option<&Value>, now: i64) -> String {
    let Some(s) = ts.and_then(Value::as_str) else {
        return "<unknown>".into();
    };
    match s.parse::<jiff::Timestamp>() {
        // Truncated toward zero, as Go's int(d.Seconds()).
        Ok(t) => human_duration((now - t.as_millisecond()) / 1000),
        Err(_) => "<unknown>".into(),
    }
}

/// Age relative to the current time.
pub fn age(ts: Option<&Value>) -> String {
    age_at(ts, jiff::Timestamp::now().as_millisecond())
}

/// A JSON value as a short display string: strings bare, null/absent as `default`.
pub fn text(v: Option<&Value>, default: &str) -> String {
    match v {
        None | Some(Value::Null) => default.to_string(),
        Some(Value::String(s)) if s.is_empty() => default.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Non-empty string field.
pub fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The STATUS column: the container reason (CrashLoopBackOff, ErrImagePull,
/// Completed, Error…) when there is one, else the phase.
pub fn pod_status(pod: &Value) -> String {
    if let Some(r) = str_field(pod, "reason") {
        return r.to_string();
    }
    if let Some(s) = str_field(pod, "status").or_else(|| str_field(pod, "phase")) {
        return s.to_string();
    }
    "Unknown".into()
}

/// The READY column: 1/1 when the pod is Running with no waiting/terminated reason.
pub fn pod_ready(pod: &Value) -> &'static str {
    let running = str_field(pod, "status") == Some("Running");
    if running && str_field(pod, "reason").is_none() {
        "1/1"
    } else {
        "0/1"
    }
}

/// First 12 characters of a container id (after any `docker://` prefix).
pub fn short_id(id: Option<&Value>) -> String {
    match id.and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(s) => {
            let s = s.strip_prefix("docker://").unwrap_or(s);
            s.chars().take(12).collect()
        }
        None => "<none>".into(),
    }
}

/// `k=v,k2=v2` from a selector that may be a map of labels, an object with
/// `matchLabels` (and perhaps `matchExpressions`), or already a string.
pub fn selector_string(sel: Option<&Value>) -> String {
    match sel {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Object(m)) => {
            let labels = match m.get("matchLabels") {
                Some(Value::Object(ml)) => ml,
                _ => m,
            };
            let mut parts: Vec<String> = labels
                .iter()
                .filter(|(k, _)| k.as_str() != "matchExpressions")
                .map(|(k, v)| format!("{k}={}", text(Some(v), "")))
                .collect();
            if let Some(Value::Array(exprs)) = m.get("matchExpressions") {
                for e in exprs {
                    let key = text(e.get("key"), "?");
                    let op = text(e.get("operator"), "?");
                    let vals: Vec<String> = e
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(|v| text(Some(v), "")).collect())
                        .unwrap_or_default();
                    parts.push(match op.as_str() {
                        "In" => format!("{key} in ({})", vals.join(",")),
                        "NotIn" => format!("{key} notin ({})", vals.join(",")),
                        "Exists" => key,
                        "DoesNotExist" => format!("!{key}"),
                        _ => format!("{key} {op} ({})", vals.join(",")),
                    });
                }
            }
            if parts.is_empty() {
                "<none>".into()
            } else {
                parts.join(",")
            }
        }
        _ => "<none>".into(),
    }
}

/// Labels as `k=v` lines (sorted, as serde_json's map is); empty → none.
pub fn label_lines(labels: Option<&Value>) -> Vec<String> {
    match labels {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", text(Some(v), "")))
            .collect(),
        _ => Vec::new(),
    }
}

/// Parse `-l` values (each `k=v[,k2=v2]`, `==` accepted) into the canonical
/// `k=v,k2=v2` selector the server takes.
pub fn parse_selector(values: &[String]) -> Result<Option<String>, String> {
    let mut parts = Vec::new();
    for v in values {
        for item in v.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            if item.contains("!=") {
                return Err(format!(
                    "unsupported selector \"{item}\": only key=value selectors are supported"
                ));
            }
            let Some((k, val)) = item.split_once('=') else {
                return Err(format!(
                    "invalid selector \"{item}\": expected key=value (e.g. -l app=web)"
                ));
            };
            let val = val.strip_prefix('=').unwrap_or(val);
            let (k, val) = (k.trim(), val.trim());
            if k.is_empty() || val.contains('=') {
                return Err(format!(
                    "invalid selector \"{item}\": expected key=value (e.g. -l app=web)"
                ));
            }
            parts.push(format!("{k}={val}"));
        }
    }
    Ok(if parts.is_empty() {
        None
    } else {
        Some(parts.join(","))
    })
}

/// Percent-encode a string for use in a URL path segment or query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// kubectl top's CPU: millicores from a percentage of one CPU (100 = 1000m).
pub fn cpu_millis(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(p) if p.is_finite() => format!("{}m", (p * 10.0).round().max(0.0) as i64),
        _ => "<unknown>".into(),
    }
}

/// kubectl top's memory: whole MiB, `12Mi`.
pub fn mem_mi(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(b) if b.is_finite() && b >= 0.0 => format!("{}Mi", (b / 1048576.0).floor() as i64),
        _ => "<unknown>".into(),
    }
}

/// Human memory for describe: `23.4MiB`, `1.2GiB`, `512.0KiB`.
pub fn mem_human(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(b) if b.is_finite() && b >= 0.0 => {
            if b >= 1024.0 * 1024.0 * 1024.0 {
                format!("{:.1}GiB", b / (1024.0 * 1024.0 * 1024.0))
            } else if b >= 1024.0 * 1024.0 {
                format!("{:.1}MiB", b / (1024.0 * 1024.0))
            } else {
                format!("{:.1}KiB", b / 1024.0)
            }
        }
        _ => "<unknown>".into(),
    }
}

/// CPU percentage for describe: `12.5%`.
pub fn cpu_percent(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(p) if p.is_finite() => format!("{p:.1}%"),
        _ => "<unknown>".into(),
    }
}

/// The text of an HTTP `Warning` header: `299 - "text"` → `text`.
pub fn warning_text(h: &str) -> String {
    let h = h.trim();
    let mut it = h.splitn(3, ' ');
    let code = it.next().unwrap_or("");
    let agent = it.next();
    let rest = it.next();
    if code.len() == 3
        && code.bytes().all(|b| b.is_ascii_digit())
        && agent.is_some()
        && let Some(rest) = rest
    {
        let rest = rest.trim();
        if let Some(inner) = rest.strip_prefix('"') {
            // Up to the closing quote (which may be followed by a date).
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => break,
                    c => out.push(c),
                }
            }
            return out;
        }
        return rest.to_string();
    }
    h.to_string()
}

/// Make any message fit on one line.
pub fn one_line(s: &str) -> String {
    let parts: Vec<&str> = s
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    parts.join(" ")
}

/// The last `n` lines of a log text.
pub fn last_lines(s: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].to_vec()
}

/// The first of several dotted paths (`spec.replicas`) that is present and not null.
pub fn pick<'a>(v: &'a Value, paths: &[&str]) -> Option<&'a Value> {
    'paths: for p in paths {
        let mut cur = v;
        for seg in p.split('.') {
            match cur.get(seg) {
                Some(n) => cur = n,
                None => continue 'paths,
            }
        }
        if !cur.is_null() {
            return Some(cur);
        }
    }
    None
}

/// One HPA metric: resource name, whether the target is a utilization,
/// current value and target value, both already formatted.
#[derive(Debug, PartialEq, Eq)]
pub struct HpaMetric {
    pub name: String,
    pub utilization: bool,
    pub current: String,
    pub target: String,
}

fn percent(v: &Value) -> String {
    match v.as_f64() {
        Some(f) => format!("{}%", f.round() as i64),
        None => format!("{}%", text(Some(v), "?")),
    }
}

/// The HPA's metrics from an hpaExtra (`spec.metrics` of v2/v2beta2 or v1's
/// `targetCPUUtilizationPercentage`, current values from `status`).
/// `None` when the answer carries no spec at all.
pub fn hpa_metrics(h: &Value) -> Option<Vec<HpaMetric>> {
    let spec = h.get("spec").filter(|s| s.is_object())?;
    let spec = spec.get("spec").filter(|s| s.is_object()).unwrap_or(spec);
    let status = pick(h, &["status"]).unwrap_or(&Value::Null);
    let currents: Vec<&Value> = pick(status, &["currentMetrics"])
        .or_else(|| pick(h, &["currentMetrics"]))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let current_for = |name: &str| -> Option<&Value> {
        currents.iter().copied().find_map(|c| {
            let r = c.get("resource")?;
            (r.get("name")?.as_str()? == name).then_some(r)
        })
    };
    let mut out = Vec::new();
    if let Some(metrics) = spec.get("metrics").and_then(Value::as_array) {
        for m in metrics {
            let Some(r) = m.get("resource") else {
                let kind = text(m.get("type"), "?");
                out.push(HpaMetric {
                    name: kind,
                    utilization: false,
                    current: "<unknown>".into(),
                    target: "<unsupported>".into(),
                });
                continue;
            };
            let name = text(r.get("name"), "?");
            let cur = current_for(&name);
            let (utilization, target) = if let Some(u) = pick(
                r,
                &["target.averageUtilization", "targetAverageUtilization"],
            ) {
                (true, percent(u))
            } else if let Some(a) = pick(r, &["target.averageValue", "targetAverageValue"]) {
                (false, text(Some(a), "?"))
            } else if let Some(a) = pick(r, &["target.value"]) {
                (false, text(Some(a), "?"))
            } else {
                (true, "<unset>".into())
            };
            let current = if utilization {
                cur.and_then(|c| pick(c, &["current.averageUtilization"]))
                    .map(percent)
                    .unwrap_or_else(|| "<unknown>".into())
            } else {
                cur.and_then(|c| pick(c, &["current.averageValue", "current.value"]))
                    .map(|v| text(Some(v), "<unknown>"))
                    .unwrap_or_else(|| "<unknown>".into())
            };
            out.push(HpaMetric {
                name,
                utilization,
                current,
                target,
            });
        }
    } else if let Some(t) = spec.get("targetCPUUtilizationPercentage") {
        let current = pick(status, &["currentCPUUtilizationPercentage"])
            .or_else(|| current_for("cpu").and_then(|c| pick(c, &["current.averageUtilization"])))
            .map(percent)
            .unwrap_or_else(|| "<unknown>".into());
        out.push(HpaMetric {
            name: "cpu".into(),
            utilization: true,
            current,
            target: percent(t),
        });
    }
    Some(out)
}

/// The TARGETS column: `45%/60%`, `<unknown>/60%`; with several metrics each is
/// prefixed by its resource (`cpu: 45%/60%, memory: 12Mi/100Mi`).
pub fn hpa_targets(h: &Value) -> String {
    match hpa_metrics(h) {
        None => "<unknown>".into(),
        Some(ms) if ms.is_empty() => "<none>".into(),
        Some(ms) if ms.len() == 1 => format!("{}/{}", ms[0].current, ms[0].target),
        Some(ms) => ms
            .iter()
            .map(|m| format!("{}: {}/{}", m.name, m.current, m.target))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The name of the ReplicaSet an HPA targets (`target` may be a name or a ref).
pub fn hpa_target_name(h: &Value) -> String {
    match pick(h, &["target", "spec.scaleTargetRef"]) {
        Some(Value::Object(o)) => text(o.get("name"), "<unknown>"),
        other => text(other, "<unknown>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_pads_like_kubectl() {
        let t = table(
            &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            &[vec![
                "nginx".into(),
                "1/1".into(),
                "Running".into(),
                "0".into(),
                "5s".into(),
            ]],
        );
        assert_eq!(
            t,
            "NAME    READY   STATUS    RESTARTS   AGE\nnginx   1/1     Running   0          5s\n"
        );
    }

    #[test]
    fn table_min_width_and_trailing_spaces() {
        let t = table(&["A", "B"], &[vec!["x".into(), "".into()]]);
        assert_eq!(t, "A     B\nx\n");
    }

    #[test]
    fn table_short_rows_do_not_panic() {
        let t = table(&["A", "B", "C"], &[vec!["x".into()]]);
        assert_eq!(t, "A     B     C\nx\n");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(-5), "<invalid>");
        assert_eq!(human_duration(-1), "0s");
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(120), "2m");
        assert_eq!(human_duration(192), "3m12s");
        assert_eq!(human_duration(599), "9m59s");
        assert_eq!(human_duration(15 * 60 + 7), "15m");
        assert_eq!(human_duration(179 * 60), "179m");
        assert_eq!(human_duration(3 * 3600 + 5 * 60), "3h5m");
        assert_eq!(human_duration(4 * 3600), "4h");
        assert_eq!(human_duration(10 * 3600), "10h");
        assert_eq!(human_duration(51 * 3600), "2d3h");
        assert_eq!(human_duration(72 * 3600), "3d");
        assert_eq!(human_duration(30 * 86400), "30d");
        assert_eq!(human_duration(750 * 86400), "2y20d");
        assert_eq!(human_duration(9 * 365 * 86400), "9y");
    }

    #[test]
    fn ages_from_timestamps() {
        let now: i64 = "2024-05-01T12:00:00Z"
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .unwrap_or(0);
        assert_eq!(age_at(Some(&json!("2024-05-01T11:59:15Z")), now), "45s");
        assert_eq!(age_at(Some(&json!("2024-05-01T11:56:48Z")), now), "3m12s");
        assert_eq!(
            age_at(Some(&json!("2024-05-01T08:55:00+00:00")), now),
            "3h5m"
        );
        assert_eq!(age_at(Some(&json!("2024-05-01T11:59:59.5Z")), now), "0s");
        assert_eq!(age_at(Some(&json!("yesterday")), now), "<unknown>");
        assert_eq!(age_at(Some(&json!(12)), now), "<unknown>");
        assert_eq!(age_at(None, now), "<unknown>");
    }

    #[test]
    fn status_choice() {
        let running = json!({"status": "Running", "reason": null});
        assert_eq!(pod_status(&running), "Running");
        assert_eq!(pod_ready(&running), "1/1");
        let crash = json!({"status": "Running", "reason": "CrashLoopBackOff"});
        assert_eq!(pod_status(&crash), "CrashLoopBackOff");
        assert_eq!(pod_ready(&crash), "0/1");
        let pull = json!({"status": "Pending", "reason": "ErrImagePull"});
        assert_eq!(pod_status(&pull), "ErrImagePull");
        assert_eq!(pod_ready(&pull), "0/1");
        let done = json!({"status": "Succeeded", "reason": "Completed"});
        assert_eq!(pod_status(&done), "Completed");
        let pending = json!({"status": "Pending", "reason": ""});
        assert_eq!(pod_status(&pending), "Pending");
        assert_eq!(pod_status(&json!({})), "Unknown");
        assert_eq!(pod_status(&json!({"status": 3})), "Unknown");
        assert_eq!(pod_ready(&json!({})), "0/1");
    }

    #[test]
    fn selector_flags() {
        assert_eq!(parse_selector(&[]), Ok(None));
        assert_eq!(
            parse_selector(&["app=web".into()]),
            Ok(Some("app=web".into()))
        );
        assert_eq!(
            parse_selector(&["app=web, tier==front".into(), "x=".into()]),
            Ok(Some("app=web,tier=front,x=".into()))
        );
        assert!(parse_selector(&["app".into()]).is_err());
        assert!(parse_selector(&["app!=web".into()]).is_err());
        assert!(parse_selector(&["=web".into()]).is_err());
        assert!(parse_selector(&["a=b=c".into()]).is_err());
    }

    #[test]
    fn selectors_from_server_shapes() {
        assert_eq!(
            selector_string(Some(&json!({"matchLabels": {"app": "web", "t": "x"}}))),
            "app=web,t=x"
        );
        assert_eq!(selector_string(Some(&json!({"app": "web"}))), "app=web");
        assert_eq!(selector_string(Some(&json!("app=web"))), "app=web");
        assert_eq!(selector_string(None), "<none>");
        assert_eq!(
            selector_string(Some(&json!({"matchExpressions": [
                {"key": "env", "operator": "In", "values": ["a", "b"]}
            ]}))),
            "env in (a,b)"
        );
    }

    #[test]
    fn encoding() {
        assert_eq!(url_encode("app=web,t=x"), "app%3Dweb%2Ct%3Dx");
        assert_eq!(url_encode("web-1.a_b~"), "web-1.a_b~");
        assert_eq!(url_encode("a/b"), "a%2Fb");
    }

    #[test]
    fn quantities() {
        assert_eq!(cpu_millis(Some(&json!(12.34))), "123m");
        assert_eq!(cpu_millis(Some(&json!(100))), "1000m");
        assert_eq!(cpu_millis(Some(&json!(null))), "<unknown>");
        assert_eq!(cpu_millis(None), "<unknown>");
        assert_eq!(mem_mi(Some(&json!(12 * 1048576 + 5))), "12Mi");
        assert_eq!(mem_mi(Some(&json!("x"))), "<unknown>");
        assert_eq!(mem_human(Some(&json!(24_536_678))), "23.4MiB");
        assert_eq!(mem_human(Some(&json!(2048))), "2.0KiB");
        assert_eq!(cpu_percent(Some(&json!(12.46))), "12.5%");
        assert_eq!(short_id(Some(&json!("0123456789abcdef"))), "0123456789ab");
        assert_eq!(short_id(Some(&json!(null))), "<none>");
    }

    #[test]
    fn warnings() {
        assert_eq!(
            warning_text(r#"299 - "spec.nodeSelector: ignored by K1s""#),
            "spec.nodeSelector: ignored by K1s"
        );
        assert_eq!(warning_text(r#"299 k1s "a \"q\" b" "Mon""#), r#"a "q" b"#);
        assert_eq!(warning_text("plain text"), "plain text");
    }

    #[test]
    fn lines() {
        assert_eq!(one_line("a\n  b\r\n\nc"), "a b c");
        assert_eq!(last_lines("1\n2\n3\n", 2), vec!["2", "3"]);
        assert_eq!(last_lines("", 2), Vec::<&str>::new());
    }
    #[test]
    fn hpa_target_column() {
        let v2 = json!({
            "name": "h", "target": "web",
            "spec": {"metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60}}}]},
            "status": {"currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": 45}}}]}
        });
        assert_eq!(hpa_targets(&v2), "45%/60%");
        let fresh = json!({"spec": {"metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60}}}]}, "status": {}});
        assert_eq!(hpa_targets(&fresh), "<unknown>/60%");
        let v1 = json!({"spec": {"targetCPUUtilizationPercentage": 50},
            "status": {"currentCPUUtilizationPercentage": 12}});
        assert_eq!(hpa_targets(&v1), "12%/50%");
        let two = json!({"spec": {"metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}
        ]}, "status": {"currentMetrics": [
            {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "12Mi"}}}
        ]}});
        assert_eq!(hpa_targets(&two), "cpu: <unknown>/60%, memory: 12Mi/100Mi");
        assert_eq!(hpa_targets(&json!({"name": "h"})), "<unknown>");
        assert_eq!(hpa_targets(&json!({"spec": {}})), "<none>");
        assert_eq!(hpa_target_name(&json!({"target": "web"})), "web");
        assert_eq!(
            hpa_target_name(
                &json!({"spec": {"scaleTargetRef": {"kind": "ReplicaSet", "name": "w"}}})
            ),
            "w"
        );
    }

    #[test]
    fn pick_paths() {
        let v = json!({"a": {"b": 1}, "n": null});
        assert_eq!(pick(&v, &["x", "a.b"]), Some(&json!(1)));
        assert_eq!(pick(&v, &["n"]), None);
        assert_eq!(pick(&v, &["a.b.c"]), None);
    }
}
