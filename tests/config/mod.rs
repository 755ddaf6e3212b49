//! ConfigMaps and Secrets against the real engine: env from both, mounted files and
//! their update, a secret volume on tmpfs, a pod waiting for a missing ConfigMap, a
//! Secret's value never in `/k1s` answers, server logs or the database file, and a
//! deleted pod's directories gone (docs/decisions.md, "ConfigMaps and Secrets").

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

fn secret(name: &str, string_data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": string_data})
}

/// An HTTP workload pod with `container` merged into its container and `spec` into
/// its spec.
fn pod(name: &str, container: Value, spec: Value) -> Value {
    let mut c = json!({"name": "web", "image": HTTP_IMAGE});
    for (k, v) in container.as_object().unwrap() {
        c[k] = v.clone();
    }
    let mut s = json!({"containers": [c]});
    for (k, v) in spec.as_object().unwrap() {
        s[k] = v.clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": s})
}

/// Waits for the pod to run and answers its address.
fn running_addr(s: &Server, name: &str) -> String {
    wait_for(POD_DEADLINE, &format!("pod {name} running"), || {
        let p = s.get(&format!("/k1s/pod/{name}")).body;
        match (p["status"].as_str(), p["addr"].as_str()) {
            (Some("Running"), Some(a)) => Ok(a.to_string()),
            _ => Err(format!("{} {} {}", p["status"], p["reason"], p["state"])),
        }
    })
}

/// GET `http://<addr>:80<path>` from the workload: the body.
fn fetch(addr: &str, path: &str) -> Result<String, String> {
    let r = http_get(&format!("http://{addr}:80{path}"))?;
    if r.status == 200 {
        Ok(r.text)
    } else {
        Err(format!("{}: {}", r.status, r.text))
    }
}

fn created(r: &Resp) {
    assert_eq!(r.status, 201, "{r:?}");
}

/// Every file under `dir` (recursively), for "nothing left behind" checks.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            out.push(e.path());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(files_under(&e.path()));
            }
        }
    }
    out
}

