//! Discovery URLs: `scheme://rest`, or a bare list of nodes.

use crate::file::FileDiscovery;
use crate::kv::{consul::ConsulDiscovery, etcd::EtcdDiscovery, zk::ZkDiscovery};
use crate::nodes::NodesDiscovery;
use crate::token::TokenDiscovery;
use crate::{validate_addr, Discovery, DiscoveryError, DiscoveryOpts};

/// The parsed form of `etcd://h1,h2/prefix`, `zk://...`, `consul://...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvUrl {
    /// Store addresses, `host:port` (the scheme's default port filled in).
    pub endpoints: Vec<String>,
    /// The prefix, without leading or trailing slashes (may be empty).
    pub prefix: String,
}

impl KvUrl {
    /// Parses the part after `scheme://`. `default_port` fills in missing ports.
    pub fn parse(url: &str, rest: &str, default_port: u16) -> Result<KvUrl, DiscoveryError> {
        let (hosts, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            if host.is_empty() {
                let reason = if hosts.is_empty() {
                    "names no store address"
                } else {
                    "empty store address in the list"
                };
                return Err(DiscoveryError::url(url, reason));
            }
            let with_port = if has_port(host) {
                host.to_string()
            } else {
                format!("{host}:{default_port}")
            };
            validate_addr(&with_port).map_err(|e| {
                DiscoveryError::url(url, format!("store address {host:?}: {}", reason_of(e)))
            })?;
            endpoints.push(with_port);
        }
        Ok(KvUrl {
            endpoints,
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// The directory that holds the nodes: `<prefix>/<kv.path>`, no leading slash.
    pub fn nodes_dir(&self, opts: &DiscoveryOpts) -> String {
        if self.prefix.is_empty() {
            opts.kv_path().to_string()
        } else {
            format!("{}/{}", self.prefix, opts.kv_path())
        }
    }
}

fn has_port(host: &str) -> bool {
    if host.starts_with('[') {
        host.contains("]:")
    } else {
        host.contains(':')
    }
}

fn reason_of(e: DiscoveryError) -> String {
    match e {
        DiscoveryError::InvalidAddress { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// Splits `scheme://rest`; a URL without `://` is a bare list of nodes.
pub(crate) fn split_scheme(url: &str) -> (&str, &str) {
    url.split_once("://").unwrap_or(("nodes", url))
}

/// Opens the backend that `url` names. Checks the URL's form only: nothing is
/// contacted until the first call.
pub fn from_url(url: &str, opts: &DiscoveryOpts) -> Result<Box<dyn Discovery>, DiscoveryError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(DiscoveryError::url(url, "empty url"));
    }
    let (scheme, rest) = split_scheme(url);
    match scheme {
        "nodes" => Ok(Box::new(NodesDiscovery::parse(rest).map_err(
            |e| match e {
                DiscoveryError::InvalidUrl { reason, .. } => DiscoveryError::url(url, reason),
                other => other,
            },
        )?)),
        "file" => {
            if rest.is_empty() {
                return Err(DiscoveryError::url(url, "names no file"));
            }
            Ok(Box::new(FileDiscovery::new(rest)))
        }
        "token" => {
            let (service, token) = match rest.rsplit_once('/') {
                Some((svc, tok)) => {
                    validate_addr(svc).map_err(|e| {
                        DiscoveryError::url(
                            url,
                            format!("service address {svc:?}: {}", reason_of(e)),
                        )
                    })?;
                    (format!("http://{svc}"), tok)
                }
                None => (opts.token_service(), rest),
            };
            if token.is_empty() {
                return Err(DiscoveryError::url(url, "names no token"));
            }
            if !crate::token::valid_token(token) {
                return Err(DiscoveryError::url(
                    url,
                    format!("token {token:?} may hold only letters and digits"),
                ));
            }
            Ok(Box::new(TokenDiscovery::new(&service, token, opts)?))
        }
        "etcd" => Ok(Box::new(EtcdDiscovery::new(
            url,
            KvUrl::parse(url, rest, 2379)?,
            opts,
        )?)),
        "zk" => Ok(Box::new(ZkDiscovery::new(
            url,
            KvUrl::parse(url, rest, 2181)?,
            opts,
        )?)),
        "consul" => Ok(Box::new(ConsulDiscovery::new(
            url,
            KvUrl::parse(url, rest, 8500)?,
            opts,
        )?)),
        other => Err(DiscoveryError::UnknownScheme {
            scheme: other.to_string(),
            url: url.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        from_url(url, &DiscoveryOpts::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn kv_urls_fill_default_ports_and_trim_prefixes() {
        let u = KvUrl::parse("etcd://a,b:1/x/y/", "a,b:1/x/y/", 2379).unwrap();
        assert_eq!(u.endpoints, ["a:2379", "b:1"]);
        assert_eq!(u.prefix, "x/y");
        assert_eq!(
            u.nodes_dir(&DiscoveryOpts::default()),
            "x/y/docker/swarm/nodes"
        );
        let opts = DiscoveryOpts::from_pairs(["kv.path=/custom/nodes/"]).unwrap();
        assert_eq!(u.nodes_dir(&opts), "x/y/custom/nodes");
        let u = KvUrl::parse("zk://[::1]", "[::1]", 2181).unwrap();
        assert_eq!(u.endpoints, ["[::1]:2181"]);
        assert_eq!(u.nodes_dir(&DiscoveryOpts::default()), "docker/swarm/nodes");
    }

    #[test]
    fn malformed_urls_name_the_problem() {
        assert!(
            err("etcd://").contains("names no store address"),
            "{}",
            err("etcd://")
        );
        assert!(err("etcd:///swarm").contains("names no store address"));
        assert!(err("zk://:x").contains("\"zk://:x\""), "{}", err("zk://:x"));
        assert!(
            err("zk://:x").contains("missing host"),
            "{}",
            err("zk://:x")
        );
        assert!(err("consul://h:99999/p").contains("1-65535"));
        assert!(err("token://").contains("names no token"));
        assert!(err("token://h:1/").contains("names no token"));
        assert!(err("nodes://a:[5:1]").contains("[5:1]"));
        assert!(err("a:[5:1]").contains("greater"));
        assert!(err("nodes://").contains("names no node"));
        assert!(err("file://").contains("names no file"));
        assert!(err("ftp://x").contains("unsupported discovery scheme \"ftp\""));
        assert!(err("").contains("empty url"));
        for url in ["etcd://", "zk://:x", "token://", "a:[5:1]"] {
            assert!(!err(url).contains('\n'), "one line for {url}");
        }
    }

    #[tokio::test]
    async fn bare_lists_are_nodes() {
        let d = from_url("a:1,b:[2:3]", &DiscoveryOpts::default()).unwrap();
        assert_eq!(d.scheme(), "nodes");
        assert_eq!(d.fetch().await.unwrap(), ["a:1", "b:2", "b:3"]);
    }
}
