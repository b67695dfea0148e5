//! `GET /info` and `GET /version`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lenient::null_default;

/// `GET /info` (the parts the manager reads; the rest is dropped: the
/// manager keeps one per engine, and answers `docker info` itself).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub containers: i64,
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
    pub driver: String,
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    pub mem_total: i64,
    pub server_version: String,
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub kernel_version: String,
    pub architecture: String,
    #[serde(deserialize_with = "null_default")]
    pub labels: Vec<String>,
    pub cluster_store: String,
    pub cluster_advertise: String,
}

impl Info {
    /// The node labels the scheduler matches constraints on: the engine's
    /// `--label k=v` pairs plus storagedriver, kernelversion,
    /// operatingsystem and ostype.
    pub fn node_labels(&self) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        for l in &self.labels {
            match l.split_once('=') {
                Some((k, v)) => out.insert(k.to_string(), v.to_string()),
                None => out.insert(l.clone(), String::new()),
            };
        }
        out.insert("storagedriver".into(), self.driver.clone());
        out.insert("kernelversion".into(), self.kernel_version.clone());
        out.insert("operatingsystem".into(), self.operating_system.clone());
        out.insert("ostype".into(), self.os_type.clone());
        out
    }
}

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Version {
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
    pub experimental: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_include_standard_ones() {
        let i: Info = serde_json::from_str(
            r#"{"ID":"X","NCPU":2,"MemTotal":5,"Labels":["zone=a","ssd"],"Driver":"overlay2",
                "KernelVersion":"6.1","OperatingSystem":"Debian","OSType":"linux","Odd":[1]}"#,
        )
        .unwrap();
        let l = i.node_labels();
        assert_eq!(l["zone"], "a");
        assert_eq!(l["ssd"], "");
        assert_eq!(l["storagedriver"], "overlay2");
        assert_eq!(l["ostype"], "linux");
    }
}
