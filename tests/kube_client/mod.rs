//! kube-rs as a second, independent client of the Kubernetes API: a `kube::Client` on
//! plain HTTP to the test server, `Api<Pod>` and `Api<ReplicaSet>` — list, create,
//! watch (from resourceVersion "0") until Running, a JSON merge patch and a
//! server-side apply of a label, get, delete (and the DELETED event), and the
//! ReplicaSet's `scale` subresource through `patch_scale` and `replace_scale`.

use std::future::Future;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

use crate::replicasets::rs_manifest;
use crate::support::*;

/// A client of `server` with namespace "default", as a kubeconfig would give.
fn client(server: &Server) -> kube::Client {
    let url = server.url().parse().expect("server URL");
    let mut config = kube::Config::new(url);
    config.default_namespace = "default".to_string();
    config.read_timeout = Some(POD_DEADLINE);
    kube::Client::try_from(config).expect("a kube client")
}

/// A multi-thread runtime for one test (the tests themselves are synchronous).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `f` within `limit`, or a panic naming `what`.
async fn within<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?} waiting for {what}"))
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn label<'a>(p: &'a Pod, key: &str) -> Option<&'a str> {
    p.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

#[test]
fn kube_rs_lists_creates_watches_patches_applies_and_deletes_a_pod() {
    let cleanup = Cleanup::new("kr");
    let server = Server::start();
    let name = cleanup.name("p");
    let app = cleanup.prefix.clone();
    runtime().block_on(async {
        let pods: Api<Pod> = Api::default_namespaced(client(&server));
        let mine = ListParams::default().labels(&format!("app={app}"));

        // list: nothing of this test yet, and a resourceVersion to resume from
        let list = pods.list(&mine).await.expect("list pods");
        assert!(list.items.is_empty(), "{:?}", list.items);
        assert!(list.metadata.resource_version.is_some());

        // watch from "0" (current objects as ADDED, then the changes), before create
        let wp = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(120);
        let mut events = pods.watch(&wp, "0").await.expect("watch pods").boxed();

        // create
        let pod: Pod = serde_json::from_value(pod_manifest(&name, &app, HTTP_IMAGE)).unwrap();
        let created = pods
            .create(&PostParams::default(), &pod)
            .await
            .expect("create pod");
        assert_eq!(created.metadata.name.as_deref(), Some(name.as_str()));
        assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
        assert!(created.metadata.uid.is_some());

        // the watch sees it ADDED, then MODIFIED until Running
        let mut added = false;
        let running = within(POD_DEADLINE, "the pod Running on the watch", async {
            loop {
                let e = events
                    .try_next()
                    .await
                    .expect("watch stream")
                    .expect("the watch ended before the pod ran");
                match e {
                    WatchEvent::Added(p) => {
                        assert_eq!(p.metadata.name.as_deref(), Some(name.as_str()));
                        added = true;
                        if phase(&p) == "Running" {
                            return p;
                        }
                    }
                    WatchEvent::Modified(p) => {
                        assert!(added, "MODIFIED before ADDED");
                        if phase(&p) == "Running" {
                            return p;
                        }
                    }
                    WatchEvent::Bookmark(_) => {}
                    other => panic!("unexpected watch event {other:?}"),
                }
            }
        })
        .await;
        assert!(
            running
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.as_ref())
                .is_some(),
            "a Running pod has an IP: {running:?}"
        );

        // merge patch of a label
        let patched = pods
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"tier": "merged"}}})),
            )
            .await
            .expect("merge patch");
        assert_eq!(label(&patched, "tier"), Some("merged"));
        assert_eq!(label(&patched, "app"), Some(app.as_str()));

        // server-side apply with a field manager
        let applied = pods
            .patch(
                &name,
                &PatchParams::apply("k1s-kube-test").force(),
                &Patch::Apply(json!({
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name, "labels": {"tier": "applied", "owner": "kube-rs"}},
                })),
            )
            .await
            .expect("server-side apply");
        assert_eq!(label(&applied, "tier"), Some("applied"));
        assert_eq!(label(&applied, "owner"), Some("kube-rs"));

        // get: what the patches left, and still Running
        let got = pods.get(&name).await.expect("get pod");
        assert_eq!(label(&got, "tier"), Some("applied"));
        assert_eq!(label(&got, "owner"), Some("kube-rs"));
        assert_eq!(label(&got, "app"), Some(app.as_str()));
        assert_eq!(phase(&got), "Running");
        assert_eq!(got.metadata.uid, created.metadata.uid);
        let list = pods.list(&mine).await.expect("list pods");
        assert_eq!(list.items.len(), 1);

        // delete, then the watch's DELETED and a 404
        pods.delete(&name, &DeleteParams::default())
            .await
            .expect("delete pod");
        within(POD_DEADLINE, "the pod DELETED on the watch", async {
            loop {
                match events
                    .try_next()
                    .await
                    .expect("watch stream")
                    .expect("the watch ended before the pod was deleted")
                {
                    WatchEvent::Deleted(p) => {
                        assert_eq!(p.metadata.name.as_deref(), Some(name.as_str()));
                        return;
                    }
                    WatchEvent::Error(e) => panic!("watch error {e:?}"),
                    _ => {}
                }
            }
        })
        .await;
        within(POD_DEADLINE, "the pod gone", async {
            loop {
                if pods.get_opt(&name).await.expect("get pod").is_none() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        match pods.get(&name).await {
            Err(kube::Error::Api(s)) => assert_eq!(s.code, 404, "{s:?}"),
            other => panic!("a deleted pod: {other:?}"),
        }
    });
    wait_until(POD_DEADLINE, "no container of the pod left", || {
        containers_of_pod(&name).is_empty().then_some(())
    });
}

