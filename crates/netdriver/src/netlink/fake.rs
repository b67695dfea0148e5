//! The recording fake: remembers every call in order and keeps just enough
//! of a model (links, masters, FDB and neighbour entries) for the data plane
//! to read back what it did.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{Netlink, PodInterface, PodInterfaceState, VxlanSpec};
use crate::tunnel::TunDevice;
use crate::NetError;

/// One call made on the fake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    AddBridge {
        name: String,
        mtu: u32,
    },
    AddVxlan(VxlanSpec),
    AddVeth {
        name: String,
        peer: String,
        mtu: u32,
        peer_mac: [u8; 6],
    },
    SetMaster {
        link: String,
        master: String,
    },
    AddAddress {
        link: String,
        ip: Ipv4Addr,
        prefix_len: u8,
    },
    SetUp {
        link: String,
    },
    DeleteLink {
        name: String,
    },
    ReplaceFdb {
        dev: String,
        mac: [u8; 6],
        dst: Ipv4Addr,
    },
    DeleteFdb {
        dev: String,
        mac: [u8; 6],
        dst: Ipv4Addr,
    },
    ReplaceNeighbour {
        dev: String,
        ip: Ipv4Addr,
        mac: [u8; 6],
    },
    DeleteNeighbour {
        dev: String,
        ip: Ipv4Addr,
    },
    AllowForward {
        bridge: String,
    },
    RemoveForward {
        bridge: String,
    },
    SetupInNetns {
        netns: String,
        pod: PodInterface,
    },
    DeleteInNetns {
        netns: String,
        ifname: String,
    },
    OpenTun {
        name: String,
        address: Ipv4Addr,
        prefix_len: u8,
        mtu: u32,
    },
}

#[derive(Default)]
struct Model {
    calls: Vec<Call>,
    /// link name -> master
    links: BTreeMap<String, Option<String>>,
    fdb: BTreeSet<(String, [u8; 6], Ipv4Addr)>,
    neigh: BTreeMap<(String, Ipv4Addr), [u8; 6]>,
    pods: BTreeMap<(String, String), PodInterfaceState>,
    /// Open TUN devices: where the "kernel" routes packets into them.
    tuns: BTreeMap<String, std::sync::mpsc::Sender<Vec<u8>>>,
    /// Packets the agent wrote into each TUN device, in order.
    delivered: BTreeMap<String, Vec<Vec<u8>>>,
}

/// A TUN device of the fake: packets come from [`FakeNetlink::tun_inject`]
/// and go to [`FakeNetlink::tun_delivered`]; its link goes when dropped.
struct FakeTun {
    name: String,
    model: Arc<Mutex<Model>>,
    rx: Mutex<std::sync::mpsc::Receiver<Vec<u8>>>,
    interrupted: std::sync::atomic::AtomicBool,
}

