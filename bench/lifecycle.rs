//! Pod create→running and delete→gone, each against the same work done directly
//! through the Docker API, interleaved in one run; every duration ends at an event
//! timestamp of the engine.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Ctx;
use crate::engine::Event;
use crate::server::{delete, post_json};
use crate::util::{dur_ms, now_ns, ns_to_ms};

const EVENT_WAIT: Duration = Duration::from_secs(60);

/// Samples (ms) by series name, e.g. `pod.create` or `raw.create.t0→create`.
pub type Series = BTreeMap<String, Vec<f64>>;

pub fn pod_manifest(ctx: &Ctx, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": { ctx.engine.run_label.0.clone(): ctx.engine.run_label.1.clone(),
                        "k1sbench-side": "pod" },
        },
        "spec": {
            "containers": [{
                "name": "http",
                "image": crate::images::HTTP_IMAGE,
                "ports": [{ "containerPort": 80 }],
            }],
        },
    })
}

/// Creates a pod and waits for its container's `start` event. Returns the event,
/// the container id and when the 201 came back.
pub fn create_pod(ctx: &Ctx, name: &str) -> Result<(i64, Event, Duration), String> {
    let t0 = now_ns();
    let sent = Instant::now();
    let a = post_json(
        &ctx.http,
        &ctx.server.url("/k1s/pod"),
        &pod_manifest(ctx, name),
    )?;
    let answered = sent.elapsed();
    if a.status != 201 {
        return Err(format!("POST /k1s/pod {name}: {} {}", a.status, a.body));
    }
    let start = ctx.engine.wait_event(name, "start", t0, EVENT_WAIT)?;
    Ok((t0, start, answered))
}

/// Deletes a pod and waits for its container's `destroy` event.
pub fn delete_pod(ctx: &Ctx, name: &str) -> Result<(i64, Event, Duration), String> {
    let t0 = now_ns();
    let sent = Instant::now();
    let a = delete(&ctx.http, &ctx.server.url(&format!("/k1s/pod/{name}")))?;
    let answered = sent.elapsed();
    if a.status != 200 {
        return Err(format!("DELETE /k1s/pod/{name}: {} {}", a.status, a.body));
    }
    let gone = ctx.engine.wait_event(name, "destroy", t0, EVENT_WAIT)?;
    Ok((t0, gone, answered))
}

/// Milliseconds from `t0` to the first `action` event of `name` at or after `t0`.
fn phase(ctx: &Ctx, name: &str, from_ns: i64, action: &str) -> Option<f64> {
    ctx.engine
        .events_of(name, from_ns)
        .iter()
        .find(|e| e.action == action)
        .map(|e| ns_to_ms(e.time_ns - from_ns))
}

fn push(s: &mut Series, key: &str, v: Option<f64>) {
    if let Some(v) = v {
        s.entry(key.to_string()).or_default().push(v);
    }
}

/// One interleaved iteration; samples go into `s`.
fn iteration(ctx: &Ctx, tag: &str, pod_first: bool, s: &mut Series) -> Result<(), String> {
    let e = &ctx.engine;
    let image = crate::images::HTTP_IMAGE;
    let raw = ctx.name(&format!("raw-{tag}"));
    let pod = ctx.name(&format!("pod-{tag}"));
    let stopper = ctx.name(&format!("stop-{tag}"));

    // A container for the reference "stop with grace, then remove" (unmeasured start).
    let stopper_id = e.create_and_start(&stopper, e.raw_body(&stopper, image, "raw"))?;

    // create → running, then delete → gone; each step done both ways, the order
    // alternating from one iteration to the next so neither side always goes first.
    let raw_create = |s: &mut Series| -> Result<String, String> {
        let t0 = now_ns();
        let id = e.create_and_start(&raw, e.raw_body(&raw, image, "raw"))?;
        let start = e.wait_event(&raw, "start", t0, EVENT_WAIT)?;
        push(s, "raw.create", Some(ns_to_ms(start.time_ns - t0)));
        push(s, "raw.create: t0→create", phase(ctx, &raw, t0, "create"));
        ctx.settle();
        Ok(id)
    };
    let pod_create = |s: &mut Series| -> Result<(), String> {
        let (t0, start, answered) = create_pod(ctx, &pod)?;
        push(s, "pod.create", Some(ns_to_ms(start.time_ns - t0)));
        push(s, "pod.create: t0→create", phase(ctx, &pod, t0, "create"));
        push(s, "pod.create: POST answered", Some(dur_ms(answered)));
        ctx.settle();
        Ok(())
    };
    let raw_delete = |s: &mut Series, id: &str| -> Result<(), String> {
        let t0 = now_ns();
        e.force_remove(id)?;
        let gone = e.wait_event(&raw, "destroy", t0, EVENT_WAIT)?;
        push(s, "raw.delete", Some(ns_to_ms(gone.time_ns - t0)));
        push(s, "raw.delete: t0→kill", phase(ctx, &raw, t0, "kill"));
        push(s, "raw.delete: t0→die", phase(ctx, &raw, t0, "die"));
        ctx.settle();
        Ok(())
    };
    let pod_delete = |s: &mut Series| -> Result<(), String> {
        let (t0, gone, answered) = delete_pod(ctx, &pod)?;
        push(s, "pod.delete", Some(ns_to_ms(gone.time_ns - t0)));
        push(s, "pod.delete: t0→kill", phase(ctx, &pod, t0, "kill"));
        push(s, "pod.delete: t0→die", phase(ctx, &pod, t0, "die"));
        push(s, "pod.delete: DELETE answered", Some(dur_ms(answered)));
        ctx.settle();
        Ok(())
    };
    if pod_first {
        pod_create(s)?;
        let raw_id = raw_create(s)?;
        pod_delete(s)?;
        raw_delete(s, &raw_id)?;
    } else {
        let raw_id = raw_create(s)?;
        pod_create(s)?;
        raw_delete(s, &raw_id)?;
        pod_delete(s)?;
    }

    // The same deletion as K1s performs it, straight on the engine.
    let t0 = now_ns();
    e.stop_then_remove(&stopper_id, 30)?;
    let gone = e.wait_event(&stopper, "destroy", t0, EVENT_WAIT)?;
    push(s, "raw.stop+remove", Some(ns_to_ms(gone.time_ns - t0)));
    push(
        s,
        "raw.stop+remove: t0→die",
        phase(ctx, &stopper, t0, "die"),
    );
    ctx.settle();
    Ok(())
}

/// `warmup` discarded iterations, then `iterations` measured ones.
pub fn run(ctx: &Ctx, warmup: usize, iterations: usize) -> Result<Series, String> {
    let mut discard = Series::new();
    for i in 0..warmup {
        iteration(ctx, &format!("w{i}"), i % 2 == 1, &mut discard)?;
    }
    let mut s = Series::new();
    for i in 0..iterations {
        iteration(ctx, &format!("{i}"), i % 2 == 1, &mut s)?;
        eprint!("\r  lifecycle {}/{iterations}", i + 1);
    }
    eprintln!();
    Ok(s)
}
