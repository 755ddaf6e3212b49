//! Harness of K1s's integration tests: a real `k1s` server per test (its own temp data
//! dir and loopback port), a small HTTP client, the `k1s_ctl` and `docker` CLIs, polling
//! helpers, and a guard that removes the containers a test caused.
//!
//! Tests share one Docker engine and run in parallel: every name a test uses comes from
//! [`unique`] / [`Cleanup::name`], and a test removes only what it created.
//!
//! Drop order matters: declare the [`Cleanup`] guard BEFORE the [`Server`]s, so that
//! the servers are killed first (a live server would recreate removed containers).
#![allow(dead_code)]

pub mod images;

#[allow(unused_imports)]
pub use images::{BURN_IMAGE, HTTP_IMAGE, MISSING_IMAGE, WORKLOAD_IMAGE, ensure_images};

use serde_json::{Value, json};
use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer `/healthz` after it is started.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// On SIGTERM the server exits within 10 s (docs/decisions.md, "Crash recovery").
pub const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// Generic deadline for a pod to reach a state (container create + start on 2 busy cores).
pub const POD_DEADLINE: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------ names & polling

/// A short unique lowercase DNS-1123 name: `<prefix>-<pid><counter><random>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r = random_u64();
    format!(
        "{prefix}-{}{}{}",
        base36(u64::from(std::process::id())),
        base36(n),
        &base36(r | (1 << 40))[..4]
    )
}

fn random_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    wait_for(timeout, what, || f().ok_or_else(|| "not yet".to_string()))
}

/// Polls `f` every 100 ms until it returns `Ok`; after `timeout`, panics with `what` and
/// the last `Err` (what was seen instead).
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) => {
                if Instant::now() >= deadline {
                    panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Checks that `f` keeps returning `Ok` for the whole `period` (polled every 100 ms):
/// for "this must NOT happen" assertions. Panics with the first `Err`.
pub fn holds_for(period: Duration, what: &str, mut f: impl FnMut() -> Result<(), String>) {
    let end = Instant::now() + period;
    loop {
        if let Err(e) = f() {
            panic!("{what} stopped holding: {e}");
        }
        if Instant::now() >= end {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; small race accepted).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free loopback port")
        .port()
}

/// A free TCP port on every interface (for a pod's `hostPort`, which binds 0.0.0.0).
pub fn free_host_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

// ------------------------------------------------------------------ HTTP client

/// An HTTP answer: status, body parsed as JSON (`Value::Null` when it is not JSON),
/// the raw body text, and the headers (names lowercased).
#[derive(Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The error body's `field`, if any.
    pub fn field(&self) -> Option<&str> {
        self.body.get("field").and_then(Value::as_str)
    }
    /// The error body's `error`, if any.
    pub fn error(&self) -> Option<&str> {
        self.body.get("error").and_then(Value::as_str)
    }
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: String = self.text.chars().take(2000).collect();
        write!(f, "HTTP {} {}", self.status, text)
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        // Servers are restarted on the same port: never reuse a pooled connection.
        .max_idle_connections(0)
        .build()
        .into()
}

/// One HTTP request. `body` is `(content type, bytes)`. Err on transport failure
/// (connection refused, timeout); any HTTP status is Ok.
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> Result<Resp, String> {
    let agent = agent(timeout);
    let result = match (method, body) {
        ("GET", None) => with_headers_nobody(agent.get(url), headers).call(),
        ("DELETE", None) => with_headers_nobody(agent.delete(url), headers).call(),
        ("HEAD", None) => with_headers_nobody(agent.head(url), headers).call(),
        ("POST" | "PUT" | "PATCH", body) => {
            let rb = match method {
                "POST" => agent.post(url),
                "PUT" => agent.put(url),
                _ => agent.patch(url),
            };
            let mut rb = rb;
            for (k, v) in headers {
                rb = rb.header(*k, *v);
            }
            match body {
                Some((ct, bytes)) => rb.header("Content-Type", ct).send(bytes),
                None => rb.send_empty(),
            }
        }
        (m, b) => panic!("http(): unsupported {m} with body {}", b.is_some()),
    };
    let mut resp = result.map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("{method} {url}: reading body: {e}"))?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Resp {
        status,
        body,
        text,
        headers,
    })
}

