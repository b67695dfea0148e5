//! Every kernel change the overlay makes goes through [`Netlink`]: the real
//! implementation ([`RtNetlink`]) speaks rtnetlink; the recording fake
//! ([`FakeNetlink`]) keeps a list of calls and a model of the links, so the
//! data-plane logic is unit tested without root.

mod fake;
mod real;

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

pub use fake::{Call, FakeNetlink};
pub use real::RtNetlink;

use crate::tunnel::TunDevice;
use crate::NetError;

/// A VXLAN device to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanSpec {
    pub name: String,
    pub vni: u32,
    /// The local VTEP address (source of the UDP packets).
    pub local: Ipv4Addr,
    /// UDP destination port (4789 by default).
    pub port: u16,
    pub mtu: u32,
}

/// How a container's interface is set up inside its network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInterface {
    /// The name the veth end has when it arrives in the namespace.
    pub from: String,
    /// The name it gets there (`eth0`).
    pub ifname: String,
    pub mac: [u8; 6],
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub mtu: u32,
}

/// What an interface inside a namespace looks like (for CNI CHECK).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodInterfaceState {
    pub mac: Option<[u8; 6]>,
    pub addresses: Vec<(Ipv4Addr, u8)>,
    pub mtu: u32,
    pub up: bool,
}

#[async_trait::async_trait]
pub trait Netlink: Send + Sync + 'static {
    /// Whether a link of that name exists (in the agent's namespace).
    async fn link_exists(&self, name: &str) -> Result<bool, NetError>;
    /// The name of a link's master (bridge), if any.
    async fn link_master(&self, name: &str) -> Result<Option<String>, NetError>;
    /// The MTU of the link that holds `addr`, if any does.
    async fn mtu_of_address(&self, addr: Ipv4Addr) -> Result<Option<u32>, NetError>;
    /// The first global IPv4 address of this namespace.
    async fn first_global_ipv4(&self) -> Result<Option<Ipv4Addr>, NetError>;
    async fn add_bridge(&self, name: &str, mtu: u32) -> Result<(), NetError>;
    async fn add_vxlan(&self, spec: &VxlanSpec) -> Result<(), NetError>;
    /// A veth pair; `peer_mac` is set on the peer (the container's end).
    async fn add_veth(
        &self,
        name: &str,
        peer: &str,
        mtu: u32,
        peer_mac: [u8; 6],
    ) -> Result<(), NetError>;
    async fn set_master(&self, link: &str, master: &str) -> Result<(), NetError>;
    async fn set_up(&self, link: &str) -> Result<(), NetError>;
    /// Adds `ip/prefix_len` to a link (no error when it is already there).
    async fn add_address(&self, link: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<(), NetError>;
    /// Deletes a link (no error when it is already gone).
    async fn delete_link(&self, name: &str) -> Result<(), NetError>;
    /// `bridge fdb replace MAC dev DEV dst DST self permanent`.
    async fn replace_fdb(&self, dev: &str, mac: [u8; 6], dst: Ipv4Addr) -> Result<(), NetError>;
    async fn delete_fdb(&self, dev: &str, mac: [u8; 6], dst: Ipv4Addr) -> Result<(), NetError>;
    /// `ip neigh replace IP lladdr MAC dev DEV nud permanent`.
    async fn replace_neighbour(
        &self,
        dev: &str,
        ip: Ipv4Addr,
        mac: [u8; 6],
    ) -> Result<(), NetError>;
    async fn delete_neighbour(&self, dev: &str, ip: Ipv4Addr) -> Result<(), NetError>;
    /// Lets traffic be forwarded within `bridge` although the engine's
    /// iptables FORWARD policy is DROP (bridged frames pass iptables when
    /// br_netfilter is loaded).
    async fn allow_forward(&self, bridge: &str) -> Result<(), NetError>;
    async fn remove_forward(&self, bridge: &str) -> Result<(), NetError>;
    /// Moves a link into the network namespace at `netns` and sets it up
    /// there as `pod` says, with the loopback up too.
    async fn setup_in_netns(&self, netns: &Path, pod: &PodInterface) -> Result<(), NetError>;
    /// Reads an interface inside the namespace at `netns` (None: absent).
    async fn inspect_in_netns(
        &self,
        netns: &Path,
        ifname: &str,
    ) -> Result<Option<PodInterfaceState>, NetError>;
    /// Deletes an interface inside the namespace at `netns` (no error when
    /// it or the namespace is gone).
    async fn delete_in_netns(&self, netns: &Path, ifname: &str) -> Result<(), NetError>;
    /// A TUN device (IPv4 packets, no packet information) named `name`,
    /// with `address/prefix_len` and `mtu`, up. It exists as long as the
    /// returned handle (and its clones) do.
    async fn open_tun(
        &self,
        name: &str,
        address: Ipv4Addr,
        prefix_len: u8,
        mtu: u32,
    ) -> Result<Arc<dyn TunDevice>, NetError>;
}
