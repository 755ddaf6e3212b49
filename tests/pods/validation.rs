//! Invalid pod specs (docs/decisions.md, "Pod fields", "Status codes"): 400 for bytes
//! that do not parse, 422 naming the field for anything else, 413 for a body over 3 MiB
//! — and nothing created.

use crate::support::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What the `field` of the error must be.
enum Field {
    None,
    Exact(&'static str),
    Prefix(&'static str),
}

struct Case {
    what: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    field: Field,
    /// The pod name the body would have created, checked absent afterwards.
    name: String,
}

fn json_case(what: &'static str, name: String, pod: Value, status: u16, field: Field) -> Case {
    Case {
        what,
        content_type: "application/json",
        body: serde_json::to_vec(&pod).unwrap(),
        status,
        field,
        name,
    }
}

fn cases(cleanup: &Cleanup) -> Vec<Case> {
    let app = cleanup.prefix.clone();
    let mut n = 0;
    let mut next = || {
        n += 1;
        cleanup.name(&format!("v{n}"))
    };
    let base = |name: &str| pod_manifest(name, &app, HTTP_IMAGE);
    let mut v = Vec::new();

    let name = next();
    v.push(Case {
        what: "malformed JSON",
        content_type: "application/json",
        body: format!(r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}""#)
            .into_bytes(),
        status: 400,
        field: Field::None,
        name,
    });
    let name = next();
    v.push(Case {
        what: "malformed YAML",
        content_type: "application/yaml",
        body: format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: [unclosed\n"
        )
        .into_bytes(),
        status: 400,
        field: Field::None,
        name,
    });
    let name = next();
    v.push(Case {
        what: "a JSON body without a YAML Content-Type is JSON (YAML text → 400)",
        content_type: "text/plain",
        body: to_yaml(&base(&name)).into_bytes(),
        status: 400,
        field: Field::None,
        name,
    });

    let name = next();
    let mut p = base(&name);
    p["apiVersion"] = json!("v2");
    v.push(json_case(
        "wrong apiVersion",
        name,
        p,
        422,
        Field::Exact("apiVersion"),
    ));

    let name = next();
    let mut p = base(&name);
    p["kind"] = json!("Service");
    v.push(json_case("wrong kind", name, p, 422, Field::Exact("kind")));

    let name = "Bad_Name".to_string();
    let mut p = base(&name);
    p["metadata"]["name"] = json!(name);
    v.push(json_case(
        "invalid name",
        name,
        p,
        422,
        Field::Exact("metadata.name"),
    ));

    let name = next();
    let mut p = base(&name);
    p["metadata"]["labels"]["app"] = json!("not a valid value!");
    v.push(json_case(
        "invalid label value",
        name,
        p,
        422,
        Field::Prefix("metadata.labels"),
    ));

    let name = next();
    let mut p = base(&name);
    p["metadata"]["labels"]["k1s.io/pod"] = json!("x");
    v.push(json_case(
        "reserved label key",
        name,
        p,
        422,
        Field::Prefix("metadata.labels"),
    ));

    let name = next();
    let mut p = base(&name);
    p["metadata"]["namespace"] = json!("other");
    v.push(json_case(
        "namespace other than default",
        name,
        p,
        422,
        Field::Exact("metadata.namespace"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"].as_object_mut().unwrap().remove("containers");
    v.push(json_case(
        "missing containers",
        name,
        p,
        422,
        Field::Exact("spec.containers"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"] = json!([]);
    v.push(json_case(
        "empty containers",
        name,
        p,
        422,
        Field::Exact("spec.containers"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("image");
    v.push(json_case(
        "missing image",
        name,
        p,
        422,
        Field::Exact("spec.containers[0].image"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    v.push(json_case(
        "missing container name",
        name,
        p,
        422,
        Field::Exact("spec.containers[0].name"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(70000);
    v.push(json_case(
        "port 70000",
        name,
        p,
        422,
        Field::Exact("spec.containers[0].ports[0].containerPort"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]["ports"][0]["containerPort"] = json!("eighty");
    v.push(json_case(
        "port of the wrong type",
        name,
        p,
        422,
        Field::Exact("spec.containers[0].ports[0].containerPort"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]["ports"][0]["protocol"] = json!("XYZ");
    v.push(json_case(
        "protocol XYZ",
        name,
        p,
        422,
        Field::Exact("spec.containers[0].ports[0].protocol"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "-1"}});
    v.push(json_case(
        "negative cpu",
        name,
        p,
        422,
        Field::Prefix("spec.containers[0].resources.requests"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": "64"}});
    v.push(json_case(
        "cpu above the host's",
        name,
        p,
        422,
        Field::Prefix("spec.containers[0].resources"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]["resources"] = json!({"limits": {"memory": "100Ti"}});
    v.push(json_case(
        "memory above the host's",
        name,
        p,
        422,
        Field::Prefix("spec.containers[0].resources"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]["resource"] = json!({"limits": {"cpu": "100m"}});
    v.push(json_case(
        "unknown field `resource`",
        name,
        p,
        422,
        Field::Exact("spec.containers[0].resource"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]["securityContext"] = json!({"privileged": true});
    v.push(json_case(
        "privileged",
        name,
        p,
        422,
        Field::Exact("spec.containers[0].securityContext.privileged"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["hostNetwork"] = json!(true);
    v.push(json_case(
        "hostNetwork",
        name,
        p,
        422,
        Field::Exact("spec.hostNetwork"),
    ));

    let name = next();
    let mut p = base(&name);
    p["spec"]["restartPolicy"] = json!("Sometimes");
    v.push(json_case(
        "restartPolicy",
        name,
        p,
        422,
        Field::Exact("spec.restartPolicy"),
    ));

    // The same checks apply to YAML bodies, with the same paths.
    let name = next();
    let mut p = base(&name);
    p["spec"]["containers"][0]["resource"] = json!({"limits": {"cpu": "100m"}});
    v.push(Case {
        what: "unknown field `resource` (YAML)",
        content_type: "application/yaml",
        body: to_yaml(&p).into_bytes(),
        status: 422,
        field: Field::Exact("spec.containers[0].resource"),
        name,
    });
    v
}

#[test]
fn invalid_pod_specs_are_refused_naming_the_field() {
    let cleanup = Cleanup::new("inval");
    let server = Server::start();
    let mut failures = Vec::new();
    for case in cases(&cleanup) {
        let r = server.request("POST", "/k1s/pod", Some((case.content_type, &case.body)));
        let mut problems = Vec::new();
        if r.status != case.status {
            problems.push(format!("status {} (want {})", r.status, case.status));
        }
        if !r
            .error()
            .is_some_and(|e| !e.trim().is_empty() && !e.contains('\n'))
        {
            problems.push("no one-line `error`".to_string());
        }
        match (&case.field, r.field()) {
            (Field::None, _) => {}
            (Field::Exact(want), Some(got)) if got == *want => {}
            (Field::Prefix(want), Some(got)) if got.starts_with(want) => {}
            (Field::Exact(want) | Field::Prefix(want), got) => {
                problems.push(format!("field {got:?} (want {want})"))
            }
        }
        if server.get(&format!("/k1s/pod/{}", case.name)).status != 404 {
            problems.push("the pod was stored".to_string());
        }
        if !containers_named(&case.name).is_empty() {
            problems.push("a container was created".to_string());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {} — {r:?}", case.what, problems.join(", ")));
        }
    }
    assert!(
        list_pod_names(&server, Some(&format!("app={}", cleanup.prefix))).is_empty(),
        "no pod of this test was stored"
    );
    assert!(
        failures.is_empty(),
        "{} case(s) wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Sends a POST with a 4 MiB body over a raw socket, reading the answer while the
/// body is still being written (a server may answer 413 before reading it all).
fn post_huge(port: u16, name: &str, size: usize) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "POST /k1s/pod HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n"
    );
    head.push_str("\r\n");
    let mut writer = stream.try_clone().unwrap();
    let name = name.to_string();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let prefix = format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","annotations":{{"a":""#
        );
        let prefix = prefix.as_bytes();
        let _ = writer.write_all(prefix);
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = size - prefix.len() - 4;
        while left > 0 {
            let n = left.min(chunk.len());
            if writer.write_all(&chunk[..n]).is_err() {
                return; // the server answered and closed: fine
            }
            left -= n;
        }
        let _ = writer.write_all(br#""}}}"#);
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break; // the status line and headers are in
                }
            }
            Err(e) => {
                if answer.is_empty() {
                    panic!("no answer to a 4 MiB body: {e}");
                }
                break;
            }
        }
    }
    drop(stream);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    (status, text)
}

#[test]
fn body_over_3_mib_is_413() {
    let cleanup = Cleanup::new("huge");
    let server = Server::start();
    let name = cleanup.name("big");
    let (status, text) = post_huge(server.port(), &name, 4 * 1024 * 1024);
    assert_eq!(status, 413, "{text}");
    assert_eq!(server.get(&format!("/k1s/pod/{name}")).status, 404);
    assert!(containers_named(&name).is_empty());
    // The server is still fine afterwards.
    assert_eq!(server.get("/k1s/pod").status, 200);
}
