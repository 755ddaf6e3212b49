//! Access token and listen address (docs/decisions.md, "Configuration", "Security"):
//! off loopback a token is required, and then every request needs it.

use crate::support::*;
use std::time::Duration;

#[test]
fn token_is_required_on_every_request_when_configured() {
    let cleanup = Cleanup::new("tok");
    let server = Server::start_with(&["--token", "secret", "--listen", "0.0.0.0"]);
    let name = cleanup.name("web");
    let pod = pod_manifest(&name, &cleanup.prefix, HTTP_IMAGE);
    let body = serde_json::to_vec(&pod).unwrap();
    let json = Some(("application/json", body.as_slice()));

    for (what, headers) in [
        ("no Authorization", vec![]),
        ("a wrong token", vec![("Authorization", "Bearer wrong")]),
        ("a token as Basic", vec![("Authorization", "Basic secret")]),
        (
            "the token without Bearer",
            vec![("Authorization", "secret")],
        ),
    ] {
        let r = server.request_with("GET", "/k1s/pod", &headers, None);
        assert_eq!(r.status, 401, "GET with {what}: {r:?}");
        let r = server.request_with("GET", &format!("/k1s/pod/{name}"), &headers, None);
        assert_eq!(r.status, 401, "GET one with {what}: {r:?}");
        let r = server.request_with("POST", "/k1s/pod", &headers, json);
        assert_eq!(r.status, 401, "POST with {what}: {r:?}");
        // Checked before anything else: even a malformed body gets 401.
        let garbage = Some(("application/json", b"{not json".as_slice()));
        let r = server.request_with("POST", "/k1s/pod", &headers, garbage);
        assert_eq!(r.status, 401, "malformed POST with {what}: {r:?}");
    }
    assert!(
        containers_named(&name).is_empty(),
        "a refused POST created a container"
    );

    let ok = [("Authorization", "Bearer secret")];
    let r = server.request_with("GET", "/k1s/pod", &ok, None);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.is_array(), "{r:?}");
    let r = server.request_with("GET", &format!("/k1s/pod/{name}"), &ok, None);
    assert_eq!(
        r.status, 404,
        "nothing was created by the refused POSTs: {r:?}"
    );
    let r = server.request_with("POST", "/k1s/pod", &ok, json);
    assert_eq!(r.status, 201, "{r:?}");

    // k1s_ctl sends K1S_TOKEN; without it, it fails with one line.
    let out = ctl_env(&server.url(), &["get", "pod"], &[("K1S_TOKEN", "secret")]);
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains(&name), "{out:?}");
    let out = ctl(&server.url(), &["get", "pod"]);
    assert!(!out.ok(), "no token: {out:?}");
    assert_eq!(out.output_lines().len(), 1, "{out:?}");
}

#[test]
fn listening_off_loopback_without_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--listen", "0.0.0.0"],
        vec!["--listen", "0.0.0.0", "--token", ""],
    ] {
        let port = free_port().to_string();
        let mut full = args.clone();
        full.extend(["--port", port.as_str()]);
        let out = run_server_expecting_exit(&full, dir.path(), Duration::from_secs(10));
        assert!(!out.ok(), "{full:?} must exit non-zero: {out:?}");
        let lines = out.output_lines();
        assert!(
            lines.iter().any(|l| l.to_lowercase().contains("token")),
            "{full:?}: a one-line reason naming the missing token: {out:?}"
        );
    }
}
