//! The Kubernetes API front door: `kubectl get pods` (and `-o json`) with many pods
//! against the same list through `/k1s` and the Docker API, and a watch's event delay
//! (a PATCH committed → its MODIFIED event read off the watch stream).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Ctx;
use crate::util::{Summary, dur_ms, now_ns, poll};

const KUBECTL: &str = "/usr/bin/kubectl";
const PODS: &str = "/api/v1/namespaces/default/pods";
/// What kubectl 1.32 asks for on `kubectl get pods` (a server-side Table).
const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
/// The label the watch part patches.
const SEQ: &str = "k1sbench-seq";

/// One list measure: wall times (ms), the answer's size and how many pods it showed.
pub struct ListRow {
    pub what: String,
    pub ms: Vec<f64>,
    pub bytes: usize,
    pub pods: usize,
}

pub struct KubeFigures {
    /// Pods the server listed (`GET /k1s/pod`) during the list measures.
    pub pods_present: usize,
    /// Seconds from the ReplicaSet's POST to `ready` = N (poll 200 ms).
    pub ready_secs: f64,
    pub runs: usize,
    pub lists: Vec<ListRow>,
    /// ms: before the PATCH was sent → its event read off the watch.
    pub from_sent: Vec<f64>,
    /// ms: the PATCH's answer read → its event read (negative: the event came first).
    pub from_answer: Vec<f64>,
    /// ms: the PATCH's round trip.
    pub patch_rtt: Vec<f64>,
}

/// Runs both measures: the watch first (one pod), then the lists (a ReplicaSet of
/// `pods` pods).
pub fn run(ctx: &Ctx, pods: usize, runs: usize, events: usize) -> Result<KubeFigures, String> {
    let (from_sent, from_answer, patch_rtt) = watch_delay(ctx, events)?;
    let (lists, pods_present, ready_secs) = lists(ctx, pods, runs)?;
    Ok(KubeFigures {
        pods_present,
        ready_secs,
        runs,
        lists,
        from_sent,
        from_answer,
        patch_rtt,
    })
}

// ------------------------------------------------------------------ watch delay

/// A watch stream's reader: sends `(seq label, when the line was read)` of every
/// event, until the connection is shut down.
fn read_watch(tcp: TcpStream, tx: mpsc::Sender<(String, Instant)>) {
    let mut r = BufReader::new(tcp);
    let mut line = String::new();
    // status line and headers
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line.trim_end().is_empty() {
            break;
        }
    }
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // chunked: size line, data, CRLF
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let size = line.trim();
        if size.is_empty() {
            continue;
        }
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or(""), 16) else {
            return;
        };
        if n == 0 {
            return;
        }
        let mut chunk = vec![0; n];
        if r.read_exact(&mut chunk).is_err() {
            return;
        }
        let at = Instant::now();
        buf.extend_from_slice(&chunk);
        while let Some(i) = buf.iter().position(|b| *b == b'\n') {
            let l: Vec<u8> = buf.drain(..=i).collect();
            let Ok(ev) = serde_json::from_slice::<Value>(&l) else {
                continue;
            };
            let seq = ev["object"]["metadata"]["labels"][SEQ]
                .as_str()
                .unwrap_or("")
                .to_string();
            if tx.send((seq, at)).is_err() {
                return;
            }
        }
    }
}

type Delays = (Vec<f64>, Vec<f64>, Vec<f64>);

