//! HPA admission: the handout's `autoscaling/v2beta2` example as written (YAML), v1's
//! `targetCPUUtilizationPercentage`, invalid specs refused with 422 naming the field,
//! 404s, DELETE leaving the ReplicaSet alone, and `k1s_ctl create/get/describe/delete hpa`.

use super::*;
use std::time::Duration;

/// The handout's `examples/hpa.yaml` text with only `metadata.name` and
/// `scaleTargetRef.name` changed.
fn handout_hpa_yaml(name: &str, rs: &str) -> String {
    let path = images::repo_root().join("examples/hpa.yaml");
    let text = std::fs::read_to_string(&path).expect("read examples/hpa.yaml");
    assert_eq!(text.matches("name: test-hpa").count(), 1, "{text}");
    assert_eq!(text.matches("name: test-rs").count(), 1, "{text}");
    let out = text
        .replace("name: test-hpa", &format!("name: {name}"))
        .replace("name: test-rs", &format!("name: {rs}"));
    assert!(out.contains("apiVersion: autoscaling/v2beta2"), "{out}");
    out
}

/// Waits until the HPA reports it cannot get its target's scale.
fn wait_failed_get_scale(server: &Server, hpa: &str) -> Value {
    wait_for(
        Duration::from_secs(30),
        &format!("{hpa}: AbleToScale False FailedGetScale"),
        || {
            let h = hpa_extra(server, hpa).ok_or("404")?;
            if has_condition(&h, "AbleToScale", "False", "FailedGetScale") {
                Ok(h)
            } else {
                Err(hpa_brief(&h))
            }
        },
    )
}

#[test]
fn example_hpa_yaml_is_accepted_and_reports_a_missing_target() {
    let cleanup = Cleanup::new("hpaex");
    let server = hpa_server();
    let hpa = cleanup.name("hpa");
    let rs = cleanup.name("rs");

    let r = server.post_yaml("/k1s/hpa", &handout_hpa_yaml(&hpa, &rs));
    assert_eq!(r.status, 201, "the handout's hpa.yaml: {r:?}");
    assert_eq!(r.body["name"], hpa.as_str(), "{r:?}");
    assert_eq!(r.body["target"], rs.as_str(), "{r:?}");
    assert_eq!(r.body["minReplicas"], 1, "{r:?}");
    assert_eq!(r.body["maxReplicas"], 5, "{r:?}");

    let h = hpa_extra(&server, &hpa).expect("GET after POST");
    assert_eq!(h["target"], rs.as_str());
    assert_eq!(h["spec"]["scaleTargetRef"]["kind"], "ReplicaSet", "{h}");
    assert_eq!(h["spec"]["scaleTargetRef"]["name"], rs.as_str(), "{h}");
    let m = &h["spec"]["metrics"][0];
    assert_eq!(m["type"], "Resource", "{h}");
    assert_eq!(m["resource"]["name"], "cpu", "{h}");
    assert_eq!(m["resource"]["target"]["type"], "Utilization", "{h}");
    assert_eq!(m["resource"]["target"]["averageUtilization"], 60, "{h}");

    // Its target does not exist: a condition says so, and nothing crashes.
    let h = wait_failed_get_scale(&server, &hpa);
    let able = condition(&h, "AbleToScale").unwrap();
    assert!(
        able["message"].as_str().is_some_and(|m| m.contains(&rs)),
        "the message names the missing ReplicaSet: {able}"
    );
    assert!(
        !event_messages(&h, "FailedGetScale").is_empty(),
        "a FailedGetScale event: {}",
        hpa_brief(&h)
    );
    // A few more sync periods: still answering, still there.
    holds_for(Duration::from_secs(5), "the server answering", || {
        let r = server.get("/healthz");
        if r.status != 200 {
            return Err(format!("{r:?}"));
        }
        hpa_extra(&server, &hpa)
            .map(|_| ())
            .ok_or("HPA gone".into())
    });

    // Once the target exists, the same HPA finds it and measures its pods.
    let app = cleanup.prefix.clone();
    create_ok(&server, "rs", &burn_rs(&rs, &app, 1, &["sleep"], None));
    let h = wait_for(
        Duration::from_secs(60),
        "the HPA to find its new target",
        || {
            let h = hpa_extra(&server, &hpa).ok_or("404")?;
            if has_condition(&h, "AbleToScale", "True", "ReadyForNewScale")
                && has_condition(&h, "ScalingActive", "True", "ValidMetricFound")
                && h["currentReplicas"] == 1
            {
                Ok(h)
            } else {
                Err(hpa_brief(&h))
            }
        },
    );
    assert_eq!(h["desiredReplicas"], 1, "{}", hpa_brief(&h));
    let d = server.delete(&format!("/k1s/rs/{rs}"));
    assert_eq!(d.status, 200, "{d:?}");
    wait_failed_get_scale(&server, &hpa);

    // The same file (renamed) through k1s_ctl.
    let hpa2 = cleanup.name("hpa2");
    let file = server.dir().join("hpa.yaml");
    std::fs::write(&file, handout_hpa_yaml(&hpa2, &rs)).unwrap();
    let out = server.ctl(&["create", "hpa", file.to_str().unwrap()]);
    assert!(out.ok(), "k1s_ctl create hpa: {out:?}");
    assert!(out.stdout.contains(&hpa2), "names the HPA: {out:?}");
    let h2 = hpa_extra(&server, &hpa2).expect("created through k1s_ctl");
    assert_eq!(h2["spec"], h["spec"], "the same spec both ways");
    wait_failed_get_scale(&server, &hpa2);

    // get hpa lists both; no metric yet, so `<unknown>/60%`.
    let out = server.ctl(&["get", "hpa"]);
    assert!(out.ok(), "{out:?}");
    for n in [&hpa, &hpa2] {
        let line = table_line(&out.stdout, n).unwrap_or_else(|| panic!("{n} listed: {out:?}"));
        assert!(line.contains(&format!("ReplicaSet/{rs}")), "{line}");
        assert!(line.contains("/60%"), "{line}");
    }
    let out = server.ctl(&["describe", "hpa", &hpa2]);
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains("FailedGetScale"), "{out:?}");

    // delete hpa through k1s_ctl; then it is gone.
    let out = server.ctl(&["delete", "hpa", &hpa2]);
    assert!(out.ok(), "{out:?}");
    assert!(hpa_extra(&server, &hpa2).is_none(), "deleted");
    let out = server.ctl(&["describe", "hpa", &hpa2]);
    assert!(!out.ok(), "describe of a deleted HPA fails: {out:?}");
}

