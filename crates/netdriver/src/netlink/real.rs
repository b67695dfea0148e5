//! The real kernel, through rtnetlink. The one exception is the iptables
//! FORWARD rule of `allow_forward` (iptables has no netlink API worth
//! speaking by hand): it runs the `iptables` command, as the engine does.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, LinkVxlan};

use super::{Netlink, PodInterface, PodInterfaceState, VxlanSpec};
use crate::tunnel::TunDevice;
use crate::NetError;

const ENODEV: i32 = 19;
const ENOENT: i32 = 2;
const EEXIST: i32 = 17;

/// The iptables rules of a network's bridge: bridged frames pass iptables
/// (br_netfilter) in the engine's namespace, whose FORWARD policy is DROP:
/// accept them, and keep them out of connection tracking (the engines' own
/// overlay avoids both by keeping its bridge in a namespace of its own).
fn bridge_rules(bridge: &str) -> [(&'static str, Vec<&str>); 2] {
    [
        (
            "filter",
            vec!["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"],
        ),
        ("raw", vec!["PREROUTING", "-i", bridge, "-j", "NOTRACK"]),
    ]
}

/// rtnetlink on the namespace of the process that made it.
#[derive(Clone)]
pub struct RtNetlink {
    handle: Handle,
}

fn nl_err(op: &'static str, target: impl Into<String>, e: impl std::fmt::Display) -> NetError {
    NetError::Netlink {
        op,
        target: target.into(),
        reason: e.to_string(),
    }
}

fn code(e: &rtnetlink::Error) -> i32 {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.raw_code().abs(),
        _ => 0,
    }
}

fn connect() -> Result<Handle, NetError> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| nl_err("open", "netlink socket", e))?;
    tokio::spawn(conn);
    Ok(handle)
}

async fn find(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, NetError> {
    let mut s = handle.link().get().match_name(name.to_string()).execute();
    match s.try_next().await {
        Ok(m) => Ok(m),
        Err(e) if code(&e) == ENODEV => Ok(None),
        Err(e) => Err(nl_err("read link", name, e)),
    }
}

async fn index(handle: &Handle, op: &'static str, name: &str) -> Result<u32, NetError> {
    find(handle, name)
        .await?
        .map(|m| m.header.index)
        .ok_or_else(|| nl_err(op, name, "no such device"))
}

fn mac_of(m: &LinkMessage) -> Option<[u8; 6]> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(b) => b.as_slice().try_into().ok(),
        _ => None,
    })
}

fn mtu_of(m: &LinkMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Mtu(v) => Some(*v),
            _ => None,
        })
        .unwrap_or(0)
}

async fn ipv4_addresses(
    handle: &Handle,
    index: Option<u32>,
) -> Result<Vec<(u32, Ipv4Addr, u8, AddressScope)>, NetError> {
    let mut req = handle.address().get();
    if let Some(i) = index {
        req = req.set_link_index_filter(i);
    }
    let msgs: Vec<_> = req
        .execute()
        .try_collect()
        .await
        .map_err(|e| nl_err("read addresses", "", e))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| {
            let ip = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(ip))
                | AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            })?;
            Some((m.header.index, ip, m.header.prefix_len, m.header.scope))
        })
        .collect())
}

/// Runs `f` with a netlink handle inside the network namespace at `netns`,
/// on a thread of its own (setns changes only the calling thread).
async fn in_netns<T, F, Fut>(netns: &Path, f: F) -> Result<T, NetError>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, NetError>>,
{
    let path: PathBuf = netns.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let run = || -> Result<T, NetError> {
            let file = std::fs::File::open(&path)
                .map_err(|e| NetError::io(path.display().to_string(), e))?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| nl_err("enter netns", path.display().to_string(), e))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| NetError::io("tokio runtime", e))?;
            rt.block_on(async move { f(connect()?).await })
        };
        let _ = tx.send(run());
    });
    rx.await.unwrap_or_else(|_| {
        Err(nl_err(
            "enter netns",
            netns.display().to_string(),
            "worker thread died",
        ))
    })
}

