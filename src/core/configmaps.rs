//! ConfigMaps and Secrets: add, remove, get, list, merge-patch, and their `/k1s`
//! shapes. A Secret's shapes carry its keys (and their sizes), never its values
//! (docs/decisions.md, "ConfigMaps and Secrets").

use super::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use crate::store::Body;

impl K1s {
    /// Validates and stores a ConfigMap; pods waiting for it are looked at again.
    pub async fn add_config_map(&self, value: Value) -> Result<Created<CmDetails>, CoreError> {
        let admitted = model::configmap::admit_config_map(value)?;
        let mut cm = admitted.object;
        let name = self.name_new_object(&mut cm.metadata)?;
        self.store.create(cm, Source::Api).await?;
        Ok(Created {
            object: self.get_config_map(&name)?,
            warnings: admitted.warnings,
        })
    }

    /// Removes a ConfigMap (pods already running keep what they were given).
    pub async fn remove_config_map(&self, name: &str) -> Result<CmView, CoreError> {
        let removed = self
            .store
            .delete::<ConfigMap>(name, None, Source::Api)
            .await?
            .ok_or_else(|| not_found("configmap", name))?;
        Ok(cm_view(&removed))
    }

    /// A ConfigMap with its data.
    pub fn get_config_map(&self, name: &str) -> Result<CmDetails, CoreError> {
        let cm = self
            .store
            .get::<ConfigMap>(name)
            .ok_or_else(|| not_found("configmap", name))?;
        Ok(CmDetails {
            view: cm_view(&cm),
            annotations: cm.metadata.annotations.clone().unwrap_or_default(),
            data: cm.data.clone().unwrap_or_default(),
            binary_data: cm.binary_data.clone().unwrap_or_default(),
        })
    }

    /// ConfigMaps carrying every given label.
    pub fn list_config_maps(&self, selector: &BTreeMap<String, String>) -> Vec<CmView> {
        self.store
            .scan(|c: &ConfigMap| model::labels::matches(c.labels(), selector).then(|| cm_view(c)))
    }

    /// Validates and stores a Secret (encrypted in the database).
    pub async fn add_secret(&self, value: Value) -> Result<Created<SecretDetails>, CoreError> {
        let admitted = model::configmap::admit_secret(value)?;
        let mut secret = admitted.object;
        let name = self.name_new_object(&mut secret.metadata)?;
        self.store.create(secret, Source::Api).await?;
        Ok(Created {
            object: self.get_secret(&name)?,
            warnings: admitted.warnings,
        })
    }

    /// Removes a Secret.
    pub async fn remove_secret(&self, name: &str) -> Result<SecretView, CoreError> {
        let removed = self
            .store
            .delete::<Secret>(name, None, Source::Api)
            .await?
            .ok_or_else(|| not_found("secret", name))?;
        Ok(secret_view(&removed))
    }

    /// A Secret's details: keys and sizes, never values.
    pub fn get_secret(&self, name: &str) -> Result<SecretDetails, CoreError> {
        let s = self
            .store
            .get::<Secret>(name)
            .ok_or_else(|| not_found("secret", name))?;
        Ok(SecretDetails {
            view: secret_view(&s),
            sizes: s
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.len()))
                .collect(),
        })
    }

    /// Secrets carrying every given label.
    pub fn list_secrets(&self, selector: &BTreeMap<String, String>) -> Vec<SecretView> {
        self.store
            .scan(|s: &Secret| model::labels::matches(s.labels(), selector).then(|| secret_view(s)))
    }

    /// A JSON merge patch on a stored ConfigMap or Secret, admitted as a whole (a
    /// Secret's patch may carry `stringData`); `immutable` objects refuse changes.
    pub async fn patch_config_object(
        &self,
        kind: Kind,
        name: &str,
        patch: Value,
    ) -> Result<Body, CoreError> {
        if !patch.is_object() {
            return Err(CoreError::BadBody(BadBody(
                "a merge patch must be a JSON object".into(),
            )));
        }
        let noun = if kind == Kind::Secret {
            "secret"
        } else {
            "configmap"
        };
        for _ in 0..8 {
            let current = self
                .store
                .get_body(kind, name)
                .ok_or_else(|| not_found(noun, name))?;
            let mut body = match &current {
                Body::ConfigMap(c) => serde_json::to_value(c),
                Body::Secret(s) => serde_json::to_value(s),
                _ => return Err(not_found(noun, name)),
            }
            .map_err(|e| CoreError::Store(StoreError::Corrupt(e)))?;
            model::strip_system_fields(&mut body);
            model::replicaset::merge_patch(&mut body, &patch);
            if let Some(b) = self
                .replace_once(&current, body, Source::Api, false)
                .await?
            {
                return Ok(b);
            }
        }
        Err(CoreError::Conflict(format!(
            "{noun} \"{name}\" kept changing while being patched; try again"
        )))
    }
}

fn not_found(kind: &'static str, name: &str) -> CoreError {
    CoreError::NotFound {
        kind,
        name: name.to_string(),
    }
}

