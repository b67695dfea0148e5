//! The per-host agent: registers the host under a lease and keeps it alive,
//! answers Docker's network and IPAM driver calls, and keeps the FDB and
//! neighbour entries of every network this host is in equal to the store.
//!
//! Local state (Docker network ID -> VNI, endpoints) is also written to a
//! state file so an agent restarted under a running engine knows its
//! networks again; the store keys it held are adopted onto the new lease.
//!
//! While this host is in an encrypted network the agent also runs the
//! tunnel (`crate::tunnel`): its key pair is made at start, its public key
//! goes into the host record, and the tunnel's peers follow the host
//! records in the store.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::dataplane::{veth_names, Dataplane, Peer};
use crate::engine::EngineClient;
use crate::ipam::{AddressKind, Ipam};
use crate::layout::last_segment;
use crate::model::{to_json, Allocation, EndpointRecord, HostRecord, NameRecord};
use crate::overlay::Overlay;
use crate::plugin::api::*;
use crate::session::Session;
use crate::subnet::{format_mac, mac_for, parse_cidr_address, parse_mac, Subnet};
use crate::tunnel::seal::{decode_public, KeyPair};
use crate::tunnel::{
    inner_address, Tunnel, TunnelPeer, DEFAULT_TUNNEL_PORT, INNER_PREFIX_LEN, TUNNEL_DEVICE,
    TUNNEL_OVERHEAD,
};
use crate::NetError;

/// A Docker network this engine has.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LocalNetwork {
    pub vni: u32,
    pub subnet: String,
    pub mtu: u32,
    #[serde(default)]
    pub encrypted: bool,
}

/// A Docker endpoint on this engine.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LocalEndpoint {
    pub network: String,
    pub vni: u32,
    pub ip: Ipv4Addr,
    pub mac: String,
    /// The container's name, once the engine told it.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LocalState {
    pub networks: BTreeMap<String, LocalNetwork>,
    pub endpoints: BTreeMap<String, LocalEndpoint>,
}

pub struct AgentConfig {
    pub name: String,
    pub ttl: Duration,
    /// Overrides the MTU derived from the underlay.
    pub mtu: Option<u32>,
    pub state_file: Option<PathBuf>,
    /// The local engine, asked for container names (None: no names).
    pub engine: Option<EngineClient>,
    /// UDP port of the encryption tunnel (0: any free port, for tests).
    pub tunnel_port: u16,
}

pub struct Agent {
    overlay: Overlay,
    ipam: Ipam,
    config: AgentConfig,
    state: Mutex<LocalState>,
    /// What is programmed per VNI; also serialises device changes between
    /// the reconcile loop and driver calls.
    programmed: Mutex<BTreeMap<u32, BTreeMap<Ipv4Addr, Peer>>>,
    /// This run's key pair (public half in the host record).
    keys: Arc<KeyPair>,
    /// Runs while this host is in an encrypted network.
    tunnel: Mutex<Option<Tunnel>>,
}