fn with_headers_nobody(
    mut rb: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    headers: &[(&str, &str)],
) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb
}

/// GET `url` with a short timeout; Err when nothing answers (for pods' addresses).
pub fn http_get(url: &str) -> Result<Resp, String> {
    http("GET", url, &[], None, Duration::from_secs(3))
}

// ------------------------------------------------------------------ server

/// A running `k1s` server with its own temp data dir and loopback port.
pub struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    extra: Vec<String>,
    env: Vec<(String, String)>,
    token: Option<String>,
    starts: u32,
}

impl Server {
    /// Starts a server on 127.0.0.1 with a fresh database; waits for `/healthz`.
    /// Also makes sure the test images exist.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Like [`Server::start`] with extra flags (e.g. `["--token", "t", "--listen", "0.0.0.0"]`).
    /// `--listen 127.0.0.1`, `--port` and `--db` are supplied unless given here.
    pub fn start_with(extra: &[&str]) -> Server {
        Server::start_with_env(extra, &[])
    }

    /// Like [`Server::start_with`], with extra environment variables for the server
    /// (e.g. `DOCKER_HOST` pointing nowhere).
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        ensure_images();
        let dir = tempfile::Builder::new()
            .prefix("k1s-test-")
            .tempdir()
            .expect("create temp dir");
        let token = extra
            .iter()
            .position(|a| *a == "--token")
            .and_then(|i| extra.get(i + 1))
            .filter(|t| !t.is_empty())
            .map(|t| t.to_string());
        let mut s = Server {
            child: None,
            dir,
            port: free_port(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            token,
            starts: 0,
        };
        s.spawn_and_wait();
        s
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_k1s"));
        server_env(&mut c);
        if !self.extra.iter().any(|a| a == "--listen") {
            c.args(["--listen", "127.0.0.1"]);
        }
        c.arg("--port").arg(self.port.to_string());
        c.arg("--db").arg(self.db_path());
        c.args(&self.extra);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn spawn_and_wait(&mut self) {
        assert!(self.child.is_none(), "server already running");
        self.starts += 1;
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server log");
        use std::io::Write;
        writeln!(&log, "===== k1s test harness: start #{} =====", self.starts).ok();
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log));
        let child = cmd.spawn().expect("spawn the k1s server binary");
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                self.child = None;
                panic!(
                    "k1s server exited during start-up ({status}); log:\n{}",
                    self.log_tail(60)
                );
            }
            let url = format!("{}/healthz", self.url());
            let auth = self.auth();
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("Authorization", a.as_str())).collect();
            if http("GET", &url, &headers, None, Duration::from_secs(2))
                .is_ok_and(|r| r.status == 200)
            {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "k1s server did not answer /healthz with 200 within {START_DEADLINE:?}; log:\n{}",
                    self.log_tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("k1s.db")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
    /// The server's whole log (all starts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `Authorization` header value for this server's token, if it has one.
    fn auth(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    /// Stops the server with SIGTERM; asserts it exits within 10 s (docs/decisions.md,
    /// "Crash recovery").
    pub fn stop_sigterm(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server not running");
        let started = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -TERM failed");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if started.elapsed() > STOP_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "k1s server did not exit within {STOP_DEADLINE:?} of SIGTERM; log:\n{}",
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server not running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same database and port (after a stop or kill).
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn_and_wait();
    }

    // -- requests (with this server's token when it has one)

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None)
    }
    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, None)
    }
    pub fn post_json(&self, path: &str, body: &Value) -> Resp {
        let bytes = serde_json::to_vec(body).unwrap();
        self.request("POST", path, Some(("application/json", &bytes)))
    }
    pub fn post_yaml(&self, path: &str, yaml: &str) -> Resp {
        self.request("POST", path, Some(("application/yaml", yaml.as_bytes())))
    }
    /// A request with this server's token (if any); panics if the server does not answer.
    pub fn request(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Resp {
        let auth = self.auth();
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.request_with(method, path, &headers, body)
    }
    /// A request with exactly these headers (no token added).
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Resp {
        let url = format!("{}{}", self.url(), path);
        match http(method, &url, headers, body, Duration::from_secs(60)) {
            Ok(r) => r,
            Err(e) => panic!("server did not answer: {e}; log:\n{}", self.log_tail(40)),
        }
    }

    /// Runs `k1s_ctl --server URL ARGS…` against this server (with its token in
    /// `K1S_TOKEN` when it has one).
    pub fn ctl(&self, args: &[&str]) -> CtlOut {
        let mut env = vec![];
        if let Some(t) = &self.token {
            env.push(("K1S_TOKEN", t.as_str()));
        }
        ctl_env(&self.url(), args, &env)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- k1s server log ({}) tail -----\n{}\n-----",
                self.url(),
                self.log_tail(80)
            );
        }
    }
}

