//! Typed stored objects: [`Body`] holds any stored kind as its Kubernetes type, and
//! [`Stored`] is what a type must offer to live in the store. JSON appears only where
//! a body meets the SQLite column ([`Body::to_json`], [`Body::from_json`]).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The kinds of object K1s stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `v1` Pod.
    Pod,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `autoscaling` HorizontalPodAutoscaler (stored in its v2 form).
    HorizontalPodAutoscaler,
    /// `v1` ConfigMap.
    ConfigMap,
    /// `v1` Secret (encrypted in its SQLite column: see `store::crypt`).
    Secret,
}

impl Kind {
    /// Every kind, in the order the store loads them.
    pub const ALL: &'static [Kind] = &[
        Kind::Pod,
        Kind::ReplicaSet,
        Kind::HorizontalPodAutoscaler,
        Kind::ConfigMap,
        Kind::Secret,
    ];

    /// The Kubernetes kind name, also the value of the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }

    /// The kind of a `kind` column value.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

/// One stored object of any kind, as its Kubernetes type.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A pod.
    Pod(Pod),
    /// A ReplicaSet.
    ReplicaSet(ReplicaSet),
    /// An HPA, in its `autoscaling/v2` form.
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    /// A ConfigMap.
    ConfigMap(ConfigMap),
    /// A Secret (`stringData` already merged into `data`).
    Secret(Secret),
}

/// A Kubernetes type the store keeps: each variant of [`Body`] has one.
pub trait Stored:
    k8s_openapi::Metadata<Ty = ObjectMeta>
    + Clone
    + PartialEq
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Its kind.
    const STORED_KIND: Kind;
    /// Wraps it.
    fn into_body(self) -> Body;
    /// The object, if `body` is of this kind.
    fn from_body(body: &Body) -> Option<&Self>;
    /// The object, mutably, if `body` is of this kind.
    fn from_body_mut(body: &mut Body) -> Option<&mut Self>;
}

macro_rules! stored {
    ($t:ty, $variant:ident) => {
        impl Stored for $t {
            const STORED_KIND: Kind = Kind::$variant;
            fn into_body(self) -> Body {
                Body::$variant(self)
            }
            fn from_body(body: &Body) -> Option<&Self> {
                match body {
                    Body::$variant(o) => Some(o),
                    _ => None,
                }
            }
            fn from_body_mut(body: &mut Body) -> Option<&mut Self> {
                match body {
                    Body::$variant(o) => Some(o),
                    _ => None,
                }
            }
        }
    };
}

stored!(Pod, Pod);
stored!(ReplicaSet, ReplicaSet);
stored!(HorizontalPodAutoscaler, HorizontalPodAutoscaler);
stored!(ConfigMap, ConfigMap);
stored!(Secret, Secret);

impl Body {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Pod(_) => Kind::Pod,
            Body::ReplicaSet(_) => Kind::ReplicaSet,
            Body::HorizontalPodAutoscaler(_) => Kind::HorizontalPodAutoscaler,
            Body::ConfigMap(_) => Kind::ConfigMap,
            Body::Secret(_) => Kind::Secret,
        }
    }

    /// Its metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Body::Pod(o) => &o.metadata,
            Body::ReplicaSet(o) => &o.metadata,
            Body::HorizontalPodAutoscaler(o) => &o.metadata,
            Body::ConfigMap(o) => &o.metadata,
            Body::Secret(o) => &o.metadata,
        }
    }

    /// Its metadata, mutably.
    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Body::Pod(o) => &mut o.metadata,
            Body::ReplicaSet(o) => &mut o.metadata,
            Body::HorizontalPodAutoscaler(o) => &mut o.metadata,
            Body::ConfigMap(o) => &mut o.metadata,
            Body::Secret(o) => &mut o.metadata,
        }
    }

    /// The object as `T`, if it is one.
    pub fn downcast<T: Stored>(&self) -> Option<&T> {
        T::from_body(self)
    }

    /// The JSON text of the SQLite column (apiVersion and kind included).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            Body::Pod(o) => serde_json::to_string(o),
            Body::ReplicaSet(o) => serde_json::to_string(o),
            Body::HorizontalPodAutoscaler(o) => serde_json::to_string(o),
            Body::ConfigMap(o) => serde_json::to_string(o),
            Body::Secret(o) => serde_json::to_string(o),
        }
    }

    /// A body of `kind` from the JSON text of the SQLite column.
    pub fn from_json(kind: Kind, text: &str) -> Result<Body, serde_json::Error> {
        Ok(match kind {
            Kind::Pod => Body::Pod(serde_json::from_str(text)?),
            Kind::ReplicaSet => Body::ReplicaSet(serde_json::from_str(text)?),
            Kind::HorizontalPodAutoscaler => {
                Body::HorizontalPodAutoscaler(serde_json::from_str(text)?)
            }
            Kind::ConfigMap => Body::ConfigMap(serde_json::from_str(text)?),
            Kind::Secret => Body::Secret(serde_json::from_str(text)?),
        })
    }
}

/// What every stored object answers about its metadata (kube-rs' `ResourceExt`).
pub trait MetaExt {
    /// The object's metadata.
    fn meta_ref(&self) -> &ObjectMeta;

    /// `metadata.name` (empty when unset, which admission never lets through).
    fn name(&self) -> &str {
        self.meta_ref().name.as_deref().unwrap_or_default()
    }

    /// `metadata.uid`.
    fn uid(&self) -> &str {
        self.meta_ref().uid.as_deref().unwrap_or_default()
    }

    /// `metadata.resourceVersion` as the store's counter (0 before the first write).
    fn resource_version(&self) -> u64 {
        self.meta_ref()
            .resource_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// `metadata.deletionTimestamp` is set: the object is on its way out.
    fn is_deleting(&self) -> bool {
        self.meta_ref().deletion_timestamp.is_some()
    }

    /// `metadata.labels` (an empty map when there are none).
    fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.meta_ref().labels.as_ref().unwrap_or(&EMPTY)
    }

    /// The owner reference with `controller: true`, if any.
    fn controller_ref(&self) -> Option<&OwnerReference> {
        self.meta_ref()
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true))
    }

    /// `metadata.generation` (1 when unset).
    fn generation(&self) -> i64 {
        self.meta_ref().generation.unwrap_or(1)
    }

    /// `metadata.creationTimestamp`, as RFC 3339 (empty when unset).
    fn created(&self) -> String {
        self.meta_ref()
            .creation_timestamp
            .as_ref()
            .map(|t| crate::util::format_time(&t.0))
            .unwrap_or_default()
    }
}

impl<T: k8s_openapi::Metadata<Ty = ObjectMeta>> MetaExt for T {
    fn meta_ref(&self) -> &ObjectMeta {
        self.metadata()
    }
}

impl MetaExt for Body {
    fn meta_ref(&self) -> &ObjectMeta {
        self.meta()
    }
}
