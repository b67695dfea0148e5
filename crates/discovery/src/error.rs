//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in discovery. Messages are lower-case, name
/// the input that failed, and fit on one line.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The discovery URL itself is malformed (no host, bad port, empty token...).
    #[error("invalid discovery url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The scheme is not one we know.
    #[error("unsupported discovery scheme {scheme:?} in {url:?} (use nodes, file, token, etcd, consul or zk)")]
    UnknownScheme { scheme: String, url: String },
    /// An address is not `host:port` with a port in 1-65535.
    #[error("invalid address {addr:?}: {reason}")]
    InvalidAddress { addr: String, reason: String },
    /// A `[from:to]` range that cannot be expanded.
    #[error("invalid range in {entry:?}: {reason}")]
    InvalidRange { entry: String, reason: String },
    /// A bad `--discovery-opt` (not `K=V`, unreadable TLS file...).
    #[error("invalid discovery option {option:?}: {reason}")]
    InvalidOption { option: String, reason: String },
    /// The backend cannot do this (registering into a static `nodes://` list).
    #[error("{backend} discovery does not support {operation}")]
    Unsupported {
        backend: &'static str,
        operation: &'static str,
    },
    /// A file backend's file could not be read, or one of its lines is bad.
    #[error("discovery file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// The backend (token service, etcd, zookeeper, consul) failed or is unreachable.
    #[error("{backend} at {endpoint}: {reason}")]
    Backend {
        backend: &'static str,
        endpoint: String,
        reason: String,
    },
}

impl DiscoveryError {
    pub(crate) fn backend(
        backend: &'static str,
        endpoint: impl Into<String>,
        reason: impl std::fmt::Display,
    ) -> Self {
        DiscoveryError::Backend {
            backend,
            endpoint: endpoint.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn url(url: &str, reason: impl Into<String>) -> Self {
        DiscoveryError::InvalidUrl {
            url: url.to_string(),
            reason: reason.into(),
        }
    }
}
