//! HorizontalPodAutoscalers: add, remove, get, list, the scale path the HPA
//! controller takes, and the hpa shapes.

use super::*;

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
        let name = name_new_object(&mut hpa.metadata)?;
        let body = new_body(
            &hpa,
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            json!({"desiredReplicas": 0}),
        )?;
        self.store
            .create(Kind::HorizontalPodAutoscaler, body, Source::Api)
            .await?;
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
            .delete(Kind::HorizontalPodAutoscaler, name, None, Source::Api)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                kind: "horizontalpodautoscaler",
                name: name.to_string(),
            })?;
        if let Some(c) = self.hpas.get() {
            c.forget(&removed.uid);
        }
        self.events.forget(Kind::HorizontalPodAutoscaler, name);
        Ok(hpa_view(&removed))
    }

    /// `get_horizontal_pod_autoscaler(name)`: spec, status (current metrics, last scale
    /// time) and conditions.
    pub fn get_horizontal_pod_autoscaler(&self, name: &str) -> Result<HpaDetails, CoreError> {
        let h = self
            .store
            .get(Kind::HorizontalPodAutoscaler, name)
            .ok_or_else(|| CoreError::NotFound {
                kind: "horizontalpodautoscaler",
                name: name.to_string(),
            })?;
        let status = h.body.get("status").cloned().unwrap_or(json!({}));
        Ok(HpaDetails {
            hpa: hpa_view(&h),
            spec: h.body.get("spec").cloned().unwrap_or(json!({})),
            conditions: status.get("conditions").cloned().unwrap_or(json!([])),
            status,
            events: self.events.of(Kind::HorizontalPodAutoscaler, name),
        })
    }

    /// `list_horizontal_pod_autoscalers(labels)`.
    pub fn list_horizontal_pod_autoscalers(
        &self,
        selector: &BTreeMap<String, String>,
    ) -> Vec<HpaView> {
        self.store.scan(Kind::HorizontalPodAutoscaler, |o| {
            model::labels::matches(&o.labels(), selector).then(|| hpa_view(o))
        })
    }
}

/// The hpa shape of SPEC §4.
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

/// The hpaExtra shape of SPEC §4.
#[derive(Debug, Clone, Serialize)]
pub struct HpaDetails {
    /// The hpa shape.
    #[serde(flatten)]
    pub hpa: HpaView,
    /// Its spec (v2 form).
    pub spec: Value,
    /// Its status: currentMetrics, lastScaleTime, …
    pub status: Value,
    /// Its conditions (AbleToScale, ScalingActive, ScalingLimited).
    pub conditions: Value,
    /// Recent events.
    pub events: Vec<Event>,
}

/// The hpa shape of a stored HPA.
pub fn hpa_view(obj: &Object) -> HpaView {
    let b = &obj.body;
    let n = |p: &str| b.pointer(p).and_then(Value::as_i64);
    HpaView {
        name: obj.name.clone(),
        uid: obj.uid.clone(),
        target: b
            .pointer("/spec/scaleTargetRef/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        min_replicas: n("/spec/minReplicas").unwrap_or(1),
        max_replicas: n("/spec/maxReplicas").unwrap_or(0),
        current_replicas: n("/status/currentReplicas"),
        desired_replicas: n("/status/desiredReplicas"),
        labels: obj.labels(),
        creation_timestamp: b
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}
