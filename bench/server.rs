//! The K1s server under test: the real `k1s` binary on a free loopback port with a
//! database of its own, and a small HTTP client for it (ureq, keep-alive).

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Server {
    child: Option<Child>,
    pub base: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub pid: u32,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

/// An HTTP client for the server: keep-alive, statuses returned rather than errors,
/// a bound on every request so nothing hangs.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

impl Server {
    /// Starts `k1s` and waits (up to 60 s) for `/healthz` to answer 200.
    pub fn start() -> Result<Server, String> {
        let dir = tempfile::Builder::new()
            .prefix("k1s-bench-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let port = free_port()?;
        let log = dir.path().join("server.log");
        let out = File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("dup log: {e}"))?;
        let bin = env!("CARGO_BIN_EXE_k1s");
        let child = Command::new(bin)
            .arg("--db")
            .arg(dir.path().join("k1s.db"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--listen")
            .arg("127.0.0.1")
            .env_remove("K1S_TOKEN")
            .env(
                "RUST_LOG",
                std::env::var("K1S_BENCH_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        let pid = child.id();
        let mut server = Server {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            addr: format!("127.0.0.1:{port}"),
            pid,
            log,
            _dir: dir,
        };
        let a = agent();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = server.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                return Err(format!(
                    "k1s exited at start ({st}):\n{}",
                    server.log_tail(20)
                ));
            }
            if let Ok(r) = a.get(format!("{}/healthz", server.base)).call()
                && r.status() == 200
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "k1s did not become healthy within 60 s:\n{}",
                    server.log_tail(20)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The last `n` lines of the server's output.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Resident memory of the server process (kB), from `/proc/PID/status`.
    pub fn rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// SIGTERM (the server must exit within 10 s), SIGKILL past 15 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("k1s did not exit within 15 s of SIGTERM; killing it");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The answer to one request: status and body as JSON (`Null` when not JSON).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Answer, String> {
    let mut r = r.map_err(|e| format!("HTTP: {e}"))?;
    let status = r.status().as_u16();
    let text = r
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("HTTP body: {e}"))?;
    Ok(Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    })
}

pub fn post_json(a: &ureq::Agent, url: &str, body: &Value) -> Result<Answer, String> {
    answer(a.post(url).send_json(body))
}

pub fn delete(a: &ureq::Agent, url: &str) -> Result<Answer, String> {
    answer(a.delete(url).call())
}

pub fn get(a: &ureq::Agent, url: &str) -> Result<Answer, String> {
    answer(a.get(url).call())
}
