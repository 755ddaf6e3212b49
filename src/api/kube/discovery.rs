//! `/version` and discovery (legacy and aggregated), built from the registry.
//!
//! Every registry kind is advertised in each of its versions (preferred first), with
//! its short names, `categories: ["all"]`, its verbs and subresources; beside them the
//! companions that are not stored kinds: `events` (`v1` and `events.k8s.io/v1`) and
//! the `metrics.k8s.io/v1beta1` pods. Aggregated discovery
//! (`apidiscovery.k8s.io/v2`) is answered only when the Accept header asks for it.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{KUBE_VERSION, Req, Status, json_response};
use crate::registry::{self, KindInfo};

/// The verbs of every stored kind.
const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// The exact Content-Type kubectl recognises aggregated discovery by.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// One resource of a group version, whatever serves it.
struct Res {
    name: &'static str,
    singular: &'static str,
    kind: &'static str,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    verbs: &'static [&'static str],
    /// `(name, group, version, kind, verbs)`; group/version empty = the parent's.
    subs: Vec<(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    )>,
}

fn kind_res(k: &'static KindInfo) -> Res {
    Res {
        name: k.plural,
        singular: k.singular,
        kind: k.kind,
        short_names: k.short_names,
        categories: &["all"],
        verbs: VERBS,
        subs: k
            .subresources
            .iter()
            .map(|s| {
                let (g, v) = s.group_version.unwrap_or(("", ""));
                (s.name, g, v, s.kind, s.verbs)
            })
            .collect(),
    }
}

fn events_res() -> Res {
    Res {
        name: "events",
        singular: "event",
        kind: "Event",
        short_names: &["ev"],
        categories: &[],
        verbs: &["list"],
        subs: vec![],
    }
}

/// Every group K1s serves (`""` is the core group), with its versions, preferred
/// first, in the order discovery lists them.
fn groups_served() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = vec![("", vec!["v1"])];
    for k in registry::KINDS {
        match out.iter_mut().find(|(g, _)| *g == k.group) {
            Some((_, vs)) => {
                for v in k.versions {
                    if !vs.contains(v) {
                        vs.push(v);
                    }
                }
            }
            None => out.push((k.group, k.versions.to_vec())),
        }
    }
    out.push(("events.k8s.io", vec!["v1"]));
    out.push(("metrics.k8s.io", vec!["v1beta1"]));
    out
}

/// The resources of one group version, or `None` when K1s does not serve it.
fn resources_of(group: &str, version: &str) -> Option<Vec<Res>> {
    let mut out: Vec<Res> = registry::KINDS
        .iter()
        .copied()
        .filter(|k| k.group == group && k.versions.contains(&version))
        .map(kind_res)
        .collect();
    match (group, version) {
        ("", "v1") | ("events.k8s.io", "v1") => out.push(events_res()),
        ("metrics.k8s.io", "v1beta1") => out.push(Res {
            name: "pods",
            singular: "",
            kind: "PodMetrics",
            short_names: &[],
            categories: &[],
            verbs: &["get", "list"],
            subs: vec![],
        }),
        _ => {}
    }
    (!out.is_empty()).then_some(out)
}

/// The Accept header asks for aggregated discovery.
fn wants_aggregated(req: &Req) -> bool {
    req.header(header::ACCEPT).split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"as=APIGroupDiscoveryList") && params.contains(&"v=v2")
    })
}

fn aggregated_response(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, AGGREGATED_CONTENT_TYPE)],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

fn gv(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// `GET /version`.
pub async fn version() -> Response {
    let minor = KUBE_VERSION
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .unwrap_or("32");
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1",
            "minor": minor,
            "gitVersion": KUBE_VERSION,
            "gitCommit": "k1s",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.23.0",
            "compiler": "gc",
            "platform": format!("linux/{}", if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" }),
        }),
    )
}

/// `GET /api`.
pub fn core_versions(req: &Req) -> Result<Response, Status> {
    if wants_aggregated(req) {
        let item = aggregated_group("");
        return Ok(aggregated_response(&json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": [item],
        })));
    }
    let host = req.header(header::HOST);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }),
    ))
}

