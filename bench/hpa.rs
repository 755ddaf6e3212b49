//! The HorizontalPodAutoscaler: time from the start of a CPU load to the first
//! scale-up decision and to `maxReplicas`; and the cost of the metrics pipeline (the
//! server's and the engine's CPU while K1s samples idle pods' stats).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Ctx;
use crate::rs::{create_rs, delete_rs, patch_rs, wait_n, wait_ready};
use crate::server::{delete, get, post_json};
use crate::util::{cpu_ms, dockerd_pid, now_ns, ns_to_ms, pid_of, socket_fds};

pub const MIN: i64 = 1;
pub const MAX: i64 = 4;
pub const TARGET_UTILIZATION: i64 = 20;
const ROUND_LIMIT: Duration = Duration::from_secs(120);
/// The server's default `--hpa-sync-period` (the harness does not set it).
pub const SYNC_PERIOD: Duration = Duration::from_secs(5);

fn burn_container(args: &[String]) -> Value {
    json!({ "name": "burn", "image": crate::images::BURN_IMAGE, "args": args })
}

/// What one round saw; every time in ms from the load's start (the engine's `start`
/// event of the first burning container).
pub struct HpaRound {
    /// From the PATCH of the template (+ DELETE of the idle pod) to the load's start.
    pub patch_to_load_ms: f64,
    /// To the first `replicas` > 1 seen on the ReplicaSet (GET every 100 ms).
    pub first_seen_ms: f64,
    /// To the engine's `create` of the first pod added by the HPA (just after the
    /// decision: an upper bound of it from the engine's clock).
    pub first_create_ms: Option<f64>,
    /// To `replicas` == max seen.
    pub max_seen_ms: f64,
    /// To the `start` of the max-th running container.
    pub max_running_ms: f64,
    /// (ms, replicas, the HPA's current average utilization right then).
    pub steps: Vec<(f64, i64, Option<i64>)>,
}

fn hpa_manifest(name: &str, rs: &str) -> Value {
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": name },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs },
            "minReplicas": MIN,
            "maxReplicas": MAX,
            "metrics": [{ "type": "Resource", "resource": {
                "name": "cpu",
                "target": { "type": "Utilization", "averageUtilization": TARGET_UTILIZATION },
            } }],
        },
    })
}

fn utilization(hpa: &Value) -> Option<i64> {
    hpa.pointer("/status/currentMetrics/0/resource/current/averageUtilization")
        .and_then(Value::as_i64)
}

