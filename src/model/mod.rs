//! Resource model: parsing request bodies, strict decoding into Kubernetes' own types
//! (`k8s-openapi`), defaulting and validation with Kubernetes' rules, field paths and
//! words (docs/decisions.md: "REST API", "Pod fields", "Security", "Status codes").
//!
//! The path of a body is always bytes → [`serde_json::Value`] ([`parse_body`]) → typed
//! object ([`decode_strict`]) → semantic checks. Going through `Value` matters: YAML
//! straight into the types would turn an unquoted `version: 1.0` into the string "1.0",
//! which Kubernetes refuses; and `k8s-openapi` drops unknown fields silently, which
//! [`decode_strict`] turns into errors.

pub mod configmap;
mod error;
pub mod hpa;
pub mod labels;
pub mod meta;
pub mod names;
pub mod patch;
pub mod pod;
pub mod quantity;
pub mod replicaset;
pub mod status;
pub mod volumes;

pub use error::*;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// What the host offers (from the engine's `info`); a request or limit above it is
/// refused (docs/decisions.md, "Resources"). A value of 0 or less means "unknown":
/// not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLimits {
    /// The host's CPUs in millicores (2 CPUs = 2000).
    pub cpu_millis: i64,
    /// The host's memory in bytes.
    pub memory_bytes: i64,
}

impl HostLimits {
    /// No limits known: nothing is refused for size.
    pub const UNKNOWN: HostLimits = HostLimits {
        cpu_millis: 0,
        memory_bytes: 0,
    };
}

/// Server settings that change what admission accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionOptions {
    /// Accept host power (docs/decisions.md, "Security"): `privileged`, added capabilities, `hostNetwork`,
    /// `hostPID`, `hostIPC`, sysctls, unconfined seccomp/AppArmor. Off by default.
    pub allow_host_power: bool,
}

/// An object that passed admission, defaults applied, and the warnings to send back
/// (as `Warning: 299 - "…"` headers) for fields accepted but ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted<T> {
    /// The defaulted object, ready to store.
    pub object: T,
    /// Human-readable warnings, each starting with the field path.
    pub warnings: Vec<String>,
}

/// Whether a Content-Type names YAML (`application/yaml`, `application/x-yaml`,
/// `text/yaml`, `text/x-yaml`, any case, parameters such as `;charset=utf-8` allowed).
pub fn is_yaml_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml"
    )
}

/// YAML options: one-line error messages (no source snippet), legacy octal numbers
/// (`0644`, as kubectl reads them), and serde-saphyr's safe
/// defaults (budgets, duplicate keys refused) with alias replay cut to 100 000 events
/// (a manifest needs few; the default million costs seconds of CPU per hostile body).
fn yaml_options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.with_snippet = false;
    o.alias_limits.max_total_replayed_events = 100_000;
    // As kubectl reads YAML (1.1): `defaultMode: 0644` is octal, 420.
    o.legacy_octal_numbers = true;
    o
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Body bytes → a JSON object. `yaml` is true when the Content-Type said YAML (see
/// [`is_yaml_content_type`]); JSON otherwise. Malformed bytes, an empty body, several
/// YAML documents or anything but an object → [`BadBody`] (the API answers 400).
pub fn parse_body(bytes: &[u8], yaml: bool) -> Result<Value, BadBody> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BadBody("the request body is empty".into()));
    }
    let value = if yaml {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| BadBody(format!("the YAML body is not valid UTF-8: {e}")))?;
        let mut docs = yaml_documents(text)?;
        match docs.len() {
            0 => return Err(BadBody("the request body holds no object".into())),
            1 => docs.remove(0),
            n => {
                return Err(BadBody(format!(
                    "the request body holds {n} YAML documents; send one object per request"
                )));
            }
        }
    } else {
        serde_json::from_slice(bytes).map_err(|e| BadBody(format!("malformed JSON: {e}")))?
    };
    if !value.is_object() {
        return Err(BadBody(format!(
            "the request body must be an object, not {}",
            value_kind(&value)
        )));
    }
    Ok(value)
}

fn yaml_documents(text: &str) -> Result<Vec<Value>, BadBody> {
    serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(text, yaml_options())
        .map_err(|e| BadBody(format!("malformed YAML: {e}")))
}

/// Split a multi-document YAML file (for `k1s_ctl create`) into objects, in order,
/// skipping empty documents. A document that is not an object is refused, naming it.
pub fn parse_yaml_documents(text: &str) -> Result<Vec<Value>, BadBody> {
    let docs = yaml_documents(text)?;
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    for (i, d) in docs.iter().enumerate() {
        if !d.is_object() {
            return Err(BadBody(format!(
                "YAML document {} must be an object, not {}",
                i + 1,
                value_kind(d)
            )));
        }
    }
    Ok(docs)
}

