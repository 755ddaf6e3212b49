//! Small helpers shared by several modules.

use rand::Rng;

/// `n` random lowercase hex characters (instance ids, uids).
pub fn random_hex(n: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| HEX[rng.random_range(0..HEX.len())] as char)
        .collect()
}

/// A Kubernetes-style uid (8-4-4-4-12 hex).
pub fn new_uid() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Kubernetes' name suffix alphabet (no vowels, no look-alikes), as `generateName` and
/// ReplicaSet pod names use.
pub fn random_suffix(n: usize) -> String {
    const ALPHA: &[u8] = crate::model::meta::NAME_SUFFIX_ALPHABET.as_bytes();
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHA[rng.random_range(0..ALPHA.len())] as char)
        .collect()
}

/// Now, as an RFC 3339 timestamp with second precision (Kubernetes' `Time`).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A time as Kubernetes writes it: RFC 3339, whole seconds, UTC.
pub fn format_time(t: &jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A Kubernetes `Time` at whole seconds (what a stored object keeps, so that a value
/// compares equal after a trip through the database).
pub fn k8s_time(t: jiff::Timestamp) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::from_second(t.as_second()).unwrap_or(t),
    )
}

/// Docker's timestamp as a Kubernetes `Time`; Docker's zero time is `None`.
pub fn docker_k8s_time(s: &str) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
    let t: jiff::Timestamp = s.parse().ok()?;
    (t.as_second() > 0).then(|| k8s_time(t))
}

/// Docker timestamps (RFC 3339 with nanoseconds) to Kubernetes' second precision;
/// Docker's zero time (`0001-01-01T00:00:00Z`) is `None`.
pub fn docker_time(s: &str) -> Option<String> {
    let t: jiff::Timestamp = s.parse().ok()?;
    if t.as_second() <= 0 {
        return None;
    }
    Some(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_times() {
        assert_eq!(
            docker_time("2026-11-25T23:18:33.123456789Z").as_deref(),
            Some("2026-11-25T23:18:33Z")
        );
        assert_eq!(docker_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(docker_time("garbage"), None);
    }

    #[test]
    fn ids_have_their_shapes() {
        assert_eq!(random_hex(16).len(), 16);
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert!(random_suffix(5).chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
