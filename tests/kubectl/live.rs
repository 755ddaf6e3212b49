//! kubectl's live and companion commands: `get -w` seeing a pod heal, `logs` and
//! `logs -f`, `scale`, `autoscale` (a protobuf body), `top pod`, `explain`, and a
//! `delete` whose wait (list + watch) completes without errors.

use super::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};

fn rs_yaml(name: &str, app: &str, replicas: u32) -> String {
    manifest(
        "rs.yaml",
        &[
            ("test-rs", name),
            ("web-server", app),
            ("image: nginx", &format!("image: {HTTP_IMAGE}")),
            ("replicas: 3", &format!("replicas: {replicas}")),
        ],
    )
}

/// A kubectl that keeps running (`-w`, `-f`): its stdout lines arrive on a channel.
struct Streaming {
    child: Child,
    lines: Receiver<String>,
}

impl Streaming {
    fn start(k: &Kube, args: &[&str]) -> Streaming {
        let mut child = k
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kubectl");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Streaming { child, lines }
    }

    /// Reads lines until one satisfies `pred`; every line read is returned.
    fn until(&self, what: &str, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = std::time::Instant::now() + POD_DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = pred(&l);
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => panic!("kubectl never printed {what}; it printed {seen:#?}"),
            }
        }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn get_watch_sees_a_removed_container_heal_and_delete_waits_cleanly() {
    let cleanup = Cleanup::new("kcw");
    let k = Kube::start();
    let (rs, app) = (cleanup.name("rs"), cleanup.name("app"));
    let f = k.file("rs.yaml", &rs_yaml(&rs, &app, 1));
    k.ok(&["create", "-f", f.to_str().unwrap()]);
    let sel = format!("app={app}");
    let watch = Streaming::start(&k, &["get", "pods", "-w", "-l", &sel]);
    let seen = watch.until("a Running pod", |l| l.contains(" Running "));
    let pod = seen
        .last()
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    // Remove its container behind K1s's back: the watch shows it heal.
    let id = wait_for(POD_DEADLINE, "the pod's container", || {
        let out = docker(&["ps", "-q", "--filter", &format!("name=^{pod}$")]);
        let id = out.stdout.trim().to_string();
        if id.is_empty() {
            Err("none yet".into())
        } else {
            Ok(id)
        }
    });
    docker_ok(&["rm", "-f", &id]);
    watch.until("the pod running again with 1 restart", |l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.first() == Some(&pod.as_str())
            && cols.get(2) == Some(&"Running")
            && cols.get(3) == Some(&"1")
    });
    drop(watch);

    // delete waits for the pod to go (list + watch by name), and says nothing else.
    let o = k.ok(&["delete", "pod", &pod]);
    assert!(
        o.stdout.contains(&format!("pod \"{pod}\" deleted")),
        "{o:?}"
    );
    assert!(!o.stderr.contains("Failed to watch"), "{o:?}");
    let o = k.run(&["get", "pod", &pod]);
    assert_eq!(o.code, 1, "gone when delete returned: {o:?}");
    k.ok(&["delete", "rs", &rs]);
}

#[test]
fn logs_scale_autoscale_top_and_explain() {
    let cleanup = Cleanup::new("kcl");
    let k = Kube::start();
    let (rs, app) = (cleanup.name("rs"), cleanup.name("app"));
    let f = k.file("rs.yaml", &rs_yaml(&rs, &app, 1));
    k.ok(&["create", "-f", f.to_str().unwrap()]);
    let sel = format!("app={app}");
    let pod = wait_output(
        &k,
        &["get", "pods", "-l", &sel, "-o", "name"],
        "one pod",
        |s| s.lines().count() == 1,
    )
    .trim()
    .trim_start_matches("pod/")
    .to_string();
    wait_output(&k, &["get", "pod", &pod], "the pod running", |s| {
        s.contains(" Running ")
    });

    // logs, and logs -f (the stream stays open; its first line is the output so far)
    let logs = wait_output(&k, &["logs", &pod], "the pod's output", |s| {
        s.contains("serve started")
    });
    assert!(logs.contains(&pod), "{logs}");
    let follow = Streaming::start(&k, &["logs", "-f", &pod]);
    follow.until("the output, followed", |l| l.contains("serve started"));
    drop(follow);

    // scale, through the scale subresource
    let o = k.ok(&["scale", "rs", &rs, "--replicas=2"]);
    assert!(
        o.stdout.contains(&format!("replicaset.apps/{rs} scaled")),
        "{o:?}"
    );
    wait_output(
        &k,
        &["get", "rs", &rs, "-o", "jsonpath={.status.replicas}"],
        "2 replicas",
        |s| s.trim() == "2",
    );

    // autoscale: kubectl POSTs the autoscaling/v1 HPA as protobuf
    let o = k.ok(&[
        "autoscale",
        "rs",
        &rs,
        "--min=1",
        "--max=3",
        "--cpu-percent=50",
    ]);
    assert!(
        o.stdout.contains(&format!(
            "horizontalpodautoscaler.autoscaling/{rs} autoscaled"
        )),
        "{o:?}"
    );
    let o = k.ok(&["get", "hpa", &rs]);
    assert!(o.stdout.contains(&format!("ReplicaSet/{rs}")), "{o:?}");
    assert!(o.stdout.contains("/50%"), "{o:?}");
    // The stored v2 form read back at the v1 URL kubectl posted to.
    let raw = format!("/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/{rs}");
    let v1 = k.ok(&["get", "--raw", &raw]);
    assert!(
        v1.stdout.contains("\"targetCPUUtilizationPercentage\":50"),
        "{v1:?}"
    );

    // top, from the metrics API
    let top = wait_output(&k, &["top", "pod", &pod], "the pod's metrics", |s| {
        s.contains(&pod)
    });
    assert!(
        top.contains("CPU(cores)") && top.contains("MEMORY(bytes)"),
        "{top}"
    );

    // explain, from the OpenAPI v3 schemas
    let e = k.ok(&["explain", "pod.spec.containers.image"]);
    assert!(e.stdout.contains("FIELD: image <string>"), "{e:?}");
    let e = k.ok(&["explain", "rs.spec.replicas"]);
    assert!(
        e.stdout.contains("Replicas is the number of desired pods"),
        "{e:?}"
    );

    k.ok(&["delete", "hpa", &rs]);
    k.ok(&["delete", "rs", &rs]);
}
