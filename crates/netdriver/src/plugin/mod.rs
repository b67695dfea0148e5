//! Docker's plugin protocol: JSON over HTTP on a unix socket in
//! `/run/docker/plugins/`. `api` holds the messages, `server` the listener
//! and the routing to the agent.

pub mod api;
pub mod server;
