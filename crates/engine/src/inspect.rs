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
use shoal_api_types::CreateBody;

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

/// The time dockerd gives for "never" (a zero Go `time.Time`).
const NEVER: &str = "0001-01-01T00:00:00Z";

/// The record of a container the engine has just created from `body` (the
/// create request as the engine got it) under `id`, before any inspect:
/// what the scheduler and `docker ps` read (name, image, labels, command,
/// CPU and memory reserved, port bindings, exposed ports), state `created`,
/// created `now` (Unix seconds). It is marked not inspected, so the
/// engine's `create` event still brings an inspect when no start (with
/// its own inspect) comes first. What the engine fills in itself (a name
/// it picks, the image ID, the image's default command) shows once that
/// inspect is in.
pub fn record_of_create(
    id: &str,
    name: Option<&str>,
    body: &CreateBody,
    now: i64,
) -> CachedContainer {
    let list = |k: &str| {
        body.read::<Vec<Value>>(k)
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
    };
    // dockerd: the entrypoint's first word is the path, the rest of it and
    // the command its arguments; without an entrypoint, the command's
    let mut words = list("Entrypoint").chain(list("Cmd"));
    let path = words.next();
    let lean = LeanInspect {
        id: id.to_string(),
        name: name.map(|n| format!("/{n}")).unwrap_or_default(),
        path: path.clone(),
        args: Some(
            path.map(|_| words.map(Value::from).collect())
                .unwrap_or_default(),
        ),
        // as dockerd tells a container never started
        state: LeanState {
            status: "created".into(),
            started_at: NEVER.into(),
            finished_at: NEVER.into(),
            ..Default::default()
        },
        config: body.decode().unwrap_or_default(),
        host_config: body.decode_host().and_then(Result::ok).unwrap_or_default(),
        ..Default::default()
    };
    CachedContainer::from_lean(&lean).not_inspected(now)
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

    /// The record of a create body is the record of the inspect dockerd
    /// answers for it (but for what the engine fills in), and it asks for
    /// that inspect.
    #[test]
    fn a_create_body_makes_the_record_its_inspect_will() {
        let labels = json!({"com.docker.swarm.id": "abcdef", "tier": "web"});
        let ports = json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]});
        let body = json!({
            "Image": "busybox", "Cmd": ["1000000"], "Entrypoint": ["sleep"], "Labels": labels,
            "ExposedPorts": {"80/tcp": {}, "443/tcp": {}}, "Env": null,
            "HostConfig": {"NetworkMode": "default", "CpuShares": 512, "Memory": 1048576,
                "NanoCpus": 0, "PortBindings": ports, "Binds": null, "Ulimits": []}
        });
        let inspect = json!({
            "Id": "4f66ad9a0b2e", "Name": "/web", "Created": "2026-11-29T16:00:00Z",
            "Path": "sleep", "Args": ["1000000"], "Image": "",
            "State": {"Status": "created", "Running": false, "Paused": false, "ExitCode": 0,
                "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"},
            "Config": {"Image": "busybox", "Cmd": ["1000000"], "Entrypoint": ["sleep"],
                "Labels": labels, "ExposedPorts": {"80/tcp": {}, "443/tcp": {}}},
            "HostConfig": {"NetworkMode": "default", "CpuShares": 512, "Memory": 1048576,
                "NanoCpus": 0, "PortBindings": ports},
            "NetworkSettings": {"Ports": {}, "Networks": {}}
        });
        let body = CreateBody::from_value(&body).unwrap();
        let r = record_of_create("4f66ad9a0b2e", Some("web"), &body, 1_764_000_000);
        assert!(
            !r.is_inspected(),
            "the engine's create event must still bring an inspect"
        );
        let inspected = record_from_slice(inspect.to_string().as_bytes()).unwrap();
        assert_eq!(r, inspected.clone().not_inspected(1_764_000_000));
        assert_eq!((r.name(), r.state()), ("web", crate::RunState::Created));
        assert_eq!(r.reserved(4), (2, 1_048_576));
        assert_eq!(r.swarm_id(), Some("abcdef"));
        assert_eq!(r.host_ports()[0].host_port, 8080);
        // nothing but an image: no name (the engine picks one), no command
        let bare = CreateBody::from_value(&json!({"Image": "busybox"})).unwrap();
        let bare = record_of_create("b", None, &bare, 0);
        let bare_inspect = json!({"Id": "b", "Name": "", "Config": {"Image": "busybox"},
            "State": {"Status": "created", "StartedAt": NEVER, "FinishedAt": NEVER}});
        let expected = record_from_slice(bare_inspect.to_string().as_bytes()).unwrap();
        assert_eq!(bare, expected.not_inspected(0));
        assert_eq!((bare.name(), bare.reserved(2)), ("", (0, 0)));
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
