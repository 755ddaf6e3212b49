//! The Kubernetes API's streams and companions over plain HTTP against a real server:
//! watches (`?watch=true`, and 410 from an expired resourceVersion), pod logs (tail and
//! follow), the `scale` subresource, events and PodMetrics.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::replicasets::rs_manifest;
use crate::support::*;

const PODS: &str = "/api/v1/namespaces/default/pods";

/// A streamed HTTP/1.1 answer read as it comes (chunked or not), line by line.
struct Stream {
    status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    chunked: bool,
    /// Bytes of the current chunk still to read.
    chunk_left: usize,
    buf: Vec<u8>,
    ended: bool,
}

impl Stream {
    fn open(server: &Server, path: &str, headers: &[(&str, &str)]) -> Stream {
        let mut tcp = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        tcp.write_all(req.as_bytes()).expect("send request");
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut reader = BufReader::new(tcp);
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("header line");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        Stream {
            status,
            headers,
            reader,
            chunked,
            chunk_left: 0,
            buf: Vec::new(),
            ended: false,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// More body bytes into `buf`; false at the end of the body.
    fn fill(&mut self, deadline: Instant) -> bool {
        if self.ended {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no data before the deadline");
        self.reader
            .get_ref()
            .set_read_timeout(Some(left.max(Duration::from_millis(10))))
            .unwrap();
        if self.chunked && self.chunk_left == 0 {
            let mut size = String::new();
            self.reader.read_line(&mut size).expect("chunk size");
            let size = size.trim();
            if size.is_empty() {
                // the CRLF after a chunk's data
                return true;
            }
            let n = usize::from_str_radix(size.split(';').next().unwrap(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size {size:?}"));
            if n == 0 {
                self.ended = true;
                return false;
            }
            self.chunk_left = n;
        }
        let mut tmp = vec![0u8; if self.chunked { self.chunk_left } else { 8192 }];
        match self.reader.read(&mut tmp) {
            Ok(0) => {
                self.ended = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                if self.chunked {
                    self.chunk_left -= n;
                }
                true
            }
            Err(e) => panic!("reading the stream: {e}"),
        }
    }

    /// The next line (without its newline), `None` when the body ended.
    fn line(&mut self, deadline: Instant) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let l: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8_lossy(&l[..i]).into_owned());
            }
            if !self.fill(deadline) {
                if self.buf.is_empty() {
                    return None;
                }
                return Some(String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned());
            }
        }
    }

    /// The next watch event.
    fn event(&mut self, deadline: Instant) -> Option<Value> {
        let l = self.line(deadline)?;
        Some(serde_json::from_str(&l).unwrap_or_else(|e| panic!("event {l:?}: {e}")))
    }

    /// Events until one of `typ` about `name`; panics at the deadline.
    fn until(&mut self, typ: &str, name: &str, deadline: Instant) -> Value {
        loop {
            let e = self
                .event(deadline)
                .unwrap_or_else(|| panic!("stream ended before {typ} {name}"));
            assert_ne!(e["type"], "ERROR", "{e}");
            if e["type"] == typ && e["object"]["metadata"]["name"] == name {
                return e;
            }
        }
    }
}

fn soon() -> Instant {
    Instant::now() + POD_DEADLINE
}

#[test]
fn a_watch_sees_a_pod_added_modified_and_deleted_through_k1s() {
    let cleanup = Cleanup::new("kw");
    let server = Server::start();
    let name = cleanup.name("w");
    let app = cleanup.prefix.clone();
    let mut w = Stream::open(
        &server,
        &format!("{PODS}?watch=true&labelSelector=app%3D{app}"),
        &[],
    );
    assert_eq!(w.status, 200);
    assert_eq!(w.header("content-type"), Some("application/json"));
    create_pod(&server, &pod_manifest(&name, &app, WORKLOAD_IMAGE));
    let added = w.until("ADDED", &name, soon());
    assert_eq!(added["object"]["kind"], "Pod");
    assert_eq!(added["object"]["metadata"]["namespace"], "default");
    let rv_added: u64 = added["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let running = loop {
        let e = w.until("MODIFIED", &name, soon());
        if e["object"]["status"]["phase"] == "Running" {
            break e;
        }
    };
    assert!(
        running["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > rv_added
    );
    // a second watch resumed from before the pod: replays its ADDED from the log
    let mut again = Stream::open(
        &server,
        &format!(
            "{PODS}?watch=true&resourceVersion={}&fieldSelector=metadata.name%3D{name}",
            rv_added - 1
        ),
        &[],
    );
    again.until("ADDED", &name, soon());
    let r = server.delete(&format!("/k1s/pod/{name}"));
    assert_eq!(r.status, 200, "{r:?}");
    let deleted = w.until("DELETED", &name, soon());
    assert_eq!(deleted["object"]["metadata"]["name"], name.as_str());
    again.until("DELETED", &name, soon());
}

#[test]
fn a_watch_from_an_expired_resource_version_gets_410() {
    let cleanup = Cleanup::new("kx");
    let mut server = Server::start();
    let name = cleanup.name("x");
    create_pod(
        &server,
        &pod_manifest(&name, &cleanup.prefix, WORKLOAD_IMAGE),
    );
    assert_eq!(server.delete(&format!("/k1s/pod/{name}")).status, 200);
    wait_until(POD_DEADLINE, "pod gone", || {
        get_pod(&server, &name).is_none().then_some(())
    });
    server.stop_sigterm();
    {
        // the log trimmed, as it is after many writes
        let db = rusqlite::Connection::open(server.db_path()).unwrap();
        let max: i64 = db
            .query_row("SELECT MAX(resource_version) FROM changes", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(max >= 3, "{max}");
        db.execute("DELETE FROM changes WHERE resource_version < ?1", [max])
            .unwrap();
    }
    server.restart();
    let mut w = Stream::open(
        &server,
        &format!("{PODS}?watch=true&resourceVersion=1"),
        &[],
    );
    assert_eq!(w.status, 200);
    let e = w.event(soon()).expect("an ERROR event");
    assert_eq!(e["type"], "ERROR", "{e}");
    assert_eq!(e["object"]["kind"], "Status");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    assert!(w.event(soon()).is_none(), "the stream ends after the error");
}

#[test]
fn logs_tail_and_follow() {
    let cleanup = Cleanup::new("kl");
    let server = Server::start();
    let name = cleanup.name("l");
    let pod = pod_with_args(
        &name,
        &cleanup.prefix,
        WORKLOAD_IMAGE,
        &["print", "--lines", "5", "--interval-ms", "400"],
    );
    create_pod(&server, &pod);
    wait_running(&server, &name);
    let log = |q: &str| server.get(&format!("{PODS}/{name}/log{q}"));
    // follow from the start: lines arrive as they are printed
    let mut f = Stream::open(
        &server,
        &format!("{PODS}/{name}/log?container=web&follow=true"),
        &[],
    );
    assert_eq!(f.status, 200);
    assert!(f.header("content-type").unwrap().starts_with("text/plain"));
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.ends_with("line 5")) {
        seen.push(
            f.line(soon())
                .unwrap_or_else(|| panic!("follow ended early: {seen:?}")),
        );
    }
    let all = wait_for(POD_DEADLINE, "5 lines", || {
        let r = log("");
        if r.status == 200 && r.text.contains("line 5") {
            Ok(r.text)
        } else {
            Err(format!("{r:?}"))
        }
    });
    assert!(all.contains("line 1\n"), "{all:?}");
    let r = log("?tailLines=2");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text, "line 4\nline 5\n");
    let r = log("?tailLines=1&timestamps=true");
    let (stamp, line) = r.text.trim_end().split_once(' ').expect("a timestamp");
    assert_eq!(line, "line 5");
    assert!(stamp.ends_with('Z') && stamp.contains('T'), "{stamp}");
    assert_eq!(log("?container=nope").status, 400);
    assert_eq!(log("?previous=true").status, 400);
    // the pod goes away: the followed stream ends
    assert_eq!(server.delete(&format!("/k1s/pod/{name}")).status, 200);
    while f.line(soon()).is_some() {}
    assert_eq!(
        server
            .get(&format!("{PODS}/{}/log", cleanup.name("none")))
            .status,
        404
    );
}

#[test]
fn scale_get_and_patch_change_the_replica_set() {
    let cleanup = Cleanup::new("ks");
    let server = Server::start();
    let name = cleanup.name("rs");
    let app = cleanup.prefix.clone();
    crate::replicasets::create_rs(&server, &rs_manifest(&name, &app, 1));
    let path = format!("/apis/apps/v1/namespaces/default/replicasets/{name}/scale");
    let r = server.get(&path);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["kind"], "Scale");
    assert_eq!(r.body["apiVersion"], "autoscaling/v1");
    assert_eq!(r.body["spec"]["replicas"], 1);
    assert_eq!(r.body["status"]["selector"], format!("app={app}"));
    let patch = serde_json::to_vec(&json!({"spec": {"replicas": 2}})).unwrap();
    let r = server.request(
        "PATCH",
        &path,
        Some(("application/merge-patch+json", &patch)),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["spec"]["replicas"], 2);
    let rs = server.get(&format!("/k1s/rs/{name}"));
    assert_eq!(rs.body["replicas"], 2, "{rs:?}");
    wait_until(POD_DEADLINE, "2 pods", || {
        (list_pod_names(&server, Some(&format!("app={app}"))).len() == 2).then_some(())
    });
    let r = server.get(&path);
    assert_eq!(r.body["status"]["replicas"], 2, "{r:?}");
    let missing = server.get(&format!(
        "/apis/apps/v1/namespaces/default/replicasets/{}/scale",
        cleanup.name("none")
    ));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["kind"], "Status");
    assert_eq!(server.delete(&format!("/k1s/rs/{name}")).status, 200);
}

