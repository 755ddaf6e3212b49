//! Crash recovery (docs/decisions.md, "Crash recovery"): stopping or killing the server
//! never stops pods; after a restart the same pods are found again, not duplicated.

use crate::support::*;

/// Asserts the pod's one container is still the same running one, untouched.
fn assert_untouched(name: &str, id: &str, started: &str, when: &str) {
    assert_eq!(
        container_state(id),
        Some((true, started.to_string())),
        "{when}: container {id} must keep running, never restarted"
    );
    assert_eq!(containers_named(name), [id.to_string()], "{when}");
    assert_eq!(
        containers_of_pod(name),
        [id.to_string()],
        "{when}: one container"
    );
}

fn assert_found_again(server: &Server, name: &str, app: &str, id: &str, when: &str) {
    let p = wait_running(server, name);
    assert_eq!(p["id"], id, "{when}: same container: {}", brief(&p));
    assert_eq!(p["restartCount"], 0, "{when}: {}", brief(&p));
    assert_eq!(
        list_pod_names(server, Some(&format!("app={app}"))),
        [name.to_string()],
        "{when}: listed once"
    );
}

#[test]
fn pods_keep_running_across_server_sigterm_and_kill9() {
    let cleanup = Cleanup::new("recov");
    let mut server = Server::start();
    let app = cleanup.prefix.clone();
    let name = cleanup.name("web");
    let created = create_pod(&server, &pod_manifest(&name, &app, HTTP_IMAGE));
    let id = created["id"].as_str().expect("id").to_string();
    let p = wait_running(&server, &name);
    assert_eq!(p["id"], id.as_str());
    let (running, started) = container_state(&id).expect("container");
    assert!(running);

    // SIGTERM: exits within 10 s (asserted by stop_sigterm); the pod keeps running.
    server.stop_sigterm();
    assert_untouched(&name, &id, &started, "after SIGTERM");
    server.restart();
    assert_found_again(&server, &name, &app, &id, "restart after SIGTERM");
    assert_untouched(&name, &id, &started, "after restart 1");

    // kill -9: same again.
    server.kill9();
    assert_untouched(&name, &id, &started, "after kill -9");
    server.restart();
    assert_found_again(&server, &name, &app, &id, "restart after kill -9");
    assert_untouched(&name, &id, &started, "after restart 2");

    // Still a working pod: it can be deleted as usual.
    assert_eq!(server.delete(&format!("/k1s/pod/{name}")).status, 200);
    wait_until(POD_DEADLINE, "the container to be removed", || {
        inspect(&id).is_none().then_some(())
    });
}

#[test]
fn pod_whose_container_died_while_server_was_down_is_restarted() {
    let cleanup = Cleanup::new("downdie");
    let mut server = Server::start();
    let name = cleanup.name("web");
    create_pod(&server, &pod_manifest(&name, &cleanup.prefix, HTTP_IMAGE));
    let p = wait_running(&server, &name);
    let uid = p["uid"].clone();

    server.kill9();
    let id = p["id"].as_str().unwrap();
    docker_ok(&["kill", id]);
    assert_eq!(container_state(id).map(|s| s.0), Some(false));
    server.restart();

    // restartPolicy Always (the default): restarted at start-up, counted once.
    let p = wait_for(POD_DEADLINE, "the pod restarted after recovery", || {
        let p = get_pod(&server, &name).ok_or("404")?;
        if p["status"] == "Running" && p["restartCount"].as_u64() >= Some(1) {
            Ok(p)
        } else {
            Err(brief(&p))
        }
    });
    assert_eq!(p["restartCount"], 1, "{}", brief(&p));
    assert_eq!(p["uid"], uid, "the same pod");
    let ids = containers_of_pod(&name);
    assert_eq!(ids.len(), 1, "one container: {ids:?}");
    assert_eq!(container_state(&ids[0]).map(|s| s.0), Some(true));
}
