//! K1s as the kubelet (docs/decisions.md, "Restarts"): containers killed or removed
//! behind its back, restart policies, crash loops, and images that cannot be had.

use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// `reason` of a pod: the top-level field, else the waiting/terminated state's.
fn reason(p: &Value) -> Option<&str> {
    p["reason"]
        .as_str()
        .or_else(|| p["state"]["waiting"]["reason"].as_str())
        .or_else(|| p["state"]["terminated"]["reason"].as_str())
}

/// A pod of the `workload` image running `args`, without ports.
fn workload_pod(name: &str, app: &str, args: &[&str], policy: Option<&str>) -> Value {
    let mut pod = pod_with_args(name, app, WORKLOAD_IMAGE, args);
    pod["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("ports");
    if let Some(p) = policy {
        pod["spec"]["restartPolicy"] = json!(p);
    }
    pod
}

#[test]
fn docker_kill_of_a_pod_container_restarts_it() {
    let cleanup = Cleanup::new("kill");
    let server = Server::start();
    let name = cleanup.name("web");
    create_pod(&server, &pod_manifest(&name, &cleanup.prefix, HTTP_IMAGE));
    let before = wait_running(&server, &name);
    let id = before["id"].as_str().unwrap().to_string();
    let (_, started) = container_state(&id).unwrap();

    docker_ok(&["kill", &id]);
    let p = wait_for(POD_DEADLINE, "the killed pod to run again", || {
        let p = get_pod(&server, &name).ok_or("404")?;
        let cid = p["id"].as_str().unwrap_or("");
        let fresh = container_state(cid).is_some_and(|(run, at)| run && at != started);
        if p["status"] == "Running" && p["restartCount"].as_u64() >= Some(1) && fresh {
            Ok(p)
        } else {
            Err(brief(&p))
        }
    });
    assert_eq!(p["restartCount"], 1, "one kill, one restart: {}", brief(&p));
    assert_eq!(p["uid"], before["uid"], "the same pod");
    assert_eq!(p["name"], name.as_str());
    let ids = containers_of_pod(&name);
    assert_eq!(ids.len(), 1, "no stale container beside the pod: {ids:?}");
    assert_eq!(p["id"], ids[0].as_str());
    // It serves again.
    let addr = wait_running(&server, &name)["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("http://{addr}/");
    let r = wait_for(
        Duration::from_secs(30),
        "the restarted pod to serve",
        || http_get(&url),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn docker_rm_of_a_pod_container_recreates_it() {
    let cleanup = Cleanup::new("rm");
    let server = Server::start();
    let name = cleanup.name("web");
    create_pod(&server, &pod_manifest(&name, &cleanup.prefix, HTTP_IMAGE));
    let before = wait_running(&server, &name);
    let old_id = before["id"].as_str().unwrap().to_string();
    let old_count = before["restartCount"].as_u64().unwrap();

    docker_ok(&["rm", "-f", &old_id]);
    let p = wait_for(
        POD_DEADLINE,
        "the removed pod's container to be recreated",
        || {
            let p = get_pod(&server, &name).ok_or("404")?;
            match p["id"].as_str() {
                Some(id) if id != old_id && p["status"] == "Running" => Ok(p),
                _ => Err(brief(&p)),
            }
        },
    );
    let new_id = p["id"].as_str().unwrap();
    assert!(is_full_id(new_id));
    assert_eq!(
        p["restartCount"].as_u64(),
        Some(old_count + 1),
        "{}",
        brief(&p)
    );
    assert_eq!(p["uid"], before["uid"], "the same pod");
    assert_eq!(containers_of_pod(&name), [new_id.to_string()]);
    let c = inspect(new_id).expect("new container");
    assert_eq!(c["Name"], format!("/{name}"));
    assert_eq!(c["Config"]["Labels"]["k1s"], "pod");
    assert_eq!(c["Config"]["Labels"]["app"], cleanup.prefix.as_str());
}

#[test]
fn restart_policy_never_kill_makes_the_pod_failed() {
    let cleanup = Cleanup::new("never");
    let server = Server::start();
    let name = cleanup.name("w");
    let created = create_pod(
        &server,
        &workload_pod(&name, &cleanup.prefix, &["sleep"], Some("Never")),
    );
    let id = created["id"].as_str().expect("id").to_string();
    wait_running(&server, &name);

    docker_ok(&["kill", &id]);
    let p = wait_for(POD_DEADLINE, "the pod to be Failed", || {
        let p = get_pod(&server, &name).ok_or("404")?;
        if p["status"] == "Failed" {
            Ok(p)
        } else {
            Err(brief(&p))
        }
    });
    assert_eq!(
        p["state"]["terminated"]["exitCode"],
        137,
        "SIGKILL: {}",
        brief(&p)
    );
    // Not restarted; its last container is kept (for logs) until the pod is deleted.
    holds_for(Duration::from_secs(3), "a Never pod staying down", || {
        let p = get_pod(&server, &name).ok_or("pod vanished")?;
        if p["status"] != "Failed" || p["restartCount"] != 0 {
            return Err(brief(&p));
        }
        match container_state(&id) {
            Some((false, _)) => Ok(()),
            other => Err(format!("container {id}: {other:?}")),
        }
    });
    assert_eq!(containers_of_pod(&name), [id]);
}

#[test]
fn on_failure_exit_1_restarts_with_backoff_into_crash_loop() {
    let cleanup = Cleanup::new("crash");
    let server = Server::start();
    let name = cleanup.name("w");
    let pod = workload_pod(
        &name,
        &cleanup.prefix,
        &["exit", "--code", "1", "--after-ms", "300"],
        Some("OnFailure"),
    );
    let r = server.post_json("/k1s/pod", &pod);
    assert_eq!(r.status, 201, "{r:?}");

    // The first restart is at once.
    wait_for(Duration::from_secs(30), "a first restart", || {
        let p = get_pod(&server, &name).ok_or("404")?;
        if p["restartCount"].as_u64() >= Some(1) {
            Ok(())
        } else {
            Err(brief(&p))
        }
    });
    // Then Kubernetes' backoff, shown as CrashLoopBackOff.
    let p = wait_for(Duration::from_secs(30), "CrashLoopBackOff", || {
        let p = get_pod(&server, &name).ok_or("404")?;
        if reason(&p) == Some("CrashLoopBackOff") {
            Ok(p)
        } else {
            Err(brief(&p))
        }
    });
    let count = p["restartCount"].as_u64().unwrap();
    assert!(count >= 1, "{}", brief(&p));
    // After the 10 s backoff it is restarted again and the count goes up.
    wait_for(
        Duration::from_secs(45),
        "the restart after the backoff",
        || {
            let p = get_pod(&server, &name).ok_or("404")?;
            if p["restartCount"].as_u64() > Some(count) {
                Ok(())
            } else {
                Err(brief(&p))
            }
        },
    );
    let ids = containers_of_pod(&name);
    assert_eq!(ids.len(), 1, "one container at a time: {ids:?}");
}

#[test]
fn on_failure_exit_0_succeeds_without_restart() {
    let cleanup = Cleanup::new("done");
    let server = Server::start();
    let name = cleanup.name("w");
    let pod = workload_pod(
        &name,
        &cleanup.prefix,
        &["exit", "--code", "0", "--after-ms", "200"],
        Some("OnFailure"),
    );
    assert_eq!(server.post_json("/k1s/pod", &pod).status, 201);
    let p = wait_for(POD_DEADLINE, "the pod to succeed", || {
        let p = get_pod(&server, &name).ok_or("404")?;
        if p["status"] == "Succeeded" {
            Ok(p)
        } else {
            Err(brief(&p))
        }
    });
    assert_eq!(p["restartCount"], 0, "{}", brief(&p));
    assert_eq!(p["state"]["terminated"]["exitCode"], 0, "{}", brief(&p));
    let logs = p["logs"].as_str().unwrap_or("");
    assert!(
        logs.contains("exiting with code 0"),
        "logs of the last run: {logs:?}"
    );
    holds_for(
        Duration::from_secs(2),
        "a Succeeded pod staying done",
        || {
            let p = get_pod(&server, &name).ok_or("pod vanished")?;
            if p["status"] == "Succeeded" && p["restartCount"] == 0 {
                Ok(())
            } else {
                Err(brief(&p))
            }
        },
    );
}

#[test]
fn missing_image_shows_err_image_pull_and_pending() {
    let cleanup = Cleanup::new("pull");
    let server = Server::start();
    let name = cleanup.name("w");
    let pod = pod_manifest(&name, &cleanup.prefix, MISSING_IMAGE);
    let r = server.post_json("/k1s/pod", &pod);
    assert_eq!(r.status, 201, "{r:?}");
    assert!(
        r.body["id"].is_null(),
        "no container without an image: {r:?}"
    );

    let p = wait_for(POD_DEADLINE, "ErrImagePull", || {
        let p = get_pod(&server, &name).ok_or("404")?;
        match reason(&p) {
            Some("ErrImagePull" | "ImagePullBackOff") if p["status"] == "Pending" => Ok(p),
            _ => Err(brief(&p)),
        }
    });
    assert!(p["id"].is_null(), "{}", brief(&p));
    assert!(p["addr"].is_null(), "{}", brief(&p));
    let message = p["state"]["waiting"]["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "the engine's message: {}", brief(&p));
    assert!(containers_named(&name).is_empty());

    let r = server.delete(&format!("/k1s/pod/{name}"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(server.get(&format!("/k1s/pod/{name}")).status, 404);
}
