//! The figures as markdown tables, with the targets and PASS/MISS.

use crate::Args;
use crate::api::Load;
use crate::config::ConfigFigures;
use crate::hpa::{CpuWindow, HpaRound};
use crate::kube::KubeFigures;
use crate::lifecycle::Series;
use crate::rs::Heal;
use crate::util::{Summary, fmt_ms};

pub const CREATE_TARGET: f64 = 1.2;
pub const DELETE_TARGET: f64 = 1.5;
pub const P99_TARGET_MS: f64 = 10.0;
pub const HEAL_TARGET_MS: f64 = 500.0;
/// A pod waiting for a ConfigMap starts within a second of its creation.
pub const CONFIG_WAIT_TARGET_MS: f64 = 1000.0;
pub const RS_SCALE_TARGET: f64 = 1.2;
pub const RS_DELETE_TARGET: f64 = 1.5;
/// 30 MB (10^6 bytes), the target for the server with 30 pods.
pub const RSS_TARGET_BYTES: u64 = 30_000_000;

/// (what, kB, target and verdict)
type RssRow = (String, Option<u64>, Option<(String, &'static str)>);

pub struct Report {
    header: Vec<String>,
    load_at_start: String,
    sections: Vec<String>,
    rss: Vec<RssRow>,
    pass: usize,
    miss: usize,
}

fn verdict(ok: bool, pass: &mut usize, miss: &mut usize) -> &'static str {
    if ok {
        *pass += 1;
        "PASS"
    } else {
        *miss += 1;
        "**MISS**"
    }
}

fn sum(s: &Series, key: &str) -> Option<Summary> {
    s.get(key).and_then(|v| Summary::of(v))
}

/// The 1, 5 and 15 minute load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn cpu(ms: Option<f64>) -> String {
    ms.map(|m| format!("{m:.3}")).unwrap_or_else(|| "—".into())
}

fn first_line_of(path: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
    })
}

impl Report {
    pub fn new(args: &Args, docker_version: &str) -> Report {
        let nproc = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let cpu = first_line_of("/proc/cpuinfo", "model name").unwrap_or_default();
        let mem = first_line_of("/proc/meminfo", "MemTotal")
            .and_then(|m| m.trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        Report {
            header: vec![
                format!("command: `{}`", args.command),
                format!(
                    "machine: {nproc} CPUs ({cpu}), {mem} RAM, Linux {kernel}, Docker engine {docker_version}"
                ),
                format!(
                    "settings: lifecycle {} iterations per side after {} warm-up, interleaved (Docker API and K1s alternately first), {} ms settle after each operation; GET {} requests × {} rounds per endpoint and client count, {} pods; image {}",
                    args.iterations,
                    args.warmup,
                    args.settle_ms,
                    args.requests,
                    args.rounds,
                    args.api_pods,
                    crate::images::HTTP_IMAGE
                ),
                format!(
                    "ReplicaSets: {} pods, {} rounds per side after {} warm-up, interleaved; heal {} samples each of rm -f and kill; HPA {} rounds, {}m per burning pod; metrics {} pods, {} s windows",
                    args.replicas,
                    args.rs_rounds,
                    args.rs_warmup,
                    args.heal_iterations,
                    args.hpa_rounds,
                    args.hpa_millicores,
                    args.metrics_pods,
                    args.metrics_secs
                ),
            ],
            load_at_start: loadavg(),
            sections: Vec::new(),
            rss: Vec::new(),
            pass: 0,
            miss: 0,
        }
    }

    pub fn lifecycle(&mut self, s: &Series) {
        let mut t = String::from(
            "### Pod lifecycle vs the Docker API (ms, t0 = just before the request, end = the engine's event timeNano)\n\n\
             | measure | K1s p50 | K1s p90 | Docker API p50 | Docker API p90 | ratio of p50s | target | result |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
        );
        let rows = [
            (
                "create → `start`: POST /k1s/pod vs create+start",
                "pod.create",
                "raw.create",
                Some(CREATE_TARGET),
            ),
            (
                "delete → `destroy`: DELETE /k1s/pod/NAME vs forced remove",
                "pod.delete",
                "raw.delete",
                Some(DELETE_TARGET),
            ),
            (
                "(info) delete → `destroy` vs stop (SIGTERM, grace 30 s) + remove, K1s's own method",
                "pod.delete",
                "raw.stop+remove",
                None,
            ),
        ];
        for (what, k1s, raw, target) in rows {
            let (Some(k), Some(r)) = (sum(s, k1s), sum(s, raw)) else {
                continue;
            };
            let ratio = k.p50 / r.p50;
            let (tgt, res) = match target {
                Some(tg) => (
                    format!("≤ {tg}×"),
                    verdict(ratio <= tg, &mut self.pass, &mut self.miss),
                ),
                None => ("—".into(), "—"),
            };
            t += &format!(
                "| {what} | {} | {} | {} | {} | {ratio:.2}× | {tgt} | {res} |\n",
                fmt_ms(k.p50),
                fmt_ms(k.p90),
                fmt_ms(r.p50),
                fmt_ms(r.p90)
            );
        }
        t += "\nWhere the time goes (ms from t0 to the first such engine event, or to the HTTP answer):\n\n\
              | phase | p50 | p90 | min | max |\n| --- | ---: | ---: | ---: | ---: |\n";
        for (key, v) in s.iter().filter(|(k, _)| k.contains(':')) {
            if let Some(x) = Summary::of(v) {
                t += &format!(
                    "| {key} | {} | {} | {} | {} |\n",
                    fmt_ms(x.p50),
                    fmt_ms(x.p90),
                    fmt_ms(x.min),
                    fmt_ms(x.max)
                );
            }
        }
        self.sections.push(t);
    }

    pub fn api(&mut self, loads: &[Load]) {
        let mut t = String::from(
            "### GET latency under concurrency (ms; each client thread keeps one connection; p50 and max over all rounds, p99 the median and the worst of the rounds' p99s)\n\n\
             | endpoint | clients | requests | p50 | p99 (median round) | p99 (worst round) | max | req/s | CPU ms/req: k1s | dockerd | client | errors | target | result |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
        );
        for l in loads {
            let p99 = l.median_round_p99();
            let worst = l.round_p99.iter().copied().fold(0.0, f64::max);
            let ok = p99 <= P99_TARGET_MS && l.errors == 0;
            let res = verdict(ok, &mut self.pass, &mut self.miss);
            t += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | p99 ≤ {P99_TARGET_MS} ms | {res} |\n",
                l.endpoint,
                l.concurrency,
                l.latency.n,
                fmt_ms(l.latency.p50),
                fmt_ms(p99),
                fmt_ms(worst),
                fmt_ms(l.latency.max),
                l.per_sec,
                cpu(l.server_cpu_ms),
                cpu(l.engine_cpu_ms),
                cpu(l.client_cpu_ms),
                l.errors
            );
        }
        self.sections.push(t);
    }