#[test]
fn events_of_a_pod_and_its_metrics() {
    let cleanup = Cleanup::new("ke");
    let server = Server::start();
    let name = cleanup.name("e");
    create_pod(&server, &pod_manifest(&name, &cleanup.prefix, HTTP_IMAGE));
    let pod = wait_running(&server, &name);
    let uid = pod["uid"].as_str().unwrap();
    let q = format!(
        "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D{name}%2CinvolvedObject.namespace%3Ddefault%2CinvolvedObject.uid%3D{uid}&limit=500"
    );
    let r = server.get(&q);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["kind"], "EventList");
    let reasons: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.first(), Some(&"Scheduled"), "{reasons:?}");
    assert!(
        reasons.contains(&"Created") && reasons.contains(&"Started"),
        "{reasons:?}"
    );
    for e in r.body["items"].as_array().unwrap() {
        assert_eq!(e["involvedObject"]["name"], name.as_str());
        assert_eq!(e["involvedObject"]["kind"], "Pod");
    }
    let r = server.get(&format!(
        "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=regarding.name%3D{name}"
    ));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["items"][0]["regarding"]["uid"], uid);

    let m = wait_for(POD_DEADLINE, "pod metrics", || {
        let r = server.get(&format!(
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/{name}"
        ));
        (r.status == 200)
            .then_some(r.body.clone())
            .ok_or(format!("{r:?}"))
    });
    assert_eq!(m["kind"], "PodMetrics");
    assert_eq!(m["containers"][0]["name"], "web");
    let usage = &m["containers"][0]["usage"];
    assert!(usage["cpu"].as_str().unwrap().ends_with('n'), "{usage}");
    let mem = usage["memory"].as_str().unwrap();
    assert!(mem.ends_with("Ki") && mem != "0Ki", "{usage}");
    let list = server.get(&format!(
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3D{}",
        cleanup.prefix
    ));
    assert_eq!(list.body["kind"], "PodMetricsList");
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "{list:?}");
}
