//! `token://TOKEN` and `token://HOST:PORT/TOKEN`: Shoal's hosted token
//! discovery service, with classic Swarm's HTTP API:
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /v1/clusters` | a new token, 32 hex digits |
//! | `POST /v1/clusters/TOKEN?ttl=SECS`, body `ip:port` | registers the address for SECS |
//! | `GET /v1/clusters/TOKEN` | JSON array of the live addresses |
//! | `DELETE /v1/clusters/TOKEN` | forgets the token |
//!
//! [`client`] is the backend, [`server`] the service (`shoal discovery serve`).

pub mod client;
pub mod server;

pub use client::{create_cluster, TokenDiscovery};
pub use server::{ServerConfig, TokenServer};

/// Whether `token` looks like a token (letters, digits, `-`, `_`; 1-128 chars).
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `host:port` or a URL, as a base URL without a trailing slash.
pub(crate) fn service_base(service: &str) -> String {
    let s = service.trim().trim_end_matches('/');
    if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    }
}
