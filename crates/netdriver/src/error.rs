//! The one error type of this crate.

/// Everything that can go wrong in the overlay driver. Messages are
/// lower-case, name the input that failed, and fit on one line.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The store (etcd) failed or is unreachable.
    #[error("store {endpoint}: {reason}")]
    Store { endpoint: String, reason: String },
    /// A netlink (or iptables) operation failed.
    #[error("{op} {target}: {reason}")]
    Netlink {
        op: &'static str,
        target: String,
        reason: String,
    },
    /// An input (subnet, address, option, URL, config) is malformed.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    /// Every address of a pool is taken.
    #[error("pool {pool}: no free address")]
    PoolExhausted { pool: String },
    /// A specific address was asked for and another owner holds it.
    #[error("address {address} of pool {pool} is already allocated")]
    AddressTaken { pool: String, address: String },
    /// A network ID the driver never saw.
    #[error("network {0} is not known to this agent")]
    UnknownNetwork(String),
    /// An endpoint ID the driver never saw.
    #[error("endpoint {0} is not known to this agent")]
    UnknownEndpoint(String),
    /// The VNI is already the segment of another subnet.
    #[error("vni {vni} already carries subnet {existing}, not {wanted}")]
    VniConflict {
        vni: u32,
        existing: String,
        wanted: String,
    },
    /// No agent of this host is registered in the store (CNI needs one).
    #[error("no net-agent registered for host {0} in the store (start `shoal net-agent` there)")]
    NoAgent(String),
    /// Compare-and-set kept losing.
    #[error("{what}: too many concurrent changes, gave up")]
    Contention { what: String },
    /// A local file (state, socket) could not be used.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

impl NetError {
    pub fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        NetError::Invalid {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }

    pub fn io(path: impl Into<String>, e: impl std::fmt::Display) -> Self {
        NetError::Io {
            path: path.into(),
            reason: e.to_string(),
        }
    }
}
