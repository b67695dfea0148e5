//! shoal-cluster: the engines together.
//!
//! - the node registry, fed by discovery ([`Cluster::set_engines`]);
//! - container lookup across engines (ID, short ID, swarm ID, name, `/name`,
//!   `node/name`, unique ID prefix), from the caches with a live probe of
//!   the engines when the cache has not heard of it yet;
//! - placement of new containers: scheduler views built from the caches
//!   (updated per engine with the containers that changed in its cache),
//!   reservations taken
//!   under one short lock before the engine call so concurrent creates never
//!   overbook a node nor reuse a name;
//! - the exec registry (exec ID -> engine).
//!
//! No lock is ever held across I/O: one slow engine never blocks requests
//! about the others.

mod cluster;
mod create;
#[cfg(test)]
mod delta_tests;
mod error;
mod intent_store;
mod lookup;
#[cfg(test)]
mod memory_tests;
mod nodes;
mod reschedule;
mod reservations;
mod shoal_networks;
mod spread_order;
#[cfg(test)]
mod tests;
mod view;

pub use cluster::{Cluster, ClusterOpts};

/// How long a lookup that missed the caches waits for each engine it asks:
/// a slow engine never holds a lookup about the others for long.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
pub use create::Created;
pub use error::ClusterError;
pub use nodes::NodeCacheStats;
pub use reschedule::{create_body as reschedule_body, wants_rescheduling, ON_NODE_FAILURE};
pub use shoal_networks::{gateway_of, is_shoal_network, replica_body, SHOAL_DRIVER};
pub use view::node_view;
