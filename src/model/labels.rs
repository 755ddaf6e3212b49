//! Labels: key and value rules, the reserved K1s keys, and equality selectors.

use std::collections::BTreeMap;

use super::names;

/// The label key K1s puts on its containers (`k1s=pod`); users may not use it.
pub const RESERVED_KEY: &str = "k1s";
/// The domain of K1s' own label keys (`k1s.io/instance`, …); users may not use it or
/// its subdomains.
pub const RESERVED_DOMAIN: &str = "k1s.io";

/// Kubernetes' qualified-name rules: an optional DNS-1123 subdomain prefix and '/',
/// then a name of at most 63 characters `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
/// `Err` carries Kubernetes' reasons joined with "; ".
pub fn validate_label_key(k: &str) -> Result<(), String> {
    join(names::qualified_name(k))
}

/// Kubernetes' label value rules: empty, or at most 63 characters of
/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
pub fn validate_label_value(v: &str) -> Result<(), String> {
    join(names::label_value(v))
}

/// Whether a label key belongs to K1s itself: `k1s`, `k1s.io/…` or `<sub>.k1s.io/…`.
/// Such keys mark K1s' own containers, so a user's object must not carry them.
pub fn is_reserved_label_key(k: &str) -> bool {
    if k == RESERVED_KEY {
        return true;
    }
    match k.split_once('/') {
        Some((prefix, _)) => {
            prefix == RESERVED_DOMAIN || prefix.ends_with(&format!(".{RESERVED_DOMAIN}"))
        }
        None => false,
    }
}

fn join(msgs: Vec<String>) -> Result<(), String> {
    if msgs.is_empty() {
        Ok(())
    } else {
        Err(msgs.join("; "))
    }
}

/// Parse the REST API's selector string `k1=v1,k2=v2` (also `k==v`; whitespace around
/// keys and values is trimmed; the empty string selects everything). Only equality is
/// supported, as the handout's `list_*(labels)` takes a map. The error names the bad item.
pub fn parse_selector(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if s.trim().is_empty() {
        return Ok(out);
    }
    for raw in s.split(',') {
        let item = raw.trim();
        if item.is_empty() {
            return Err(format!("invalid selector {s:?}: empty item"));
        }
        let (k, v) = match item.split_once("==").or_else(|| item.split_once('=')) {
            Some((k, v)) if !k.ends_with('!') => (k.trim(), v.trim()),
            _ => {
                return Err(format!(
                    "invalid selector item {item:?}: K1s supports only key=value items"
                ));
            }
        };
        if let Err(e) = validate_label_key(k) {
            return Err(format!("invalid selector item {item:?}: key {k:?}: {e}"));
        }
        if let Err(e) = validate_label_value(v) {
            return Err(format!("invalid selector item {item:?}: value {v:?}: {e}"));
        }
        match out.get(k) {
            Some(prev) if prev != v => {
                return Err(format!(
                    "invalid selector item {item:?}: conflicts with {k}={prev}"
                ));
            }
            _ => {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    Ok(out)
}

/// Every selector entry is present in `labels` with an equal value (an empty selector
/// matches everything).
pub fn matches(labels: &BTreeMap<String, String>, selector: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_and_values() {
        assert!(validate_label_key("app").is_ok());
        assert!(validate_label_key("app.kubernetes.io/name").is_ok());
        assert!(validate_label_key("bad key").is_err());
        assert!(validate_label_key("a/b/c").is_err());
        assert!(validate_label_value("1.0").is_ok());
        assert!(validate_label_value("").is_ok());
        let e = validate_label_value("-x").unwrap_err();
        assert!(
            e.starts_with("a valid label must be an empty string"),
            "{e}"
        );
    }

    #[test]
    fn reserved() {
        assert!(is_reserved_label_key("k1s"));
        assert!(is_reserved_label_key("k1s.io/pod"));
        assert!(is_reserved_label_key("x.k1s.io/pod"));
        assert!(!is_reserved_label_key("k1s-app"));
        assert!(!is_reserved_label_key("notk1s.io/x"));
        assert!(!is_reserved_label_key("app"));
    }

    #[test]
    fn selectors() {
        let table: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("   ", &[]),
            ("app=hello", &[("app", "hello")]),
            ("app==hello", &[("app", "hello")]),
            (
                " app = hello , tier=web ",
                &[("app", "hello"), ("tier", "web")],
            ),
            ("app=", &[("app", "")]),
            ("a=1,a=1", &[("a", "1")]),
            ("example.com/x=Y_1", &[("example.com/x", "Y_1")]),
        ];
        for (s, want) in table {
            assert_eq!(parse_selector(s), Ok(map(want)), "{s:?}");
        }
        for bad in [
            "app",
            "app!=x",
            "a=1,,b=2",
            "a=1,",
            "bad key=v",
            "a=b c",
            "a=1,a=2",
            "a in (x)",
            "=v",
            "a=-x",
        ] {
            let e = parse_selector(bad).unwrap_err();
            assert!(e.contains("selector"), "{bad}: {e}");
        }
        let e = parse_selector("app=ok,bad key=v").unwrap_err();
        assert!(e.contains("\"bad key=v\""), "{e}");
    }

    #[test]
    fn matching() {
        let labels = map(&[("app", "hello"), ("version", "1.0")]);
        assert!(matches(&labels, &map(&[])));
        assert!(matches(&labels, &map(&[("app", "hello")])));
        assert!(matches(
            &labels,
            &map(&[("app", "hello"), ("version", "1.0")])
        ));
        assert!(!matches(&labels, &map(&[("app", "other")])));
        assert!(!matches(&labels, &map(&[("tier", "web")])));
        assert!(!matches(&map(&[]), &map(&[("app", "hello")])));
        assert!(matches(&map(&[]), &map(&[])));
    }
}
