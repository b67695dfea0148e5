//! The JSON answers, in dockerd 20.10's shapes (field for field where the
//! manager or the docker CLI could read it), built on demand from the
//! compact state so that a hollow container costs little memory.

use std::io::Write;

use chrono::{Datelike, Timelike};
use serde_json::{json, Map, Value};
use shoal_api_types::units::human_duration;

use crate::container::{Container, RunState};
use crate::engine::Image;
use crate::json_text::JsonText;
use crate::spec::EngineSpec;

pub const SERVER_VERSION: &str = "20.10.24+dfsg1";
pub const API_VERSION: &str = "1.41";
pub const MIN_API_VERSION: &str = "1.12";
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Unix nanoseconds as dockerd prints times (RFC 3339, nanoseconds, UTC).
pub fn rfc3339(nanos: i64) -> String {
    let mut b = Vec::with_capacity(30);
    rfc3339_into(&mut b, nanos);
    String::from_utf8(b).unwrap_or_else(|_| ZERO_TIME.to_string())
}

/// [`rfc3339`], appended to `out`.
pub fn rfc3339_into(out: &mut Vec<u8>, nanos: i64) {
    let t = (nanos > 0)
        .then(|| {
            chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
        })
        .flatten();
    match t {
        Some(t) => {
            let _ = write!(
                out,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.nanosecond()
            );
        }
        None => out.extend_from_slice(ZERO_TIME.as_bytes()),
    }
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

/// `GET /containers/{id}/json` as a [`serde_json::Value`] (for tests and
/// measurements; the server sends [`container_inspect_json`]).
pub fn container_inspect(c: &Container) -> Value {
    serde_json::from_slice(&container_inspect_json(c)).unwrap_or(Value::Null)
}

/// The constant members of `HostConfig` after `PortBindings`.
const HOST_CONFIG_REST: &str = concat!(
    r#""RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"#,
    r#""CapAdd":null,"CapDrop":null,"CgroupnsMode":"private","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"#,
    r#""GroupAdd":null,"IpcMode":"private","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"#,
    r#""PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":67108864,"#,
    r#""Runtime":"runc","ConsoleSize":[0,0],"Isolation":"","#,
);

/// The constant members of `HostConfig` after `NanoCpus`.
const HOST_CONFIG_TAIL: &str = concat!(
    r#""CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"#,
    r#""BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"#,
    r#""CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"#,
    r#""KernelMemory":0,"KernelMemoryTCP":0,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"#,
    r#""OomKillDisable":null,"PidsLimit":null,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"#,
    r#""IOMaximumBandwidth":0,"#,
    r#""MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","#,
    r#""/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware"],"#,
    r#""ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"],"#,
);

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `GET /containers/{id}/json`, every section dockerd 20.10 fills in,
/// as JSON text.
pub fn container_inspect_json(c: &Container) -> Vec<u8> {
    let running = c.is_running();
    let short = &c.id[..12.min(c.id.len())];
    let id = c.id.as_str();
    let dir = |w: &mut JsonText, prefix: &str, suffix: &str| {
        w.str_with(|b| {
            b.extend_from_slice(prefix.as_bytes());
            b.extend_from_slice(id.as_bytes());
            b.extend_from_slice(suffix.as_bytes());
        });
    };
    let mut w = JsonText::with_capacity(6 * 1024);
    w.open_object();
    w.key("Id").str(id);
    w.key("Created").str_with(|b| rfc3339_into(b, c.created));
    w.key("Path").str(c.path());
    w.key("Args").strs(c.args().iter().map(String::as_str));
    w.key("State").open_object();
    w.key("Status").str(c.state.as_str());
    w.key("Running").bool(running);
    w.key("Paused").bool(c.state == RunState::Paused);
    w.raw(r#""Restarting":false,"OOMKilled":false,"Dead":false,"#);
    w.key("Pid").int(i64::from(c.pid));
    w.key("ExitCode").int(c.exit_code);
    w.raw(r#""Error":"","#);
    w.key("StartedAt").str_with(|b| rfc3339_into(b, c.started));
    w.key("FinishedAt")
        .str_with(|b| rfc3339_into(b, c.finished));
    w.close_object();
    w.key("Image").str(&c.image_id);
    w.key("ResolvConfPath");
    dir(&mut w, "/var/lib/docker/containers/", "/resolv.conf");
    w.key("HostnamePath");
    dir(&mut w, "/var/lib/docker/containers/", "/hostname");
    w.key("HostsPath");
    dir(&mut w, "/var/lib/docker/containers/", "/hosts");
    w.key("LogPath").str_with(|b| {
        let _ = write!(b, "/var/lib/docker/containers/{id}/{id}-json.log");
    });
    w.key("Name").str_with(|b| {
        b.push(b'/');
        b.extend_from_slice(c.name.as_bytes());
    });
    w.raw(concat!(
        r#""RestartCount":0,"Driver":"overlay2","Platform":"linux","MountLabel":"","ProcessLabel":"","#,
        r#""AppArmorProfile":"docker-default","ExecIDs":null,"#
    ));
    w.key("HostConfig").open_object();
    w.raw(r#""Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{}},"#);
    w.key("NetworkMode").str(&c.network_mode);
    w.key("PortBindings");
    port_bindings(&mut w, c);
    w.raw(HOST_CONFIG_REST);
    w.key("CpuShares").int(c.cpu_shares);
    w.key("Memory").int(c.memory);
    w.key("NanoCpus").int(c.nano_cpus);
    w.raw(HOST_CONFIG_TAIL);
    w.close_object();
    w.key("GraphDriver").open_object();
    w.key("Data").open_object();
    w.key("LowerDir");
    dir(&mut w, "/var/lib/docker/overlay2/", "-init/diff");
    w.key("MergedDir");
    dir(&mut w, "/var/lib/docker/overlay2/", "/merged");
    w.key("UpperDir");
    dir(&mut w, "/var/lib/docker/overlay2/", "/diff");
    w.key("WorkDir");
    dir(&mut w, "/var/lib/docker/overlay2/", "/work");
    w.close_object();
    w.raw(r#""Name":"overlay2","#);
    w.close_object();
    w.raw(r#""Mounts":[],"#);
    w.key("Config").open_object();
    w.key("Hostname").str(short);
    w.raw(r#""Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"#);
    w.key("ExposedPorts");
    if c.exposed_ports.is_empty() {
        w.null();
    } else {
        w.open_object();
        for p in &c.exposed_ports {
            w.key(p).open_object().close_object();
        }
        w.close_object();
    }
    w.key("Tty").bool(c.tty);
    w.key("OpenStdin").bool(c.open_stdin);
    w.raw(r#""StdinOnce":false,"#);
    w.key("Env")
        .strs(c.env.iter().map(String::as_str).chain([DEFAULT_PATH]));
    w.key("Cmd").strs(c.cmd.iter().map(String::as_str));
    w.key("Image").str(&c.image);
    w.raw(r#""Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"#);
    w.key("Labels");
    labels_into(&mut w, c);
    w.close_object();
    w.key("NetworkSettings").open_object();
    w.raw(r#""Bridge":"","#);
    w.key("SandboxID");
    digest_or_empty(&mut w, running.then_some(short));
    w.raw(r#""HairpinMode":false,"LinkLocalIPv6Address":"","LinkLocalIPv6PrefixLen":0,"#);
    w.key("Ports");
    if running {
        port_bindings(&mut w, c);
    } else {
        w.open_object().close_object();
    }
    w.key("SandboxKey");
    if running {
        w.str_with(|b| {
            b.extend_from_slice(b"/var/run/docker/netns/");
            b.extend_from_slice(short.as_bytes());
        });
    } else {
        w.str("");
    }
    w.raw(r#""SecondaryIPAddresses":null,"SecondaryIPv6Addresses":null,"#);
    w.key("EndpointID");
    digest_or_empty(&mut w, running.then_some(id));
    w.key("Gateway")
        .str(if running { "172.17.0.1" } else { "" });
    w.raw(r#""GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"#);
    w.key("IPAddress");
    ip_into(&mut w, c, running);
    w.key("IPPrefixLen").int(if running { 16 } else { 0 });
    w.raw(r#""IPv6Gateway":"","#);
    w.key("MacAddress");
    mac_into(&mut w, c, running);
    w.key("Networks").open_object();
    w.key(network_name(c));
    endpoint_into(&mut w, c, running);
    w.close_object();
    w.close_object();
    w.close_object();
    w.finish()
}

/// `HostConfig.PortBindings` as given, `{}` when none.
fn port_bindings(w: &mut JsonText, c: &Container) {
    match c.port_bindings.as_deref() {
        Some(v) => w.value(v),
        None => w.open_object().close_object(),
    };
}

fn labels_into(w: &mut JsonText, c: &Container) {
    w.open_object();
    for (k, v) in &c.labels {
        w.key(k).str(v);
    }
    w.close_object();
}

/// [`crate::engine::image_digest`] of `of`, or `""`.
fn digest_or_empty(w: &mut JsonText, of: Option<&str>) {
    match of {
        Some(s) => w.str_with(|b| crate::engine::image_digest_into(b, s)),
        None => w.str(""),
    };
}

fn ip_into(w: &mut JsonText, c: &Container, running: bool) {
    if running {
        w.str_with(|b| {
            let _ = write!(b, "172.17.{}.{}", c.ip_host / 256, c.ip_host % 256);
        });
    } else {
        w.str("");
    }
}

fn mac_into(w: &mut JsonText, c: &Container, running: bool) {
    if running {
        w.str_with(|b| {
            let _ = write!(
                b,
                "02:42:ac:11:{:02x}:{:02x}",
                c.ip_host / 256,
                c.ip_host % 256
            );
        });
    } else {
        w.str("");
    }
}

/// The container's bridge endpoint, as [`endpoint`] builds it.
fn endpoint_into(w: &mut JsonText, c: &Container, running: bool) {
    w.open_object();
    w.raw(r#""IPAMConfig":null,"Links":null,"Aliases":null,"#);
    w.key("NetworkID").str(bridge_network_id());
    w.key("EndpointID");
    digest_or_empty(w, running.then_some(c.id.as_str()));
    w.key("Gateway")
        .str(if running { "172.17.0.1" } else { "" });
    w.key("IPAddress");
    ip_into(w, c, running);
    w.key("IPPrefixLen").int(if running { 16 } else { 0 });
    w.raw(r#""IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"#);
    w.key("MacAddress");
    mac_into(w, c, running);
    w.raw(r#""DriverOpts":null,"#);
    w.close_object();
}

/// The `NetworkID` of every container's bridge endpoint.
fn bridge_network_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| crate::engine::image_digest("bridge"))
}

/// One `/events` line (with its newline): `from` (the image) makes it a
/// container event, which also carries the old-style `status`, `id` and
/// `from`; `attributes` writes `Actor.Attributes`.
pub fn event_line(
    kind: &str,
    action: &str,
    id: &str,
    from: Option<&str>,
    time_nano: i64,
    attributes: impl FnOnce(&mut JsonText),
) -> Vec<u8> {
    let mut w = JsonText::with_capacity(320);
    w.open_object();
    if let Some(from) = from {
        w.key("status").str(action);
        w.key("id").str(id);
        w.key("from").str(from);
    }
    w.key("Type").str(kind);
    w.key("Action").str(action);
    w.key("Actor").open_object();
    w.key("ID").str(id);
    w.key("Attributes");
    attributes(&mut w);
    w.close_object();
    w.raw(r#""scope":"local","#);
    w.key("time").int(time_nano / 1_000_000_000);
    w.key("timeNano").int(time_nano);
    w.close_object();
    let mut line = w.finish();
    line.push(b'\n');
    line
}

/// A container event's attributes, by key as dockerd orders them: the
/// container's labels, `image`, `name` and `extra`, a later one winning
/// over a label of the same key.
pub fn container_attributes(w: &mut JsonText, c: &Container, extra: &[(&str, String)]) {
    let mut attrs: Vec<(&str, u8, &str)> = Vec::with_capacity(c.labels.len() + 2 + extra.len());
    attrs.extend(c.labels.iter().map(|(k, v)| (k.as_str(), 3, v.as_str())));
    attrs.push(("image", 2, &c.image));
    attrs.push(("name", 1, &c.name));
    attrs.extend(extra.iter().map(|(k, v)| (*k, 0, v.as_str())));
    attrs.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
    attrs.dedup_by(|later, first| later.0 == first.0);
    w.open_object();
    for (k, _, v) in attrs {
        w.key(k).str(v);
    }
    w.close_object();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Containers in each state, with strings that need escaping.
    fn fixtures() -> Vec<(&'static str, Container)> {
        let base = Container {
            id: "4f1c2b9a7d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8".into(),
            name: "quirky_hopper".into(),
            image: "busybox".into(),
            image_id: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                .into(),
            cmd: vec!["sleep".into(), "1000000".into()],
            env: vec!["A=b \"quoted\"\\".into()],
            labels: vec![
                ("com.docker.swarm.id".into(), "s1".into()),
                ("zone\n".into(), "é✓".into()),
            ],
            tty: false,
            open_stdin: true,
            nano_cpus: 2_000_000_000,
            cpu_shares: 512,
            memory: 1 << 30,
            network_mode: "default".into(),
            port_bindings: Some(Box::new(
                serde_json::json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]}),
            )),
            exposed_ports: vec!["53/udp".into(), "80/tcp".into()],
            created: 1_764_000_000_123_456_789,
            started: 1_764_000_001_000_000_001,
            finished: 0,
            state: RunState::Running,
            exit_code: 0,
            pid: 4242,
            ip_host: 258,
        };
        let created = Container {
            state: RunState::Created,
            started: 0,
            pid: 0,
            port_bindings: None,
            exposed_ports: vec![],
            labels: vec![],
            env: vec![],
            network_mode: "host".into(),
            tty: true,
            ..base.clone()
        };
        let exited = Container {
            state: RunState::Exited,
            finished: 1_764_000_100_000_000_000,
            exit_code: 137,
            pid: 0,
            ..base.clone()
        };
        let paused = Container {
            state: RunState::Paused,
            ..base.clone()
        };
        vec![
            ("running", base),
            ("created", created),
            ("exited", exited),
            ("paused", paused),
        ]
    }

    /// The inspect answers match those the `json!` builder of 4b98ff0
    /// gave for the same containers (`testdata/inspect-*.json`), value
    /// for value.
    #[test]
    fn inspect_as_before() {
        for (name, c) in fixtures() {
            let golden = std::fs::read_to_string(format!(
                "{}/testdata/inspect-{name}.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let golden: Value = serde_json::from_str(&golden).unwrap();
            let text = container_inspect_json(&c);
            let now: Value = serde_json::from_slice(&text)
                .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&text)));
            assert_eq!(now, golden, "{name}");
            let typed: shoal_api_types::ContainerInspect = serde_json::from_slice(&text).unwrap();
            assert_eq!(typed.id, c.id);
            assert_eq!(typed.state.running, c.is_running(), "{name}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), ZERO_TIME);
        assert_eq!(rfc3339(1_000_000_001), "1970-01-01T00:00:01.000000001Z");
        assert_eq!(
            rfc3339(1_764_000_000_123_456_789),
            "2025-11-24T16:00:00.123456789Z"
        );
    }
}
