//! Ownership: a matching orphan pod is adopted (and a surplus one scaled away); a pod
//! another ReplicaSet controls is never touched, even when it carries labels the first
//! one selects.

use super::*;
use serde_json::json;
use std::time::Duration;

#[test]
fn rs_adopts_an_existing_orphan_and_creates_only_the_rest() {
    let cleanup = Cleanup::new("rsadopt");
    let server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("orph");
    let sel = format!("app={app}");

    // A plain pod with the RS's labels exists first.
    let orphan = cleanup.name("orphan");
    let created = create_pod(&server, &pod_manifest(&orphan, &app, HTTP_IMAGE));
    let orphan_id = created["id"].as_str().expect("id").to_string();
    wait_running(&server, &orphan);

    let rs_uid = create_rs(&server, &rs_manifest(&rs, &app, 3))["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let conv = wait_converged(&server, &rs, &sel, 3, RS_DEADLINE);
    assert!(
        conv.names().contains(&orphan),
        "the orphan counts as one of the 3: {:?}",
        conv.names()
    );
    let p = get_pod(&server, &orphan).unwrap();
    assert_owned_by(&p, &rs, &rs_uid);
    assert_eq!(
        p["id"],
        orphan_id.as_str(),
        "adopted as it is, not recreated"
    );
    for name in conv.names().iter().filter(|n| **n != orphan) {
        assert_rs_pod_name(name, &rs);
    }
    holds_for(Duration::from_secs(2), "exactly 3 pods", || {
        observe(&server, &rs, &sel, 3).map(|_| ())
    });
}

#[test]
fn rs_adopts_a_surplus_pod_and_scales_back_to_three() {
    let cleanup = Cleanup::new("rssurp");
    let server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("surp");
    let sel = format!("app={app}");
    let rs_uid = create_rs(&server, &rs_manifest(&rs, &app, 3))["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let before = wait_converged(&server, &rs, &sel, 3, RS_DEADLINE);

    // A fourth matching pod, made by hand. The RS adopts it at once and, being the
    // newest and not yet running, it is the one scaled away — possibly before the POST
    // answers: see `post_of_a_pod_its_rs_scales_away_answers_201` for the answer.
    let extra = cleanup.name("extra");
    let r = server.post_json("/k1s/pod", &pod_manifest(&extra, &app, HTTP_IMAGE));
    assert!(
        r.status == 201
            || (r.status == 409 && r.error().is_some_and(|e| e.contains("being created"))),
        "POST /k1s/pod: {r:?}"
    );

    // Exactly 3 active matching pods remain, all owned by the RS; one container each.
    let after = wait_converged(&server, &rs, &sel, 3, RS_DEADLINE);
    for p in &after.pods {
        assert_owned_by(p, &rs, &rs_uid);
    }
    let mut all4 = before.names();
    all4.insert(extra.clone());
    assert!(
        after.names().is_subset(&all4),
        "no new pod was created, one of the 4 was scaled away: {:?} of {all4:?}",
        after.names()
    );
    let gone: Vec<String> = all4.difference(&after.names()).cloned().collect();
    assert_eq!(gone.len(), 1, "{gone:?}");
    let gone = &gone[0];
    assert!(get_pod(&server, gone).is_none(), "{gone} still in the API");
    assert!(containers_of_pod(gone).is_empty(), "{gone} still in Docker");
    if let Some(p) = get_pod(&server, &extra) {
        assert_owned_by(&p, &rs, &rs_uid);
    }
    // It was the RS that scaled it away.
    let events = get_rs(&server, &rs).unwrap()["events"].clone();
    assert!(
        events.as_array().is_some_and(|es| es.iter().any(|e| {
            e["reason"] == "SuccessfulDelete"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(gone.as_str()))
        })),
        "an RS event deleting {gone}: {events}"
    );
    holds_for(Duration::from_secs(2), "exactly 3 pods", || {
        observe(&server, &rs, &sel, 3).map(|_| ())
    });
}

/// docs/decisions.md, "Creating and deleting pods": once `POST /k1s/pod` has stored the
/// pod, the answer is 201 (with `id: null` when there is no container yet); 409 means
/// "name in use" and that nothing was created. A pod its ReplicaSet adopts and scales
/// away at once was nonetheless created (as in Kubernetes, whose POST answers 201 and
/// whose RS then deletes the surplus).
#[test]
fn post_of_a_pod_its_rs_scales_away_answers_201() {
    let cleanup = Cleanup::new("rspost");
    let server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("post");
    let sel = format!("app={app}");
    create_rs(&server, &rs_manifest(&rs, &app, 1));
    let before = wait_converged(&server, &rs, &sel, 1, RS_DEADLINE);

    let extra = cleanup.name("extra");
    let r = server.post_json("/k1s/pod", &pod_manifest(&extra, &app, HTTP_IMAGE));
    let after = wait_converged(&server, &rs, &sel, 1, RS_DEADLINE);
    assert_eq!(
        after.names(),
        before.names(),
        "the surplus pod was scaled away"
    );
    assert_eq!(
        r.status, 201,
        "the pod was stored (then adopted and deleted by its RS), so the POST must answer 201: {r:?}"
    );
    assert_eq!(r.body["name"], extra.as_str(), "{r:?}");
}

#[test]
fn pods_of_another_rs_are_never_touched() {
    let cleanup = Cleanup::new("rsother");
    let server = Server::start();
    let tier = unique("tier");
    let app_b = unique("b");

    // B selects `app: <b>`; its pods also carry `tier: <t>`.
    let rs_b = cleanup.name("b");
    let mut b = rs_manifest(&rs_b, &app_b, 3);
    b["spec"]["template"]["metadata"]["labels"]["tier"] = json!(tier);
    create_rs(&server, &b);
    let sel_b = format!("app={app_b}");
    let b_before = wait_converged(&server, &rs_b, &sel_b, 3, RS_DEADLINE);
    let b_uid = b_before.rs["uid"].as_str().unwrap().to_string();

    // A selects `tier: <t>`, which B's pods match: they are B's, A must not count,
    // adopt or delete them. A's own pods carry `role: <a>` for counting.
    let rs_a = cleanup.name("a");
    let role = unique("a");
    let mut a = rs_manifest(&rs_a, &tier, 2);
    a["spec"]["selector"]["matchLabels"] = json!({ "tier": tier });
    a["spec"]["template"]["metadata"]["labels"] = json!({ "tier": tier, "role": role });
    create_rs(&server, &a);
    let sel_a = format!("role={role}");
    let a_conv = wait_converged(&server, &rs_a, &sel_a, 2, RS_DEADLINE);
    let a_uid = a_conv.rs["uid"].as_str().unwrap().to_string();
    for p in &a_conv.pods {
        assert_rs_pod_name(&pod_name(p), &rs_a);
        assert_owned_by(p, &rs_a, &a_uid);
    }

    let b_untouched = |when: &str| {
        let now =
            observe(&server, &rs_b, &sel_b, 3).unwrap_or_else(|e| panic!("{when}: B changed: {e}"));
        assert_eq!(now.names(), b_before.names(), "{when}: B's pods");
        for p in &now.pods {
            assert_owned_by(p, &rs_b, &b_uid);
            let old = b_before.pod(&pod_name(p));
            assert_eq!(p["id"], old["id"], "{when}: same container");
            assert_eq!(p["restartCount"], 0, "{when}");
        }
    };
    b_untouched("after A was created");

    // Scaling A up and down to 0 never touches B's pods.
    assert_eq!(
        patch_rs(&server, &rs_a, &json!({"spec": {"replicas": 4}})).status,
        200
    );
    wait_converged(&server, &rs_a, &sel_a, 4, RS_DEADLINE);
    b_untouched("after A scaled to 4");
    assert_eq!(
        patch_rs(&server, &rs_a, &json!({"spec": {"replicas": 0}})).status,
        200
    );
    wait_converged(&server, &rs_a, &sel_a, 0, RS_DEADLINE);
    holds_for(
        Duration::from_secs(2),
        "B untouched while A is at 0",
        || observe(&server, &rs_b, &sel_b, 3).map(|_| ()),
    );
    b_untouched("after A scaled to 0");

    // Scaling B never touches A's pods either.
    assert_eq!(
        patch_rs(&server, &rs_a, &json!({"spec": {"replicas": 2}})).status,
        200
    );
    let a_conv = wait_converged(&server, &rs_a, &sel_a, 2, RS_DEADLINE);
    assert_eq!(
        patch_rs(&server, &rs_b, &json!({"spec": {"replicas": 1}})).status,
        200
    );
    wait_converged(&server, &rs_b, &sel_b, 1, RS_DEADLINE);
    let a_now = observe(&server, &rs_a, &sel_a, 2).expect("A unchanged");
    assert_eq!(a_now.names(), a_conv.names());

    // Deleting A leaves B's pod alone.
    let b_one = observe(&server, &rs_b, &sel_b, 1).expect("B at 1");
    assert_eq!(server.delete(&format!("/k1s/rs/{rs_a}")).status, 200);
    wait_no_containers(&sel_a, RS_DEADLINE);
    let b_after = observe(&server, &rs_b, &sel_b, 1).expect("B unchanged");
    assert_eq!(b_after.names(), b_one.names());
}