/// The cm shape: `{name, uid, labels, keys, immutable, creationTimestamp}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CmView {
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// The user's labels.
    pub labels: BTreeMap<String, String>,
    /// Keys of `data` and `binaryData`, sorted.
    pub keys: Vec<String>,
    /// Whether it refuses changes.
    pub immutable: bool,
    /// Creation time.
    pub creation_timestamp: String,
}

/// The cm details: cm + `annotations`, `data`, `binaryData` (base64).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CmDetails {
    /// The cm shape.
    #[serde(flatten)]
    pub view: CmView,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// `data`.
    pub data: BTreeMap<String, String>,
    /// `binaryData`, base64 as in Kubernetes.
    pub binary_data: BTreeMap<String, ByteString>,
}

/// The secret shape: `{name, uid, labels, type, keys, immutable, creationTimestamp}`;
/// never a value.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// The user's labels.
    pub labels: BTreeMap<String, String>,
    /// `type` (`Opaque`, `kubernetes.io/tls`, …).
    #[serde(rename = "type")]
    pub type_: String,
    /// Keys of `data`, sorted.
    pub keys: Vec<String>,
    /// Whether it refuses changes.
    pub immutable: bool,
    /// Creation time.
    pub creation_timestamp: String,
}

/// The secret details: secret + each key's size in bytes (as `kubectl describe`
/// shows them); never a value.
#[derive(Debug, Clone, Serialize)]
pub struct SecretDetails {
    /// The secret shape.
    #[serde(flatten)]
    pub view: SecretView,
    /// Bytes per key.
    pub sizes: BTreeMap<String, usize>,
}

/// The cm shape of a stored ConfigMap.
pub fn cm_view(c: &ConfigMap) -> CmView {
    let mut keys: Vec<String> = c.data.iter().flatten().map(|(k, _)| k.clone()).collect();
    keys.extend(c.binary_data.iter().flatten().map(|(k, _)| k.clone()));
    keys.sort();
    CmView {
        name: c.name().to_string(),
        uid: c.uid().to_string(),
        labels: c.labels().clone(),
        keys,
        immutable: c.immutable == Some(true),
        creation_timestamp: c.created(),
    }
}

/// The secret shape of a stored Secret.
pub fn secret_view(s: &Secret) -> SecretView {
    SecretView {
        name: s.name().to_string(),
        uid: s.uid().to_string(),
        labels: s.labels().clone(),
        type_: s.type_.clone().unwrap_or_else(|| "Opaque".into()),
        keys: s.data.iter().flatten().map(|(k, _)| k.clone()).collect(),
        immutable: s.immutable == Some(true),
        creation_timestamp: s.created(),
    }
}

/// The REST front door's ConfigMap operations.
pub struct ConfigMapOps;

impl KindOps for ConfigMapOps {
    fn create<'a>(
        &'a self,
        k1s: &'a K1s,
        body: Value,
    ) -> BoxFuture<'a, Result<Created<Json>, CoreError>> {
        Box::pin(async move { Json::of_created(k1s.add_config_map(body).await?) })
    }

    fn list(&self, k1s: &K1s, selector: &BTreeMap<String, String>) -> Result<Json, CoreError> {
        Json::of(&k1s.list_config_maps(selector))
    }

    fn get<'a>(
        &'a self,
        k1s: &'a K1s,
        name: &'a str,
        _opts: GetOptions,
    ) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.get_config_map(name)?) })
    }

    fn delete<'a>(&'a self, k1s: &'a K1s, name: &'a str) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.remove_config_map(name).await?) })
    }

    fn patch<'a>(
        &'a self,
        k1s: &'a K1s,
        name: &'a str,
        patch: Value,
    ) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move {
            let b = k1s
                .patch_config_object(Kind::ConfigMap, name, patch)
                .await?;
            match b.downcast::<ConfigMap>() {
                Some(c) => Json::of(&cm_view(c)),
                None => Err(not_found("configmap", name)),
            }
        })
    }
}

/// The REST front door's Secret operations (keys only, never values).
pub struct SecretOps;

impl KindOps for SecretOps {
    fn create<'a>(
        &'a self,
        k1s: &'a K1s,
        body: Value,
    ) -> BoxFuture<'a, Result<Created<Json>, CoreError>> {
        Box::pin(async move { Json::of_created(k1s.add_secret(body).await?) })
    }

    fn list(&self, k1s: &K1s, selector: &BTreeMap<String, String>) -> Result<Json, CoreError> {
        Json::of(&k1s.list_secrets(selector))
    }

    fn get<'a>(
        &'a self,
        k1s: &'a K1s,
        name: &'a str,
        _opts: GetOptions,
    ) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.get_secret(name)?) })
    }

    fn delete<'a>(&'a self, k1s: &'a K1s, name: &'a str) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.remove_secret(name).await?) })
    }

    fn patch<'a>(
        &'a self,
        k1s: &'a K1s,
        name: &'a str,
        patch: Value,
    ) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move {
            let b = k1s.patch_config_object(Kind::Secret, name, patch).await?;
            match b.downcast::<Secret>() {
                Some(s) => Json::of(&secret_view(s)),
                None => Err(not_found("secret", name)),
            }
        })
    }
}
