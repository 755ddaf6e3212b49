//! Server-side Tables (`Accept: …;as=Table;v=v1;g=meta.k8s.io`) with the real
//! apiserver's columns per kind; the columns and cells are the kind's registry entry's
//! (`KindInfo::kube_table`, in `cli/kube_table.rs`).

use serde_json::{Value, json};

use super::{Req, Target};
use crate::core::K1s;
use crate::registry::KindInfo;
use crate::store::Body;

/// A `meta.k8s.io/v1` Table of `objects` of `kind` at resourceVersion `rv`: the
/// kind's columns, one row per object, each row carrying the object as asked
/// (`includeObject`: `Metadata` by default, `Object`, or `None`).
pub fn table(_k1s: &K1s, kind: &KindInfo, objects: &[Body], req: &Req, rv: u64) -> Value {
    let t = kind.kube_table;
    let columns: Vec<Value> = t
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.type_,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    let version = match &req.target {
        Target::Collection { version, .. } | Target::Object { version, .. } => version.as_str(),
        _ => kind.version,
    };
    let include = req.param("includeObject").unwrap_or("Metadata");
    let now = jiff::Timestamp::now().as_second();
    let rows: Vec<Value> = objects
        .iter()
        .map(|b| {
            let mut row = json!({"cells": (t.cells)(b, now)});
            match include {
                "None" => {}
                "Object" => row["object"] = super::objects::to_version(kind, b, version),
                _ => row["object"] = partial_object_metadata(b),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The row object kubectl reads labels and names from by default.
pub fn partial_object_metadata(b: &Body) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": serde_json::to_value(b.meta()).unwrap_or_default(),
    })
}