impl Agent {
    /// Registers the host (a new lease), adopts the keys a previous run of
    /// this host held, recreates the devices of known networks.
    pub async fn start(
        session: Session,
        dp: Dataplane,
        config: AgentConfig,
    ) -> Result<Arc<Agent>, NetError> {
        let state = match &config.state_file {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| NetError::io(p.display().to_string(), e))?;
                serde_json::from_str(&text).map_err(|e| NetError::io(p.display().to_string(), e))?
            }
            _ => LocalState::default(),
        };
        let agent = Arc::new(Agent {
            ipam: Ipam::new(session.clone()),
            overlay: Overlay::new(session, dp),
            config,
            state: Mutex::new(state),
            programmed: Mutex::new(BTreeMap::new()),
            keys: Arc::new(KeyPair::generate()),
            tunnel: Mutex::new(None),
        });
        agent.register().await?;
        let state = agent.state.lock().await.clone();
        for net in state.networks.values() {
            agent
                .overlay
                .attach_network(net.vni, net.subnet.parse()?, Some(net.mtu), net.encrypted)
                .await?;
        }
        for (id, ep) in &state.endpoints {
            // Keys that expired while no agent ran: claim the address again
            // (unless someone else got it meanwhile) and republish.
            if let Some(net) = state.networks.get(&ep.network) {
                agent.ipam.request_pool(Some(&net.subnet)).await?;
                if let Err(e) = agent
                    .ipam
                    .request_address(&net.subnet, Some(ep.ip), AddressKind::Endpoint, "")
                    .await
                {
                    tracing::warn!("endpoint {id}: reclaiming {}: {e}", ep.ip);
                }
            }
            agent
                .overlay
                .publish_endpoint(ep.vni, ep.ip, &ep.mac, id)
                .await?;
            if let Some(name) = &ep.name {
                agent.publish_name(ep.vni, name, ep.ip, id).await?;
            }
        }
        agent.refresh_tunnel().await?;
        Ok(agent)
    }

    pub fn session(&self) -> &Session {
        &self.overlay.session
    }

    /// A new lease, the host record on it, and every key of this host moved
    /// onto it.
    async fn register(&self) -> Result<(), NetError> {
        let s = self.session();
        let lease = s.kv.grant(self.config.ttl).await?;
        s.set_lease(lease);
        let rec = HostRecord {
            address: s.host,
            name: self.config.name.clone(),
            key: Some(self.keys.public_base64()),
            tunnel_port: Some(self.config.tunnel_port),
        };
        s.kv.put(&s.layout.host(s.host), &to_json(&rec), lease)
            .await?;
        self.adopt().await
    }

    async fn adopt(&self) -> Result<(), NetError> {
        let s = self.session();
        let lease = s.lease();
        let me = s.host.to_string();
        let (all, _) = s.kv.list(&s.layout.root()).await?;
        for e in all {
            if e.lease == 0 || e.lease == lease {
                continue;
            }
            let by_key = (e.key.starts_with(&s.layout.all_members())
                || e.key.contains("/pool-users/"))
                && last_segment(&e.key) == me;
            let by_value = serde_json::from_str::<EndpointRecord>(&e.value)
                .map(|r| r.host == s.host)
                .unwrap_or(false)
                || serde_json::from_str::<Allocation>(&e.value)
                    .map(|a| a.host == s.host)
                    .unwrap_or(false);
            if by_key || by_value {
                s.kv.compare_and_swap(&e.key, e.mod_revision, &e.value, lease)
                    .await?;
            }
        }
        Ok(())
    }

    /// Renews the lease every third of its TTL; registers anew if it ever
    /// expired (the store was unreachable too long).
    pub async fn keep_alive_loop(self: Arc<Self>) {
        let every = self.config.ttl / 3;
        loop {
            tokio::time::sleep(every).await;
            let s = self.session();
            match s.kv.keep_alive(s.lease()).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("lease {} expired: registering again", s.lease());
                    if let Err(e) = self.register().await {
                        tracing::warn!("registering again: {e}");
                    }
                }
                Err(e) => tracing::warn!("keeping the lease alive: {e}"),
            }
        }
    }

    /// Keeps the FDB and neighbour entries equal to the store: on every
    /// change under the prefix, and every few seconds anyway.
    pub async fn reconcile_loop(self: Arc<Self>) {
        loop {
            let s = self.session();
            let rev = match s.kv.list(&s.layout.hosts()).await {
                Ok((_, rev)) => rev,
                Err(e) => {
                    tracing::warn!("reading the store: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = self.reconcile().await {
                tracing::warn!("programming peers: {e}");
            }
            if let Err(e) =
                s.kv.wait_change(&s.layout.root(), rev, Duration::from_secs(5))
                    .await
            {
                tracing::debug!("watching the store: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// One pass of peer programming.
    pub async fn reconcile(&self) -> Result<(), NetError> {
        let mut programmed = self.programmed.lock().await;
        let vnis = self.overlay.member_vnis().await?;
        programmed.retain(|vni, _| vnis.contains(vni));
        let mut nets = Vec::new();
        for vni in vnis {
            if let Some(net) = self.overlay.network(vni).await? {
                nets.push(net);
            }
        }
        self.sync_tunnel(nets.iter().any(|n| n.encrypted)).await?;
        for net in nets {
            let vni = net.vni;
            let gateway = net
                .subnet
                .parse::<Subnet>()
                .ok()
                .map(|s| (s.gateway(), s.len));
            self.overlay
                .dp
                .ensure_network(vni, net.mtu, gateway, net.encrypted)
                .await?;
            let desired = self.overlay.remote_peers(vni, net.encrypted).await?;
            let current = programmed.get(&vni).cloned().unwrap_or_default();
            let now = self.overlay.dp.sync_peers(vni, &current, &desired).await?;
            programmed.insert(vni, now);
        }
        Ok(())
    }

    /// Runs the tunnel if this host is in an encrypted network (by the
    /// store), closes it otherwise.
    async fn refresh_tunnel(&self) -> Result<(), NetError> {
        let wanted = self.overlay.in_encrypted_network().await?;
        self.sync_tunnel(wanted).await
    }

    /// Opens the tunnel (TUN device with this host's inner address, UDP
    /// socket) when `wanted` and not running, closes it (device gone) when
    /// not wanted; a running tunnel gets the peers of the host records.
    async fn sync_tunnel(&self, wanted: bool) -> Result<(), NetError> {
        let mut slot = self.tunnel.lock().await;
        if !wanted {
            if let Some(t) = slot.take() {
                t.close().await;
                tracing::info!("no encrypted network left: tunnel closed");
            }
            return Ok(());
        }
        if slot.is_none() {
            let s = self.session();
            let dp = &self.overlay.dp;
            let mtu = dp.underlay_mtu().await?.saturating_sub(TUNNEL_OVERHEAD);
            let inner = inner_address(s.host);
            let dev = dp
                .netlink()
                .open_tun(TUNNEL_DEVICE, inner, INNER_PREFIX_LEN, mtu)
                .await?;
            let bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.config.tunnel_port));
            let socket_err = |e: std::io::Error| NetError::io(format!("tunnel socket {bind}"), e);
            let socket = std::net::UdpSocket::bind(bind).map_err(socket_err)?;
            crate::tunnel::enlarge_buffers(&socket).map_err(socket_err)?;
            let tunnel =
                Tunnel::start(dev, socket, self.keys.clone(), s.host).map_err(socket_err)?;
            *slot = Some(tunnel);
            tracing::info!(%inner, mtu, port = self.config.tunnel_port, "tunnel of encrypted networks open");
        }
        let peers = self.tunnel_peers().await?;
        if let Some(t) = slot.as_ref() {
            t.set_peers(&peers);
        }
        Ok(())
    }

    /// Every other host whose record has a usable public key.
    async fn tunnel_peers(&self) -> Result<Vec<TunnelPeer>, NetError> {
        let s = self.session();
        let (hosts, _) = s.kv.list(&s.layout.hosts()).await?;
        Ok(hosts
            .iter()
            .filter_map(|e| serde_json::from_str::<HostRecord>(&e.value).ok())
            .filter(|h| h.address != s.host)
            .filter_map(|h| {
                let key = decode_public(h.key.as_deref()?)
                    .map_err(|e| tracing::warn!(host = %h.address, "{e}"))
                    .ok()?;
                Some(TunnelPeer {
                    host: h.address,
                    port: h.tunnel_port.unwrap_or(DEFAULT_TUNNEL_PORT),
                    key,
                })
            })
            .collect())
    }

    /// The hosts the tunnel has links to (None: no tunnel running).
    pub async fn tunnel_hosts(&self) -> Option<Vec<Ipv4Addr>> {
        self.tunnel.lock().await.as_ref().map(Tunnel::peers)
    }

    async fn save(&self, state: &LocalState) -> Result<(), NetError> {
        let Some(path) = &self.config.state_file else {
            return Ok(());
        };
        let p = path.display().to_string();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| NetError::io(dir.display().to_string(), e))?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, to_json(state)).map_err(|e| NetError::io(&p, e))?;
        std::fs::rename(&tmp, path).map_err(|e| NetError::io(&p, e))
    }

    pub async fn local_state(&self) -> LocalState {
        self.state.lock().await.clone()
    }

    // ---- network driver ----

    pub async fn create_network(&self, req: CreateNetworkRequest) -> Result<(), NetError> {
        if req.ipv6_data.as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(NetError::invalid(
                "network",
                &req.network_id,
                "ipv6 is not supported",
            ));
        }
        let pool = req
            .ipv4_data
            .as_ref()
            .and_then(|v| v.first())
            .map(|d| d.pool.clone())
            .ok_or_else(|| NetError::invalid("network", &req.network_id, "no ipv4 pool"))?;
        let subnet: Subnet = pool.parse()?;
        let vni = match req
            .generic_option("vni")
            .or_else(|| req.generic_option("shoal.vni"))
        {
            Some(v) => v
                .parse()
                .map_err(|_| NetError::invalid("option vni", v.clone(), "not a number"))?,
            None => subnet.default_vni(),
        };
        let mtu = match req
            .generic_option("mtu")
            .or_else(|| req.generic_option("com.docker.network.driver.mtu"))
        {
            Some(v) => Some(
                v.parse()
                    .map_err(|_| NetError::invalid("option mtu", v.clone(), "not a number"))?,
            ),
            None => self.config.mtu,
        };
        let encrypted = match req.generic_option("encrypted") {
            None => false,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "" | "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(NetError::invalid(
                        "option encrypted",
                        v,
                        "give it without a value, or true/false",
                    ))
                }
            },
        };
        let _guard = self.programmed.lock().await;
        let rec = self
            .overlay
            .attach_network(vni, subnet, mtu, encrypted)
            .await?;
        if rec.encrypted {
            if let Err(e) = self.sync_tunnel(true).await {
                // Docker will not delete a network whose creation failed:
                // leave nothing behind.
                if !self
                    .state
                    .lock()
                    .await
                    .networks
                    .values()
                    .any(|n| n.vni == vni)
                {
                    self.overlay.detach_network(vni).await?;
                }
                return Err(e);
            }
        }
        let mut state = self.state.lock().await;
        state.networks.insert(
            req.network_id.clone(),
            LocalNetwork {
                vni,
                subnet: rec.subnet,
                mtu: rec.mtu,
                encrypted: rec.encrypted,
            },
        );
        self.save(&state).await?;
        tracing::info!(network = %req.network_id, vni, subnet = %subnet, encrypted, "network created");
        Ok(())
    }

    pub async fn delete_network(&self, req: NetworkRequest) -> Result<(), NetError> {
        let mut programmed = self.programmed.lock().await;
        let mut state = self.state.lock().await;
        let Some(net) = state.networks.remove(&req.network_id) else {
            return Ok(());
        };
        let endpoints: Vec<String> = state
            .endpoints
            .iter()
            .filter(|(_, e)| e.network == req.network_id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in endpoints {
            if let Some(ep) = state.endpoints.remove(&id) {
                self.overlay.withdraw_endpoint(ep.vni, ep.ip).await?;
                self.overlay.dp.remove_endpoint(&id).await?;
            }
        }
        if !state.networks.values().any(|n| n.vni == net.vni) {
            self.overlay.detach_network(net.vni).await?;
            programmed.remove(&net.vni);
            if net.encrypted {
                self.refresh_tunnel().await?;
            }
        }
        self.save(&state).await?;
        tracing::info!(network = %req.network_id, vni = net.vni, "network deleted");
        Ok(())
    }

    pub async fn create_endpoint(
        &self,
        req: CreateEndpointRequest,
    ) -> Result<CreateEndpointResponse, NetError> {
        let mut state = self.state.lock().await;
        let net = state
            .networks
            .get(&req.network_id)
            .cloned()
            .ok_or_else(|| NetError::UnknownNetwork(req.network_id.clone()))?;
        let iface = req.interface.unwrap_or_default();
        if iface.address.is_empty() {
            return Err(NetError::invalid(
                "endpoint",
                &req.endpoint_id,
                "no ipv4 address (use --ipam-driver shoal)",
            ));
        }
        let (ip, _) = parse_cidr_address(&iface.address)?;
        let (mac, generated) = if iface.mac_address.is_empty() {
            (format_mac(&mac_for(ip)), true)
        } else {
            (format_mac(&parse_mac(&iface.mac_address)?), false)
        };
        self.overlay
            .publish_endpoint(net.vni, ip, &mac, &req.endpoint_id)
            .await?;
        state.endpoints.insert(
            req.endpoint_id.clone(),
            LocalEndpoint {
                network: req.network_id,
                vni: net.vni,
                ip,
                mac: mac.clone(),
                name: None,
            },
        );
        self.save(&state).await?;
        Ok(CreateEndpointResponse {
            interface: generated.then(|| EndpointInterface {
                mac_address: mac,
                ..Default::default()
            }),
        })
    }

    pub async fn delete_endpoint(&self, req: EndpointRequest) -> Result<(), NetError> {
        let mut state = self.state.lock().await;
        if let Some(ep) = state.endpoints.remove(&req.endpoint_id) {
            self.overlay.withdraw_endpoint(ep.vni, ep.ip).await?;
            if let Some(name) = &ep.name {
                self.withdraw_name(ep.vni, name, &req.endpoint_id).await?;
            }
        }
        self.overlay.dp.remove_endpoint(&req.endpoint_id).await?;
        self.save(&state).await
    }

    pub async fn join(self: &Arc<Self>, req: JoinRequest) -> Result<JoinResponse, NetError> {
        let state = self.state.lock().await;
        let ep = state
            .endpoints
            .get(&req.endpoint_id)
            .ok_or_else(|| NetError::UnknownEndpoint(req.endpoint_id.clone()))?;
        let net = state
            .networks
            .get(&ep.network)
            .ok_or_else(|| NetError::UnknownNetwork(ep.network.clone()))?;
        let src = self
            .overlay
            .dp
            .add_endpoint(net.vni, &req.endpoint_id, parse_mac(&ep.mac)?, net.mtu)
            .await?;
        if self.config.engine.is_some() && ep.name.is_none() {
            tokio::spawn(
                self.clone()
                    .learn_name(ep.network.clone(), req.endpoint_id.clone()),
            );
        }
        Ok(JoinResponse {
            interface_name: InterfaceName {
                src_name: src,
                dst_prefix: "eth".into(),
            },
            gateway: String::new(),
            disable_gateway_service: true,
        })
    }

    pub async fn leave(&self, req: EndpointRequest) -> Result<(), NetError> {
        self.overlay.dp.remove_endpoint(&req.endpoint_id).await
    }

    // ---- names ----

    async fn publish_name(
        &self,
        vni: u32,
        name: &str,
        ip: Ipv4Addr,
        endpoint: &str,
    ) -> Result<(), NetError> {
        self.overlay.publish_name(vni, name, ip, endpoint).await
    }

    async fn withdraw_name(&self, vni: u32, name: &str, endpoint: &str) -> Result<(), NetError> {
        self.overlay.withdraw_name(vni, name, endpoint).await
    }

    /// Asks the engine for the name of the container on `endpoint` (it
    /// lists it once the join completes) and publishes it.
    async fn learn_name(self: Arc<Self>, network: String, endpoint: String) {
        let Some(engine) = self.config.engine.clone() else {
            return;
        };
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let name = match engine.endpoint_name(&network, &endpoint).await {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!("asking the engine for endpoint {endpoint}: {e}");
                    continue;
                }
            };
            let mut state = self.state.lock().await;
            let Some(ep) = state.endpoints.get_mut(&endpoint) else {
                return;
            };
            ep.name = Some(name.clone());
            let (vni, ip) = (ep.vni, ep.ip);
            if let Err(e) = self.publish_name(vni, &name, ip, &endpoint).await {
                tracing::warn!("publishing name {name}: {e}");
            }
            if let Err(e) = self.save(&state).await {
                tracing::warn!("saving state: {e}");
            }
            return;
        }
        tracing::warn!("endpoint {endpoint}: the engine never listed its container");
    }

    // ---- IPAM driver ----

    pub async fn request_pool(
        &self,
        req: RequestPoolRequest,
    ) -> Result<RequestPoolResponse, NetError> {
        if req.v6 {
            return Err(NetError::invalid(
                "pool",
                &req.pool,
                "ipv6 is not supported",
            ));
        }
        if !req.sub_pool.is_empty() {
            return Err(NetError::invalid(
                "ip range",
                &req.sub_pool,
                "sub-pools are not supported",
            ));
        }
        let subnet = match req.options.get("network") {
            Some(name) if req.pool.is_empty() => self.ipam.request_named_pool(name).await?,
            _ => self.ipam.request_pool(Some(&req.pool)).await?,
        };
        Ok(RequestPoolResponse {
            pool_id: subnet.to_string(),
            pool: subnet.to_string(),
            data: BTreeMap::from([(GATEWAY_TYPE.to_string(), subnet.with_len(subnet.gateway()))]),
        })
    }

    pub async fn release_pool(&self, req: ReleasePoolRequest) -> Result<(), NetError> {
        self.ipam.release_pool(&req.pool_id).await
    }

    pub async fn request_address(
        &self,
        req: RequestAddressRequest,
    ) -> Result<RequestAddressResponse, NetError> {
        let subnet: Subnet = req.pool_id.parse()?;
        let kind =
            if req.options.get(REQUEST_ADDRESS_TYPE).map(String::as_str) == Some(GATEWAY_TYPE) {
                AddressKind::Gateway
            } else {
                AddressKind::Endpoint
            };
        let wanted = match req.address.as_str() {
            "" => None,
            a => Some(
                a.split('/')
                    .next()
                    .unwrap_or(a)
                    .parse()
                    .map_err(|_| NetError::invalid("address", a, "not an IPv4 address"))?,
            ),
        };
        let ip = self
            .ipam
            .request_address(&req.pool_id, wanted, kind, "")
            .await?;
        Ok(RequestAddressResponse {
            address: subnet.with_len(ip),
            data: BTreeMap::new(),
        })
    }

    pub async fn release_address(&self, req: ReleaseAddressRequest) -> Result<(), NetError> {
        let subnet: Subnet = req.pool_id.parse()?;
        let ip: Ipv4Addr = req
            .address
            .split('/')
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|_| NetError::invalid("address", &req.address, "not an IPv4 address"))?;
        if subnet.gateway() == ip {
            return Ok(());
        }
        self.ipam.release_address(&req.pool_id, ip).await
    }

    /// The host-side veth of an endpoint (for tests and `inspect`).
    pub fn host_veth(endpoint: &str) -> String {
        veth_names(endpoint).0
    }
}

