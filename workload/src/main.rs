//! `k1s-workload`: the test workload of K1s's integration tests and benchmarks.
//!
//! One small static binary (std only) that runs as PID 1 in a `docker import`ed scratch
//! image. Modes:
//!
//! ```text
//! k1s-workload serve [--port 80]                 HTTP/1.1: every request gets 200 and a short body
//!                                                naming the host (GET /env/NAME answers $NAME,
//!                                                GET /file/PATH the content of /PATH)
//! k1s-workload burn --millicores N               keep about N/1000 of one CPU busy (100 ms duty cycle,
//!                                                one thread per started 1000 millicores)
//! k1s-workload exit --code N [--after-ms M]      print, wait M ms (default 0), exit with code N
//! k1s-workload print --lines N [--interval-ms M] print lines "line 1" … "line N", then keep running
//! k1s-workload sleep                             run until signalled
//! k1s-workload hang                              run forever, IGNORING SIGTERM/SIGINT (only
//!                                                SIGKILL ends it: tests of grace periods)
//! ```
//!
//! Every mode first prints one start line to stdout, `k1s-workload <mode> started: …`.
//!
//! Signals: a process that is PID 1 in a container ignores every signal it has no
//! handler for, so SIGTERM and SIGINT get a handler that calls `_exit(0)` at once: a
//! `docker stop` (or K1s deleting the pod) ends the workload immediately, with exit
//! code 0 (the container then reads as Completed, not Error).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

unsafe extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn _exit(code: i32) -> !;
}

extern "C" fn ignore_signal(_sig: i32) {}

extern "C" fn on_signal(_sig: i32) {
    // Only async-signal-safe calls here: _exit does not run atexit handlers or flush.
    unsafe { _exit(0) }
}

fn install_signal_handlers() {
    unsafe {
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
    }
}

const USAGE: &str = "usage: k1s-workload serve [--port P] | burn --millicores N | \
exit --code N [--after-ms M] | print --lines N [--interval-ms M] | sleep | hang";

fn main() -> ExitCode {
    install_signal_handlers();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("k1s-workload: {msg}");
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Parses `--name value` pairs after the mode; every option is an unsigned integer.
fn options(rest: &[String], allowed: &[&str]) -> Result<Vec<(String, u64)>, String> {
    let mut out = Vec::new();
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .filter(|n| allowed.contains(n))
            .ok_or_else(|| format!("unknown argument {flag:?}"))?;
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse::<u64>()
            .map_err(|e| format!("{flag}: {e}"))?;
        out.push((name.to_string(), value));
    }
    Ok(out)
}