    /// A table of every `key: phase` series (p50, p90, min, max).
    fn breakdown(s: &Series) -> String {
        let mut t = String::from(
            "| phase | n | p50 | p90 | min | max |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for (key, v) in s.iter().filter(|(k, _)| k.contains(':')) {
            if let Some(x) = Summary::of(v) {
                t += &format!(
                    "| {key} | {} | {} | {} | {} | {} |\n",
                    x.n,
                    fmt_ms(x.p50),
                    fmt_ms(x.p90),
                    fmt_ms(x.min),
                    fmt_ms(x.max)
                );
            }
        }
        t
    }

    pub fn rs(&mut self, n: usize, warmup: usize, rounds: usize, s: &Series) {
        let mut t = format!(
            "### ReplicaSet of {n} vs the Docker API with {threads} threads (ms, t0 = just before the request, end = the last container's event timeNano; {rounds} rounds per side after {warmup} warm-up, interleaved)\n\n\
             | measure | K1s p50 | K1s max | Docker API p50 | Docker API max | ratio of p50s | target | result |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
            threads = crate::rs::THREADS
        );
        let rows = [
            (
                format!("scale-up 0→{n} → last `start`: PATCH replicas vs {n} create+start"),
                "k1s.scale",
                "raw.scale",
                RS_SCALE_TARGET,
            ),
            (
                format!("delete → last `destroy`: DELETE /k1s/rs/NAME vs {n} forced removes"),
                "k1s.delete",
                "raw.delete",
                RS_DELETE_TARGET,
            ),
        ];
        for (what, k1s, raw, tg) in rows {
            let (Some(k), Some(r)) = (sum(s, k1s), sum(s, raw)) else {
                continue;
            };
            let ratio = k.p50 / r.p50;
            let res = verdict(ratio <= tg, &mut self.pass, &mut self.miss);
            t += &format!(
                "| {what} | {} | {} | {} | {} | {ratio:.2}× | ≤ {tg}× | {res} |\n",
                fmt_ms(k.p50),
                fmt_ms(k.max),
                fmt_ms(r.p50),
                fmt_ms(r.max)
            );
        }
        t += "\nWhere the time goes (ms from t0 to the first/last such engine event, or to the HTTP answer):\n\n";
        t += &Self::breakdown(s);
        self.sections.push(t);
    }

