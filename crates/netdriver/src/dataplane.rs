//! One host's side of the overlay: per network a bridge `sbr<vni>` with a
//! VXLAN device `svx<vni>` on it (learning off, ARP proxy on), container
//! veths on the bridge, and for every endpoint on another host a static FDB
//! entry (its MAC behind that host's VTEP) and a neighbour entry (its IP at
//! that MAC, answered by the VXLAN device's ARP proxy). Nothing is learned
//! by flooding: the store is the only source.
//!
//! An encrypted network differs only in its VXLAN device's local address
//! and the FDB entries' destinations: the inner (TUN) addresses of this
//! host and its peers (see `crate::tunnel`), and in its MTU.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::netlink::{Netlink, VxlanSpec};
use crate::tunnel::{inner_address, TUNNEL_OVERHEAD};
use crate::NetError;

/// Bytes a VXLAN packet adds: outer IPv4 (20) + UDP (8) + VXLAN (8) +
/// inner Ethernet (14).
pub const VXLAN_OVERHEAD: u32 = 50;
pub const DEFAULT_VXLAN_PORT: u16 = 4789;

pub fn bridge_name(vni: u32) -> String {
    format!("sbr{vni}")
}

pub fn vxlan_name(vni: u32) -> String {
    format!("svx{vni}")
}

/// Host-side and container-side veth names of an endpoint: `sv`/`sc` and
/// the first 9 characters of its ID (15 at most, the kernel's limit).
pub fn veth_names(id: &str) -> (String, String) {
    let short: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(9)
        .collect();
    (format!("sv{short}"), format!("sc{short}"))
}

/// A container interface on another host, as programmed here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Peer {
    pub mac: [u8; 6],
    /// The VTEP its MAC is behind: the host's address, or on an encrypted
    /// network the host's inner address.
    pub host: Ipv4Addr,
}

#[derive(Clone)]
pub struct Dataplane {
    nl: Arc<dyn Netlink>,
    local: Ipv4Addr,
    port: u16,
}

impl Dataplane {
    pub fn new(nl: Arc<dyn Netlink>, local: Ipv4Addr, port: u16) -> Self {
        Dataplane { nl, local, port }
    }

    pub fn netlink(&self) -> &Arc<dyn Netlink> {
        &self.nl
    }

    /// The underlay's MTU (1500 if the VTEP address is on no link).
    pub async fn underlay_mtu(&self) -> Result<u32, NetError> {
        Ok(self.nl.mtu_of_address(self.local).await?.unwrap_or(1500))
    }

    /// The MTU for overlay interfaces: the underlay's minus the VXLAN
    /// overhead (1450 on a 1500 underlay), and for an encrypted network
    /// minus the tunnel's too (1394).
    pub async fn overlay_mtu(&self, encrypted: bool) -> Result<u32, NetError> {
        let tunnel = if encrypted { TUNNEL_OVERHEAD } else { 0 };
        Ok(self
            .underlay_mtu()
            .await?
            .saturating_sub(VXLAN_OVERHEAD + tunnel))
    }

    /// The local VTEP address of a network's VXLAN device.
    pub fn vtep(&self, encrypted: bool) -> Ipv4Addr {
        if encrypted {
            inner_address(self.local)
        } else {
            self.local
        }
    }

    /// Makes the bridge and VXLAN device of `vni` (idempotent). `gateway`
    /// goes on the bridge: the same address on every host, answered locally
    /// (the VXLAN ARP proxy never forwards a request for it), where the
    /// agent's DNS server listens. `encrypted`: the VXLAN device sends from
    /// the inner address, into the tunnel.
    pub async fn ensure_network(
        &self,
        vni: u32,
        mtu: u32,
        gateway: Option<(Ipv4Addr, u8)>,
        encrypted: bool,
    ) -> Result<(), NetError> {
        let br = bridge_name(vni);
        let vx = vxlan_name(vni);
        // Another process (a CNI call, the agent's reconcile) may make the
        // same device at the same moment: losing that race is fine.
        if !self.nl.link_exists(&br).await? {
            if let Err(e) = self.nl.add_bridge(&br, mtu).await {
                if !self.nl.link_exists(&br).await? {
                    return Err(e);
                }
            }
        }
        if !self.nl.link_exists(&vx).await? {
            let spec = VxlanSpec {
                name: vx.clone(),
                vni,
                local: self.vtep(encrypted),
                port: self.port,
                mtu,
            };
            if let Err(e) = self.nl.add_vxlan(&spec).await {
                if !self.nl.link_exists(&vx).await? {
                    return Err(e);
                }
            }
        }
        if self.nl.link_master(&vx).await?.as_deref() != Some(br.as_str()) {
            self.nl.set_master(&vx, &br).await?;
        }
        self.nl.set_up(&vx).await?;
        self.nl.set_up(&br).await?;
        if let Some((ip, len)) = gateway {
            self.nl.add_address(&br, ip, len).await?;
        }
        self.nl.allow_forward(&br).await
    }

