//! Pods through the REST API (docs/decisions.md, "REST API", "Result shapes"): create,
//! list by labels, details, delete.

use crate::support::*;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::{Duration, Instant};

const PHASES: [&str; 4] = ["Pending", "Running", "Succeeded", "Failed"];

/// Asserts the pinned `pod` shape of a create answer and returns the container id.
fn check_created(created: &Value, name: &str, app: &str) -> String {
    assert_eq!(created["name"], name, "{created}");
    assert_eq!(
        created["image"], HTTP_IMAGE,
        "image is the spec's reference"
    );
    assert_eq!(
        created["labels"],
        json!({"app": app, "version": "1.0"}),
        "labels are the user's labels only"
    );
    assert_eq!(created["restartCount"], 0, "{created}");
    let status = created["status"].as_str().expect("status is a string");
    assert!(PHASES.contains(&status), "status {status} is not a phase");
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a local image must give a container id at once: {created}"));
    assert!(is_full_id(id), "id {id} is not a full 64-hex container id");
    id.to_string()
}

/// Asserts Docker's view of a pod's container: name, marker and pod labels.
fn check_container(id: &str, name: &str, app: &str, uid: Option<&str>) {
    let c = inspect(id).unwrap_or_else(|| panic!("docker has no container {id}"));
    assert_eq!(c["Id"], id);
    assert_eq!(c["Name"], format!("/{name}"), "container name = pod name");
    let labels = &c["Config"]["Labels"];
    assert_eq!(labels["k1s"], "pod", "marker label: {labels}");
    assert_eq!(labels["k1s.io/pod"], name, "{labels}");
    assert_eq!(labels["app"], app, "the pod's labels: {labels}");
    assert_eq!(labels["version"], "1.0", "the pod's labels: {labels}");
    let instance = labels["k1s.io/instance"].as_str().unwrap_or("");
    assert!(!instance.is_empty(), "instance label missing: {labels}");
    if let Some(uid) = uid {
        assert_eq!(labels["k1s.io/uid"], uid, "{labels}");
    }
}

