//! The patch algorithms of the Kubernetes API, JSON on JSON: strategic merge patch
//! (what client-side `kubectl apply` sends) with Kubernetes' merge keys, and JSON patch
//! (RFC 6902). JSON merge patch (RFC 7386) is `replicaset::merge_patch`.

use serde_json::{Map, Value};

/// The merge key of a list field, by the field's name, as Kubernetes' types declare it
/// (`patchMergeKey`) for the kinds K1s serves. Lists without one are replaced whole.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "hostAliases" => match field {
            "hostAliases" => Some("ip"),
            _ => Some("name"),
        },
        "ports" => Some("containerPort"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "ownerReferences" => Some("uid"),
        _ => None,
    }
}

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch to `target`: maps merge recursively and `null`
/// deletes a key; lists with a merge key (containers by `name`, ports by
/// `containerPort`, env by `name`, volumeMounts by `mountPath`, …) merge element by
/// element, `{"$patch":"delete", key}` removes one, `$setElementOrder/<list>` gives the
/// final order; `{"$patch":"replace"}` replaces a map; every other list is replaced.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Some(p) = patch.as_object() else {
        return Err("a strategic merge patch must be a JSON object".into());
    };
    merge_map(target, p)
}

fn merge_map(target: &mut Value, patch: &Map<String, Value>) -> Result<(), String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut m = patch.clone();
            m.remove("$patch");
            *target = Value::Object(strip_directives(m));
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) => return Err(format!("unknown patch directive {other:?}")),
        None => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("an object");
    for (k, v) in patch {
        if k.starts_with(SET_ORDER) || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE) {
            if let (Some(Value::Array(list)), Some(del)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(pm) => {
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                merge_map(slot, pm)?;
                if slot.is_null() {
                    t.remove(k);
                }
            }
            Value::Array(items) => match merge_key(k) {
                Some(key) if items.iter().all(Value::is_object) => {
                    let slot = t.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                    merge_list(slot, items, key)?;
                }
                _ => {
                    t.insert(k.clone(), Value::Array(items.clone()));
                }
            },
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
    // `$setElementOrder/<list>`: the listed keys first, in that order.
    for (k, order) in patch {
        let Some(field) = k.strip_prefix(SET_ORDER) else {
            continue;
        };
        let (Some(key), Some(order), Some(Value::Array(list))) =
            (merge_key(field), order.as_array(), t.get_mut(field))
        else {
            continue;
        };
        let pos = |e: &Value| {
            order
                .iter()
                .position(|o| o.get(key).is_some() && o.get(key) == e.get(key))
                .unwrap_or(usize::MAX)
        };
        list.sort_by_key(pos);
    }
    Ok(())
}

fn merge_list(target: &mut Value, items: &[Value], key: &str) -> Result<(), String> {
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let list = target.as_array_mut().expect("an array");
    for item in items {
        let directive = item.get("$patch").and_then(Value::as_str);
        let Some(id) = item.get(key) else {
            if directive == Some("replace") {
                let rest: Vec<Value> = items
                    .iter()
                    .filter(|i| i.get("$patch").is_none())
                    .cloned()
                    .collect();
                *list = rest;
                return Ok(());
            }
            return Err(format!("a list element lacks its merge key {key:?}"));
        };
        let at = list.iter().position(|e| e.get(key) == Some(id));
        match (directive, at) {
            (Some("delete"), Some(i)) => {
                list.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => merge_map(&mut list[i], item.as_object().expect("object"))?,
            (_, None) => {
                let mut fresh = Value::Null;
                merge_map(&mut fresh, item.as_object().expect("object"))?;
                list.push(fresh);
            }
        }
    }
    Ok(())
}

fn strip_directives(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter().filter(|(k, _)| !k.starts_with('$')).collect()
}

/// Applies a JSON patch (RFC 6902): `add`, `remove`, `replace`, `move`, `copy`, `test`.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let ops = patch
        .as_array()
        .ok_or("a JSON patch must be a JSON array of operations")?;
    for (i, op) in ops.iter().enumerate() {
        let name = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("operation {i}: missing path"))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("operation {i}: missing value"))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("operation {i}: missing from"))
        };
        match name {
            "add" => add(target, path, value()?)?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                remove(target, path)?;
                add(target, path, value()?)?;
            }
            "move" => {
                let v = remove(target, from()?)?;
                add(target, path, v)?;
            }
            "copy" => {
                let v = target.pointer(from()?).cloned().ok_or_else(|| {
                    format!("operation {i}: no value at {}", from().unwrap_or(""))
                })?;
                add(target, path, v)?;
            }
            "test" => {
                if target.pointer(path) != Some(&value()?) {
                    return Err(format!("operation {i}: test failed at {path}"));
                }
            }
            other => return Err(format!("operation {i}: unknown op {other:?}")),
        }
    }
    Ok(())
}

