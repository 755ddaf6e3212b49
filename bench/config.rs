//! ConfigMaps and Secrets: (a) a pod with two configMap volumes and a secret volume,
//! create → `start`, against a plain pod of the same image, interleaved in one run;
//! (b) a pod waiting in `CreateContainerConfigError` for a missing ConfigMap: the
//! ConfigMap's POST → the container's `start`. Every duration ends at an event
//! timestamp of the engine.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Ctx;
use crate::lifecycle::{Series, delete_pod, pod_manifest};
use crate::server::{delete, get, post_json};
use crate::util::{dur_ms, now_ns, ns_to_ms, poll};

const EVENT_WAIT: Duration = Duration::from_secs(60);

/// What the part measured.
pub struct ConfigFigures {
    /// `cfg.create`, `plain.create` and their phases.
    pub create: Series,
    /// ConfigMap POST → `start` (ms), and the POST's answer time.
    pub wait: Series,
}

fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

fn secret(name: &str, string_data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": string_data})
}

fn post(ctx: &Ctx, path: &str, body: &Value) -> Result<Duration, String> {
    let sent = Instant::now();
    let a = post_json(&ctx.http, &ctx.server.url(path), body)?;
    let answered = sent.elapsed();
    if a.status != 201 {
        return Err(format!("POST {path}: {} {}", a.status, a.body));
    }
    Ok(answered)
}

fn remove(ctx: &Ctx, kind: &str, name: &str) {
    let _ = delete(&ctx.http, &ctx.server.url(&format!("/k1s/{kind}/{name}")));
}

/// The plain bench pod with two configMap volumes and one secret volume mounted.
fn pod_with_volumes(ctx: &Ctx, name: &str, cms: [&str; 2], sec: &str) -> Value {
    let mut m = pod_manifest(ctx, name);
    m["spec"]["volumes"] = json!([
        {"name": "cm1", "configMap": {"name": cms[0]}},
        {"name": "cm2", "configMap": {"name": cms[1]}},
        {"name": "sec", "secret": {"secretName": sec}},
    ]);
    m["spec"]["containers"][0]["volumeMounts"] = json!([
        {"name": "cm1", "mountPath": "/etc/cm1"},
        {"name": "cm2", "mountPath": "/etc/cm2"},
        {"name": "sec", "mountPath": "/etc/sec", "readOnly": true},
    ]);
    m
}

/// `POST /k1s/pod` of `manifest` → its container's `start`; the samples under `key`.
fn create_measured(
    ctx: &Ctx,
    key: &str,
    name: &str,
    manifest: &Value,
    s: &mut Series,
) -> Result<(), String> {
    let t0 = now_ns();
    let answered = post(ctx, "/k1s/pod", manifest)?;
    let start = ctx.engine.wait_event(name, "start", t0, EVENT_WAIT)?;
    let created = ctx
        .engine
        .events_of(name, t0)
        .iter()
        .find(|e| e.action == "create")
        .map(|e| ns_to_ms(e.time_ns - t0));
    let mut push = |k: String, v: f64| s.entry(k).or_default().push(v);
    push(key.to_string(), ns_to_ms(start.time_ns - t0));
    push(format!("{key}: POST answered"), dur_ms(answered));
    if let Some(c) = created {
        push(format!("{key}: t0→create"), c);
    }
    ctx.settle();
    Ok(())
}

fn iteration(
    ctx: &Ctx,
    tag: &str,
    cfg_first: bool,
    sources: ([&str; 2], &str),
    s: &mut Series,
) -> Result<(), String> {
    let cfg = ctx.name(&format!("cfg-{tag}"));
    let plain = ctx.name(&format!("plain-{tag}"));
    let cfg_manifest = pod_with_volumes(ctx, &cfg, sources.0, sources.1);
    let plain_manifest = pod_manifest(ctx, &plain);
    if cfg_first {
        create_measured(ctx, "cfg.create", &cfg, &cfg_manifest, s)?;
        create_measured(ctx, "plain.create", &plain, &plain_manifest, s)?;
    } else {
        create_measured(ctx, "plain.create", &plain, &plain_manifest, s)?;
        create_measured(ctx, "cfg.create", &cfg, &cfg_manifest, s)?;
    }
    // Unmeasured: both gone before the next iteration.
    delete_pod(ctx, &cfg)?;
    delete_pod(ctx, &plain)?;
    ctx.settle();
    Ok(())
}

