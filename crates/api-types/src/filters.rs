//! The `filters` query parameter: `{"label":{"a=b":true}}` (current form) or
//! `{"label":["a=b"]}` (old form).

use std::collections::BTreeMap;

use serde_json::Value;

/// Parsed filters: name -> accepted values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

/// A `filters` parameter that is not JSON of either form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFilters(pub String);

impl std::fmt::Display for BadFilters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid filter '{}'", self.0)
    }
}

impl std::error::Error for BadFilters {}

impl Filters {
    /// Parses the (already URL-decoded) parameter; empty text is no filter.
    pub fn parse(text: &str) -> Result<Self, BadFilters> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let v: Value = serde_json::from_str(text).map_err(|_| BadFilters(text.into()))?;
        let obj = v.as_object().ok_or_else(|| BadFilters(text.into()))?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(true))
                    .map(|(s, _)| s.clone())
                    .collect(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => return Err(BadFilters(text.into())),
            };
            out.insert(k.clone(), list);
        }
        Ok(Self(out))
    }

    /// The values of one filter (empty when absent).
    pub fn get(&self, name: &str) -> &[String] {
        self.0.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| !v.is_empty())
    }

    /// Removes and returns one filter.
    pub fn take(&mut self, name: &str) -> Vec<String> {
        self.0.remove(name).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(Vec::is_empty)
    }

    /// The current JSON form, to pass on to an engine.
    pub fn to_json(&self) -> String {
        let mut obj = serde_json::Map::new();
        for (k, vals) in &self.0 {
            let m: serde_json::Map<String, Value> = vals
                .iter()
                .map(|v| (v.clone(), Value::Bool(true)))
                .collect();
            obj.insert(k.clone(), Value::Object(m));
        }
        Value::Object(obj).to_string()
    }

    /// Whether `labels` satisfy every `label` filter (`key` or `key=value`).
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels_match_by(|k| labels.get(k).map(String::as_str))
    }

    /// [`Filters::labels_match`] over any label lookup.
    pub fn labels_match_by<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.get("label").iter().all(|f| match f.split_once('=') {
            Some((k, v)) => get(k) == Some(v),
            None => get(f).is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        let a = Filters::parse(r#"{"label":{"a=b":true},"status":{"running":true}}"#).unwrap();
        let b = Filters::parse(r#"{"label":["a=b"],"status":["running"]}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get("status"), ["running"]);
        assert_eq!(Filters::parse(&a.to_json()).unwrap(), a);
        assert!(Filters::parse("nope").is_err());
        assert!(Filters::parse("").unwrap().is_empty());
    }

    #[test]
    fn label_matching() {
        let f = Filters::parse(r#"{"label":["a=b","c"]}"#).unwrap();
        let mut l = BTreeMap::new();
        l.insert("a".to_string(), "b".to_string());
        assert!(!f.labels_match(&l));
        l.insert("c".to_string(), "x".to_string());
        assert!(f.labels_match(&l));
    }
}
