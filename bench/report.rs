//! The figures as markdown tables, with the targets and PASS/MISS.

use crate::Args;
use crate::api::Load;
use crate::extra::ScaleUp;
use crate::lifecycle::Series;
use crate::util::{Summary, fmt_ms};

pub const CREATE_TARGET: f64 = 1.2;
pub const DELETE_TARGET: f64 = 1.5;
pub const P99_TARGET_MS: f64 = 10.0;
pub const HEAL_TARGET_MS: f64 = 1000.0;

pub struct Report {
    header: Vec<String>,
    load_at_start: String,
    sections: Vec<String>,
    rss: Vec<(String, Option<u64>)>,
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

    pub fn heal(&mut self, s: &Series) {
        let mut t = String::from(
            "### Healing (ms, engine event timestamps)\n\n\
             | measure | n | p50 | p90 | max | target | result |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
        );
        for (key, v) in s {
            let Some(x) = Summary::of(v) else { continue };
            let (tgt, res) = if key.contains("t0→") {
                (
                    format!("p90 < {HEAL_TARGET_MS} ms"),
                    verdict(x.p90 < HEAL_TARGET_MS, &mut self.pass, &mut self.miss),
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
        self.sections.push(t);
    }

    pub fn rss(&mut self, what: &str, kb: Option<u64>) {
        self.rss.push((what.to_string(), kb));
    }

    pub fn scale(&mut self, n: usize, s: &ScaleUp) {
        let mut t = format!(
            "### ReplicaSet scale-up 0→{n} until the last container's `start` (ms)\n\n\
             | K1s (PATCH replicas) | Docker API, {n} create+start, 8 at a time | ratio |\n| ---: | ---: | ---: |\n"
        );
        match s.k1s_ms {
            Some(k) => {
                t += &format!(
                    "| {} | {} | {:.2}× |\n",
                    fmt_ms(k),
                    fmt_ms(s.raw_ms),
                    k / s.raw_ms
                )
            }
            None => t += &format!("| — ({}) | {} | — |\n", s.note, fmt_ms(s.raw_ms)),
        }
        self.sections.push(t);
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
            out += "### Server memory (VmRSS from /proc/PID/status)\n\n| when | RSS |\n| --- | ---: |\n";
            for (what, kb) in &self.rss {
                let v = kb
                    .map(|kb| format!("{:.1} MiB", kb as f64 / 1024.0))
                    .unwrap_or_else(|| "—".into());
                out += &format!("| {what} | {v} |\n");
            }
            out += "\n";
        }
        out += &format!("targets: {} PASS, {} MISS\n", self.pass, self.miss);
        println!("{out}");
    }
}
