//! ConfigMaps and Secrets (`v1`): strict decoding, Kubernetes' key rules
//! (`[-._a-zA-Z0-9]+`, at most 253 characters, not `.`, `..` or `..…`), the 1 MiB
//! total size, a Secret's `type` (default `Opaque`, the well-known types' required
//! keys) and `stringData` merged into `data` on write, and the update rules
//! (`immutable`, a Secret's `type`).
//!
//! A Secret's values never appear in an error: `data` is checked for base64 here,
//! before the typed decoding (whose type errors would quote the value), and the
//! message names the key only (`data[password]`), as docs/decisions.md, "Secrets"
//! promises.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::Value;

use super::meta::{
    apply_object_meta_defaults, child, key, validate_name_required, validate_object_meta,
};
use super::{Admitted, FieldError, Invalid, check_type_meta, decode_strict, strip_system_fields};

/// Kubernetes' limit on the sum of a ConfigMap's or Secret's values (1 MiB).
pub const MAX_TOTAL_BYTES: usize = 1024 * 1024;

/// The Secret types Kubernetes knows, with the keys each requires.
const SECRET_TYPES: &[(&str, &[&str])] = &[
    ("Opaque", &[]),
    ("kubernetes.io/service-account-token", &[]),
    ("kubernetes.io/dockercfg", &[".dockercfg"]),
    ("kubernetes.io/dockerconfigjson", &[".dockerconfigjson"]),
    ("kubernetes.io/basic-auth", &[]),
    ("kubernetes.io/ssh-auth", &["ssh-privatekey"]),
    ("kubernetes.io/tls", &["tls.crt", "tls.key"]),
    ("bootstrap.kubernetes.io/token", &[]),
];

/// Kubernetes' `IsConfigMapKey`: the messages for a key that is not one.
pub fn config_key_errors(k: &str) -> Vec<String> {
    let mut out = Vec::new();
    if k.len() > 253 {
        out.push("must be no more than 253 characters".to_string());
    }
    if k.is_empty()
        || !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        out.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string());
    }
    if k == "." {
        out.push("must not be '.'".to_string());
    } else if k == ".." {
        out.push("must not be '..'".to_string());
    } else if k.starts_with("..") {
        out.push("must not start with '..'".to_string());
    }
    out
}

fn check_keys<'a>(keys: impl Iterator<Item = &'a String>, path: &str, errs: &mut Vec<FieldError>) {
    for k in keys {
        for m in config_key_errors(k) {
            errs.push(FieldError::invalid(key(path, k), k, &m));
        }
    }
}

fn size_error(errs: &mut Vec<FieldError>) {
    errs.push(FieldError::new(
        "",
        format!("Too long: must have at most {MAX_TOTAL_BYTES} bytes"),
    ));
}

/// Full admission of a ConfigMap body.
pub fn admit_config_map(value: Value) -> Result<Admitted<ConfigMap>, Invalid> {
    check_type_meta(&value, &["v1"], "ConfigMap")?;
    let mut value = value;
    strip_system_fields(&mut value);
    let mut errs = Vec::new();
    let Some(mut cm) = decode_strict::<ConfigMap>(value, &mut errs) else {
        return Err(Invalid { causes: errs });
    };
    validate_object_meta(&cm.metadata, "metadata", &mut errs);
    validate_name_required(&cm.metadata, "metadata", &mut errs);
    let data = cm.data.clone().unwrap_or_default();
    let binary = cm.binary_data.clone().unwrap_or_default();
    check_keys(data.keys(), "data", &mut errs);
    check_keys(binary.keys(), "binaryData", &mut errs);
    let mut total = 0usize;
    for (k, v) in &data {
        total += v.len();
        if binary.contains_key(k) {
            errs.push(FieldError::invalid(
                key("data", k),
                k,
                "duplicate of key present in binaryData",
            ));
        }
    }
    total += binary.values().map(|v| v.0.len()).sum::<usize>();
    if total > MAX_TOTAL_BYTES {
        size_error(&mut errs);
    }
    if let Some(inv) = Invalid::from_causes(errs) {
        return Err(inv);
    }
    apply_object_meta_defaults(&mut cm.metadata);
    Ok(Admitted {
        object: cm,
        warnings: Vec::new(),
    })
}

