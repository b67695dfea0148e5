//! Encrypted networks (`docker network create -d shoal --opt encrypted`,
//! `"encrypted": true` in CNI): the VXLAN packets between hosts travel
//! sealed, through a userspace tunnel in the agent.
//!
//! Why userspace: the kernels Shoal must run on may have neither WireGuard
//! ("Unknown device type") nor ESP (no `proto esp` xfrm states, no gcm in
//! /proc/crypto), but `/dev/net/tun` is always there. So:
//!
//! - Every host taking part in an encrypted network has one TUN device,
//!   [`TUNNEL_DEVICE`], with an inner address derived from its VTEP address
//!   ([`inner_address`]: `100.64.0.0/10` plus the low 22 bits of the VTEP
//!   address, so unique for any underlay subnet of /10 or smaller). The /10
//!   route of that address sends every other host's inner address into the
//!   TUN.
//! - The VXLAN device of an encrypted network uses the inner address as its
//!   local address, and its FDB entries name the peers' inner addresses;
//!   bridge, veths, ARP proxy and neighbour entries are as for a plain
//!   network. The kernel still does the VXLAN encapsulation: the agent only
//!   sees whole outer IPv4/UDP/VXLAN packets in the TUN.
//! - The agent reads each packet from the TUN, seals it ([`seal`]) with the
//!   key of the link to the host owning the destination inner address, and
//!   sends it over one UDP socket (port [`DEFAULT_TUNNEL_PORT`]) to that
//!   host's real address; the peer's agent opens it, checks that its inner
//!   source is the sender's inner address and its destination is its own,
//!   and writes it into its TUN, where the kernel's VXLAN receives it.
//! - Keys: each agent makes an X25519 key pair at start (memory only; the
//!   private key never leaves the process) and publishes the public key in
//!   its host record beside its address (`hosts/<vtep ip>`, on its lease).
//!   Link keys come from the X25519 agreement through HKDF, one per
//!   direction. The store is the root of trust, as it already is for the
//!   peers' addresses and MACs.
//!
//! A plain network's VXLAN device keeps the host address and the kernel's
//! fast path; encryption costs [`TUNNEL_OVERHEAD`] more bytes of MTU and a
//! copy through userspace per packet.
//!
//! The two loops (TUN to UDP, UDP to TUN) are plain threads doing blocking
//! I/O, not tokio tasks: a profile of the task version under iperf3 spent
//! about a third of the agents' time switching and waking threads
//! (`finish_task_switch`, `_raw_spin_unlock_irqrestore`) and 15% in the
//! cipher; a blocked thread is woken by the kernel directly.
//!
//! Not done: no periodic rekey inside one agent run (a run's keys are new,
//! so forward secrecy is per agent run); no cookie/DoS defence beyond the
//! cheap replay check done before decryption.

pub mod seal;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use seal::{KeyPair, Opener, Sealer, SEAL_OVERHEAD};

/// The TUN device of encrypted networks, one per host.
pub const TUNNEL_DEVICE: &str = "shoaltun0";
/// UDP port the agents exchange sealed packets on.
pub const DEFAULT_TUNNEL_PORT: u16 = 4801;
/// The inner addresses' subnet is `100.64.0.0/10`.
pub const INNER_PREFIX_LEN: u8 = 10;
const INNER_BASE: u32 = 0x6440_0000;
const INNER_HOST_BITS: u32 = 0x003f_ffff;
/// Bytes the tunnel adds to each VXLAN packet: outer IPv4 (20), UDP (8),
/// header (12) and tag (16). An encrypted network's MTU is the underlay's
/// minus this and the 50 of VXLAN: 1394 on a 1500 underlay.
pub const TUNNEL_OVERHEAD: u32 = 20 + 8 + SEAL_OVERHEAD as u32;

/// Socket buffers of the tunnel's UDP socket. The default (~200 KiB)
/// overflowed under one TCP stream (every overflow is a loss TCP backs off
/// from); the agent runs as root, so the `*FORCE` options pass
/// `net.core.rmem_max`.
pub const SOCKET_BUFFER: usize = 4 << 20;

/// Gives the tunnel socket [`SOCKET_BUFFER`] bytes each way.
pub fn enlarge_buffers(socket: &UdpSocket) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(socket, sockopt::RcvBufForce, &SOCKET_BUFFER)?;
    setsockopt(socket, sockopt::SndBufForce, &SOCKET_BUFFER)?;
    Ok(())
}

