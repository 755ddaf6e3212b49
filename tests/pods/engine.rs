//! An unreachable Docker engine (docs/decisions.md, "Docker engine", "Status codes"):
//! the server still starts, serves from its store, and answers 503 to writes that need
//! the engine, storing nothing.

use crate::support::*;

#[test]
fn engine_unreachable_server_starts_and_answers_503_to_creates() {
    let cleanup = Cleanup::new("noeng");
    let dir = tempfile::tempdir().unwrap();
    let socket = format!("unix://{}", dir.path().join("no-docker.sock").display());
    let server = Server::start_with_env(&[], &[("DOCKER_HOST", &socket)]);
    let name = cleanup.name("web");

    let r = server.get("/k1s/pod");
    assert_eq!(r.status, 200, "listing is served from the store: {r:?}");
    assert_eq!(r.body, serde_json::json!([]), "{r:?}");

    let r = server.post_json(
        "/k1s/pod",
        &pod_manifest(&name, &cleanup.prefix, HTTP_IMAGE),
    );
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.error().is_some_and(|e| !e.is_empty()), "{r:?}");
    assert_eq!(
        server.get(&format!("/k1s/pod/{name}")).status,
        404,
        "nothing stored"
    );
    assert!(list_pod_names(&server, None).is_empty());
    assert!(containers_named(&name).is_empty());
}