#[test]
fn env_and_mounted_files_come_from_config_maps_and_secrets_and_files_update() {
    let g = Cleanup::new("cfg");
    let s = Server::start();
    let (cm, sec, p) = (g.name("cm"), g.name("sec"), g.name("p"));
    created(&s.post_json(
        "/k1s/cm",
        &config_map(&cm, json!({"greeting": "hello", "mode": "fast"})),
    ));
    created(&s.post_json(
        "/k1s/secret",
        &secret(&sec, json!({"password": "pw-Zq81x"})),
    ));
    let manifest = pod(
        &p,
        json!({
            "env": [
                {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "greeting"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": sec, "key": "password"}}},
                {"name": "ABSENT", "valueFrom": {"secretKeyRef": {"name": sec, "key": "nope", "optional": true}}}
            ],
            "envFrom": [{"configMapRef": {"name": cm}, "prefix": "CM_"}],
            "volumeMounts": [
                {"name": "conf", "mountPath": "/etc/conf"},
                {"name": "one", "mountPath": "/etc/one.txt", "subPath": "greeting"},
                {"name": "creds", "mountPath": "/etc/creds"},
                {"name": "scratch", "mountPath": "/scratch"}
            ]
        }),
        json!({"volumes": [
            {"name": "conf", "configMap": {"name": cm}},
            {"name": "one", "configMap": {"name": cm}},
            {"name": "creds", "secret": {"secretName": sec, "items": [{"key": "password", "path": "db/pw"}]}},
            {"name": "scratch", "emptyDir": {"medium": "Memory"}}
        ]}),
    );
    created(&s.post_json("/k1s/pod", &manifest));
    let addr = running_addr(&s, &p);
    assert_eq!(fetch(&addr, "/env/GREETING").unwrap(), "hello\n");
    assert_eq!(fetch(&addr, "/env/PASSWORD").unwrap(), "pw-Zq81x\n");
    assert_eq!(fetch(&addr, "/env/CM_mode").unwrap(), "fast\n");
    assert!(fetch(&addr, "/env/ABSENT").is_err());
    assert_eq!(fetch(&addr, "/file/etc/conf/greeting").unwrap(), "hello");
    assert_eq!(fetch(&addr, "/file/etc/one.txt").unwrap(), "hello");
    assert_eq!(fetch(&addr, "/file/etc/creds/db/pw").unwrap(), "pw-Zq81x");

    // The Secret's files are on tmpfs, not under the data directory on disk.
    let uid = s.get(&format!("/k1s/pod/{p}")).body["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let on_disk = files_under(&s.dir().join("pods"));
    assert!(
        on_disk.iter().any(|f| f.ends_with("conf/..data")),
        "{on_disk:?}"
    );
    assert!(
        !on_disk
            .iter()
            .any(|f| f.to_string_lossy().contains("creds")),
        "secret files on disk: {on_disk:?}"
    );
    let mounts = inspect(&p).unwrap()["Mounts"].clone();
    let creds = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/etc/creds")
        .unwrap()["Source"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        creds.starts_with("/run/k1s/") || creds.starts_with("/dev/shm/k1s-"),
        "{creds}"
    );
    assert!(creds.contains(&uid), "{creds}");

    // An update shows in the mounted files within 5 s; env and subPath keep theirs.
    let r = s.request(
        "PATCH",
        &format!("/k1s/cm/{cm}"),
        Some(("application/json", br#"{"data":{"greeting":"bonjour"}}"#)),
    );
    assert_eq!(r.status, 200, "{r:?}");
    wait_for(
        Duration::from_secs(5),
        "the mounted file to update",
        || match fetch(&addr, "/file/etc/conf/greeting")? {
            t if t == "bonjour" => Ok(()),
            t => Err(t),
        },
    );
    assert_eq!(fetch(&addr, "/env/GREETING").unwrap(), "hello\n");
    assert_eq!(fetch(&addr, "/file/etc/one.txt").unwrap(), "hello");
    let r = s.request(
        "PATCH",
        &format!("/k1s/secret/{sec}"),
        Some((
            "application/json",
            br#"{"stringData":{"password":"pw-new"}}"#,
        )),
    );
    assert_eq!(r.status, 200, "{r:?}");
    wait_for(
        Duration::from_secs(5),
        "the secret file to update",
        || match fetch(&addr, "/file/etc/creds/db/pw")? {
            t if t == "pw-new" => Ok(()),
            t => Err(t),
        },
    );

    // Deleting the pod removes everything K1s wrote for it.
    assert_eq!(s.delete(&format!("/k1s/pod/{p}")).status, 200);
    wait_until(POD_DEADLINE, "the pod to be gone", || {
        (s.get(&format!("/k1s/pod/{p}")).status == 404 && containers_of_pod(&p).is_empty())
            .then_some(())
    });
    wait_until(
        Duration::from_secs(5),
        "the pod's directories to go",
        || {
            // The tmpfs directory of this server's instance goes with its last pod.
            let instance_dir = Path::new(&creds).ancestors().nth(4).unwrap();
            (!s.dir().join("pods").join(&uid).exists() && !instance_dir.exists()).then_some(())
        },
    );
}

#[test]
fn a_pod_waits_for_a_missing_config_map_and_starts_once_it_exists() {
    let g = Cleanup::new("cfgw");
    let s = Server::start();
    let (cm, p) = (g.name("cm"), g.name("p"));
    let manifest = pod(
        &p,
        json!({"volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}]}),
        json!({"volumes": [{"name": "conf", "configMap": {"name": cm}}]}),
    );
    created(&s.post_json("/k1s/pod", &manifest));
    let want = format!("configmap \"{cm}\" not found");
    wait_for(POD_DEADLINE, "CreateContainerConfigError", || {
        let d = s.get(&format!("/k1s/pod/{p}")).body;
        let w = &d["state"]["waiting"];
        if d["reason"] == "CreateContainerConfigError" && w["message"] == want.as_str() {
            Ok(())
        } else {
            Err(d["state"].to_string())
        }
    });
    assert!(containers_of_pod(&p).is_empty());
    created(&s.post_json("/k1s/cm", &config_map(&cm, json!({"k": "v"}))));
    // Woken by the change stream, not a resync (every 10 s).
    let addr = wait_for(Duration::from_secs(5), "the pod to run", || {
        let d = s.get(&format!("/k1s/pod/{p}")).body;
        match (d["status"].as_str(), d["addr"].as_str()) {
            (Some("Running"), Some(a)) => Ok(a.to_string()),
            _ => Err(d["state"].to_string()),
        }
    });
    wait_for(POD_DEADLINE, "the file", || {
        fetch(&addr, "/file/etc/conf/k")
    });
    // An immutable ConfigMap refuses changes.
    let r = s.request(
        "PATCH",
        &format!("/k1s/cm/{cm}"),
        Some(("application/json", br#"{"immutable":true}"#)),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = s.request(
        "PATCH",
        &format!("/k1s/cm/{cm}"),
        Some(("application/json", br#"{"data":{"k":"w"}}"#)),
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.field(), Some("data"));
}

#[test]
fn a_secrets_value_is_never_in_answers_logs_or_the_database_file() {
    let _g = Cleanup::new("cfgs");
    let s = Server::start();
    let name = unique("sec");
    let value = "Xq7-v4lue-never-shown";
    let b64 = "WHE3LXY0bHVlLW5ldmVyLXNob3du";
    created(&s.post_json("/k1s/secret", &secret(&name, json!({"password": value}))));
    let r = s.post_json(
        "/k1s/secret",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": unique("bad")},
                "data": {"password": format!("{value}!")}}),
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.field(), Some("data[password]"));
    let mut answers = vec![r.text.clone()];
    for path in [
        "/k1s/secret".to_string(),
        format!("/k1s/secret/{name}"),
        "/k1s/secret?labels=".to_string(),
    ] {
        let r = s.get(&path);
        assert_eq!(r.status, 200, "{r:?}");
        answers.push(r.text);
    }
    let d = s.get(&format!("/k1s/secret/{name}")).body;
    assert_eq!(d["keys"], json!(["password"]));
    assert_eq!(d["type"], "Opaque");
    let out = s.ctl(&["describe", "secret", &name]);
    assert!(out.ok(), "{}", out.stderr);
    answers.push(out.stdout.clone());
    let out = s.ctl(&["get", "secret", &name]);
    answers.push(out.stdout.clone());
    // The Kubernetes API returns data, as Kubernetes does.
    let k = s.get(&format!("/api/v1/namespaces/default/secrets/{name}"));
    assert_eq!(k.body["data"]["password"], b64, "{k:?}");
    for a in &answers {
        assert!(!a.contains(value) && !a.contains(b64), "{a}");
    }
    assert!(!s.log().contains(value) && !s.log().contains(b64));
    for f in files_under(s.dir()) {
        if let Ok(bytes) = std::fs::read(&f) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(value) && !text.contains(b64),
                "{}",
                f.display()
            );
        }
    }
    let key = std::fs::metadata(s.dir().join("k1s.db.key")).expect("the key file");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
}

#[test]
fn kubectl_creates_gets_and_deletes_config_maps_and_secrets() {
    let k = crate::kubectl::Kube::start();
    let (cm, sec) = (unique("cm"), unique("sec"));
    k.ok(&[
        "create",
        "configmap",
        &cm,
        "--from-literal=a=b",
        "--from-literal=c.txt=hello",
    ]);
    k.ok(&["create", "secret", "generic", &sec, "--from-literal=p=q"]);
    let o = k.ok(&["get", "cm", &cm]);
    assert!(o.stdout.contains("DATA") && o.stdout.contains(&cm), "{o:?}");
    let o = k.ok(&["get", "secret", &sec]);
    assert!(o.stdout.contains("Opaque"), "{o:?}");
    let o = k.ok(&["get", "secret", &sec, "-o", "yaml"]);
    assert!(o.stdout.contains("p: cQ=="), "{o:?}");
    let o = k.ok(&["describe", "configmap", &cm]);
    assert!(o.stdout.contains("hello"), "{o:?}");
    // /k1s shows the Secret's keys, never its values.
    let d = k.server.get(&format!("/k1s/secret/{sec}")).body;
    assert_eq!(d["keys"], json!(["p"]));
    assert!(!d.to_string().contains("cQ=="));
    k.ok(&["delete", "cm", &cm]);
    k.ok(&["delete", "secret", &sec]);
    assert_eq!(k.server.get(&format!("/k1s/cm/{cm}")).status, 404);
}

#[test]
fn a_named_key_file_is_used_and_a_missing_one_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secrets.key");
    let port = free_port().to_string();
    let args = [
        "--port",
        port.as_str(),
        "--encryption-key-file",
        key.to_str().unwrap(),
    ];
    let out = run_server_expecting_exit(&args, dir.path(), Duration::from_secs(10));
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.output_lines().iter().any(|l| l.contains("secrets.key")),
        "{out:?}"
    );
    std::fs::write(&key, [7u8; 32]).unwrap();
    let s = Server::start_with(&["--encryption-key-file", key.to_str().unwrap()]);
    created(&s.post_json("/k1s/secret", &secret(&unique("s"), json!({"k": "v"}))));
    assert!(!s.dir().join("k1s.db.key").exists());
}

#[test]
fn k1s_ctl_creates_gets_describes_and_deletes_config_maps_and_secrets() {
    let s = Server::start();
    let (cm, sec) = (unique("cm"), unique("sec"));
    let file = s.dir().join("objects.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {cm}\n  labels: {{app: cfg}}\ndata:\n  a.txt: hello\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {sec}\nstringData:\n  token: tok-9Rr2\n"
        ),
    )
    .unwrap();
    let out = s.ctl(&["create", "-f", file.to_str().unwrap()]);
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stdout.contains(&format!("configmap/{cm} created")),
        "{out:?}"
    );
    let out = s.ctl(&["get", "cm", "-l", "app=cfg"]);
    assert!(out.ok() && out.stdout.contains(&cm), "{out:?}");
    let out = s.ctl(&["describe", "cm", &cm]);
    assert!(out.stdout.contains("hello"), "{out:?}");
    let out = s.ctl(&["get", "secrets", "-o", "json"]);
    assert!(out.ok() && out.stdout.contains("token"), "{out:?}");
    assert!(!out.stdout.contains("tok-9Rr2"), "{out:?}");
    let out = s.ctl(&["describe", "secret", &sec]);
    assert!(out.stdout.contains("token:  8 bytes"), "{out:?}");
    for (kind, name) in [("cm", &cm), ("secret", &sec)] {
        let out = s.ctl(&["delete", kind, name]);
        assert!(out.ok(), "{out:?}");
    }
    assert_eq!(s.get("/k1s/secret").body, json!([]));
}