/// (a): `warmup` discarded + `iterations` measured interleaved iterations.
fn volumes(ctx: &Ctx, warmup: usize, iterations: usize) -> Result<Series, String> {
    let (cm1, cm2, sec) = (ctx.name("cm1"), ctx.name("cm2"), ctx.name("sec"));
    post(
        ctx,
        "/k1s/cm",
        &config_map(
            &cm1,
            json!({"a": "1", "b": "two", "app.conf": "x = 1\ny = 2\n"}),
        ),
    )?;
    post(
        ctx,
        "/k1s/cm",
        &config_map(&cm2, json!({"c": "3", "d": "four"})),
    )?;
    post(
        ctx,
        "/k1s/secret",
        &secret(&sec, json!({"user": "u", "password": "p4ss"})),
    )?;
    let sources = ([cm1.as_str(), cm2.as_str()], sec.as_str());
    let run = || -> Result<Series, String> {
        let mut discard = Series::new();
        for i in 0..warmup {
            iteration(ctx, &format!("w{i}"), i % 2 == 1, sources, &mut discard)?;
        }
        let mut s = Series::new();
        for i in 0..iterations {
            iteration(ctx, &format!("{i}"), i % 2 == 1, sources, &mut s)?;
            eprint!("\r  config volumes {}/{iterations}", i + 1);
        }
        eprintln!();
        Ok(s)
    };
    let r = run();
    remove(ctx, "cm", &cm1);
    remove(ctx, "cm", &cm2);
    remove(ctx, "secret", &sec);
    r
}

/// (b): a pod waiting for a missing ConfigMap (env `configMapKeyRef`), then the
/// ConfigMap's POST at t0 → the container's `start`.
fn waits(ctx: &Ctx, n: usize) -> Result<Series, String> {
    let mut s = Series::new();
    for i in 0..n {
        let (cm, pod) = (
            ctx.name(&format!("late-cm-{i}")),
            ctx.name(&format!("late-{i}")),
        );
        let mut m = pod_manifest(ctx, &pod);
        m["spec"]["containers"][0]["env"] = json!([{
            "name": "LATE",
            "valueFrom": {"configMapKeyRef": {"name": cm, "key": "k"}},
        }]);
        let r = (|| -> Result<(), String> {
            post(ctx, "/k1s/pod", &m)?;
            let url = ctx.server.url(&format!("/k1s/pod/{pod}"));
            let mut last = Value::Null;
            poll(Duration::from_secs(30), Duration::from_millis(20), || {
                let d = get(&ctx.http, &url).ok()?.body;
                let ok = d["reason"] == "CreateContainerConfigError";
                last = d;
                ok.then_some(())
            })
            .ok_or_else(|| format!("{pod}: no CreateContainerConfigError within 30 s: {last}"))?;
            // Let the reconcile that wrote the status finish (as a pod would wait
            // for minutes before its ConfigMap comes).
            std::thread::sleep(Duration::from_millis(500));
            let t0 = now_ns();
            let answered = post(ctx, "/k1s/cm", &config_map(&cm, json!({"k": "v"})))?;
            let start = ctx.engine.wait_event(&pod, "start", t0, EVENT_WAIT)?;
            s.entry("cm POST → start".into())
                .or_default()
                .push(ns_to_ms(start.time_ns - t0));
            s.entry("cm POST answered".into())
                .or_default()
                .push(dur_ms(answered));
            Ok(())
        })();
        if r.is_ok() {
            delete_pod(ctx, &pod)?;
        } else {
            remove(ctx, "pod", &pod);
        }
        remove(ctx, "cm", &cm);
        r?;
        ctx.settle();
        eprint!("\r  config wait {}/{n}", i + 1);
    }
    eprintln!();
    Ok(s)
}

pub fn run(
    ctx: &Ctx,
    warmup: usize,
    iterations: usize,
    wait_samples: usize,
) -> Result<ConfigFigures, String> {
    let create = volumes(ctx, warmup, iterations)?;
    let wait = waits(ctx, wait_samples)?;
    Ok(ConfigFigures { create, wait })
}
