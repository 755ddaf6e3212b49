//! ReplicaSets: scale-up 0→N and the delete of an N-pod ReplicaSet against the same
//! work done through the Docker API by a client with 8 threads (interleaved rounds,
//! the same warm-up for both sides); the server's memory with those N pods; and the
//! healing of a ReplicaSet's pods after `docker rm -f` and `docker kill` (done
//! through the API) of a random pod's container.

use std::time::{Duration, Instant};

use rand::seq::{IndexedRandom, SliceRandom};
use serde_json::{Value, json};

use crate::Ctx;
use crate::engine::{Container, Event};
use crate::lifecycle::Series;
use crate::server::{delete, get, post_json};
use crate::util::{dur_ms, now_ns, ns_to_ms};

pub const WAIT: Duration = Duration::from_secs(90);
/// The reference client's parallelism.
pub const THREADS: usize = 8;
/// The same pause on both sides after a scale-up, before the delete is measured.
const AFTER_SCALE: Duration = Duration::from_secs(2);

fn push(s: &mut Series, key: &str, v: f64) {
    s.entry(key.to_string()).or_default().push(v);
}

/// The test HTTP image's container, as in the pod lifecycle part.
pub fn http_container() -> Value {
    json!({ "name": "http", "image": crate::images::HTTP_IMAGE, "ports": [{ "containerPort": 80 }] })
}

/// A ReplicaSet whose pods carry the run label (so that the clean-up finds them) and
/// `app=<name>`.
pub fn rs_manifest(ctx: &Ctx, name: &str, replicas: usize, container: Value) -> Value {
    let (k, v) = ctx.engine.run_label.clone();
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name, k: v, "k1sbench-side": "pod" } },
                "spec": { "containers": [container] },
            },
        },
    })
}

pub fn create_rs(ctx: &Ctx, name: &str, replicas: usize, container: Value) -> Result<(), String> {
    let a = post_json(
        &ctx.http,
        &ctx.server.url("/k1s/rs"),
        &rs_manifest(ctx, name, replicas, container),
    )?;
    if a.status != 201 {
        return Err(format!("POST /k1s/rs {name}: {} {}", a.status, a.body));
    }
    Ok(())
}

/// `PATCH /k1s/rs/NAME` with a JSON merge patch; returns when it was answered.
pub fn patch_rs(ctx: &Ctx, name: &str, patch: &Value) -> Result<Duration, String> {
    let sent = Instant::now();
    let r = ctx
        .http
        .patch(ctx.server.url(&format!("/k1s/rs/{name}")))
        .header("content-type", "application/merge-patch+json")
        .send(patch.to_string())
        .map_err(|e| format!("PATCH /k1s/rs/{name}: {e}"))?;
    let answered = sent.elapsed();
    if r.status() != 200 {
        return Err(format!("PATCH /k1s/rs/{name}: {}", r.status()));
    }
    Ok(answered)
}

/// `DELETE /k1s/rs/NAME`; returns when it was answered.
pub fn delete_rs(ctx: &Ctx, name: &str) -> Result<Duration, String> {
    let sent = Instant::now();
    let a = delete(&ctx.http, &ctx.server.url(&format!("/k1s/rs/{name}")))?;
    let answered = sent.elapsed();
    if a.status != 200 {
        return Err(format!("DELETE /k1s/rs/{name}: {} {}", a.status, a.body));
    }
    Ok(answered)
}

/// Waits until `ready` of the ReplicaSet is `n` (polling its details).
pub fn wait_ready(ctx: &Ctx, name: &str, n: usize) -> Result<(), String> {
    let url = ctx.server.url(&format!("/k1s/rs/{name}"));
    crate::util::poll(Duration::from_secs(30), Duration::from_millis(100), || {
        get(&ctx.http, &url)
            .ok()
            .filter(|a| a.body["ready"].as_u64() == Some(n as u64))
    })
    .map(|_| ())
    .ok_or_else(|| format!("ReplicaSet {name}: not {n} ready within 30 s"))
}

