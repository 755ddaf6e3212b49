//! The K1s benchmark harness (not part of the tests).
//!
//! ```text
//! cargo bench --bench k1s_bench -- [pods|lifecycle|api|heal|rss|rs|hpa|metrics|kube|all]... [options]
//! ```
//!
//! Starts the real `k1s` server (release build) on a free loopback port with a
//! database of its own, and measures it against the same work done directly through
//! the Docker API in the same run. Every lifecycle duration starts at the wall clock
//! just before the request is sent and ends at the engine's own event timestamp
//! (`timeNano` of `start` / `destroy`). Prints markdown tables with the targets and
//! PASS/MISS, then removes everything it created and stops the server.

#[path = "../tests/support/images.rs"]
mod images;

mod api;
mod config;
mod engine;
mod extra;
mod hpa;
mod http;
mod kube;
mod lifecycle;
mod report;
mod rs;
mod server;
mod util;

use std::time::Duration;

use engine::Engine;
use server::Server;

/// What a run shares: the engine, the server under test, a client, the names' prefix.
pub struct Ctx {
    pub engine: Engine,
    pub server: Server,
    pub http: ureq::Agent,
    pub prefix: String,
    pub settle: Duration,
}

impl Ctx {
    /// A container / pod name unique to this run.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }

    /// A pause between measured operations, the same after each, so that one's
    /// aftermath (status writes, stats streams) does not land in the next.
    pub fn settle(&self) {
        std::thread::sleep(self.settle);
    }
}

#[derive(Debug, Clone)]
pub struct Args {
    pub parts: Vec<String>,
    pub iterations: usize,
    pub warmup: usize,
    pub requests: usize,
    pub rounds: usize,
    pub concurrency: Vec<usize>,
    pub api_pods: usize,
    pub settle_ms: u64,
    pub heal_iterations: usize,
    pub rss_pods: usize,
    pub replicas: usize,
    pub rs_rounds: usize,
    pub rs_warmup: usize,
    pub hpa_rounds: usize,
    pub hpa_millicores: u64,
    pub metrics_pods: usize,
    pub metrics_secs: u64,
    pub kube_pods: usize,
    pub kube_runs: usize,
    pub watch_events: usize,
    pub config_iterations: usize,
    pub config_waits: usize,
    pub command: String,
}

const USAGE: &str = "\
usage: cargo bench --bench k1s_bench -- [PART]... [OPTIONS]

parts (default: pods):
  pods        lifecycle + api (the pod figures)
  lifecycle   pod create→running and delete→gone vs the Docker API
  api         GET /k1s/pod and /k1s/pod/NAME latency under concurrency
  heal        a ReplicaSet's pod healed after rm -f / kill of its container
  rss         server RSS idle and with --rss-pods pods (created one by one)
  rs          ReplicaSet scale-up 0→--replicas and delete vs the Docker API
              with 8 threads, and the server's RSS with those pods
  hpa         HPA: load start → first scale-up decision and → maxReplicas
  metrics     server/dockerd CPU with --metrics-pods idle pods sampled vs none
  kube        the Kubernetes API: kubectl get pods (and -o json) with
              --kube-pods pods vs GET /k1s/pod and the Docker API's list;
              a watch's event delay over --watch-events label patches
  config      a pod with 2 configMap + 1 secret volumes vs a plain pod,
              create → running; a pod waiting for a missing ConfigMap:
              the ConfigMap's POST → its container's start
  all         every part

options:
  --iterations N       measured lifecycle iterations per side (20)
  --warmup N           discarded lifecycle iterations per side (3)
  --requests N         GET requests per round, endpoint and concurrency (2000)
  --rounds N           rounds of --requests; the target is checked on the
                       median of the rounds' p99s (5)
  --concurrency LIST   client threads, comma-separated (1,8,32)
  --api-pods N         pods present during the GET measurements (10)
  --settle-ms N        pause after each measured operation (250)
  --heal-iterations N  rm -f and kill samples each; the ReplicaSet has
                       max(N, 3) pods, each killed once (10)
  --rss-pods N         (30)
  --replicas N         ReplicaSet scale-up target (30)
  --rs-rounds N        measured ReplicaSet rounds per side (3)
  --rs-warmup N        discarded ReplicaSet rounds per side (1)
  --hpa-rounds N       (3)
  --hpa-millicores N   CPU each burning pod holds (300; at most 4 burn)
  --metrics-pods N     (20)
  --metrics-secs N     length of each CPU window (30)
  --kube-pods N        pods (one ReplicaSet) during the list measures (100)
  --kube-runs N        samples of each list measure (20)
  --watch-events N     measured watch events, after 20 discarded (250)
  --config-iterations N  config pod pairs after --warmup (15)
  --config-waits N     samples of the missing-ConfigMap wait (10)
  -h, --help           this message";

