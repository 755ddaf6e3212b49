//! Several K1s servers on one Docker engine (docs/decisions.md, "Containers and
//! instances"): each sees and touches only its own containers.

use crate::support::*;
use std::time::Duration;

#[test]
fn two_servers_on_one_engine_never_touch_each_others_pods() {
    let cleanup = Cleanup::new("two");
    let mut a = Server::start();
    let mut b = Server::start();
    let name = cleanup.name("web");
    let app = cleanup.prefix.clone();
    create_pod(&a, &pod_manifest(&name, &app, HTTP_IMAGE));
    let p = wait_running(&a, &name);
    let id = p["id"].as_str().unwrap().to_string();
    let instance_a = inspect(&id).unwrap()["Config"]["Labels"]["k1s.io/instance"].clone();

    // B does not see A's pod, and refuses its name.
    assert!(!list_pod_names(&b, None).contains(&name));
    assert!(list_pod_names(&b, Some(&format!("app={app}"))).is_empty());
    assert_eq!(b.get(&format!("/k1s/pod/{name}")).status, 404);
    let r = b.post_json("/k1s/pod", &pod_manifest(&name, &app, HTTP_IMAGE));
    assert_eq!(r.status, 409, "B must refuse A's pod name: {r:?}");
    assert_eq!(b.delete(&format!("/k1s/pod/{name}")).status, 404);
    assert_eq!(containers_named(&name), vec![id.clone()]);

    // B's own pod carries another instance id.
    let mine = cleanup.name("b");
    let created = create_pod(&b, &pod_manifest(&mine, &app, HTTP_IMAGE));
    let b_id = created["id"].as_str().expect("id");
    let instance_b = inspect(b_id).unwrap()["Config"]["Labels"]["k1s.io/instance"].clone();
    assert!(instance_a.is_string() && instance_b.is_string());
    assert_ne!(
        instance_a, instance_b,
        "each server has its own instance id"
    );
    assert_eq!(
        list_pod_names(&b, Some(&format!("app={app}"))),
        vec![mine.clone()]
    );
    assert_eq!(
        list_pod_names(&a, Some(&format!("app={app}"))),
        vec![name.clone()]
    );

    // With A down, A's container dies: B neither restarts nor removes it, not even
    // when B itself restarts (its start-up cleanup is for its own leftovers only).
    a.stop_sigterm();
    docker_ok(&["kill", &id]);
    let (_, died_started) = container_state(&id).expect("container");
    let untouched = || match container_state(&id) {
        Some((false, at)) if at == died_started => Ok(()),
        other => Err(format!("A's container {id} was touched: {other:?}")),
    };
    holds_for(
        Duration::from_secs(3),
        "A's dead container left alone",
        untouched,
    );
    b.restart();
    holds_for(
        Duration::from_secs(3),
        "A's dead container left alone",
        untouched,
    );
    assert_eq!(containers_named(&name), vec![id.clone()]);
    assert!(!list_pod_names(&b, None).contains(&name));

    // A, back, restarts its own pod.
    a.restart();
    let p = wait_for(POD_DEADLINE, "A to restart its pod", || {
        let p = get_pod(&a, &name).ok_or("404")?;
        if p["status"] == "Running" && p["restartCount"].as_u64() >= Some(1) {
            Ok(p)
        } else {
            Err(brief(&p))
        }
    });
    assert_eq!(p["restartCount"], 1, "{}", brief(&p));
    assert_eq!(containers_of_pod(&name).len(), 1);
    // And B's pod was never disturbed by any of it.
    assert_eq!(get_pod(&b, &mine).unwrap()["restartCount"], 0);
}
