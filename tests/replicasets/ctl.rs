//! The handout's ReplicaSet through `k1s_ctl`: create, get, describe, delete.

use super::*;
use serde_json::json;

/// The table line naming `name` (first column), split in columns.
fn row(stdout: &str, name: &str) -> Option<Vec<String>> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .find(|cols| cols.first().map(String::as_str) == Some(name))
}

#[test]
fn example_rs_via_ctl_create_get_describe_delete() {
    let cleanup = Cleanup::new("rsctl");
    let server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("web");
    let sel = format!("app={app}");
    let mut manifest = rs_manifest(&rs, &app, 3);
    manifest["metadata"]["labels"] = json!({ "suite": cleanup.prefix });
    let file = server.dir().join("rs.yaml");
    std::fs::write(&file, to_yaml(&manifest)).unwrap();

    let out = server.ctl(&["create", "rs", file.to_str().unwrap()]);
    assert!(out.ok(), "create rs: {out:?}");
    assert!(out.stdout.contains(&rs), "create names the rs: {out:?}");
    let conv = wait_converged(&server, &rs, &sel, 3, RS_DEADLINE);
    let uid = conv.rs["uid"].as_str().unwrap().to_string();
    for p in &conv.pods {
        assert_rs_pod_name(&pod_name(p), &rs);
        assert_owned_by(p, &rs, &uid);
    }

    // `get rs`: DESIRED 3 CURRENT 3 READY 3.
    let out = server.ctl(&["get", "rs"]);
    assert!(out.ok(), "get rs: {out:?}");
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header[..5],
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        "{}",
        out.stdout
    );
    let cols = row(&out.stdout, &rs).unwrap_or_else(|| panic!("no line for {rs}: {out:?}"));
    assert_eq!(cols[1..4], ["3", "3", "3"], "{}", out.stdout);

    // `-l` selects by the RS's own labels.
    let out = server.ctl(&["get", "rs", "-l", &format!("suite={}", cleanup.prefix)]);
    assert!(out.ok(), "{out:?}");
    assert!(row(&out.stdout, &rs).is_some(), "{out:?}");
    let out = server.ctl(&["get", "rs", "-l", &format!("suite={}", unique("none"))]);
    assert!(out.ok(), "an empty selection is not an error: {out:?}");
    assert!(row(&out.stdout, &rs).is_none(), "{out:?}");

    // `describe rs`: the selector, the counts and every pod by name.
    let out = server.ctl(&["describe", "rs", &rs]);
    assert!(out.ok(), "describe rs: {out:?}");
    assert!(out.stdout.contains(&rs), "{}", out.stdout);
    assert!(out.stdout.contains(&sel), "the selector: {}", out.stdout);
    assert!(
        out.stdout.contains("3 current / 3 desired"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("3 Running"), "{}", out.stdout);
    for name in conv.names() {
        assert!(
            out.stdout.contains(&name),
            "describe lists pod {name}: {}",
            out.stdout
        );
    }

    // `get pod` shows the RS's pods.
    let out = server.ctl(&["get", "pod", "-l", &sel]);
    assert!(out.ok(), "{out:?}");
    for name in conv.names() {
        let cols = row(&out.stdout, &name).unwrap_or_else(|| panic!("{name}: {out:?}"));
        assert!(cols.iter().any(|c| c == "Running"), "{cols:?}");
    }

    // Unknown names: non-zero exit, one line.
    let ghost = cleanup.name("ghost");
    for args in [["describe", "rs", &ghost], ["delete", "rs", &ghost]] {
        let out = server.ctl(&args);
        assert!(!out.ok(), "{args:?}: {out:?}");
        assert_eq!(out.output_lines().len(), 1, "{args:?}: {out:?}");
    }

    // `delete rs`: gone at once, its pods and containers follow.
    let out = server.ctl(&["delete", "rs", &rs]);
    assert!(out.ok(), "delete rs: {out:?}");
    assert!(get_rs(&server, &rs).is_none(), "deleted at once");
    let out = server.ctl(&["get", "rs"]);
    assert!(out.ok(), "{out:?}");
    assert!(row(&out.stdout, &rs).is_none(), "{out:?}");
    wait_until(RS_DEADLINE, "the RS's pods to leave the API", || {
        list_pods(&server, &sel).is_empty().then_some(())
    });
    wait_no_containers(&sel, RS_DEADLINE);
}
