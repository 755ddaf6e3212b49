//! Pods through `k1s_ctl` (docs/decisions.md, "CLI"): create, get (-l, -o json),
//! describe, delete, and failures with a non-zero exit and a one-line reason.

use crate::support::*;
use serde_json::Value;
use std::time::Duration;

/// The table line naming `name` (first column), if any.
fn table_line<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
}

fn assert_one_line_failure(out: &CtlOut, what: &str) {
    assert!(!out.ok(), "{what}: expected a non-zero exit: {out:?}");
    let lines = out.output_lines();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected a one-line reason: {out:?}"
    );
}

#[test]
fn ctl_pod_create_get_describe_delete() {
    let cleanup = Cleanup::new("ctl");
    let server = Server::start();
    let name = cleanup.name("web");
    let app = cleanup.prefix.clone();
    let file = server.dir().join("pod.yaml");
    std::fs::write(&file, to_yaml(&pod_manifest(&name, &app, HTTP_IMAGE))).unwrap();
    let file = file.to_str().unwrap();

    let out = server.ctl(&["create", "pod", file]);
    assert!(out.ok(), "create pod: {out:?}");
    assert!(out.stdout.contains(&name), "create names the pod: {out:?}");
    assert!(get_pod(&server, &name).is_some(), "created through the API");

    // `get pod`: a table with a header, the pod's line says Running.
    let stdout = wait_for(POD_DEADLINE, "`get pod` to show Running", || {
        let out = server.ctl(&["get", "pod"]);
        if !out.ok() {
            return Err(format!("{out:?}"));
        }
        match table_line(&out.stdout, &name) {
            Some(l) if l.contains("Running") => Ok(out.stdout),
            _ => Err(out.stdout),
        }
    });
    let header = stdout.lines().next().unwrap_or("");
    assert!(
        header.contains("NAME") && header.contains("STATUS"),
        "a kubectl-like table header: {stdout}"
    );

    // `-l` selects by label.
    let out = server.ctl(&["get", "pod", "-l", &format!("app={app}")]);
    assert!(out.ok(), "{out:?}");
    assert!(table_line(&out.stdout, &name).is_some(), "{out:?}");
    let out = server.ctl(&["get", "pod", "-l", &format!("app={}", unique("none"))]);
    assert!(out.ok(), "an empty selection is not an error: {out:?}");
    assert!(table_line(&out.stdout, &name).is_none(), "{out:?}");

    // `-o json` is JSON naming the pod.
    let out = server.ctl(&["get", "pod", "-l", &format!("app={app}"), "-o", "json"]);
    assert!(out.ok(), "{out:?}");
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("-o json is not JSON ({e}): {}", out.stdout));
    let items = v
        .as_array()
        .or_else(|| v["items"].as_array())
        .unwrap_or_else(|| panic!("-o json is not a list: {v}"));
    assert_eq!(items.len(), 1, "{v}");
    let item_name = items[0]["name"]
        .as_str()
        .or_else(|| items[0]["metadata"]["name"].as_str());
    assert_eq!(item_name, Some(name.as_str()), "{v}");

    // `describe pod` shows the IP and the logs.
    let addr = get_pod(&server, &name).unwrap()["addr"]
        .as_str()
        .expect("addr")
        .to_string();
    let out = wait_for(Duration::from_secs(30), "describe to show the logs", || {
        let out = server.ctl(&["describe", "pod", &name]);
        if out.ok() && out.stdout.contains("k1s-workload serve started") {
            Ok(out)
        } else {
            Err(format!("{out:?}"))
        }
    });
    assert!(out.stdout.contains(&name), "{}", out.stdout);
    assert!(
        out.stdout.contains(&addr),
        "describe shows IP {addr}: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Logs"),
        "describe has a Logs section: {}",
        out.stdout
    );
    assert!(out.stdout.contains("Running"), "{}", out.stdout);

    // `delete pod`.
    let out = server.ctl(&["delete", "pod", &name]);
    assert!(out.ok(), "delete pod: {out:?}");
    assert!(get_pod(&server, &name).is_none(), "deleted at once");
    let out = server.ctl(&["get", "pod"]);
    assert!(out.ok(), "{out:?}");
    assert!(table_line(&out.stdout, &name).is_none(), "{out:?}");
}

#[test]
fn ctl_failures_exit_nonzero_with_one_line() {
    let cleanup = Cleanup::new("ctlerr");
    let server = Server::start();
    let ghost = cleanup.name("ghost");

    assert_one_line_failure(
        &server.ctl(&["describe", "pod", &ghost]),
        "describe unknown",
    );
    assert_one_line_failure(&server.ctl(&["delete", "pod", &ghost]), "delete unknown");

    let missing = server.dir().join("no-such-file.yaml");
    let out = server.ctl(&["create", "pod", missing.to_str().unwrap()]);
    assert_one_line_failure(&out, "create from a missing file");

    // An invalid manifest: the server's 422 reason, on one line; nothing created.
    let bad = server.dir().join("bad.yaml");
    let mut pod = pod_manifest(&ghost, &cleanup.prefix, HTTP_IMAGE);
    pod["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("image");
    std::fs::write(&bad, to_yaml(&pod)).unwrap();
    let out = server.ctl(&["create", "pod", bad.to_str().unwrap()]);
    assert_one_line_failure(&out, "create an invalid pod");
    assert!(
        out.output_lines()[0].contains("spec.containers[0].image"),
        "the reason names the field: {out:?}"
    );
    assert!(get_pod(&server, &ghost).is_none());

    // No server there.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    assert_one_line_failure(&ctl(&nowhere, &["get", "pod"]), "server down");

    // help works; K1S_URL is honoured when --server is absent.
    let out = ctl_no_server(&["help"], &[]);
    assert!(out.ok(), "help: {out:?}");
    assert!(
        out.stdout.contains("create") && out.stdout.contains("describe"),
        "{out:?}"
    );
    let out = ctl_no_server(&["get", "pod"], &[("K1S_URL", &server.url())]);
    assert!(out.ok(), "get pod with K1S_URL: {out:?}");
}
