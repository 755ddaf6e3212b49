//! ReplicaSets (`apps/v1`): admission with Kubernetes' rules — a selector that is
//! required and matches the template's labels, `replicas` ≥ 0 (and under the server's
//! cap), a valid pod template whose `restartPolicy` is Always — plus JSON merge patch
//! for `PATCH /k1s/rs/NAME`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use super::meta::{
    apply_object_meta_defaults, validate_labels, validate_name_required, validate_object_meta,
};
use super::pod::{apply_pod_spec_defaults, validate_pod_spec};
use super::{
    AdmissionOptions, Admitted, FieldError, HostLimits, Invalid, check_type_meta, decode_strict,
    labels, strip_system_fields,
};

const OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];

/// Room a ReplicaSet name leaves for its pods' `-xxxxx` suffix within 253 characters.
const NAME_MAX: usize = 253 - 6;

/// Full admission of a ReplicaSet body for creation (or, with the stored object's
/// system fields already stripped, for an update). `max_replicas` is the server's cap.
pub fn admit_replica_set(
    value: Value,
    host: &HostLimits,
    opts: &AdmissionOptions,
    max_replicas: u32,
) -> Result<Admitted<ReplicaSet>, Invalid> {
    check_type_meta(&value, &["apps/v1"], "ReplicaSet")?;
    let mut value = value;
    strip_system_fields(&mut value);
    let mut errs = Vec::new();
    let mut warnings = Vec::new();
    let Some(mut rs) = decode_strict::<ReplicaSet>(value, &mut errs) else {
        return Err(Invalid { causes: errs });
    };
    validate_object_meta(&rs.metadata, "metadata", &mut errs);
    validate_name_required(&rs.metadata, "metadata", &mut errs);
    if let Some(n) = rs.metadata.name.as_deref().filter(|n| n.len() > NAME_MAX) {
        errs.push(FieldError::invalid(
            "metadata.name",
            n,
            &format!(
                "must be no more than {NAME_MAX} characters (its pods add a 6-character suffix)"
            ),
        ));
    }
    match rs.spec.as_ref() {
        None => errs.push(FieldError::required("spec.selector")),
        Some(spec) => {
            let replicas = spec.replicas.unwrap_or(1);
            if replicas < 0 {
                errs.push(FieldError::invalid_num(
                    "spec.replicas",
                    replicas.into(),
                    "must be greater than or equal to 0",
                ));
            } else if replicas as u32 > max_replicas {
                errs.push(FieldError::invalid_num(
                    "spec.replicas",
                    replicas.into(),
                    &format!(
                        "exceeds this server's replica cap of {max_replicas} (--max-replicas)"
                    ),
                ));
            }
            if let Some(m) = spec.min_ready_seconds.filter(|m| *m < 0) {
                errs.push(FieldError::invalid_num(
                    "spec.minReadySeconds",
                    m.into(),
                    "must be greater than or equal to 0",
                ));
            }
            validate_selector(&spec.selector, "spec.selector", &mut errs);
            let tmeta = spec.template.as_ref().and_then(|t| t.metadata.as_ref());
            let tlabels = tmeta.and_then(|m| m.labels.clone()).unwrap_or_default();
            if let Some(m) = tmeta {
                validate_labels(
                    m.labels.as_ref(),
                    "spec.template.metadata.labels",
                    &mut errs,
                );
            }
            if !selector_is_empty(&spec.selector) && !selects(&spec.selector, &tlabels) {
                errs.push(FieldError::invalid_shown(
                    "spec.template.metadata.labels",
                    &format_labels(&tlabels),
                    "`selector` does not match template `labels`",
                ));
            }
            match spec.template.as_ref().and_then(|t| t.spec.as_ref()) {
                None => errs.push(FieldError::required("spec.template.spec.containers")),
                Some(ps) => {
                    validate_pod_spec(
                        ps,
                        "spec.template.spec",
                        host,
                        opts,
                        &mut errs,
                        &mut warnings,
                    );
                    if let Some(p) = ps
                        .restart_policy
                        .as_deref()
                        .filter(|p| !p.is_empty() && *p != "Always")
                    {
                        errs.push(FieldError::not_supported(
                            "spec.template.spec.restartPolicy",
                            p,
                            &["Always"],
                        ));
                    }
                }
            }
        }
    }
    if let Some(inv) = Invalid::from_causes(errs) {
        return Err(inv);
    }
    apply_object_meta_defaults(&mut rs.metadata);
    if let Some(spec) = rs.spec.as_mut() {
        spec.replicas.get_or_insert(1);
        if let Some(ps) = spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
            apply_pod_spec_defaults(ps);
        }
    }
    rs.status = None;
    Ok(Admitted {
        object: rs,
        warnings,
    })
}

fn selector_is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

