//! The records kept in the store (JSON values; see `layout` for the keys).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A host running an agent: its VTEP address, and where its agent takes
/// the sealed packets of encrypted networks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostRecord {
    pub address: Ipv4Addr,
    /// The hostname, for people reading the store.
    #[serde(default)]
    pub name: String,
    /// The agent's X25519 public key (base64), new at every agent start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The UDP port of the agent's tunnel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_port: Option<u16>,
}

/// A network: one VXLAN segment and its subnet, shared by every host.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkRecord {
    pub vni: u32,
    pub subnet: String,
    pub mtu: u32,
    /// VXLAN between hosts goes sealed through the agents' tunnel
    /// (`crate::tunnel`); absent in the JSON when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub encrypted: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A host taking part in a network.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberRecord {
    pub host: Ipv4Addr,
}

/// A container interface on a network: where its MAC lives.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EndpointRecord {
    pub ip: Ipv4Addr,
    pub mac: String,
    /// The VTEP address of the host it is on.
    pub host: Ipv4Addr,
    /// Docker endpoint ID, or `cni:<container id>/<ifname>`.
    pub owner: String,
}

/// A container name on a network, for the agents' DNS.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NameRecord {
    pub ip: Ipv4Addr,
    /// The VTEP address of the host it is on.
    pub host: Ipv4Addr,
    pub endpoint: String,
}

/// An address pool.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PoolRecord {
    pub subnet: String,
}

/// One allocated address.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Allocation {
    /// The VTEP address of the host that allocated it.
    pub host: Ipv4Addr,
    /// What holds it (empty for Docker, which releases by address).
    #[serde(default)]
    pub owner: String,
}

pub fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
