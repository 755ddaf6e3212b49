//! HorizontalPodAutoscalers: `autoscaling/v2` (stored form), `autoscaling/v2beta2` (the
//! handout's example; the same fields, served as an alias of v2) and `autoscaling/v1`
//! (`targetCPUUtilizationPercentage`, converted to a v2 cpu metric). Validated with
//! Kubernetes' rules; what K1s cannot measure (Pods, Object, External and
//! ContainerResource metrics) is refused as not supported.

use k8s_openapi::api::autoscaling::{v1, v2};
use serde_json::Value;

use super::meta::{apply_object_meta_defaults, validate_name_required, validate_object_meta};
use super::quantity::{cpu_millis, memory_bytes};
use super::{Admitted, FieldError, Invalid, check_type_meta, decode_strict, strip_system_fields};

/// The API versions accepted.
pub const API_VERSIONS: &[&str] = &["autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v1"];

/// Full admission of an HPA body; returns the v2 form. `max_replicas` is the server's cap.
pub fn admit_hpa(
    value: Value,
    max_replicas: u32,
) -> Result<Admitted<v2::HorizontalPodAutoscaler>, Invalid> {
    check_type_meta(&value, API_VERSIONS, "HorizontalPodAutoscaler")?;
    let mut value = value;
    strip_system_fields(&mut value);
    let version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut errs = Vec::new();
    let hpa = if version == "autoscaling/v1" {
        let Some(old) = decode_strict::<v1::HorizontalPodAutoscaler>(value, &mut errs) else {
            return Err(Invalid { causes: errs });
        };
        if let Some(t) = old
            .spec
            .as_ref()
            .and_then(|s| s.target_cpu_utilization_percentage)
            .filter(|t| *t <= 0)
        {
            errs.push(FieldError::invalid_num(
                "spec.targetCPUUtilizationPercentage",
                t.into(),
                "must be greater than 0",
            ));
        }
        from_v1(old)
    } else {
        // v2beta2 has the same fields as v2; the types check apiVersion, so say v2.
        value["apiVersion"] = Value::String("autoscaling/v2".into());
        match decode_strict::<v2::HorizontalPodAutoscaler>(value, &mut errs) {
            Some(h) => h,
            None => return Err(Invalid { causes: errs }),
        }
    };
    let mut hpa = hpa;
    validate_object_meta(&hpa.metadata, "metadata", &mut errs);
    validate_name_required(&hpa.metadata, "metadata", &mut errs);
    match hpa.spec.as_ref() {
        None => errs.push(FieldError::required("spec.scaleTargetRef")),
        Some(spec) => validate_spec(spec, max_replicas, &mut errs),
    }
    if let Some(inv) = Invalid::from_causes(errs) {
        return Err(inv);
    }
    apply_object_meta_defaults(&mut hpa.metadata);
    if let Some(spec) = hpa.spec.as_mut() {
        spec.min_replicas.get_or_insert(1);
        if spec.metrics.as_ref().is_none_or(Vec::is_empty) {
            // Kubernetes' default: 80 % cpu utilization.
            spec.metrics = Some(vec![cpu_metric(80)]);
        }
        if spec
            .scale_target_ref
            .api_version
            .as_deref()
            .is_none_or(str::is_empty)
        {
            spec.scale_target_ref.api_version = Some("apps/v1".into());
        }
    }
    hpa.status = None;
    Ok(Admitted {
        object: hpa,
        warnings: Vec::new(),
    })
}