/// Removes every K1s setting from a child's environment (tests pass flags explicitly).
fn server_env(c: &mut Command) {
    for k in [
        "K1S_LISTEN",
        "K1S_PORT",
        "K1S_DB",
        "K1S_TOKEN",
        "K1S_TOKEN_FILE",
        "K1S_HPA_SYNC_PERIOD",
        "K1S_MAX_REPLICAS",
        "K1S_ENCRYPTION_KEY_FILE",
        "K1S_URL",
    ] {
        c.env_remove(k);
    }
}

/// Runs the server binary with `args` (and a fresh db in `dir` unless `--db` is given)
/// expecting it to exit on its own within `timeout`; returns its status and output.
/// Panics (after killing it) if it is still running at the deadline.
pub fn run_server_expecting_exit(args: &[&str], dir: &Path, timeout: Duration) -> CtlOut {
    let mut c = Command::new(env!("CARGO_BIN_EXE_k1s"));
    server_env(&mut c);
    c.args(args);
    if !args.contains(&"--db") {
        c.arg("--db").arg(dir.join("k1s.db"));
    }
    run_with_deadline(c, timeout, "k1s server")
}

// ------------------------------------------------------------------ CLIs

/// Output of a CLI run.
#[derive(Debug)]
pub struct CtlOut {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CtlOut {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
    /// Non-empty lines of stdout and stderr together.
    pub fn output_lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }
}

/// `k1s_ctl --server URL ARGS…` with a clean environment plus `env`.
pub fn ctl_env(url: &str, args: &[&str], env: &[(&str, &str)]) -> CtlOut {
    let mut c = Command::new(env!("CARGO_BIN_EXE_k1s_ctl"));
    server_env(&mut c);
    c.arg("--server").arg(url).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run_with_deadline(c, Duration::from_secs(60), "k1s_ctl")
}

/// `k1s_ctl ARGS…` without `--server`, with a clean environment plus `env`.
pub fn ctl_no_server(args: &[&str], env: &[(&str, &str)]) -> CtlOut {
    let mut c = Command::new(env!("CARGO_BIN_EXE_k1s_ctl"));
    server_env(&mut c);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run_with_deadline(c, Duration::from_secs(60), "k1s_ctl")
}

/// `k1s_ctl --server URL ARGS…`
pub fn ctl(url: &str, args: &[&str]) -> CtlOut {
    ctl_env(url, args, &[])
}

