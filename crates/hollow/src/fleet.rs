//! Many hollow engines in one process: one listener each on consecutive
//! loopback ports, all served by the one tokio runtime they start on.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpSocket;
use tokio::task::JoinHandle;

use crate::engine::HollowEngine;
use crate::spec::EngineSpec;

/// Listen backlog of each engine: the manager opens a connection per
/// request, in bursts when every engine is validated at once.
const BACKLOG: u32 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Running hollow engines; dropping the fleet stops them.
#[derive(Debug)]
pub struct Fleet {
    engines: Vec<(SocketAddr, Arc<HollowEngine>)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// Starts one engine per spec, the i-th on `base_port + i` of `host`
    /// (each on a port of the kernel's choosing when `base_port` is 0).
    /// Must run inside a tokio runtime.
    pub fn start(host: IpAddr, base_port: u16, specs: Vec<EngineSpec>) -> Result<Self, FleetError> {
        let mut engines = Vec::with_capacity(specs.len());
        let mut tasks = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            let port = if base_port == 0 {
                0
            } else {
                base_port.wrapping_add(i as u16)
            };
            let wanted = SocketAddr::new(host, port);
            let listener = listen(wanted).map_err(|source| FleetError::Listen {
                addr: wanted,
                source,
            })?;
            let addr = listener.local_addr().unwrap_or(wanted);
            let engine = HollowEngine::new(spec);
            tasks.push(tokio::spawn(crate::server::serve(listener, engine.clone())));
            engines.push((addr, engine));
        }
        Ok(Fleet { engines, tasks })
    }

    /// Starts `count` varied engines (see [`EngineSpec::varied`]) numbered
    /// from `first`, on ports from `base_port`.
    pub fn start_varied(
        host: IpAddr,
        base_port: u16,
        first: u32,
        count: u32,
    ) -> Result<Self, FleetError> {
        let specs = (first..first + count).map(EngineSpec::varied).collect();
        Self::start(host, base_port, specs)
    }

    pub fn engines(&self) -> &[(SocketAddr, Arc<HollowEngine>)] {
        &self.engines
    }

    pub fn len(&self) -> usize {
        self.engines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    /// Containers over all engines and an estimate of the heap they hold.
    pub fn container_memory(&self) -> (usize, usize) {
        self.engines
            .iter()
            .map(|(_, e)| e.container_memory())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
}

impl Fleet {
    /// Connections accepted and requests answered over all engines.
    pub fn traffic(&self) -> (u64, u64) {
        self.engines
            .iter()
            .map(|(_, e)| e.traffic())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    // Answers and event lines go out at once; accepted connections inherit
    // it (see `server::serve`).
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// `server::serve` leaves `TCP_NODELAY` to the listener on Linux.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_connections_inherit_nodelay() {
        let listener = listen(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
