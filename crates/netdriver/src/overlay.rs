//! The operations both front ends (the Docker driver and the CNI plugin)
//! share: taking part in a network (its record written with
//! compare-and-set, this host's membership, the devices), publishing
//! endpoints, and reading the peers a host must program.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::dataplane::{Dataplane, Peer};
use crate::layout::last_segment;
use crate::model::{to_json, EndpointRecord, MemberRecord, NameRecord, NetworkRecord};
use crate::session::Session;
use crate::subnet::{parse_mac, Subnet};
use crate::tunnel::inner_address;
use crate::NetError;

#[derive(Clone)]
pub struct Overlay {
    pub session: Session,
    pub dp: Dataplane,
}

impl Overlay {
    pub fn new(session: Session, dp: Dataplane) -> Self {
        Overlay { session, dp }
    }

    /// The network of `vni` with `subnet`: created in the store if new
    /// (compare-and-set: the first host's MTU wins), checked if it exists
    /// (same subnet, same encryption); then this host becomes a member and
    /// gets the devices.
    pub async fn attach_network(
        &self,
        vni: u32,
        subnet: Subnet,
        mtu: Option<u32>,
        encrypted: bool,
    ) -> Result<NetworkRecord, NetError> {
        if vni == 0 || vni > 16_777_215 {
            return Err(NetError::invalid(
                "vni",
                vni.to_string(),
                "must be 1 to 16777215",
            ));
        }
        let s = &self.session;
        let mtu = match mtu {
            Some(m) => m,
            None => self.dp.overlay_mtu(encrypted).await?,
        };
        let wanted = NetworkRecord {
            vni,
            subnet: subnet.to_string(),
            mtu,
            encrypted,
        };
        let key = s.layout.network(vni);
        let record = if s.kv.create(&key, &to_json(&wanted), 0).await? {
            wanted
        } else {
            let existing =
                s.kv.get(&key)
                    .await?
                    .and_then(|e| serde_json::from_str::<NetworkRecord>(&e.value).ok());
            match existing {
                Some(r) if r.subnet == wanted.subnet && r.encrypted != encrypted => {
                    let (is, not) = if r.encrypted {
                        ("", "out")
                    } else {
                        (" not", "")
                    };
                    return Err(NetError::invalid(
                        "network",
                        format!("vni {vni}"),
                        format!("it is{is} encrypted on the other hosts: create it with{not} the encrypted option"),
                    ));
                }
                Some(r) if r.subnet == wanted.subnet => r,
                Some(r) => {
                    return Err(NetError::VniConflict {
                        vni,
                        existing: r.subnet,
                        wanted: wanted.subnet,
                    })
                }
                // Removed between our create and get: take it again.
                None => {
                    s.kv.put(&key, &to_json(&wanted), 0).await?;
                    wanted
                }
            }
        };
        s.kv.put(
            &s.layout.member(vni, s.host),
            &to_json(&MemberRecord { host: s.host }),
            s.lease(),
        )
        .await?;
        self.dp
            .ensure_network(
                vni,
                record.mtu,
                Some((subnet.gateway(), subnet.len)),
                record.encrypted,
            )
            .await?;
        Ok(record)
    }

    /// This host leaves `vni`: membership and devices go; the last member
    /// also removes the network's record and endpoints from the store.
    pub async fn detach_network(&self, vni: u32) -> Result<(), NetError> {
        let s = &self.session;
        s.kv.delete(&s.layout.member(vni, s.host)).await?;
        self.dp.remove_network(vni).await?;
        let (members, _) = s.kv.list(&s.layout.members(vni)).await?;
        if members.is_empty() {
            s.kv.delete_prefix(&s.layout.endpoints(vni)).await?;
            s.kv.delete_prefix(&s.layout.names(vni)).await?;
            s.kv.delete(&s.layout.network(vni)).await?;
        }
        Ok(())
    }

    /// Whether any network this host is a member of is encrypted (so the
    /// tunnel must run).
    pub async fn in_encrypted_network(&self) -> Result<bool, NetError> {
        for vni in self.member_vnis().await? {
            if self.network(vni).await?.is_some_and(|n| n.encrypted) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub async fn network(&self, vni: u32) -> Result<Option<NetworkRecord>, NetError> {
        let s = &self.session;
        Ok(s.kv
            .get(&s.layout.network(vni))
            .await?
            .and_then(|e| serde_json::from_str(&e.value).ok()))
    }

    /// Tells every host where the endpoint with `ip` and `mac` lives.
    pub async fn publish_endpoint(
        &self,
        vni: u32,
        ip: Ipv4Addr,
        mac: &str,
        owner: &str,
    ) -> Result<(), NetError> {
        let s = &self.session;
        let rec = EndpointRecord {
            ip,
            mac: mac.to_string(),
            host: s.host,
            owner: owner.to_string(),
        };
        s.kv.put(&s.layout.endpoint(vni, ip), &to_json(&rec), s.lease())
            .await
    }

    pub async fn withdraw_endpoint(&self, vni: u32, ip: Ipv4Addr) -> Result<(), NetError> {
        let s = &self.session;
        s.kv.delete(&s.layout.endpoint(vni, ip)).await
    }

    /// Publishes a container name for the agents' DNS.
    pub async fn publish_name(
        &self,
        vni: u32,
        name: &str,
        ip: Ipv4Addr,
        endpoint: &str,
    ) -> Result<(), NetError> {
        let s = &self.session;
        let rec = NameRecord {
            ip,
            host: s.host,
            endpoint: endpoint.to_string(),
        };
        s.kv.put(&s.layout.name(vni, name), &to_json(&rec), s.lease())
            .await
    }

    /// Removes a name only if it still points at `endpoint`.
    pub async fn withdraw_name(
        &self,
        vni: u32,
        name: &str,
        endpoint: &str,
    ) -> Result<(), NetError> {
        let s = &self.session;
        let key = s.layout.name(vni, name);
        if let Some(e) = s.kv.get(&key).await? {
            let rec: Option<NameRecord> = serde_json::from_str(&e.value).ok();
            if rec.is_none_or(|r| r.endpoint == endpoint) {
                s.kv.delete(&key).await?;
            }
        }
        Ok(())
    }

    /// The networks this host is a member of.
    pub async fn member_vnis(&self) -> Result<Vec<u32>, NetError> {
        let s = &self.session;
        let (list, _) = s.kv.list(&s.layout.all_members()).await?;
        let me = s.host.to_string();
        Ok(list
            .iter()
            .filter(|e| last_segment(&e.key) == me)
            .filter_map(|e| {
                let mut parts = e.key.rsplit('/');
                parts.next();
                parts.next()?.parse().ok()
            })
            .collect())
    }

    /// The endpoints of `vni` on other hosts, as this host must program them
    /// (behind the hosts' inner addresses when `encrypted`).
    pub async fn remote_peers(
        &self,
        vni: u32,
        encrypted: bool,
    ) -> Result<BTreeMap<Ipv4Addr, Peer>, NetError> {
        let s = &self.session;
        let (list, _) = s.kv.list(&s.layout.endpoints(vni)).await?;
        Ok(list
            .iter()
            .filter_map(|e| serde_json::from_str::<EndpointRecord>(&e.value).ok())
            .filter(|r| r.host != s.host)
            .filter_map(|r| {
                Some((
                    r.ip,
                    Peer {
                        mac: parse_mac(&r.mac).ok()?,
                        host: if encrypted {
                            inner_address(r.host)
                        } else {
                            r.host
                        },
                    },
                ))
            })
            .collect())
    }
}
