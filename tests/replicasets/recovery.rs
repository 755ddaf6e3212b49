//! Crash recovery of ReplicaSets (docs/decisions.md, "Crash recovery"): the RS comes
//! back from the database with its controller, its pods are found again (not
//! duplicated), pods whose containers died or vanished while the server was down are
//! restarted or recreated, and a scale-up cut short by `kill -9` converges to exactly
//! the desired count.

use super::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// 30 containers created and started on 2 busy cores.
const SCALE30_DEADLINE: Duration = Duration::from_secs(90);

#[test]
fn rs_kill9_during_scale_up_to_30_converges_exactly() {
    let cleanup = Cleanup::new("rs30");
    let mut server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("s30");
    let sel = format!("app={app}");
    let uid = create_rs(&server, &rs_manifest(&rs, &app, 0))["uid"]
        .as_str()
        .unwrap()
        .to_string();
    wait_converged(&server, &rs, &sel, 0, RS_DEADLINE);
    let instance = instance_of(&server);

    // Scale 0 → 30 and kill -9 the server once the first containers exist.
    let t = Instant::now();
    let r = patch_rs(&server, &rs, &json!({"spec": {"replicas": 30}}));
    assert_eq!(r.status, 200, "{r:?}");
    let at_kill = wait_until(RS_DEADLINE, "the first container of the scale-up", || {
        let n = k1s_containers(&sel).len();
        (n >= 1).then_some(n)
    });
    server.kill9();
    eprintln!(
        "killed {:?} after the PATCH with {at_kill} container(s)",
        t.elapsed()
    );
    assert!(at_kill < 30, "the scale-up was over before the kill");
    let stored_before = k1s_containers(&sel).len();
    assert!(stored_before < 30, "{stored_before} containers while down");

    // Same db and port: the RS is there (with the acknowledged 30) and converges.
    server.restart();
    assert_eq!(instance_of(&server), instance, "the same instance id");
    let d = get_rs(&server, &rs).expect("the RS survived kill -9");
    assert_eq!(d["uid"], uid.as_str());
    assert_eq!(d["replicas"], 30, "the acknowledged scale is not lost");

    // Once more while it catches up: kill -9 as soon as it answers, then start again.
    server.kill9();
    eprintln!(
        "second kill with {} container(s)",
        k1s_containers(&sel).len()
    );
    server.restart();
    assert_eq!(get_rs(&server, &rs).unwrap()["uid"], uid.as_str());
    let t = Instant::now();
    let conv = wait_converged(&server, &rs, &sel, 30, SCALE30_DEADLINE);
    eprintln!("30 pods Running {:?} after the restart", t.elapsed());

    // No duplicates, no orphans: 30 distinct pods, each with exactly one container of
    // this instance, and every container of this instance for this RS names a pod.
    let names = conv.names();
    assert_eq!(names.len(), 30);
    for p in &conv.pods {
        assert_rs_pod_name(&pod_name(p), &rs);
        assert_owned_by(p, &rs, &uid);
    }
    let check_docker = || -> Result<(), String> {
        let ours: Vec<Ctr> = k1s_containers(&format!("k1s.io/instance={instance}"))
            .into_iter()
            .filter(|c| c.pod.starts_with(&format!("{rs}-")))
            .collect();
        let pods: BTreeSet<String> = ours.iter().map(|c| c.pod.clone()).collect();
        if ours.len() != 30 || pods != names {
            return Err(format!(
                "{} containers for pods {:?}",
                ours.len(),
                pods.symmetric_difference(&names).collect::<Vec<_>>()
            ));
        }
        for n in &names {
            let ids = containers_named(n);
            if ids.len() != 1 {
                return Err(format!("pod {n}: containers {ids:?}"));
            }
        }
        if list_pods(&server, &sel).len() != 30 {
            return Err("pod count changed".into());
        }
        Ok(())
    };
    check_docker().unwrap();
    holds_for(
        Duration::from_secs(3),
        "exactly 30 pods and containers",
        || observe(&server, &rs, &sel, 30).map(|_| ()),
    );
    check_docker().unwrap();

    // Clean up through K1s: all 30 containers go.
    assert_eq!(server.delete(&format!("/k1s/rs/{rs}")).status, 200);
    wait_no_containers(&sel, SCALE30_DEADLINE);
}

#[test]
fn rs_created_just_before_kill9_is_carried_out_after_restart() {
    let cleanup = Cleanup::new("rsack");
    let mut server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("ack");
    let sel = format!("app={app}");
    let uid = create_rs(&server, &rs_manifest(&rs, &app, 5))["uid"]
        .as_str()
        .unwrap()
        .to_string();
    server.kill9();
    let at_kill = k1s_containers(&sel).len();
    eprintln!("killed right after the 201 with {at_kill} container(s)");

    server.restart();
    let d = get_rs(&server, &rs).expect("an acknowledged create is not lost");
    assert_eq!(d["uid"], uid.as_str());
    let conv = wait_converged(&server, &rs, &sel, 5, RS_DEADLINE);
    for p in &conv.pods {
        assert_rs_pod_name(&pod_name(p), &rs);
        assert_owned_by(p, &rs, &uid);
    }
    holds_for(Duration::from_secs(2), "exactly 5 pods", || {
        observe(&server, &rs, &sel, 5).map(|_| ())
    });
}

