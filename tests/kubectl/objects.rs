//! kubectl's everyday commands on pods, ReplicaSets and HPAs.

use super::*;

fn pod_yaml(name: &str, app: &str) -> String {
    manifest(
        "pod.yaml",
        &[
            ("name: nginx", &format!("name: {name}")),
            ("image: nginx", &format!("image: {HTTP_IMAGE}")),
            ("app: hello", &format!("app: {app}")),
        ],
    )
}

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

fn hpa_yaml(name: &str, rs: &str) -> String {
    manifest("hpa.yaml", &[("test-hpa", name), ("test-rs", rs)])
}

#[test]
fn discovery_serves_every_kind_with_short_names() {
    let k = Kube::start();
    let v = k.ok(&["version"]);
    assert!(v.stdout.contains("Server Version: v1.32."), "{v:?}");
    let o = k.ok(&["api-resources"]);
    for (name, short, gv, kind) in [
        ("pods", "po", "v1", "Pod"),
        ("replicasets", "rs", "apps/v1", "ReplicaSet"),
        (
            "horizontalpodautoscalers",
            "hpa",
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
        ),
    ] {
        assert!(
            o.stdout.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w == [name, short, gv, "true", kind]
            }),
            "{name}: {o:?}"
        );
    }
    assert!(o.stdout.contains("metrics.k8s.io/v1beta1"), "{o:?}");
    // An empty namespace: kubectl says so on stderr and succeeds.
    for what in ["pods", "po", "rs", "hpa", "all"] {
        let o = k.ok(&["get", what]);
        assert!(o.stdout.is_empty(), "{what}: {o:?}");
    }
}

