//! Address management shared by every host: pools and addresses live in the
//! store, and every allocation is a create-if-absent transaction, so two
//! hosts (or two requests on one host) never get the same address. A loser
//! of a race just tries another free address.

use std::net::Ipv4Addr;

use rand::seq::SliceRandom;

use crate::layout::last_segment;
use crate::model::{to_json, Allocation, PoolRecord};
use crate::session::Session;
use crate::subnet::Subnet;
use crate::NetError;

/// Where pools come from when Docker asks for one without `--subnet`: /24s
/// of 10.240.0.0/12.
const DEFAULT_SPACE: (u32, u32) = (0x0af0_0000, 0x0aff_ff00);

/// How many times an allocation may lose a race before giving up.
const MAX_TRIES: usize = 64;

/// What kind of address is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressKind {
    /// A container's: stored, unique.
    Endpoint,
    /// The network's gateway: the same on every host, not stored.
    Gateway,
}

pub struct Ipam {
    session: Session,
}

impl Ipam {
    pub fn new(session: Session) -> Self {
        Ipam { session }
    }

    /// Reserves `pool` (or, without one, a free /24 of 10.240.0.0/12) for
    /// this host; the pool ID is the subnet, the same on every host.
    pub async fn request_pool(&self, pool: Option<&str>) -> Result<Subnet, NetError> {
        let s = &self.session;
        let subnet = match pool.filter(|p| !p.is_empty()) {
            Some(p) => {
                let subnet: Subnet = p.parse()?;
                let rec = to_json(&PoolRecord {
                    subnet: subnet.to_string(),
                });
                s.kv.create(&s.layout.pool(&subnet), &rec, 0).await?;
                subnet
            }
            None => self.fresh_pool().await?,
        };
        s.kv.put(&s.layout.pool_user(&subnet, s.host), "", s.lease())
            .await?;
        Ok(subnet)
    }

    /// The pool named `name` (`--ipam-opt network=NAME`): the first host to
    /// ask takes a free /24 and records it under the name (create-if-absent);
    /// every other host gets the same subnet, so engines that create the
    /// network separately agree without naming a subnet.
    pub async fn request_named_pool(&self, name: &str) -> Result<Subnet, NetError> {
        let s = &self.session;
        if name.is_empty() || name.contains('/') {
            return Err(NetError::invalid(
                "pool name",
                name,
                "must be non-empty, without '/'",
            ));
        }
        let key = s.layout.pool_name(name);
        let subnet = match s.kv.get(&key).await? {
            Some(e) => e.value.parse()?,
            None => {
                let fresh = self.fresh_pool().await?;
                if s.kv.create(&key, &fresh.to_string(), 0).await? {
                    fresh
                } else {
                    // Another host named it first: give ours back.
                    s.kv.delete(&s.layout.pool(&fresh)).await?;
                    let e = s.kv.get(&key).await?.ok_or_else(|| NetError::Contention {
                        what: format!("naming pool {name}"),
                    })?;
                    e.value.parse()?
                }
            }
        };
        s.kv.put(&s.layout.pool_user(&subnet, s.host), "", s.lease())
            .await?;
        Ok(subnet)
    }

    async fn fresh_pool(&self) -> Result<Subnet, NetError> {
        let s = &self.session;
        let (taken, _) = s.kv.list(&s.layout.pools()).await?;
        let taken: Vec<String> = taken
            .iter()
            .map(|e| last_segment(&e.key).to_string())
            .collect();
        let mut base = DEFAULT_SPACE.0;
        while base <= DEFAULT_SPACE.1 {
            let subnet = Subnet {
                base: Ipv4Addr::from(base),
                len: 24,
            };
            if !taken.contains(&subnet.key()) {
                let rec = to_json(&PoolRecord {
                    subnet: subnet.to_string(),
                });
                if s.kv.create(&s.layout.pool(&subnet), &rec, 0).await? {
                    return Ok(subnet);
                }
            }
            base += 256;
        }
        Err(NetError::PoolExhausted {
            pool: "10.240.0.0/12".into(),
        })
    }

    /// This host stops using `pool`; the last host to go removes the pool
    /// and whatever addresses are still recorded in it.
    pub async fn release_pool(&self, pool: &str) -> Result<(), NetError> {
        let s = &self.session;
        let subnet: Subnet = pool.parse()?;
        s.kv.delete(&s.layout.pool_user(&subnet, s.host)).await?;
        let (users, _) = s.kv.list(&s.layout.pool_users(&subnet)).await?;
        if users.is_empty() {
            s.kv.delete_prefix(&s.layout.addresses(&subnet)).await?;
            s.kv.delete(&s.layout.pool(&subnet)).await?;
            let (names, _) = s.kv.list(&s.layout.pool_names()).await?;
            for n in names.iter().filter(|n| n.value == subnet.to_string()) {
                s.kv.delete(&n.key).await?;
            }
        }
        Ok(())
    }

