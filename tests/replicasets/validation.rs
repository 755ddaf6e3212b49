//! Invalid ReplicaSets: 422 naming the field and nothing created; an invalid PATCH
//! changes nothing.

use super::*;
use serde_json::{Value, json};
use std::time::Duration;

/// `(what, manifest, the error's field)`.
fn cases(cleanup: &Cleanup) -> Vec<(&'static str, Value, &'static str)> {
    let mut n = 0;
    let mut base = || {
        n += 1;
        let mut rs = rs_manifest(&cleanup.name(&format!("v{n}")), &unique("inv"), 2);
        // Every case's pods would carry the suite label: checked absent at the end.
        rs["spec"]["template"]["metadata"]["labels"]["suite"] = json!(cleanup.prefix);
        rs
    };
    let mut v = Vec::new();

    let mut rs = base();
    rs["spec"]["template"]["metadata"]["labels"]["app"] = json!(unique("other"));
    v.push((
        "selector does not match the template's labels",
        rs,
        "spec.template.metadata.labels",
    ));

    let mut rs = base();
    rs["spec"].as_object_mut().unwrap().remove("selector");
    v.push(("no selector", rs, "spec.selector"));

    let mut rs = base();
    rs["spec"]["selector"] = json!({ "matchLabels": {} });
    v.push(("an empty selector", rs, "spec.selector"));

    let mut rs = base();
    rs["spec"]["replicas"] = json!(-1);
    v.push(("replicas -1", rs, "spec.replicas"));

    let mut rs = base();
    rs["spec"]["replicas"] = json!(1001);
    v.push(("replicas above the server's cap", rs, "spec.replicas"));

    let mut rs = base();
    rs["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    v.push((
        "restartPolicy Never",
        rs,
        "spec.template.spec.restartPolicy",
    ));

    let mut rs = base();
    rs["spec"]["template"]["spec"]["restartPolicy"] = json!("OnFailure");
    v.push((
        "restartPolicy OnFailure",
        rs,
        "spec.template.spec.restartPolicy",
    ));

    let mut rs = base();
    rs["spec"]["template"]["spec"]["containers"][0]["securityContext"] =
        json!({ "privileged": true });
    v.push((
        "a privileged container",
        rs,
        "spec.template.spec.containers[0].securityContext.privileged",
    ));

    let mut rs = base();
    rs["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("image");
    v.push((
        "a container without image",
        rs,
        "spec.template.spec.containers[0].image",
    ));

    let mut rs = base();
    rs["spec"]["replica"] = json!(3);
    v.push(("unknown field spec.replica", rs, "spec.replica"));

    v
}

#[test]
fn invalid_rs_specs_are_refused_naming_the_field() {
    let cleanup = Cleanup::new("rsinv");
    let server = Server::start();
    let suite = format!("suite={}", cleanup.prefix);
    for (what, rs, field) in cases(&cleanup) {
        let name = rs["metadata"]["name"].as_str().unwrap().to_string();
        let r = server.post_json("/k1s/rs", &rs);
        assert_eq!(r.status, 422, "{what}: {r:?}");
        assert_eq!(r.field(), Some(field), "{what}: {r:?}");
        assert!(r.error().is_some_and(|e| !e.is_empty()), "{what}: {r:?}");
        assert!(
            get_rs(&server, &name).is_none(),
            "{what}: the RS was stored"
        );
        assert!(
            list_rs(&server, None)
                .iter()
                .all(|x| x["name"] != name.as_str()),
            "{what}: the RS is listed"
        );
    }
    // Nothing was created, now or later.
    holds_for(Duration::from_secs(3), "no pod and no container", || {
        let pods = list_pods(&server, &suite);
        let ctrs = k1s_containers(&suite);
        if pods.is_empty() && ctrs.is_empty() {
            Ok(())
        } else {
            Err(format!("pods {pods:?}, containers {ctrs:?}"))
        }
    });
    assert!(
        list_rs(&server, None).is_empty(),
        "no RS at all on this server"
    );
}

#[test]
fn invalid_rs_patches_change_nothing() {
    let cleanup = Cleanup::new("rspatch");
    let server = Server::start();
    let rs = cleanup.name("rs");
    let app = unique("patch");
    let sel = format!("app={app}");
    create_rs(&server, &rs_manifest(&rs, &app, 2));
    let before = wait_converged(&server, &rs, &sel, 2, RS_DEADLINE);

    let refused = [
        (
            "replicas -1",
            json!({"spec": {"replicas": -1}}),
            "spec.replicas",
        ),
        (
            "replicas as a string",
            json!({"spec": {"replicas": "five"}}),
            "spec.replicas",
        ),
        (
            "a selector that still matches the template (immutable)",
            json!({"spec": {"selector": {"matchLabels": {"version": "1.0"}}}}),
            "spec.selector",
        ),
        (
            "template labels the selector no longer matches",
            json!({"spec": {"template": {"metadata": {"labels": {"app": unique("x")}}}}}),
            "spec.template.metadata.labels",
        ),
        (
            "restartPolicy Never",
            json!({"spec": {"template": {"spec": {"restartPolicy": "Never"}}}}),
            "spec.template.spec.restartPolicy",
        ),
    ];
    for (what, patch, field) in refused {
        let r = patch_rs(&server, &rs, &patch);
        assert_eq!(r.status, 422, "PATCH {what}: {r:?}");
        assert_eq!(r.field(), Some(field), "PATCH {what}: {r:?}");
    }
    // A selector pointing elsewhere: refused too (the field may be either).
    let r = patch_rs(
        &server,
        &rs,
        &json!({"spec": {"selector": {"matchLabels": {"app": unique("y")}}}}),
    );
    assert_eq!(r.status, 422, "PATCH changing the selector: {r:?}");
    assert!(
        matches!(
            r.field(),
            Some("spec.selector" | "spec.template.metadata.labels")
        ),
        "{r:?}"
    );
    // Unknown RS: 404; bytes that do not parse: 400.
    let ghost = cleanup.name("ghost");
    let r = patch_rs(&server, &ghost, &json!({"spec": {"replicas": 1}}));
    assert_eq!(r.status, 404, "PATCH unknown: {r:?}");
    assert!(get_rs(&server, &ghost).is_none(), "PATCH must not create");
    let r = server.request(
        "PATCH",
        &format!("/k1s/rs/{rs}"),
        Some(("application/merge-patch+json", b"{\"spec\":")),
    );
    assert_eq!(r.status, 400, "malformed patch: {r:?}");

    // Nothing changed: same spec, same pods, same containers.
    let after = get_rs(&server, &rs).unwrap();
    assert_eq!(after["spec"], before.rs["spec"], "the spec is unchanged");
    assert_eq!(after["uid"], before.rs["uid"]);
    holds_for(Duration::from_secs(2), "the same 2 pods", || {
        let c = observe(&server, &rs, &sel, 2)?;
        if c.names() == before.names() {
            Ok(())
        } else {
            Err(format!("{:?}", c.names()))
        }
    });
}
