//! Containers: the list item (`GET /containers/json`) and the inspect object
//! (`GET /containers/ID/json`), plus the human status text dockerd computes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lenient::null_default;
use crate::units::human_duration;

/// One published port of a container list item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Port {
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    #[serde(rename = "PublicPort", skip_serializing_if = "is_zero")]
    pub public_port: u16,
    #[serde(rename = "Type")]
    pub proto: String,
}

fn is_zero(v: &u16) -> bool {
    *v == 0
}

/// An item of `GET /containers/json`. Fields the manager does not read stay in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerSummary {
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    pub created: i64,
    #[serde(deserialize_with = "null_default")]
    pub ports: Vec<Port>,
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub status: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ContainerSummary {
    /// The first name without its leading slash (`/web` -> `web`).
    pub fn name(&self) -> &str {
        self.names
            .first()
            .map(|n| n.trim_start_matches('/'))
            .unwrap_or("")
    }
}

/// `State` of a container inspect object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerState {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Value::is_null"
    )]
    pub health: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ContainerState {
    /// The human status dockerd shows in `docker ps` ("Up 3 minutes",
    /// "Exited (1) 2 hours ago", ...), computed at `now` (unix seconds).
    pub fn status_text(&self, now: i64) -> String {
        let finished = Some(self.finished_at.as_str())
            .filter(|f| !f.is_empty() && !f.starts_with("0001-"))
            .map(|f| parse_time(f).unwrap_or(0));
        StatusParts {
            status: &self.status,
            running: self.running,
            paused: self.paused,
            health: self
                .health
                .get("Status")
                .and_then(Value::as_str)
                .unwrap_or(""),
            started: parse_time(&self.started_at).unwrap_or(0),
            finished,
            exit_code: self.exit_code,
        }
        .text(now)
    }
}

/// What the human status text of a container is made of: the inspect's
/// `State`, times as unix seconds (`finished` None when it never ran).
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusParts<'a> {
    pub status: &'a str,
    pub running: bool,
    pub paused: bool,
    /// `State.Health.Status`, empty without a health check.
    pub health: &'a str,
    pub started: i64,
    pub finished: Option<i64>,
    pub exit_code: i64,
}

impl StatusParts<'_> {
    /// The text `docker ps` shows, at `now` (unix seconds).
    pub fn text(&self, now: i64) -> String {
        let since = |t: i64| (now - t).max(0);
        match self.status {
            "running" | "paused" if self.running => {
                let mut s = format!("Up {}", human_duration(since(self.started)));
                if self.paused {
                    s.push_str(" (Paused)");
                } else {
                    match self.health {
                        "starting" => s.push_str(" (health: starting)"),
                        "" | "none" => {}
                        other => s.push_str(&format!(" ({other})")),
                    }
                }
                s
            }
            "restarting" => format!(
                "Restarting ({}) {} ago",
                self.exit_code,
                human_duration(since(self.finished.unwrap_or(now)))
            ),
            "removing" => "Removal In Progress".into(),
            "dead" => "Dead".into(),
            "created" => "Created".into(),
            _ => match self.finished {
                None => "Created".into(),
                Some(f) => format!(
                    "Exited ({}) {} ago",
                    self.exit_code,
                    human_duration(since(f))
                ),
            },
        }
    }
}

/// Parses an RFC 3339 time as dockerd writes it, to unix seconds.
pub fn parse_time(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp())
}