#[test]
fn pod_rest_create_list_details_delete() {
    let cleanup = Cleanup::new("rest");
    let server = Server::start();
    let name = cleanup.name("web");
    let app = cleanup.prefix.clone();
    let host_port = free_host_port();
    let mut pod = pod_manifest(&name, &app, HTTP_IMAGE);
    pod["spec"]["containers"][0]["ports"][0]["hostPort"] = json!(host_port);

    let created = create_pod(&server, &pod);
    let id = check_created(&created, &name, &app);
    check_container(&id, &name, &app, created["uid"].as_str());

    // Listing, with and without a selector.
    assert!(list_pod_names(&server, None).contains(&name));
    assert_eq!(
        list_pod_names(&server, Some(&format!("app={app}"))),
        vec![name.clone()]
    );
    assert_eq!(
        list_pod_names(&server, Some(&format!("app%3D{app}"))),
        vec![name.clone()],
        "a percent-encoded selector is the same selector"
    );
    assert_eq!(
        list_pod_names(&server, Some(&format!("app={app},version=1.0"))),
        vec![name.clone()]
    );
    assert!(list_pod_names(&server, Some(&format!("app={app},version=2.0"))).is_empty());
    assert!(list_pod_names(&server, Some(&format!("app={}", unique("nobody")))).is_empty());

    // Details.
    let p = wait_running(&server, &name);
    assert_eq!(p["id"], id.as_str(), "same container: {}", brief(&p));
    assert_eq!(p["name"], name.as_str());
    assert_eq!(p["image"], HTTP_IMAGE);
    assert_eq!(p["labels"], json!({"app": app, "version": "1.0"}));
    assert!(p["state"]["running"].is_object(), "state: {}", p["state"]);
    let addr: IpAddr = p["addr"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("addr {} is not an IP: {e}", p["addr"]));
    let stats = p["stats"].as_object().expect("stats is always an object");
    assert!(
        stats.contains_key("cpu_percent") && stats.contains_key("memory_bytes"),
        "stats: {stats:?}"
    );

    // The pod IP answers from the host; so does its hostPort.
    let url = format!("http://{addr}:80/from-test");
    let r = wait_for(Duration::from_secs(30), "the pod IP to answer HTTP", || {
        http_get(&url)
    });
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains("path=/from-test"), "{r:?}");
    let url = format!("http://127.0.0.1:{host_port}/via-host-port");
    let r = wait_for(
        Duration::from_secs(30),
        "the hostPort to answer HTTP",
        || http_get(&url),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains("path=/via-host-port"), "{r:?}");

    // Logs hold the workload's start line.
    wait_for(Duration::from_secs(30), "the start line in logs", || {
        let p = get_pod(&server, &name).ok_or("404")?;
        let logs = p["logs"].as_str().ok_or(format!("logs: {}", p["logs"]))?;
        if logs.contains("k1s-workload serve started") {
            Ok(())
        } else {
            Err(format!("logs: {logs:?}"))
        }
    });

    // Stats become numbers (null until the first sample).
    wait_for(Duration::from_secs(60), "stats samples", || {
        let p = get_pod(&server, &name).ok_or("404")?;
        let s = &p["stats"];
        let mem = s["memory_bytes"].as_u64().unwrap_or(0);
        if s["cpu_percent"].is_number() && mem > 0 {
            Ok(())
        } else {
            Err(format!("stats: {s}"))
        }
    });

    // Delete: answered with the pod, gone from the API at once, container gone soon.
    let r = server.delete(&format!("/k1s/pod/{name}"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["name"], name.as_str(), "DELETE answers with the pod");
    assert_eq!(server.get(&format!("/k1s/pod/{name}")).status, 404);
    assert!(!list_pod_names(&server, None).contains(&name));
    assert!(list_pod_names(&server, Some(&format!("app={app}"))).is_empty());
    wait_until(
        Duration::from_secs(45),
        "the container to be removed",
        || inspect(&id).is_none().then_some(()),
    );
    assert!(containers_named(&name).is_empty());
    let r = server.delete(&format!("/k1s/pod/{name}"));
    assert_eq!(r.status, 404, "a second DELETE: {r:?}");
    assert!(r.error().is_some(), "errors are JSON with `error`: {r:?}");
}

#[test]
fn pod_rest_yaml_bodies() {
    let cleanup = Cleanup::new("yaml");
    let server = Server::start();
    let app = cleanup.prefix.clone();
    for (i, ct) in ["application/yaml", "application/x-yaml", "text/yaml"]
        .iter()
        .enumerate()
    {
        let name = cleanup.name(&format!("y{i}"));
        let yaml = to_yaml(&pod_manifest(&name, &app, HTTP_IMAGE));
        let r = server.request("POST", "/k1s/pod", Some((ct, yaml.as_bytes())));
        assert_eq!(r.status, 201, "POST as {ct}: {r:?}");
        let id = check_created(&r.body, &name, &app);
        check_container(&id, &name, &app, r.body["uid"].as_str());
    }
    let mut names = list_pod_names(&server, Some(&format!("app={app}")));
    names.sort();
    assert_eq!(
        names,
        [cleanup.name("y0"), cleanup.name("y1"), cleanup.name("y2")]
    );
    // The handout's own file, verbatim apart from name, labels and image.
    let text = std::fs::read_to_string(images::repo_root().join("examples/pod.yaml")).unwrap();
    let name = cleanup.name("verbatim");
    let text = text
        .replacen("name: nginx", &format!("name: {name}"), 1)
        .replace("app: hello", &format!("app: {app}"))
        .replace("image: nginx", &format!("image: {HTTP_IMAGE}"));
    let r = server.post_yaml("/k1s/pod", &text);
    assert_eq!(r.status, 201, "POST examples/pod.yaml:\n{text}\n{r:?}");
    assert_eq!(
        r.body["labels"]["version"], "1.0",
        "quoted \"1.0\" stays a string"
    );
}