/// Check `apiVersion` and `kind` before anything else, as the API server does: absent
/// → `Required value`; another value → `Unsupported value` listing what is accepted.
pub fn check_type_meta(value: &Value, api_versions: &[&str], kind: &str) -> Result<(), Invalid> {
    let mut errs = Vec::new();
    check_string_in(value, "apiVersion", api_versions, &mut errs);
    check_string_in(value, "kind", &[kind], &mut errs);
    match Invalid::from_causes(errs) {
        Some(inv) => Err(inv),
        None => Ok(()),
    }
}

fn check_string_in(value: &Value, field: &str, allowed: &[&str], errs: &mut Vec<FieldError>) {
    match value.get(field) {
        None | Some(Value::Null) => errs.push(FieldError::required(field)),
        Some(Value::String(s)) if s.is_empty() => errs.push(FieldError::required(field)),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => {}
        Some(Value::String(s)) => errs.push(FieldError::not_supported(field, s, allowed)),
        Some(other) => errs.push(FieldError::invalid_shown(
            field,
            &other.to_string(),
            "must be a string",
        )),
    }
}

/// Fields the server owns: dropped from a create request before decoding (so that even
/// a malformed `status` is ignored, as the API server ignores it on create).
const SYSTEM_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
    "managedFields",
];

/// Drop `status` and the server-owned metadata (`uid`, `resourceVersion`,
/// `creationTimestamp`, …) from an object about to be created.
pub fn strip_system_fields(value: &mut Value) {
    if let Some(obj) = value.as_object_mut() {
        obj.remove("status");
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in SYSTEM_METADATA {
                meta.remove(*f);
            }
        }
    }
}

/// Decode a `Value` into a Kubernetes type strictly: every unknown field is pushed to
/// `errs` (`spec.containers[0].resource: unknown field "resource"`), and a type error
/// is pushed with its path (`spec.containers[0].ports[0].containerPort: Invalid value:
/// "eighty": must be an integer`), in which case `None` is returned. Unknown fields
/// alone still return the object, so that the caller can report everything at once.
pub fn decode_strict<T: DeserializeOwned>(value: Value, errs: &mut Vec<FieldError>) -> Option<T> {
    let mut unknown = Vec::new();
    let result: Result<T, _> = {
        let mut on_unknown = |path: serde_ignored::Path<'_>| {
            unknown.push(unknown_field_error(&path));
        };
        let de = serde_ignored::Deserializer::new(value, &mut on_unknown);
        serde_path_to_error::deserialize(de)
    };
    errs.extend(unknown);
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            errs.push(type_error(&e));
            None
        }
    }
}