fn validate_selector(sel: &LabelSelector, path: &str, errs: &mut Vec<FieldError>) {
    if selector_is_empty(sel) {
        errs.push(FieldError::required(path));
        return;
    }
    validate_labels(
        sel.match_labels.as_ref(),
        &format!("{path}.matchLabels"),
        errs,
    );
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let ep = format!("{path}.matchExpressions[{i}]");
        if let Err(m) = labels::validate_label_key(&e.key) {
            errs.push(FieldError::invalid(format!("{ep}.key"), &e.key, &m));
        }
        let n = e.values.as_ref().map_or(0, Vec::len);
        match e.operator.as_str() {
            "In" | "NotIn" if n == 0 => errs.push(FieldError::required_detail(
                format!("{ep}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if n > 0 => errs.push(FieldError::forbidden(
                format!("{ep}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            op if !OPERATORS.contains(&op) => errs.push(FieldError::not_supported(
                format!("{ep}.operator"),
                op,
                OPERATORS,
            )),
            _ => {}
        }
    }
}

/// Does the selector select these labels (matchLabels and matchExpressions)?
pub fn selects(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    if selector_is_empty(sel) {
        return false;
    }
    let labels_ok = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let have = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => have.is_some_and(|v| values.contains(v)),
            "NotIn" => have.is_none_or(|v| !values.contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

fn format_labels(l: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", parts.join(" "))
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` removes, anything
/// else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (_, Some(p)) => {
            *target = Value::Object(serde_json::Map::new());
            merge_patch(target, &Value::Object(p.clone()));
        }
        _ => *target = patch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOST: HostLimits = HostLimits {
        cpu_millis: 2000,
        memory_bytes: 8 << 30,
    };

    fn example() -> Value {
        // the handout's rs.yaml
        let text = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: test-rs\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: web-server\n  template:\n    metadata:\n      labels:\n        app: web-server\n        version: \"1.0\"\n    spec:\n      containers:\n      - name: nginx\n        image: nginx\n        ports:\n        - containerPort: 80\n          protocol: TCP\n";
        crate::model::parse_body(text.as_bytes(), true).unwrap()
    }

    fn admit(v: Value) -> Result<Admitted<ReplicaSet>, Invalid> {
        admit_replica_set(v, &HOST, &AdmissionOptions::default(), 1000)
    }

    fn fields(v: Value) -> Vec<String> {
        admit(v)
            .map(|_| ())
            .expect_err("must be refused")
            .causes
            .into_iter()
            .map(|c| c.field)
            .collect()
    }

    #[test]
    fn the_example_is_admitted_with_defaults() {
        let rs = admit(example()).unwrap().object;
        let spec = rs.spec.unwrap();
        assert_eq!(spec.replicas, Some(3));
        let ps = spec.template.unwrap().spec.unwrap();
        assert_eq!(ps.restart_policy.as_deref(), Some("Always"));
        assert_eq!(
            ps.containers[0].image_pull_policy.as_deref(),
            Some("IfNotPresent")
        );
    }

    #[test]
    fn bad_replica_sets_name_the_field() {
        let mut v = example();
        v["spec"]["selector"] = json!({});
        assert_eq!(fields(v), vec!["spec.selector"]);

        let mut v = example();
        v["spec"]["selector"]["matchLabels"]["app"] = json!("other");
        assert_eq!(fields(v), vec!["spec.template.metadata.labels"]);

        let mut v = example();
        v["spec"]["replicas"] = json!(-1);
        assert_eq!(fields(v), vec!["spec.replicas"]);

        let mut v = example();
        v["spec"]["replicas"] = json!(1001);
        assert_eq!(fields(v), vec!["spec.replicas"]);

        let mut v = example();
        v["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(fields(v), vec!["spec.template.spec.restartPolicy"]);

        let mut v = example();
        v["spec"]["template"]["spec"]["containers"][0]["securityContext"] =
            json!({"privileged": true});
        assert_eq!(
            fields(v),
            vec!["spec.template.spec.containers[0].securityContext.privileged"]
        );

        let mut v = example();
        v["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("image");
        assert_eq!(fields(v), vec!["spec.template.spec.containers[0].image"]);

        let mut v = example();
        v["spec"]["replica"] = json!(3);
        assert_eq!(fields(v), vec!["spec.replica"]);

        let mut v = example();
        v["apiVersion"] = json!("v1");
        assert_eq!(fields(v), vec!["apiVersion"]);

        let mut v = example();
        v["spec"]["selector"] = json!({"matchExpressions": [{"key": "app", "operator": "Near"}]});
        assert!(fields(v).contains(&"spec.selector.matchExpressions[0].operator".to_string()));
    }

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"spec": {"replicas": 3, "x": 1}});
        merge_patch(&mut t, &json!({"spec": {"replicas": 5}}));
        assert_eq!(t, json!({"spec": {"replicas": 5, "x": 1}}));
        let mut t = json!({"a": [1, 2]});
        merge_patch(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}));
    }
}
