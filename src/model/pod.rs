use super::*;
use k8s_openapi::api::core::v1::Pod;
pub fn admit_pod(
    value: serde_json::Value,
    _host: &HostLimits,
    _opts: &AdmissionOptions,
) -> Result<Admitted<Pod>, Invalid> {
    let mut p: Pod = serde_json::from_value(value).map_err(|e| Invalid {
        causes: vec![FieldError {
            field: "spec".into(),
            message: e.to_string(),
        }],
    })?;
    if let Some(s) = p.spec.as_mut() {
        if s.restart_policy.is_none() {
            s.restart_policy = Some("Always".into());
        }
    }
    Ok(Admitted {
        object: p,
        warnings: vec![],
    })
}