fn split(path: &str) -> Result<(&str, String), String> {
    if path.is_empty() {
        return Ok(("", String::new()));
    }
    let cut = path
        .rfind('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    let last = path[cut + 1..].replace("~1", "/").replace("~0", "~");
    Ok((&path[..cut], last))
}

fn add(target: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = v;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(last, v);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| format!("invalid array index in {path:?}"))?
            };
            a.insert(i, v);
            Ok(())
        }
        _ => Err(format!("no object or array at {parent:?}")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split(path)?;
    let missing = || format!("no value at {path:?}");
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => m.remove(&last).ok_or_else(missing),
        Some(Value::Array(a)) => {
            let i = last
                .parse::<usize>()
                .ok()
                .filter(|i| *i < a.len())
                .ok_or_else(missing)?;
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "p", "labels": {"app": "a", "version": "1"},
                         "annotations": {"x": "1"}},
            "spec": {"containers": [
                {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "args": ["a", "b"]},
                {"name": "side", "image": "busybox"}
            ]}
        })
    }

    #[test]
    fn strategic_merge_patch_follows_kubernetes_rules() {
        // kubectl apply's patch: image changed, a label dropped and one added, a port added.
        let mut p = pod();
        strategic_merge_patch(
            &mut p,
            &json!({
                "metadata": {"labels": {"tier": "web", "version": null}},
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
                    "containers": [{
                        "$setElementOrder/ports": [{"containerPort": 80}, {"containerPort": 443}],
                        "image": "nginx:2", "name": "web", "ports": [{"containerPort": 443}]
                    }]
                }
            }),
        )
        .unwrap();
        assert_eq!(p["metadata"]["labels"], json!({"app": "a", "tier": "web"}));
        assert_eq!(p["metadata"]["annotations"], json!({"x": "1"}));
        let web = &p["spec"]["containers"][0];
        assert_eq!(web["image"], "nginx:2");
        assert_eq!(
            web["ports"],
            json!([{"containerPort": 80}, {"containerPort": 443}])
        );
        assert_eq!(web["env"][1]["value"], "2", "untouched lists stay");
        assert_eq!(p["spec"]["containers"][1]["name"], "side");

        // env merges by name, `$patch: delete` removes, other lists are replaced.
        let mut p = pod();
        strategic_merge_patch(
            &mut p,
            &json!({"spec": {"containers": [{"name": "web",
                "env": [{"name": "B", "value": "3"}, {"name": "A", "$patch": "delete"},
                        {"name": "C", "value": "4"}],
                "args": ["z"]},
                {"name": "side", "$patch": "delete"}]}}),
        )
        .unwrap();
        let cs = p["spec"]["containers"].as_array().unwrap();
        assert_eq!(cs.len(), 1);
        assert_eq!(
            cs[0]["env"],
            json!([{"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        );
        assert_eq!(cs[0]["args"], json!(["z"]));

        // `$setElementOrder` reorders; a new element is appended before ordering.
        let mut p = pod();
        strategic_merge_patch(
            &mut p,
            &json!({"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "web"}],
                             "containers": [{"name": "side", "image": "busybox:2"}]}}),
        )
        .unwrap();
        assert_eq!(p["spec"]["containers"][0]["image"], "busybox:2");
        assert_eq!(p["spec"]["containers"][1]["name"], "web");

        // `$patch: replace` on a map; `$deleteFromPrimitiveList`.
        let mut p = pod();
        strategic_merge_patch(
            &mut p,
            &json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}}),
        )
        .unwrap();
        assert_eq!(p["metadata"]["labels"], json!({"only": "this"}));
        let mut v = json!({"finalizers": ["a", "b", "c"]});
        strategic_merge_patch(
            &mut v,
            &json!({"$deleteFromPrimitiveList/finalizers": ["b"]}),
        )
        .unwrap();
        assert_eq!(v["finalizers"], json!(["a", "c"]));

        assert!(strategic_merge_patch(&mut pod(), &json!([1])).is_err());
        assert!(
            strategic_merge_patch(
                &mut pod(),
                &json!({"spec": {"containers": [{"image": "x"}]}})
            )
            .is_err()
        );
    }

    #[test]
    fn json_patch_follows_rfc_6902() {
        let mut p = pod();
        json_patch(
            &mut p,
            &json!([
                {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:3"},
                {"op": "add", "path": "/metadata/labels/tier", "value": "web"},
                {"op": "remove", "path": "/metadata/labels/version"},
                {"op": "add", "path": "/spec/containers/0/args/-", "value": "c"},
                {"op": "add", "path": "/spec/containers/0/args/0", "value": "first"},
                {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/annotations/app"},
                {"op": "move", "from": "/metadata/annotations/x", "path": "/metadata/annotations/y"},
                {"op": "test", "path": "/metadata/name", "value": "p"},
                {"op": "add", "path": "/metadata/annotations/a~1b", "value": "slash"}
            ]),
        )
        .unwrap();
        assert_eq!(p["spec"]["containers"][0]["image"], "nginx:3");
        assert_eq!(p["metadata"]["labels"], json!({"app": "a", "tier": "web"}));
        assert_eq!(
            p["spec"]["containers"][0]["args"],
            json!(["first", "a", "b", "c"])
        );
        assert_eq!(
            p["metadata"]["annotations"],
            json!({"app": "a", "y": "1", "a/b": "slash"})
        );
        for bad in [
            json!([{"op": "test", "path": "/metadata/name", "value": "q"}]),
            json!([{"op": "remove", "path": "/metadata/nothing"}]),
            json!([{"op": "replace", "path": "/nothing/x", "value": 1}]),
            json!([{"op": "jump", "path": "/x"}]),
            json!([{"op": "add", "path": "/spec/containers/9", "value": {}}]),
            json!({"op": "add"}),
        ] {
            assert!(json_patch(&mut pod(), &bad).is_err(), "{bad}");
        }
    }
}