fn cpu_metric(percent: i32) -> v2::MetricSpec {
    v2::MetricSpec {
        type_: "Resource".into(),
        resource: Some(v2::ResourceMetricSource {
            name: "cpu".into(),
            target: v2::MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(percent),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

fn from_v1(old: v1::HorizontalPodAutoscaler) -> v2::HorizontalPodAutoscaler {
    let spec = old.spec.map(|s| v2::HorizontalPodAutoscalerSpec {
        max_replicas: s.max_replicas,
        min_replicas: s.min_replicas,
        scale_target_ref: v2::CrossVersionObjectReference {
            api_version: s.scale_target_ref.api_version,
            kind: s.scale_target_ref.kind,
            name: s.scale_target_ref.name,
        },
        metrics: s
            .target_cpu_utilization_percentage
            .map(|t| vec![cpu_metric(t)]),
        behavior: None,
    });
    v2::HorizontalPodAutoscaler {
        metadata: old.metadata,
        spec,
        status: None,
    }
}

fn validate_spec(spec: &v2::HorizontalPodAutoscalerSpec, cap: u32, errs: &mut Vec<FieldError>) {
    let r = &spec.scale_target_ref;
    if r.kind.is_empty() {
        errs.push(FieldError::required("spec.scaleTargetRef.kind"));
    } else if r.kind != "ReplicaSet" {
        errs.push(FieldError::not_supported(
            "spec.scaleTargetRef.kind",
            &r.kind,
            &["ReplicaSet"],
        ));
    }
    if let Some(v) = r
        .api_version
        .as_deref()
        .filter(|v| !v.is_empty() && *v != "apps/v1")
    {
        errs.push(FieldError::not_supported(
            "spec.scaleTargetRef.apiVersion",
            v,
            &["apps/v1"],
        ));
    }
    if r.name.is_empty() {
        errs.push(FieldError::required("spec.scaleTargetRef.name"));
    }
    let min = spec.min_replicas.unwrap_or(1);
    if min < 1 {
        errs.push(FieldError::invalid_num(
            "spec.minReplicas",
            min.into(),
            "must be greater than or equal to 1",
        ));
    }
    if spec.max_replicas < 1 {
        errs.push(FieldError::invalid_num(
            "spec.maxReplicas",
            spec.max_replicas.into(),
            "must be greater than 0",
        ));
    } else if spec.max_replicas < min {
        errs.push(FieldError::invalid_num(
            "spec.maxReplicas",
            spec.max_replicas.into(),
            "must be greater than or equal to `minReplicas`",
        ));
    } else if spec.max_replicas as u32 > cap {
        errs.push(FieldError::invalid_num(
            "spec.maxReplicas",
            spec.max_replicas.into(),
            &format!("exceeds this server's replica cap of {cap} (--max-replicas)"),
        ));
    }
    for (i, m) in spec.metrics.iter().flatten().enumerate() {
        let mp = format!("spec.metrics[{i}]");
        match m.type_.as_str() {
            "Resource" => {}
            "" => {
                errs.push(FieldError::required(format!("{mp}.type")));
                continue;
            }
            "Pods" | "Object" | "External" | "ContainerResource" => {
                errs.push(FieldError::unsupported_by_k1s(format!("{mp}.type")));
                continue;
            }
            other => {
                errs.push(FieldError::not_supported(
                    format!("{mp}.type"),
                    other,
                    &[
                        "ContainerResource",
                        "External",
                        "Object",
                        "Pods",
                        "Resource",
                    ],
                ));
                continue;
            }
        }
        let Some(res) = m.resource.as_ref() else {
            errs.push(FieldError::required(format!("{mp}.resource")));
            continue;
        };
        let rp = format!("{mp}.resource");
        if !matches!(res.name.as_str(), "cpu" | "memory") {
            errs.push(FieldError::not_supported(
                format!("{rp}.name"),
                &res.name,
                &["cpu", "memory"],
            ));
        }
        let t = &res.target;
        let tp = format!("{rp}.target");
        match t.type_.as_str() {
            "Utilization" => match t.average_utilization {
                None => errs.push(FieldError::required(format!("{tp}.averageUtilization"))),
                Some(u) if u <= 0 => errs.push(FieldError::invalid_num(
                    format!("{tp}.averageUtilization"),
                    u.into(),
                    "must be greater than 0",
                )),
                _ => {}
            },
            "AverageValue" => match t.average_value.as_ref() {
                None => errs.push(FieldError::required(format!("{tp}.averageValue"))),
                Some(q) => {
                    let parsed = if res.name == "cpu" {
                        cpu_millis(&q.0)
                    } else {
                        memory_bytes(&q.0)
                    };
                    match parsed {
                        Err(e) => {
                            errs.push(FieldError::invalid(format!("{tp}.averageValue"), &q.0, &e))
                        }
                        Ok(v) if v <= 0 => errs.push(FieldError::invalid(
                            format!("{tp}.averageValue"),
                            &q.0,
                            "must be positive",
                        )),
                        Ok(_) => {}
                    }
                }
            },
            "" => errs.push(FieldError::required(format!("{tp}.type"))),
            other => errs.push(FieldError::invalid(
                format!("{tp}.type"),
                other,
                "must be either Utilization or AverageValue",
            )),
        }
    }
    if let Some(b) = spec.behavior.as_ref() {
        for (dir, rules) in [("scaleUp", &b.scale_up), ("scaleDown", &b.scale_down)] {
            let Some(rules) = rules else { continue };
            let p = format!("spec.behavior.{dir}");
            if let Some(w) = rules
                .stabilization_window_seconds
                .filter(|w| !(0..=3600).contains(w))
            {
                errs.push(FieldError::invalid_num(
                    format!("{p}.stabilizationWindowSeconds"),
                    w.into(),
                    "must be between 0 and 3600 seconds",
                ));
            }
            if let Some(s) = rules
                .select_policy
                .as_deref()
                .filter(|s| !["Max", "Min", "Disabled"].contains(s))
            {
                errs.push(FieldError::not_supported(
                    format!("{p}.selectPolicy"),
                    s,
                    &["Disabled", "Max", "Min"],
                ));
            }
            if rules.policies.as_ref().is_some_and(Vec::is_empty) {
                errs.push(FieldError::required_detail(
                    format!("{p}.policies"),
                    "must specify at least one Policy",
                ));
            }
            for (j, pol) in rules.policies.iter().flatten().enumerate() {
                let pp = format!("{p}.policies[{j}]");
                if !matches!(pol.type_.as_str(), "Pods" | "Percent") {
                    errs.push(FieldError::not_supported(
                        format!("{pp}.type"),
                        &pol.type_,
                        &["Percent", "Pods"],
                    ));
                }
                if pol.value <= 0 {
                    errs.push(FieldError::invalid_num(
                        format!("{pp}.value"),
                        pol.value.into(),
                        "must be greater than zero",
                    ));
                }
                if !(1..=1800).contains(&pol.period_seconds) {
                    errs.push(FieldError::invalid_num(
                        format!("{pp}.periodSeconds"),
                        pol.period_seconds.into(),
                        "must be greater than zero and less than or equal to 1800",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example() -> Value {
        // the handout's hpa.yaml, as written
        let text = "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: test-hpa\nspec:\n  maxReplicas: 5\n  minReplicas: 1\n  metrics:\n  - type: Resource\n    resource:\n      name: cpu\n      target: {type: Utilization, averageUtilization: 60}\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: ReplicaSet\n    name: test-rs\n";
        crate::model::parse_body(text.as_bytes(), true).unwrap()
    }

    fn fields(v: Value) -> Vec<String> {
        admit_hpa(v, 1000)
            .map(|_| ())
            .expect_err("must be refused")
            .causes
            .into_iter()
            .map(|c| c.field)
            .collect()
    }

    #[test]
    fn the_handout_example_is_accepted_as_written() {
        let h = admit_hpa(example(), 1000).unwrap().object;
        let spec = h.spec.unwrap();
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(1), 5));
        let m = &spec.metrics.unwrap()[0];
        assert_eq!(
            m.resource.as_ref().unwrap().target.average_utilization,
            Some(60)
        );
    }

    #[test]
    fn v1_converts_and_defaults_apply() {
        let v = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h1"},
            "spec": {"maxReplicas": 3, "scaleTargetRef": {"kind": "ReplicaSet", "name": "web"}, "targetCPUUtilizationPercentage": 50}});
        let spec = admit_hpa(v, 1000).unwrap().object.spec.unwrap();
        assert_eq!(spec.min_replicas, Some(1));
        assert_eq!(
            spec.scale_target_ref.api_version.as_deref(),
            Some("apps/v1")
        );
        let m = &spec.metrics.unwrap()[0];
        assert_eq!(
            m.resource.as_ref().unwrap().target.average_utilization,
            Some(50)
        );
        let v = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h2"}, "spec": {"maxReplicas": 3, "scaleTargetRef": {"kind": "ReplicaSet", "name": "web"}}});
        let spec = admit_hpa(v, 1000).unwrap().object.spec.unwrap();
        assert_eq!(
            spec.metrics.unwrap()[0]
                .resource
                .as_ref()
                .unwrap()
                .target
                .average_utilization,
            Some(80)
        );
    }

    #[test]
    fn bad_hpas_name_the_field() {
        let mut v = example();
        v["spec"]["scaleTargetRef"]["kind"] = json!("Deployment");
        assert_eq!(fields(v), vec!["spec.scaleTargetRef.kind"]);
        let mut v = example();
        v["spec"]["minReplicas"] = json!(0);
        assert_eq!(fields(v), vec!["spec.minReplicas"]);
        let mut v = example();
        v["spec"]["maxReplicas"] = json!(0);
        assert_eq!(fields(v), vec!["spec.maxReplicas"]);
        let mut v = example();
        v["spec"]["minReplicas"] = json!(4);
        v["spec"]["maxReplicas"] = json!(2);
        assert_eq!(fields(v), vec!["spec.maxReplicas"]);
        let mut v = example();
        v["spec"]["metrics"][0]["resource"]["name"] = json!("gpu");
        assert_eq!(fields(v), vec!["spec.metrics[0].resource.name"]);
        let mut v = example();
        v["spec"]["metrics"][0]["type"] = json!("External");
        assert_eq!(fields(v), vec!["spec.metrics[0].type"]);
        let mut v = example();
        v["spec"]["metrics"][0]["resource"]["target"] =
            json!({"type": "Utilization", "averageUtilization": -5});
        assert_eq!(
            fields(v),
            vec!["spec.metrics[0].resource.target.averageUtilization"]
        );
        let mut v = example();
        v["spec"]["metrics"][0]["resource"]["target"] = json!({"type": "Value", "value": "1"});
        assert_eq!(fields(v), vec!["spec.metrics[0].resource.target.type"]);
        let mut v = example();
        v["spec"]["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": 5000, "policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}});
        assert_eq!(
            fields(v),
            vec![
                "spec.behavior.scaleDown.stabilizationWindowSeconds",
                "spec.behavior.scaleDown.policies[0].value"
            ]
        );
        let mut v = example();
        v["spec"]["maxReplica"] = json!(3);
        assert!(fields(v).contains(&"spec.maxReplica".to_string()));
        let mut v = example();
        v["apiVersion"] = json!("autoscaling/v3");
        assert_eq!(fields(v), vec!["apiVersion"]);
    }
}
