//! Scaling: `PATCH /k1s/rs/NAME` with a merge patch and `k1s_ctl scale`; counts
//! converge exactly, a scale-down removes the surplus containers, and surviving pods
//! are never churned.

use super::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn rs_scales_up_and_down_via_patch_and_ctl() {
    let cleanup = Cleanup::new("rsscale");
    let server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("scale");
    let sel = format!("app={app}");
    create_rs(&server, &rs_manifest(&rs, &app, 3));
    let three = wait_converged(&server, &rs, &sel, 3, RS_DEADLINE);
    let uid = three.rs["uid"].as_str().unwrap().to_string();

    // PATCH 3 → 5: two new pods, the first three kept.
    let r = patch_rs(&server, &rs, &json!({"spec": {"replicas": 5}}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body["name"],
        rs.as_str(),
        "PATCH answers with the rs: {r:?}"
    );
    assert_eq!(r.body["replicas"], 5, "{r:?}");
    assert_eq!(r.body["uid"], uid.as_str(), "{r:?}");
    let five = wait_converged(&server, &rs, &sel, 5, RS_DEADLINE);
    assert!(three.names().is_subset(&five.names()), "{:?}", five.names());
    for p in &five.pods {
        assert_rs_pod_name(&pod_name(p), &rs);
        assert_owned_by(p, &rs, &uid);
    }
    assert_eq!(five.rs["spec"]["replicas"], 5);

    // PATCH 5 → 1: four pods leave the API, their containers leave Docker.
    let t = Instant::now();
    let r = patch_rs(&server, &rs, &json!({"spec": {"replicas": 1}}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["replicas"], 1, "{r:?}");
    let one = wait_converged(&server, &rs, &sel, 1, RS_DEADLINE);
    eprintln!("5 → 1: containers removed in {:?}", t.elapsed());
    assert!(one.names().is_subset(&five.names()), "{:?}", one.names());
    for gone in five.names().difference(&one.names()) {
        assert!(get_pod(&server, gone).is_none(), "{gone} still in the API");
        assert!(containers_of_pod(gone).is_empty(), "{gone} still in Docker");
    }
    let survivor = one.names().into_iter().next().unwrap();
    assert_eq!(
        one.pod(&survivor)["id"],
        five.pod(&survivor)["id"],
        "the survivor keeps its container"
    );

    // `k1s_ctl scale` 1 → 4 → 2.
    let out = server.ctl(&["scale", "rs", &rs, "--replicas", "4"]);
    assert!(out.ok(), "scale: {out:?}");
    assert!(out.stdout.contains(&rs), "{out:?}");
    assert_eq!(
        get_rs(&server, &rs).unwrap()["replicas"],
        4,
        "scaled at once"
    );
    let four = wait_converged(&server, &rs, &sel, 4, RS_DEADLINE);
    assert!(four.names().contains(&survivor));
    let out = server.ctl(&["scale", "rs", &rs, "--replicas", "2"]);
    assert!(out.ok(), "scale: {out:?}");
    let two = wait_converged(&server, &rs, &sel, 2, RS_DEADLINE);
    assert!(two.names().is_subset(&four.names()), "{:?}", two.names());

    // To 0 and back: nothing left, then fresh pods.
    let r = patch_rs(&server, &rs, &json!({"spec": {"replicas": 0}}));
    assert_eq!(r.status, 200, "{r:?}");
    wait_converged(&server, &rs, &sel, 0, RS_DEADLINE);
    assert!(k1s_containers(&sel).is_empty());
    let out = server.ctl(&["scale", "rs", &rs, "--replicas", "1"]);
    assert!(out.ok(), "scale: {out:?}");
    let again = wait_converged(&server, &rs, &sel, 1, RS_DEADLINE);
    assert!(again.names().is_disjoint(&two.names()), "a new pod");

    // Scaling an unknown rs fails; a scale to the same count changes nothing.
    let ghost = cleanup.name("ghost");
    let out = server.ctl(&["scale", "rs", &ghost, "--replicas", "2"]);
    assert!(!out.ok(), "scale unknown: {out:?}");
    assert_eq!(out.output_lines().len(), 1, "{out:?}");
    let r = patch_rs(&server, &rs, &json!({"spec": {"replicas": 1}}));
    assert_eq!(r.status, 200, "{r:?}");
    holds_for(Duration::from_secs(2), "the same single pod", || {
        let c = observe(&server, &rs, &sel, 1)?;
        if c.names() == again.names() {
            Ok(())
        } else {
            Err(format!("{:?}", c.names()))
        }
    });
}
