//! Beyond the pod lifecycle: healing latency, server memory with many pods, and
//! ReplicaSet scale-up against the same number of containers started through the
//! Docker API.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::Ctx;
use crate::lifecycle::{Series, create_pod, delete_pod};
use crate::server::{delete, post_json};
use crate::util::{now_ns, ns_to_ms};

const WAIT: Duration = Duration::from_secs(60);

fn push(s: &mut Series, key: &str, v: f64) {
    s.entry(key.to_string()).or_default().push(v);
}

/// A pod's container removed behind K1s's back (`docker rm -f`, done through the
/// API) until the new container's `start`; and a container killed (SIGKILL) until
/// it is started again in place. A fresh pod for each kill: K1s backs off from the
/// second crash of a pod on, as the kubelet does.
pub fn heal(ctx: &Ctx, iterations: usize) -> Result<Series, String> {
    let mut s = Series::new();
    let e = &ctx.engine;

    let pod = ctx.name("heal-rm");
    let (_, mut start, _) = create_pod(ctx, &pod)?;
    for _ in 0..iterations {
        std::thread::sleep(Duration::from_millis(500));
        let t0 = now_ns();
        e.force_remove(&start.id)?;
        let destroyed = e.wait_event(&pod, "destroy", t0, WAIT)?;
        let next = e.wait_event(&pod, "start", t0, WAIT)?;
        if next.id == start.id {
            return Err(format!("{pod}: started the removed container again?"));
        }
        push(&mut s, "heal rm -f: t0→start", ns_to_ms(next.time_ns - t0));
        push(
            &mut s,
            "heal rm -f: destroy→start",
            ns_to_ms(next.time_ns - destroyed.time_ns),
        );
        start = next;
    }
    delete_pod(ctx, &pod)?;

    for i in 0..iterations {
        let pod = ctx.name(&format!("heal-kill-{i}"));
        let (_, start, _) = create_pod(ctx, &pod)?;
        std::thread::sleep(Duration::from_millis(500));
        let t0 = now_ns();
        e.kill(&start.id)?;
        let died = e.wait_event(&pod, "die", t0, WAIT)?;
        let again = e.wait_event(&pod, "start", t0, WAIT)?;
        push(&mut s, "heal kill: t0→start", ns_to_ms(again.time_ns - t0));
        push(
            &mut s,
            "heal kill: die→start",
            ns_to_ms(again.time_ns - died.time_ns),
        );
        delete_pod(ctx, &pod)?;
    }

    // The engine's floor: the same healing done by a client that reacts to the
    // event at once (restart in place on `die`, recreate on `destroy`).
    let image = crate::images::HTTP_IMAGE;
    for i in 0..iterations {
        let name = ctx.name(&format!("heal-raw-{i}"));
        let id = e.create_and_start(&name, e.raw_body(&name, image, "raw"))?;
        std::thread::sleep(Duration::from_millis(500));
        let t0 = now_ns();
        e.kill(&id)?;
        let died = e.wait_event(&name, "die", t0, WAIT)?;
        e.start(&id)?;
        let again = e.wait_event(&name, "start", t0, WAIT)?;
        push(
            &mut s,
            "Docker API floor (after, not interleaved), kill: die→start",
            ns_to_ms(again.time_ns - died.time_ns),
        );
        ctx.settle();
        let t0 = now_ns();
        e.force_remove(&id)?;
        let destroyed = e.wait_event(&name, "destroy", t0, WAIT)?;
        let id = e.create_and_start(&name, e.raw_body(&name, image, "raw"))?;
        let next = e.wait_event(&name, "start", t0, WAIT)?;
        push(
            &mut s,
            "Docker API floor (after, not interleaved), rm -f: destroy→start",
            ns_to_ms(next.time_ns - destroyed.time_ns),
        );
        e.force_remove(&id)?;
        ctx.settle();
    }
    Ok(s)
}

