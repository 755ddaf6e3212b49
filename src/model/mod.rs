//! STUB (lead's, uncommitted) — replaced by h-model.
pub mod labels;
pub mod pod;
pub mod quantity;
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}
#[derive(Debug, Clone)]
pub struct Invalid {
    pub causes: Vec<FieldError>,
}
impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.causes[0].field, self.causes[0].message)
    }
}
impl std::error::Error for Invalid {}
#[derive(Debug)]
pub struct BadBody(pub String);
impl std::fmt::Display for BadBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl std::error::Error for BadBody {}
pub fn parse_body(bytes: &[u8], yaml: bool) -> Result<serde_json::Value, BadBody> {
    if yaml {
        serde_saphyr::from_slice(bytes).map_err(|e| BadBody(e.to_string()))
    } else {
        serde_json::from_slice(bytes).map_err(|e| BadBody(e.to_string()))
    }
}
#[derive(Debug, Clone, Copy)]
pub struct HostLimits {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}
#[derive(Debug, Clone, Copy, Default)]
pub struct AdmissionOptions {
    pub allow_host_power: bool,
}
pub struct Admitted<T> {
    pub object: T,
    pub warnings: Vec<String>,
}
