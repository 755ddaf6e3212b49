//! Test images of K1s, built locally (this machine has no registry).
//!
//! Self-contained (std only, shells out to `cargo`, `tar` and `docker`) so that the
//! benchmark harness can include it with `#[path = "../tests/support/images.rs"]`.
//!
//! [`ensure_images`] builds the `k1s-workload` binary (the `workload/` crate) as a static
//! executable, packs it alone into a tar (`/k1s-workload`), and `docker import`s that as
//! three tags that differ only in their default `CMD` (a pod's `args` override it):
//!
//! | tag                      | CMD                          |
//! | ------------------------ | ---------------------------- |
//! | [`HTTP_IMAGE`]           | `serve --port 80`            |
//! | [`BURN_IMAGE`]           | `burn --millicores 500`      |
//! | [`WORKLOAD_IMAGE`]       | `sleep`                      |
//!
//! Each image carries the label `k1s-test.digest` (a hash of the binary and the CMD):
//! an image already present with the same digest is not imported again. Several
//! processes calling this at once take turns on a lock file
//! (`workload/target/k1s-test-images.lock`), so the images are imported once.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// `serve --port 80`: answers every HTTP request with 200 and its host name.
pub const HTTP_IMAGE: &str = "k1s-test/http:1";
/// `burn --millicores 500`: holds about half of one CPU.
pub const BURN_IMAGE: &str = "k1s-test/burn:1";
/// `sleep`: runs until signalled.
pub const WORKLOAD_IMAGE: &str = "k1s-test/workload:1";
/// An image that is never built, on a registry address that refuses at once (loopback,
/// port 9): its pull fails without any traffic leaving the machine.
pub const MISSING_IMAGE: &str = "127.0.0.1:9/k1s-test/does-not-exist:1";

/// The workload's entrypoint inside every test image.
pub const WORKLOAD_PATH: &str = "/k1s-workload";

/// (tag, CMD as JSON array, exposed port)
const IMAGES: &[(&str, &str, Option<&str>)] = &[
    (HTTP_IMAGE, r#"["serve","--port","80"]"#, Some("80/tcp")),
    (BURN_IMAGE, r#"["burn","--millicores","500"]"#, None),
    (WORKLOAD_IMAGE, r#"["sleep"]"#, None),
];

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Builds and imports the test images once per process; panics with a clear message
/// when it cannot (no Docker engine, build failure): tests are never skipped quietly.
pub fn ensure_images() {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = RESULT.get_or_init(build_and_import) {
        panic!("k1s test images unavailable: {e}");
    }
}

/// The repository root (where the root Cargo.toml and `workload/` live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the static workload binary is built.
pub fn workload_binary() -> PathBuf {
    repo_root()
        .join("workload/target")
        .join(TARGET)
        .join("release/k1s-workload")
}

/// Fails unless `docker info` succeeds: the engine must be reachable.
pub fn check_docker() -> Result<(), String> {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map_err(|e| format!("cannot run the docker CLI: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the Docker engine is unreachable (`docker info` failed: {})",
            one_line(&out.stderr)
        ));
    }
    Ok(())
}

fn build_and_import() -> Result<(), String> {
    check_docker()?;
    // One process at a time past this point (several test binaries, the benchmark):
    // the others then find the images already imported and import nothing.
    let lock_dir = repo_root().join("workload/target");
    std::fs::create_dir_all(&lock_dir)
        .map_err(|e| format!("create {}: {e}", lock_dir.display()))?;
    let lock_path = lock_dir.join("k1s-test-images.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("lock {}: {e}", lock_path.display()))?;
    let result = build_and_import_locked();
    let _ = lock.unlock();
    result
}

fn build_and_import_locked() -> Result<(), String> {
    let binary = build_workload()?;
    let bytes = std::fs::read(&binary).map_err(|e| format!("read {}: {e}", binary.display()))?;
    let bin_hash = fnv1a(&bytes);

    let todo: Vec<_> = IMAGES
        .iter()
        .map(|&(tag, cmd, port)| {
            let digest = format!("{:016x}", fnv1a_more(bin_hash, cmd.as_bytes()));
            (tag, cmd, port, digest)
        })
        .filter(|(tag, _, _, digest)| image_digest(tag).is_none_or(|(_, old)| old != *digest))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }

    let dir = scratch_dir()?;
    let result = (|| {
        std::fs::copy(&binary, dir.join("k1s-workload"))
            .map_err(|e| format!("copy workload binary: {e}"))?;
        let tar = dir.join("rootfs.tar");
        run(Command::new("tar")
            .arg("-C")
            .arg(&dir)
            .args(["--owner=0", "--group=0", "--mode=0755", "-cf"])
            .arg(&tar)
            .arg("k1s-workload"))?;
        for (tag, cmd, port, digest) in &todo {
            let replaced = image_digest(tag).map(|(id, _)| id);
            let mut c = Command::new("docker");
            c.arg("import")
                .arg("--change")
                .arg(format!(r#"ENTRYPOINT ["{WORKLOAD_PATH}"]"#))
                .arg("--change")
                .arg(format!("CMD {cmd}"))
                .arg("--change")
                .arg(format!("LABEL k1s-test.digest={digest}"));
            if let Some(p) = port {
                c.arg("--change").arg(format!("EXPOSE {p}"));
            }
            c.arg(&tar).arg(tag);
            run(&mut c)?;
            // The older build of ours this replaced is now untagged: remove it unless a
            // container still uses it (then `docker rmi` refuses, which is fine).
            if let Some(old) = replaced {
                let _ = Command::new("docker").args(["rmi", &old]).output();
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `cargo build --release` of `workload/` as a static binary, in `workload/target`.
fn build_workload() -> Result<PathBuf, String> {
    let root = repo_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.args(["build", "--release", "--quiet", "--target", TARGET])
        .arg("--manifest-path")
        .arg(root.join("workload/Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("workload/target"))
        // Paths remapped so that every checkout builds the same bytes (same digest).
        .env(
            "RUSTFLAGS",
            format!(
                "-C target-feature=+crt-static --remap-path-prefix={}=.",
                root.display()
            ),
        )
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    run(&mut c).map_err(|e| format!("building the workload binary failed: {e}"))?;
    let bin = workload_binary();
    if !bin.is_file() {
        return Err(format!("workload binary missing at {}", bin.display()));
    }
    Ok(bin)
}

/// The id and `k1s-test.digest` label of a local image, if the image exists.
fn image_digest(tag: &str) -> Option<(String, String)> {
    let out = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            r#"{{.Id}} {{index .Config.Labels "k1s-test.digest"}}"#,
            tag,
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (id, digest) = text.trim().split_once(' ')?;
    (!digest.is_empty() && digest != "<no value>").then(|| (id.to_string(), digest.to_string()))
}

fn scratch_dir() -> Result<PathBuf, String> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "k1s-test-image-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn run(c: &mut Command) -> Result<Output, String> {
    let shown = format!("{c:?}");
    let out = c.output().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out)
}

fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_more(0xcbf2_9ce4_8422_2325, bytes)
}

fn fnv1a_more(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