fn parse_args() -> Result<Args, String> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut a = Args {
        parts: Vec::new(),
        iterations: 20,
        warmup: 3,
        requests: 2000,
        rounds: 5,
        concurrency: vec![1, 8, 32],
        api_pods: 10,
        settle_ms: 250,
        heal_iterations: 10,
        rss_pods: 30,
        replicas: 30,
        rs_rounds: 3,
        rs_warmup: 1,
        hpa_rounds: 3,
        hpa_millicores: 300,
        metrics_pods: 20,
        metrics_secs: 30,
        kube_pods: 100,
        kube_runs: 20,
        watch_events: 250,
        config_iterations: 15,
        config_waits: 10,
        command: String::new(),
    };
    let mut shown = Vec::new();
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        // `cargo bench` passes `--bench` to every bench target.
        if arg == "--bench" {
            continue;
        }
        shown.push(arg.clone());
        let mut value = |what: &str| -> Result<String, String> {
            let v = it.next().ok_or_else(|| format!("{what} needs a value"))?;
            shown.push(v.clone());
            Ok(v)
        };
        let count = |v: String, what: &str| -> Result<usize, String> {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0 || what == "--warmup" || what == "--rs-warmup")
                .ok_or_else(|| format!("{what}: not a count: {v:?}"))
        };
        match arg.as_str() {
            "-h" | "--help" | "help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--iterations" => a.iterations = count(value("--iterations")?, "--iterations")?,
            "--warmup" => a.warmup = count(value("--warmup")?, "--warmup")?,
            "--requests" => a.requests = count(value("--requests")?, "--requests")?,
            "--rounds" => a.rounds = count(value("--rounds")?, "--rounds")?,
            "--api-pods" => a.api_pods = count(value("--api-pods")?, "--api-pods")?,
            "--settle-ms" => {
                let v = value("--settle-ms")?;
                a.settle_ms = v
                    .parse()
                    .map_err(|_| format!("--settle-ms: not a number: {v:?}"))?;
            }
            "--heal-iterations" => {
                a.heal_iterations = count(value("--heal-iterations")?, "--heal-iterations")?
            }
            "--rss-pods" => a.rss_pods = count(value("--rss-pods")?, "--rss-pods")?,
            "--replicas" => a.replicas = count(value("--replicas")?, "--replicas")?,
            "--rs-rounds" => a.rs_rounds = count(value("--rs-rounds")?, "--rs-rounds")?,
            "--rs-warmup" => a.rs_warmup = count(value("--rs-warmup")?, "--rs-warmup")?,
            "--hpa-rounds" => a.hpa_rounds = count(value("--hpa-rounds")?, "--hpa-rounds")?,
            "--hpa-millicores" => {
                a.hpa_millicores = count(value("--hpa-millicores")?, "--hpa-millicores")? as u64
            }
            "--metrics-pods" => a.metrics_pods = count(value("--metrics-pods")?, "--metrics-pods")?,
            "--metrics-secs" => {
                a.metrics_secs = count(value("--metrics-secs")?, "--metrics-secs")? as u64
            }
            "--kube-pods" => a.kube_pods = count(value("--kube-pods")?, "--kube-pods")?,
            "--kube-runs" => a.kube_runs = count(value("--kube-runs")?, "--kube-runs")?,
            "--watch-events" => a.watch_events = count(value("--watch-events")?, "--watch-events")?,
            "--config-iterations" => {
                a.config_iterations = count(value("--config-iterations")?, "--config-iterations")?
            }
            "--config-waits" => a.config_waits = count(value("--config-waits")?, "--config-waits")?,
            "--concurrency" => {
                let v = value("--concurrency")?;
                a.concurrency = v
                    .split(',')
                    .map(|c| count(c.trim().to_string(), "--concurrency"))
                    .collect::<Result<_, _>>()?;
            }
            "pods" => a.parts.extend(["lifecycle".into(), "api".into()]),
            "all" => a.parts.extend(
                [
                    "lifecycle",
                    "api",
                    "heal",
                    "rss",
                    "rs",
                    "hpa",
                    "metrics",
                    "kube",
                    "config",
                ]
                .iter()
                .map(|s| s.to_string()),
            ),
            "lifecycle" | "api" | "heal" | "rss" | "rs" | "hpa" | "metrics" | "kube" | "config" => {
                a.parts.push(arg)
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    if a.parts.is_empty() {
        a.parts = vec!["lifecycle".into(), "api".into()];
    }
    let mut seen = std::collections::HashSet::new();
    a.parts.retain(|p| seen.insert(p.clone()));
    a.command = format!("cargo bench --bench k1s_bench -- {}", shown.join(" "))
        .trim_end()
        .to_string();
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    match run(&args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("k1s_bench: FAILED: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the parts; `Ok(false)` when a part failed (its error printed), after
/// cleaning up.
fn run(args: &Args) -> Result<bool, String> {
    let run_id = util::run_id();
    let engine = Engine::connect(("k1sbench-run".to_string(), run_id.clone()))
        .map_err(|e| format!("{e} (is the Docker engine running and reachable?)"))?;
    eprintln!("building/importing the test images…");
    images::ensure_images();
    let docker_version = engine.server_version();

    eprintln!("starting k1s ({})…", env!("CARGO_BIN_EXE_k1s"));
    let server = Server::start()?;
    let idle_rss = server.rss_kb();
    let ctx = Ctx {
        engine,
        server,
        http: server::agent(),
        prefix: format!("k1sb-{run_id}"),
        settle: Duration::from_millis(args.settle_ms),
    };

    let mut rep = report::Report::new(args, &docker_version);
    rep.rss("server RSS, idle (0 pods)", idle_rss);

    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for part in &args.parts {
            eprintln!("== {part}");
            let r = match part.as_str() {
                "lifecycle" => {
                    lifecycle::run(&ctx, args.warmup, args.iterations).map(|s| rep.lifecycle(&s))
                }
                "api" => api::run(
                    &ctx,
                    args.api_pods,
                    &args.concurrency,
                    args.requests,
                    args.rounds,
                )
                .map(|(loads, names)| {
                    rep.rss(
                        &format!("server RSS, {} pods (after the GET load)", names.len()),
                        ctx.server.rss_kb(),
                    );
                    rep.api(&loads);
                    for n in &names {
                        let _ = lifecycle::delete_pod(&ctx, n);
                    }
                }),
                "heal" => rs::heal(&ctx, args.heal_iterations).map(|h| rep.heal(&h)),
                "rss" => extra::rss_with_pods(&ctx, args.rss_pods)
                    .map(|kb| rep.rss(&format!("server RSS, {} pods", args.rss_pods), kb)),
                "rs" => rs::scale_and_delete(&ctx, args.replicas, args.rs_warmup, args.rs_rounds)
                    .map(|(s, kb)| {
                        rep.rs(args.replicas, args.rs_warmup, args.rs_rounds, &s);
                        rep.rss_target(
                            &format!(
                                "server RSS, ReplicaSet of {} pods running (largest of the rounds)",
                                args.replicas
                            ),
                            kb,
                            report::RSS_TARGET_BYTES,
                        );
                    }),
                "hpa" => hpa::run(&ctx, args.hpa_rounds, args.hpa_millicores)
                    .map(|r| rep.hpa(&r, args.hpa_millicores)),
                "metrics" => hpa::metrics(&ctx, args.metrics_pods, args.metrics_secs)
                    .map(|w| rep.metrics(args.metrics_pods, &w)),
                "kube" => kube::run(&ctx, args.kube_pods, args.kube_runs, args.watch_events)
                    .map(|k| rep.kube(args.kube_pods, &k)),
                "config" => {
                    config::run(&ctx, args.warmup, args.config_iterations, args.config_waits)
                        .map(|c| rep.config(args.warmup, args.config_iterations, &c))
                }
                _ => Ok(()),
            };
            if let Err(e) = r {
                return Err(format!("{part}: {e}"));
            }
        }
        Ok(())
    }));
    let outcome = match outcome {
        Ok(r) => r,
        Err(p) => Err(format!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    };
    if outcome.is_err() {
        eprintln!(
            "--- last lines of the server's output:\n{}",
            ctx.server.log_tail(30)
        );
    }
    clean_up(ctx);
    rep.print();
    match outcome {
        Ok(()) => Ok(true),
        Err(e) => {
            eprintln!("k1s_bench: FAILED: {e}");
            Ok(false)
        }
    }
}

/// Deletes the run's pods through the API, stops the server, then force-removes any
/// container of the run that is left (with the server stopped, nothing recreates it).
fn clean_up(ctx: Ctx) {
    let Ctx {
        engine,
        mut server,
        http,
        ..
    } = ctx;
    let selector = engine.run_label();
    // The server is this run's alone: every HPA, ReplicaSet, ConfigMap and Secret in
    // it is ours.
    for kind in ["hpa", "rs", "cm", "secret"] {
        if let Ok(a) = server::get(&http, &server.url(&format!("/k1s/{kind}")))
            && let Some(list) = a.body.as_array()
        {
            for o in list {
                if let Some(n) = o["name"].as_str() {
                    let _ = server::delete(&http, &server.url(&format!("/k1s/{kind}/{n}")));
                }
            }
        }
    }
    if let Ok(a) = server::get(&http, &server.url(&format!("/k1s/pod?labels={selector}")))
        && let Some(pods) = a.body.as_array()
    {
        for p in pods {
            if let Some(n) = p["name"].as_str() {
                let _ = server::delete(&http, &server.url(&format!("/k1s/pod/{n}")));
            }
        }
    }
    let _ = util::poll(Duration::from_secs(15), Duration::from_millis(100), || {
        engine
            .containers_with(&[selector.clone(), "k1sbench-side=pod".to_string()])
            .ok()
            .filter(|l| l.is_empty())
    });
    server.stop();
    let left = engine.clean_up();
    if left > 0 {
        eprintln!("cleaned up {left} leftover container(s)");
    }
}