/// Full admission of a Secret body: `data` must be base64 (422 naming the key, never
/// the value), `stringData` is merged into `data` (it wins, as in Kubernetes) and
/// dropped, `type` defaults to `Opaque`.
pub fn admit_secret(value: Value) -> Result<Admitted<Secret>, Invalid> {
    check_type_meta(&value, &["v1"], "Secret")?;
    let mut value = value;
    strip_system_fields(&mut value);
    let mut errs = Vec::new();
    // Values first, without ever quoting one.
    if let Some(obj) = value.as_object_mut() {
        for field in ["data", "stringData"] {
            match obj.get(field) {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => {
                    let mut bad = false;
                    for (k, v) in m {
                        let fp = key(field, k);
                        match (field, v) {
                            ("data", Value::String(s)) => {
                                if let Err(e) = decode_base64(s) {
                                    errs.push(FieldError::new(fp, format!("Invalid value: {e}")));
                                    bad = true;
                                }
                            }
                            (_, Value::String(_)) => {}
                            ("data", _) => {
                                errs.push(FieldError::new(
                                    fp,
                                    "Invalid value: must be a base64-encoded string",
                                ));
                                bad = true;
                            }
                            _ => {
                                errs.push(FieldError::new(fp, "Invalid value: must be a string"));
                                bad = true;
                            }
                        }
                    }
                    if bad {
                        obj.remove(field);
                    }
                }
                Some(_) => {
                    errs.push(FieldError::new(field, "Invalid value: must be an object"));
                    obj.remove(field);
                }
            }
        }
    }
    let Some(mut secret) = decode_strict::<Secret>(value, &mut errs) else {
        // Type errors elsewhere (metadata, type, immutable) quote no secret value.
        return Err(Invalid { causes: errs });
    };
    validate_object_meta(&secret.metadata, "metadata", &mut errs);
    validate_name_required(&secret.metadata, "metadata", &mut errs);
    if let Some(d) = secret.data.as_ref() {
        check_keys(d.keys(), "data", &mut errs);
    }
    if let Some(d) = secret.string_data.as_ref() {
        check_keys(d.keys(), "stringData", &mut errs);
    }
    // stringData is write-only: merged into data, where it wins.
    if let Some(sd) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(BTreeMap::new);
        for (k, v) in sd {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
    if secret.type_.as_deref().is_none_or(str::is_empty) {
        secret.type_ = Some("Opaque".into());
    }
    let ty = secret.type_.clone().unwrap_or_default();
    let data = secret.data.clone().unwrap_or_default();
    if let Some((_, required)) = SECRET_TYPES.iter().find(|(t, _)| *t == ty) {
        for r in *required {
            if !data.contains_key(*r) {
                errs.push(FieldError::required(key("data", r)));
            }
        }
        if ty == "kubernetes.io/service-account-token"
            && secret
                .metadata
                .annotations
                .as_ref()
                .is_none_or(|a| !a.contains_key("kubernetes.io/service-account.name"))
        {
            errs.push(FieldError::required(
                "metadata.annotations[kubernetes.io/service-account.name]",
            ));
        }
    } else {
        // Kubernetes accepts any other type (a qualified name); K1s only checks its form.
        for m in super::names::qualified_name(&ty) {
            errs.push(FieldError::invalid("type", &ty, &m));
        }
    }
    if data.values().map(|v| v.0.len()).sum::<usize>() > MAX_TOTAL_BYTES {
        size_error(&mut errs);
    }
    if let Some(inv) = Invalid::from_causes(errs) {
        return Err(inv);
    }
    apply_object_meta_defaults(&mut secret.metadata);
    Ok(Admitted {
        object: secret,
        warnings: Vec::new(),
    })
}

/// Base64 as Go's `StdEncoding` reads it for `[]byte` (line breaks ignored); the error
/// names a position, never the content.
fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _) => {
                format!("illegal base64 data at input byte {at}")
            }
            base64::DecodeError::InvalidLastSymbol(at, _) => {
                format!("illegal base64 data at input byte {at}")
            }
            _ => "illegal base64 data: wrong length or padding".to_string(),
        })
}

/// What an update may not change: `immutable` objects keep their data (and stay
/// immutable); a Secret keeps its `type`.
pub fn validate_config_map_update(old: &ConfigMap, new: &ConfigMap) -> Result<(), Invalid> {
    let mut errs = Vec::new();
    if old.immutable == Some(true) {
        if old.data != new.data {
            errs.push(immutable_set("data"));
        }
        if old.binary_data != new.binary_data {
            errs.push(immutable_set("binaryData"));
        }
        if new.immutable != Some(true) {
            errs.push(immutable_set("immutable"));
        }
    }
    Invalid::from_causes(errs).map_or(Ok(()), Err)
}

/// [`validate_config_map_update`] for Secrets, plus `type` immutable.
pub fn validate_secret_update(old: &Secret, new: &Secret) -> Result<(), Invalid> {
    let mut errs = Vec::new();
    if old.type_ != new.type_ {
        errs.push(FieldError::invalid(
            "type",
            new.type_.as_deref().unwrap_or(""),
            "field is immutable",
        ));
    }
    if old.immutable == Some(true) {
        if old.data != new.data {
            errs.push(immutable_set("data"));
        }
        if new.immutable != Some(true) {
            errs.push(immutable_set("immutable"));
        }
    }
    Invalid::from_causes(errs).map_or(Ok(()), Err)
}