#[test]
fn pods_create_apply_get_describe_delete() {
    let cleanup = Cleanup::new("kcpod");
    let k = Kube::start();
    let name = cleanup.name("p");
    let app = cleanup.name("app");
    let f = k.file("pod.yaml", &pod_yaml(&name, &app));
    let f = f.to_str().unwrap();

    let o = k.ok(&["create", "-f", f]);
    assert_eq!(o.stdout.trim(), format!("pod/{name} created"), "{o:?}");
    let o = k.run(&["create", "-f", f]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains(&format!(
            "Error from server (AlreadyExists): error when creating \"{f}\": pods \"{name}\" already exists"
        )),
        "{o:?}"
    );

    // Created without last-applied: apply patches it in, then it is unchanged.
    let o = k.ok(&["apply", "-f", f]);
    assert_eq!(o.stdout.trim(), format!("pod/{name} configured"), "{o:?}");
    assert!(
        o.stderr
            .contains("missing the kubectl.kubernetes.io/last-applied-configuration")
    );
    let o = k.ok(&["apply", "-f", f]);
    assert_eq!(o.stdout.trim(), format!("pod/{name} unchanged"), "{o:?}");
    // A label changed in the file: configured, and the server has it.
    let f2 = k.file(
        "pod2.yaml",
        &pod_yaml(&name, &app).replace("version: \"1.0\"", "version: \"2.0\""),
    );
    let o = k.ok(&["apply", "-f", f2.to_str().unwrap()]);
    assert_eq!(o.stdout.trim(), format!("pod/{name} configured"), "{o:?}");

    wait_output(
        &k,
        &["get", "pods", "-l", &format!("app={app}")],
        "the pod Running 1/1",
        |s| {
            s.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() == 5 && w[0] == name && w[1] == "1/1" && w[2] == "Running" && w[3] == "0"
            })
        },
    );
    let o = k.ok(&["get", "po", "-o", "wide", "-l", &format!("app={app}")]);
    let header: Vec<&str> = o
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ],
        "{o:?}"
    );
    let o = k.ok(&[
        "get",
        "pods",
        "--show-labels",
        "-l",
        &format!("app={app},version in (2.0,3.0),!missing"),
    ]);
    assert!(
        o.stdout.contains(&format!("app={app},version=2.0")),
        "{o:?}"
    );
    let o = k.ok(&["get", "pods", "-l", &format!("app={app},version!=2.0")]);
    assert!(o.stdout.is_empty(), "{o:?}");
    let o = k.ok(&["get", "pods", "-o", "name", "-l", &format!("app={app}")]);
    assert_eq!(o.stdout.trim(), format!("pod/{name}"), "{o:?}");
    let o = k.ok(&["get", "pod", &name, "-o", "yaml"]);
    for line in [
        "apiVersion: v1",
        "kind: Pod",
        "kubectl.kubernetes.io/last-applied-configuration",
        &format!("image: {HTTP_IMAGE}"),
        "phase: Running",
    ] {
        assert!(o.stdout.contains(line), "{line}: {o:?}");
    }
    let o = k.ok(&["describe", "pod", &name]);
    assert!(o.stdout.contains(&format!("Name:         {name}")), "{o:?}");
    assert!(o.stdout.contains("Status:       Running"), "{o:?}");

    // Errors: not found, invalid; a server dry run stores nothing.
    let o = k.run(&["get", "pod", &cleanup.name("nope")]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("Error from server (NotFound)"), "{o:?}");
    let bad = k.file(
        "bad.yaml",
        &pod_yaml(&cleanup.name("bad"), &app)
            .replace(&format!("image: {HTTP_IMAGE}"), "image: \"\""),
    );
    let o = k.run(&["create", "-f", bad.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .contains("is invalid: spec.containers[0].image: Required value"),
        "{o:?}"
    );
    let unknown = k.file(
        "unknown.yaml",
        &pod_yaml(&cleanup.name("unk"), &app).replace("    ports:", "    colour: blue\n    ports:"),
    );
    let o = k.run(&["create", "-f", unknown.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("Error from server (BadRequest)"), "{o:?}");
    assert!(
        o.stderr
            .contains("strict decoding error: unknown field \"spec.containers[0].colour\""),
        "{o:?}"
    );
    let dry = cleanup.name("dry");
    let fd = k.file("dry.yaml", &pod_yaml(&dry, &app));
    let o = k.ok(&["create", "-f", fd.to_str().unwrap(), "--dry-run=server"]);
    assert_eq!(
        o.stdout.trim(),
        format!("pod/{dry} created (server dry run)"),
        "{o:?}"
    );
    let o = k.run(&["get", "pod", &dry]);
    assert_eq!(o.code, 1, "a dry run stored nothing: {o:?}");

    // Delete: kubectl waits until the pod is gone (it lists by metadata.name).
    let o = k.ok(&["delete", "pod", &name, "--timeout=60s"]);
    assert_eq!(o.stdout.trim(), format!("pod \"{name}\" deleted"), "{o:?}");
    let o = k.run(&["get", "pod", &name]);
    assert_eq!(o.code, 1, "deleted: {o:?}");
    assert!(o.stderr.contains("NotFound"), "{o:?}");
}

#[test]
fn replicasets_and_hpas_apply_get_all_describe_delete() {
    let cleanup = Cleanup::new("kcrs");
    let k = Kube::start();
    let rs = cleanup.name("rs");
    let app = cleanup.name("app");
    let hpa = cleanup.name("hpa");
    let frs = k.file("rs.yaml", &rs_yaml(&rs, &app, 2));
    let frs = frs.to_str().unwrap();
    let fhpa = k.file("hpa.yaml", &hpa_yaml(&hpa, &rs));
    let fhpa = fhpa.to_str().unwrap();

    let o = k.ok(&["apply", "-f", frs]);
    assert_eq!(
        o.stdout.trim(),
        format!("replicaset.apps/{rs} created"),
        "{o:?}"
    );
    let o = k.ok(&["apply", "-f", frs]);
    assert_eq!(
        o.stdout.trim(),
        format!("replicaset.apps/{rs} unchanged"),
        "{o:?}"
    );
    let o = k.ok(&["apply", "-f", fhpa]);
    assert_eq!(
        o.stdout.trim(),
        format!("horizontalpodautoscaler.autoscaling/{hpa} created"),
        "{o:?}"
    );
    let o = k.ok(&["apply", "-f", fhpa]);
    assert!(o.stdout.contains("unchanged"), "{o:?}");
    let o = k.run(&["create", "-f", fhpa]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("AlreadyExists"), "{o:?}");

    wait_output(&k, &["get", "rs", &rs], "2 ready replicas", |s| {
        s.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() == 5 && w[0] == rs && w[1..4] == ["2", "2", "2"]
        })
    });
    let o = k.ok(&["get", "rs", &rs, "-o", "wide"]);
    assert!(o.stdout.contains("CONTAINERS"), "{o:?}");
    assert!(
        o.stdout
            .contains(&format!("nginx        {HTTP_IMAGE}   app={app}")),
        "{o:?}"
    );
    let o = k.ok(&["get", "hpa", &hpa]);
    let row: Vec<&str> = o
        .stdout
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(row[0], hpa, "{o:?}");
    assert_eq!(row[1], format!("ReplicaSet/{rs}"), "{o:?}");
    assert_eq!(row[2], "cpu:", "{o:?}");
    assert!(row[3].ends_with("/60%"), "{o:?}");
    assert_eq!(row[4..6], ["1", "5"], "{o:?}");

    let o = k.ok(&["get", "all"]);
    for want in [
        format!("replicaset.apps/{rs}"),
        format!("horizontalpodautoscaler.autoscaling/{hpa}"),
        format!("pod/{rs}-"),
    ] {
        assert!(o.stdout.contains(&want), "{want}: {o:?}");
    }

    let o = k.ok(&["describe", "rs", &rs]);
    assert!(
        o.stdout.contains(&format!("Selector:     app={app}")),
        "{o:?}"
    );
    assert!(
        o.stdout.contains("Replicas:     2 current / 2 desired"),
        "{o:?}"
    );
    let o = k.ok(&["describe", "hpa", &hpa]);
    assert!(o.stdout.contains(&format!("ReplicaSet/{rs}")), "{o:?}");
    assert!(o.stdout.contains("/ 60%"), "{o:?}");

    // Changed files: configured, and the server has the change.
    let f2 = k.file("rs2.yaml", &rs_yaml(&rs, &app, 3));
    let o = k.ok(&["apply", "-f", f2.to_str().unwrap()]);
    assert_eq!(
        o.stdout.trim(),
        format!("replicaset.apps/{rs} configured"),
        "{o:?}"
    );
    let f3 = k.file(
        "hpa2.yaml",
        &hpa_yaml(&hpa, &rs).replace("averageUtilization: 60", "averageUtilization: 70"),
    );
    let o = k.ok(&["apply", "-f", f3.to_str().unwrap()]);
    assert!(o.stdout.contains("configured"), "{o:?}");
    wait_output(&k, &["get", "hpa", &hpa], "the new target", |s| {
        s.contains("/70%")
    });
    wait_output(&k, &["get", "rs", &rs], "3 desired", |s| {
        s.lines().any(|l| l.split_whitespace().nth(1) == Some("3"))
    });

    // Delete: the HPA, then the ReplicaSet and (the server's cascade) its pods.
    let o = k.ok(&["delete", "-f", fhpa]);
    assert!(o.stdout.contains("deleted"), "{o:?}");
    let o = k.ok(&["delete", "rs", &rs]);
    assert_eq!(
        o.stdout.trim(),
        format!("replicaset.apps \"{rs}\" deleted"),
        "{o:?}"
    );
    wait_output(
        &k,
        &["get", "pods", "-l", &format!("app={app}")],
        "the ReplicaSet's pods gone",
        str::is_empty,
    );
    let o = k.run(&["get", "rs", &rs]);
    assert_eq!(o.code, 1, "{o:?}");
}

