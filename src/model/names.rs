//! Name rules shared by every kind: DNS-1123 names, qualified names (label and
//! annotation keys), label values, port names, environment variable names and Docker
//! image references. Messages are Kubernetes' own (`k8s.io/apimachinery/pkg/util/validation`),
//! including their examples, so users can search for them.

/// Longest DNS-1123 label (container names, port-name-less things).
pub const DNS1123_LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain (object names).
pub const DNS1123_SUBDOMAIN_MAX: usize = 253;
/// Longest name part of a qualified name, and longest label value.
pub const QUALIFIED_NAME_MAX: usize = 63;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn max_len_msg(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, without the length rule.
fn is_label_shape(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => alnum(f) && alnum(l) && b.iter().all(|&c| alnum(c) || c == b'-'),
        _ => false,
    }
}

/// A DNS-1123 label (container names): every message that applies, Kubernetes' order.
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        msgs.push(max_len_msg(DNS1123_LABEL_MAX));
    }
    if !is_label_shape(s) {
        msgs.push(DNS1123_LABEL_MSG.to_string());
    }
    msgs
}

/// A DNS-1123 subdomain (object names): dot-separated labels, at most 253 characters.
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        msgs.push(max_len_msg(DNS1123_SUBDOMAIN_MAX));
    }
    if !s.split('.').all(is_label_shape) {
        msgs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    msgs
}

/// `generateName` is checked as Kubernetes does (`maskTrailingDash`): a trailing '-' is
/// masked, as the random suffix follows it, then the result must be a valid name.
pub fn dns1123_subdomain_prefix(prefix: &str) -> Vec<String> {
    let masked = match prefix.strip_suffix('-') {
        // Kubernetes replaces the last two characters with "a"; the one before the dash
        // is then never checked to be alphanumeric ("a.-" passes), as there.
        Some(p) if !p.is_empty() => {
            let mut m: String = p.chars().take(p.chars().count() - 1).collect();
            m.push('a');
            m
        }
        _ => prefix.to_string(),
    };
    dns1123_subdomain(&masked)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` (the name part of a qualified name and a
/// non-empty label value), without the length rule.
fn is_qualified_shape(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// A qualified name (label and annotation keys): an optional DNS subdomain prefix and
/// '/', then a name of at most 63 characters. Every message that applies.
pub fn qualified_name(s: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                msgs.push("prefix part must be non-empty".to_string());
            } else {
                msgs.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            msgs.push(format!(
                "a qualified name {QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return msgs;
        }
    };
    if name.is_empty() {
        msgs.push("name part must be non-empty".to_string());
    } else if name.len() > QUALIFIED_NAME_MAX {
        msgs.push(format!("name part {}", max_len_msg(QUALIFIED_NAME_MAX)));
    }
    if !is_qualified_shape(name) {
        msgs.push(format!("name part {QUALIFIED_NAME_MSG}"));
    }
    msgs
}

/// A label value: empty, or at most 63 characters of the qualified-name shape.
pub fn label_value(s: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if s.len() > QUALIFIED_NAME_MAX {
        msgs.push(max_len_msg(QUALIFIED_NAME_MAX));
    }
    if !s.is_empty() && !is_qualified_shape(s) {
        msgs.push(LABEL_VALUE_MSG.to_string());
    }
    msgs
}

/// An IANA service name (container port names): at most 15 characters of `[-a-z0-9]`,
/// at least one letter, no leading, trailing or doubled '-'.
pub fn iana_svc_name(s: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if s.len() > 15 {
        msgs.push(max_len_msg(15));
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        msgs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !s.bytes().any(|c| c.is_ascii_lowercase()) {
        msgs.push("must contain at least one letter (a-z)".into());
    }
    if s.contains("--") {
        msgs.push("must not contain consecutive hyphens".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        msgs.push("must not begin or end with a hyphen".into());
    }
    msgs
}

/// An environment variable name (Kubernetes' relaxed rule, the default since 1.32):
/// printable ASCII other than '='. Empty is reported by the caller as `Required value`.
pub fn env_var_name(s: &str) -> Vec<String> {
    if s.bytes().all(|c| (0x20..=0x7e).contains(&c) && c != b'=') {
        Vec::new()
    } else {
        vec![
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_string(),
        ]
    }
}

/// Longest repository name Docker accepts (registry and path together).
const NAME_TOTAL_MAX: usize = 255;

/// Check a Docker image reference the way Docker's `reference.ParseNormalizedNamed`
/// does: `[host[:port]/]path[:tag][@algo:hex]`, the path lowercase. `Err` carries
/// Docker's reason (`invalid reference format: …`).
pub fn image_reference(image: &str) -> Result<(), String> {
    const BAD: &str = "invalid reference format";
    if image.is_empty() {
        return Err(BAD.into());
    }
    // The digest first: it may contain ':' and comes last.
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        check_digest(d)?;
    }
    // A tag is after the last ':' that follows the last '/' (a ':' before a '/' is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let ok = t.len() <= 128
            && t.bytes()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
            && t.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if !ok {
            return Err(format!("{BAD}: invalid tag format"));
        }
    }
    if name.is_empty() {
        return Err(BAD.into());
    }
    if name.len() > NAME_TOTAL_MAX {
        return Err(format!(
            "{BAD}: repository name must not be more than {NAME_TOTAL_MAX} characters"
        ));
    }
    // Docker's rule for "is the first component a registry host?"
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    };
    if let Some(d) = domain {
        check_domain(d)?;
    }
    if path.to_lowercase() != path {
        return Err(format!("{BAD}: repository name must be lowercase"));
    }
    if !path.split('/').all(is_path_component) {
        return Err(BAD.into());
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !b.first().is_some_and(|&x| alnum(x)) || !b.last().is_some_and(|&x| alnum(x)) {
        return false;
    }
    // Between alphanumeric runs: one '.', one '_', two '_', or any number of '-'.
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]`: DNS-ish components (letters any case), an IPv4, or `[IPv6]`.
fn check_domain(d: &str) -> Result<(), String> {
    let bad = || Err("invalid reference format".to_string());
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return bad();
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return bad();
        }
        match after {
            "" => (None, None),
            p => match p.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return bad(),
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        match (b.first(), b.last()) {
            (Some(f), Some(l)) => {
                f.is_ascii_alphanumeric()
                    && l.is_ascii_alphanumeric()
                    && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
            }
            _ => false,
        }
    };
    if host.is_some_and(|h| !h.split('.').all(component_ok)) {
        return bad();
    }
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit())) {
        return bad();
    }
    Ok(())
}