#[test]
fn rs_pods_lost_while_server_down_are_recreated_and_restarted() {
    let cleanup = Cleanup::new("rsdown");
    let mut server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("down");
    let sel = format!("app={app}");
    create_rs(&server, &rs_manifest(&rs, &app, 3));
    let before = wait_converged(&server, &rs, &sel, 3, RS_DEADLINE);
    let names: Vec<String> = before.names().into_iter().collect();
    let (removed, killed, kept) = (&names[0], &names[1], &names[2]);
    let id = |n: &str| before.pod(n)["id"].as_str().unwrap().to_string();

    server.stop_sigterm();
    // Stopping K1s never stops pods.
    for n in &names {
        assert_eq!(
            container_state(&id(n)).map(|s| s.0),
            Some(true),
            "{n} keeps running while K1s is down"
        );
    }
    docker_ok(&["rm", "-f", &id(removed)]);
    docker_ok(&["kill", &id(killed)]);
    let (_, kept_started) = container_state(&id(kept)).unwrap();

    server.restart();
    let mut seen = BTreeSet::new();
    let after = wait_for(RS_DEADLINE, "3 Running pods again", || {
        note_pods(&server, &sel, &mut seen);
        let c = observe(&server, &rs, &sel, 3)?;
        let rc = |n: &str| c.pod(n)["restartCount"].as_i64();
        if rc(removed) == Some(1) && rc(killed) == Some(1) {
            Ok(c)
        } else {
            Err(format!(
                "restartCount removed={:?} killed={:?}",
                rc(removed),
                rc(killed)
            ))
        }
    });
    assert_eq!(
        after.names(),
        before.names(),
        "the same pods, none replaced"
    );
    assert_ne!(after.pod(removed)["id"], id(removed).as_str(), "recreated");
    assert_eq!(after.pod(kept)["id"], id(kept).as_str(), "found again");
    assert_eq!(after.pod(kept)["restartCount"], 0);
    assert_eq!(
        container_state(&id(kept)),
        Some((true, kept_started)),
        "the untouched pod was never restarted"
    );
    holds_for(Duration::from_secs(3), "exactly 3 pods", || {
        let c = observe(&server, &rs, &sel, 3)?;
        if c.names() == before.names() {
            Ok(())
        } else {
            Err(format!("{:?}", c.names()))
        }
    });
}

#[test]
fn rs_persists_across_sigterm_and_kill9_restarts() {
    let cleanup = Cleanup::new("rspersist");
    let mut server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("keep");
    let sel = format!("app={app}");
    let mut manifest = rs_manifest(&rs, &app, 3);
    manifest["metadata"]["labels"] = json!({ "suite": cleanup.prefix });
    create_rs(&server, &manifest);
    let before = wait_converged(&server, &rs, &sel, 3, RS_DEADLINE);

    let same = |server: &Server, when: &str| {
        let d = get_rs(server, &rs).unwrap_or_else(|| panic!("{when}: the RS is gone"));
        for k in ["uid", "creationTimestamp", "labels", "selector", "spec"] {
            assert_eq!(d[k], before.rs[k], "{when}: {k}");
        }
        let listed = list_rs(server, Some(&format!("suite={}", cleanup.prefix)));
        assert_eq!(listed.len(), 1, "{when}: {listed:?}");
        let now = wait_converged(server, &rs, &sel, 3, RS_DEADLINE);
        assert_eq!(now.names(), before.names(), "{when}: the same pods");
        for p in &now.pods {
            let old = before.pod(&pod_name(p));
            assert_eq!(p["id"], old["id"], "{when}: the same container");
            assert_eq!(p["restartCount"], 0, "{when}");
        }
    };

    server.stop_sigterm();
    server.restart();
    same(&server, "after SIGTERM and restart");
    server.kill9();
    server.restart();
    same(&server, "after kill -9 and restart");

    // The controller is back: a PATCH acknowledged just before a kill -9 is kept and
    // carried out after the restart.
    let r = patch_rs(&server, &rs, &json!({"spec": {"replicas": 4}}));
    assert_eq!(r.status, 200, "{r:?}");
    server.kill9();
    server.restart();
    assert_eq!(get_rs(&server, &rs).unwrap()["replicas"], 4);
    let four = wait_converged(&server, &rs, &sel, 4, RS_DEADLINE);
    assert!(before.names().is_subset(&four.names()));
}

#[test]
fn rs_scale_down_and_delete_cut_by_kill9_finish_after_restart() {
    let cleanup = Cleanup::new("rscut");
    let mut server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("cut");
    let sel = format!("app={app}");
    create_rs(&server, &rs_manifest(&rs, &app, 5));
    let five = wait_converged(&server, &rs, &sel, 5, RS_DEADLINE);

    // Scale 5 → 1 acknowledged, kill -9 at once: after the restart exactly 1 is left,
    // one of the five, and the other four containers are removed.
    let r = patch_rs(&server, &rs, &json!({"spec": {"replicas": 1}}));
    assert_eq!(r.status, 200, "{r:?}");
    server.kill9();
    eprintln!(
        "killed after the scale-down with {} container(s)",
        k1s_containers(&sel).len()
    );
    server.restart();
    let one = wait_converged(&server, &rs, &sel, 1, RS_DEADLINE);
    assert!(one.names().is_subset(&five.names()), "{:?}", one.names());

    // Delete acknowledged, kill -9 at once: the RS stays gone and its pod goes.
    let r = server.delete(&format!("/k1s/rs/{rs}"));
    assert_eq!(r.status, 200, "{r:?}");
    server.kill9();
    server.restart();
    assert!(get_rs(&server, &rs).is_none(), "a deleted RS came back");
    wait_until(RS_DEADLINE, "the RS's pods to leave the API", || {
        list_pods(&server, &sel).is_empty().then_some(())
    });
    wait_no_containers(&sel, RS_DEADLINE);
    holds_for(Duration::from_secs(2), "nothing comes back", || {
        match (list_pods(&server, &sel).len(), k1s_containers(&sel).len()) {
            (0, 0) => Ok(()),
            (p, c) => Err(format!("{p} pods, {c} containers")),
        }
    });
}
