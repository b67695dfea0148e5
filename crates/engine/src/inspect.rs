//! An inspect answer (`GET /containers/ID/json`) decoded straight into
//! what a cache record keeps: only the fields the record reads are typed,
//! everything else is skipped unread. Decoding the whole object into
//! `ContainerInspect`, whose unknown fields go into `serde_json::Value`
//! maps through serde's buffered `flatten`, was a seventh of the manager's
//! CPU at 10,000 nodes (an inspect after every create and every start).
//!
//! `null` reads as missing wherever dockerd sends it. The record is the
//! one [`CachedContainer::from_inspect`] makes of the same answer (a test
//! holds them equal).

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use crate::cache::CachedContainer;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct LeanInspect {
    pub(crate) id: String,
    pub(crate) created: String,
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) path: Option<String>,
    pub(crate) args: Option<Vec<Value>>,
    pub(crate) state: LeanState,
    pub(crate) config: LeanConfig,
    pub(crate) host_config: LeanHostConfig,
    pub(crate) network_settings: Option<LeanNetworkSettings>,
    pub(crate) mounts: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct LeanState {
    pub(crate) status: String,
    pub(crate) running: bool,
    pub(crate) paused: bool,
    pub(crate) exit_code: i64,
    pub(crate) started_at: String,
    pub(crate) finished_at: String,
    pub(crate) health: Option<LeanHealth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct LeanHealth {
    pub(crate) status: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct LeanConfig {
    pub(crate) image: String,
    pub(crate) labels: Option<BTreeMap<String, String>>,
    pub(crate) exposed_ports: Option<BTreeMap<String, IgnoredAny>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct LeanHostConfig {
    pub(crate) nano_cpus: i64,
    pub(crate) cpu_shares: i64,
    pub(crate) memory: i64,
    pub(crate) network_mode: String,
    pub(crate) port_bindings: Option<BTreeMap<String, Option<Vec<LeanBinding>>>>,
}

/// A host port binding (`HostConfig.PortBindings` or
/// `NetworkSettings.Ports`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LeanBinding {
    #[serde(rename = "HostIp")]
    pub(crate) host_ip: Option<Value>,
    #[serde(rename = "HostPort")]
    pub(crate) host_port: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct LeanNetworkSettings {
    pub(crate) ports: Option<BTreeMap<String, Option<Vec<LeanBinding>>>>,
    pub(crate) networks: Option<BTreeMap<String, Option<LeanEndpoint>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LeanEndpoint {
    #[serde(rename = "NetworkID")]
    pub(crate) network_id: Option<Value>,
    #[serde(rename = "Gateway")]
    pub(crate) gateway: Option<Value>,
    #[serde(rename = "IPAddress")]
    pub(crate) ip_address: Option<Value>,
    #[serde(rename = "IPPrefixLen")]
    pub(crate) ip_prefix_len: Option<Value>,
}

/// A string field as `Value::as_str` reads it ("" for anything else).
pub(crate) fn text(v: &Option<Value>) -> &str {
    v.as_ref().and_then(Value::as_str).unwrap_or("")
}

/// Decodes an inspect answer into a cache record.
pub fn record_from_slice(bytes: &[u8]) -> Result<CachedContainer, serde_json::Error> {
    let lean: LeanInspect = serde_json::from_slice(bytes)?;
    Ok(CachedContainer::from_lean(&lean))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shoal_api_types::ContainerInspect;

    /// A dockerd 20.10 inspect, trimmed of nothing the record reads.
    fn dockerd_like() -> Value {
        serde_json::from_str(
            r#"{
            "Id": "4f66ad9a0b2e", "Created": "2026-11-29T16:00:00.123456789Z",
            "Path": "sleep", "Args": ["1000000"],
            "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false,
            "OOMKilled": false, "Dead": false, "Pid": 4242, "ExitCode": 0, "Error": "",
            "StartedAt": "2026-11-29T16:00:01.5Z", "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {"Status": "healthy", "FailingStreak": 0, "Log": []}},
            "Image": "sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a",
            "ResolvConfPath": "/var/lib/docker/containers/x/resolv.conf", "Name": "/web",
            "RestartCount": 0, "Driver": "overlay2", "Platform": "linux", "MountLabel": "",
            "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": null,
            "HostConfig": {"Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "443/tcp": null},
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": false,
            "CpuShares": 512, "Memory": 1048576, "NanoCpus": 0, "CgroupParent": "",
            "BlkioWeight": 0, "BlkioWeightDevice": [], "Devices": [], "Ulimits": null,
            "MaskedPaths": ["/proc/asound"], "ReadonlyPaths": ["/proc/bus"]},
            "GraphDriver": {"Data": {"LowerDir": "/a", "MergedDir": "/b"}, "Name": "overlay2"},
            "Mounts": [{"Type": "volume", "Name": "v", "Source": "/var/lib/docker/volumes/v/_data",
            "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""}],
            "Config": {"Hostname": "4f66ad9a0b2e", "Domainname": "", "User": "", "AttachStdin": false,
            "Tty": false, "OpenStdin": false, "Env": ["PATH=/usr/bin"], "Cmd": ["sleep", "1000000"],
            "Image": "busybox", "Volumes": null, "WorkingDir": "", "Entrypoint": null, "OnBuild": null,
            "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
            "Labels": {"com.docker.swarm.id": "abcdef", "tier": "web"}},
            "NetworkSettings": {"Bridge": "", "SandboxID": "5c2c", "HairpinMode": false,
            "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "443/tcp": null},
            "SandboxKey": "/var/run/docker/netns/5c2c", "SecondaryIPAddresses": null,
            "EndpointID": "e1", "Gateway": "172.17.0.1", "IPAddress": "172.17.0.2", "IPPrefixLen": 16,
            "MacAddress": "02:42:ac:11:00:02",
            "Networks": {"bridge": {"IPAMConfig": null, "Links": null, "Aliases": null,
            "NetworkID": "n1", "EndpointID": "e1", "Gateway": "172.17.0.1",
            "IPAddress": "172.17.0.2", "IPPrefixLen": 16, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": "02:42:ac:11:00:02", "DriverOpts": null},
            "other": {"NetworkID": "n2", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0}}}
            }"#,
        )
        .unwrap()
    }

    fn both(v: &Value) -> (CachedContainer, CachedContainer) {
        let bytes = serde_json::to_vec(v).unwrap();
        let full: ContainerInspect = serde_json::from_slice(&bytes).unwrap();
        (
            record_from_slice(&bytes).unwrap(),
            CachedContainer::from_inspect(&full),
        )
    }

    #[test]
    fn the_lean_record_is_the_full_one() {
        let (lean, full) = both(&dockerd_like());
        assert_eq!(lean, full);
        assert_eq!(lean.host_ports().len(), 3, "'' and 0.0.0.0 and :: of 8080");
        assert_eq!(lean.reserved(4), (2, 1_048_576));
        assert_eq!(lean.health(), "healthy");
    }

    /// Nulls, missing objects, odd shapes dockerd may send.
    #[test]
    fn nulls_and_missing_parts_read_the_same() {
        let variants = [
            json!({"Id": "a", "Name": "/a"}),
            json!({"Id": "a", "Name": "/a", "Config": {"Labels": null, "ExposedPorts": null},
                   "HostConfig": {"PortBindings": null}, "NetworkSettings": null, "Mounts": null,
                   "Path": null, "Args": null}),
            json!({"Id": "a", "Name": "/a", "NetworkSettings": {"Ports": null, "Networks": null},
                   "State": {"Status": "exited", "ExitCode": 137, "FinishedAt": "2026-11-29T16:00:00Z",
                             "Health": null}, "Mounts": []}),
            json!({"Id": "a", "Name": "/a", "State": {"Status": "paused", "Running": true, "Paused": true},
                   "NetworkSettings": {"Networks": {"host": {"IPAddress": "not an ip", "IPPrefixLen": 300}},
                                       "Ports": {"53/udp": [{"HostIp": "", "HostPort": ""}]}},
                   "HostConfig": {"NanoCpus": 1500000000, "NetworkMode": "host"},
                   "Path": "/bin/sh", "Args": ["-c", "echo hi"]}),
        ];
        for v in variants {
            let (lean, full) = both(&v);
            assert_eq!(lean, full, "{v}");
        }
    }
}
