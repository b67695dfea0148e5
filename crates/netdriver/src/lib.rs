//! Shoal's overlay network: a VXLAN data plane whose state lives in etcd,
//! behind two front ends.
//!
//! - `shoal net-agent` ([`agent::Agent`] + [`plugin::server`]): Docker's
//!   remote network driver and IPAM driver (driver name `shoal`) on a unix
//!   socket, one agent per host, no cluster store needed in the engine.
//! - `shoal cni` ([`cni`]): a CNI 1.0 plugin attaching network namespaces
//!   to the same networks.
//!
//! Layers: [`kv`] (the store, compare-and-set), [`layout`] (keys),
//! [`ipam`] (addresses), [`overlay`] (network membership and endpoints),
//! [`dataplane`] (devices, FDB, neighbours) over [`netlink::Netlink`] (real
//! rtnetlink, or a recording fake); [`tunnel`] seals the VXLAN packets of
//! encrypted networks in userspace.

pub mod agent;
pub mod cni;
pub mod dataplane;
pub mod dns;
pub mod engine;
mod error;
pub mod ipam;
pub mod kv;
pub mod layout;
pub mod model;
pub mod netlink;
pub mod overlay;
pub mod plugin;
pub mod session;
pub mod subnet;
pub mod tunnel;

pub use error::NetError;
