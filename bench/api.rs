//! `GET /k1s/pod` and `GET /k1s/pod/NAME` latency and throughput under concurrency:
//! a bounded number of requests spread over N client threads, each with its own
//! keep-alive connection, all to 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::Ctx;
use crate::util::{Summary, cpu_ms, dockerd_pid, dur_ms};

/// The path of the i-th request.
type PathOf<'a> = Box<dyn Fn(usize) -> String + Sync + 'a>;

pub struct Load {
    pub endpoint: String,
    pub concurrency: usize,
    /// Over every round's requests.
    pub latency: Summary,
    /// Each round's p99, in order.
    pub round_p99: Vec<f64>,
    pub per_sec: f64,
    pub errors: usize,
    /// CPU time per request (ms) of the server and of this process (the clients).
    pub server_cpu_ms: Option<f64>,
    pub client_cpu_ms: Option<f64>,
    /// CPU time per request (ms) of the Docker daemon meanwhile.
    pub engine_cpu_ms: Option<f64>,
}

/// Sends `total` GETs (at most `max_time`) over `concurrency` threads; `path_of(i)`
/// names the i-th request's path.
pub fn hammer(
    ctx: &Ctx,
    endpoint: &str,
    concurrency: usize,
    total: usize,
    max_time: Duration,
    path_of: &(dyn Fn(usize) -> String + Sync),
) -> Result<(Load, Vec<f64>), String> {
    let next = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let first_error = std::sync::Mutex::new(None::<String>);
    let dockerd = dockerd_pid();
    let cpu0 = (
        cpu_ms(ctx.server.pid),
        cpu_ms(std::process::id()),
        dockerd.and_then(cpu_ms),
    );
    let started = Instant::now();
    let deadline = started + max_time;
    let lats: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency)
            .map(|_| {
                scope.spawn(|| {
                    let mut conn = crate::http::Conn::new(&ctx.server.addr);
                    let mut lats = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total || Instant::now() > deadline {
                            break;
                        }
                        let path = path_of(i);
                        let t = Instant::now();
                        let ok = match conn.get(&path) {
                            Ok((200, _)) => Ok(()),
                            Ok((status, body)) => Err(format!(
                                "GET {path}: {status} {}",
                                String::from_utf8_lossy(&body)
                            )),
                            Err(e) => Err(format!("GET {path}: {e}")),
                        };
                        lats.push(dur_ms(t.elapsed()));
                        if let Err(e) = ok {
                            errors.fetch_add(1, Ordering::Relaxed);
                            first_error
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e);
                        }
                    }
                    lats
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let elapsed = started.elapsed();
    let per_req = |a: Option<f64>, b: Option<f64>| Some((b? - a?) / lats.len().max(1) as f64);
    let server_cpu_ms = per_req(cpu0.0, cpu_ms(ctx.server.pid));
    let client_cpu_ms = per_req(cpu0.1, cpu_ms(std::process::id()));
    let engine_cpu_ms = per_req(cpu0.2, dockerd.and_then(cpu_ms));
    let errors = errors.into_inner();
    if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        eprintln!("  {endpoint} c={concurrency}: {errors} errors, first: {e}");
    }
    let latency = Summary::of(&lats).ok_or_else(|| format!("{endpoint}: no request completed"))?;
    let load = Load {
        endpoint: endpoint.to_string(),
        concurrency,
        latency,
        round_p99: vec![latency.p99],
        per_sec: lats.len() as f64 / elapsed.as_secs_f64(),
        errors,
        server_cpu_ms,
        client_cpu_ms,
        engine_cpu_ms,
    };
    Ok((load, lats))
}

/// One load from several rounds: latencies pooled, each round's p99 kept, rates
/// and CPU per request weighted by requests.
fn merge(rounds: Vec<(Load, Vec<f64>)>) -> Option<Load> {
    let all: Vec<f64> = rounds.iter().flat_map(|(_, l)| l.iter().copied()).collect();
    let latency = Summary::of(&all)?;
    let n = all.len() as f64;
    let secs: f64 = rounds
        .iter()
        .map(|(l, lats)| lats.len() as f64 / l.per_sec)
        .sum();
    let weighted = |f: fn(&Load) -> Option<f64>| -> Option<f64> {
        let mut sum = 0.0;
        for (l, lats) in &rounds {
            sum += f(l)? * lats.len() as f64;
        }
        Some(sum / n)
    };
    let first = &rounds.first()?.0;
    Some(Load {
        endpoint: first.endpoint.clone(),
        concurrency: first.concurrency,
        latency,
        round_p99: rounds.iter().map(|(l, _)| l.latency.p99).collect(),
        per_sec: n / secs,
        errors: rounds.iter().map(|(l, _)| l.errors).sum(),
        server_cpu_ms: weighted(|l| l.server_cpu_ms),
        client_cpu_ms: weighted(|l| l.client_cpu_ms),
        engine_cpu_ms: weighted(|l| l.engine_cpu_ms),
    })
}

impl Load {
    /// The median of the rounds' p99s: one stall of the machine (other work on it)
    /// spoils one round, not the figure.
    pub fn median_round_p99(&self) -> f64 {
        let mut v = self.round_p99.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}

/// Creates `pods` pods, then measures each endpoint at each concurrency.
pub fn run(
    ctx: &Ctx,
    pods: usize,
    concurrencies: &[usize],
    requests: usize,
    rounds: usize,
) -> Result<(Vec<Load>, Vec<String>), String> {
    let names: Vec<String> = (0..pods).map(|i| ctx.name(&format!("api-{i}"))).collect();
    for n in &names {
        crate::lifecycle::create_pod(ctx, n)?;
    }
    // Let every pod's status and first stats sample land.
    std::thread::sleep(Duration::from_secs(3));
    let names_ref = &names;
    let endpoints: Vec<(&str, PathOf)> = vec![
        ("GET /k1s/pod", Box::new(|_| "/k1s/pod".to_string())),
        (
            "GET /k1s/pod/NAME",
            Box::new(move |i| format!("/k1s/pod/{}", names_ref[i % names_ref.len()])),
        ),
        (
            "GET /k1s/pod/NAME?tailLines=0",
            Box::new(move |i| format!("/k1s/pod/{}?tailLines=0", names_ref[i % names_ref.len()])),
        ),
    ];
    let mut out = Vec::new();
    for (endpoint, path_of) in &endpoints {
        // Warm-up: connections, caches.
        hammer(
            ctx,
            endpoint,
            4,
            100,
            Duration::from_secs(20),
            path_of.as_ref(),
        )?;
        for &c in concurrencies {
            let mut all = Vec::new();
            for _ in 0..rounds {
                all.push(hammer(
                    ctx,
                    endpoint,
                    c,
                    requests,
                    Duration::from_secs(60),
                    path_of.as_ref(),
                )?);
            }
            let load = merge(all).ok_or_else(|| format!("{endpoint}: no round"))?;
            eprintln!(
                "  {endpoint} c={c}: p50 {:.2} ms, p99 of each round {:?} ms, {:.0} req/s",
                load.latency.p50,
                load.round_p99
                    .iter()
                    .map(|p| (p * 100.0).round() / 100.0)
                    .collect::<Vec<_>>(),
                load.per_sec
            );
            out.push(load);
        }
    }
    drop(endpoints);
    Ok((out, names))
}
