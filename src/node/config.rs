//! What a pod takes from ConfigMaps and Secrets, as pure functions: the environment
//! (`env[].valueFrom.configMapKeyRef | secretKeyRef`, `envFrom` with `prefix`), the
//! files of its `configMap` and `secret` volumes (`items`, modes, `optional`), and
//! which objects a pod references (so a change to one wakes exactly its pods). A
//! missing object or key that is not optional is an error naming it, in Kubernetes'
//! words (`configmap "x" not found`), never a value.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Pod, Secret};

use super::spec::first_container;
use crate::model::names;

/// A volume's files: relative path → (content, mode).
pub type Files = BTreeMap<String, (Vec<u8>, u32)>;

/// The contents of one of the pod's volumes.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeContent {
    /// A `configMap` or `secret` volume: these files (a Secret's in memory only).
    Projected {
        /// The volume's name.
        name: String,
        /// Kept in memory (tmpfs): a Secret's.
        memory: bool,
        /// Its files.
        files: Files,
    },
    /// An `emptyDir` (`medium: Memory` → in memory).
    Empty {
        /// The volume's name.
        name: String,
        /// Kept in memory (tmpfs).
        memory: bool,
    },
}

impl VolumeContent {
    /// The volume's name.
    pub fn name(&self) -> &str {
        match self {
            VolumeContent::Projected { name, .. } | VolumeContent::Empty { name, .. } => name,
        }
    }

    /// Whether it lives in memory.
    pub fn memory(&self) -> bool {
        match self {
            VolumeContent::Projected { memory, .. } | VolumeContent::Empty { memory, .. } => {
                *memory
            }
        }
    }
}

/// Where a pod's ConfigMaps and Secrets are read from (the store, in the agent).
pub trait Sources {
    /// The ConfigMap named `name`, if it exists.
    fn config_map(&self, name: &str) -> Option<ConfigMap>;
    /// The Secret named `name`, if it exists.
    fn secret(&self, name: &str) -> Option<Secret>;
}

/// A ConfigMap's or Secret's key/value pairs as bytes.
fn cm_entries(c: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut m: BTreeMap<String, Vec<u8>> = c
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    m.extend(
        c.binary_data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone())),
    );
    m
}

fn secret_entries(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    s.data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

/// Looks up `kind` `name`: its entries, `None` when missing and optional, an error
/// when missing and required.
fn entries(
    src: &dyn Sources,
    secret: bool,
    name: &str,
    optional: bool,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let found = if secret {
        src.secret(name).map(|s| secret_entries(&s))
    } else {
        src.config_map(name).map(|c| cm_entries(&c))
    };
    match found {
        Some(e) => Ok(Some(e)),
        None if optional => Ok(None),
        None => Err(format!(
            "{} \"{name}\" not found",
            if secret { "secret" } else { "configmap" }
        )),
    }
}

fn missing_key(secret: bool, name: &str, key: &str) -> String {
    format!(
        "couldn't find key {key} in {} default/{name}",
        if secret { "Secret" } else { "ConfigMap" }
    )
}

/// The environment the first container gets from ConfigMaps and Secrets: `envFrom`
/// variables (in order, `prefix` prepended; keys that are no valid variable name are
/// skipped, as in Kubernetes) and the value of each `env` entry with a key ref (`None`
/// for an optional one that is missing: the variable is left out).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigEnv {
    /// From `envFrom`, in order.
    pub from: Vec<(String, String)>,
    /// `env[i]` with a configMapKeyRef/secretKeyRef → its value.
    pub refs: BTreeMap<usize, Option<String>>,
}