    /// Removes the devices of `vni` (and with them every FDB and neighbour
    /// entry on them).
    pub async fn remove_network(&self, vni: u32) -> Result<(), NetError> {
        self.nl.delete_link(&vxlan_name(vni)).await?;
        self.nl.delete_link(&bridge_name(vni)).await?;
        self.nl.remove_forward(&bridge_name(vni)).await
    }

    /// A veth pair for endpoint `id`, its host end on the bridge of `vni`;
    /// returns the container end's name.
    pub async fn add_endpoint(
        &self,
        vni: u32,
        id: &str,
        mac: [u8; 6],
        mtu: u32,
    ) -> Result<String, NetError> {
        let (host_if, peer_if) = veth_names(id);
        if self.nl.link_exists(&host_if).await? {
            self.nl.delete_link(&host_if).await?;
        }
        self.nl.add_veth(&host_if, &peer_if, mtu, mac).await?;
        self.nl.set_master(&host_if, &bridge_name(vni)).await?;
        self.nl.set_up(&host_if).await?;
        Ok(peer_if)
    }

    pub async fn remove_endpoint(&self, id: &str) -> Result<(), NetError> {
        self.nl.delete_link(&veth_names(id).0).await
    }

    /// Brings the FDB and neighbour entries of `vni` from `current` to
    /// `desired` (both: IP -> peer); returns what is now programmed.
    pub async fn sync_peers(
        &self,
        vni: u32,
        current: &BTreeMap<Ipv4Addr, Peer>,
        desired: &BTreeMap<Ipv4Addr, Peer>,
    ) -> Result<BTreeMap<Ipv4Addr, Peer>, NetError> {
        let vx = vxlan_name(vni);
        let mut now = current.clone();
        for (ip, old) in current {
            if desired.get(ip) != Some(old) {
                self.nl.delete_neighbour(&vx, *ip).await?;
                self.nl.delete_fdb(&vx, old.mac, old.host).await?;
                now.remove(ip);
            }
        }
        for (ip, p) in desired {
            if current.get(ip) != Some(p) {
                self.nl.replace_fdb(&vx, p.mac, p.host).await?;
                self.nl.replace_neighbour(&vx, *ip, p.mac).await?;
                now.insert(*ip, *p);
            }
        }
        Ok(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{Call, FakeNetlink};

    fn plane() -> (FakeNetlink, Dataplane) {
        let nl = FakeNetlink::new(Ipv4Addr::new(10, 210, 0, 2), 1500);
        let dp = Dataplane::new(Arc::new(nl.clone()), Ipv4Addr::new(10, 210, 0, 2), 4789);
        (nl, dp)
    }

    #[tokio::test]
    async fn network_devices_are_made_once_and_removed() {
        let (nl, dp) = plane();
        assert_eq!(dp.overlay_mtu(false).await.unwrap(), 1450);
        assert_eq!(dp.overlay_mtu(true).await.unwrap(), 1394);
        dp.ensure_network(42, 1450, None, false).await.unwrap();
        let calls = nl.calls();
        assert_eq!(
            calls[0],
            Call::AddBridge {
                name: "sbr42".into(),
                mtu: 1450
            }
        );
        assert_eq!(
            calls[1],
            Call::AddVxlan(VxlanSpec {
                name: "svx42".into(),
                vni: 42,
                local: Ipv4Addr::new(10, 210, 0, 2),
                port: 4789,
                mtu: 1450
            })
        );
        assert!(calls.contains(&Call::SetMaster {
            link: "svx42".into(),
            master: "sbr42".into()
        }));
        assert!(calls.contains(&Call::AllowForward {
            bridge: "sbr42".into()
        }));
        nl.clear_calls();
        dp.ensure_network(42, 1450, None, false).await.unwrap();
        assert!(
            !nl.calls().iter().any(|c| matches!(
                c,
                Call::AddBridge { .. } | Call::AddVxlan(_) | Call::SetMaster { .. }
            )),
            "{:?}",
            nl.calls()
        );
        dp.remove_network(42).await.unwrap();
        assert!(nl.links().is_empty());
    }

    #[tokio::test]
    async fn an_encrypted_network_sends_from_the_inner_address() {
        let (nl, dp) = plane();
        dp.ensure_network(43, 1394, None, true).await.unwrap();
        assert!(nl.calls().contains(&Call::AddVxlan(VxlanSpec {
            name: "svx43".into(),
            vni: 43,
            local: Ipv4Addr::new(100, 82, 0, 2),
            port: 4789,
            mtu: 1394
        })));
    }

    #[tokio::test]
    async fn endpoints_are_veths_on_the_bridge() {
        let (nl, dp) = plane();
        dp.ensure_network(7, 1450, Some((Ipv4Addr::new(10, 0, 0, 1), 24)), false)
            .await
            .unwrap();
        let mac = [2, 0x42, 10, 0, 0, 5];
        let peer = dp
            .add_endpoint(7, "0123456789abcdef", mac, 1450)
            .await
            .unwrap();
        assert_eq!(peer, "sc012345678");
        assert!(nl.calls().contains(&Call::AddVeth {
            name: "sv012345678".into(),
            peer: "sc012345678".into(),
            mtu: 1450,
            peer_mac: mac
        }));
        assert_eq!(
            nl.link_master("sv012345678").await.unwrap().as_deref(),
            Some("sbr7")
        );
        dp.remove_endpoint("0123456789abcdef").await.unwrap();
        assert!(!nl.links().contains(&"sv012345678".to_string()));
        assert!(!nl.links().contains(&"sc012345678".to_string()));
    }

    #[tokio::test]
    async fn peers_are_programmed_and_unprogrammed_by_difference() {
        let (nl, dp) = plane();
        dp.ensure_network(7, 1450, Some((Ipv4Addr::new(10, 0, 0, 1), 24)), false)
            .await
            .unwrap();
        let a = Ipv4Addr::new(10, 0, 0, 2);
        let b = Ipv4Addr::new(10, 0, 0, 3);
        let h2 = Ipv4Addr::new(10, 210, 0, 3);
        let h3 = Ipv4Addr::new(10, 210, 0, 4);
        let pa = Peer {
            mac: [2, 0x42, 10, 0, 0, 2],
            host: h2,
        };
        let pb = Peer {
            mac: [2, 0x42, 10, 0, 0, 3],
            host: h3,
        };
        let desired = BTreeMap::from([(a, pa), (b, pb)]);
        let now = dp.sync_peers(7, &BTreeMap::new(), &desired).await.unwrap();
        assert_eq!(now, desired);
        assert_eq!(nl.fdb().len(), 2);
        assert_eq!(nl.neighbours().len(), 2);
        assert!(nl.fdb().contains(&("svx7".into(), pa.mac, h2)));
        // b moves to another host, a goes away.
        nl.clear_calls();
        let pb2 = Peer {
            mac: pb.mac,
            host: h2,
        };
        let desired2 = BTreeMap::from([(b, pb2)]);
        let now = dp.sync_peers(7, &now, &desired2).await.unwrap();
        assert_eq!(now, desired2);
        assert_eq!(nl.fdb(), vec![("svx7".into(), pb.mac, h2)]);
        assert_eq!(nl.neighbours(), vec![("svx7".into(), b, pb.mac)]);
        // Nothing to do the second time.
        nl.clear_calls();
        dp.sync_peers(7, &now, &desired2).await.unwrap();
        assert!(nl.calls().is_empty());
    }
}