fn immutable_set(field: &str) -> FieldError {
    FieldError::forbidden(
        child("", field),
        "field is immutable when `immutable` is set",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(extra: Value) -> Value {
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    fn secret(extra: Value) -> Value {
        let mut v = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    fn errors(r: Result<impl std::fmt::Debug, Invalid>) -> Vec<String> {
        match r {
            Ok(o) => panic!("accepted: {o:?}"),
            Err(e) => e.causes.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn config_maps() {
        let a = admit_config_map(cm(json!({"data": {"a.txt": "x", "B_2-c": "y"},
            "binaryData": {"bin": "AAEC"}, "immutable": true})))
        .unwrap();
        assert_eq!(a.object.data.as_ref().unwrap()["a.txt"], "x");
        assert_eq!(
            a.object.binary_data.as_ref().unwrap()["bin"].0,
            vec![0, 1, 2]
        );
        assert_eq!(a.object.metadata.namespace.as_deref(), Some("default"));
        let table: &[(Value, &str)] = &[
            (
                json!({"data": {"a b": "x"}}),
                "data[a b]: Invalid value: \"a b\": a valid config key",
            ),
            (
                json!({"data": {"..x": "x"}}),
                "data[..x]: Invalid value: \"..x\": must not start with '..'",
            ),
            (
                json!({"data": {".": "x"}}),
                "data[.]: Invalid value: \".\": must not be '.'",
            ),
            (
                json!({"data": {"k": "x"}, "binaryData": {"k": "AA=="}}),
                "data[k]: Invalid value: \"k\": duplicate of key present in binaryData",
            ),
            (
                json!({"data": {"k": "x".repeat(MAX_TOTAL_BYTES + 1)}}),
                "Too long: must have at most 1048576 bytes",
            ),
            (json!({"spec": {}}), "spec: unknown field \"spec\""),
            (
                json!({"data": {"k": 5}}),
                "data.k: Invalid value: 5: must be a string",
            ),
        ];
        for (extra, want) in table {
            let e = errors(admit_config_map(cm(extra.clone())));
            assert!(e[0].starts_with(want), "{extra}: {e:?}");
        }
        let long = "k".repeat(254);
        let e = errors(admit_config_map(cm(json!({"data": {long.clone(): "x"}}))));
        assert!(
            e[0].contains("must be no more than 253 characters"),
            "{e:?}"
        );
    }

    #[test]
    fn secrets_merge_string_data_and_default_their_type() {
        let a = admit_secret(secret(json!({"data": {"a": "eA==", "b": "eQ=="},
            "stringData": {"b": "z", "c": "w"}})))
        .unwrap();
        let s = a.object;
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        assert!(s.string_data.is_none());
        let d = s.data.unwrap();
        assert_eq!(
            (
                d["a"].0.as_slice(),
                d["b"].0.as_slice(),
                d["c"].0.as_slice()
            ),
            (&b"x"[..], &b"z"[..], &b"w"[..])
        );
    }

    #[test]
    fn secret_errors_name_the_key_never_the_value() {
        let table: &[(Value, &str)] = &[
            (
                json!({"data": {"password": "hunter2!"}}),
                "data[password]: Invalid value: illegal base64 data at input byte 7",
            ),
            (
                json!({"data": {"password": 12345}}),
                "data[password]: Invalid value: must be a base64-encoded string",
            ),
            (
                json!({"stringData": {"password": 12345}}),
                "stringData[password]: Invalid value: must be a string",
            ),
            (
                json!({"data": {"bad key": "eA=="}}),
                "data[bad key]: Invalid value: \"bad key\"",
            ),
            (
                json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}),
                "data[tls.key]: Required value",
            ),
            (
                json!({"type": "not a type!"}),
                "type: Invalid value: \"not a type!\"",
            ),
        ];
        for (extra, want) in table {
            let e = errors(admit_secret(secret(extra.clone())));
            assert!(e[0].starts_with(want), "{extra}: {e:?}");
            for m in &e {
                assert!(!m.contains("hunter2") && !m.contains("12345"), "{m}");
            }
        }
    }

    #[test]
    fn immutable_objects_keep_their_data() {
        let old = admit_config_map(cm(json!({"data": {"a": "1"}, "immutable": true})))
            .unwrap()
            .object;
        let mut new = old.clone();
        new.metadata.labels = Some([("x".to_string(), "y".to_string())].into());
        assert!(validate_config_map_update(&old, &new).is_ok());
        new.data = Some([("a".to_string(), "2".to_string())].into());
        let e = validate_config_map_update(&old, &new).unwrap_err();
        assert_eq!(
            e.causes[0].to_string(),
            "data: Forbidden: field is immutable when `immutable` is set"
        );
        let old = admit_secret(secret(json!({"stringData": {"a": "1"}})))
            .unwrap()
            .object;
        let mut new = old.clone();
        new.type_ = Some("kubernetes.io/basic-auth".into());
        assert!(
            validate_secret_update(&old, &new).unwrap_err().causes[0]
                .to_string()
                .starts_with("type: Invalid value")
        );
    }
}