#[test]
fn autoscaling_v1_target_cpu_percentage_is_accepted() {
    let cleanup = Cleanup::new("hpav1");
    let server = hpa_server();
    let hpa = cleanup.name("hpa");
    let rs = cleanup.name("rs");
    let body = json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": hpa},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs},
            "minReplicas": 2,
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 35
        }
    });
    let created = create_ok(&server, "hpa", &body);
    assert_eq!(created["target"], rs.as_str(), "{created}");
    assert_eq!(created["minReplicas"], 2, "{created}");
    assert_eq!(created["maxReplicas"], 4, "{created}");

    let h = hpa_extra(&server, &hpa).expect("GET after POST");
    let metrics = h["spec"]["metrics"].as_array().expect("spec.metrics (v2)");
    assert_eq!(metrics.len(), 1, "{h}");
    assert_eq!(metrics[0]["type"], "Resource", "{h}");
    assert_eq!(metrics[0]["resource"]["name"], "cpu", "{h}");
    assert_eq!(
        metrics[0]["resource"]["target"]["type"], "Utilization",
        "{h}"
    );
    assert_eq!(
        metrics[0]["resource"]["target"]["averageUtilization"], 35,
        "{h}"
    );
    assert!(
        h["spec"].get("targetCPUUtilizationPercentage").is_none(),
        "stored in the v2 form: {h}"
    );

    // YAML too; without minReplicas it defaults to 1.
    let hpa_y = cleanup.name("hpay");
    let yaml = format!(
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {hpa_y}\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: ReplicaSet\n    name: {rs}\n  maxReplicas: 3\n  targetCPUUtilizationPercentage: 70\n"
    );
    let r = server.post_yaml("/k1s/hpa", &yaml);
    assert_eq!(r.status, 201, "{r:?}");
    let h = hpa_extra(&server, &hpa_y).expect("GET after POST");
    assert_eq!(h["minReplicas"], 1, "{h}");
    assert_eq!(
        h["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 70,
        "{h}"
    );
}