#[test]
fn kube_rs_scales_a_replica_set() {
    let cleanup = Cleanup::new("kq");
    let server = Server::start();
    let name = cleanup.name("rs");
    let app = cleanup.prefix.clone();
    runtime().block_on(async {
        let client = client(&server);
        let sets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
        let pods: Api<Pod> = Api::default_namespaced(client);
        let rs: ReplicaSet = serde_json::from_value(rs_manifest(&name, &app, 0)).unwrap();
        sets.create(&PostParams::default(), &rs)
            .await
            .expect("create the ReplicaSet");

        let scale = sets.get_scale(&name).await.expect("get scale");
        assert_eq!(scale.spec.and_then(|s| s.replicas), Some(0));

        let scale = sets
            .patch_scale(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 2}})),
            )
            .await
            .expect("patch scale");
        assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
        let got = sets.get(&name).await.expect("get the ReplicaSet");
        assert_eq!(got.spec.and_then(|s| s.replicas), Some(2));
        let mine = ListParams::default().labels(&format!("app={app}"));
        within(POD_DEADLINE, "2 pods of the ReplicaSet", async {
            loop {
                if pods.list(&mine).await.expect("list pods").items.len() == 2 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;

        // replace_scale: read, change, write back (with its resourceVersion)
        let mut scale = sets.get_scale(&name).await.expect("get scale");
        assert!(scale.metadata.resource_version.is_some());
        scale.spec.get_or_insert_default().replicas = Some(1);
        let scale = sets
            .replace_scale(&name, &PostParams::default(), &scale)
            .await
            .expect("replace scale");
        assert_eq!(scale.spec.and_then(|s| s.replicas), Some(1));
        within(POD_DEADLINE, "1 pod of the ReplicaSet", async {
            loop {
                if pods.list(&mine).await.expect("list pods").items.len() == 1 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;

        sets.delete(&name, &DeleteParams::background())
            .await
            .expect("delete the ReplicaSet");
        within(POD_DEADLINE, "the ReplicaSet and its pods gone", async {
            loop {
                let rs_gone = sets.get_opt(&name).await.expect("get").is_none();
                let pods_gone = pods.list(&mine).await.expect("list").items.is_empty();
                if rs_gone && pods_gone {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
    });
}
