//! `shoal cni`: a CNI 1.0 plugin (ADD, DEL, CHECK, VERSION) on the same
//! overlay as the Docker driver. The runtime passes the command and the
//! container through `CNI_*` environment variables and the network
//! configuration as JSON on stdin; the result (or a CNI error) goes to
//! stdout.
//!
//! The plugin needs the host's `shoal net-agent` running: it writes its keys
//! on the agent's lease (so they go when the host goes), and the agents keep
//! every host's FDB and neighbour entries current.
//!
//! Configuration (`type` must be `shoal`):
//! ```json
//! {"cniVersion": "1.0.0", "name": "pods", "type": "shoal",
//!  "store": "etcd://10.210.0.2:2379", "prefix": "/shoal/net",
//!  "subnet": "10.88.0.0/24", "vni": 880, "mtu": 1450,
//!  "advertise": "10.210.0.3"}
//! ```
//! `store` is the agents' store: `etcd://`, `zk://hosts/chroot` or
//! `consul://`. `prefix`, `vni` (default: derived from the subnet, as for Docker), `mtu`
//! (default: underlay minus 50, or minus 106 when encrypted), `advertise`
//! (default: the host's first global IPv4 address) and `encrypted` (default
//! false: VXLAN between hosts sealed by the agents, see `crate::tunnel`;
//! the agent opens the tunnel when it sees the membership) are optional.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::dataplane::{bridge_name, veth_names, Dataplane, DEFAULT_VXLAN_PORT};
use crate::ipam::{AddressKind, Ipam};
use crate::kv::Kv;
use crate::layout::{Layout, DEFAULT_PREFIX};
use crate::netlink::{Netlink, PodInterface};
use crate::overlay::Overlay;
use crate::session::Session;
use crate::subnet::{format_mac, mac_for, Subnet};
use crate::NetError;

pub const SPEC_VERSION: &str = "1.0.0";
pub const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

/// A CNI error: printed as JSON on stdout, the plugin exits non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

/// Well-known CNI error codes.
pub mod codes {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENV: u32 = 4;
    pub const IO: u32 = 5;
    pub const DECODE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN: u32 = 11;
    /// Plugin-specific: CHECK found the container's network not as set up.
    pub const DRIFT: u32 = 100;
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>, details: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: details.into(),
        }
    }

    pub fn to_json(&self, version: &str) -> String {
        json!({"cniVersion": version, "code": self.code, "msg": self.msg, "details": self.details})
            .to_string()
    }
}

impl From<NetError> for CniError {
    fn from(e: NetError) -> Self {
        let code = match &e {
            NetError::Invalid { .. } | NetError::VniConflict { .. } => codes::INVALID_CONFIG,
            NetError::Store { .. } | NetError::NoAgent(_) | NetError::Contention { .. } => {
                codes::TRY_AGAIN
            }
            _ => codes::IO,
        };
        CniError::new(code, e.to_string(), "")
    }
}

/// The `CNI_*` environment.
#[derive(Debug, Clone, Default)]
pub struct CniEnv {
    pub command: String,
    pub container_id: String,
    pub netns: String,
    pub ifname: String,
    /// `CNI_ARGS`: `K=V;K=V` (K8S_POD_NAME names the pod in DNS).
    pub args: String,
}