#[test]
fn pod_list_selectors_only_match_own_labels() {
    let cleanup = Cleanup::new("sel");
    let server = Server::start();
    let app_a = unique("a");
    let app_b = unique("b");
    let a = cleanup.name("a");
    let b = cleanup.name("b");
    let mut pa = pod_manifest(&a, &app_a, HTTP_IMAGE);
    let mut pb = pod_manifest(&b, &app_b, HTTP_IMAGE);
    pa["metadata"]["labels"]["suite"] = json!(cleanup.prefix);
    pb["metadata"]["labels"]["suite"] = json!(cleanup.prefix);
    pb["metadata"]["labels"]["version"] = json!("2.0");
    create_pod(&server, &pa);
    create_pod(&server, &pb);

    let list = |sel: &str| {
        let mut v = list_pod_names(&server, Some(sel));
        v.sort();
        v
    };
    assert_eq!(list(&format!("app={app_a}")), vec![a.clone()]);
    assert_eq!(list(&format!("app={app_b}")), vec![b.clone()]);
    assert_eq!(
        list(&format!("suite={}", cleanup.prefix)),
        [a.clone(), b.clone()]
    );
    assert_eq!(
        list(&format!("suite={},version=2.0", cleanup.prefix)),
        vec![b.clone()]
    );
    assert!(list(&format!("app={app_a},version=2.0")).is_empty());
    assert!(list(&format!("suite={}", unique("none"))).is_empty());
    let all = list_pod_names(&server, None);
    assert!(all.contains(&a) && all.contains(&b), "{all:?}");

    // The list shape: each element is a pod with the pinned fields.
    let r = server.get(&format!("/k1s/pod?labels=app={app_a}"));
    let p = &r.body[0];
    for key in [
        "name",
        "id",
        "image",
        "status",
        "labels",
        "addr",
        "restartCount",
    ] {
        assert!(
            p.as_object().unwrap().contains_key(key),
            "pod lacks {key}: {p}"
        );
    }
}

#[test]
fn pod_delete_answers_at_once_while_container_stops() {
    let cleanup = Cleanup::new("del");
    let server = Server::start();
    let name = cleanup.name("stubborn");
    let mut pod = pod_with_args(&name, &cleanup.prefix, WORKLOAD_IMAGE, &["hang"]);
    pod["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("ports");
    pod["spec"]["terminationGracePeriodSeconds"] = json!(10);
    let created = create_pod(&server, &pod);
    let id = created["id"].as_str().expect("container id").to_string();
    wait_running(&server, &name);

    // The workload ignores SIGTERM: stopping it takes the whole 10 s grace period,
    // yet DELETE answers at once and the pod leaves the API at once.
    let t = Instant::now();
    let r = server.delete(&format!("/k1s/pod/{name}"));
    let took = t.elapsed();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        took < Duration::from_secs(3),
        "DELETE took {took:?}: it must not wait for the container"
    );
    assert_eq!(server.get(&format!("/k1s/pod/{name}")).status, 404);
    assert!(!list_pod_names(&server, None).contains(&name));

    // While its container is still stopping the name is refused: 409 "being deleted".
    let r = server.post_json("/k1s/pod", &pod);
    assert!(
        inspect(&id).is_some(),
        "the container went before its grace period ended"
    );
    assert_eq!(r.status, 409, "re-create during deletion: {r:?}");

    // SIGKILL after the grace period, then removed.
    wait_until(
        Duration::from_secs(40),
        "the container to be removed",
        || inspect(&id).is_none().then_some(()),
    );
    assert!(
        t.elapsed() >= Duration::from_secs(8),
        "the container was removed after {:?}, before its 10 s grace period",
        t.elapsed()
    );
    // Never adopted back.
    assert_eq!(server.get(&format!("/k1s/pod/{name}")).status, 404);
}

#[test]
fn fields_without_meaning_here_are_accepted_with_a_warning_header() {
    let cleanup = Cleanup::new("warn");
    let server = Server::start();
    let name = cleanup.name("web");
    let mut pod = pod_manifest(&name, &cleanup.prefix, HTTP_IMAGE);
    pod["spec"]["nodeSelector"] = json!({"disktype": "ssd"});
    let r = server.post_json("/k1s/pod", &pod);
    assert_eq!(r.status, 201, "{r:?}");
    let warnings = r.headers_named("warning");
    assert!(
        warnings.iter().any(|w| w.contains("nodeSelector")),
        "a Warning header naming nodeSelector: {:?}",
        r.headers
    );
}