/// A TUN device of the `tun-rs` crate (gone when dropped); its reads wait
/// on the device and an eventfd together, so they can be interrupted.
struct RealTun {
    dev: tun_rs::SyncDevice,
    stop: tun_rs::InterruptEvent,
}

impl TunDevice for RealTun {
    fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.dev.recv_intr(buf, &self.stop)
    }
    fn send(&self, packet: &[u8]) -> std::io::Result<usize> {
        self.dev.send(packet)
    }
    fn interrupt(&self) {
        if let Err(e) = self.stop.trigger() {
            tracing::warn!("interrupting the tunnel device: {e}");
        }
    }
}

impl RtNetlink {
    /// A handle on the current network namespace; must be called inside a
    /// tokio runtime (the connection runs as a task).
    pub fn new() -> Result<Self, NetError> {
        Ok(RtNetlink { handle: connect()? })
    }

    fn neighbour(index: u32, family: AddressFamily) -> NeighbourMessage {
        let mut m = NeighbourMessage::default();
        m.header.family = family;
        m.header.ifindex = index;
        m
    }

    fn iptables(args: &[&str]) -> Result<bool, NetError> {
        let out = std::process::Command::new("iptables")
            .arg("-w")
            .args(args)
            .output()
            .map_err(|e| NetError::io("iptables", e))?;
        Ok(out.status.success())
    }
}

#[async_trait::async_trait]
impl Netlink for RtNetlink {
    async fn link_exists(&self, name: &str) -> Result<bool, NetError> {
        Ok(find(&self.handle, name).await?.is_some())
    }