/// The inner (TUN) address of the host whose VTEP address is `host`.
pub fn inner_address(host: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(INNER_BASE | (u32::from(host) & INNER_HOST_BITS))
}

/// How long the UDP loop blocks before it looks whether it must stop.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// The packets of a TUN device (IPv4, no packet information header),
/// blocking I/O.
pub trait TunDevice: Send + Sync + 'static {
    /// Blocks for the next packet the kernel routes into the device; an
    /// error of kind `Interrupted` after [`TunDevice::interrupt`].
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Hands a packet to the kernel as if it arrived on the device.
    fn send(&self, packet: &[u8]) -> io::Result<usize>;
    /// Makes a blocked `recv` (or the next one) return `Interrupted`.
    fn interrupt(&self);
}

/// Another host with encryption: where to reach it and its public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelPeer {
    /// Its VTEP (real, lab) address.
    pub host: Ipv4Addr,
    pub port: u16,
    pub key: [u8; 32],
}

struct Link {
    peer: TunnelPeer,
    inner: Ipv4Addr,
    sealer: Sealer,
    opener: Opener,
}

#[derive(Default)]
struct Links {
    by_inner: HashMap<Ipv4Addr, Arc<Link>>,
    by_host: HashMap<Ipv4Addr, Arc<Link>>,
}

/// The running tunnel: the TUN device, the UDP socket and the two loops
/// between them. Closed (device gone with its last descriptor) by
/// [`Tunnel::close`], or on drop.
pub struct Tunnel {
    keys: Arc<KeyPair>,
    local: Ipv4Addr,
    links: Arc<RwLock<Links>>,
    dev: Arc<dyn TunDevice>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Tunnel {
    /// Starts the loops on threads of their own; `local` is this host's
    /// VTEP address, `socket` the tunnel's UDP socket (made blocking here).
    pub fn start(
        dev: Arc<dyn TunDevice>,
        socket: UdpSocket,
        keys: Arc<KeyPair>,
        local: Ipv4Addr,
    ) -> io::Result<Tunnel> {
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(STOP_CHECK))?;
        let links: Arc<RwLock<Links>> = Default::default();
        let stop = Arc::new(AtomicBool::new(false));
        let out = {
            let (dev, socket, links, stop) = (
                dev.clone(),
                socket.try_clone()?,
                links.clone(),
                stop.clone(),
            );
            std::thread::Builder::new()
                .name("shoal-tun-out".into())
                .spawn(move || outbound(&*dev, &socket, &links, &stop))?
        };
        let inb = {
            let (dev, links, stop) = (dev.clone(), links.clone(), stop.clone());
            let inner = inner_address(local);
            std::thread::Builder::new()
                .name("shoal-tun-in".into())
                .spawn(move || inbound(&*dev, &socket, &links, inner, &stop))?
        };
        Ok(Tunnel {
            keys,
            local,
            links,
            dev,
            stop,
            threads: vec![out, inb],
        })
    }

    /// Makes the links equal to `peers` (this host and hosts whose inner
    /// address another host already has are left out, with a warning).
    /// A link whose host, port and key are unchanged keeps its counters.
    pub fn set_peers(&self, peers: &[TunnelPeer]) {
        let mut links = self.links.write().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::take(&mut *links);
        for p in peers {
            let inner = inner_address(p.host);
            if p.host == self.local {
                continue;
            }
            if inner == inner_address(self.local) || links.by_inner.contains_key(&inner) {
                tracing::warn!(host = %p.host, %inner, "inner address taken by another host: no encrypted link");
                continue;
            }
            let link = match old.by_host.get(&p.host) {
                Some(l) if l.peer == *p => l.clone(),
                _ => match self.keys.link(&p.key) {
                    Ok((sealer, opener)) => Arc::new(Link {
                        peer: p.clone(),
                        inner,
                        sealer,
                        opener,
                    }),
                    Err(e) => {
                        tracing::warn!(host = %p.host, "no encrypted link: {e}");
                        continue;
                    }
                },
            };
            links.by_inner.insert(inner, link.clone());
            links.by_host.insert(p.host, link);
        }
    }

    /// The hosts there is a link to.
    pub fn peers(&self) -> Vec<Ipv4Addr> {
        let links = self.links.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<Ipv4Addr> = links.by_host.keys().copied().collect();
        v.sort();
        v
    }

    fn signal_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.dev.interrupt();
    }

    /// Stops the loops and waits until they have let go of the device and
    /// the socket (at most [`STOP_CHECK`] and a packet).
    pub async fn close(mut self) {
        self.signal_stop();
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// IPv4 source and destination of a packet, if it is one.
fn ipv4_ends(p: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let a = |i: usize| Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]);
    Some((a(12), a(16)))
}