/// `Config` of a container inspect object (the parts the manager reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerConfig {
    pub hostname: String,
    pub image: String,
    pub tty: bool,
    #[serde(deserialize_with = "null_default")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_default")]
    pub exposed_ports: BTreeMap<String, Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One host binding of `HostConfig.PortBindings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostPortBinding {
    #[serde(rename = "HostIp")]
    pub host_ip: String,
    #[serde(rename = "HostPort")]
    pub host_port: String,
}

/// `HostConfig` of a container inspect object (the parts the manager reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostConfig {
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub memory: i64,
    pub network_mode: String,
    #[serde(deserialize_with = "null_default")]
    pub port_bindings: BTreeMap<String, Option<Vec<HostPortBinding>>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /containers/ID/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    pub created: String,
    pub name: String,
    pub image: String,
    pub state: ContainerState,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ContainerInspect {
    /// The name without its leading slash.
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// CPUs this container reserves on a node with `ncpu` CPUs: NanoCpus
    /// rounded up, else its CPU shares read back the way classic Swarm
    /// wrote them (`-c N` is N CPUs, sent to the engine as N*1024/ncpu
    /// shares, so shares*ncpu/1024 CPUs, truncated), 0 without either.
    pub fn reserved_cpus(&self, ncpu: i64) -> i64 {
        if self.host_config.nano_cpus > 0 {
            return self.host_config.nano_cpus.saturating_add(999_999_999) / 1_000_000_000;
        }
        self.host_config
            .cpu_shares
            .max(0)
            .saturating_mul(ncpu.max(0))
            / 1024
    }

    /// A container list item built from this inspect object, for a cache
    /// that has no list item yet. `now` is unix seconds.
    pub fn to_summary(&self, now: i64) -> ContainerSummary {
        let created = parse_time(&self.created).unwrap_or(0);
        let mut ports = Vec::new();
        for (key, bindings) in &self.host_config.port_bindings {
            let (port, proto) = split_port_key(key);
            for b in bindings.iter().flatten() {
                ports.push(Port {
                    ip: if b.host_ip.is_empty() {
                        "0.0.0.0".into()
                    } else {
                        b.host_ip.clone()
                    },
                    private_port: port,
                    public_port: b.host_port.parse().unwrap_or(0),
                    proto: proto.clone(),
                });
            }
        }
        let cmd = self
            .extra
            .get("Path")
            .and_then(Value::as_str)
            .map(|p| {
                let args: Vec<&str> = self
                    .extra
                    .get("Args")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                std::iter::once(p).chain(args).collect::<Vec<_>>().join(" ")
            })
            .unwrap_or_default();
        ContainerSummary {
            id: self.id.clone(),
            names: vec![format!("/{}", self.short_name())],
            image: self.config.image.clone(),
            image_id: self.image.clone(),
            command: cmd,
            created,
            ports,
            labels: self.config.labels.clone(),
            state: self.state.status.clone(),
            status: self.state.status_text(now),
            extra: Map::new(),
        }
    }
}

/// `"80/tcp"` -> (80, "tcp"); a key without protocol is tcp.
pub fn split_port_key(key: &str) -> (u16, String) {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    (port.parse().unwrap_or(0), proto.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summary_is_lenient_and_lossless() {
        let v = json!({"Id":"abc","Names":["/web"],"Labels":null,"Ports":null,"Created":5,
                       "Mounts":[],"NetworkSettings":{"Networks":{}},"Unknown":1});
        let s: ContainerSummary = serde_json::from_value(v).unwrap();
        assert_eq!(s.name(), "web");
        assert!(s.labels.is_empty());
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back["Unknown"], 1);
        assert_eq!(back["NetworkSettings"], json!({"Networks":{}}));
    }

    fn state(status: &str, running: bool, paused: bool) -> ContainerState {
        ContainerState {
            status: status.into(),
            running,
            paused,
            exit_code: 2,
            started_at: "2026-11-29T16:00:00.123456789Z".into(),
            finished_at: "2026-11-29T16:10:00Z".into(),
            ..Default::default()
        }
    }

    #[test]
    fn status_text_matches_dockerd() {
        let t0 = parse_time("2026-11-29T16:00:00Z").unwrap();
        assert_eq!(
            state("running", true, false).status_text(t0 + 30),
            "Up 30 seconds"
        );
        assert_eq!(
            state("paused", true, true).status_text(t0 + 1),
            "Up 1 second (Paused)"
        );
        assert_eq!(
            state("exited", false, false).status_text(t0 + 600 + 28),
            "Exited (2) 28 seconds ago"
        );
        assert_eq!(state("created", false, false).status_text(t0), "Created");
        let mut h = state("running", true, false);
        h.health = json!({"Status":"healthy"});
        assert_eq!(h.status_text(t0 + 7200), "Up 2 hours (healthy)");
    }

    #[test]
    fn inspect_gives_reservations_and_summary() {
        let v = json!({"Id":"abc","Name":"/web","Created":"2026-11-29T16:00:00Z",
            "Path":"sleep","Args":["300"],"Image":"sha256:1",
            "State":{"Status":"running","Running":true,"StartedAt":"2026-11-29T16:00:00Z"},
            "Config":{"Image":"busybox","Labels":{"a":"b"}},
            "HostConfig":{"NanoCpus":1500000000,"Memory":1048576,
                          "PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}}});
        let c: ContainerInspect = serde_json::from_value(v).unwrap();
        assert_eq!(c.reserved_cpus(2), 2);
        let s = c.to_summary(parse_time("2026-11-29T16:01:00Z").unwrap());
        assert_eq!(s.names, vec!["/web"]);
        assert_eq!(s.command, "sleep 300");
        assert_eq!(s.status, "Up About a minute");
        assert_eq!(s.ports[0].public_port, 8080);
        assert_eq!(s.ports[0].private_port, 80);
    }
}