    /// An address of `pool`: `wanted` if given (and free, or already this
    /// owner's), otherwise any free one. Gateways are the subnet's first
    /// address unless one is named, and are not recorded.
    pub async fn request_address(
        &self,
        pool: &str,
        wanted: Option<Ipv4Addr>,
        kind: AddressKind,
        owner: &str,
    ) -> Result<Ipv4Addr, NetError> {
        let s = &self.session;
        let subnet: Subnet = pool.parse()?;
        if let Some(ip) = wanted {
            if !subnet.contains(ip) {
                return Err(NetError::invalid(
                    "address",
                    ip.to_string(),
                    format!("not in pool {subnet}"),
                ));
            }
        }
        if kind == AddressKind::Gateway {
            return Ok(wanted.unwrap_or_else(|| subnet.gateway()));
        }
        let alloc = to_json(&Allocation {
            host: s.host,
            owner: owner.to_string(),
        });
        if let Some(ip) = wanted {
            let key = s.layout.address(&subnet, ip);
            if s.kv.create(&key, &alloc, s.lease()).await? {
                return Ok(ip);
            }
            // Already ours (an engine re-reserving after a restart)?
            if let Some(e) = s.kv.get(&key).await? {
                let a: Option<Allocation> = serde_json::from_str(&e.value).ok();
                if a.is_some_and(|a| a.host == s.host && a.owner == owner) {
                    return Ok(ip);
                }
            }
            return Err(NetError::AddressTaken {
                pool: subnet.to_string(),
                address: ip.to_string(),
            });
        }
        for _ in 0..MAX_TRIES {
            let (taken, _) = s.kv.list(&s.layout.addresses(&subnet)).await?;
            let taken: std::collections::HashSet<&str> =
                taken.iter().map(|e| last_segment(&e.key)).collect();
            // Pick among the first few free addresses at random: concurrent
            // allocators then rarely race for the same one.
            let free: Vec<Ipv4Addr> = subnet
                .assignable()
                .filter(|ip| !taken.contains(ip.to_string().as_str()))
                .take(16)
                .collect();
            let Some(&ip) = free.choose(&mut rand::thread_rng()) else {
                return Err(NetError::PoolExhausted {
                    pool: subnet.to_string(),
                });
            };
            if s.kv
                .create(&s.layout.address(&subnet, ip), &alloc, s.lease())
                .await?
            {
                return Ok(ip);
            }
        }
        Err(NetError::Contention {
            what: format!("allocating an address in {subnet}"),
        })
    }

    /// Frees `ip` of `pool` (no error when it was not allocated).
    pub async fn release_address(&self, pool: &str, ip: Ipv4Addr) -> Result<(), NetError> {
        let s = &self.session;
        let subnet: Subnet = pool.parse()?;
        s.kv.delete(&s.layout.address(&subnet, ip)).await
    }