/// The path of an ignored (unknown) field in Kubernetes' notation, and its error.
fn unknown_field_error(path: &serde_ignored::Path<'_>) -> FieldError {
    fn walk(p: &serde_ignored::Path<'_>, out: &mut String) -> Option<String> {
        match p {
            serde_ignored::Path::Root => None,
            serde_ignored::Path::Seq { parent, index } => {
                walk(parent, out);
                out.push_str(&format!("[{index}]"));
                None
            }
            serde_ignored::Path::Map { parent, key } => {
                walk(parent, out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
                Some(key.clone())
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut field = String::new();
    let last = walk(path, &mut field).unwrap_or_default();
    FieldError::new(field, format!("unknown field {}", quote(&last)))
}

/// A serde type error as a field error: the path in Kubernetes' notation and a message
/// rewritten from serde's words to Kubernetes-like ones.
fn type_error(e: &serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let mut field = String::new();
    for seg in e.path().iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            serde_path_to_error::Segment::Enum { variant } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(variant);
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    let raw = e.inner().to_string();
    // k8s-openapi leaves few fields required; serde says "missing field `x`" at the parent.
    if let Some(name) = raw
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        let field = if field.is_empty() {
            name.to_string()
        } else {
            format!("{field}.{name}")
        };
        return FieldError::required(field);
    }
    FieldError::new(field, pretty_serde_message(&raw))
}

/// `invalid type: string "eighty", expected i32` → `Invalid value: "eighty": must be an
/// integer`. Messages of other shapes are kept, after `Invalid value: `.
fn pretty_serde_message(raw: &str) -> String {
    let parsed = raw
        .strip_prefix("invalid type: ")
        .map(|r| (r, true))
        .or_else(|| raw.strip_prefix("invalid value: ").map(|r| (r, false)));
    let Some((rest, is_type)) = parsed else {
        return format!("Invalid value: {raw}");
    };
    let Some((found, expected)) = rest.rsplit_once(", expected ") else {
        return format!("Invalid value: {raw}");
    };
    let shown = if let Some(s) = found.strip_prefix("string ") {
        s.to_string()
    } else if let Some(inner) = ["integer `", "floating point `", "boolean `"]
        .iter()
        .find_map(|p| found.strip_prefix(p))
    {
        inner.trim_end_matches('`').to_string()
    } else {
        match found {
            "map" => "object".into(),
            "sequence" => "list".into(),
            "null" | "unit value" => "null".into(),
            other => other.into(),
        }
    };
    let is_int = matches!(
        expected,
        "i8" | "i16" | "i32" | "i64" | "i128" | "u8" | "u16" | "u32" | "u64" | "u128"
    );
    let want = if is_int && !is_type {
        format!("must be a {}-bit integer", &expected[1..])
    } else if is_int {
        "must be an integer".into()
    } else {
        match expected {
            "a string" => "must be a string".into(),
            "a boolean" => "must be a boolean".into(),
            "f32" | "f64" => "must be a number".into(),
            "a sequence" => "must be a list".into(),
            "a map" => "must be an object".into(),
            "Quantity" => "must be a quantity (a string such as \"500m\" or a number)".into(),
            "IntOrString" => "must be an integer or a string".into(),
            // k8s-openapi names structs by their type (`ContainerPort`, `PodSpec`, …).
            e if e.starts_with(|c: char| c.is_ascii_uppercase()) => "must be an object".into(),
            e if e.starts_with("struct ") => "must be an object".into(),
            e => format!("expected {e}"),
        }
    };
    format!("Invalid value: {shown}: {want}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_content_types() {
        for ct in [
            "application/yaml",
            "application/x-yaml",
            "text/yaml",
            "Application/YAML; charset=utf-8",
            " text/x-yaml ",
        ] {
            assert!(is_yaml_content_type(ct), "{ct}");
        }
        for ct in ["application/json", "", "text/plain", "application/yaml-ish"] {
            assert!(!is_yaml_content_type(ct), "{ct}");
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(parse_body(br#"{"a": 1}"#, false), Ok(json!({"a": 1})));
        assert_eq!(parse_body(b"a: 1\n", true), Ok(json!({"a": 1})));
        // JSON is YAML, so a JSON body with a YAML Content-Type works too.
        assert_eq!(parse_body(br#"{"a": [1]}"#, true), Ok(json!({"a": [1]})));
        let bad: &[(&[u8], bool)] = &[
            (b"", false),
            (b"  \n", true),
            (b"{", false),
            (b"{\"a\": }", false),
            (b"a: 1", false), // YAML without a YAML Content-Type is read as JSON
            (b"[1, 2]", false),
            (b"\"x\"", false),
            (b"null", false),
            (b"a: [1, {b: 2}", true),
            (b"a: 1\na: 2", true),
            (b"a:\n  - b\n c: 1", true),
            (b"- 1\n- 2", true),
            (b"just text", true),
            (b"---\na: 1\n---\nb: 2\n", true),
            (b"\xff\xfe", true),
            (b"\xff\xfe", false),
            (b"a: .inf", true),
        ];
        for (body, yaml) in bad {
            let r = parse_body(body, *yaml);
            assert!(
                r.is_err(),
                "{:?} yaml={yaml}: {r:?}",
                String::from_utf8_lossy(body)
            );
        }
        let e = parse_body(b"{", false).unwrap_err();
        assert!(e.to_string().starts_with("malformed JSON"), "{e}");
        let e = parse_body(b"a: [1", true).unwrap_err();
        assert!(e.to_string().starts_with("malformed YAML"), "{e}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
    }

    #[test]
    fn yaml_numbers_stay_numbers() {
        // The pitfall: an unquoted 1.0 is a float in the Value, not the string "1.0".
        let v = parse_body(b"version: 1.0\nport: 80\nok: true\n", true).unwrap();
        assert_eq!(v, json!({"version": 1.0, "port": 80, "ok": true}));
    }

    #[test]
    fn multi_documents() {
        let docs = parse_yaml_documents("---\n---\na: 1\n...\n---\n# only a comment\n---\nb: 2\n")
            .unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": 2})]);
        assert_eq!(parse_yaml_documents(""), Ok(vec![]));
        let e = parse_yaml_documents("a: 1\n---\n- x\n").unwrap_err();
        assert!(e.0.contains("document 2"), "{e}");
        assert!(parse_yaml_documents("a: [").is_err());
    }

    #[test]
    fn type_meta() {
        assert!(
            check_type_meta(&json!({"apiVersion": "v1", "kind": "Pod"}), &["v1"], "Pod").is_ok()
        );
        let e = check_type_meta(&json!({}), &["v1"], "Pod").unwrap_err();
        assert_eq!(
            e.to_string(),
            "apiVersion: Required value; kind: Required value"
        );
        let e = check_type_meta(
            &json!({"apiVersion": "apps/v1", "kind": "pod"}),
            &["v1"],
            "Pod",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"apiVersion: Unsupported value: "apps/v1": supported values: "v1"; kind: Unsupported value: "pod": supported values: "Pod""#
        );
        let e =
            check_type_meta(&json!({"apiVersion": 1, "kind": "Pod"}), &["v1"], "Pod").unwrap_err();
        assert_eq!(
            e.to_string(),
            "apiVersion: Invalid value: 1: must be a string"
        );
    }

    #[test]
    fn serde_messages() {
        let cases = [
            (
                r#"invalid type: string "eighty", expected i32"#,
                r#"Invalid value: "eighty": must be an integer"#,
            ),
            (
                "invalid type: floating point `1.0`, expected a string",
                "Invalid value: 1.0: must be a string",
            ),
            (
                "invalid value: integer `3000000000`, expected i32",
                "Invalid value: 3000000000: must be a 32-bit integer",
            ),
            (
                "invalid type: map, expected a sequence",
                "Invalid value: object: must be a list",
            ),
            (
                "invalid type: sequence, expected ContainerPort",
                "Invalid value: list: must be an object",
            ),
            ("something else", "Invalid value: something else"),
        ];
        for (raw, want) in cases {
            assert_eq!(pretty_serde_message(raw), want);
        }
    }

    #[test]
    fn strips_system_fields() {
        let mut v = json!({"metadata": {"name": "x", "uid": "u", "resourceVersion": "5",
            "creationTimestamp": "garbage"}, "status": {"phase": 7}});
        strip_system_fields(&mut v);
        assert_eq!(v, json!({"metadata": {"name": "x"}}));
    }
}

#[cfg(test)]
mod limits_tests {
    use super::*;

    #[test]
    fn hostile_bodies_are_refused_not_crashed() {
        let deep_yaml = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_body(deep_yaml.as_bytes(), true).is_err());
        let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_body(deep_json.as_bytes(), false).is_err());
        // An alias bomb stays within serde-saphyr's budget.
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("a{}", i - 1)
            };
            bomb.push_str(&format!(
                "a{i}: &a{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        assert!(parse_body(bomb.as_bytes(), true).is_err());
    }
}

#[cfg(test)]
mod examples_tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;

    /// `examples/rs.yaml` and `examples/hpa.yaml` as one file, as `k1s_ctl create` may get.
    const RS_AND_HPA: &str = r#"apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: test-rs
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web-server
  template:
    metadata:
      labels:
        app: web-server
        version: "1.0"
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
          protocol: TCP
---
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata:
  name: test-hpa
spec:
  maxReplicas: 5
  minReplicas: 1
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 60}
  scaleTargetRef:
    apiVersion: apps/v1
    kind: ReplicaSet
    name: test-rs
"#;

    #[test]
    fn example_files_split_and_decode() {
        let docs = parse_yaml_documents(RS_AND_HPA).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], "HorizontalPodAutoscaler");
        assert_eq!(
            docs[1]["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            60
        );
        // The ReplicaSet decodes strictly, and its template passes the pod checks.
        check_type_meta(&docs[0], &["apps/v1"], "ReplicaSet").unwrap();
        let mut errs = Vec::new();
        let rs: ReplicaSet = decode_strict(docs[0].clone(), &mut errs).unwrap();
        assert!(errs.is_empty(), "{errs:?}");
        let template = rs.spec.unwrap().template.unwrap();
        meta::validate_object_meta(
            template.metadata.as_ref().unwrap(),
            "spec.template.metadata",
            &mut errs,
        );
        let mut warnings = Vec::new();
        pod::validate_pod_spec(
            template.spec.as_ref().unwrap(),
            "spec.template.spec",
            &HostLimits::UNKNOWN,
            &AdmissionOptions::default(),
            &mut errs,
            &mut warnings,
        );
        assert!(
            errs.is_empty() && warnings.is_empty(),
            "{errs:?} {warnings:?}"
        );
        // A typo in a template is found with its full path.
        let mut bad = docs[0].clone();
        bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always".into();
        let _ = decode_strict::<ReplicaSet>(bad, &mut errs);
        assert_eq!(
            errs,
            vec![FieldError::new(
                "spec.template.spec.containers[0].imagePullPolcy",
                "unknown field \"imagePullPolcy\""
            )]
        );
    }
}