#[async_trait::async_trait]
impl crate::dns::Resolve for Agent {
    /// `name` or `name.<anything>` (a network name, a domain) among the
    /// names of the networks this host is in.
    async fn resolve(&self, name: &str) -> Option<Ipv4Addr> {
        let s = self.session();
        let vnis = self.overlay.member_vnis().await.ok()?;
        let first = name.split('.').next().unwrap_or(name);
        for candidate in [name, first] {
            for vni in &vnis {
                if let Ok(Some(e)) = s.kv.get(&s.layout.name(*vni, candidate)).await {
                    if let Ok(r) = serde_json::from_str::<NameRecord>(&e.value) {
                        return Some(r.ip);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kv::{Kv, MemKv};
    use crate::layout::Layout;
    use crate::netlink::FakeNetlink;

    /// Nothing is left in the store but the hosts' own records.
    fn assert_only_host_keys_left(kv: &MemKv) {
        let left: Vec<String> = kv
            .keys()
            .into_iter()
            .filter(|k| !k.starts_with("/t/hosts/"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    async fn agent(kv: &MemKv, last: u8, state_file: Option<PathBuf>) -> (Arc<Agent>, FakeNetlink) {
        let host = Ipv4Addr::new(10, 210, 0, last);
        let nl = FakeNetlink::new(host, 1500);
        let session = Session::new(Arc::new(kv.clone()), Layout::new("/t"), host, 0);
        let dp = Dataplane::new(Arc::new(nl.clone()), host, 4789);
        let cfg = AgentConfig {
            name: format!("n{last}"),
            ttl: Duration::from_secs(10),
            mtu: None,
            state_file,
            engine: None,
            tunnel_port: 0,
        };
        (Agent::start(session, dp, cfg).await.unwrap(), nl)
    }

    fn create_req(id: &str) -> CreateNetworkRequest {
        serde_json::from_value(json!({
            "NetworkID": id,
            "Options": {"com.docker.network.generic": {"vni": "700"}},
            "IPv4Data": [{"AddressSpace": "shoal-local", "Pool": "10.70.0.0/24", "Gateway": "10.70.0.1/24"}]
        }))
        .unwrap()
    }

    async fn container(a: &Arc<Agent>, net: &str, ep: &str) -> Ipv4Addr {
        a.request_pool(serde_json::from_value(json!({"Pool": "10.70.0.0/24"})).unwrap())
            .await
            .unwrap();
        let addr = a
            .request_address(serde_json::from_value(json!({"PoolID": "10.70.0.0/24"})).unwrap())
            .await
            .unwrap()
            .address;
        let resp = a
            .create_endpoint(
                serde_json::from_value(
                    json!({"NetworkID": net, "EndpointID": ep, "Interface": {"Address": addr}}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        assert!(resp
            .interface
            .unwrap()
            .mac_address
            .starts_with("02:42:0a:46:00:"));
        let join = a
            .join(
                serde_json::from_value(
                    json!({"NetworkID": net, "EndpointID": ep, "SandboxKey": "/x"}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        assert!(join.interface_name.src_name.starts_with("sc"));
        assert_eq!(join.interface_name.dst_prefix, "eth");
        addr.split('/').next().unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn two_hosts_program_each_others_endpoints_and_clean_up() {
        let kv = MemKv::new();
        let (a, nla) = agent(&kv, 2, None).await;
        let (b, nlb) = agent(&kv, 3, None).await;
        a.create_network(create_req("neta")).await.unwrap();
        b.create_network(create_req("netb")).await.unwrap();
        let ipa = container(&a, "neta", "epa0123456789").await;
        let ipb = container(&b, "netb", "epb0123456789").await;
        assert_ne!(ipa, ipb);
        a.reconcile().await.unwrap();
        b.reconcile().await.unwrap();
        assert_eq!(
            nla.fdb(),
            vec![("svx700".into(), mac_for(ipb), Ipv4Addr::new(10, 210, 0, 3))]
        );
        assert_eq!(nlb.neighbours(), vec![("svx700".into(), ipa, mac_for(ipa))]);
        // Names published by one host resolve on the other, also with a
        // domain after them.
        b.publish_name(700, "Web-B", ipb, "epb0123456789")
            .await
            .unwrap();
        b.state
            .lock()
            .await
            .endpoints
            .get_mut("epb0123456789")
            .unwrap()
            .name = Some("Web-B".into());
        use crate::dns::Resolve;
        assert_eq!(a.resolve("web-b").await, Some(ipb));
        assert_eq!(a.resolve("web-b.netb").await, Some(ipb));
        assert_eq!(a.resolve("nothere").await, None);
        // The gateway pool data and the MTU follow the underlay.
        assert_eq!(a.local_state().await.networks["neta"].mtu, 1450);

        // b's container goes: a drops its entries.
        b.leave(serde_json::from_value(json!({"EndpointID": "epb0123456789"})).unwrap())
            .await
            .unwrap();
        b.delete_endpoint(
            serde_json::from_value(json!({"NetworkID": "netb", "EndpointID": "epb0123456789"}))
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(a.resolve("web-b").await, None, "name outlived its endpoint");
        b.release_address(
            serde_json::from_value(json!({"PoolID": "10.70.0.0/24", "Address": ipb.to_string()}))
                .unwrap(),
        )
        .await
        .unwrap();
        a.reconcile().await.unwrap();
        assert!(nla.fdb().is_empty());
        assert!(nla.neighbours().is_empty());

        // Both engines remove the network: devices and keys go.
        a.delete_network(serde_json::from_value(json!({"NetworkID": "neta"})).unwrap())
            .await
            .unwrap();
        a.release_pool(serde_json::from_value(json!({"PoolID": "10.70.0.0/24"})).unwrap())
            .await
            .unwrap();
        b.delete_network(serde_json::from_value(json!({"NetworkID": "netb"})).unwrap())
            .await
            .unwrap();
        b.release_pool(serde_json::from_value(json!({"PoolID": "10.70.0.0/24"})).unwrap())
            .await
            .unwrap();
        assert!(nla.links().is_empty(), "{:?}", nla.links());
        assert!(nlb.links().is_empty(), "{:?}", nlb.links());
        assert_only_host_keys_left(&kv);
    }

    #[tokio::test]
    async fn a_dead_hosts_endpoints_vanish_from_the_others() {
        let kv = MemKv::new();
        let (a, nla) = agent(&kv, 2, None).await;
        let (b, _) = agent(&kv, 3, None).await;
        a.create_network(create_req("n")).await.unwrap();
        b.create_network(create_req("n")).await.unwrap();
        container(&b, "n", "epb0123456789").await;
        a.reconcile().await.unwrap();
        assert_eq!(nla.fdb().len(), 1);
        kv.expire(b.session().lease());
        a.reconcile().await.unwrap();
        assert!(nla.fdb().is_empty());
        assert!(
            !kv.keys().iter().any(|k| k.contains("10.210.0.3")),
            "{:?}",
            kv.keys()
        );
    }

    #[tokio::test]
    async fn conflicting_vni_is_refused_and_restart_adopts_state() {
        let kv = MemKv::new();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        let (a, _) = agent(&kv, 2, Some(file.clone())).await;
        a.create_network(create_req("n")).await.unwrap();
        let mut other = create_req("m");
        other.ipv4_data.as_mut().unwrap()[0].pool = "10.71.0.0/24".into();
        let e = a.create_network(other).await.unwrap_err();
        assert!(matches!(e, NetError::VniConflict { vni: 700, .. }), "{e}");
        let ip = container(&a, "n", "epa0123456789").await;
        let old_lease = a.session().lease();
        drop(a);
        // A new run of the agent: same networks, keys on the new lease.
        let (a2, nl2) = agent(&kv, 2, Some(file)).await;
        assert!(a2.local_state().await.networks.contains_key("n"));
        assert!(nl2.links().contains(&"svx700".to_string()));
        kv.expire(old_lease);
        let ep = kv.get(&Layout::new("/t").endpoint(700, ip)).await.unwrap();
        assert!(ep.is_some(), "endpoint lost with the old lease");
        let subnet: Subnet = "10.70.0.0/24".parse().unwrap();
        let alloc = kv
            .get(&Layout::new("/t").address(&subnet, ip))
            .await
            .unwrap();
        assert!(alloc.is_some(), "address lost with the old lease");
        let member = kv
            .get(&Layout::new("/t").member(700, Ipv4Addr::new(10, 210, 0, 2)))
            .await
            .unwrap();
        assert!(member.is_some());
    }
    fn encrypted_req(id: &str, value: &str) -> CreateNetworkRequest {
        serde_json::from_value(json!({
            "NetworkID": id,
            "Options": {"com.docker.network.generic": {"vni": "701", "encrypted": value}},
            "IPv4Data": [{"AddressSpace": "shoal-local", "Pool": "10.71.0.0/24", "Gateway": "10.71.0.1/24"}]
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_tunnel_that_cannot_open_leaves_nothing_behind() {
        use crate::netlink::Netlink;
        let kv = MemKv::new();
        let (a, nla) = agent(&kv, 2, None).await;
        // Something else holds the device name.
        nla.add_bridge("shoaltun0", 1500).await.unwrap();
        let e = a
            .create_network(encrypted_req("enc", ""))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("shoaltun0"), "{e}");
        assert!(!nla.links().contains(&"svx701".to_string()));
        assert!(a.local_state().await.networks.is_empty());
        assert_only_host_keys_left(&kv);
    }

    #[tokio::test]
    async fn a_restarted_agent_reopens_the_tunnel_with_a_new_key() {
        use crate::netlink::Call;
        let kv = MemKv::new();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        let (a, _) = agent(&kv, 2, Some(file.clone())).await;
        a.create_network(encrypted_req("enc", "")).await.unwrap();
        let old_key = a.keys.public_base64();
        drop(a);
        let (a2, nl2) = agent(&kv, 2, Some(file)).await;
        assert!(nl2
            .calls()
            .iter()
            .any(|c| matches!(c, Call::OpenTun { name, .. } if name == "shoaltun0")));
        assert!(nl2.links().contains(&"shoaltun0".to_string()));
        let rec: HostRecord = serde_json::from_str(
            &kv.get(&Layout::new("/t").host(Ipv4Addr::new(10, 210, 0, 2)))
                .await
                .unwrap()
                .unwrap()
                .value,
        )
        .unwrap();
        assert_eq!(rec.key, Some(a2.keys.public_base64()));
        assert_ne!(rec.key, Some(old_key));
    }

    #[tokio::test]
    async fn an_encrypted_network_runs_the_tunnel_and_points_vxlan_into_it() {
        use crate::netlink::{Call, VxlanSpec};
        let kv = MemKv::new();
        let (a, nla) = agent(&kv, 2, None).await;
        let (b, nlb) = agent(&kv, 3, None).await;
        // Nothing encrypted yet: no tunnel, plain VXLAN from the host address.
        a.create_network(create_req("plain")).await.unwrap();
        assert_eq!(a.tunnel_hosts().await, None);
        assert!(!nla.links().contains(&"shoaltun0".to_string()));

        a.create_network(encrypted_req("enc", "")).await.unwrap();
        b.create_network(encrypted_req("enc", "true"))
            .await
            .unwrap();
        let calls = nla.calls();
        let opened: Vec<&Call> = calls
            .iter()
            .filter(|c| matches!(c, Call::OpenTun { .. }))
            .collect();
        assert_eq!(
            opened,
            vec![&Call::OpenTun {
                name: "shoaltun0".into(),
                address: Ipv4Addr::new(100, 82, 0, 2),
                prefix_len: 10,
                mtu: 1444
            }]
        );
        assert!(calls.contains(&Call::AddVxlan(VxlanSpec {
            name: "svx701".into(),
            vni: 701,
            local: Ipv4Addr::new(100, 82, 0, 2),
            port: 4789,
            mtu: 1394
        })));
        // The plain network kept the host address.
        assert!(calls.iter().any(|c| matches!(c,
            Call::AddVxlan(v) if v.name == "svx700" && v.local == Ipv4Addr::new(10, 210, 0, 2))));
        assert_eq!(a.local_state().await.networks["enc"].mtu, 1394);
        assert!(a.local_state().await.networks["enc"].encrypted);

        // Public keys are in the host records; the tunnels link the hosts.
        let layout = Layout::new("/t");
        let rec: HostRecord = serde_json::from_str(
            &kv.get(&layout.host(Ipv4Addr::new(10, 210, 0, 3)))
                .await
                .unwrap()
                .unwrap()
                .value,
        )
        .unwrap();
        assert_eq!(rec.key.as_deref(), Some(b.keys.public_base64().as_str()));
        a.reconcile().await.unwrap();
        assert_eq!(
            a.tunnel_hosts().await,
            Some(vec![Ipv4Addr::new(10, 210, 0, 3)])
        );

        // Peers on the encrypted network sit behind inner addresses; on
        // the plain one behind host addresses.
        b.create_network(create_req("plain")).await.unwrap();
        let ipb = container(&b, "plain", "epb0123456789").await;
        b.request_pool(serde_json::from_value(json!({"Pool": "10.71.0.0/24"})).unwrap())
            .await
            .unwrap();
        let addr = b
            .request_address(serde_json::from_value(json!({"PoolID": "10.71.0.0/24"})).unwrap())
            .await
            .unwrap()
            .address;
        let encb = addr.split('/').next().unwrap().parse().unwrap();
        b.create_endpoint(
            serde_json::from_value(
                json!({"NetworkID": "enc", "EndpointID": "epc0123456789", "Interface": {"Address": addr}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
        a.reconcile().await.unwrap();
        let fdb = nla.fdb();
        assert!(
            fdb.contains(&("svx701".into(), mac_for(encb), Ipv4Addr::new(100, 82, 0, 3))),
            "{fdb:?}"
        );
        assert!(
            fdb.contains(&("svx700".into(), mac_for(ipb), Ipv4Addr::new(10, 210, 0, 3))),
            "{fdb:?}"
        );
        assert!(nlb.links().contains(&"shoaltun0".to_string()));

        // The same VNI without the option is refused; a bad value too.
        let (c, _) = agent(&kv, 4, None).await;
        let plain701: CreateNetworkRequest = serde_json::from_value(json!({
            "NetworkID": "x",
            "Options": {"com.docker.network.generic": {"vni": "701"}},
            "IPv4Data": [{"AddressSpace": "shoal-local", "Pool": "10.71.0.0/24"}]
        }))
        .unwrap();
        let e = c.create_network(plain701).await.unwrap_err();
        assert!(
            e.to_string().contains("encrypted on the other hosts"),
            "{e}"
        );
        let e = c
            .create_network(encrypted_req("y", "maybe"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("option encrypted"), "{e}");

        // The last encrypted network goes: the tunnel device goes with it,
        // the plain network stays.
        a.delete_network(serde_json::from_value(json!({"NetworkID": "enc"})).unwrap())
            .await
            .unwrap();
        assert_eq!(a.tunnel_hosts().await, None);
        assert!(
            !nla.links().contains(&"shoaltun0".to_string()),
            "{:?}",
            nla.links()
        );
        assert!(nla.links().contains(&"svx700".to_string()));
        assert!(!nla.links().contains(&"svx701".to_string()));
    }
}