/// Server RSS (kB) with `pods` pods running (created one by one), then deletes them.
pub fn rss_with_pods(ctx: &Ctx, pods: usize) -> Result<Option<u64>, String> {
    let names: Vec<String> = (0..pods).map(|i| ctx.name(&format!("rss-{i}"))).collect();
    for n in &names {
        create_pod(ctx, n)?;
    }
    // Status writes, stats streams and the first samples settle.
    std::thread::sleep(Duration::from_secs(5));
    let rss = ctx.server.rss_kb();
    for n in &names {
        delete(&ctx.http, &ctx.server.url(&format!("/k1s/pod/{n}")))?;
    }
    for n in &names {
        ctx.engine.wait_event(n, "destroy", 0, WAIT)?;
    }
    Ok(rss)
}

pub struct ScaleUp {
    pub raw_ms: f64,
    /// `None` when the server has no ReplicaSets yet.
    pub k1s_ms: Option<f64>,
    pub note: String,
}

/// ReplicaSet 0→`n` (PATCH replicas) until the last pod container's `start`,
/// against `n` containers created and started through the Docker API, 8 at a time.
pub fn scale_up(ctx: &Ctx, n: usize) -> Result<ScaleUp, String> {
    let e = &ctx.engine;
    let image = crate::images::HTTP_IMAGE;

    let names: Vec<String> = (0..n).map(|i| ctx.name(&format!("scale-{i}"))).collect();
    let t0 = now_ns();
    let ids = e.create_and_start_many(&names, image, 8)?;
    let mut last = 0;
    for name in &names {
        last = last.max(e.wait_event(name, "start", t0, WAIT)?.time_ns);
    }
    let raw_ms = ns_to_ms(last - t0);
    for id in &ids {
        e.force_remove(id)?;
    }
    ctx.settle();

    let rs = ctx.name("rs");
    let (k, v) = ctx.engine.run_label.clone();
    let manifest = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": { "name": rs },
        "spec": {
            "replicas": 0,
            "selector": { "matchLabels": { "app": rs } },
            "template": {
                "metadata": { "labels": { "app": rs, k: v, "k1sbench-side": "pod" } },
                "spec": { "containers": [{
                    "name": "http", "image": image, "ports": [{ "containerPort": 80 }],
                }] },
            },
        },
    });
    let a = post_json(&ctx.http, &ctx.server.url("/k1s/rs"), &manifest)?;
    if a.status == 404 || a.status == 405 {
        return Ok(ScaleUp {
            raw_ms,
            k1s_ms: None,
            note: format!("server has no /k1s/rs yet ({})", a.status),
        });
    }
    if a.status != 201 {
        return Err(format!("POST /k1s/rs: {} {}", a.status, a.body));
    }
    let t0 = now_ns();
    let r = ctx
        .http
        .patch(ctx.server.url(&format!("/k1s/rs/{rs}")))
        .header("content-type", "application/merge-patch+json")
        .send(json!({ "spec": { "replicas": n } }).to_string())
        .map_err(|e| format!("PATCH /k1s/rs/{rs}: {e}"))?;
    if r.status() != 200 {
        return Err(format!("PATCH /k1s/rs/{rs}: {}", r.status()));
    }
    let prefix = format!("{rs}-");
    let end = Instant::now() + WAIT;
    let starts = loop {
        let starts = e.events_with_prefix(&prefix, "start", t0);
        if starts.len() >= n {
            break starts;
        }
        if Instant::now() > end {
            return Err(format!(
                "ReplicaSet {rs}: {} of {n} containers started within {WAIT:?}",
                starts.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let last = starts.iter().map(|e| e.time_ns).max().unwrap_or(t0);
    let k1s_ms = ns_to_ms(last - t0);
    let a = delete(&ctx.http, &ctx.server.url(&format!("/k1s/rs/{rs}")))?;
    if a.status != 200 {
        return Err(format!("DELETE /k1s/rs/{rs}: {} {}", a.status, a.body));
    }
    // The ReplicaSet's pods go in the background; wait so they do not skew what follows.
    let end = Instant::now() + WAIT;
    while e.events_with_prefix(&prefix, "destroy", t0).len() < n && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(ScaleUp {
        raw_ms,
        k1s_ms: Some(k1s_ms),
        note: String::new(),
    })
}
