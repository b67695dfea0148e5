//! Shoal discovery: how a manager finds its nodes, and how an agent (`shoal
//! join`) announces one.
//!
//! Every backend sits behind the one [`Discovery`] trait, and a discovery URL
//! picks the backend ([`from_url`]):
//!
//! | URL | backend | watch | register |
//! | --- | --- | --- | --- |
//! | `nodes://a:p,b:p` or bare `a:p,b:p` | static list ([`nodes`]) | sends the list once | unsupported |
//! | `file:///path` | one address a line, `#` comments ([`file`]) | re-reads every heartbeat | unsupported |
//! | `token://TOKEN`, `token://HOST:PORT/TOKEN` | Shoal's hosted token service | polls every heartbeat | POST with ttl |
//! | `etcd://h1,h2/prefix` | etcd v3 API, leases | real watch | key with a lease of ttl |
//! | `zk://h1,h2/prefix` | ZooKeeper | real watch | ephemeral node |
//! | `consul://h/prefix` | Consul KV + sessions | blocking queries | key held by a session of ttl |
//!
//! Replicated managers elect a primary through [`Discovery::campaign`]
//! (etcd: a key created in a transaction on a lease; ZooKeeper: an
//! ephemeral node; Consul: a key acquired by a session), see [`election`].
//!
//! `nodes` and `file` entries may hold one inclusive numeric range each,
//! anywhere in the entry: `10.0.0.[10:200]:2375`, `host:[2375:2380]`
//! ([`ranges::expand`]).
//!
//! Key/value stores keep node `ADDR` at `<prefix>/docker/swarm/nodes/<ADDR>`
//! with the value `ADDR`. The `kv.path` option replaces `docker/swarm/nodes`;
//! `kv.cacertfile`, `kv.certfile`, `kv.keyfile` turn on TLS to the store.
//!
//! # Using it
//!
//! ```no_run
//! # async fn demo() -> Result<(), shoal_discovery::DiscoveryError> {
//! use std::time::Duration;
//! use shoal_discovery::{from_url, DiscoveryOpts};
//!
//! let d = from_url("nodes://10.0.0.[1:2]:2375", &DiscoveryOpts::default())?;
//! assert_eq!(d.fetch().await?, ["10.0.0.1:2375", "10.0.0.2:2375"]);
//!
//! // A manager: the full list now, then again each time it changes.
//! let mut watch = d.watch(Duration::from_secs(60));
//! while let Some(update) = watch.next().await {
//!     match update {
//!         Ok(nodes) => println!("nodes now: {nodes:?}"),
//!         Err(err) => eprintln!("discovery: {err}"), // the watch goes on
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! All async methods need a tokio runtime; [`Discovery::watch`] spawns its
//! task on the current one and stops it when the [`Watch`] is dropped.

pub mod addr;
pub mod duration;
pub mod election;
mod error;
pub mod file;
mod http;
pub mod kv;
pub mod nodes;
pub mod ranges;
pub mod token;
mod url;
mod watch;

use std::collections::BTreeMap;
use std::time::Duration;

pub use addr::validate_addr;
pub use election::{Campaign, Leadership};
pub use error::DiscoveryError;
pub use url::{from_url, KvUrl};
pub use watch::Watch;

/// The environment variable that names the token service for `token://TOKEN`.
pub const DISCOVERY_SERVICE_ENV: &str = "SHOAL_DISCOVERY_SERVICE";
/// The token service used when neither options nor environment name one.
pub const DEFAULT_DISCOVERY_SERVICE: &str = "http://127.0.0.1:8700";
/// Where nodes live under a key/value store's prefix, unless `kv.path` says otherwise.
pub const DEFAULT_KV_PATH: &str = "docker/swarm/nodes";

/// A discovery backend: where the list of nodes (`host:port` addresses of
/// their engines) lives.
///
/// Object safe: [`from_url`] hands out a `Box<dyn Discovery>`; turn it into an
/// `Arc<dyn Discovery>` with `.into()` to share it between tasks.
///
/// Addresses come back deduplicated, in the backend's order (sorted by key for
/// the key/value stores).
#[async_trait::async_trait]
pub trait Discovery: Send + Sync + std::fmt::Debug {
    /// The URL scheme of this backend: `nodes`, `file`, `token`, `etcd`, `zk`, `consul`.
    fn scheme(&self) -> &'static str;

