//! The key/value store backends: etcd, ZooKeeper, Consul.
//!
//! All three keep node `ADDR` at `<prefix>/<kv.path>/<ADDR>` (default
//! `kv.path`: `docker/swarm/nodes`) with the value `ADDR`, and let it expire
//! after the ttl given to `register`:
//!
//! - etcd: the key is put with a lease of ttl seconds (a fresh lease at each
//!   registration, the previous one revoked);
//! - ZooKeeper: an ephemeral node of a session whose timeout is the ttl (the
//!   server bounds it to its min/max session timeout, 4 s-40 s by default);
//! - Consul: the key is acquired by a session with `TTL` = ttl and
//!   `Behavior` = delete, renewed at each registration (Consul's TTL is 10 s
//!   at least, and Consul may wait up to twice the TTL before it deletes).
//!
//! Keys have no leading slash in etcd and Consul (`swarm/docker/swarm/nodes/ADDR`)
//! and one in ZooKeeper, where paths must start with it.

pub mod consul;
pub mod etcd;
pub mod zk;

use crate::{validate_addr, DiscoveryOpts, KvUrl};

/// Where a key/value backend keeps its nodes.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// The URL as given, for messages.
    pub url: String,
    /// `host:port` of each store server.
    pub endpoints: Vec<String>,
    /// `<prefix>/<kv.path>`, no leading or trailing slash.
    pub dir: String,
    /// The leader lock of replicated managers, `<prefix>/docker/swarm/leader`.
    pub leader: String,
}

impl Layout {
    pub fn new(url: &str, kv: KvUrl, opts: &DiscoveryOpts) -> Self {
        let leader = if kv.prefix.is_empty() {
            crate::election::LEADER_PATH.to_string()
        } else {
            format!("{}/{}", kv.prefix, crate::election::LEADER_PATH)
        };
        Layout {
            url: url.to_string(),
            dir: kv.nodes_dir(opts),
            endpoints: kv.endpoints,
            leader,
        }
    }

    /// The key of one node.
    pub fn key(&self, addr: &str) -> String {
        format!("{}/{addr}", self.dir)
    }
}

/// Keeps the valid addresses among stored values, logging the others.
pub(crate) fn addresses(values: impl IntoIterator<Item = String>, url: &str) -> Vec<String> {
    let mut out: Vec<String> = values
        .into_iter()
        .filter(|v| match validate_addr(v) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(discovery = url, "skipping a stored node: {e}");
                false
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