/// One round: a ReplicaSet of 1 idle pod (the burn image running `sleep`) and an HPA
/// (min 1, max 4, 20% CPU) that has seen it idle; then the load starts: the template
/// is patched to `burn --millicores M` and the idle pod deleted, so the ReplicaSet's
/// replacement burns from its first instant. t0 = that container's `start` event.
fn round(ctx: &Ctx, i: usize, millicores: u64) -> Result<HpaRound, String> {
    let e = &ctx.engine;
    let rs = ctx.name(&format!("hpa{i}"));
    let prefix = format!("{rs}-");
    let t_create = now_ns();
    create_rs(ctx, &rs, 1, burn_container(&["sleep".into()]))?;
    let idle = wait_n(ctx, &prefix, "start", t_create, 1)?[0].clone();
    let idle_name = e
        .containers_state(&[format!("app={rs}"), e.run_label()])?
        .into_iter()
        .find(|c| c.id == idle.id)
        .map(|c| c.name)
        .ok_or_else(|| format!("{rs}: idle pod not found"))?;
    wait_ready(ctx, &rs, 1)?;
    let a = post_json(
        &ctx.http,
        &ctx.server.url("/k1s/hpa"),
        &hpa_manifest(&rs, &rs),
    )?;
    if a.status != 201 {
        return Err(format!("POST /k1s/hpa {rs}: {} {}", a.status, a.body));
    }
    // The HPA has measured the idle pod (a metric in its status) and wants 1.
    let hpa_url = ctx.server.url(&format!("/k1s/hpa/{rs}"));
    crate::util::poll(Duration::from_secs(40), Duration::from_millis(200), || {
        get(&ctx.http, &hpa_url).ok().filter(|a| {
            utilization(&a.body).is_some() && a.body["desiredReplicas"].as_i64() == Some(MIN)
        })
    })
    .ok_or_else(|| format!("HPA {rs}: no idle metric within 40 s"))?;
    // The status just seen was written at a sync tick: without a random pause the
    // load would start at the same phase of the sync period in every round.
    let phase = rand::random_range(0..SYNC_PERIOD.as_millis() as u64);
    std::thread::sleep(Duration::from_millis(phase));

    let t_patch = now_ns();
    let burn = vec![
        "burn".to_string(),
        "--millicores".to_string(),
        millicores.to_string(),
    ];
    patch_rs(
        ctx,
        &rs,
        &json!({ "spec": { "template": { "spec": { "containers": [burn_container(&burn)] } } } }),
    )?;
    let d = delete(&ctx.http, &ctx.server.url(&format!("/k1s/pod/{idle_name}")))?;
    if d.status != 200 {
        return Err(format!(
            "DELETE /k1s/pod/{idle_name}: {} {}",
            d.status, d.body
        ));
    }
    let load = loop {
        let evs: Vec<_> = e
            .events_with_prefix(&prefix, "start", t_patch)
            .into_iter()
            .filter(|ev| ev.id != idle.id)
            .collect();
        if let Some(ev) = evs.into_iter().min_by_key(|ev| ev.time_ns) {
            break ev;
        }
        if now_ns() - t_patch > 60_000_000_000 {
            return Err(format!("{rs}: no burning pod within 60 s"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let t0 = load.time_ns;

    let rs_url = ctx.server.url(&format!("/k1s/rs/{rs}"));
    let mut steps = Vec::new();
    let mut replicas = MIN;
    let end = Instant::now() + ROUND_LIMIT;
    let (mut first_seen, mut max_seen) = (None, None);
    let max_running = loop {
        if Instant::now() > end {
            return Err(format!(
                "HPA {rs}: replicas {replicas} (steps {steps:?}) {ROUND_LIMIT:?} after the load started"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
        let now = now_ns();
        let r = get(&ctx.http, &rs_url)?.body["replicas"]
            .as_i64()
            .unwrap_or(replicas);
        if r != replicas {
            replicas = r;
            let util = get(&ctx.http, &hpa_url)
                .ok()
                .and_then(|a| utilization(&a.body));
            let ms = ns_to_ms(now - t0);
            steps.push((ms, r, util));
            if r > MIN && first_seen.is_none() {
                first_seen = Some(ms);
            }
            if r == MAX && max_seen.is_none() {
                max_seen = Some(ms);
            }
        }
        if max_seen.is_some() {
            // The idle container started before t_patch; the burning ones after.
            let started: Vec<_> = e
                .events_with_prefix(&prefix, "start", t_patch)
                .into_iter()
                .filter(|ev| ev.id != idle.id)
                .collect();
            if started.len() >= MAX as usize {
                break started.iter().map(|ev| ev.time_ns).max().unwrap_or(t0);
            }
        }
    };
    let first_create = e
        .events_with_prefix(&prefix, "create", t0)
        .iter()
        .map(|ev| ev.time_ns)
        .min()
        .map(|t| ns_to_ms(t - t0));

    let _ = delete(&ctx.http, &hpa_url)?;
    delete_rs(ctx, &rs)?;
    let labels = [format!("app={rs}"), e.run_label()];
    crate::util::poll(Duration::from_secs(60), Duration::from_millis(100), || {
        e.containers_state(&labels).ok().filter(|l| l.is_empty())
    })
    .ok_or_else(|| format!("{rs}: containers left 60 s after the delete"))?;
    ctx.settle();
    Ok(HpaRound {
        patch_to_load_ms: ns_to_ms(t0 - t_patch),
        first_seen_ms: first_seen.unwrap_or(f64::NAN),
        first_create_ms: first_create,
        max_seen_ms: max_seen.unwrap_or(f64::NAN),
        max_running_ms: ns_to_ms(max_running - t0),
        steps,
    })
}

pub fn run(ctx: &Ctx, rounds: usize, millicores: u64) -> Result<Vec<HpaRound>, String> {
    let mut out = Vec::new();
    for i in 0..rounds {
        let r = round(ctx, i, millicores)?;
        eprintln!(
            "  hpa round {}/{rounds}: first scale-up seen at {:.0} ms, max at {:.0} ms, steps {:?}",
            i + 1,
            r.first_seen_ms,
            r.max_seen_ms,
            r.steps
        );
        out.push(r);
    }
    Ok(out)
}

/// CPU used over one window, as % of one CPU (100 = one full CPU).
pub struct CpuWindow {
    pub what: String,
    pub secs: f64,
    pub k1s: Option<f64>,
    pub dockerd: Option<f64>,
    pub containerd: Option<f64>,
    /// Sockets the server holds open at the end of the window.
    pub k1s_sockets: Option<usize>,
}

fn window(ctx: &Ctx, what: &str, secs: u64) -> CpuWindow {
    let dockerd = dockerd_pid();
    let containerd = pid_of("containerd");
    let pids = [Some(ctx.server.pid), dockerd, containerd];
    let before: Vec<Option<f64>> = pids.iter().map(|p| p.and_then(cpu_ms)).collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let elapsed = t.elapsed().as_secs_f64();
    let pct = |i: usize| -> Option<f64> {
        let b = before[i]?;
        let a = pids[i].and_then(cpu_ms)?;
        Some((a - b) / (elapsed * 1000.0) * 100.0)
    };
    let w = CpuWindow {
        what: what.to_string(),
        secs: elapsed,
        k1s: pct(0),
        dockerd: pct(1),
        containerd: pct(2),
        k1s_sockets: socket_fds(ctx.server.pid),
    };
    eprintln!(
        "  {what}: k1s {:?} %, dockerd {:?} %, containerd {:?} %, k1s sockets {:?}",
        w.k1s, w.dockerd, w.containerd, w.k1s_sockets
    );
    w
}

/// Three windows of `secs`: no pod; `pods` idle containers created through the Docker
/// API (K1s does not sample them: the engine's cost of idle containers alone); and a
/// ReplicaSet of `pods` idle K1s pods (the sleep image), which K1s samples with one
/// stats stream each.
pub fn metrics(ctx: &Ctx, pods: usize, secs: u64) -> Result<Vec<CpuWindow>, String> {
    let e = &ctx.engine;
    let image = crate::images::WORKLOAD_IMAGE;
    let mut out = vec![window(ctx, "0 pods", secs)];

    let names: Vec<String> = (0..pods).map(|j| ctx.name(&format!("idle-{j}"))).collect();
    let t0 = now_ns();
    let ids = e.create_and_start_many(&names, image, crate::rs::THREADS)?;
    wait_n(ctx, &ctx.name("idle-"), "start", t0, pods)?;
    std::thread::sleep(Duration::from_secs(5));
    out.push(window(
        ctx,
        &format!("{pods} idle containers through the Docker API (not K1s's)"),
        secs,
    ));
    e.force_remove_many(&ids, crate::rs::THREADS)?;

    let rs = ctx.name("metrics");
    let t0 = now_ns();
    create_rs(
        ctx,
        &rs,
        pods,
        json!({ "name": "idle", "image": image, "args": ["sleep"] }),
    )?;
    wait_n(ctx, &format!("{rs}-"), "start", t0, pods)?;
    wait_ready(ctx, &rs, pods)?;
    // Every stats stream open and sampling.
    std::thread::sleep(Duration::from_secs(5));
    out.push(window(
        ctx,
        &format!("{pods} idle K1s pods (ReplicaSet), stats sampled"),
        secs,
    ));
    delete_rs(ctx, &rs)?;
    let labels = [format!("app={rs}"), e.run_label()];
    crate::util::poll(Duration::from_secs(60), Duration::from_millis(100), || {
        e.containers_state(&labels).ok().filter(|l| l.is_empty())
    })
    .ok_or_else(|| format!("{rs}: containers left 60 s after the delete"))?;
    std::thread::sleep(Duration::from_secs(3));
    out.push(window(ctx, "0 pods again (after)", secs));
    Ok(out)
}