fn opt(opts: &[(String, u64)], name: &str) -> Option<u64> {
    opts.iter().rev().find(|(n, _)| n == name).map(|(_, v)| *v)
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let Some(mode) = args.first() else {
        return Err("missing mode".into());
    };
    let rest = &args[1..];
    match mode.as_str() {
        "serve" => {
            let opts = options(rest, &["port"])?;
            let port = opt(&opts, "port").unwrap_or(80);
            let port = u16::try_from(port).map_err(|_| format!("bad port {port}"))?;
            serve(port)
        }
        "burn" => {
            let opts = options(rest, &["millicores"])?;
            let mc = opt(&opts, "millicores").ok_or("burn needs --millicores N")?;
            burn(mc)
        }
        "exit" => {
            let opts = options(rest, &["code", "after-ms"])?;
            let code = opt(&opts, "code").ok_or("exit needs --code N")?;
            let code = u8::try_from(code).map_err(|_| format!("bad exit code {code}"))?;
            let after = opt(&opts, "after-ms").unwrap_or(0);
            say(&format!(
                "k1s-workload exit started: exiting with code {code} after {after} ms"
            ));
            thread::sleep(Duration::from_millis(after));
            say(&format!("k1s-workload exit: exiting with code {code}"));
            Ok(ExitCode::from(code))
        }
        "print" => {
            let opts = options(rest, &["lines", "interval-ms"])?;
            let lines = opt(&opts, "lines").ok_or("print needs --lines N")?;
            let interval = opt(&opts, "interval-ms").unwrap_or(0);
            say(&format!(
                "k1s-workload print started: {lines} lines, every {interval} ms"
            ));
            for i in 1..=lines {
                say(&format!("line {i}"));
                if interval > 0 {
                    thread::sleep(Duration::from_millis(interval));
                }
            }
            forever()
        }
        "sleep" => {
            options(rest, &[])?;
            say(&format!("k1s-workload sleep started: host {}", hostname()));
            forever()
        }
        "hang" => {
            options(rest, &[])?;
            unsafe {
                signal(SIGTERM, ignore_signal);
                signal(SIGINT, ignore_signal);
            }
            say(&format!(
                "k1s-workload hang started: ignoring SIGTERM and SIGINT, host {}",
                hostname()
            ));
            forever()
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown mode {other:?}")),
    }
}

/// Prints one line to stdout and flushes it (docker logs sees it at once).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn forever() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// The pod's name as the container sees it: $HOSTNAME, else /etc/hostname.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

// ---------------------------------------------------------------- serve

fn serve(port: u16) -> Result<ExitCode, String> {
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let host = hostname();
    say(&format!(
        "k1s-workload serve started: listening on {addr}, host {host}"
    ));
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let host = host.clone();
                thread::spawn(move || {
                    let _ = handle(stream, &host);
                });
            }
            Err(e) => {
                eprintln!("k1s-workload: accept: {e}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Serves requests on one connection (keep-alive) until the client closes it.
fn handle(stream: TcpStream, host: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let request_line = request_line.trim_end().to_string();
        if request_line.is_empty() {
            continue; // stray CRLF between requests
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let version = parts.next().unwrap_or("HTTP/1.0").to_string();

        let mut content_length: u64 = 0;
        let mut keep_alive = version == "HTTP/1.1";
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    if value.eq_ignore_ascii_case("close") {
                        keep_alive = false;
                    } else if value.eq_ignore_ascii_case("keep-alive") {
                        keep_alive = true;
                    }
                }
            }
        }
        if content_length > 0 {
            std::io::copy(
                &mut (&mut reader).take(content_length),
                &mut std::io::sink(),
            )?;
        }

        let (status, body) = if let Some(name) = path.strip_prefix("/env/") {
            match std::env::var(name) {
                Ok(v) => ("200 OK", format!("{v}\n")),
                Err(_) => ("404 Not Found", format!("no variable {name}\n")),
            }
        } else if let Some(file) = path.strip_prefix("/file/") {
            // The file's content as it is (no newline added).
            match std::fs::read_to_string(format!("/{file}")) {
                Ok(v) => ("200 OK", v),
                Err(e) => ("404 Not Found", format!("cannot read /{file}: {e}\n")),
            }
        } else {
            ("200 OK", format!("k1s-workload host={host} path={path}\n"))
        };
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
            body.len()
        );
        writer.write_all(head.as_bytes())?;
        if method != "HEAD" {
            writer.write_all(body.as_bytes())?;
        }
        writer.flush()?;
        if !keep_alive {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------- burn

const PERIOD: Duration = Duration::from_millis(100);

fn burn(millicores: u64) -> Result<ExitCode, String> {
    let threads = millicores.div_ceil(1000).max(1);
    say(&format!(
        "k1s-workload burn started: {millicores} millicores on {threads} thread(s), host {}",
        hostname()
    ));
    if millicores == 0 {
        forever();
    }
    // Spread the load evenly: each thread busy for share/1000 of every period.
    let share = millicores as f64 / threads as f64 / 1000.0;
    let busy = PERIOD.mul_f64(share.min(1.0));
    let mut handles = Vec::new();
    for _ in 0..threads {
        handles.push(thread::spawn(move || burn_thread(busy)));
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(ExitCode::SUCCESS)
}

fn burn_thread(busy: Duration) {
    let mut period_start = Instant::now();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    loop {
        while period_start.elapsed() < busy {
            for _ in 0..1000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
            }
            std::hint::black_box(x);
        }
        let next = period_start + PERIOD;
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
            period_start = next;
        } else {
            period_start = now; // fell behind (CPU contention): start a fresh period
        }
    }
}
