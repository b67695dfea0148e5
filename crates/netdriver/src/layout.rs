//! Where the overlay keeps its state in the store, all under one prefix
//! (default `/shoal/net`):
//!
//! | key | value | lease |
//! | --- | --- | --- |
//! | `hosts/<vtep ip>` | [`HostRecord`] | the host's |
//! | `networks/<vni>` | [`NetworkRecord`] | none |
//! | `members/<vni>/<vtep ip>` | [`MemberRecord`] | the host's |
//! | `endpoints/<vni>/<ip>` | [`EndpointRecord`] | the host's |
//! | `pools/<subnet>` | [`PoolRecord`] | none |
//! | `pool-users/<subnet>/<vtep ip>` | empty | the host's |
//! | `pool-names/<name>` | the subnet | none |
//! | `ipam/<subnet>/<ip>` | [`Allocation`] | the host's |
//! | `names/<vni>/<container name>` | [`NameRecord`] | the host's |
//!
//! Everything a host holds hangs on its lease, so when a host disappears its
//! endpoints, memberships and addresses go when the lease expires, and the
//! other agents remove their FDB and neighbour entries for it. `<subnet>` is
//! written `10.1.2.0-24` (no slash inside a key segment).
//!
//! [`HostRecord`]: crate::model::HostRecord
//! [`NetworkRecord`]: crate::model::NetworkRecord
//! [`MemberRecord`]: crate::model::MemberRecord
//! [`EndpointRecord`]: crate::model::EndpointRecord
//! [`PoolRecord`]: crate::model::PoolRecord
//! [`Allocation`]: crate::model::Allocation
//! [`NameRecord`]: crate::model::NameRecord

use std::net::Ipv4Addr;

use crate::subnet::Subnet;

pub const DEFAULT_PREFIX: &str = "/shoal/net";

/// Key names under one prefix.
#[derive(Clone, Debug)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    pub fn new(prefix: &str) -> Self {
        let p = prefix.trim_end_matches('/');
        let p = if p.starts_with('/') {
            p.to_string()
        } else {
            format!("/{p}")
        };
        Layout { prefix: p }
    }

    pub fn root(&self) -> String {
        format!("{}/", self.prefix)
    }
    pub fn hosts(&self) -> String {
        format!("{}/hosts/", self.prefix)
    }
    pub fn host(&self, host: Ipv4Addr) -> String {
        format!("{}/hosts/{host}", self.prefix)
    }
    pub fn network(&self, vni: u32) -> String {
        format!("{}/networks/{vni}", self.prefix)
    }
    pub fn networks(&self) -> String {
        format!("{}/networks/", self.prefix)
    }
    pub fn members(&self, vni: u32) -> String {
        format!("{}/members/{vni}/", self.prefix)
    }
    pub fn all_members(&self) -> String {
        format!("{}/members/", self.prefix)
    }
    pub fn member(&self, vni: u32, host: Ipv4Addr) -> String {
        format!("{}/members/{vni}/{host}", self.prefix)
    }
    pub fn endpoints(&self, vni: u32) -> String {
        format!("{}/endpoints/{vni}/", self.prefix)
    }
    pub fn all_endpoints(&self) -> String {
        format!("{}/endpoints/", self.prefix)
    }
    pub fn endpoint(&self, vni: u32, ip: Ipv4Addr) -> String {
        format!("{}/endpoints/{vni}/{ip}", self.prefix)
    }
    pub fn names(&self, vni: u32) -> String {
        format!("{}/names/{vni}/", self.prefix)
    }
    pub fn name(&self, vni: u32, name: &str) -> String {
        format!("{}/names/{vni}/{}", self.prefix, name.to_ascii_lowercase())
    }
    pub fn pool(&self, subnet: &Subnet) -> String {
        format!("{}/pools/{}", self.prefix, subnet.key())
    }
    pub fn pools(&self) -> String {
        format!("{}/pools/", self.prefix)
    }
    pub fn pool_name(&self, name: &str) -> String {
        format!("{}/pool-names/{name}", self.prefix)
    }
    pub fn pool_names(&self) -> String {
        format!("{}/pool-names/", self.prefix)
    }
    pub fn pool_users(&self, subnet: &Subnet) -> String {
        format!("{}/pool-users/{}/", self.prefix, subnet.key())
    }
    pub fn pool_user(&self, subnet: &Subnet, host: Ipv4Addr) -> String {
        format!("{}/pool-users/{}/{host}", self.prefix, subnet.key())
    }
    pub fn addresses(&self, subnet: &Subnet) -> String {
        format!("{}/ipam/{}/", self.prefix, subnet.key())
    }
    pub fn address(&self, subnet: &Subnet, ip: Ipv4Addr) -> String {
        format!("{}/ipam/{}/{ip}", self.prefix, subnet.key())
    }
}

/// The last segment of a key.
pub fn last_segment(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_under_one_prefix() {
        let l = Layout::new("shoal/net/");
        let s: Subnet = "10.1.2.0/24".parse().unwrap();
        let h = Ipv4Addr::new(10, 210, 0, 5);
        assert_eq!(l.host(h), "/shoal/net/hosts/10.210.0.5");
        assert_eq!(l.member(42, h), "/shoal/net/members/42/10.210.0.5");
        assert_eq!(
            l.address(&s, Ipv4Addr::new(10, 1, 2, 9)),
            "/shoal/net/ipam/10.1.2.0-24/10.1.2.9"
        );
        assert!(l.endpoint(42, h).starts_with(&l.endpoints(42)));
        assert_eq!(last_segment(&l.endpoint(42, h)), "10.210.0.5");
    }
}
