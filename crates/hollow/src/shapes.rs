//! The JSON answers, in dockerd 20.10's shapes (field for field where the
//! manager or the docker CLI could read it), built on demand from the
//! compact state so that a hollow container costs little memory.

use serde_json::{json, Map, Value};
use shoal_api_types::units::human_duration;

use crate::container::{Container, RunState};
use crate::engine::Image;
use crate::spec::EngineSpec;

pub const SERVER_VERSION: &str = "20.10.24+dfsg1";
pub const API_VERSION: &str = "1.41";
pub const MIN_API_VERSION: &str = "1.12";
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Unix nanoseconds as dockerd prints times (RFC 3339, nanoseconds, UTC).
pub fn rfc3339(nanos: i64) -> String {
    if nanos <= 0 {
        return ZERO_TIME.to_string();
    }
    chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "6.1.0-hollow".into())
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `GET /info`.
pub fn info(spec: &EngineSpec, counts: (i64, i64, i64, i64), images: i64) -> Value {
    json!({
        "ID": spec.id,
        "Containers": counts.0,
        "ContainersRunning": counts.1,
        "ContainersPaused": counts.2,
        "ContainersStopped": counts.3,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"], ["Native Overlay Diff", "true"], ["userxattr", "false"]],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "ipvlan", "macvlan", "null", "overlay"],
            "Authorization": Value::Null,
            "Log": ["awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file", "local", "logentries", "splunk", "syslog"]
        },
        "MemoryLimit": true,
        "SwapLimit": true,
        "KernelMemory": true,
        "KernelMemoryTCP": true,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "IPv4Forwarding": true,
        "BridgeNfIptables": true,
        "BridgeNfIp6tables": true,
        "Debug": false,
        "NFd": 24,
        "OomKillDisable": true,
        "NGoroutines": 34,
        "SystemTime": rfc3339(crate::engine::now_nanos()),
        "LoggingDriver": "json-file",
        "CgroupDriver": "systemd",
        "CgroupVersion": "2",
        "NEventsListener": 1,
        "KernelVersion": kernel_version(),
        "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
        "OSVersion": "12",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}},
            "Mirrors": []
        },
        "NCPU": spec.ncpu,
        "MemTotal": spec.mem_total,
        "GenericResources": Value::Null,
        "DockerRootDir": "/var/lib/docker",
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": spec.name,
        "Labels": spec.labels,
        "ExperimentalBuild": false,
        "ServerVersion": SERVER_VERSION,
        "ClusterStore": "",
        "ClusterAdvertise": "",
        "Runtimes": {"io.containerd.runc.v2": {"path": "runc"}, "io.containerd.runtime.v1.linux": {"path": "runc"}, "runc": {"path": "runc"}},
        "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": Value::Null},
        "LiveRestoreEnabled": false,
        "Isolation": "",
        "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "1.6.20~ds1-1+b1", "Expected": "1.6.20~ds1-1+b1"},
        "RuncCommit": {"ID": "1.1.5+ds1-1", "Expected": "1.1.5+ds1-1"},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=apparmor", "name=seccomp,profile=default", "name=cgroupns"],
        "Warnings": Value::Null
    })
}

/// `GET /version`.
pub fn version() -> Value {
    let details = json!({"ApiVersion": API_VERSION, "Arch": go_arch(), "BuildTime": "2023-05-03T08:14:37.000000000+00:00",
        "Experimental": "false", "GitCommit": "5d6db84", "GoVersion": "go1.19.8", "KernelVersion": kernel_version(),
        "MinAPIVersion": MIN_API_VERSION, "Os": "linux"});
    json!({
        "Platform": {"Name": ""},
        "Components": [
            {"Name": "Engine", "Version": SERVER_VERSION, "Details": details},
            {"Name": "containerd", "Version": "1.6.20~ds1", "Details": {"GitCommit": "1.6.20~ds1-1+b1"}},
            {"Name": "runc", "Version": "1.1.5+ds1", "Details": {"GitCommit": "1.1.5+ds1-1"}},
            {"Name": "docker-init", "Version": "0.19.0", "Details": {"GitCommit": ""}}
        ],
        "Version": SERVER_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "5d6db84",
        "GoVersion": "go1.19.8",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": "2023-05-03T08:14:37.000000000+00:00"
    })
}

