//! Images: the list item of `GET /images/json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lenient::null_default;

/// An item of `GET /images/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageSummary {
    pub id: String,
    #[serde(rename = "ParentId")]
    pub parent_id: String,
    #[serde(deserialize_with = "null_default")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub repo_digests: Vec<String>,
    pub created: i64,
    pub size: i64,
    pub virtual_size: i64,
    pub shared_size: i64,
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    pub containers: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageSummary {
    /// Whether `name` names this image: a tag (`busybox` = `busybox:latest`,
    /// with or without `docker.io/library/`), a digest, or an ID or ID prefix.
    pub fn matches(&self, name: &str) -> bool {
        let want = normalize_ref(name);
        if self.repo_tags.iter().any(|t| normalize_ref(t) == want) {
            return true;
        }
        if self.repo_digests.iter().any(|d| d == name) {
            return true;
        }
        let id = self.id.trim_start_matches("sha256:");
        let q = name.trim_start_matches("sha256:");
        q.len() >= 4 && q.chars().all(|c| c.is_ascii_hexdigit()) && id.starts_with(q)
    }
}

/// `busybox` -> `busybox:latest`; drops `docker.io/` and `library/`.
pub fn normalize_ref(name: &str) -> String {
    let name = name.strip_prefix("docker.io/").unwrap_or(name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    if name.contains('@') {
        return name.to_string();
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let img = ImageSummary {
            id: "sha256:abcdef0123".into(),
            repo_tags: vec!["busybox:latest".into(), "localhost:5000/x:1".into()],
            ..Default::default()
        };
        assert!(img.matches("busybox"));
        assert!(img.matches("docker.io/library/busybox:latest"));
        assert!(img.matches("localhost:5000/x:1"));
        assert!(!img.matches("localhost:5000/x"));
        assert!(img.matches("abcd"));
        assert!(!img.matches("abc"));
        assert!(!img.matches("alpine"));
    }
}