/// Resolves [`ConfigEnv`] for the pod's first container.
pub fn resolve_env(pod: &Pod, src: &dyn Sources) -> Result<ConfigEnv, String> {
    let mut out = ConfigEnv::default();
    let Some(c) = first_container(pod) else {
        return Ok(out);
    };
    for ef in c.env_from.iter().flatten() {
        let prefix = ef.prefix.clone().unwrap_or_default();
        let found = match (ef.config_map_ref.as_ref(), ef.secret_ref.as_ref()) {
            (Some(r), _) => entries(src, false, &r.name, r.optional == Some(true))?,
            (None, Some(r)) => entries(src, true, &r.name, r.optional == Some(true))?,
            (None, None) => None,
        };
        for (k, v) in found.into_iter().flatten() {
            let name = format!("{prefix}{k}");
            if names::env_var_name(&name).is_empty() {
                out.from
                    .push((name, String::from_utf8_lossy(&v).into_owned()));
            }
        }
    }
    for (i, e) in c.env.iter().flatten().enumerate() {
        let Some(vf) = e.value_from.as_ref() else {
            continue;
        };
        let (secret, name, key, optional) =
            match (vf.config_map_key_ref.as_ref(), vf.secret_key_ref.as_ref()) {
                (Some(r), _) => (false, &r.name, &r.key, r.optional == Some(true)),
                (None, Some(r)) => (true, &r.name, &r.key, r.optional == Some(true)),
                _ => continue,
            };
        let value = match entries(src, secret, name, optional)? {
            None => None,
            Some(m) => match m.get(key.as_str()) {
                Some(v) => Some(String::from_utf8_lossy(v).into_owned()),
                None if optional => None,
                None => return Err(missing_key(secret, name, key)),
            },
        };
        out.refs.insert(i, value);
    }
    Ok(out)
}

/// The contents of every volume of the pod (configMap, secret, emptyDir).
pub fn resolve_volumes(pod: &Pod, src: &dyn Sources) -> Result<Vec<VolumeContent>, String> {
    let mut out = Vec::new();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let name = v.name.clone();
        let projected = if let Some(c) = v.config_map.as_ref() {
            Some((
                false,
                c.name.as_str(),
                c.items.as_deref(),
                c.default_mode,
                c.optional == Some(true),
            ))
        } else {
            v.secret.as_ref().map(|s| {
                (
                    true,
                    s.secret_name.as_deref().unwrap_or(""),
                    s.items.as_deref(),
                    s.default_mode,
                    s.optional == Some(true),
                )
            })
        };
        if let Some((secret, obj, items, mode, optional)) = projected {
            let mode = mode.unwrap_or(crate::model::volumes::DEFAULT_MODE) as u32;
            let files = match entries(src, secret, obj, optional)? {
                None => Files::new(),
                Some(e) => {
                    files_of(&e, items, mode, optional).map_err(|k| missing_key(secret, obj, &k))?
                }
            };
            out.push(VolumeContent::Projected {
                name,
                memory: secret,
                files,
            });
        } else if let Some(e) = v.empty_dir.as_ref() {
            out.push(VolumeContent::Empty {
                name,
                memory: e.medium.as_deref() == Some("Memory"),
            });
        }
    }
    Ok(out)
}

/// The files of a projected volume: every key, or the `items` (key → path, mode);
/// `Err(key)` for an item whose key is missing (unless optional).
fn files_of(
    entries: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    mode: u32,
    optional: bool,
) -> Result<Files, String> {
    let mut files = Files::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in entries {
                files.insert(k.clone(), (v.clone(), mode));
            }
        }
        Some(items) => {
            for it in items {
                match entries.get(&it.key) {
                    Some(v) => {
                        let m = it.mode.map_or(mode, |m| m as u32);
                        files.insert(it.path.clone(), (v.clone(), m));
                    }
                    None if optional => {}
                    None => return Err(it.key.clone()),
                }
            }
        }
    }
    Ok(files)
}