#[test]
fn invalid_hpas_are_refused_naming_the_field() {
    let cleanup = Cleanup::new("hpabad");
    let server = hpa_server();
    let rs = cleanup.name("rs");
    let base = |name: &str| hpa_v2(name, &rs, 1, 3, 50);

    type Mutation = fn(&mut Value);
    let cases: &[(&str, Mutation)] = &[
        ("spec.scaleTargetRef.kind", |v| {
            v["spec"]["scaleTargetRef"]["kind"] = json!("Deployment")
        }),
        ("spec.minReplicas", |v| v["spec"]["minReplicas"] = json!(0)),
        ("spec.maxReplicas", |v| {
            v["spec"]["minReplicas"] = json!(3);
            v["spec"]["maxReplicas"] = json!(2);
        }),
        ("spec.metrics[0].resource.name", |v| {
            v["spec"]["metrics"][0]["resource"]["name"] = json!("gpu")
        }),
        ("spec.metrics[0].type", |v| {
            v["spec"]["metrics"][0] = json!({
                "type": "External",
                "external": {
                    "metric": {"name": "queue_length"},
                    "target": {"type": "Value", "value": "10"}
                }
            })
        }),
        ("spec.maxReplica", |v| v["spec"]["maxReplica"] = json!(3)),
        // Above the server's replica cap (--max-replicas, default 1000).
        ("spec.maxReplicas", |v| {
            v["spec"]["maxReplicas"] = json!(1001)
        }),
    ];
    for (i, (field, mutate)) in cases.iter().enumerate() {
        let name = cleanup.name(&format!("bad{i}"));
        let mut v = base(&name);
        mutate(&mut v);
        let r = server.post_json("/k1s/hpa", &v);
        assert_eq!(r.status, 422, "{field}: {v} → {r:?}");
        let causes: Vec<&str> = r.body["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["field"].as_str())
            .collect();
        assert!(
            r.field() == Some(*field) || causes.contains(field),
            "{field}: the answer names it: {r:?}"
        );
        assert!(
            r.error().is_some_and(|e| e.contains(field)),
            "{field}: the message names it: {r:?}"
        );
        assert!(
            hpa_extra(&server, &name).is_none(),
            "{field}: nothing stored"
        );
    }
    let r = server.get("/k1s/hpa");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!([]), "nothing stored: {r:?}");

    // A malformed body is a 400, not a 422 or a 500.
    let r = server.request(
        "POST",
        "/k1s/hpa",
        Some(("application/json", b"{\"apiVersion\": ")),
    );
    assert_eq!(r.status, 400, "{r:?}");

    // 404s for unknown names.
    let ghost = cleanup.name("ghost");
    let r = server.get(&format!("/k1s/hpa/{ghost}"));
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.error().is_some(), "{r:?}");
    let r = server.delete(&format!("/k1s/hpa/{ghost}"));
    assert_eq!(r.status, 404, "{r:?}");
    let out = server.ctl(&["describe", "hpa", &ghost]);
    assert!(!out.ok(), "{out:?}");
    assert_eq!(out.output_lines().len(), 1, "a one-line reason: {out:?}");

    // A name in use: 409, the first one untouched.
    let hpa = cleanup.name("hpa");
    let first = create_ok(&server, "hpa", &hpa_v2(&hpa, &rs, 1, 3, 50));
    let r = server.post_json("/k1s/hpa", &hpa_v2(&hpa, &rs, 1, 9, 10));
    assert_eq!(r.status, 409, "{r:?}");
    let h = hpa_extra(&server, &hpa).unwrap();
    assert_eq!(h["uid"], first["uid"]);
    assert_eq!(h["maxReplicas"], 3);
}

#[test]
fn deleting_an_hpa_leaves_its_replicaset_and_pods_alone() {
    let cleanup = Cleanup::new("hpadel");
    let server = hpa_server();
    let app = cleanup.prefix.clone();
    let rs = cleanup.name("rs");
    let hpa = cleanup.name("hpa");

    // Idle pods at min: the HPA has nothing to change.
    create_ok(&server, "rs", &burn_rs(&rs, &app, 2, &["sleep"], None));
    let r = wait_rs_running(&server, &rs, 2, POD_DEADLINE, "2 idle pods Running");
    let mut pods = running_pods(&r);
    pods.sort();
    create_ok(&server, "hpa", &hpa_v2(&hpa, &rs, 2, 4, 50));
    let h = wait_for(
        Duration::from_secs(30),
        "the HPA to evaluate its target",
        || {
            let h = hpa_extra(&server, &hpa).ok_or("404")?;
            if h["currentReplicas"] == 2 && cpu_utilization(&h).is_some() {
                Ok(h)
            } else {
                Err(hpa_brief(&h))
            }
        },
    );
    assert_eq!(h["desiredReplicas"], 2, "{}", hpa_brief(&h));

    let d = server.delete(&format!("/k1s/hpa/{hpa}"));
    assert_eq!(d.status, 200, "{d:?}");
    assert_eq!(d.body["name"], hpa.as_str(), "the hpa shape: {d:?}");
    assert_eq!(d.body["target"], rs.as_str(), "{d:?}");
    assert!(hpa_extra(&server, &hpa).is_none(), "gone at once");
    let r = server.delete(&format!("/k1s/hpa/{hpa}"));
    assert_eq!(r.status, 404, "a second DELETE: {r:?}");

    holds_for(
        Duration::from_secs(5),
        "the ReplicaSet and its pods untouched",
        || {
            let r = rs_extra(&server, &rs);
            let mut now = running_pods(&r);
            now.sort();
            if r["replicas"] == 2 && now == pods {
                Ok(())
            } else {
                Err(rs_brief(&r))
            }
        },
    );
}