fn labels_object(c: &Container) -> Value {
    let m: Map<String, Value> = c
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    Value::Object(m)
}

fn ip_of(c: &Container) -> String {
    format!("172.17.{}.{}", c.ip_host / 256, c.ip_host % 256)
}

fn mac_of(c: &Container) -> String {
    format!(
        "02:42:ac:11:{:02x}:{:02x}",
        c.ip_host / 256,
        c.ip_host % 256
    )
}

/// The container's bridge endpoint (the same in list and inspect).
fn endpoint(c: &Container, running: bool) -> Value {
    let (ip, gw, mac, prefix) = if running {
        (ip_of(c), "172.17.0.1".to_string(), mac_of(c), 16)
    } else {
        (String::new(), String::new(), String::new(), 0)
    };
    json!({
        "IPAMConfig": Value::Null, "Links": Value::Null, "Aliases": Value::Null,
        "NetworkID": crate::engine::image_digest("bridge"),
        "EndpointID": if running { crate::engine::image_digest(&c.id) } else { String::new() },
        "Gateway": gw, "IPAddress": ip, "IPPrefixLen": prefix,
        "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "MacAddress": mac, "DriverOpts": Value::Null
    })
}

fn network_name(c: &Container) -> &str {
    if c.network_mode == "default" {
        "bridge"
    } else {
        &c.network_mode
    }
}

/// `Ports` of a list item: published bindings while running, else the
/// exposed ports without host side.
fn ports(c: &Container) -> Vec<Value> {
    let mut out = Vec::new();
    let running = c.is_running();
    if let (true, Some(pb)) = (running, c.port_bindings.as_deref()) {
        for (key, list) in pb.as_object().into_iter().flatten() {
            let (port, proto) = shoal_api_types::container::split_port_key(key);
            for b in list.as_array().into_iter().flatten() {
                let host_ip = match b["HostIp"].as_str() {
                    Some("") | None => "0.0.0.0",
                    Some(ip) => ip,
                };
                let public: u16 = b["HostPort"].as_str().unwrap_or("").parse().unwrap_or(0);
                out.push(json!({"IP": host_ip, "PrivatePort": port, "PublicPort": public, "Type": proto}));
            }
        }
    }
    if out.is_empty() {
        for key in &c.exposed_ports {
            let (port, proto) = shoal_api_types::container::split_port_key(key);
            out.push(json!({"PrivatePort": port, "Type": proto}));
        }
    }
    out
}

/// dockerd's human status text (`Up 3 minutes`, `Exited (0) 2 seconds ago`).
pub fn status_text(c: &Container, now_secs: i64) -> String {
    let ago = |nanos: i64| human_duration((now_secs - nanos / 1_000_000_000).max(0));
    match c.state {
        RunState::Running => format!("Up {}", ago(c.started)),
        RunState::Paused => format!("Up {} (Paused)", ago(c.started)),
        RunState::Created => "Created".into(),
        RunState::Exited => format!("Exited ({}) {} ago", c.exit_code, ago(c.finished)),
    }
}

/// An item of `GET /containers/json`.
pub fn container_summary(c: &Container, now_secs: i64) -> Value {
    let mut cmd = c.cmd.join(" ");
    if cmd.is_empty() {
        cmd = "sh".into();
    }
    json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.image,
        "ImageID": c.image_id,
        "Command": cmd,
        "Created": c.created / 1_000_000_000,
        "Ports": ports(c),
        "Labels": labels_object(c),
        "State": c.state.as_str(),
        "Status": status_text(c, now_secs),
        "HostConfig": {"NetworkMode": c.network_mode},
        "NetworkSettings": {"Networks": {network_name(c): endpoint(c, c.is_running())}},
        "Mounts": []
    })
}