#[test]
fn server_side_apply_creates_then_merges() {
    let cleanup = Cleanup::new("kcssa");
    let k = Kube::start();
    let name = cleanup.name("p");
    let app = cleanup.name("app");
    let f = k.file("pod.yaml", &pod_yaml(&name, &app));
    let f = f.to_str().unwrap();
    let o = k.ok(&["apply", "--server-side", "-f", f]);
    assert_eq!(
        o.stdout.trim(),
        format!("pod/{name} serverside-applied"),
        "{o:?}"
    );
    let o = k.ok(&["apply", "--server-side", "-f", f]);
    assert_eq!(
        o.stdout.trim(),
        format!("pod/{name} serverside-applied"),
        "{o:?}"
    );
    let o = k.ok(&["label", "pod", &name, "tier=web"]);
    assert_eq!(o.stdout.trim(), format!("pod/{name} labeled"), "{o:?}");
    let o = k.ok(&["get", "pod", &name, "--show-labels"]);
    assert!(
        o.stdout
            .contains(&format!("app={app},tier=web,version=1.0")),
        "{o:?}"
    );
    // A pod's spec may not change (the image neither: K1s does not swap containers).
    let f2 = k.file(
        "pod2.yaml",
        &pod_yaml(&name, &app).replace("containerPort: 80", "containerPort: 81"),
    );
    let o = k.run(&["apply", "-f", f2.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("is invalid"), "{o:?}");
    let o = k.ok(&["delete", "pod", &name, "--wait=false"]);
    assert!(o.stdout.contains("deleted"), "{o:?}");
}

#[test]
fn orphaning_delete_keeps_the_pods_and_field_selectors_filter() {
    let cleanup = Cleanup::new("kcorph");
    let k = Kube::start();
    let rs = cleanup.name("rs");
    let app = cleanup.name("app");
    let f = k.file("rs.yaml", &rs_yaml(&rs, &app, 1));
    k.ok(&["create", "-f", f.to_str().unwrap()]);
    let pods = wait_output(
        &k,
        &["get", "pods", "-o", "name", "-l", &format!("app={app}")],
        "the ReplicaSet's pod",
        |s| s.lines().count() == 1,
    );
    let pod = pods.trim().trim_start_matches("pod/").to_string();
    let o = k.ok(&[
        "get",
        "pods",
        "--field-selector",
        &format!("metadata.name={pod}"),
        "-o",
        "name",
    ]);
    assert_eq!(o.stdout.trim(), format!("pod/{pod}"), "{o:?}");
    let o = k.ok(&[
        "get",
        "pods",
        "--field-selector",
        &format!("metadata.name!={pod}"),
        "-o",
        "name",
        "-l",
        &format!("app={app}"),
    ]);
    assert!(o.stdout.is_empty(), "{o:?}");

    let o = k.ok(&["delete", "rs", &rs, "--cascade=orphan"]);
    assert!(o.stdout.contains("deleted"), "{o:?}");
    let o = k.ok(&[
        "get",
        "pod",
        &pod,
        "-o",
        "jsonpath={.metadata.ownerReferences}",
    ]);
    assert!(o.stdout.is_empty(), "orphaned: no owner left: {o:?}");
    let o = k.ok(&["get", "pod", &pod]);
    assert!(
        o.stdout.contains("Running") || o.stdout.contains("Pending"),
        "{o:?}"
    );
    k.ok(&["delete", "pod", &pod, "--wait=false"]);
}