/// One pod, a watch on it (plain HTTP/1.1, chunked), then `events` label patches
/// through the Kubernetes API, one at a time, each waiting for its event.
fn watch_delay(ctx: &Ctx, events: usize) -> Result<Delays, String> {
    let name = ctx.name("kwatch");
    crate::lifecycle::create_pod(ctx, &name)?;
    let tcp = TcpStream::connect(&ctx.server.addr).map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let req = format!(
        "GET {PODS}?watch=true&fieldSelector=metadata.name%3D{name} HTTP/1.1\r\nHost: {}\r\n\r\n",
        ctx.server.addr
    );
    (&tcp)
        .write_all(req.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let reader = {
        let tcp = tcp.try_clone().map_err(|e| format!("dup: {e}"))?;
        std::thread::spawn(move || read_watch(tcp, tx))
    };
    // The synthetic ADDED of the pod: the stream is open.
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the watch sent nothing within 10 s".to_string())?;
    let url = ctx.server.url(&format!("{PODS}/{name}"));
    let warmup = 20;
    let (mut from_sent, mut from_answer, mut rtt) = (Vec::new(), Vec::new(), Vec::new());
    let mut outcome = Ok(());
    for i in 0..warmup + events {
        let seq = i.to_string();
        let body = json!({"metadata": {"labels": {SEQ: seq}}}).to_string();
        let sent = Instant::now();
        let r = ctx
            .http
            .patch(&url)
            .header("content-type", "application/merge-patch+json")
            .send(body);
        let answered = Instant::now();
        match r {
            Ok(r) if r.status() == 200 => {}
            Ok(r) => {
                outcome = Err(format!("PATCH {url}: {}", r.status()));
                break;
            }
            Err(e) => {
                outcome = Err(format!("PATCH {url}: {e}"));
                break;
            }
        }
        let read_at = loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok((s, at)) if s == seq => break Some(at),
                Ok(_) => {}
                Err(_) => break None,
            }
        };
        let Some(at) = read_at else {
            outcome = Err(format!("no watch event for patch {i} within 10 s"));
            break;
        };
        if i >= warmup {
            from_sent.push(dur_ms(at.duration_since(sent)));
            from_answer.push(if at >= answered {
                dur_ms(at - answered)
            } else {
                -dur_ms(answered - at)
            });
            rtt.push(dur_ms(answered - sent));
        }
    }
    let _ = tcp.shutdown(Shutdown::Both);
    let _ = reader.join();
    crate::lifecycle::delete_pod(ctx, &name)?;
    outcome.map(|()| (from_sent, from_answer, rtt))
}

// ------------------------------------------------------------------ lists