/// Waits until `n` containers whose names start with `prefix` have an `action` event
/// at or after `t0`; returns those events (each container's first).
pub fn wait_n(
    ctx: &Ctx,
    prefix: &str,
    action: &str,
    t0: i64,
    n: usize,
) -> Result<Vec<Event>, String> {
    let end = Instant::now() + WAIT;
    loop {
        let evs = ctx.engine.events_with_prefix(prefix, action, t0);
        if evs.len() >= n {
            return Ok(evs);
        }
        if Instant::now() > end {
            return Err(format!(
                "{prefix}*: {} of {n} `{action}` events within {WAIT:?}",
                evs.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn last(evs: &[Event]) -> i64 {
    evs.iter().map(|e| e.time_ns).max().unwrap_or(0)
}

fn first(evs: &[Event]) -> i64 {
    evs.iter().map(|e| e.time_ns).min().unwrap_or(0)
}

/// One round of the Docker API side: `n` containers created and started 8 at a time
/// (→ the last `start`), then all force-removed 8 at a time (→ the last `destroy`).
fn raw_round(ctx: &Ctx, n: usize, round: usize, s: &mut Series) -> Result<(), String> {
    let e = &ctx.engine;
    let names: Vec<String> = (0..n)
        .map(|j| ctx.name(&format!("rsraw{round}-{j}")))
        .collect();
    let prefix = ctx.name(&format!("rsraw{round}-"));
    let t0 = now_ns();
    let ids = e.create_and_start_many(&names, crate::images::HTTP_IMAGE, THREADS)?;
    let starts = wait_n(ctx, &prefix, "start", t0, n)?;
    push(s, "raw.scale", ns_to_ms(last(&starts) - t0));
    let creates = wait_n(ctx, &prefix, "create", t0, n)?;
    push(
        s,
        "raw.scale: t0→first start",
        ns_to_ms(first(&starts) - t0),
    );
    push(
        s,
        "raw.scale: t0→last create",
        ns_to_ms(last(&creates) - t0),
    );
    std::thread::sleep(AFTER_SCALE);

    let t0 = now_ns();
    e.force_remove_many(&ids, THREADS)?;
    let gone = wait_n(ctx, &prefix, "destroy", t0, n)?;
    push(s, "raw.delete", ns_to_ms(last(&gone) - t0));
    let died = wait_n(ctx, &prefix, "die", t0, n)?;
    push(
        s,
        "raw.delete: t0→first destroy",
        ns_to_ms(first(&gone) - t0),
    );
    push(s, "raw.delete: t0→last die", ns_to_ms(last(&died) - t0));
    ctx.settle();
    Ok(())
}

/// One round of the K1s side: a ReplicaSet of 0 scaled to `n` (→ the last pod
/// container's `start`), then deleted (→ its last container's `destroy`). Returns the
/// server's RSS (kB) with the `n` pods running.
fn k1s_round(ctx: &Ctx, n: usize, round: usize, s: &mut Series) -> Result<Option<u64>, String> {
    let rs = ctx.name(&format!("rs{round}"));
    let prefix = format!("{rs}-");
    create_rs(ctx, &rs, 0, http_container())?;
    ctx.settle();

    let t0 = now_ns();
    let answered = patch_rs(ctx, &rs, &json!({ "spec": { "replicas": n } }))?;
    let starts = wait_n(ctx, &prefix, "start", t0, n)?;
    push(s, "k1s.scale", ns_to_ms(last(&starts) - t0));
    let creates = wait_n(ctx, &prefix, "create", t0, n)?;
    push(s, "k1s.scale: PATCH answered", dur_ms(answered));
    push(
        s,
        "k1s.scale: t0→first create",
        ns_to_ms(first(&creates) - t0),
    );
    push(
        s,
        "k1s.scale: t0→first start",
        ns_to_ms(first(&starts) - t0),
    );
    push(
        s,
        "k1s.scale: t0→last create",
        ns_to_ms(last(&creates) - t0),
    );
    wait_ready(ctx, &rs, n)?;
    push(
        s,
        "k1s.scale: t0→status ready=N seen (poll 100 ms)",
        ns_to_ms(now_ns() - t0),
    );
    std::thread::sleep(AFTER_SCALE);
    let rss = ctx.server.rss_kb();

    let t0 = now_ns();
    let answered = delete_rs(ctx, &rs)?;
    let gone = wait_n(ctx, &prefix, "destroy", t0, n)?;
    push(s, "k1s.delete", ns_to_ms(last(&gone) - t0));
    let died = wait_n(ctx, &prefix, "die", t0, n)?;
    push(s, "k1s.delete: DELETE answered", dur_ms(answered));
    let kills = ctx.engine.events_with_prefix(&prefix, "kill", t0);
    if !kills.is_empty() {
        push(s, "k1s.delete: t0→first kill", ns_to_ms(first(&kills) - t0));
    }
    push(
        s,
        "k1s.delete: t0→first destroy",
        ns_to_ms(first(&gone) - t0),
    );
    push(s, "k1s.delete: t0→last die", ns_to_ms(last(&died) - t0));
    ctx.settle();
    Ok(rss)
}

/// `warmup` discarded rounds per side, then `rounds` measured ones, the side going
/// first alternating. Returns the samples and the largest RSS seen with `n` pods.
pub fn scale_and_delete(
    ctx: &Ctx,
    n: usize,
    warmup: usize,
    rounds: usize,
) -> Result<(Series, Option<u64>), String> {
    let mut s = Series::new();
    let mut discard = Series::new();
    let mut rss: Option<u64> = None;
    for i in 0..warmup + rounds {
        let out = if i < warmup { &mut discard } else { &mut s };
        let kb = if i % 2 == 1 {
            let kb = k1s_round(ctx, n, i, out)?;
            raw_round(ctx, n, i, out)?;
            kb
        } else {
            raw_round(ctx, n, i, out)?;
            k1s_round(ctx, n, i, out)?
        };
        if i >= warmup {
            rss = rss.max(kb);
        }
        eprint!("\r  rs round {}/{}", i + 1, warmup + rounds);
    }
    eprintln!();
    Ok((s, rss))
}

/// After a heal: waits (≤ 10 s) for exactly `n` running containers of the ReplicaSet,
/// then 1 s more, and returns how many of its containers are not running then (an
/// exited container left behind) — an error when more than `n` run.
fn check_left_behind(ctx: &Ctx, labels: &[String], n: usize) -> Result<usize, String> {
    let running = |l: &[Container]| l.iter().filter(|c| c.running).count();
    crate::util::poll(Duration::from_secs(10), Duration::from_millis(50), || {
        ctx.engine
            .containers_state(labels)
            .ok()
            .filter(|l| running(l) == n)
    })
    .ok_or_else(|| format!("{labels:?}: not {n} running containers within 10 s"))?;
    std::thread::sleep(Duration::from_secs(1));
    let l = ctx.engine.containers_state(labels)?;
    if running(&l) > n {
        return Err(format!(
            "{labels:?}: {} running containers, expected {n}",
            running(&l)
        ));
    }
    Ok(l.len() - running(&l))
}

/// The first `start` of a container of the ReplicaSet at or after `t0`.
fn wait_start_after(ctx: &Ctx, prefix: &str, t0: i64) -> Result<Event, String> {
    let evs = wait_n(ctx, prefix, "start", t0, 1)?;
    evs.into_iter()
        .min_by_key(|e| e.time_ns)
        .ok_or_else(|| "no start".to_string())
}

pub struct Heal {
    pub series: Series,
    pub replicas: usize,
    /// The most containers of the ReplicaSet found not running 1 s after a heal.
    pub left_behind: usize,
}

/// A ReplicaSet of `max(iterations, 3)` pods. `iterations` times: a random pod's
/// container force-removed through the API (`docker rm -f`) → the replacement's
/// `start`; then `iterations` pods, each once (a second crash of a pod would meet
/// the crash backoff, as in Kubernetes), killed with SIGKILL (`docker kill`) → its
/// `start` again. Interleaved with the same healing done by a client that reacts to
/// the API call's return (recreate after removal, start after `die`): the floor.
pub fn heal(ctx: &Ctx, iterations: usize) -> Result<Heal, String> {
    let e = &ctx.engine;
    let r = iterations.max(3);
    let rs = ctx.name("heal");
    let prefix = format!("{rs}-");
    let labels = vec![format!("app={rs}"), e.run_label()];
    let t_create = now_ns();
    create_rs(ctx, &rs, r, http_container())?;
    wait_n(ctx, &prefix, "start", t_create, r)?;
    wait_ready(ctx, &rs, r)?;
    std::thread::sleep(Duration::from_secs(1));

    let image = crate::images::HTTP_IMAGE;
    let floor_rm = ctx.name("floor-rm");
    let mut floor_rm_id = e.create_and_start(&floor_rm, e.raw_body(&floor_rm, image, "raw"))?;
    let floor_kill = ctx.name("floor-kill");
    let floor_kill_id = e.create_and_start(&floor_kill, e.raw_body(&floor_kill, image, "raw"))?;

    let mut s = Series::new();
    let mut left_behind = 0;
    let mut rng = rand::rng();
    let running = |rng: &mut rand::rngs::ThreadRng| -> Result<Container, String> {
        let l = e.containers_state(&labels)?;
        let l: Vec<Container> = l.into_iter().filter(|c| c.running).collect();
        l.choose(rng)
            .cloned()
            .ok_or_else(|| format!("ReplicaSet {rs}: no running container"))
    };

    for i in 0..iterations {
        let mut k1s = |s: &mut Series| -> Result<(), String> {
            std::thread::sleep(Duration::from_millis(500));
            let victim = running(&mut rng)?;
            let t0 = now_ns();
            e.force_remove(&victim.id)?;
            let died = e.wait_event(&victim.name, "die", t0, WAIT)?;
            let destroyed = e.wait_event(&victim.name, "destroy", t0, WAIT)?;
            let next = wait_start_after(ctx, &prefix, t0)?;
            if next.id == victim.id {
                return Err(format!("{}: the removed container started?", victim.name));
            }
            push(
                s,
                "rm -f: destroy→start",
                ns_to_ms(next.time_ns - destroyed.time_ns),
            );
            push(s, "rm -f: die→start", ns_to_ms(next.time_ns - died.time_ns));
            push(s, "rm -f: t0→start", ns_to_ms(next.time_ns - t0));
            left_behind = left_behind.max(check_left_behind(ctx, &labels, r)?);
            Ok(())
        };
        let mut floor = |s: &mut Series| -> Result<(), String> {
            std::thread::sleep(Duration::from_millis(500));
            let t0 = now_ns();
            e.force_remove(&floor_rm_id)?;
            let destroyed = e.wait_event(&floor_rm, "destroy", t0, WAIT)?;
            floor_rm_id = e.create_and_start(&floor_rm, e.raw_body(&floor_rm, image, "raw"))?;
            let next = e.wait_event(&floor_rm, "start", t0, WAIT)?;
            push(
                s,
                "floor rm -f: destroy→start (Docker API client)",
                ns_to_ms(next.time_ns - destroyed.time_ns),
            );
            Ok(())
        };
        if i % 2 == 0 {
            k1s(&mut s)?;
            floor(&mut s)?;
        } else {
            floor(&mut s)?;
            k1s(&mut s)?;
        }
        eprint!("\r  heal rm -f {}/{iterations}", i + 1);
    }
    eprintln!();

    // Each pod killed once, in a random order.
    let mut pods: Vec<String> = e
        .containers_state(&labels)?
        .into_iter()
        .filter(|c| c.running)
        .map(|c| c.name)
        .collect();
    pods.shuffle(&mut rng);
    for (i, pod) in pods.iter().take(iterations).enumerate() {
        let k1s = |s: &mut Series| -> Result<usize, String> {
            std::thread::sleep(Duration::from_millis(500));
            let victim = e
                .containers_state(&labels)?
                .into_iter()
                .find(|c| &c.name == pod && c.running)
                .ok_or_else(|| format!("{pod}: not running"))?;
            let t0 = now_ns();
            e.kill(&victim.id)?;
            let died = e.wait_event(pod, "die", t0, WAIT)?;
            let next = wait_start_after(ctx, &prefix, t0)?;
            push(s, "kill: die→start", ns_to_ms(next.time_ns - died.time_ns));
            push(s, "kill: t0→start", ns_to_ms(next.time_ns - t0));
            check_left_behind(ctx, &labels, r)
        };
        let floor = |s: &mut Series| -> Result<(), String> {
            std::thread::sleep(Duration::from_millis(500));
            let t0 = now_ns();
            e.kill(&floor_kill_id)?;
            let died = e.wait_event(&floor_kill, "die", t0, WAIT)?;
            e.start(&floor_kill_id)?;
            let next = e.wait_event(&floor_kill, "start", t0, WAIT)?;
            push(
                s,
                "floor kill: die→start (Docker API client)",
                ns_to_ms(next.time_ns - died.time_ns),
            );
            Ok(())
        };
        let lb = if i % 2 == 0 {
            let lb = k1s(&mut s)?;
            floor(&mut s)?;
            lb
        } else {
            floor(&mut s)?;
            k1s(&mut s)?
        };
        left_behind = left_behind.max(lb);
        eprint!("\r  heal kill {}/{}", i + 1, iterations.min(pods.len()));
    }
    eprintln!();

    delete_rs(ctx, &rs)?;
    e.force_remove(&floor_rm_id)?;
    e.force_remove(&floor_kill_id)?;
    let end = Instant::now() + WAIT;
    while !e.containers_state(&labels)?.is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    ctx.settle();
    Ok(Heal {
        series: s,
        replicas: r,
        left_behind,
    })
}