/// `algorithm:hex`; sha256 needs 64 and sha512 128 lowercase hex digits.
fn check_digest(d: &str) -> Result<(), String> {
    let Some((algo, hex)) = d.split_once(':') else {
        return Err("invalid reference format".into());
    };
    let want = match algo {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(format!(
                "invalid reference format: unsupported digest algorithm {algo:?}"
            ));
        }
    };
    if hex.len() != want
        || !hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return Err(format!(
            "invalid reference format: invalid checksum digest format (want {want} lowercase hex digits after {algo}:)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_and_labels() {
        for ok in ["a", "nginx", "my-pod.v1", "a1", "0", &"a".repeat(253)] {
            assert!(dns1123_subdomain(ok).is_empty(), "{ok}");
        }
        for bad in [
            "",
            "Nginx",
            "-a",
            "a-",
            "a..b",
            "a.-b",
            "a_b",
            "a b",
            "ñ",
            &"a".repeat(254),
        ] {
            assert!(!dns1123_subdomain(bad).is_empty(), "{bad}");
        }
        assert!(dns1123_label("web-1").is_empty());
        assert!(!dns1123_label("a.b").is_empty());
        assert_eq!(dns1123_label(&"a".repeat(64)), vec![max_len_msg(63)]);
        assert!(dns1123_subdomain_prefix("web-").is_empty());
        assert!(!dns1123_subdomain_prefix("-").is_empty());
    }

    #[test]
    fn qualified_names() {
        for ok in [
            "app",
            "App_1",
            "example.com/MyName",
            "a.b",
            "k8s.io/x-y",
            &"a".repeat(63),
        ] {
            assert!(qualified_name(ok).is_empty(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a/b/c",
            "-a",
            "a b",
            "Example.com/x",
            &"a".repeat(64),
            "a:b",
        ] {
            assert!(!qualified_name(bad).is_empty(), "{bad}");
        }
        assert_eq!(
            qualified_name("/a"),
            vec!["prefix part must be non-empty".to_string()]
        );
    }

    #[test]
    fn label_values() {
        for ok in ["", "1.0", "hello", "a_b-c.d", &"v".repeat(63)] {
            assert!(label_value(ok).is_empty(), "{ok}");
        }
        for bad in ["-a", "a-", "a b", "a/b", "ü", &"v".repeat(64)] {
            assert!(!label_value(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn port_names() {
        for ok in ["http", "web-8080", "a", "h2c"] {
            assert!(iana_svc_name(ok).is_empty(), "{ok}");
        }
        for bad in [
            "8080",
            "HTTP",
            "-http",
            "http-",
            "a--b",
            "abcdefghijklmnop",
            "a_b",
            "",
        ] {
            assert!(!iana_svc_name(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn env_names() {
        assert!(env_var_name("PATH").is_empty());
        assert!(env_var_name("my.var-1 x").is_empty());
        assert!(!env_var_name("A=B").is_empty());
        assert!(!env_var_name("A\nB").is_empty());
        assert!(!env_var_name("é").is_empty());
    }

    #[test]
    fn image_references() {
        let sha = "a".repeat(64);
        let ok = [
            "nginx".to_string(),
            "nginx:latest".into(),
            "nginx:1.25-alpine".into(),
            "library/nginx".into(),
            "docker.io/library/nginx:1.25".into(),
            "localhost:5000/app".into(),
            "localhost/app".into(),
            "registry.example.com:443/team/app_x__y.z-w:v1".into(),
            "MyRegistry/app".into(),
            "[::1]:5000/app:v1".into(),
            "127.0.0.1:5000/app".into(),
            format!("nginx@sha256:{sha}"),
            format!("nginx:1.25@sha256:{sha}"),
            "a---b".into(),
        ];
        for i in &ok {
            assert_eq!(image_reference(i), Ok(()), "{i}");
        }
        let bad = [
            "",
            "Nginx",
            "nginx:",
            "nginx:-x",
            "nginx:a b",
            ":latest",
            "nginx@sha256:abc",
            "nginx@md5:abcd",
            "/nginx",
            "nginx/",
            "a//b",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "host:port/app",
            "[::1/app",
            "nginx latest",
            "ngi nx",
            "nginx:latest:x",
        ];
        for i in bad {
            assert!(image_reference(i).is_err(), "{i}");
        }
        assert_eq!(
            image_reference("Nginx"),
            Err("invalid reference format: repository name must be lowercase".into())
        );
        let long = format!("{}:{}", "a".repeat(10), "t".repeat(129));
        assert!(image_reference(&long).is_err());
        assert!(image_reference(&"a".repeat(256)).is_err());
    }
}
