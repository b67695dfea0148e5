//! shoal-engine: one Docker engine as the manager sees it.
//!
//! - [`Client`]: an async HTTP client for one engine over `tcp://` or
//!   `unix://` (hyper 1), with typed calls and raw request forwarding
//!   (upgrades included, for hijacked attach/exec).
//! - [`Engine`]: the engine's lifecycle (pending -> validated -> healthy,
//!   failure counting to unhealthy, reconnect) and its cached state
//!   (containers, images, networks, volumes) kept current from its
//!   `/events` stream plus a periodic refresh.
//! - [`EventHub`]: where engines publish their (node-stamped) events and the
//!   manager's own engine events, with a short history for `since`.

pub mod body;
pub mod cache;
pub mod changes;
pub mod client;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod hub;
pub mod inspect;
pub mod journal;
mod lifecycle;
pub mod refresh_queue;
pub mod tls;

pub use body::{empty, full, Body, BoxError};
pub use cache::{CachedContainer, EngineCache, Labels, RunState};
pub use changes::ChangeLog;
pub use client::Client;
pub use endpoint::Endpoint;
pub use engine::{CacheRead, Engine, EngineOpts, EngineSnapshot, EngineStats};
pub use error::EngineError;
pub use hub::EventHub;
pub use journal::Changes;
pub use tls::ClientTls;
