use std::collections::BTreeMap;
pub fn parse_selector(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for i in s.split(',').filter(|x| !x.trim().is_empty()) {
        let (k, v) = i.split_once('=').ok_or(format!("bad {i}"))?;
        m.insert(k.trim().into(), v.trim().into());
    }
    Ok(m)
}
pub fn matches(labels: &BTreeMap<String, String>, sel: &BTreeMap<String, String>) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}