impl TunDevice for FakeTun {
    fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::sync::atomic::Ordering;
        use std::sync::mpsc::RecvTimeoutError;
        let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.interrupted.load(Ordering::SeqCst) {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            match rx.recv_timeout(std::time::Duration::from_millis(20)) {
                Ok(p) => {
                    let n = p.len().min(buf.len());
                    buf[..n].copy_from_slice(&p[..n]);
                    return Ok(n);
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(std::io::Error::other("tun closed"))
                }
            }
        }
    }

    fn send(&self, packet: &[u8]) -> std::io::Result<usize> {
        let mut m = self.model.lock().unwrap_or_else(|e| e.into_inner());
        m.delivered
            .entry(self.name.clone())
            .or_default()
            .push(packet.to_vec());
        Ok(packet.len())
    }

    fn interrupt(&self) {
        self.interrupted
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for FakeTun {
    fn drop(&mut self) {
        let mut m = self.model.lock().unwrap_or_else(|e| e.into_inner());
        m.links.remove(&self.name);
        m.tuns.remove(&self.name);
    }
}

#[derive(Clone)]
pub struct FakeNetlink {
    model: Arc<Mutex<Model>>,
    address: Ipv4Addr,
    mtu: u32,
}

impl FakeNetlink {
    /// A fake namespace whose one interface holds `address` with `mtu`.
    pub fn new(address: Ipv4Addr, mtu: u32) -> Self {
        FakeNetlink {
            model: Default::default(),
            address,
            mtu,
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.model.lock().unwrap().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.model.lock().unwrap().calls.clear();
    }

    pub fn links(&self) -> Vec<String> {
        self.model.lock().unwrap().links.keys().cloned().collect()
    }

    pub fn fdb(&self) -> Vec<(String, [u8; 6], Ipv4Addr)> {
        self.model.lock().unwrap().fdb.iter().cloned().collect()
    }

    pub fn neighbours(&self) -> Vec<(String, Ipv4Addr, [u8; 6])> {
        let m = self.model.lock().unwrap();
        m.neigh
            .iter()
            .map(|((d, ip), mac)| (d.clone(), *ip, *mac))
            .collect()
    }

    /// Routes `packet` into the open TUN device `name`; false if none is.
    pub fn tun_inject(&self, name: &str, packet: Vec<u8>) -> bool {
        let m = self.model.lock().unwrap();
        m.tuns.get(name).is_some_and(|t| t.send(packet).is_ok())
    }

    /// The packets written into TUN device `name` so far.
    pub fn tun_delivered(&self, name: &str) -> Vec<Vec<u8>> {
        let m = self.model.lock().unwrap();
        m.delivered.get(name).cloned().unwrap_or_default()
    }

    /// Changes a pod interface behind the plugin's back (CHECK tests).
    pub fn tamper_pod(&self, netns: &Path, ifname: &str, f: impl FnOnce(&mut PodInterfaceState)) {
        let mut m = self.model.lock().unwrap();
        if let Some(p) = m
            .pods
            .get_mut(&(netns.display().to_string(), ifname.to_string()))
        {
            f(p)
        }
    }

    fn record(&self, call: Call) -> std::sync::MutexGuard<'_, Model> {
        let mut m = self.model.lock().unwrap();
        m.calls.push(call);
        m
    }

    fn missing(op: &'static str, name: &str) -> NetError {
        NetError::Netlink {
            op,
            target: name.to_string(),
            reason: "no such device".into(),
        }
    }

    fn add_link(&self, call: Call, name: &str) -> Result<(), NetError> {
        let mut m = self.record(call);
        if m.links.contains_key(name) {
            return Err(NetError::Netlink {
                op: "add link",
                target: name.to_string(),
                reason: "file exists".into(),
            });
        }
        m.links.insert(name.to_string(), None);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Netlink for FakeNetlink {
    async fn link_exists(&self, name: &str) -> Result<bool, NetError> {
        Ok(self.model.lock().unwrap().links.contains_key(name))
    }

    async fn link_master(&self, name: &str) -> Result<Option<String>, NetError> {
        let m = self.model.lock().unwrap();
        m.links
            .get(name)
            .cloned()
            .ok_or_else(|| Self::missing("read link", name))
    }

    async fn mtu_of_address(&self, addr: Ipv4Addr) -> Result<Option<u32>, NetError> {
        Ok((addr == self.address).then_some(self.mtu))
    }

    async fn first_global_ipv4(&self) -> Result<Option<Ipv4Addr>, NetError> {
        Ok(Some(self.address))
    }

    async fn add_bridge(&self, name: &str, mtu: u32) -> Result<(), NetError> {
        self.add_link(
            Call::AddBridge {
                name: name.into(),
                mtu,
            },
            name,
        )
    }

    async fn add_vxlan(&self, spec: &VxlanSpec) -> Result<(), NetError> {
        self.add_link(Call::AddVxlan(spec.clone()), &spec.name)
    }

    async fn add_veth(
        &self,
        name: &str,
        peer: &str,
        mtu: u32,
        peer_mac: [u8; 6],
    ) -> Result<(), NetError> {
        self.add_link(
            Call::AddVeth {
                name: name.into(),
                peer: peer.into(),
                mtu,
                peer_mac,
            },
            name,
        )?;
        self.model
            .lock()
            .unwrap()
            .links
            .insert(peer.to_string(), None);
        Ok(())
    }

    async fn set_master(&self, link: &str, master: &str) -> Result<(), NetError> {
        let mut m = self.record(Call::SetMaster {
            link: link.into(),
            master: master.into(),
        });
        if !m.links.contains_key(master) {
            return Err(Self::missing("set master", master));
        }
        match m.links.get_mut(link) {
            Some(slot) => {
                *slot = Some(master.to_string());
                Ok(())
            }
            None => Err(Self::missing("set master", link)),
        }
    }

    async fn set_up(&self, link: &str) -> Result<(), NetError> {
        let m = self.record(Call::SetUp { link: link.into() });
        if m.links.contains_key(link) {
            Ok(())
        } else {
            Err(Self::missing("set up", link))
        }
    }

    async fn add_address(&self, link: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<(), NetError> {
        let m = self.record(Call::AddAddress {
            link: link.into(),
            ip,
            prefix_len,
        });
        if m.links.contains_key(link) {
            Ok(())
        } else {
            Err(Self::missing("add address", link))
        }
    }

    async fn delete_link(&self, name: &str) -> Result<(), NetError> {
        let mut m = self.record(Call::DeleteLink { name: name.into() });
        m.links.remove(name);
        // A veth's peer goes with it.
        if let Some(rest) = name.strip_prefix("sv") {
            m.links.remove(&format!("sc{rest}"));
        }
        m.fdb.retain(|(d, _, _)| d != name);
        m.neigh.retain(|(d, _), _| d != name);
        Ok(())
    }

    async fn replace_fdb(&self, dev: &str, mac: [u8; 6], dst: Ipv4Addr) -> Result<(), NetError> {
        let mut m = self.record(Call::ReplaceFdb {
            dev: dev.into(),
            mac,
            dst,
        });
        if !m.links.contains_key(dev) {
            return Err(Self::missing("fdb replace", dev));
        }
        m.fdb.retain(|(d, mm, _)| !(d == dev && *mm == mac));
        m.fdb.insert((dev.to_string(), mac, dst));
        Ok(())
    }

    async fn delete_fdb(&self, dev: &str, mac: [u8; 6], dst: Ipv4Addr) -> Result<(), NetError> {
        let mut m = self.record(Call::DeleteFdb {
            dev: dev.into(),
            mac,
            dst,
        });
        m.fdb.remove(&(dev.to_string(), mac, dst));
        Ok(())
    }

    async fn replace_neighbour(
        &self,
        dev: &str,
        ip: Ipv4Addr,
        mac: [u8; 6],
    ) -> Result<(), NetError> {
        let mut m = self.record(Call::ReplaceNeighbour {
            dev: dev.into(),
            ip,
            mac,
        });
        if !m.links.contains_key(dev) {
            return Err(Self::missing("neighbour replace", dev));
        }
        m.neigh.insert((dev.to_string(), ip), mac);
        Ok(())
    }

    async fn delete_neighbour(&self, dev: &str, ip: Ipv4Addr) -> Result<(), NetError> {
        let mut m = self.record(Call::DeleteNeighbour {
            dev: dev.into(),
            ip,
        });
        m.neigh.remove(&(dev.to_string(), ip));
        Ok(())
    }

    async fn allow_forward(&self, bridge: &str) -> Result<(), NetError> {
        drop(self.record(Call::AllowForward {
            bridge: bridge.into(),
        }));
        Ok(())
    }

    async fn remove_forward(&self, bridge: &str) -> Result<(), NetError> {
        drop(self.record(Call::RemoveForward {
            bridge: bridge.into(),
        }));
        Ok(())
    }

    async fn setup_in_netns(&self, netns: &Path, pod: &PodInterface) -> Result<(), NetError> {
        let mut m = self.record(Call::SetupInNetns {
            netns: netns.display().to_string(),
            pod: pod.clone(),
        });
        if m.links.remove(&pod.from).is_none() {
            return Err(Self::missing("move to netns", &pod.from));
        }
        m.pods.insert(
            (netns.display().to_string(), pod.ifname.clone()),
            PodInterfaceState {
                mac: Some(pod.mac),
                addresses: vec![(pod.address, pod.prefix_len)],
                mtu: pod.mtu,
                up: true,
            },
        );
        Ok(())
    }

    async fn inspect_in_netns(
        &self,
        netns: &Path,
        ifname: &str,
    ) -> Result<Option<PodInterfaceState>, NetError> {
        let m = self.model.lock().unwrap();
        Ok(m.pods
            .get(&(netns.display().to_string(), ifname.to_string()))
            .cloned())
    }

    async fn delete_in_netns(&self, netns: &Path, ifname: &str) -> Result<(), NetError> {
        let mut m = self.record(Call::DeleteInNetns {
            netns: netns.display().to_string(),
            ifname: ifname.into(),
        });
        m.pods
            .remove(&(netns.display().to_string(), ifname.to_string()));
        Ok(())
    }

    async fn open_tun(
        &self,
        name: &str,
        address: Ipv4Addr,
        prefix_len: u8,
        mtu: u32,
    ) -> Result<Arc<dyn TunDevice>, NetError> {
        self.add_link(
            Call::OpenTun {
                name: name.into(),
                address,
                prefix_len,
                mtu,
            },
            name,
        )?;
        let (tx, rx) = std::sync::mpsc::channel();
        self.model.lock().unwrap().tuns.insert(name.to_string(), tx);
        Ok(Arc::new(FakeTun {
            name: name.to_string(),
            model: self.model.clone(),
            rx: Mutex::new(rx),
            interrupted: Default::default(),
        }))
    }
}
