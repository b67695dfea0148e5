use serde::{Deserialize, Serialize};

use crate::error::{MachineError, Result};

/// The engine's TCP port on every machine, as docker-machine used it.
pub const ENGINE_PORT: u16 = 2376;
/// The manager's port on a swarm master, as docker-machine used it.
pub const SWARM_PORT: u16 = 3376;
/// etcd's client port on a keystore machine.
pub const KEYSTORE_PORT: u16 = 2379;

/// A `KEY=VALUE` pair from `--engine-opt`, `--engine-label` or `--swarm-opt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl KeyValue {
    /// Parses `KEY=VALUE`; the key must be non-empty and without spaces.
    pub fn parse(flag: &'static str, raw: &str) -> Result<Self> {
        let bad = || MachineError::MalformedOption {
            flag,
            value: raw.to_string(),
        };
        let (key, value) = raw.split_once('=').ok_or_else(bad)?;
        let key = key.trim_start_matches('-');
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(bad());
        }
        Ok(KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}

/// The `--swarm*` flags of `machine create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SwarmConfig {
    pub enabled: bool,
    pub master: bool,
    pub discovery: Option<String>,
    pub strategy: Option<String>,
    pub opts: Vec<KeyValue>,
}

/// What `machine create` decided, kept in `<store>/<name>/config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MachineConfig {
    pub name: String,
    pub driver: String,
    /// Short stable id: names the namespaces, the veth and the lab folders.
    pub id: String,
    pub ip: String,
    pub engine_opts: Vec<KeyValue>,
    pub engine_labels: Vec<KeyValue>,
    pub keystore: Option<String>,
    pub swarm: SwarmConfig,
    /// The engine (and a swarm master's manager) speak TLS with client
    /// certificates from the store's CA (`machine create --tls`).
    #[serde(default)]
    pub tls: bool,
    pub created_at: String,
    /// False until `create` finished: a half-made machine shows as Error.
    pub complete: bool,
}

impl MachineConfig {
    /// A plain machine of the netns driver: no options, no keystore, no
    /// swarm role, not yet complete.
    pub fn new(name: &str, id: &str, ip: &str) -> Self {
        MachineConfig {
            name: name.into(),
            driver: "netns".into(),
            id: id.into(),
            ip: ip.into(),
            engine_opts: vec![],
            engine_labels: vec![],
            keystore: None,
            swarm: SwarmConfig::default(),
            tls: false,
            created_at: String::new(),
            complete: false,
        }
    }

    pub fn netns(&self) -> String {
        format!("shoal-{}-{}", self.name, self.id)
    }

    /// The host end of the machine's veth pair (15 characters at most).
    pub fn veth(&self) -> String {
        format!("shv{}", self.id)
    }

    pub fn engine_url(&self) -> String {
        format!("tcp://{}:{}", self.ip, ENGINE_PORT)
    }

    pub fn swarm_url(&self) -> String {
        format!("tcp://{}:{}", self.ip, SWARM_PORT)
    }

    /// The cgroup parent of the engine's containers, one per machine so that
    /// `rm` can find and remove every process and cgroup it made.
    pub fn cgroup_parent(&self) -> String {
        format!("shoal-{}", self.id)
    }
}

/// Machine names as docker-machine allowed them (they also become hostnames).
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !name.ends_with('-')
        && !name.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(MachineError::InvalidName(name.to_string()))
    }
}

/// A short stable id for a machine: FNV-1a of its store folder and name.
/// (Written by hand: 6 lines, and it must never change between versions,
/// which std's hasher does not promise.)
pub fn machine_id(store_root: &str, name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in store_root.bytes().chain([0]).chain(name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:08x}", (h ^ (h >> 32)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "swarm-master", "node.1", "A9"] {
            validate_name(good).unwrap();
        }
        for bad in ["", "-a", "a b", "a_b", "a/b", "x-", &"a".repeat(41)] {
            assert!(validate_name(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn key_values() {
        let kv = KeyValue::parse("--engine-opt", "cluster-store=etcd://1.2.3.4:2379").unwrap();
        assert_eq!(
            (kv.key.as_str(), kv.value.as_str()),
            ("cluster-store", "etcd://1.2.3.4:2379")
        );
        assert_eq!(
            KeyValue::parse("--engine-opt", "--debug=").unwrap().key,
            "debug"
        );
        let err = KeyValue::parse("--engine-opt", "novalue")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "malformed --engine-opt \"novalue\": expected KEY=VALUE"
        );
        assert!(KeyValue::parse("--engine-label", "=x").is_err());
    }

    #[test]
    fn ids_are_stable_short_and_distinct() {
        let a = machine_id("/root/.shoal/machine", "a");
        assert_eq!(a, machine_id("/root/.shoal/machine", "a"));
        assert_eq!(a.len(), 8);
        assert_ne!(a, machine_id("/root/.shoal/machine", "b"));
        assert_ne!(a, machine_id("/tmp/other", "a"));
        let cfg = MachineConfig {
            complete: true,
            ..MachineConfig::new("a", &a, "10.210.0.2")
        };
        assert!(cfg.veth().len() <= 15);
    }
}
