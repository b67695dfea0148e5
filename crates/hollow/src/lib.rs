#![recursion_limit = "512"]
//! Hollow Docker engines: simulated engines that answer the part of the
//! Docker API the Shoal manager uses (ping, version, info, containers
//! create/start/stop/kill/restart/pause/rename/wait/inspect/list/delete,
//! images list/inspect/pull/delete, networks, volumes, events streaming)
//! from memory, in dockerd 20.10's JSON shapes, thousands to a process.
//!
//! Test and bench tooling only (like Kubernetes' hollow nodes): nothing
//! runs, containers are a few hundred bytes of state each. Correctness
//! tests keep using real engines. The scale benchmark that drives a real
//! `shoal manage` over a fleet of these is the `shoal-scale` binary.
//!
//! | module | holds |
//! | --- | --- |
//! | [`spec`] | an engine's identity: name, ID, CPUs, memory, labels |
//! | [`container`] | one container's compact state |
//! | [`create_body`] | the members of a create body an engine keeps |
//! | [`engine`] | one engine: state, lifecycle, events |
//! | [`shapes`] | the JSON answers, dockerd 20.10 layouts |
//! | [`json_text`] | JSON text written in place, for the per-container answers |
//! | [`server`] | HTTP routing of one engine |
//! | [`accepted`] | an accepted connection, closed without a shutdown first |
//! | [`fleet`] | many engines on consecutive loopback ports |

pub mod accepted;
pub mod container;
pub mod create_body;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod json_text;
pub mod server;
pub mod shapes;
pub mod spec;

pub use engine::HollowEngine;
pub use error::HollowError;
pub use fleet::{Fleet, FleetError};
pub use spec::EngineSpec;
