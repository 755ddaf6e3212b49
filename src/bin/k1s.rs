//! `k1s`: the K1s server — the core plus the REST API, in the foreground.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use k1s::api::{AppState, router};
use k1s::runtime::docker::Docker;
use k1s::store::KeySource;
use k1s::{Config, K1s};

/// A small Kubernetes for one machine, on the Docker engine.
#[derive(Parser, Debug)]
#[command(name = "k1s", version, about)]
struct Args {
    /// Address to listen on; anything but loopback needs a token.
    #[arg(long, env = "K1S_LISTEN", default_value = "127.0.0.1")]
    listen: String,
    /// Port to listen on.
    #[arg(long, env = "K1S_PORT", default_value_t = 8080)]
    port: u16,
    /// SQLite database file (created on first start).
    #[arg(long, env = "K1S_DB")]
    db: Option<PathBuf>,
    /// Access token clients must send as `Authorization: Bearer <token>`.
    #[arg(long, env = "K1S_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the access token.
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// How often HorizontalPodAutoscalers are evaluated (e.g. 5s, 500ms, 1m).
    #[arg(long, env = "K1S_HPA_SYNC_PERIOD", default_value = "5s", value_parser = parse_duration)]
    hpa_sync_period: Duration,
    /// Most replicas a ReplicaSet may ask for.
    #[arg(long, env = "K1S_MAX_REPLICAS", default_value_t = 1000)]
    max_replicas: u32,
    /// Allow pods with host power (privileged, host namespaces, added capabilities).
    #[arg(long)]
    allow_host_power: bool,
    /// The key that encrypts Secrets in the database (32 bytes, raw or base64); by
    /// default `<db>.key`, created with mode 0600 on first start.
    #[arg(long, env = "K1S_ENCRYPTION_KEY_FILE")]
    encryption_key_file: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("not a duration: {s:?} (use ms, s, m or h)")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("duration must be positive: {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `$XDG_DATA_HOME/k1s/k1s.db`, else `~/.local/share/k1s/k1s.db`.
fn default_db() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("k1s").join("k1s.db")
}

fn is_loopback(ip: &IpAddr) -> bool {
    ip.is_loopback()
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("k1s: {msg}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("K1S_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> ExitCode {
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => Some(t.trim().to_string()),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) => return fail(format!("cannot read token file {}: {e}", f.display())),
        },
        (None, None) => None,
    }
    .filter(|t| !t.is_empty());
    let ip: IpAddr = match args.listen.parse() {
        Ok(ip) => ip,
        Err(_) if args.listen == "localhost" => IpAddr::from([127, 0, 0, 1]),
        Err(_) => return fail(format!("--listen: not an IP address: {:?}", args.listen)),
    };
    if !is_loopback(&ip) && token.is_none() {
        return fail(format!(
            "refusing to listen on {ip} without a token: set --token, --token-file or K1S_TOKEN, or listen on 127.0.0.1"
        ));
    }
    let db = args.db.clone().unwrap_or_else(default_db);
    let mut config = Config::new(db.clone());
    config.allow_host_power = args.allow_host_power;
    config.max_replicas = args.max_replicas;
    config.hpa_sync_period = args.hpa_sync_period;
    config.encryption_key = match &args.encryption_key_file {
        Some(p) => KeySource::File(p.clone()),
        None => KeySource::BesideDatabase,
    };
    let key_shown = match &args.encryption_key_file {
        Some(p) => p.display().to_string(),
        None => k1s::store::key_path_for(&db).display().to_string(),
    };

    let addr = SocketAddr::new(ip, args.port);
    // Bind before init so that a taken port fails at once, but answer only after init.
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on {addr}: {e}")),
    };
    let docker = match Docker::connect().await {
        Ok(d) => d,
        Err(e) => return fail(format!("cannot set up the Docker client: {e}")),
    };
    let k1s = match K1s::init(config, Arc::new(docker)).await {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    println!(
        "k1s {} listening on http://{addr} (db {}, encryption key {key_shown}, instance {}, token {}, hpa sync period {:?}, max replicas {}, host power {})",
        env!("CARGO_PKG_VERSION"),
        db.display(),
        k1s.instance_id(),
        if token.is_some() { "required" } else { "none" },
        args.hpa_sync_period,
        args.max_replicas,
        if args.allow_host_power {
            "allowed"
        } else {
            "refused"
        },
    );
    let app = router(AppState {
        k1s: k1s.clone(),
        token: token.map(Arc::from),
    });
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        tracing::info!("shutting down; pods keep running");
        // The control loops stop first: no reconcile starts while the server drains.
        k1s.shutdown();
        let _ = stop_tx.send(true);
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown);
    // Open connections (a client's watch) must not hold the exit past 10 s
    // (docs/decisions.md, "Crash recovery"): requests in flight get a few seconds, then
    // the process ends. Every acknowledged write is already in SQLite, so nothing is
    // lost by not waiting longer.
    let deadline = async move {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    tokio::select! {
        r = server => match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("server error: {e}")),
        },
        () = deadline => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