impl CniEnv {
    /// Reads the variables through `get` (`std::env::var` in the binary).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, CniError> {
        let env = CniEnv {
            command: get("CNI_COMMAND").unwrap_or_default(),
            container_id: get("CNI_CONTAINERID").unwrap_or_default(),
            netns: get("CNI_NETNS").unwrap_or_default(),
            ifname: get("CNI_IFNAME").unwrap_or_default(),
            args: get("CNI_ARGS").unwrap_or_default(),
        };
        if env.command.is_empty() {
            return Err(CniError::new(
                codes::INVALID_ENV,
                "CNI_COMMAND is not set",
                "",
            ));
        }
        Ok(env)
    }

    fn require(&self, need_netns: bool) -> Result<(), CniError> {
        let missing = [
            ("CNI_CONTAINERID", self.container_id.is_empty()),
            ("CNI_IFNAME", self.ifname.is_empty()),
            ("CNI_NETNS", need_netns && self.netns.is_empty()),
        ];
        match missing.iter().find(|m| m.1) {
            Some((name, _)) => Err(CniError::new(
                codes::INVALID_ENV,
                format!("{name} is not set"),
                "",
            )),
            None => Ok(()),
        }
    }

    /// The name this attachment gets in DNS: `K8S_POD_NAME` or `NAME` from
    /// CNI_ARGS, if given.
    fn dns_name(&self) -> Option<String> {
        self.args.split(';').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (matches!(k, "K8S_POD_NAME" | "NAME") && !v.is_empty()).then(|| v.to_string())
        })
    }

    fn owner(&self) -> String {
        format!("cni:{}/{}", self.container_id, self.ifname)
    }

    /// A stable ID for the veth names of this attachment.
    fn veth_id(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.owner().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// The network configuration from stdin.
#[derive(Debug, Clone, Deserialize)]
pub struct NetConf {
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub store: String,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub subnet: String,
    #[serde(default)]
    pub vni: Option<u32>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub advertise: Option<Ipv4Addr>,
    #[serde(rename = "vxlanPort", default)]
    pub vxlan_port: Option<u16>,
    /// VXLAN between hosts sealed through the agents' tunnel.
    #[serde(default)]
    pub encrypted: bool,
    #[serde(rename = "prevResult", default)]
    pub prev_result: Option<Value>,
}

/// Opens the store a configuration names.
pub type OpenStore<'a> = &'a (dyn Fn(&str) -> Result<Arc<dyn Kv>, NetError> + Sync);

/// Runs one CNI command; Ok is what to print on stdout (maybe nothing).
pub async fn run(
    env: &CniEnv,
    stdin: &str,
    nl: Arc<dyn Netlink>,
    open: OpenStore<'_>,
) -> Result<String, CniError> {
    if env.command == "VERSION" {
        return Ok(
            json!({"cniVersion": SPEC_VERSION, "supportedVersions": SUPPORTED_VERSIONS})
                .to_string(),
        );
    }
    let conf: NetConf = serde_json::from_str(stdin).map_err(|e| {
        CniError::new(
            codes::DECODE,
            "network configuration on stdin is not valid JSON",
            e.to_string(),
        )
    })?;
    if !conf.cni_version.is_empty() && !SUPPORTED_VERSIONS.contains(&conf.cni_version.as_str()) {
        return Err(CniError::new(
            codes::INCOMPATIBLE_VERSION,
            format!("cniVersion {:?} is not supported", conf.cni_version),
            format!("supported: {}", SUPPORTED_VERSIONS.join(", ")),
        ));
    }
    if conf.kind != "shoal" {
        return Err(CniError::new(
            codes::INVALID_CONFIG,
            format!("type {:?} is not shoal", conf.kind),
            "",
        ));
    }
    let ctx = Context::open(&conf, nl, open, env.command == "DEL").await?;
    match env.command.as_str() {
        "ADD" => {
            env.require(true)?;
            ctx.add(env, &conf).await
        }
        "DEL" => {
            env.require(false)?;
            ctx.del(env).await.map(|_| String::new())
        }
        "CHECK" => {
            env.require(true)?;
            ctx.check(env, &conf).await.map(|_| String::new())
        }
        other => Err(CniError::new(
            codes::INVALID_ENV,
            format!("CNI_COMMAND {other:?} is not ADD, DEL, CHECK or VERSION"),
            "",
        )),
    }
}

struct Context {
    overlay: Overlay,
    ipam: Ipam,
    subnet: Subnet,
    vni: u32,
    version: String,
}

impl Context {
    async fn open(
        conf: &NetConf,
        nl: Arc<dyn Netlink>,
        open: OpenStore<'_>,
        lenient: bool,
    ) -> Result<Context, CniError> {
        let subnet: Subnet = conf.subnet.parse()?;
        if conf.store.is_empty() {
            return Err(CniError::new(
                codes::INVALID_CONFIG,
                "store is not set (etcd://host:port, zk://host:port/chroot or consul://host:port)",
                "",
            ));
        }
        let kv = open(&conf.store)?;
        let host = match conf.advertise {
            Some(a) => a,
            None => nl.first_global_ipv4().await?.ok_or_else(|| {
                CniError::new(
                    codes::INVALID_CONFIG,
                    "no global ipv4 address here: set advertise",
                    "",
                )
            })?,
        };
        let layout = Layout::new(conf.prefix.as_deref().unwrap_or(DEFAULT_PREFIX));
        let lease = match kv.get(&layout.host(host)).await? {
            Some(e) => e.lease,
            // DEL must clean up even without an agent.
            None if lenient => 0,
            None => return Err(NetError::NoAgent(host.to_string()).into()),
        };
        let session = Session::new(kv, layout, host, lease);
        let dp = Dataplane::new(nl, host, conf.vxlan_port.unwrap_or(DEFAULT_VXLAN_PORT));
        Ok(Context {
            ipam: Ipam::new(session.clone()),
            overlay: Overlay::new(session, dp),
            subnet,
            vni: conf.vni.unwrap_or_else(|| subnet.default_vni()),
            version: if conf.cni_version.is_empty() {
                SPEC_VERSION.to_string()
            } else {
                conf.cni_version.clone()
            },
        })
    }

    async fn add(&self, env: &CniEnv, conf: &NetConf) -> Result<String, CniError> {
        let net = self
            .overlay
            .attach_network(self.vni, self.subnet, conf.mtu, conf.encrypted)
            .await?;
        let pool = self
            .ipam
            .request_pool(Some(&self.subnet.to_string()))
            .await?
            .to_string();
        let owner = env.owner();
        let ip = match self.ipam.find_owned(&pool, &owner).await? {
            Some(ip) => ip,
            None => {
                self.ipam
                    .request_address(&pool, None, AddressKind::Endpoint, &owner)
                    .await?
            }
        };
        let mac = mac_for(ip);
        let id = env.veth_id();
        let netns = PathBuf::from(&env.netns);
        let attach = async {
            let peer = self
                .overlay
                .dp
                .add_endpoint(self.vni, &id, mac, net.mtu)
                .await?;
            self.overlay
                .dp
                .netlink()
                .setup_in_netns(
                    &netns,
                    &PodInterface {
                        from: peer,
                        ifname: env.ifname.clone(),
                        mac,
                        address: ip,
                        prefix_len: self.subnet.len,
                        mtu: net.mtu,
                    },
                )
                .await?;
            self.overlay
                .publish_endpoint(self.vni, ip, &format_mac(&mac), &owner)
                .await?;
            if let Some(name) = env.dns_name() {
                self.overlay
                    .publish_name(self.vni, &name, ip, &owner)
                    .await?;
            }
            // Program the peers now; the agent keeps them current after.
            let peers = self.overlay.remote_peers(self.vni, net.encrypted).await?;
            self.overlay
                .dp
                .sync_peers(self.vni, &Default::default(), &peers)
                .await
        };
        if let Err(e) = attach.await {
            let _ = self.overlay.dp.remove_endpoint(&id).await;
            let _ = self.ipam.release_address(&pool, ip).await;
            return Err(e.into());
        }
        let (host_if, _) = veth_names(&id);
        Ok(json!({
            "cniVersion": self.version,
            "interfaces": [
                {"name": host_if},
                {"name": env.ifname, "mac": format_mac(&mac), "sandbox": env.netns},
            ],
            "ips": [{"address": self.subnet.with_len(ip), "interface": 1}],
            "routes": [],
            // The agent answers names on the gateway (see `dns`).
            "dns": {"nameservers": [self.subnet.gateway().to_string()]},
        })
        .to_string())
    }

    async fn del(&self, env: &CniEnv) -> Result<(), CniError> {
        let pool = self.subnet.to_string();
        if let Some(name) = env.dns_name() {
            self.overlay
                .withdraw_name(self.vni, &name, &env.owner())
                .await?;
        }
        if let Some(ip) = self.ipam.find_owned(&pool, &env.owner()).await? {
            self.overlay.withdraw_endpoint(self.vni, ip).await?;
            self.ipam.release_address(&pool, ip).await?;
        }
        self.overlay.dp.remove_endpoint(&env.veth_id()).await?;
        if !env.netns.is_empty() {
            self.overlay
                .dp
                .netlink()
                .delete_in_netns(Path::new(&env.netns), &env.ifname)
                .await?;
        }
        Ok(())
    }

    async fn check(&self, env: &CniEnv, conf: &NetConf) -> Result<(), CniError> {
        let drift = |what: String| CniError::new(codes::DRIFT, what, "");
        let prev = conf
            .prev_result
            .as_ref()
            .ok_or_else(|| CniError::new(codes::INVALID_CONFIG, "CHECK needs prevResult", ""))?;
        let want = prev
            .pointer("/ips/0/address")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                CniError::new(
                    codes::INVALID_CONFIG,
                    "prevResult has no ips[0].address",
                    "",
                )
            })?;
        let (want_ip, _) = crate::subnet::parse_cidr_address(want)?;
        let pool = self.subnet.to_string();
        match self.ipam.find_owned(&pool, &env.owner()).await? {
            Some(ip) if ip == want_ip => {}
            Some(ip) => {
                return Err(drift(format!(
                    "address of {} is {ip} in the store, not {want_ip}",
                    env.owner()
                )))
            }
            None => {
                return Err(drift(format!(
                    "no address allocated to {} in pool {pool}",
                    env.owner()
                )))
            }
        }
        let s = &self.overlay.session;
        let ep = s.kv.get(&s.layout.endpoint(self.vni, want_ip)).await?;
        if ep.is_none() {
            return Err(drift(format!(
                "endpoint {want_ip} is not published in vni {}",
                self.vni
            )));
        }
        let (host_if, _) = veth_names(&env.veth_id());
        let nl = self.overlay.dp.netlink();
        if !nl.link_exists(&host_if).await? {
            return Err(drift(format!("host interface {host_if} is missing")));
        }
        let br = bridge_name(self.vni);
        if nl.link_master(&host_if).await?.as_deref() != Some(br.as_str()) {
            return Err(drift(format!(
                "host interface {host_if} is not on bridge {br}"
            )));
        }
        let Some(state) = nl
            .inspect_in_netns(Path::new(&env.netns), &env.ifname)
            .await?
        else {
            return Err(drift(format!(
                "interface {} is missing in {}",
                env.ifname, env.netns
            )));
        };
        if !state.addresses.contains(&(want_ip, self.subnet.len)) {
            return Err(drift(format!(
                "interface {} in {} lacks address {want}",
                env.ifname, env.netns
            )));
        }
        if state.mac != Some(mac_for(want_ip)) {
            return Err(drift(format!(
                "interface {} in {} has another mac address",
                env.ifname, env.netns
            )));
        }
        if let Some(net) = self.overlay.network(self.vni).await? {
            if state.mtu != net.mtu {
                return Err(drift(format!(
                    "interface {} in {} has mtu {}, not {}",
                    env.ifname, env.netns, state.mtu, net.mtu
                )));
            }
        }
        if !state.up {
            return Err(drift(format!(
                "interface {} in {} is down",
                env.ifname, env.netns
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::kv::MemKv;
    use crate::model::{to_json, HostRecord};
    use crate::netlink::FakeNetlink;

    const HOST: Ipv4Addr = Ipv4Addr::new(10, 210, 0, 3);

    fn conf() -> String {
        json!({"cniVersion": "1.0.0", "name": "pods", "type": "shoal", "store": "etcd://mem:2379",
               "subnet": "10.88.0.0/24", "vni": 880})
        .to_string()
    }

    fn env(cmd: &str, id: &str) -> CniEnv {
        CniEnv::from_vars(|k| {
            Some(
                match k {
                    "CNI_COMMAND" => cmd,
                    "CNI_CONTAINERID" => id,
                    "CNI_NETNS" => "/run/netns/p1",
                    "CNI_IFNAME" => "eth0",
                    "CNI_ARGS" => "IgnoreUnknown=1;K8S_POD_NAME=web-0",
                    _ => return None,
                }
                .to_string(),
            )
        })
        .unwrap()
    }

    async fn setup() -> (MemKv, FakeNetlink) {
        let kv = MemKv::new();
        let lease = kv.grant(Duration::from_secs(10)).await.unwrap();
        let rec = HostRecord {
            address: HOST,
            name: "n2".into(),
            key: None,
            tunnel_port: None,
        };
        kv.put(
            &Layout::new(DEFAULT_PREFIX).host(HOST),
            &to_json(&rec),
            lease,
        )
        .await
        .unwrap();
        (kv, FakeNetlink::new(HOST, 1500))
    }

    async fn call(
        kv: &MemKv,
        nl: &FakeNetlink,
        e: &CniEnv,
        stdin: &str,
    ) -> Result<String, CniError> {
        let kv = kv.clone();
        let open = move |_: &str| -> Result<Arc<dyn Kv>, NetError> { Ok(Arc::new(kv.clone())) };
        run(e, stdin, Arc::new(nl.clone()), &open).await
    }

    #[tokio::test]
    async fn version_needs_no_config() {
        let (kv, nl) = setup().await;
        let out = call(&kv, &nl, &env("VERSION", ""), "").await.unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["cniVersion"], "1.0.0");
        assert!(v["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("1.0.0")));
    }

    #[tokio::test]
    async fn encrypted_in_the_config_points_vxlan_into_the_tunnel() {
        use crate::model::NetworkRecord;
        use crate::netlink::{Call, VxlanSpec};
        let (kv, nl) = setup().await;
        let mut c: Value = serde_json::from_str(&conf()).unwrap();
        c["encrypted"] = json!(true);
        c["vni"] = json!(881);
        c["subnet"] = json!("10.89.0.0/24");
        let out = call(&kv, &nl, &env("ADD", "c1"), &c.to_string())
            .await
            .unwrap();
        let res: Value = serde_json::from_str(&out).unwrap();
        assert!(res["ips"][0]["address"]
            .as_str()
            .unwrap()
            .starts_with("10.89.0."));
        assert!(nl.calls().contains(&Call::AddVxlan(VxlanSpec {
            name: "svx881".into(),
            vni: 881,
            local: Ipv4Addr::new(100, 82, 0, 3),
            port: 4789,
            mtu: 1394
        })));
        let rec: NetworkRecord = serde_json::from_str(
            &kv.get("/shoal/net/networks/881")
                .await
                .unwrap()
                .unwrap()
                .value,
        )
        .unwrap();
        assert!(rec.encrypted);
        assert_eq!(rec.mtu, 1394);
        // The same network without the flag is refused.
        c["encrypted"] = json!(false);
        let e = call(&kv, &nl, &env("ADD", "c2"), &c.to_string())
            .await
            .unwrap_err();
        assert!(e.msg.contains("encrypted on the other hosts"), "{}", e.msg);
    }

    #[tokio::test]
    async fn add_check_del() {
        let (kv, nl) = setup().await;
        let out = call(&kv, &nl, &env("ADD", "c1"), &conf()).await.unwrap();
        let res: Value = serde_json::from_str(&out).unwrap();
        let addr = res["ips"][0]["address"].as_str().unwrap().to_string();
        assert!(
            addr.starts_with("10.88.0.") && addr.ends_with("/24"),
            "{addr}"
        );
        assert_eq!(res["interfaces"][1]["sandbox"], "/run/netns/p1");
        assert_eq!(res["ips"][0]["interface"], 1);
        assert_eq!(res["dns"]["nameservers"][0], "10.88.0.1");
        assert!(nl.links().contains(&"sbr880".to_string()));
        assert!(kv
            .keys()
            .iter()
            .any(|k| k.starts_with("/shoal/net/endpoints/880/")));
        assert!(
            kv.keys()
                .contains(&"/shoal/net/names/880/web-0".to_string()),
            "{:?}",
            kv.keys()
        );

        // ADD again is idempotent on the address.
        let again = call(&kv, &nl, &env("ADD", "c1"), &conf()).await;
        assert!(again.is_err() || again.unwrap().contains(&addr));

        let mut check_conf: Value = serde_json::from_str(&conf()).unwrap();
        check_conf["prevResult"] = res.clone();
        let check_conf = check_conf.to_string();
        call(&kv, &nl, &env("CHECK", "c1"), &check_conf)
            .await
            .unwrap();

        // Drift: the MTU inside the namespace changed.
        nl.tamper_pod(Path::new("/run/netns/p1"), "eth0", |p| p.mtu = 1500);
        let e = call(&kv, &nl, &env("CHECK", "c1"), &check_conf)
            .await
            .unwrap_err();
        assert_eq!(e.code, codes::DRIFT);
        assert!(e.msg.contains("mtu 1500"), "{}", e.msg);

        call(&kv, &nl, &env("DEL", "c1"), &conf()).await.unwrap();
        assert!(
            !kv.keys().iter().any(|k| k.contains("/ipam/")
                || k.contains("/endpoints/")
                || k.contains("/names/")),
            "{:?}",
            kv.keys()
        );
        // DEL twice is fine; CHECK now reports the missing allocation.
        call(&kv, &nl, &env("DEL", "c1"), &conf()).await.unwrap();
        let e = call(&kv, &nl, &env("CHECK", "c1"), &check_conf)
            .await
            .unwrap_err();
        assert!(e.msg.contains("no address allocated"), "{}", e.msg);
    }

    #[tokio::test]
    async fn add_without_agent_and_bad_input_fail_with_cni_codes() {
        let kv = MemKv::new();
        let nl = FakeNetlink::new(HOST, 1500);
        let e = call(&kv, &nl, &env("ADD", "c1"), &conf())
            .await
            .unwrap_err();
        assert_eq!(e.code, codes::TRY_AGAIN);
        assert!(e.msg.contains("no net-agent"), "{}", e.msg);
        let e = call(&kv, &nl, &env("ADD", "c1"), "{").await.unwrap_err();
        assert_eq!(e.code, codes::DECODE);
        let e = call(
            &kv,
            &nl,
            &env("ADD", "c1"),
            &conf().replace("1.0.0", "9.9.9"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, codes::INCOMPATIBLE_VERSION);
        let e = call(
            &kv,
            &nl,
            &env("ADD", "c1"),
            &conf().replace("10.88.0.0/24", "10.88.0.0"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, codes::INVALID_CONFIG);
        assert!(CniEnv::from_vars(|_| None).is_err());
        let json: Value = serde_json::from_str(&e.to_json("1.0.0")).unwrap();
        assert_eq!(json["code"], 7);
    }
}