    pub fn heal(&mut self, h: &Heal) {
        let mut t = format!(
            "### Healing a ReplicaSet of {} pods (ms, engine event timestamps; death = `destroy` after rm -f, `die` after kill; healed = the replacement's `start`)\n\n\
             | measure | n | p50 | p90 | max | target | result |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
            h.replicas
        );
        for (key, v) in &h.series {
            let Some(x) = Summary::of(v) else { continue };
            let (tgt, res) = if key == "rm -f: destroy→start" || key == "kill: die→start" {
                (
                    format!("p50 < {HEAL_TARGET_MS} ms"),
                    verdict(x.p50 < HEAL_TARGET_MS, &mut self.pass, &mut self.miss),
                )
            } else {
                ("—".into(), "—")
            };
            t += &format!(
                "| {key} | {} | {} | {} | {} | {tgt} | {res} |\n",
                x.n,
                fmt_ms(x.p50),
                fmt_ms(x.p90),
                fmt_ms(x.max)
            );
        }
        let res = verdict(h.left_behind == 0, &mut self.pass, &mut self.miss);
        t += &format!(
            "| containers of the ReplicaSet not running 1 s after a heal (most seen) | {} | {} | | | 0 | {res} |\n",
            h.series.get("rm -f: destroy→start").map_or(0, Vec::len)
                + h.series.get("kill: die→start").map_or(0, Vec::len),
            h.left_behind
        );
        self.sections.push(t);
    }

