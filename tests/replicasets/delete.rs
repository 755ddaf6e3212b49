//! Deleting a ReplicaSet: it answers at once, the RS is gone from the API at once, its
//! pods and containers follow in the background, and nothing comes back.

use super::*;
use std::time::{Duration, Instant};

#[test]
fn rs_delete_answers_at_once_and_cascades() {
    let cleanup = Cleanup::new("rsdel");
    let server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("del");
    let sel = format!("app={app}");
    create_rs(&server, &rs_manifest(&rs, &app, 3));
    let conv = wait_converged(&server, &rs, &sel, 3, RS_DEADLINE);
    let uid = conv.rs["uid"].as_str().unwrap().to_string();

    let t = Instant::now();
    let r = server.delete(&format!("/k1s/rs/{rs}"));
    let took = t.elapsed();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        took < Duration::from_secs(1),
        "DELETE took {took:?}: it must not wait for the pods"
    );
    assert_eq!(
        r.body["name"],
        rs.as_str(),
        "DELETE answers with the rs: {r:?}"
    );
    assert_eq!(r.body["uid"], uid.as_str(), "{r:?}");

    // Gone from the API at once.
    let g = server.get(&format!("/k1s/rs/{rs}"));
    assert_eq!(g.status, 404, "{g:?}");
    assert!(g.error().is_some(), "errors are JSON: {g:?}");
    assert!(
        list_rs(&server, None)
            .iter()
            .all(|x| x["name"] != rs.as_str()),
        "still listed"
    );

    // Its pods leave the API, their containers leave Docker.
    wait_for(RS_DEADLINE, "the RS's pods to leave /k1s/pod", || {
        let left = list_pods(&server, &sel);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
    for name in conv.names() {
        assert!(get_pod(&server, &name).is_none(), "GET /k1s/pod/{name}");
    }
    let t = Instant::now();
    wait_no_containers(&sel, RS_DEADLINE);
    eprintln!(
        "containers removed {:?} after the pods left the API",
        t.elapsed()
    );
    for c in &conv.containers {
        assert!(
            inspect(&c.id).is_none(),
            "container {} still exists",
            c.name
        );
    }

    // Nothing comes back, and a second DELETE is a 404.
    holds_for(
        Duration::from_secs(3),
        "no pod or container returns",
        || {
            let pods = list_pods(&server, &sel);
            let ctrs = k1s_containers(&sel);
            if pods.is_empty() && ctrs.is_empty() {
                Ok(())
            } else {
                Err(format!("pods {pods:?}, containers {ctrs:?}"))
            }
        },
    );
    let r = server.delete(&format!("/k1s/rs/{rs}"));
    assert_eq!(r.status, 404, "a second DELETE: {r:?}");

    // The name is free again: a new RS of that name is a new object.
    let created = create_rs(&server, &rs_manifest(&rs, &app, 1));
    assert_ne!(created["uid"], uid.as_str(), "a new uid");
    let again = wait_converged(&server, &rs, &sel, 1, RS_DEADLINE);
    assert!(
        again.names().is_disjoint(&conv.names()),
        "no old pod adopted back"
    );
}