    /// The current list of nodes, read once from the backend.
    async fn fetch(&self) -> Result<Vec<String>, DiscoveryError>;

    /// Follows the list: the first item is the full list as it is now, then a
    /// full list again each time it changes. Backends without change
    /// notification (`file`, `token`) poll every `heartbeat`; etcd, ZooKeeper
    /// and Consul watch the store, and use `heartbeat` only to pace retries.
    /// A failure arrives as an `Err` item and the watch goes on (retrying
    /// every heartbeat), so a store that is down for a while and comes back
    /// needs no new watch. Must be called inside a tokio runtime; dropping the
    /// [`Watch`] stops it.
    fn watch(&self, heartbeat: Duration) -> Watch;

    /// Announces `addr` (validated `host:port`) for `ttl`: it vanishes from
    /// the list unless registered again before the ttl runs out. `shoal join`
    /// calls it every heartbeat. Static backends (`nodes`, `file`) return
    /// [`DiscoveryError::Unsupported`].
    async fn register(&self, addr: &str, ttl: Duration) -> Result<(), DiscoveryError>;

    /// Campaigns for the leader lock of replicated managers
    /// (`<prefix>/docker/swarm/leader`, value `me`, held for `ttl` past the
    /// last renewal); see [`election`]. etcd, ZooKeeper and Consul support
    /// it; the other backends return [`DiscoveryError::Unsupported`]. Must be called
    /// inside a tokio runtime.
    fn campaign(&self, me: &str, ttl: Duration) -> Result<Campaign, DiscoveryError> {
        let _ = (me, ttl);
        Err(DiscoveryError::Unsupported {
            backend: self.scheme(),
            operation: "leader election (--replication)",
        })
    }
}

/// Settings for [`from_url`] beyond the URL itself.
#[derive(Clone, Debug, Default)]
pub struct DiscoveryOpts {
    /// `--discovery-opt K=V` pairs: `kv.path`, `kv.cacertfile`, `kv.certfile`,
    /// `kv.keyfile`. Unknown keys are ignored with a warning, as classic
    /// Swarm ignored them.
    pub options: BTreeMap<String, String>,
    /// The token service for `token://TOKEN` (`--discovery-service`). When
    /// `None`: `$SHOAL_DISCOVERY_SERVICE`, else [`DEFAULT_DISCOVERY_SERVICE`].
    pub token_service: Option<String>,
    /// Time limit for one request to a network backend (default 10 s).
    pub request_timeout: Option<Duration>,
}

/// The option keys this crate understands.
pub const KNOWN_OPTIONS: &[&str] = &["kv.path", "kv.cacertfile", "kv.certfile", "kv.keyfile"];

impl DiscoveryOpts {
    /// Builds options from `K=V` strings, as `--discovery-opt` gives them.
    pub fn from_pairs<I, S>(pairs: I) -> Result<Self, DiscoveryError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut options = BTreeMap::new();
        for pair in pairs {
            let pair = pair.as_ref();
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| DiscoveryError::InvalidOption {
                    option: pair.to_string(),
                    reason: "expected key=value".into(),
                })?;
            if k.is_empty() {
                return Err(DiscoveryError::InvalidOption {
                    option: pair.to_string(),
                    reason: "empty key".into(),
                });
            }
            if !KNOWN_OPTIONS.contains(&k) {
                tracing::warn!(option = k, "unknown discovery option, ignored");
            }
            options.insert(k.to_string(), v.to_string());
        }
        Ok(DiscoveryOpts {
            options,
            ..Default::default()
        })
    }

    /// `kv.path`, without leading or trailing slashes, or [`DEFAULT_KV_PATH`].
    pub fn kv_path(&self) -> &str {
        match self.options.get("kv.path").map(|p| p.trim_matches('/')) {
            Some(p) if !p.is_empty() => p,
            _ => DEFAULT_KV_PATH,
        }
    }

    /// The token service URL, from the options, the environment or the default.
    pub fn token_service(&self) -> String {
        self.token_service
            .clone()
            .or_else(|| {
                std::env::var(DISCOVERY_SERVICE_ENV)
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| DEFAULT_DISCOVERY_SERVICE.to_string())
    }

    /// The per-request time limit.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout.unwrap_or(Duration::from_secs(10))
    }
}
