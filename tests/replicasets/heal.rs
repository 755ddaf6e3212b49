//! A ReplicaSet heals: a removed or killed container is recreated or restarted in place
//! by the node agent (same pod, restartCount + 1, no replacement pod); a deleted pod is
//! replaced by the ReplicaSet with a new pod.

use super::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Healing is event-driven (docs/decisions.md, "ReplicaSets": "well under a second");
/// this is a correctness deadline for busy CI machines, the times seen are printed.
const HEAL_DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn rs_heals_removed_killed_and_deleted_pods() {
    let cleanup = Cleanup::new("rsheal");
    let server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("heal");
    let sel = format!("app={app}");
    create_rs(&server, &rs_manifest(&rs, &app, 3));
    let before = wait_converged(&server, &rs, &sel, 3, RS_DEADLINE);
    let names: Vec<String> = before.names().into_iter().collect();
    let (removed, killed, deleted) = (&names[0], &names[1], &names[2]);
    // The node agent heals a lost container in place: the RS creates and deletes nothing.
    let creates = rs_event_total(&server, &rs, "SuccessfulCreate");
    assert!(creates >= 1, "the RS recorded its creations");
    let mut seen = BTreeSet::new();

    // 1. `docker rm -f`: recreated in place — same pod, a new container, restartCount 1.
    let old_id = before.pod(removed)["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    docker_ok(&["rm", "-f", &old_id]);
    let after = wait_for(HEAL_DEADLINE, "the removed container recreated", || {
        note_pods(&server, &sel, &mut seen);
        let c = observe(&server, &rs, &sel, 3)?;
        let p = c.pod(removed);
        if p["id"] != old_id.as_str() && p["restartCount"] == 1 {
            Ok(c)
        } else {
            Err(brief(p))
        }
    });
    eprintln!("rm -f: healed in {:?}", t.elapsed());
    assert_eq!(
        after.names(),
        before.names(),
        "the same pods, none replaced"
    );
    for n in [killed, deleted] {
        assert_eq!(after.pod(n)["restartCount"], 0, "{}", brief(after.pod(n)));
        assert_eq!(after.pod(n)["id"], before.pod(n)["id"], "untouched");
    }
    assert!(
        inspect(&old_id).is_none(),
        "the removed container stays gone"
    );

    // 2. `docker kill`: restarted in place — same pod, restartCount 1.
    let kill_id = after.pod(killed)["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    docker_ok(&["kill", &kill_id]);
    let after = wait_for(HEAL_DEADLINE, "the killed container restarted", || {
        note_pods(&server, &sel, &mut seen);
        let c = observe(&server, &rs, &sel, 3)?;
        let p = c.pod(killed);
        if p["restartCount"] == 1 {
            Ok(c)
        } else {
            Err(brief(p))
        }
    });
    eprintln!("kill: healed in {:?}", t.elapsed());
    assert_eq!(
        after.names(),
        before.names(),
        "the same pods, none replaced"
    );
    assert_eq!(after.pod(removed)["restartCount"], 1);
    assert_eq!(after.pod(deleted)["restartCount"], 0);
    assert_eq!(
        containers_of_pod(killed).len(),
        1,
        "no stale exited container beside the running one"
    );
    assert_eq!(
        seen,
        before.names(),
        "no replacement pod, not even for a moment"
    );
    assert_eq!(
        rs_event_total(&server, &rs, "SuccessfulCreate"),
        creates,
        "the RS created no pod for a lost container"
    );
    assert_eq!(rs_event_total(&server, &rs, "SuccessfulDelete"), 0);

    // 3. DELETE the pod: the ReplicaSet replaces it with a new pod.
    let del_id = after.pod(deleted)["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    let r = server.delete(&format!("/k1s/pod/{deleted}"));
    assert_eq!(r.status, 200, "{r:?}");
    let uid = after.rs["uid"].as_str().unwrap().to_string();
    let after = wait_for(RS_DEADLINE, "the deleted pod replaced", || {
        let c = observe(&server, &rs, &sel, 3)?;
        if c.names().contains(deleted) {
            Err(format!("{deleted} still listed: {:?}", c.names()))
        } else {
            Ok(c)
        }
    });
    eprintln!("DELETE pod: replaced in {:?}", t.elapsed());
    assert!(
        get_pod(&server, deleted).is_none(),
        "the deleted pod stays gone"
    );
    assert!(inspect(&del_id).is_none(), "its container was removed");
    let new: Vec<String> = after.names().difference(&before.names()).cloned().collect();
    assert_eq!(new.len(), 1, "exactly one new pod: {:?}", after.names());
    assert_rs_pod_name(&new[0], &rs);
    assert_owned_by(after.pod(&new[0]), &rs, &uid);
    assert_eq!(after.pod(&new[0])["restartCount"], 0);
    assert!(after.names().contains(removed) && after.names().contains(killed));

    // And it stays at exactly 3: no late extra pod.
    holds_for(Duration::from_secs(3), "exactly 3 pods", || {
        observe(&server, &rs, &sel, 3).map(|_| ())
    });
}
