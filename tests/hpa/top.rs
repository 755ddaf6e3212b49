//! The CPU figures the autoscaler relies on: `stats.cpu_percent` of a pod and
//! `k1s_ctl top pod`.

use super::*;
use std::time::Duration;

/// `120m` → 120.
fn millicores(s: &str) -> Option<i64> {
    s.strip_suffix('m')?.parse().ok()
}

#[test]
fn top_pod_and_stats_show_a_burning_pods_cpu() {
    let _cpu = cpu_heavy();
    let cleanup = Cleanup::new("hpatop");
    let server = hpa_server();
    let name = cleanup.name("burn");
    let idle = cleanup.name("idle");
    create_pod(
        &server,
        &pod_with_args(
            &name,
            &cleanup.prefix,
            BURN_IMAGE,
            &["burn", "--millicores", "500"],
        ),
    );
    create_pod(
        &server,
        &pod_with_args(&idle, &cleanup.prefix, BURN_IMAGE, &["sleep"]),
    );
    wait_running(&server, &name);
    wait_running(&server, &idle);

    // stats.cpu_percent: 100 = one CPU, so a 500m burner shows about 50.
    let cpu = wait_for(
        Duration::from_secs(30),
        "stats.cpu_percent > 10 for the 500m burner",
        || {
            let p = get_pod(&server, &name).ok_or("404")?;
            match p["stats"]["cpu_percent"].as_f64() {
                Some(c) if c > 10.0 => Ok(c),
                _ => Err(p["stats"].to_string()),
            }
        },
    );
    assert!(
        cpu < 100.0,
        "a 500m burner (one thread, half busy) cannot use a whole CPU: cpu_percent {cpu}"
    );
    let p = get_pod(&server, &name).unwrap();
    assert!(
        p["stats"]["memory_bytes"].as_u64().is_some_and(|m| m > 0),
        "memory sampled too: {}",
        p["stats"]
    );
    let idle_cpu = wait_for(Duration::from_secs(30), "the idle pod sampled", || {
        let p = get_pod(&server, &idle).ok_or("404")?;
        p["stats"]["cpu_percent"]
            .as_f64()
            .ok_or_else(|| p["stats"].to_string())
    });
    assert!(
        idle_cpu < 5.0,
        "a sleeping pod uses next to no CPU: cpu_percent {idle_cpu}"
    );

    // k1s_ctl top pod: NAME CPU(cores) MEMORY(bytes), the burner well above 100m.
    let (line, m) = wait_for(
        Duration::from_secs(30),
        "`top pod` to show the burner above 100m",
        || {
            let out = server.ctl(&["top", "pod"]);
            if !out.ok() {
                return Err(format!("{out:?}"));
            }
            let header = out.stdout.lines().next().unwrap_or("");
            if !header.contains("CPU") {
                return Err(format!("no header: {}", out.stdout));
            }
            let line = table_line(&out.stdout, &name).ok_or_else(|| out.stdout.clone())?;
            if table_line(&out.stdout, &idle).is_none() {
                return Err(format!("the idle pod is not listed: {}", out.stdout));
            }
            let cols: Vec<&str> = line.split_whitespace().collect();
            match cols.get(1).and_then(|c| millicores(c)) {
                Some(m) if m > 100 => Ok((line.to_string(), m)),
                _ => Err(out.stdout),
            }
        },
    );
    assert!(m < 1000, "{line}");
    assert!(
        line.split_whitespace()
            .nth(2)
            .is_some_and(|c| c.ends_with("Mi")),
        "memory in Mi: {line}"
    );
    eprintln!("top pod: {line} (stats.cpu_percent {cpu:.1})");

    // By name as well.
    let out = server.ctl(&["top", "pod", &name]);
    assert!(out.ok(), "{out:?}");
    assert!(table_line(&out.stdout, &name).is_some(), "{out:?}");
    assert!(table_line(&out.stdout, &idle).is_none(), "{out:?}");
}