/// `GET /containers/{id}/json`, every section dockerd 20.10 fills in.
pub fn container_inspect(c: &Container) -> Value {
    let running = c.is_running();
    let short = &c.id[..12.min(c.id.len())];
    let exposed: Map<String, Value> = c
        .exposed_ports
        .iter()
        .map(|p| (p.clone(), json!({})))
        .collect();
    let port_map: Value = if running {
        c.port_bindings
            .as_deref()
            .cloned()
            .unwrap_or_else(|| json!({}))
    } else {
        json!({})
    };
    json!({
        "Id": c.id,
        "Created": rfc3339(c.created),
        "Path": c.path(),
        "Args": c.args(),
        "State": {
            "Status": c.state.as_str(),
            "Running": running,
            "Paused": c.state == RunState::Paused,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": c.pid,
            "ExitCode": c.exit_code,
            "Error": "",
            "StartedAt": rfc3339(c.started),
            "FinishedAt": rfc3339(c.finished)
        },
        "Image": c.image_id,
        "ResolvConfPath": format!("/var/lib/docker/containers/{}/resolv.conf", c.id),
        "HostnamePath": format!("/var/lib/docker/containers/{}/hostname", c.id),
        "HostsPath": format!("/var/lib/docker/containers/{}/hosts", c.id),
        "LogPath": format!("/var/lib/docker/containers/{}/{}-json.log", c.id, c.id),
        "Name": format!("/{}", c.name),
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "docker-default",
        "ExecIDs": Value::Null,
        "HostConfig": {
            "Binds": Value::Null, "ContainerIDFile": "",
            "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": c.network_mode,
            "PortBindings": c.port_bindings.as_deref().cloned().unwrap_or_else(|| json!({})),
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": Value::Null,
            "CapAdd": Value::Null, "CapDrop": Value::Null, "CgroupnsMode": "private",
            "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": Value::Null,
            "GroupAdd": Value::Null, "IpcMode": "private", "Cgroup": "", "Links": Value::Null,
            "OomScoreAdj": 0, "PidMode": "", "Privileged": false, "PublishAllPorts": false,
            "ReadonlyRootfs": false, "SecurityOpt": Value::Null, "UTSMode": "", "UsernsMode": "",
            "ShmSize": 67108864, "Runtime": "runc", "ConsoleSize": [0, 0], "Isolation": "",
            "CpuShares": c.cpu_shares, "Memory": c.memory, "NanoCpus": c.nano_cpus,
            "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
            "BlkioDeviceReadBps": Value::Null, "BlkioDeviceWriteBps": Value::Null,
            "BlkioDeviceReadIOps": Value::Null, "BlkioDeviceWriteIOps": Value::Null,
            "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
            "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": Value::Null,
            "DeviceRequests": Value::Null, "KernelMemory": 0, "KernelMemoryTCP": 0,
            "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": Value::Null,
            "OomKillDisable": Value::Null, "PidsLimit": Value::Null, "Ulimits": Value::Null,
            "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
            "MaskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
            "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        },
        "GraphDriver": {
            "Data": {
                "LowerDir": format!("/var/lib/docker/overlay2/{}-init/diff", c.id),
                "MergedDir": format!("/var/lib/docker/overlay2/{}/merged", c.id),
                "UpperDir": format!("/var/lib/docker/overlay2/{}/diff", c.id),
                "WorkDir": format!("/var/lib/docker/overlay2/{}/work", c.id)
            },
            "Name": "overlay2"
        },
        "Mounts": [],
        "Config": {
            "Hostname": short,
            "Domainname": "",
            "User": "",
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "ExposedPorts": if exposed.is_empty() { Value::Null } else { Value::Object(exposed) },
            "Tty": c.tty,
            "OpenStdin": c.open_stdin,
            "StdinOnce": false,
            "Env": c.env.iter().cloned().chain(std::iter::once("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string())).collect::<Vec<_>>(),
            "Cmd": c.cmd,
            "Image": c.image,
            "Volumes": Value::Null,
            "WorkingDir": "",
            "Entrypoint": Value::Null,
            "OnBuild": Value::Null,
            "Labels": labels_object(c)
        },
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": if running { crate::engine::image_digest(short) } else { String::new() },
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": port_map,
            "SandboxKey": if running { format!("/var/run/docker/netns/{short}") } else { String::new() },
            "SecondaryIPAddresses": Value::Null,
            "SecondaryIPv6Addresses": Value::Null,
            "EndpointID": if running { crate::engine::image_digest(&c.id) } else { String::new() },
            "Gateway": if running { "172.17.0.1" } else { "" },
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": if running { ip_of(c) } else { String::new() },
            "IPPrefixLen": if running { 16 } else { 0 },
            "IPv6Gateway": "",
            "MacAddress": if running { mac_of(c) } else { String::new() },
            "Networks": {network_name(c): endpoint(c, running)}
        }
    })
}

/// An item of `GET /images/json`.
pub fn image_summary(i: &Image, containers: i64) -> Value {
    let repo = i
        .repo_tags
        .first()
        .and_then(|t| t.rsplit_once(':'))
        .map(|(r, _)| r.to_string())
        .unwrap_or_default();
    json!({
        "Containers": containers,
        "Created": i.created,
        "Id": i.id,
        "Labels": Value::Null,
        "ParentId": "",
        "RepoDigests": [format!("{repo}@sha256:{}", crate::engine::image_digest(&i.id))],
        "RepoTags": i.repo_tags,
        "SharedSize": -1,
        "Size": i.size,
        "VirtualSize": i.size
    })
}

/// `GET /images/{name}/json`.
pub fn image_inspect(i: &Image) -> Value {
    json!({
        "Id": i.id,
        "RepoTags": i.repo_tags,
        "RepoDigests": [],
        "Parent": "",
        "Comment": "",
        "Created": rfc3339(i.created * 1_000_000_000),
        "Container": "",
        "DockerVersion": "20.10.23",
        "Author": "",
        "Config": {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
            "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"], "Image": "", "Volumes": Value::Null, "WorkingDir": "", "Entrypoint": Value::Null,
            "OnBuild": Value::Null, "Labels": Value::Null},
        "Architecture": go_arch(),
        "Os": "linux",
        "Size": i.size,
        "VirtualSize": i.size,
        "GraphDriver": {"Data": {"MergedDir": "", "UpperDir": "", "WorkDir": ""}, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": [format!("sha256:{}", crate::engine::image_digest(&i.repo_tags.join(",")))]},
        "Metadata": {"LastTagTime": ZERO_TIME}
    })
}

/// One network object as `GET /networks` lists it.
pub fn network(name: &str, id: &str, driver: &str, scope: &str, labels: Value) -> Value {
    let config = if driver == "bridge" && name == "bridge" {
        json!([{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}])
    } else if driver == "null" || driver == "host" {
        json!([])
    } else {
        json!([{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}])
    };
    let options = if name == "bridge" {
        json!({"com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            "com.docker.network.bridge.name": "docker0", "com.docker.network.driver.mtu": "1500"})
    } else {
        json!({})
    };
    json!({
        "Name": name,
        "Id": id,
        "Created": rfc3339(crate::engine::now_nanos()),
        "Scope": scope,
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": Value::Null, "Config": config},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": {},
        "Options": options,
        "Labels": if labels.is_null() { json!({}) } else { labels }
    })
}

/// The networks every engine has: bridge, host, none (IDs per engine).
pub fn default_networks(spec: &EngineSpec) -> Vec<Value> {
    [("bridge", "bridge"), ("host", "host"), ("none", "null")]
        .iter()
        .map(|(name, driver)| {
            let id = crate::engine::image_digest(&format!("{}/{name}", spec.id));
            network(name, &id, driver, "local", Value::Null)
        })
        .collect()
}

/// One volume object.
pub fn volume(name: &str, labels: Value) -> Value {
    json!({
        "CreatedAt": rfc3339(crate::engine::now_nanos()),
        "Driver": "local",
        "Labels": labels,
        "Mountpoint": format!("/var/lib/docker/volumes/{name}/_data"),
        "Name": name,
        "Options": Value::Null,
        "Scope": "local"
    })
}
