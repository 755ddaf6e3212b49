//! The handout's ReplicaSet through the REST API.

use super::*;
use serde_json::json;

#[test]
fn example_rs_via_rest_runs_three_owned_pods() {
    let cleanup = Cleanup::new("rsrest");
    let server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("web");
    let sel = format!("app={app}");

    // examples/rs.yaml verbatim, apart from its name, its label and its image.
    let text = std::fs::read_to_string(images::repo_root().join("examples/rs.yaml")).unwrap();
    assert_eq!(text.matches("app: web-server").count(), 2, "{text}");
    let text = text
        .replacen("name: test-rs", &format!("name: {rs}"), 1)
        .replace("app: web-server", &format!("app: {app}"))
        .replace("image: nginx", &format!("image: {HTTP_IMAGE}"));
    let r = server.post_yaml("/k1s/rs", &text);
    assert_eq!(r.status, 201, "POST examples/rs.yaml:\n{text}\n{r:?}");
    let created = r.body;
    assert_eq!(created["name"], rs.as_str(), "{created}");
    assert_eq!(created["replicas"], 3, "{created}");
    assert_eq!(created["selector"], json!({ "app": app }), "{created}");
    assert!(created["labels"].is_object(), "{created}");
    assert!(created["creationTimestamp"].is_string(), "{created}");
    let uid = created["uid"].as_str().expect("uid").to_string();

    let conv = wait_converged(&server, &rs, &sel, 3, RS_DEADLINE);
    let instance = instance_of(&server);

    // The pods: `<rs>-xxxxx`, each owned by the RS; read one by one.
    for name in conv.names() {
        assert_rs_pod_name(&name, &rs);
        let p = get_pod(&server, &name).expect("pod");
        assert_owned_by(&p, &rs, &uid);
        assert_eq!(p["status"], "Running", "{}", brief(&p));
        assert_eq!(p["restartCount"], 0, "{}", brief(&p));
        assert_eq!(
            p["labels"],
            json!({"app": app, "version": "1.0"}),
            "the template's labels"
        );
        assert_eq!(p["image"], HTTP_IMAGE);
    }

    // Docker: exactly 3 containers of this instance for those pods, marked as K1s's.
    let filter = format!("k1s.io/instance={instance}");
    let mine: Vec<Ctr> = k1s_containers(&sel)
        .into_iter()
        .filter(|c| c.instance == instance)
        .collect();
    assert_eq!(mine.len(), 3, "{mine:?}");
    let by_instance: Vec<Ctr> = k1s_containers(&filter)
        .into_iter()
        .filter(|c| c.pod.starts_with(&format!("{rs}-")))
        .collect();
    assert_eq!(by_instance.len(), 3, "{by_instance:?}");
    for c in &mine {
        let p = conv.pod(&c.pod);
        let labels = inspect(&c.id).expect("container")["Config"]["Labels"].clone();
        assert_eq!(labels["k1s"], "pod", "{labels}");
        assert_eq!(labels["k1s.io/pod"], c.pod.as_str(), "{labels}");
        assert_eq!(labels["k1s.io/uid"], p["uid"], "{labels}");
        assert_eq!(labels["k1s.io/instance"], instance.as_str(), "{labels}");
        assert_eq!(labels["app"], app.as_str(), "{labels}");
    }

    // rsExtra: spec, status, the pods with their phases.
    let d = &conv.rs;
    assert_eq!(d["uid"], uid.as_str());
    assert_eq!(d["spec"]["replicas"], 3, "{d}");
    assert_eq!(d["status"]["replicas"], 3, "{d}");
    assert_eq!(d["status"]["readyReplicas"], 3, "{d}");
    for p in d["pods"].as_array().unwrap() {
        assert_eq!(p["phase"], "Running", "{p}");
        assert_eq!(p["ready"], true, "{p}");
        assert!(p["id"].is_string() && p["addr"].is_string(), "{p}");
    }

    // The list shape.
    let listed: Vec<Value> = list_rs(&server, None)
        .into_iter()
        .filter(|r| r["name"] == rs.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let l = &listed[0];
    for key in [
        "name",
        "uid",
        "replicas",
        "current",
        "ready",
        "labels",
        "selector",
        "creationTimestamp",
    ] {
        assert!(
            l.as_object().unwrap().contains_key(key),
            "rs lacks {key}: {l}"
        );
    }
    assert_eq!(
        (&l["replicas"], &l["current"], &l["ready"]),
        (&json!(3), &json!(3), &json!(3)),
        "{l}"
    );

    // The pods answer HTTP on their IPs.
    for p in d["pods"].as_array().unwrap() {
        let url = format!("http://{}:80/rs", p["addr"].as_str().unwrap());
        let r = wait_for(RS_DEADLINE, "a pod IP to answer HTTP", || http_get(&url));
        assert_eq!(r.status, 200, "{r:?}");
    }

    // A name in use is refused, and the RS is left untouched.
    let r = server.post_yaml("/k1s/rs", &text);
    assert_eq!(r.status, 409, "the same RS again: {r:?}");
    let again = observe(&server, &rs, &sel, 3).expect("untouched");
    assert_eq!(again.names(), conv.names());
    assert_eq!(again.rs["uid"], uid.as_str());
}