/// `kubectl --server … --cache-dir DIR ARGS`: wall time and stdout.
fn kubectl(ctx: &Ctx, dir: &std::path::Path, args: &[&str]) -> Result<(f64, String), String> {
    let t = Instant::now();
    let o = Command::new(KUBECTL)
        .arg("--server")
        .arg(&ctx.server.base)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("--request-timeout=30s")
        .args(args)
        .env("KUBECONFIG", dir.join("no-kubeconfig"))
        .env("HOME", dir)
        .output()
        .map_err(|e| format!("cannot run {KUBECTL}: {e}"))?;
    let ms = dur_ms(t.elapsed());
    if !o.status.success() {
        return Err(format!(
            "kubectl {args:?}: {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok((ms, String::from_utf8_lossy(&o.stdout).into_owned()))
}

/// One sample of measure `k`: (ms, bytes, pods shown).
fn sample(
    ctx: &Ctx,
    k: usize,
    dir: &std::path::Path,
    conn: &mut crate::http::Conn,
) -> Result<(f64, usize, usize), String> {
    let get = |conn: &mut crate::http::Conn, path: &str, hs: &[(&str, &str)]| {
        let t = Instant::now();
        let (status, body) = conn.get_with(path, hs)?;
        let ms = dur_ms(t.elapsed());
        if status != 200 {
            return Err(format!("GET {path}: {status}"));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| format!("GET {path}: {e}"))?;
        Ok((ms, body.len(), v))
    };
    match k {
        0 => {
            let (ms, out) = kubectl(ctx, dir, &["get", "pods"])?;
            Ok((ms, out.len(), out.lines().count().saturating_sub(1)))
        }
        1 => {
            let (ms, out) = kubectl(ctx, dir, &["get", "pods", "-o", "json"])?;
            let v: Value = serde_json::from_str(&out).map_err(|e| format!("-o json: {e}"))?;
            Ok((ms, out.len(), v["items"].as_array().map_or(0, Vec::len)))
        }
        2 => {
            let (ms, n, v) = get(
                conn,
                &format!("{PODS}?limit=500"),
                &[("Accept", TABLE_ACCEPT)],
            )?;
            Ok((ms, n, v["rows"].as_array().map_or(0, Vec::len)))
        }
        3 => {
            let (ms, n, v) = get(conn, &format!("{PODS}?limit=500"), &[])?;
            Ok((ms, n, v["items"].as_array().map_or(0, Vec::len)))
        }
        4 => {
            let (ms, n, v) = get(conn, "/k1s/pod", &[])?;
            Ok((ms, n, v.as_array().map_or(0, Vec::len)))
        }
        _ => {
            let t = Instant::now();
            let l = ctx.engine.containers_with(&[ctx.engine.run_label()])?;
            Ok((dur_ms(t.elapsed()), 0, l.len()))
        }
    }
}

const MEASURES: [&str; 6] = [
    "`kubectl get pods` (wall, process start to exit)",
    "`kubectl get pods -o json` (wall)",
    "GET /api/v1/…/pods?limit=500 as kubectl asks (Table)",
    "GET /api/v1/…/pods?limit=500 (PodList JSON, as `-o json` asks)",
    "GET /k1s/pod",
    "Docker API: list the run's containers (all, label filter)",
];

/// A ReplicaSet of `pods` pods through `/k1s/rs`; then `runs` rounds, each taking
/// every measure once (their order rotating), after kubectl's discovery cache is
/// warm; then the ReplicaSet is deleted and its containers waited gone.
fn lists(ctx: &Ctx, pods: usize, runs: usize) -> Result<(Vec<ListRow>, usize, f64), String> {
    let name = ctx.name("klist");
    let t0 = now_ns();
    let started = Instant::now();
    crate::rs::create_rs(ctx, &name, pods, crate::rs::http_container())?;
    let url = ctx.server.url(&format!("/k1s/rs/{name}"));
    let ready = poll(Duration::from_secs(300), Duration::from_millis(200), || {
        crate::server::get(&ctx.http, &url)
            .ok()
            .filter(|a| a.body["ready"].as_u64() == Some(pods as u64))
    });
    let ready_secs = started.elapsed().as_secs_f64();
    let result = match ready {
        None => Err(format!("ReplicaSet {name}: not {pods} ready within 300 s")),
        Some(_) => measure_lists(ctx, runs),
    };
    let del = crate::rs::delete_rs(ctx, &name);
    let gone = crate::rs::wait_n(ctx, &name, "destroy", t0, pods);
    let (rows, present) = result?;
    del?;
    gone?;
    Ok((rows, present, ready_secs))
}

fn measure_lists(ctx: &Ctx, runs: usize) -> Result<(Vec<ListRow>, usize), String> {
    // Status writes and the first stats samples of the last pods settle.
    std::thread::sleep(Duration::from_secs(3));
    let dir = tempfile::Builder::new()
        .prefix("k1s-bench-kubectl-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let mut conn = crate::http::Conn::new(&ctx.server.addr);
    // Discovery cache filled, then one warm-up of each.
    kubectl(ctx, dir.path(), &["api-resources"])?;
    for k in 0..MEASURES.len() {
        sample(ctx, k, dir.path(), &mut conn)?;
    }
    let present = crate::server::get(&ctx.http, &ctx.server.url("/k1s/pod"))?
        .body
        .as_array()
        .map_or(0, Vec::len);
    let mut rows: Vec<ListRow> = MEASURES
        .iter()
        .map(|w| ListRow {
            what: w.to_string(),
            ms: Vec::new(),
            bytes: 0,
            pods: 0,
        })
        .collect();
    for i in 0..runs {
        for j in 0..MEASURES.len() {
            let k = (i + j) % MEASURES.len();
            let (ms, bytes, shown) = sample(ctx, k, dir.path(), &mut conn)?;
            rows[k].ms.push(ms);
            rows[k].bytes = bytes;
            rows[k].pods = shown;
        }
    }
    for r in &rows {
        if let Some(s) = Summary::of(&r.ms) {
            eprintln!("  {}: p50 {:.1} ms, p90 {:.1} ms", r.what, s.p50, s.p90);
        }
    }
    Ok((rows, present))
}