    pub fn hpa(&mut self, rounds: &[HpaRound], millicores: u64) {
        use crate::hpa::{MAX, MIN, TARGET_UTILIZATION};
        let mut t = format!(
            "### HPA: load start → scale-up (ms from the burning container's `start` event)\n\n\
             Server on its defaults: `--hpa-sync-period` 5 s, CPU averaged over max(sync period, 3 s) = 5 s, \
             scale-up stabilization window 0 s and policies 100 % / 4 pods per 15 s (Kubernetes' defaults), \
             scale-down window 300 s, tolerance 0.1. HPA autoscaling/v2, min {MIN}, max {MAX}, cpu Utilization {TARGET_UTILIZATION} % \
             (no CPU request: % of one CPU). ReplicaSet of 1 pod of {img} running `sleep`, measured idle by the HPA; the load starts \
             when the template is patched to `burn --millicores {millicores}` and the idle pod deleted: its replacement burns from its start \
             (t0), after a random pause of 0–5 s so that t0 falls at a random phase of the sync period. ≤ {MAX} × {millicores}m burning on this machine. Replicas polled every 100 ms.\n\n\
             | round | PATCH→t0 | first scale-up seen | first added pod `create` | replicas = {MAX} seen | {MAX}th container `start` | steps: time → replicas (HPA's utilization then) |\n\
             | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
            img = crate::images::BURN_IMAGE
        );
        for (i, r) in rounds.iter().enumerate() {
            let steps: Vec<String> = r
                .steps
                .iter()
                .map(|(ms, n, u)| {
                    format!(
                        "{:.1} s → {n} ({})",
                        ms / 1000.0,
                        u.map(|u| format!("{u} %")).unwrap_or_else(|| "—".into())
                    )
                })
                .collect();
            t += &format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                i + 1,
                fmt_ms(r.patch_to_load_ms),
                fmt_ms(r.first_seen_ms),
                r.first_create_ms.map(fmt_ms).unwrap_or_else(|| "—".into()),
                fmt_ms(r.max_seen_ms),
                fmt_ms(r.max_running_ms),
                steps.join("; ")
            );
        }
        let med = |f: fn(&HpaRound) -> f64| {
            Summary::of(&rounds.iter().map(f).collect::<Vec<_>>())
                .map(|x| fmt_ms(x.p50))
                .unwrap_or_else(|| "—".into())
        };
        t += &format!(
            "| median | {} | {} | {} | {} | {} | |\n",
            med(|r| r.patch_to_load_ms),
            med(|r| r.first_seen_ms),
            med(|r| r.first_create_ms.unwrap_or(f64::NAN)),
            med(|r| r.max_seen_ms),
            med(|r| r.max_running_ms)
        );
        self.sections.push(t);
    }

    pub fn metrics(&mut self, pods: usize, w: &[CpuWindow]) {
        let pct = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into());
        let mut t = String::from(
            "### Metrics pipeline: CPU over a window (% of one CPU, from /proc/PID/stat utime+stime, 10 ms ticks)\n\n\
             | window | seconds | k1s | dockerd | containerd | k1s open sockets |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for x in w {
            t += &format!(
                "| {} | {:.1} | {} | {} | {} | {} |\n",
                x.what,
                x.secs,
                pct(x.k1s),
                pct(x.dockerd),
                pct(x.containerd),
                x.k1s_sockets
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "—".into())
            );
        }
        if let (Some(zero), Some(with)) = (w.first(), w.get(2)) {
            let d = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
            t += &format!(
                "\nWith {pods} pods sampled, beyond 0 pods: k1s {} % of a CPU ({} per pod), dockerd {} %, containerd {} %; \
                 k1s holds {} more sockets (K1s keeps a stats stream and a log follower per running container).\n",
                pct(d(zero.k1s, with.k1s)),
                pct(d(zero.k1s, with.k1s).map(|v| v / pods as f64)),
                pct(d(zero.dockerd, with.dockerd)),
                pct(d(zero.containerd, with.containerd)),
                match (zero.k1s_sockets, with.k1s_sockets) {
                    (Some(a), Some(b)) => (b as i64 - a as i64).to_string(),
                    _ => "—".into(),
                }
            );
        }
        self.sections.push(t);
    }

    pub fn kube(&mut self, wanted: usize, k: &KubeFigures) {
        let mut t = format!(
            "### Kubernetes API: listing {present} pods (ms wall; {runs} samples of each, interleaved, the order rotating; kubectl's discovery cache warm in a fixed --cache-dir)\n\n\
             A ReplicaSet of {wanted} pods of {img} created through /k1s/rs, {ready:.1} s to ready = {wanted}; `GET /k1s/pod` listed {present} pods during the measures. \
             The GETs go over one keep-alive connection (a minimal std client); kubectl is a new process (and connection) each time.\n\n\
             | measure | pods shown | bytes | p50 | p90 | min | max | p50 vs GET /k1s/pod |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
            present = k.pods_present,
            runs = k.runs,
            img = crate::images::HTTP_IMAGE,
            ready = k.ready_secs,
        );
        let base = k
            .lists
            .iter()
            .find(|r| r.what == "GET /k1s/pod")
            .and_then(|r| Summary::of(&r.ms))
            .map(|s| s.p50);
        for r in &k.lists {
            if let Some(x) = Summary::of(&r.ms) {
                let ratio = base
                    .filter(|b| *b > 0.0)
                    .map(|b| x.p50 / b)
                    .map(|r| {
                        if r >= 10.0 {
                            format!("{r:.0}×")
                        } else {
                            format!("{r:.1}×")
                        }
                    })
                    .unwrap_or_else(|| "—".into());
                let bytes = if r.bytes == 0 {
                    "—".to_string()
                } else {
                    r.bytes.to_string()
                };
                t += &format!(
                    "| {} | {} | {bytes} | {} | {} | {} | {} | {ratio} |\n",
                    r.what,
                    r.pods,
                    fmt_ms(x.p50),
                    fmt_ms(x.p90),
                    fmt_ms(x.min),
                    fmt_ms(x.max)
                );
            }
        }
        t += &format!(
            "\n### Kubernetes API: watch event delay (ms; {n} label patches of one pod, `PATCH /api/v1/…/pods/NAME` merge patch, one at a time, while `?watch=true&fieldSelector=metadata.name=NAME` is open on its own connection; the event's time is when its chunk was read)\n\n\
             | measure | n | p50 | p90 | p99 | min | max |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
            n = k.from_sent.len()
        );
        for (what, v) in [
            (
                "just before the PATCH is sent → its MODIFIED event read",
                &k.from_sent,
            ),
            (
                "the PATCH's answer read → its event read (negative: the event came first)",
                &k.from_answer,
            ),
            ("(info) PATCH round trip", &k.patch_rtt),
        ] {
            if let Some(x) = Summary::of(v) {
                t += &format!(
                    "| {what} | {} | {} | {} | {} | {} | {} |\n",
                    x.n,
                    fmt_ms(x.p50),
                    fmt_ms(x.p90),
                    fmt_ms(x.p99),
                    fmt_ms(x.min),
                    fmt_ms(x.max)
                );
            }
        }
        self.sections.push(t);
    }

    pub fn config(&mut self, warmup: usize, iterations: usize, c: &ConfigFigures) {
        let mut t = format!(
            "### ConfigMaps and Secrets (ms, t0 = just before the request, end = the engine's `start` timeNano)\n\n\
             Create → running: {iterations} pairs after {warmup} warm-up, interleaved (the side going first alternating), \
             image k1s-test/http:1; the config pod mounts two configMap volumes (3 and 2 keys) and one secret volume (2 keys).\n\n\
             | measure | config pod p50 | config pod p90 | plain pod p50 | plain pod p90 | ratio of p50s | target | result |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
        );
        if let (Some(k), Some(r)) = (sum(&c.create, "cfg.create"), sum(&c.create, "plain.create")) {
            let ratio = k.p50 / r.p50;
            let res = verdict(ratio <= CREATE_TARGET, &mut self.pass, &mut self.miss);
            t += &format!(
                "| POST /k1s/pod → `start`: 2 configMap + 1 secret volumes vs plain | {} | {} | {} | {} | {ratio:.2}× | ≤ {CREATE_TARGET}× | {res} |\n",
                fmt_ms(k.p50),
                fmt_ms(k.p90),
                fmt_ms(r.p50),
                fmt_ms(r.p90)
            );
        }
        t += "\nWhere the time goes, and the wait for a missing ConfigMap (a pod with an env \
              `configMapKeyRef` to a ConfigMap that does not exist, seen in `CreateContainerConfigError`, \
              then 0.5 s, then `POST /k1s/cm` at t0 → the container's `start`):\n\n\
              | measure | n | p50 | p90 | min | max | target | result |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n";
        for (key, v) in c
            .create
            .iter()
            .filter(|(k, _)| k.contains(':'))
            .chain(c.wait.iter())
        {
            let Some(x) = Summary::of(v) else { continue };
            let (tgt, res) = if key == "cm POST → start" {
                (
                    format!("max < {CONFIG_WAIT_TARGET_MS} ms"),
                    verdict(
                        x.max < CONFIG_WAIT_TARGET_MS,
                        &mut self.pass,
                        &mut self.miss,
                    ),
                )
            } else {
                ("—".into(), "—")
            };
            t += &format!(
                "| {key} | {} | {} | {} | {} | {} | {tgt} | {res} |\n",
                x.n,
                fmt_ms(x.p50),
                fmt_ms(x.p90),
                fmt_ms(x.min),
                fmt_ms(x.max)
            );
        }
        self.sections.push(t);
    }

    pub fn rss(&mut self, what: &str, kb: Option<u64>) {
        self.rss.push((what.to_string(), kb, None));
    }

    /// An RSS figure with a target (bytes).
    pub fn rss_target(&mut self, what: &str, kb: Option<u64>, limit: u64) {
        let ok = kb.is_some_and(|kb| kb * 1024 < limit);
        let res = verdict(ok, &mut self.pass, &mut self.miss);
        self.rss.push((
            what.to_string(),
            kb,
            Some((format!("< {} MB", limit / 1_000_000), res)),
        ));
    }

    pub fn print(&self) {
        let mut out = String::from("## K1s benchmark\n\n");
        for h in &self.header {
            out += &format!("- {h}\n");
        }
        out += &format!(
            "- load average (1/5/15 min) at start: {}, at end: {} — other work on this machine skews the figures\n\n",
            self.load_at_start,
            loadavg()
        );
        for s in &self.sections {
            out += s;
            out += "\n";
        }
        if !self.rss.is_empty() {
            out += "### Server memory (VmRSS from /proc/PID/status)\n\n| when | RSS | target | result |\n| --- | ---: | ---: | --- |\n";
            for (what, kb, limit) in &self.rss {
                let v = kb
                    .map(|kb| {
                        format!(
                            "{:.1} MiB ({:.1} MB)",
                            kb as f64 / 1024.0,
                            kb as f64 * 1024.0 / 1e6
                        )
                    })
                    .unwrap_or_else(|| "—".into());
                let (tgt, res) = limit.clone().unwrap_or(("—".into(), "—"));
                out += &format!("| {what} | {v} | {tgt} | {res} |\n");
            }
            out += "\n";
        }
        out += &format!("targets: {} PASS, {} MISS\n", self.pass, self.miss);
        println!("{out}");
    }
}
