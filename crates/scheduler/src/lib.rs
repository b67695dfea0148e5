//! shoal-scheduler: where a container goes.
//!
//! Pure and I/O-free: the manager builds a snapshot of the cluster (one
//! [`NodeView`] per node), a [`ContainerRequest`] from the create call, and
//! asks [`Scheduler::select`] for a node; it reserves the container's CPUs and
//! memory on that node itself, right after.
//!
//! The behaviour is classic Swarm's (`shared/CLASSIC-SWARM-BEHAVIOUR.md`,
//! "Scheduling"): [`filter`]s run in order (`health`, `port`,
//! `containerslots`, `dependency`, `affinity`, `constraint`, `whitelist`),
//! then a [`strategy`] (`spread`, `binpack`, `random`) picks among the nodes
//! left that have room; if none is found, the selection runs again with the
//! soft (`~`) [`expr`]essions dropped. Error texts are classic Swarm's.
//!
//! Nodes may be given as plain views or as [`IndexedNode`]s (built once per
//! node change), which make the affinity and port filters look up instead of
//! walking every container. `README.md` beside this crate lists the files,
//! the deliberate differences from classic Swarm, and benchmark numbers.
//!
//! ```
//! use shoal_scheduler::{ContainerRequest, NodeView, Scheduler, SchedulerConfig};
//!
//! let node = |name: &str, region: &str| NodeView {
//!     id: format!("ID-{name}"),
//!     name: name.to_string(),
//!     labels: [("region".to_string(), region.to_string())].into(),
//!     total_cpus: 2,
//!     total_memory: 2 << 30,
//!     healthy: true,
//!     health_indicator: 100,
//!     ..Default::default()
//! };
//! let nodes = vec![node("n1", "eu-west"), node("n2", "us-east")];
//! let scheduler = Scheduler::new(&SchedulerConfig::default()).unwrap();
//! let mut request = ContainerRequest::new("busybox");
//! request.constraints.push("region==us-*".to_string());
//! assert_eq!(scheduler.select(&nodes, &request).unwrap().index, 1);
//! ```

mod container_keys;
pub mod container_labels;
pub mod error;
pub mod expr;
pub mod filter;
mod hashing;
pub mod index;
mod interner;
pub mod node;
mod node_labels;
mod plan;
pub mod request;
mod scheduler;
mod str_table;
pub mod strategy;

pub use container_labels::ContainerLabels;
pub use error::{ConfigError, ExprError, HintError, ScheduleError};
pub use expr::{Expr, Operator, RegexCache};
pub use filter::{Filter, PreparedRequest, DEFAULT_FILTERS};
pub use index::{IndexedNode, NodeIndex, NodeRef, NodeSource, Overlaid, Overlay};
pub use node::{ContainerView, ImageView, Labels, NodeView, PortBinding};
pub use request::{ContainerRequest, SchedulingHints};
pub use scheduler::{
    filter_by_name, strategy_by_name, Placement, Scheduler, SchedulerConfig, DEFAULT_OVERCOMMIT,
};
pub use strategy::{Candidate, Strategy, STRATEGIES};

#[cfg(test)]
mod testing;
