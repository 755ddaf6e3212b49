//! The one protobuf request body kubectl sends: `kubectl autoscale`'s
//! `autoscaling/v1` HorizontalPodAutoscaler.
//!
//! Hand-written wire-format reading (varints and length-delimited fields; other wire
//! types are skipped) of exactly the fields K1s uses. Every length is checked against
//! what is left, so a truncated or hostile body is an error, never a panic.

use serde_json::{Map, Value, json};

/// The envelope's magic bytes.
const MAGIC: &[u8] = b"k8s\0";

/// Decodes a `application/vnd.kubernetes.protobuf` body (the `k8s\0` envelope and a
/// `runtime.Unknown` holding an `autoscaling/v1` HorizontalPodAutoscaler) into the
/// object's JSON form, or says why it cannot.
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a Kubernetes protobuf body (no k8s\\0 prefix)")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    for f in fields(body) {
        match f? {
            (1, Wire::Len(tm)) => {
                for f in fields(tm) {
                    match f? {
                        (1, Wire::Len(b)) => api_version = text(b)?,
                        (2, Wire::Len(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(b)) => raw = Some(b),
            (3, Wire::Len(b)) if !b.is_empty() => {
                return Err(format!(
                    "protobuf content encoding \"{}\" is not supported",
                    String::from_utf8_lossy(b)
                ));
            }
            _ => {}
        }
    }
    let which = (api_version.as_str(), kind.as_str());
    if !matches!(
        which,
        ("autoscaling/v1", "HorizontalPodAutoscaler") | ("v1", "ConfigMap") | ("v1", "Secret")
    ) {
        return Err(format!(
            "protobuf bodies are accepted only for autoscaling/v1 HorizontalPodAutoscaler, v1 ConfigMap and v1 Secret, not {api_version} {kind}"
        ));
    }
    let raw = raw.ok_or("the protobuf body holds no object (runtime.Unknown.raw)")?;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    for f in fields(raw) {
        match f? {
            (1, Wire::Len(b)) => {
                obj.insert("metadata".into(), object_meta(b)?);
            }
            (2, Wire::Len(b)) if kind == "HorizontalPodAutoscaler" => {
                obj.insert("spec".into(), hpa_spec(b)?);
            }
            (n, w) if kind != "HorizontalPodAutoscaler" => config_field(&kind, &mut obj, n, w)?,
            _ => {} // status: the server's
        }
    }
    Ok(Value::Object(obj))
}

/// A field of a ConfigMap (2 data, 3 binaryData, 4 immutable) or a Secret (2 data,
/// 3 type, 4 stringData, 5 immutable); bytes values become base64, as in JSON.
fn config_field(
    kind: &str,
    obj: &mut Map<String, Value>,
    n: u32,
    w: Wire<'_>,
) -> Result<(), String> {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut put = |field: &str, k: String, v: Value| {
        if let Some(m) = obj
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
        {
            m.insert(k, v);
        }
    };
    match (kind, n, w) {
        ("ConfigMap", 2, Wire::Len(e)) | ("Secret", 4, Wire::Len(e)) => {
            let (k, v) = map_entry(e)?;
            put(if n == 2 { "data" } else { "stringData" }, k, json!(v));
        }
        ("ConfigMap", 3, Wire::Len(e)) | ("Secret", 2, Wire::Len(e)) => {
            let (mut k, mut v) = (String::new(), Vec::new());
            for f in fields(e) {
                match f? {
                    (1, Wire::Len(b)) => k = text(b)?,
                    (2, Wire::Len(b)) => v = b.to_vec(),
                    _ => {}
                }
            }
            put(
                if n == 3 { "binaryData" } else { "data" },
                k,
                json!(b64(&v)),
            );
        }
        ("Secret", 3, Wire::Len(b)) => {
            obj.insert("type".into(), json!(text(b)?));
        }
        ("ConfigMap", 4, Wire::Varint(v)) | ("Secret", 5, Wire::Varint(v)) => {
            obj.insert("immutable".into(), json!(v != 0));
        }
        _ => {}
    }
    Ok(())
}

/// ObjectMeta: 1 name, 2 generateName, 3 namespace, 11 labels, 12 annotations.
fn object_meta(b: &[u8]) -> Result<Value, String> {
    let mut m = Map::new();
    let (mut labels, mut annotations) = (Map::new(), Map::new());
    for f in fields(b) {
        match f? {
            (1, Wire::Len(s)) => set_str(&mut m, "name", s)?,
            (2, Wire::Len(s)) => set_str(&mut m, "generateName", s)?,
            (3, Wire::Len(s)) => set_str(&mut m, "namespace", s)?,
            (11, Wire::Len(e)) => {
                let (k, v) = map_entry(e)?;
                labels.insert(k, json!(v));
            }
            (12, Wire::Len(e)) => {
                let (k, v) = map_entry(e)?;
                annotations.insert(k, json!(v));
            }
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    Ok(Value::Object(m))
}

/// Spec: 1 scaleTargetRef {1 kind, 2 name, 3 apiVersion}, 2 minReplicas,
/// 3 maxReplicas, 4 targetCPUUtilizationPercentage.
fn hpa_spec(b: &[u8]) -> Result<Value, String> {
    let mut m = Map::new();
    for f in fields(b) {
        match f? {
            (1, Wire::Len(r)) => {
                let mut t = Map::new();
                for f in fields(r) {
                    match f? {
                        (1, Wire::Len(s)) => set_str(&mut t, "kind", s)?,
                        (2, Wire::Len(s)) => set_str(&mut t, "name", s)?,
                        (3, Wire::Len(s)) => set_str(&mut t, "apiVersion", s)?,
                        _ => {}
                    }
                }
                m.insert("scaleTargetRef".into(), Value::Object(t));
            }
            (2, Wire::Varint(v)) => {
                m.insert("minReplicas".into(), json!(int32(v)));
            }
            (3, Wire::Varint(v)) => {
                m.insert("maxReplicas".into(), json!(int32(v)));
            }
            (4, Wire::Varint(v)) => {
                m.insert("targetCPUUtilizationPercentage".into(), json!(int32(v)));
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// A map entry `{1 key, 2 value}`.
fn map_entry(b: &[u8]) -> Result<(String, String), String> {
    let (mut k, mut v) = (String::new(), String::new());
    for f in fields(b) {
        match f? {
            (1, Wire::Len(s)) => k = text(s)?,
            (2, Wire::Len(s)) => v = text(s)?,
            _ => {}
        }
    }
    Ok((k, v))
}

/// Sets a string field; an empty string is unset (proto2 writes empty strings).
fn set_str(m: &mut Map<String, Value>, key: &str, b: &[u8]) -> Result<(), String> {
    let s = text(b)?;
    if s.is_empty() {
        m.remove(key);
    } else {
        m.insert(key.into(), json!(s));
    }
    Ok(())
}

fn text(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a protobuf string is not UTF-8".to_string())
}

/// An int32 field: negative values are sign-extended to 64 bits on the wire.
fn int32(v: u64) -> i64 {
    i64::from(v as i32)
}

/// A field's value.
#[derive(Debug, PartialEq)]
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Len(&'a [u8]),
    Fixed32,
}

/// The fields of a message, in order; an error ends the iteration.
fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf, failed: false }
}

struct Fields<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Wire<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() || self.failed {
            return None;
        }
        let r = self.field();
        self.failed = r.is_err();
        Some(r)
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<(u32, Wire<'a>), String> {
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(format!("invalid protobuf field number {number}"));
        }
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|l| *l <= self.buf.len())
                    .ok_or("truncated protobuf body (a length runs past the end)")?;
                Wire::Len(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            t => return Err(format!("unsupported protobuf wire type {t}")),
        };
        Ok((number as u32, wire))
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self
                .buf
                .split_first()
                .ok_or("truncated protobuf body (a varint runs past the end)")?;
            self.buf = rest;
            if i == 9 && b > 1 {
                return Err("protobuf varint longer than 64 bits".into());
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("protobuf varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.buf.len() {
            return Err("truncated protobuf body".into());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes `kubectl autoscale rs test-rs --min=1 --max=5 --cpu-percent=60` sent
    /// (KUBECTL.md §3.13).
    fn observed() -> Vec<u8> {
        let mut b = vec![0x6b, 0x38, 0x73, 0x00];
        b.extend([0x0a, 0x29, 0x0a, 0x0e]);
        b.extend(b"autoscaling/v1");
        b.extend([0x12, 0x17]);
        b.extend(b"HorizontalPodAutoscaler");
        b.extend([0x12, 0x47]);
        b.extend([0x0a, 0x17, 0x0a, 0x07]);
        b.extend(b"test-rs");
        b.extend([
            0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00,
        ]);
        b.extend([0x12, 0x26, 0x0a, 0x1e, 0x0a, 0x0a]);
        b.extend(b"ReplicaSet");
        b.extend([0x12, 0x07]);
        b.extend(b"test-rs");
        b.extend([0x1a, 0x07]);
        b.extend(b"apps/v1");
        b.extend([0x10, 0x01, 0x18, 0x05, 0x20, 0x3c]);
        b.extend([0x1a, 0x04, 0x18, 0x00, 0x20, 0x00]);
        b.extend([0x1a, 0x00, 0x22, 0x00]);
        b
    }

    #[test]
    fn kubectl_autoscale_body_decodes() {
        let v = decode(&observed()).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "autoscaling/v1",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "test-rs"},
                "spec": {
                    "scaleTargetRef": {"kind": "ReplicaSet", "name": "test-rs", "apiVersion": "apps/v1"},
                    "minReplicas": 1,
                    "maxReplicas": 5,
                    "targetCPUUtilizationPercentage": 60
                }
            })
        );
    }

    fn ld(field: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![(field << 3) | 2, body.len() as u8];
        v.extend(body);
        v
    }

    fn envelope(raw: &[u8]) -> Vec<u8> {
        let mut tm = ld(1, b"autoscaling/v1");
        tm.extend(ld(2, b"HorizontalPodAutoscaler"));
        let mut b = b"k8s\0".to_vec();
        b.extend(ld(1, &tm));
        b.extend(ld(2, raw));
        b
    }

    #[test]
    fn labels_annotations_generate_name_and_absent_fields() {
        let mut meta = ld(2, b"auto-");
        meta.extend(ld(3, b"default"));
        let mut e = ld(1, b"app");
        e.extend(ld(2, b"web"));
        meta.extend(ld(11, &e));
        let mut a = ld(1, b"note");
        a.extend(ld(2, b""));
        meta.extend(ld(12, &a));
        // an unknown fixed32 and fixed64 field are skipped
        meta.extend([0x7d, 1, 2, 3, 4, 0x79, 1, 2, 3, 4, 5, 6, 7, 8]);
        // maxReplicas, and minReplicas -1 as a 10-byte varint; no target CPU
        let mut spec = vec![0x18, 0x07, 0x10];
        spec.extend([0xff; 9]);
        spec.push(0x01);
        let mut raw = ld(1, &meta);
        raw.extend(ld(2, &spec));
        let v = decode(&envelope(&raw)).unwrap();
        assert_eq!(
            v["metadata"],
            json!({"generateName": "auto-", "namespace": "default",
                   "labels": {"app": "web"}, "annotations": {"note": ""}})
        );
        assert_eq!(v["spec"], json!({"maxReplicas": 7, "minReplicas": -1}));
    }

    #[test]
    fn malformed_truncated_and_hostile_bodies_are_errors() {
        let good = observed();
        // every truncation fails or decodes, never panics
        for n in 0..good.len() {
            let _ = decode(&good[..n]);
        }
        assert!(decode(&good[..good.len() - 10]).is_err());
        assert!(decode(b"").is_err());
        assert!(decode(b"{\"kind\":\"x\"}").is_err());
        assert!(decode(b"k8s\0").is_err(), "no type, no object");
        // a length far past the end
        assert!(decode(b"k8s\0\x0a\xff\xff\xff\xff\x0f").is_err());
        // an endless varint
        let mut v = b"k8s\0\x08".to_vec();
        v.extend([0xff; 20]);
        assert!(decode(&v).is_err());
        // field number 0, groups
        assert!(decode(b"k8s\0\x00\x01").is_err());
        assert!(decode(b"k8s\0\x0b").is_err());
        // another kind
        let mut tm = ld(1, b"v1");
        tm.extend(ld(2, b"Pod"));
        let mut b = b"k8s\0".to_vec();
        b.extend(ld(1, &tm));
        assert!(decode(&b).unwrap_err().contains("Pod"));
        // not UTF-8
        assert!(decode(&envelope(&ld(1, &ld(1, &[0xff, 0xfe])))).is_err());
        // a content encoding
        let mut b = envelope(&[]);
        b.extend(ld(3, b"gzip"));
        assert!(decode(&b).is_err());
        // a pseudo-random corpus: never a panic
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let mut b = good.clone();
            for _ in 0..4 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let i = (x as usize >> 8) % b.len();
                b[i] = (x >> 16) as u8;
            }
            let _ = decode(&b);
        }
    }
}
