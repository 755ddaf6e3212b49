//! The real kubectl (`/usr/bin/kubectl`, 1.32) against a K1s server: discovery,
//! `get` with server-side Tables, `create -f` / `apply -f` (client- and server-side)
//! of the handout's manifests, `describe`, `delete`, errors, `--dry-run=server`; and
//! the live commands: `get -w`, `logs -f`, `scale`, `autoscale`, `top`, `explain`.
//!
//! Every test starts its own server and gives kubectl a fresh `--cache-dir`, so
//! discovery is never stale; names and labels come from the test's `Cleanup` prefix.

mod live;
mod objects;

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long one kubectl command may take.
const KUBECTL_DEADLINE: Duration = Duration::from_secs(60);

/// kubectl's outcome.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A server with a kubectl pointed at it (its own cache dir) and a dir for manifests.
pub struct Kube {
    pub server: Server,
    dir: tempfile::TempDir,
}

impl Kube {
    pub fn start() -> Kube {
        assert!(
            Path::new("/usr/bin/kubectl").exists(),
            "these tests need the real kubectl at /usr/bin/kubectl"
        );
        Kube {
            server: Server::start(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `kubectl --server … --cache-dir … ARGS`, not started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("/usr/bin/kubectl");
        cmd.arg("--server")
            .arg(self.server.url())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("no-kubeconfig"))
            .env("HOME", self.dir.path());
        cmd
    }

    /// Runs `kubectl --server … --cache-dir … ARGS`, bounded by a deadline.
    pub fn run(&self, args: &[&str]) -> Out {
        let mut cmd = self.command(&["--request-timeout=30s"]);
        cmd.args(args);
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start kubectl");
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(KUBECTL_DEADLINE) {
            Ok(Ok(o)) => Out {
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Ok(Err(e)) => panic!("kubectl {args:?}: {e}"),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("kubectl {args:?} did not finish within {KUBECTL_DEADLINE:?}");
            }
        }
    }

    /// Runs and requires exit 0.
    pub fn ok(&self, args: &[&str]) -> Out {
        let o = self.run(args);
        assert_eq!(o.code, 0, "kubectl {args:?}: {o:?}");
        o
    }

    /// Writes a manifest into the test's dir.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write manifest");
        p
    }
}

/// Polls `kubectl ARGS` until its stdout satisfies `pred`.
pub fn wait_output(k: &Kube, args: &[&str], what: &str, pred: impl Fn(&str) -> bool) -> String {
    wait_for(POD_DEADLINE, what, || {
        let o = k.run(args);
        if o.code == 0 && pred(&o.stdout) {
            Ok(o.stdout)
        } else {
            Err(format!("{o:?}"))
        }
    })
}

/// The handout's manifest `examples/<file>` as text, with `(from, to)` replacements,
/// each of which must apply.
pub fn manifest(file: &str, edits: &[(&str, &str)]) -> String {
    let path = images::repo_root().join("examples").join(file);
    let mut text = std::fs::read_to_string(&path).expect("read example");
    for (from, to) in edits {
        assert!(text.contains(from), "{file} lacks {from:?}");
        text = text.replace(from, to);
    }
    text
}