    /// The address `owner` holds in `pool`, if any (CNI finds its address
    /// this way on DEL and CHECK).
    pub async fn find_owned(&self, pool: &str, owner: &str) -> Result<Option<Ipv4Addr>, NetError> {
        let s = &self.session;
        let subnet: Subnet = pool.parse()?;
        let (list, _) = s.kv.list(&s.layout.addresses(&subnet)).await?;
        Ok(list.iter().find_map(|e| {
            let a: Allocation = serde_json::from_str(&e.value).ok()?;
            (a.owner == owner).then(|| last_segment(&e.key).parse().ok())?
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::kv::{Kv, MemKv};
    use crate::layout::Layout;

    async fn session(kv: &MemKv, host: u8) -> Session {
        let lease = kv.grant(Duration::from_secs(10)).await.unwrap();
        Session::new(
            Arc::new(kv.clone()),
            Layout::new("/t"),
            Ipv4Addr::new(10, 210, 0, host),
            lease,
        )
    }

    #[tokio::test]
    async fn concurrent_allocations_never_collide() {
        let kv = MemKv::new();
        let mut tasks = Vec::new();
        for h in 1..=3u8 {
            let ipam = Arc::new(Ipam::new(session(&kv, h).await));
            ipam.request_pool(Some("10.9.0.0/24")).await.unwrap();
            for i in 0..20 {
                let ipam = ipam.clone();
                tasks.push(tokio::spawn(async move {
                    ipam.request_address(
                        "10.9.0.0/24",
                        None,
                        AddressKind::Endpoint,
                        &format!("e{h}-{i}"),
                    )
                    .await
                    .unwrap()
                }));
            }
        }
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap());
        }
        let n = got.len();
        got.sort();
        got.dedup();
        assert_eq!(got.len(), n, "duplicate addresses handed out");
        assert_eq!(n, 60);
    }

    #[tokio::test]
    async fn gateway_is_shared_and_not_stored() {
        let kv = MemKv::new();
        let a = Ipam::new(session(&kv, 1).await);
        let b = Ipam::new(session(&kv, 2).await);
        let pool = a.request_pool(Some("10.9.0.0/24")).await.unwrap();
        b.request_pool(Some(&pool.to_string())).await.unwrap();
        let ga = a
            .request_address("10.9.0.0/24", None, AddressKind::Gateway, "")
            .await
            .unwrap();
        let gb = b
            .request_address("10.9.0.0/24", None, AddressKind::Gateway, "")
            .await
            .unwrap();
        assert_eq!(ga, Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!(ga, gb);
        assert!(!kv.keys().iter().any(|k| k.contains("/ipam/")));
    }

    #[tokio::test]
    async fn specific_addresses_and_release() {
        let kv = MemKv::new();
        let a = Ipam::new(session(&kv, 1).await);
        let b = Ipam::new(session(&kv, 2).await);
        a.request_pool(Some("10.9.0.0/24")).await.unwrap();
        b.request_pool(Some("10.9.0.0/24")).await.unwrap();
        let ip = Ipv4Addr::new(10, 9, 0, 50);
        a.request_address("10.9.0.0/24", Some(ip), AddressKind::Endpoint, "x")
            .await
            .unwrap();
        // Asking again as the same owner is fine (engine restart).
        a.request_address("10.9.0.0/24", Some(ip), AddressKind::Endpoint, "x")
            .await
            .unwrap();
        let e = b
            .request_address("10.9.0.0/24", Some(ip), AddressKind::Endpoint, "y")
            .await
            .unwrap_err();
        assert!(matches!(e, NetError::AddressTaken { .. }), "{e}");
        assert_eq!(a.find_owned("10.9.0.0/24", "x").await.unwrap(), Some(ip));
        a.release_address("10.9.0.0/24", ip).await.unwrap();
        b.request_address("10.9.0.0/24", Some(ip), AddressKind::Endpoint, "y")
            .await
            .unwrap();
        let outside = b
            .request_address(
                "10.9.0.0/24",
                Some(Ipv4Addr::new(10, 8, 0, 1)),
                AddressKind::Endpoint,
                "z",
            )
            .await;
        assert!(outside.is_err());
        // The last user to release the pool removes it with its addresses.
        a.release_pool("10.9.0.0/24").await.unwrap();
        assert!(kv.keys().iter().any(|k| k.contains("/ipam/")));
        b.release_pool("10.9.0.0/24").await.unwrap();
        assert!(kv.keys().is_empty(), "{:?}", kv.keys());
    }

    #[tokio::test]
    async fn pools_without_subnet_are_distinct_and_exhaustion_is_reported() {
        let kv = MemKv::new();
        let a = Ipam::new(session(&kv, 1).await);
        let p1 = a.request_pool(None).await.unwrap();
        let p2 = a.request_pool(None).await.unwrap();
        assert_ne!(p1, p2);
        assert_eq!(p1.to_string(), "10.240.0.0/24");
        a.request_pool(Some("10.9.9.0/30")).await.unwrap();
        a.request_address("10.9.9.0/30", None, AddressKind::Endpoint, "a")
            .await
            .unwrap();
        let e = a
            .request_address("10.9.9.0/30", None, AddressKind::Endpoint, "b")
            .await
            .unwrap_err();
        assert!(matches!(e, NetError::PoolExhausted { .. }), "{e}");
    }

    #[tokio::test]
    async fn named_pools_are_the_same_everywhere_and_go_with_the_last_user() {
        let kv = MemKv::new();
        let mut tasks = Vec::new();
        for h in 1..=3u8 {
            let ipam = Ipam::new(session(&kv, h).await);
            tasks.push(tokio::spawn(async move {
                (ipam.request_named_pool("web").await.unwrap(), ipam)
            }));
        }
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap());
        }
        assert!(
            got.iter().all(|(s, _)| *s == got[0].0),
            "{:?}",
            got.iter().map(|g| g.0).collect::<Vec<_>>()
        );
        let other = got[0].1.request_named_pool("db").await.unwrap();
        assert_ne!(other, got[0].0);
        got[0].1.release_pool(&other.to_string()).await.unwrap();
        for (subnet, ipam) in &got {
            ipam.release_pool(&subnet.to_string()).await.unwrap();
        }
        assert!(kv.keys().is_empty(), "{:?}", kv.keys());
        assert!(got[0].1.request_named_pool("a/b").await.is_err());
    }

    #[tokio::test]
    async fn a_dead_hosts_addresses_are_freed_with_its_lease() {
        let kv = MemKv::new();
        let a = Ipam::new(session(&kv, 1).await);
        a.request_pool(Some("10.9.0.0/24")).await.unwrap();
        a.request_address("10.9.0.0/24", None, AddressKind::Endpoint, "x")
            .await
            .unwrap();
        kv.expire(a.session.lease());
        assert!(!kv.keys().iter().any(|k| k.contains("/ipam/")));
    }
}