    async fn link_master(&self, name: &str) -> Result<Option<String>, NetError> {
        let m = find(&self.handle, name)
            .await?
            .ok_or_else(|| nl_err("read link", name, "no such device"))?;
        let Some(master) = m.attributes.iter().find_map(|a| match a {
            LinkAttribute::Controller(i) => Some(*i),
            _ => None,
        }) else {
            return Ok(None);
        };
        let mut s = self.handle.link().get().match_index(master).execute();
        let mm = s
            .try_next()
            .await
            .map_err(|e| nl_err("read link", name, e))?;
        Ok(mm.and_then(|mm| {
            mm.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            })
        }))
    }

    async fn mtu_of_address(&self, addr: Ipv4Addr) -> Result<Option<u32>, NetError> {
        let addrs = ipv4_addresses(&self.handle, None).await?;
        let Some((idx, ..)) = addrs.into_iter().find(|a| a.1 == addr) else {
            return Ok(None);
        };
        let mut s = self.handle.link().get().match_index(idx).execute();
        let m = s
            .try_next()
            .await
            .map_err(|e| nl_err("read link", addr.to_string(), e))?;
        Ok(m.map(|m| mtu_of(&m)))
    }

    async fn first_global_ipv4(&self) -> Result<Option<Ipv4Addr>, NetError> {
        let addrs = ipv4_addresses(&self.handle, None).await?;
        Ok(addrs
            .into_iter()
            .find(|a| a.3 == AddressScope::Universe && !a.1.is_loopback())
            .map(|a| a.1))
    }

    async fn add_bridge(&self, name: &str, mtu: u32) -> Result<(), NetError> {
        let msg = LinkBridge::new(name)
            .mtu(mtu)
            .nf_call_iptables(false)
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| nl_err("add bridge", name, e))
    }

    async fn add_vxlan(&self, spec: &VxlanSpec) -> Result<(), NetError> {
        let msg = LinkVxlan::new(&spec.name, spec.vni)
            .local(spec.local)
            .port(spec.port)
            .learning(false)
            .proxy(true)
            .mtu(spec.mtu)
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| nl_err("add vxlan", &spec.name, e))
    }

    async fn add_veth(
        &self,
        name: &str,
        peer: &str,
        mtu: u32,
        peer_mac: [u8; 6],
    ) -> Result<(), NetError> {
        let msg = LinkVeth::new(name, peer).mtu(mtu).build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| nl_err("add veth", name, e))?;
        let idx = index(&self.handle, "set veth peer", peer).await?;
        let set = LinkUnspec::new_with_index(idx)
            .mtu(mtu)
            .address(peer_mac.to_vec())
            .build();
        self.handle
            .link()
            .set(set)
            .execute()
            .await
            .map_err(|e| nl_err("set veth peer", peer, e))
    }

    async fn set_master(&self, link: &str, master: &str) -> Result<(), NetError> {
        let l = index(&self.handle, "set master", link).await?;
        let m = index(&self.handle, "set master", master).await?;
        let msg = LinkUnspec::new_with_index(l).controller(m).build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| nl_err("set master", format!("{link} {master}"), e))
    }

    async fn set_up(&self, link: &str) -> Result<(), NetError> {
        let l = index(&self.handle, "set up", link).await?;
        let msg = LinkUnspec::new_with_index(l).up().build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| nl_err("set up", link, e))
    }

    async fn add_address(&self, link: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<(), NetError> {
        let l = index(&self.handle, "add address", link).await?;
        match self
            .handle
            .address()
            .add(l, IpAddr::V4(ip), prefix_len)
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if code(&e) == EEXIST => Ok(()),
            Err(e) => Err(nl_err(
                "add address",
                format!("{ip}/{prefix_len} dev {link}"),
                e,
            )),
        }
    }

    async fn delete_link(&self, name: &str) -> Result<(), NetError> {
        let Some(m) = find(&self.handle, name).await? else {
            return Ok(());
        };
        match self.handle.link().del(m.header.index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if code(&e) == ENODEV => Ok(()),
            Err(e) => Err(nl_err("delete link", name, e)),
        }
    }

    async fn replace_fdb(&self, dev: &str, mac: [u8; 6], dst: Ipv4Addr) -> Result<(), NetError> {
        let idx = index(&self.handle, "fdb replace", dev).await?;
        self.handle
            .neighbours()
            .add_bridge(idx, &mac)
            .flags(NeighbourFlags::Own)
            .state(NeighbourState::Permanent)
            .destination(IpAddr::V4(dst))
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err("fdb replace", dev, e))
    }

    async fn delete_fdb(&self, dev: &str, mac: [u8; 6], dst: Ipv4Addr) -> Result<(), NetError> {
        let Some(link) = find(&self.handle, dev).await? else {
            return Ok(());
        };
        let mut m = Self::neighbour(link.header.index, AddressFamily::Bridge);
        m.header.flags = NeighbourFlags::Own;
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        m.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)));
        match self.handle.neighbours().del(m).execute().await {
            Ok(()) => Ok(()),
            Err(e) if code(&e) == ENOENT => Ok(()),
            Err(e) => Err(nl_err("fdb delete", dev, e)),
        }
    }

    async fn replace_neighbour(
        &self,
        dev: &str,
        ip: Ipv4Addr,
        mac: [u8; 6],
    ) -> Result<(), NetError> {
        let idx = index(&self.handle, "neighbour replace", dev).await?;
        self.handle
            .neighbours()
            .add(idx, IpAddr::V4(ip))
            .link_layer_address(&mac)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err("neighbour replace", format!("{ip} dev {dev}"), e))
    }

    async fn delete_neighbour(&self, dev: &str, ip: Ipv4Addr) -> Result<(), NetError> {
        let Some(link) = find(&self.handle, dev).await? else {
            return Ok(());
        };
        let mut m = Self::neighbour(link.header.index, AddressFamily::Inet);
        m.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        match self.handle.neighbours().del(m).execute().await {
            Ok(()) => Ok(()),
            Err(e) if code(&e) == ENOENT => Ok(()),
            Err(e) => Err(nl_err("neighbour delete", format!("{ip} dev {dev}"), e)),
        }
    }

    async fn allow_forward(&self, bridge: &str) -> Result<(), NetError> {
        for (table, rule) in bridge_rules(bridge) {
            if Self::iptables(&[&["-t", table, "-C"], &rule[..]].concat())? {
                continue;
            }
            if !Self::iptables(&[&["-t", table, "-I"], &rule[..]].concat())? {
                return Err(nl_err(
                    "iptables insert",
                    bridge,
                    format!("rule {rule:?} refused"),
                ));
            }
        }
        Ok(())
    }

    async fn remove_forward(&self, bridge: &str) -> Result<(), NetError> {
        for (table, rule) in bridge_rules(bridge) {
            while Self::iptables(&[&["-t", table, "-D"], &rule[..]].concat())? {}
        }
        Ok(())
    }

    async fn setup_in_netns(&self, netns: &Path, pod: &PodInterface) -> Result<(), NetError> {
        let file =
            std::fs::File::open(netns).map_err(|e| NetError::io(netns.display().to_string(), e))?;
        let idx = index(&self.handle, "move to netns", &pod.from).await?;
        let msg = LinkUnspec::new_with_index(idx)
            .setns_by_fd(file.as_raw_fd())
            .build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| nl_err("move to netns", &pod.from, e))?;
        drop(file);
        let pod = pod.clone();
        in_netns(netns, move |h| async move {
            let idx = index(&h, "rename", &pod.from).await?;
            let msg = LinkUnspec::new_with_index(idx)
                .name(pod.ifname.clone())
                .address(pod.mac.to_vec())
                .mtu(pod.mtu)
                .build();
            h.link()
                .set(msg)
                .execute()
                .await
                .map_err(|e| nl_err("rename", &pod.from, e))?;
            match h
                .address()
                .add(idx, IpAddr::V4(pod.address), pod.prefix_len)
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if code(&e) == EEXIST => {}
                Err(e) => return Err(nl_err("add address", &pod.ifname, e)),
            }
            for (i, what) in [
                (idx, pod.ifname.as_str()),
                (index(&h, "set up", "lo").await?, "lo"),
            ] {
                h.link()
                    .set(LinkUnspec::new_with_index(i).up().build())
                    .execute()
                    .await
                    .map_err(|e| nl_err("set up", what, e))?;
            }
            Ok(())
        })
        .await
    }

    async fn inspect_in_netns(
        &self,
        netns: &Path,
        ifname: &str,
    ) -> Result<Option<PodInterfaceState>, NetError> {
        let ifname = ifname.to_string();
        in_netns(netns, move |h| async move {
            let Some(m) = find(&h, &ifname).await? else {
                return Ok(None);
            };
            let addrs = ipv4_addresses(&h, Some(m.header.index)).await?;
            Ok(Some(PodInterfaceState {
                mac: mac_of(&m),
                addresses: addrs
                    .into_iter()
                    .filter(|a| a.0 == m.header.index)
                    .map(|a| (a.1, a.2))
                    .collect(),
                mtu: mtu_of(&m),
                up: m.header.flags.contains(LinkFlags::Up),
            }))
        })
        .await
    }

    async fn delete_in_netns(&self, netns: &Path, ifname: &str) -> Result<(), NetError> {
        if !netns.exists() {
            return Ok(());
        }
        let ifname = ifname.to_string();
        in_netns(netns, move |h| async move {
            let Some(m) = find(&h, &ifname).await? else {
                return Ok(());
            };
            match h.link().del(m.header.index).execute().await {
                Ok(()) => Ok(()),
                Err(e) if code(&e) == ENODEV => Ok(()),
                Err(e) => Err(nl_err("delete link", ifname.clone(), e)),
            }
        })
        .await
    }

    async fn open_tun(
        &self,
        name: &str,
        address: Ipv4Addr,
        prefix_len: u8,
        mtu: u32,
    ) -> Result<Arc<dyn TunDevice>, NetError> {
        let mtu = u16::try_from(mtu).map_err(|_| nl_err("open tun", name, "mtu above 65535"))?;
        let dev = tun_rs::DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .ipv4(address, prefix_len, None)
            .packet_information(false)
            .tx_queue_len(1000)
            .enable(true)
            .build_sync()
            .map_err(|e| nl_err("open tun", name, e))?;
        // Non-blocking as `recv_intr` wants it: it polls before reading.
        dev.set_nonblocking(true)
            .map_err(|e| nl_err("open tun", name, e))?;
        let stop = tun_rs::InterruptEvent::new().map_err(|e| nl_err("open tun", name, e))?;
        Ok(Arc::new(RealTun { dev, stop }))
    }
}