fn run_with_deadline(mut c: Command, timeout: Duration, what: &str) -> CtlOut {
    let shown = format!("{c:?}");
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {timeout:?}: {shown}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    CtlOut {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// Output of a docker CLI run.
#[derive(Debug)]
pub struct DockerOut {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the docker CLI (for test-side actions: kill, rm -f, inspect, create).
pub fn docker(args: &[&str]) -> DockerOut {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run the docker CLI");
    DockerOut {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

/// Runs the docker CLI and panics unless it succeeds; returns trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.ok, "docker {args:?} failed: {}", out.stderr);
    out.stdout
}

/// `docker inspect` of one container (by name or id), or None when there is none.
pub fn inspect(container: &str) -> Option<Value> {
    let out = docker(&["container", "inspect", container]);
    if !out.ok {
        return None;
    }
    let v: Value = serde_json::from_str(&out.stdout).expect("docker inspect JSON");
    v.as_array().and_then(|a| a.first()).cloned()
}

/// Full ids of every container (any state) whose name is exactly `name`.
pub fn containers_named(name: &str) -> Vec<String> {
    let filter = format!("name=^/{name}$");
    let out = docker_ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &filter,
        "--format",
        "{{.ID}}",
    ]);
    out.lines().map(String::from).collect()
}

/// Full ids of every container (any state) labelled `k1s.io/pod=<pod>`.
pub fn containers_of_pod(pod: &str) -> Vec<String> {
    let filter = format!("label=k1s.io/pod={pod}");
    let out = docker_ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &filter,
        "--format",
        "{{.ID}}",
    ]);
    out.lines().map(String::from).collect()
}

/// `State.Running` and `State.StartedAt` of a container, or None when it is gone.
pub fn container_state(container: &str) -> Option<(bool, String)> {
    let c = inspect(container)?;
    Some((
        c["State"]["Running"].as_bool().unwrap_or(false),
        c["State"]["StartedAt"].as_str().unwrap_or("").to_string(),
    ))
}

// ------------------------------------------------------------------ cleanup guard

/// Removes, on drop, the K1s containers of a test: containers labelled `k1s=pod` whose
/// name starts with this guard's unique prefix, plus containers the test created
/// itself and registered with [`Cleanup::foreign`].
///
/// Declare it BEFORE the test's servers so that it drops after them.
pub struct Cleanup {
    pub prefix: String,
    extra: Mutex<Vec<String>>,
}