/// `GET /apis`.
pub fn groups(req: &Req) -> Result<Response, Status> {
    let named: Vec<_> = groups_served()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .collect();
    if wants_aggregated(req) {
        let items: Vec<Value> = named.iter().map(|(g, _)| aggregated_group(g)).collect();
        return Ok(aggregated_response(&json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        })));
    }
    let groups: Vec<Value> = named
        .iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": gv(g, v), "version": v}))
                .collect();
            json!({
                "name": g,
                "versions": versions,
                "preferredVersion": {"groupVersion": gv(g, vs[0]), "version": vs[0]},
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    ))
}

fn aggregated_group(group: &str) -> Value {
    let versions = groups_served()
        .into_iter()
        .find(|(g, _)| *g == group)
        .map(|(_, vs)| vs)
        .unwrap_or_default();
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = resources_of(group, v)
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    let subs: Vec<Value> = r
                        .subs
                        .iter()
                        .map(|(name, g, sv, kind, verbs)| {
                            let (g, sv) = if sv.is_empty() {
                                (group, *v)
                            } else {
                                (*g, *sv)
                            };
                            json!({
                                "subresource": name,
                                "responseKind": {"group": g, "version": sv, "kind": kind},
                                "verbs": verbs,
                            })
                        })
                        .collect();
                    let mut o = json!({
                        "resource": r.name,
                        "responseKind": {"group": group, "version": v, "kind": r.kind},
                        "scope": "Namespaced",
                        "singularResource": r.singular,
                        "verbs": r.verbs,
                    });
                    if !r.short_names.is_empty() {
                        o["shortNames"] = json!(r.short_names);
                    }
                    if !r.categories.is_empty() {
                        o["categories"] = json!(r.categories);
                    }
                    if !subs.is_empty() {
                        o["subresources"] = json!(subs);
                    }
                    o
                })
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let metadata = if group.is_empty() {
        json!({"creationTimestamp": null})
    } else {
        json!({"name": group, "creationTimestamp": null})
    };
    json!({"metadata": metadata, "versions": versions})
}

/// `GET /api/v1`, `GET /apis/{group}/{version}`.
pub fn resources(group: &str, version: &str) -> Result<Response, Status> {
    let res = resources_of(group, version).ok_or_else(Status::no_route)?;
    let mut list = Vec::new();
    for r in &res {
        let mut o = json!({
            "name": r.name,
            "singularName": r.singular,
            "namespaced": true,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            o["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            o["categories"] = json!(r.categories);
        }
        list.push(o);
        for (name, g, v, kind, verbs) in &r.subs {
            let mut s = json!({
                "name": format!("{}/{name}", r.name),
                "singularName": "",
                "namespaced": true,
                "kind": kind,
                "verbs": verbs,
            });
            if !v.is_empty() {
                s["group"] = json!(g);
                s["version"] = json!(v);
            }
            list.push(s);
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv(group, version),
            "resources": list,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_versions_come_from_the_registry() {
        let gvs: Vec<(&str, &str)> = groups_served()
            .into_iter()
            .flat_map(|(g, vs)| vs.into_iter().map(move |v| (g, v)))
            .collect();
        assert_eq!(gvs[0], ("", "v1"));
        let hpa: Vec<&str> = gvs
            .iter()
            .filter(|(g, _)| *g == "autoscaling")
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(hpa, ["v2", "v1", "v2beta2"]);
        assert!(gvs.contains(&("events.k8s.io", "v1")));
        assert!(gvs.contains(&("metrics.k8s.io", "v1beta1")));
        let apps = resources_of("apps", "v1").unwrap();
        assert_eq!(apps[0].short_names, ["rs"]);
        assert!(apps[0].subs.iter().any(|s| *s
            == (
                "scale",
                "autoscaling",
                "v1",
                "Scale",
                &["get", "patch", "update"][..]
            )));
        assert!(resources_of("apps", "v2").is_none());
        let g = aggregated_group("");
        assert_eq!(
            g["versions"][0]["resources"][0]["shortNames"],
            json!(["po"])
        );
        assert_eq!(
            g["versions"][0]["resources"][0]["categories"],
            json!(["all"])
        );
    }
}