/// TUN -> sealed -> UDP to the peer owning the destination.
fn outbound(dev: &dyn TunDevice, socket: &UdpSocket, links: &RwLock<Links>, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::with_capacity(65536 + SEAL_OVERHEAD);
    while !stop.load(Ordering::SeqCst) {
        let n = match dev.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("tunnel device closed: {e}");
                return;
            }
        };
        let packet = &buf[..n];
        let Some((_, dst)) = ipv4_ends(packet) else {
            continue;
        };
        let link = links
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_inner
            .get(&dst)
            .cloned();
        let Some(link) = link else {
            tracing::debug!(%dst, "no encrypted link: packet dropped");
            continue;
        };
        if let Err(e) = link.sealer.seal(packet, &mut out) {
            tracing::warn!(host = %link.peer.host, "sealing: {e}");
            continue;
        }
        let to = SocketAddr::V4(SocketAddrV4::new(link.peer.host, link.peer.port));
        if let Err(e) = socket.send_to(&out, to) {
            tracing::debug!(%to, "sending a sealed packet: {e}");
        }
    }
}

/// UDP -> opened -> TUN, if it came from a known peer, authenticates, is
/// new, and is a packet from that peer's inner address to ours.
fn inbound(
    dev: &dyn TunDevice,
    socket: &UdpSocket,
    links: &RwLock<Links>,
    local_inner: Ipv4Addr,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) => {
                if !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) {
                    tracing::debug!("tunnel socket: {e}");
                }
                continue;
            }
        };
        let SocketAddr::V4(from) = from else {
            continue;
        };
        let link = links
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_host
            .get(from.ip())
            .cloned();
        let Some(link) = link else {
            tracing::debug!(%from, "sealed packet from an unknown host dropped");
            continue;
        };
        let packet = match link.opener.open(&mut buf[..n]) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%from, "dropped: {e}");
                continue;
            }
        };
        if ipv4_ends(packet) != Some((link.inner, local_inner)) {
            tracing::debug!(%from, "dropped: inner addresses are not the link's");
            continue;
        }
        if let Err(e) = dev.send(packet) {
            tracing::warn!("writing to the tunnel device: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use std::sync::{mpsc as std_mpsc, Mutex};

    use tokio::net::UdpSocket;
    use tokio::sync::mpsc;

    use super::*;

    /// A TUN device made of two channels.
    struct ChannelTun {
        from_kernel: Mutex<std_mpsc::Receiver<Vec<u8>>>,
        to_kernel: mpsc::UnboundedSender<Vec<u8>>,
        interrupted: AtomicBool,
    }

    impl TunDevice for ChannelTun {
        fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
            let rx = self.from_kernel.lock().unwrap();
            loop {
                if self.interrupted.load(Ordering::SeqCst) {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Ok(p) => {
                        buf[..p.len()].copy_from_slice(&p);
                        return Ok(p.len());
                    }
                    Err(std_mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
        }
        fn send(&self, packet: &[u8]) -> io::Result<usize> {
            let _ = self.to_kernel.send(packet.to_vec());
            Ok(packet.len())
        }
        fn interrupt(&self) {
            self.interrupted.store(true, Ordering::SeqCst);
        }
    }

    struct Host {
        tunnel: Tunnel,
        keys: Arc<KeyPair>,
        port: u16,
        kernel_out: std_mpsc::Sender<Vec<u8>>,
        kernel_in: mpsc::UnboundedReceiver<Vec<u8>>,
    }

    /// A tunnel on 127.0.0.1 whose "VTEP address" is 127.0.0.1 too (the
    /// host address only picks the peer and the inner addresses).
    async fn host(local: Ipv4Addr) -> Host {
        let (kernel_out, from_kernel) = std_mpsc::channel();
        let (to_kernel, kernel_in) = mpsc::unbounded_channel();
        let dev = Arc::new(ChannelTun {
            from_kernel: Mutex::new(from_kernel),
            to_kernel,
            interrupted: AtomicBool::new(false),
        });
        let socket = std::net::UdpSocket::bind((local, 0)).unwrap();
        let port = socket.local_addr().unwrap().port();
        let keys = Arc::new(KeyPair::generate());
        Host {
            tunnel: Tunnel::start(dev, socket, keys.clone(), local).unwrap(),
            keys,
            port,
            kernel_out,
            kernel_in,
        }
    }

    /// An IPv4/UDP packet with `payload` (checksums do not matter here).
    fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
        let len = (28 + payload.len()) as u16;
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&[0x12, 0x34, 0x12, 0xb5]);
        p.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<Vec<u8>>) -> Option<Vec<u8>> {
        tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .ok()
            .flatten()
    }

    #[test]
    fn inner_addresses_keep_the_low_bits() {
        assert_eq!(
            inner_address(Ipv4Addr::new(10, 210, 0, 7)),
            Ipv4Addr::new(100, 82, 0, 7)
        );
        assert_eq!(
            inner_address(Ipv4Addr::new(192, 168, 3, 4)),
            Ipv4Addr::new(100, 104, 3, 4)
        );
        assert_eq!(TUNNEL_OVERHEAD, 56);
    }

    #[tokio::test]
    async fn packets_cross_sealed_and_only_from_the_right_inner_address() {
        let (la, lb) = (Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2));
        let mut a = host(la).await;
        let mut b = host(lb).await;
        // A UDP socket standing between them (on b's address) sees what
        // crosses the wire: a's link points at it instead of at b.
        let spy = UdpSocket::bind((lb, 0)).await.unwrap();
        let spy_port = spy.local_addr().unwrap().port();
        a.tunnel.set_peers(&[TunnelPeer {
            host: lb,
            port: spy_port,
            key: b.keys.public(),
        }]);
        b.tunnel.set_peers(&[TunnelPeer {
            host: la,
            port: a.port,
            key: a.keys.public(),
        }]);
        assert_eq!(a.tunnel.peers(), vec![lb]);

        let (ia, ib) = (inner_address(la), inner_address(lb));
        let packet = ip_packet(ia, ib, b"SHOAL-MARKER-1234");
        a.kernel_out.send(packet.clone()).unwrap();
        let mut wire = vec![0u8; 2048];
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), spy.recv_from(&mut wire))
            .await
            .expect("nothing sent")
            .unwrap();
        let wire = wire[..n].to_vec();
        assert_eq!(from.port(), a.port);
        assert_eq!(n, packet.len() + SEAL_OVERHEAD);
        assert!(!wire.windows(12).any(|w| w == b"SHOAL-MARKER"));

        // Relayed to b from a's address (b knows a by its address).
        let relay = UdpSocket::bind((la, 0)).await.unwrap();
        relay.send_to(&wire, (lb, b.port)).await.unwrap();
        assert_eq!(next(&mut b.kernel_in).await, Some(packet.clone()));
        // The same datagram again: replay, dropped.
        relay.send_to(&wire, (lb, b.port)).await.unwrap();
        // A tampered one: dropped.
        let mut bad = wire.clone();
        bad[20] ^= 0xff;
        relay.send_to(&bad, (lb, b.port)).await.unwrap();
        // A packet claiming another inner source, sealed with a's key.
        a.kernel_out
            .send(ip_packet(Ipv4Addr::new(100, 64, 9, 9), ib, b"spoof"))
            .unwrap();
        let mut w2 = vec![0u8; 2048];
        let (n2, _) = tokio::time::timeout(Duration::from_secs(2), spy.recv_from(&mut w2))
            .await
            .expect("spoof not sent")
            .unwrap();
        relay.send_to(&w2[..n2], (lb, b.port)).await.unwrap();
        // A good one after all that still arrives, and is the first to.
        let later = ip_packet(ia, ib, b"later");
        a.kernel_out.send(later.clone()).unwrap();
        let (n3, _) = tokio::time::timeout(Duration::from_secs(2), spy.recv_from(&mut w2))
            .await
            .expect("later not sent")
            .unwrap();
        relay.send_to(&w2[..n3], (lb, b.port)).await.unwrap();
        assert_eq!(next(&mut b.kernel_in).await, Some(later));

        // From an unknown host address: dropped.
        let stranger = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 3), 0))
            .await
            .unwrap();
        stranger.send_to(&wire, (lb, b.port)).await.unwrap();
        // b -> a goes straight (a's port is real), and opens there.
        let reply = ip_packet(ib, ia, b"reply");
        b.kernel_out.send(reply.clone()).unwrap();
        assert_eq!(next(&mut a.kernel_in).await, Some(reply));
        assert!(b.kernel_in.try_recv().is_err(), "a dropped packet arrived");

        // Closing lets go of the device.
        a.tunnel.close().await;
        assert!(a.kernel_out.send(vec![0x45]).is_err(), "device still read");
    }
}
