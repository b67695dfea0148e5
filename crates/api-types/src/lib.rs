//! shoal-api-types: the Docker Remote API types Shoal reads and writes, and
//! the cluster types it reports. No I/O.
//!
//! Every type is lenient the way Go's JSON decoding is: unknown fields are
//! kept in `extra` (so a proxied object loses nothing), missing fields and
//! `null` take the default.

pub mod container;
pub mod create_body;
pub mod error;
pub mod event;
pub mod filters;
pub mod image;
pub mod info;
pub mod lenient;
pub mod node;
pub mod units;

pub use container::{ContainerInspect, ContainerState, ContainerSummary, Port, StatusParts};
pub use create_body::{CreateBody, CreateBodyError};
pub use error::ErrorBody;
pub use event::{Event, EventActor};
pub use filters::Filters;
pub use image::ImageSummary;
pub use info::{Info, Version};
pub use node::{NodeStatus, NodeSummary};

/// The API version the manager advertises: dockerd 20.10's maximum, so that
/// requests pass straight through to the engines.
pub const API_VERSION: &str = "1.41";
/// The oldest API version the manager accepts.
pub const MIN_API_VERSION: &str = "1.12";
/// The label holding the cluster-wide ID the manager gives each container.
pub const SWARM_ID_LABEL: &str = "com.docker.swarm.id";
/// The label holding the rescheduling policies a container asked for (`-e
/// reschedule:on-node-failure`), a JSON array of strings.
pub const RESCHEDULE_POLICIES_LABEL: &str = "com.docker.swarm.reschedule-policies";
