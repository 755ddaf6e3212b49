//! HorizontalPodAutoscalers: add, remove, get, list, the scale path the HPA
//! controller takes, and the hpa shapes.

use super::*;
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerSpec,
    HorizontalPodAutoscalerStatus,
};

/// The HPA's way to scale: the same path as a user's scale, through the core.
pub(super) struct CoreScaler(pub(super) Weak<K1s>);

impl Scaler for CoreScaler {
    fn scale(
        &self,
        rs: &str,
        replicas: i32,
    ) -> futures_util::future::BoxFuture<'_, Result<(), String>> {
        let rs = rs.to_string();
        Box::pin(async move {
            let k1s = self.0.upgrade().ok_or("the server is shutting down")?;
            k1s.scale_replica_set(&rs, replicas, Source::Autoscaler)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

impl K1s {
    /// `add_horizontal_pod_autoscaler(spec)`: validates (v2, v2beta2 or v1) and stores
    /// it in its v2 form; its controller evaluates it at once and every sync period.
    pub async fn add_horizontal_pod_autoscaler(
        &self,
        value: Value,
    ) -> Result<Created<HpaDetails>, CoreError> {
        let admitted = model::hpa::admit_hpa(value, self.config.max_replicas)?;
        let mut hpa = admitted.object;
        let name = self.name_new_object(&mut hpa.metadata)?;
        hpa.status = Some(HorizontalPodAutoscalerStatus::default());
        self.store.create(hpa, Source::Api).await?;
        if let Some(c) = self.hpas.get() {
            c.enqueue(&name);
        }
        Ok(Created {
            object: self.get_horizontal_pod_autoscaler(&name)?,
            warnings: admitted.warnings,
        })
    }

    /// `remove_horizontal_pod_autoscaler(name)`: the ReplicaSet stays as it is.
    pub async fn remove_horizontal_pod_autoscaler(&self, name: &str) -> Result<HpaView, CoreError> {
        let removed = self
            .store
            .delete::<HorizontalPodAutoscaler>(name, None, Source::Api)
            .await?
            .ok_or_else(|| not_found(name))?;
        if let Some(c) = self.hpas.get() {
            c.forget(removed.uid());
        }
        self.events.forget(Kind::HorizontalPodAutoscaler, name);
        Ok(hpa_view(&removed))
    }

    /// `get_horizontal_pod_autoscaler(name)`: spec, status (current metrics, last scale
    /// time) and conditions.
    pub fn get_horizontal_pod_autoscaler(&self, name: &str) -> Result<HpaDetails, CoreError> {
        let h = self
            .store
            .get::<HorizontalPodAutoscaler>(name)
            .ok_or_else(|| not_found(name))?;
        let status = h.status.clone().unwrap_or_default();
        Ok(HpaDetails {
            hpa: hpa_view(&h),
            conditions: status.conditions.clone().unwrap_or_default(),
            status,
            spec: h.spec.unwrap_or_default(),
            events: self.events.of(Kind::HorizontalPodAutoscaler, name),
        })
    }

    /// `list_horizontal_pod_autoscalers(labels)`.
    pub fn list_horizontal_pod_autoscalers(
        &self,
        selector: &BTreeMap<String, String>,
    ) -> Vec<HpaView> {
        self.store.scan(|h: &HorizontalPodAutoscaler| {
            model::labels::matches(h.labels(), selector).then(|| hpa_view(h))
        })
    }
}

fn not_found(name: &str) -> CoreError {
    CoreError::NotFound {
        kind: "horizontalpodautoscaler",
        name: name.to_string(),
    }
}

/// The hpa shape (docs/decisions.md, "Result shapes").
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HpaView {
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// The target ReplicaSet's name.
    pub target: String,
    /// minReplicas.
    pub min_replicas: i64,
    /// maxReplicas.
    pub max_replicas: i64,
    /// The target's current replicas, as last observed.
    pub current_replicas: Option<i64>,
    /// What the autoscaler last decided.
    pub desired_replicas: Option<i64>,
    /// The user's labels.
    pub labels: BTreeMap<String, String>,
    /// Creation time.
    pub creation_timestamp: String,
}

/// The hpaExtra shape (docs/decisions.md, "Result shapes").
#[derive(Debug, Clone, Serialize)]
pub struct HpaDetails {
    /// The hpa shape.
    #[serde(flatten)]
    pub hpa: HpaView,
    /// Its spec (v2 form).
    pub spec: HorizontalPodAutoscalerSpec,
    /// Its status: currentMetrics, lastScaleTime, …
    pub status: HorizontalPodAutoscalerStatus,
    /// Its conditions (AbleToScale, ScalingActive, ScalingLimited).
    pub conditions: Vec<HorizontalPodAutoscalerCondition>,
    /// Recent events.
    pub events: Vec<Event>,
}

/// The hpa shape of a stored HPA.
pub fn hpa_view(h: &HorizontalPodAutoscaler) -> HpaView {
    let spec = h.spec.as_ref();
    let status = h.status.as_ref();
    HpaView {
        name: h.name().to_string(),
        uid: h.uid().to_string(),
        target: spec
            .map(|s| s.scale_target_ref.name.clone())
            .unwrap_or_default(),
        min_replicas: spec.and_then(|s| s.min_replicas).map_or(1, i64::from),
        max_replicas: spec.map_or(0, |s| i64::from(s.max_replicas)),
        current_replicas: status.and_then(|s| s.current_replicas).map(i64::from),
        desired_replicas: status.map(|s| i64::from(s.desired_replicas)),
        labels: h.labels().clone(),
        creation_timestamp: h.created(),
    }
}

/// The REST front door's HPA operations.
pub struct HpaOps;

impl KindOps for HpaOps {
    fn create<'a>(
        &'a self,
        k1s: &'a K1s,
        body: Value,
    ) -> BoxFuture<'a, Result<Created<Json>, CoreError>> {
        Box::pin(async move { Json::of_created(k1s.add_horizontal_pod_autoscaler(body).await?) })
    }

    fn list(&self, k1s: &K1s, selector: &BTreeMap<String, String>) -> Result<Json, CoreError> {
        Json::of(&k1s.list_horizontal_pod_autoscalers(selector))
    }

    fn get<'a>(
        &'a self,
        k1s: &'a K1s,
        name: &'a str,
        _opts: GetOptions,
    ) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.get_horizontal_pod_autoscaler(name)?) })
    }

    fn delete<'a>(&'a self, k1s: &'a K1s, name: &'a str) -> BoxFuture<'a, Result<Json, CoreError>> {
        Box::pin(async move { Json::of(&k1s.remove_horizontal_pod_autoscaler(name).await?) })
    }
}
