pub fn cpu_millis(q: &str) -> Result<i64, String> {
    if let Some(m) = q.strip_suffix('m') {
        m.parse().map_err(|_| q.to_string())
    } else {
        q.parse::<f64>()
            .map(|f| (f * 1000.0).ceil() as i64)
            .map_err(|_| q.to_string())
    }
}
pub fn memory_bytes(q: &str) -> Result<i64, String> {
    if let Some(m) = q.strip_suffix("Mi") {
        m.parse::<i64>().map(|x| x << 20).map_err(|_| q.to_string())
    } else {
        q.parse().map_err(|_| q.to_string())
    }
}
