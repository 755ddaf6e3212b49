//! Names in use (docs/decisions.md, "Creating and deleting pods"): 409, and the
//! existing pod or container left untouched.

use crate::support::*;
use serde_json::json;
use std::sync::{Arc, Barrier};

#[test]
fn duplicate_pod_create_is_409_and_leaves_the_pod_untouched() {
    let cleanup = Cleanup::new("dup");
    let server = Server::start();
    let name = cleanup.name("web");
    let pod = pod_manifest(&name, &cleanup.prefix, HTTP_IMAGE);
    create_pod(&server, &pod);
    let before = wait_running(&server, &name);
    let id = before["id"].as_str().unwrap().to_string();
    let (_, started) = container_state(&id).expect("container exists");

    // Same name, different content: refused, nothing changes.
    let mut other = pod_manifest(&name, &unique("other"), WORKLOAD_IMAGE);
    other["metadata"]["labels"]["extra"] = json!("yes");
    let r = server.post_json("/k1s/pod", &other);
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.error().is_some_and(|e| !e.is_empty()), "{r:?}");
    let r = server.post_yaml("/k1s/pod", &to_yaml(&pod));
    assert_eq!(r.status, 409, "identical spec again: {r:?}");

    let after = get_pod(&server, &name).expect("pod still there");
    assert_eq!(after["id"], before["id"], "{}", brief(&after));
    assert_eq!(after["status"], "Running", "{}", brief(&after));
    assert_eq!(after["labels"], before["labels"]);
    assert_eq!(after["image"], HTTP_IMAGE);
    assert_eq!(after["restartCount"], 0);
    assert_eq!(
        container_state(&id),
        Some((true, started)),
        "the container kept running, never restarted"
    );
    assert_eq!(containers_of_pod(&name), [id]);
}

#[test]
fn concurrent_creates_of_one_name_make_exactly_one_pod() {
    const N: usize = 8;
    let cleanup = Cleanup::new("race");
    let server = Arc::new(Server::start());
    let name = cleanup.name("web");
    let pod = Arc::new(pod_manifest(&name, &cleanup.prefix, HTTP_IMAGE));
    let barrier = Arc::new(Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (server, pod, barrier) = (server.clone(), pod.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                server.post_json("/k1s/pod", &pod)
            })
        })
        .collect();
    let answers: Vec<Resp> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created: Vec<&Resp> = answers.iter().filter(|r| r.status == 201).collect();
    let refused = answers.iter().filter(|r| r.status == 409).count();
    assert_eq!(created.len(), 1, "exactly one 201: {answers:?}");
    assert_eq!(refused, N - 1, "all others 409: {answers:?}");

    let id = created[0].body["id"].as_str().expect("id").to_string();
    assert_eq!(
        containers_of_pod(&name),
        vec![id.clone()],
        "exactly one container"
    );
    let p = wait_running(&server, &name);
    assert_eq!(p["id"], id.as_str());
    assert_eq!(
        containers_of_pod(&name),
        vec![id.clone()],
        "still one container"
    );
    assert_eq!(containers_named(&name), [id]);
    assert_eq!(
        list_pod_names(&server, Some(&format!("app={}", cleanup.prefix))),
        [name]
    );
}

#[test]
fn name_of_a_foreign_container_is_409_and_nothing_is_stored() {
    let cleanup = Cleanup::new("foreign");
    let server = Server::start();
    let name = cleanup.name("taken");
    cleanup.foreign(&name);
    let foreign_id = docker_ok(&["create", "--name", &name, WORKLOAD_IMAGE]);
    let before = inspect(&foreign_id).expect("foreign container");

    let r = server.post_json(
        "/k1s/pod",
        &pod_manifest(&name, &cleanup.prefix, HTTP_IMAGE),
    );
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.error().is_some_and(|e| !e.is_empty()), "{r:?}");

    assert_eq!(
        server.get(&format!("/k1s/pod/{name}")).status,
        404,
        "nothing stored"
    );
    assert!(!list_pod_names(&server, None).contains(&name));
    let after = inspect(&foreign_id).expect("the foreign container is still there");
    assert_eq!(after["Id"], before["Id"]);
    assert_eq!(
        after["State"]["Status"], "created",
        "not started, not removed"
    );
    assert_eq!(after["Config"]["Labels"], before["Config"]["Labels"]);
    assert!(
        after["Config"]["Labels"]["k1s"].is_null(),
        "never marked as K1s's"
    );
    assert_eq!(containers_named(&name), [foreign_id]);
}

#[test]
fn two_pods_asking_for_one_host_port_second_is_409() {
    let cleanup = Cleanup::new("hport");
    let server = Server::start();
    let port = free_host_port();
    let first = cleanup.name("a");
    let second = cleanup.name("b");
    let mut pod = pod_manifest(&first, &cleanup.prefix, HTTP_IMAGE);
    pod["spec"]["containers"][0]["ports"][0]["hostPort"] = json!(port);
    let created = create_pod(&server, &pod);
    pod["metadata"]["name"] = json!(second);
    let r = server.post_json("/k1s/pod", &pod);
    assert_eq!(r.status, 409, "the hostPort is taken by {first}: {r:?}");
    assert!(get_pod(&server, &second).is_none(), "nothing stored");
    assert!(containers_named(&second).is_empty(), "no container");
    let p = wait_running(&server, &first);
    assert_eq!(p["id"], created["id"], "the first pod untouched");
    let url = format!("http://127.0.0.1:{port}/");
    let r = wait_for(POD_DEADLINE, "the first pod's hostPort", || http_get(&url));
    assert_eq!(r.status, 200);
}
