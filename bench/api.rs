//! `GET /k1s/pod` and `GET /k1s/pod/NAME` latency and throughput under concurrency:
//! a bounded number of requests spread over N client threads, each with its own
//! keep-alive connection, all to 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::Ctx;
use crate::util::{Summary, dur_ms};

/// The path of the i-th request.
type PathOf<'a> = Box<dyn Fn(usize) -> String + Sync + 'a>;

pub struct Load {
    pub endpoint: String,
    pub concurrency: usize,
    pub latency: Summary,
    pub per_sec: f64,
    pub errors: usize,
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
) -> Result<Load, String> {
    let next = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let first_error = std::sync::Mutex::new(None::<String>);
    let started = Instant::now();
    let deadline = started + max_time;
    let lats: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency)
            .map(|_| {
                scope.spawn(|| {
                    let agent = crate::server::agent();
                    let mut lats = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total || Instant::now() > deadline {
                            break;
                        }
                        let url = ctx.server.url(&path_of(i));
                        let t = Instant::now();
                        let ok = match agent.get(&url).call() {
                            Ok(mut r) => {
                                let status = r.status().as_u16();
                                let body = r.body_mut().read_to_vec();
                                match (status, body) {
                                    (200, Ok(_)) => Ok(()),
                                    (s, b) => Err(format!(
                                        "GET {url}: {s} {}",
                                        b.map(|b| String::from_utf8_lossy(&b).into_owned())
                                            .unwrap_or_default()
                                    )),
                                }
                            }
                            Err(e) => Err(format!("GET {url}: {e}")),
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
    let errors = errors.into_inner();
    if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        eprintln!("  {endpoint} c={concurrency}: {errors} errors, first: {e}");
    }
    let latency = Summary::of(&lats).ok_or_else(|| format!("{endpoint}: no request completed"))?;
    Ok(Load {
        endpoint: endpoint.to_string(),
        concurrency,
        latency,
        per_sec: lats.len() as f64 / elapsed.as_secs_f64(),
        errors,
    })
}

/// Creates `pods` pods, then measures each endpoint at each concurrency.
pub fn run(
    ctx: &Ctx,
    pods: usize,
    concurrencies: &[usize],
    requests: usize,
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
            let load = hammer(
                ctx,
                endpoint,
                c,
                requests,
                Duration::from_secs(60),
                path_of.as_ref(),
            )?;
            eprintln!(
                "  {endpoint} c={c}: p50 {:.2} ms p99 {:.2} ms, {:.0} req/s",
                load.latency.p50, load.latency.p99, load.per_sec
            );
            out.push(load);
        }
    }
    drop(endpoints);
    Ok((out, names))
}
