//! The test images themselves (no K1s server): they serve, obey `args`, and stop at once.

use crate::support::*;
use std::time::{Duration, Instant};

/// Removes the plain containers these tests run (they carry no `k1s=pod` label).
struct Plain(String);
impl Drop for Plain {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

#[test]
fn http_image_serves_and_stops_at_once_on_sigterm() {
    ensure_images();
    let name = unique("img-http");
    let _guard = Plain(name.clone());
    let port = free_host_port();
    let publish = format!("127.0.0.1:{port}:80");
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--hostname",
        &name,
        "-p",
        &publish,
        HTTP_IMAGE,
    ]);
    let url = format!("http://127.0.0.1:{port}/hello");
    let r = wait_for(Duration::from_secs(20), "the http image to answer", || {
        http_get(&url)
    });
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.text.contains(&format!("host={name}")) && r.text.contains("path=/hello"),
        "unexpected body: {r:?}"
    );
    let logs = docker_ok(&["logs", &name]);
    assert!(logs.contains("k1s-workload serve started"), "logs: {logs}");

    // PID 1 must honour SIGTERM: docker stop returns long before its 30 s grace.
    let t = Instant::now();
    docker_ok(&["stop", "-t", "30", &name]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "docker stop took {:?}: the workload ignores SIGTERM",
        t.elapsed()
    );
    let c = inspect(&name).expect("container still exists");
    assert_eq!(c["State"]["ExitCode"], 0, "exit code after SIGTERM");
}

#[test]
fn workload_image_obeys_args_exit_code_and_print() {
    ensure_images();
    let name = unique("img-exit");
    let _guard = Plain(name.clone());
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        WORKLOAD_IMAGE,
        "exit",
        "--code",
        "7",
        "--after-ms",
        "50",
    ]);
    assert_eq!(docker_ok(&["wait", &name]), "7", "docker wait: exit code");
    let c = inspect(&name).expect("container exists");
    assert_eq!(c["State"]["ExitCode"], 7);
    let logs = docker_ok(&["logs", &name]);
    assert!(logs.contains("k1s-workload exit started"), "logs: {logs}");

    let name2 = unique("img-print");
    let _guard2 = Plain(name2.clone());
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name2,
        WORKLOAD_IMAGE,
        "print",
        "--lines",
        "3",
    ]);
    let logs = wait_until(Duration::from_secs(20), "three printed lines", || {
        let l = docker_ok(&["logs", &name2]);
        l.contains("line 3").then_some(l)
    });
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines[1..], ["line 1", "line 2", "line 3"], "logs: {logs}");
    // print keeps running after its lines.
    assert_eq!(container_state(&name2).map(|s| s.0), Some(true));
}

#[test]
fn hang_mode_ignores_sigterm_until_sigkill() {
    ensure_images();
    let name = unique("img-hang");
    let _guard = Plain(name.clone());
    docker_ok(&["run", "-d", "--name", &name, WORKLOAD_IMAGE, "hang"]);
    wait_until(Duration::from_secs(20), "the hang start line", || {
        docker_ok(&["logs", &name])
            .contains("k1s-workload hang started")
            .then_some(())
    });
    // SIGTERM is ignored: docker stop waits its whole 1 s grace, then SIGKILLs.
    let t = Instant::now();
    docker_ok(&["stop", "-t", "1", &name]);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "hang exited on SIGTERM after {:?}",
        t.elapsed()
    );
    let c = inspect(&name).expect("container still exists");
    assert_eq!(c["State"]["ExitCode"], 137, "killed by SIGKILL");
}