impl Cleanup {
    /// A guard with a fresh unique prefix built from `area` (keep `area` short).
    pub fn new(area: &str) -> Cleanup {
        ensure_images();
        Cleanup {
            prefix: unique(area),
            extra: Mutex::new(Vec::new()),
        }
    }
    /// A name under this guard's prefix: `<prefix>-<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }
    /// Registers a container the test created itself (removed on drop as well).
    pub fn foreign(&self, container: &str) {
        self.extra.lock().unwrap().push(container.to_string());
    }
    /// Removes the guard's containers now (also done on drop).
    pub fn run(&self) {
        let filter = format!("name=^/{}", self.prefix);
        let out = docker(&[
            "ps",
            "-a",
            "--filter",
            "label=k1s=pod",
            "--filter",
            &filter,
            "--format",
            "{{.Names}}",
        ]);
        let mut names: Vec<String> = out
            .stdout
            .lines()
            .map(|n| n.trim().trim_start_matches('/').to_string())
            .filter(|n| n.starts_with(&self.prefix))
            .collect();
        names.extend(self.extra.lock().unwrap().iter().cloned());
        if names.is_empty() {
            return;
        }
        let mut args = vec!["rm", "-f"];
        args.extend(names.iter().map(String::as_str));
        let _ = docker(&args);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

// ------------------------------------------------------------------ manifests

/// One of the handout's example manifests (`examples/<file>`) as JSON.
pub fn example(file: &str) -> Value {
    let path = images::repo_root().join("examples").join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The handout's `examples/pod.yaml` renamed to `name`, labelled `app: <app>` (its
/// `version: "1.0"` label kept), its container named `web` with `image`.
pub fn pod_manifest(name: &str, app: &str, image: &str) -> Value {
    let mut pod = example("pod.yaml");
    pod["metadata"]["name"] = json!(name);
    pod["metadata"]["labels"]["app"] = json!(app);
    pod["spec"]["containers"][0]["name"] = json!("web");
    pod["spec"]["containers"][0]["image"] = json!(image);
    pod
}

/// The same pod with `args` for the workload (e.g. `["exit","--code","1"]`).
pub fn pod_with_args(name: &str, app: &str, image: &str, args: &[&str]) -> Value {
    let mut pod = pod_manifest(name, app, image);
    pod["spec"]["containers"][0]["args"] = json!(args);
    pod
}

/// YAML text of a manifest (checked to read back as the same value).
pub fn to_yaml(v: &Value) -> String {
    let text = serde_saphyr::to_string(v).expect("serialize YAML");
    let back: Value = serde_saphyr::from_str(&text).expect("re-read YAML");
    assert_eq!(&back, v, "YAML round trip changed the manifest:\n{text}");
    text
}

// ------------------------------------------------------------------ pod helpers

/// `GET /k1s/pod/NAME` body when 200.
pub fn get_pod(server: &Server, name: &str) -> Option<Value> {
    let r = server.get(&format!("/k1s/pod/{name}"));
    match r.status {
        200 => Some(r.body),
        404 => None,
        _ => panic!("GET /k1s/pod/{name}: unexpected {r:?}"),
    }
}

/// Names in `GET /k1s/pod[?labels=…]`.
pub fn list_pod_names(server: &Server, labels: Option<&str>) -> Vec<String> {
    let path = match labels {
        Some(l) => format!("/k1s/pod?labels={l}"),
        None => "/k1s/pod".to_string(),
    };
    let r = server.get(&path);
    assert_eq!(r.status, 200, "GET {path}: {r:?}");
    r.body
        .as_array()
        .unwrap_or_else(|| panic!("GET {path} is not a list: {r:?}"))
        .iter()
        .map(|p| p["name"].as_str().expect("pod name").to_string())
        .collect()
}

/// POSTs a pod as JSON and asserts 201.
pub fn create_pod(server: &Server, pod: &Value) -> Value {
    let r = server.post_json("/k1s/pod", pod);
    assert_eq!(r.status, 201, "POST /k1s/pod: {r:?}");
    r.body
}

/// Waits until the pod is Running with a container id and an address; returns podExtra.
pub fn wait_running(server: &Server, name: &str) -> Value {
    wait_for(POD_DEADLINE, &format!("pod {name} Running"), || {
        let p = get_pod(server, name).ok_or("404")?;
        if p["status"] == "Running" && p["id"].is_string() && p["addr"].is_string() {
            Ok(p)
        } else {
            Err(brief(&p))
        }
    })
}

/// The status-relevant fields of a pod, for failure messages.
pub fn brief(p: &Value) -> String {
    json!({
        "id": p["id"], "status": p["status"], "reason": p["reason"],
        "restartCount": p["restartCount"], "addr": p["addr"], "state": p["state"],
    })
    .to_string()
}

/// True for a full Docker container id (64 lowercase hex digits).
pub fn is_full_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

// ====================================================================== HPA tests
// Added for tests/hpa/. Keep this block together; other areas append their own blocks.

/// Tests that burn CPU take turns: the machine has 2 cores, and two autoscaling tests
/// burning at once would starve each other's pods (and each other's utilization
/// figures). Hold [`cpu_heavy`] for the whole of such a test, declared FIRST so that it
/// is released after the test's [`Cleanup`] removed its burning containers.
pub static CPU_HEAVY: Mutex<()> = Mutex::new(());

/// Takes [`CPU_HEAVY`] (a panicked holder does not poison it for the others).
pub fn cpu_heavy() -> std::sync::MutexGuard<'static, ()> {
    CPU_HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}