/// The ConfigMaps and Secrets a pod names (env, envFrom, volumes).
pub fn references(pod: &Pod) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut cms, mut secrets) = (BTreeSet::new(), BTreeSet::new());
    let Some(spec) = pod.spec.as_ref() else {
        return (cms, secrets);
    };
    for c in &spec.containers {
        for ef in c.env_from.iter().flatten() {
            if let Some(r) = ef.config_map_ref.as_ref() {
                cms.insert(r.name.clone());
            }
            if let Some(r) = ef.secret_ref.as_ref() {
                secrets.insert(r.name.clone());
            }
        }
        for e in c.env.iter().flatten() {
            if let Some(vf) = e.value_from.as_ref() {
                if let Some(r) = vf.config_map_key_ref.as_ref() {
                    cms.insert(r.name.clone());
                }
                if let Some(r) = vf.secret_key_ref.as_ref() {
                    secrets.insert(r.name.clone());
                }
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = v.config_map.as_ref() {
            cms.insert(c.name.clone());
        }
        if let Some(n) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.insert(n);
        }
    }
    (cms, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    struct Fixed(Vec<ConfigMap>, Vec<Secret>);

    impl Sources for Fixed {
        fn config_map(&self, name: &str) -> Option<ConfigMap> {
            self.0
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(name))
                .cloned()
        }
        fn secret(&self, name: &str) -> Option<Secret> {
            self.1
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(name))
                .cloned()
        }
    }

    fn src() -> Fixed {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("cm".into());
        cm.data = Some(
            [
                ("a".to_string(), "1".to_string()),
                ("b-c".to_string(), "2".to_string()),
            ]
            .into(),
        );
        let mut s = Secret::default();
        s.metadata.name = Some("s".into());
        s.data = Some([("p".to_string(), ByteString(b"q".to_vec()))].into());
        Fixed(vec![cm], vec![s])
    }

    fn pod(text: &str) -> Pod {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn env_from_refs_and_env_from() {
        let p = pod(
            r#"{"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i",
            "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"secretRef": {"name": "gone", "optional": true}}],
            "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}},
                    {"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}}},
                    {"name": "O", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope", "optional": true}}}]}]}}"#,
        );
        let e = resolve_env(&p, &src()).unwrap();
        assert_eq!(
            e.from,
            vec![("CM_a".into(), "1".into()), ("CM_b-c".into(), "2".into())]
        );
        assert_eq!(e.refs[&0].as_deref(), Some("1"));
        assert_eq!(e.refs[&1].as_deref(), Some("q"));
        assert_eq!(e.refs[&2], None);
        let (cms, secrets) = references(&p);
        assert_eq!(cms.into_iter().collect::<Vec<_>>(), ["cm"]);
        assert_eq!(secrets.into_iter().collect::<Vec<_>>(), ["gone", "s"]);
        let missing = pod(
            r#"{"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i",
            "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "a"}}}]}]}}"#,
        );
        assert_eq!(
            resolve_env(&missing, &src()).unwrap_err(),
            "configmap \"x\" not found"
        );
        let missing = pod(
            r#"{"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i",
            "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}}"#,
        );
        assert_eq!(
            resolve_env(&missing, &src()).unwrap_err(),
            "couldn't find key k in Secret default/s"
        );
    }

    #[test]
    fn volumes_project_keys_items_and_modes() {
        let p = pod(
            r#"{"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [
            {"name": "all", "configMap": {"name": "cm", "defaultMode": 420}},
            {"name": "some", "configMap": {"name": "cm", "items": [{"key": "a", "path": "dir/a.txt", "mode": 384}]}},
            {"name": "sec", "secret": {"secretName": "s"}},
            {"name": "opt", "secret": {"secretName": "gone", "optional": true}},
            {"name": "tmp", "emptyDir": {"medium": "Memory"}}]}}"#,
        );
        let v = resolve_volumes(&p, &src()).unwrap();
        let VolumeContent::Projected { files, memory, .. } = &v[0] else {
            panic!()
        };
        assert!(!memory);
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a", "b-c"]);
        assert_eq!(files["a"], (b"1".to_vec(), 0o644));
        let VolumeContent::Projected { files, .. } = &v[1] else {
            panic!()
        };
        assert_eq!(files["dir/a.txt"], (b"1".to_vec(), 0o600));
        assert!(v[2].memory());
        assert_eq!(
            v[3],
            VolumeContent::Projected {
                name: "opt".into(),
                memory: true,
                files: Files::new()
            }
        );
        assert_eq!(
            v[4],
            VolumeContent::Empty {
                name: "tmp".into(),
                memory: true
            }
        );
        let bad = pod(
            r#"{"metadata": {"name": "x"}, "spec": {"containers": [], "volumes": [
            {"name": "some", "configMap": {"name": "cm", "items": [{"key": "zz", "path": "z"}]}}]}}"#,
        );
        assert_eq!(
            resolve_volumes(&bad, &src()).unwrap_err(),
            "couldn't find key zz in ConfigMap default/cm"
        );
    }
}
