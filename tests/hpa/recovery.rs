//! Crash recovery of HPAs (docs/decisions.md, "Crash recovery"): after kill -9 and a
//! restart on the same database the HPA is there, the same object, and its controller
//! works again.

use super::*;
use std::time::{Duration, Instant};

#[test]
fn hpa_survives_kill9_and_keeps_scaling() {
    let _cpu = cpu_heavy();
    let cleanup = Cleanup::new("hparec");
    let mut server = hpa_server();
    let app = cleanup.prefix.clone();
    let rs = cleanup.name("rs");
    let hpa = cleanup.name("hpa");

    create_ok(
        &server,
        "rs",
        &burn_rs(&rs, &app, 1, &["burn", "--millicores", "500"], None),
    );
    wait_rs_running(&server, &rs, 1, POD_DEADLINE, "the first burn pod Running");
    // No CPU request: utilization is a percentage of one full CPU (docs/decisions.md,
    // "Autoscaling"). ~50 % of one CPU against 10 %: ceil(1 × 50 / 10) = 5 → max 3. A
    // low target, so that a burner still asks for more on a busy machine where it gets
    // less than its 500m.
    create_ok(&server, "hpa", &hpa_v2(&hpa, &rs, 1, 3, 10));
    wait_rs_replicas(
        &server,
        &rs,
        &hpa,
        3,
        SCALE_UP_DEADLINE,
        "the HPA to scale the ReplicaSet to 3 (before the crash)",
    );
    let before = wait_for(Duration::from_secs(30), "the HPA's status written", || {
        let h = hpa_extra(&server, &hpa).ok_or("404")?;
        if h["desiredReplicas"] == 3
            && h["status"]["lastScaleTime"].is_string()
            && cpu_utilization(&h).is_some()
        {
            Ok(h)
        } else {
            Err(hpa_brief(&h))
        }
    });

    // Without a request, a percentage of one full CPU.
    assert_utilization_of(&before, 1000.0);

    server.kill9();
    server.restart();

    let after = hpa_extra(&server, &hpa).expect("the HPA is back after kill -9");
    assert_eq!(after["uid"], before["uid"], "the same HPA object");
    assert_eq!(after["spec"], before["spec"], "the same spec");
    assert_eq!(after["creationTimestamp"], before["creationTimestamp"]);
    assert_eq!(after["target"], rs.as_str());
    assert_eq!(
        after["status"]["lastScaleTime"],
        before["status"]["lastScaleTime"],
        "the status was stored: {}",
        hpa_brief(&after)
    );
    let listed = server.get("/k1s/hpa");
    assert_eq!(listed.status, 200, "{listed:?}");
    let count = listed
        .body
        .as_array()
        .expect("a list")
        .iter()
        .filter(|h| h["name"] == hpa.as_str())
        .count();
    assert_eq!(count, 1, "listed once: {listed:?}");
    assert_eq!(rs_extra(&server, &rs)["replicas"], 3);

    // Its controller runs again: a user scales the ReplicaSet down to 1 while the load
    // still asks for 3, and the HPA scales it back up.
    let t0 = Instant::now();
    patch_rs(&server, &rs, &json!({"spec": {"replicas": 1}}));
    let h = wait_for(
        SCALE_UP_DEADLINE,
        "the HPA to scale the ReplicaSet back to 3 after the restart",
        || {
            let h = hpa_extra(&server, &hpa).ok_or("404")?;
            let r = rs_extra(&server, &rs);
            let rescaled = !event_messages(&h, "SuccessfulRescale").is_empty();
            if rescaled && r["replicas"] == 3 && h["status"]["lastScaleTime"].is_string() {
                Ok(h)
            } else {
                Err(format!("rs {}; hpa {}", rs_brief(&r), hpa_brief(&h)))
            }
        },
    );
    eprintln!(
        "hpa recovery: scaled back to 3 {:.1?} after the user's scale to 1",
        t0.elapsed()
    );
    assert!(
        event_messages(&h, "SuccessfulRescale")
            .iter()
            .any(|m| m.contains("New size: 3")),
        "{}",
        hpa_brief(&h)
    );
    assert_ne!(
        h["status"]["lastScaleTime"],
        before["status"]["lastScaleTime"],
        "a new scale time: {}",
        hpa_brief(&h)
    );
    wait_rs_running(&server, &rs, 3, POD_DEADLINE, "3 pods Running again");
}
