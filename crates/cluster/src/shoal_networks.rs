//! Networks of Shoal's own overlay driver (`shoal`, see crates/netdriver):
//! cluster-wide although every engine holds its own copy.
//!
//! Engines without a cluster store know only local networks, so a `shoal`
//! network is created on every healthy engine with the same name, subnet
//! and options (the VNI is an option, or derived from the subnet by the
//! agents, so the same everywhere). The first engine's agent picks the
//! subnet when the user gave none (IPAM option `network=NAME`, a named pool
//! in the overlay's store); the others get that subnet explicitly. The
//! watchdog ([`Cluster::reconcile_shoal_networks`]) creates the networks on
//! engines that join or come back later, and finishes removals on engines
//! that were away when the network was removed (removed names are
//! remembered in memory until created again through the manager).
//!
//! Containers on a `shoal` network get the network's gateway as DNS server
//! (the agent answers there for the names of every host's containers),
//! unless the user named one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde::de::IgnoredAny;
use serde_json::{json, Value};
use shoal_api_types::CreateBody;
use shoal_engine::{Engine, EngineError};

use crate::cluster::Cluster;
use crate::error::ClusterError;
use crate::reschedule::EngineMemo;

/// The driver (network and IPAM) name of Shoal's overlay.
pub const SHOAL_DRIVER: &str = "shoal";

/// How long a failed create or removal on one engine waits before the
/// watchdog tries it again (an engine without the agent fails every time).
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// What the cluster remembers about `shoal` networks.
#[derive(Debug, Default)]
pub(crate) struct ShoalNetState {
    /// Names removed through the manager (until created again).
    removed: HashSet<String>,
    /// (engine address, network name) -> when a call about it last failed.
    failed: HashMap<(String, String), Instant>,
    /// Names being created or removed through the manager right now: the
    /// watchdog leaves them alone (two creates of one name on an engine
    /// can both succeed).
    busy: HashSet<String>,
    /// What the watchdog last saw of each engine's networks.
    seen: EngineMemo<NetsSeen>,
}

/// What the watchdog saw of one engine: read again only when the engine's
/// generation moves (a change of status or networks moves it).
#[derive(Debug, Clone, Copy)]
struct NetsSeen {
    healthy: bool,
    /// It holds some `shoal` network.
    shoal: bool,
}

/// Marks a name busy while it lives.
struct Busy<'a> {
    cluster: &'a Cluster,
    name: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.cluster.shoal_state().busy.remove(&self.name);
    }
}

/// Whether a listed or inspected network is one of Shoal's overlay.
pub fn is_shoal_network(net: &Value) -> bool {
    net.get("Driver").and_then(Value::as_str) == Some(SHOAL_DRIVER)
}

fn net_name(net: &Value) -> &str {
    net.get("Name").and_then(Value::as_str).unwrap_or_default()
}

/// The create body that makes a copy of `net` (as an engine lists it) on
/// another engine: same name, driver, subnet, gateway and options.
pub fn replica_body(net: &Value) -> Value {
    let ipam = net.get("IPAM").cloned().unwrap_or(Value::Null);
    let mut ipam_opts = ipam
        .get("Options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // the subnet is given: no pool to look up by name
    ipam_opts.remove("network");
    let config: Vec<Value> = ipam
        .get("Config")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    let subnet = c.get("Subnet").and_then(Value::as_str)?;
                    let mut out = json!({ "Subnet": subnet });
                    if let Some(g) = c.get("Gateway").and_then(Value::as_str) {
                        out["Gateway"] = Value::from(g);
                    }
                    Some(out)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut body = json!({
        "Name": net_name(net),
        "CheckDuplicate": true,
        "Driver": SHOAL_DRIVER,
        "IPAM": {
            "Driver": ipam.get("Driver").and_then(Value::as_str).filter(|d| !d.is_empty() && *d != "default").unwrap_or(SHOAL_DRIVER),
            "Config": config,
            "Options": ipam_opts,
        },
        "Options": net.get("Options").cloned().unwrap_or_else(|| json!({})),
        "Labels": net.get("Labels").cloned().unwrap_or_else(|| json!({})),
    });
    for key in ["Internal", "Attachable", "EnableIPv6"] {
        if let Some(v) = net.get(key) {
            body[key] = v.clone();
        }
    }
    body
}

/// The gateway of a network's first IPAM pool: the configured one, else
/// the subnet's first address.
pub fn gateway_of(net: &Value) -> Option<String> {
    let c = net.get("IPAM")?.get("Config")?.as_array()?.first()?;
    if let Some(g) = c
        .get("Gateway")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
    {
        return Some(g.split('/').next().unwrap_or(g).to_string());
    }
    let subnet = c.get("Subnet")?.as_str()?;
    let (base, _) = subnet.split_once('/')?;
    let ip: std::net::Ipv4Addr = base.parse().ok()?;
    Some(std::net::Ipv4Addr::from(u32::from(ip).wrapping_add(1)).to_string())
}

fn status_error(status: StatusCode, message: impl Into<String>) -> ClusterError {
    ClusterError::Engine(EngineError::Status {
        status,
        message: message.into(),
    })
}

async fn create_on(e: &Engine, body: &Value) -> Result<Value, EngineError> {
    let (_, bytes) = e
        .client()
        .call(Method::POST, "/networks/create", Some(body))
        .await?;
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

impl Cluster {
    fn shoal_state(&self) -> std::sync::MutexGuard<'_, ShoalNetState> {
        self.shoal_nets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `shoal` network of each healthy engine's cache named (or with
    /// the ID, or an ID prefix of 3+ characters) `q`: its name.
    pub fn shoal_network_name(&self, q: &str) -> Option<String> {
        let engines = self.healthy_engines();
        let find = |f: &dyn Fn(&Value) -> bool| {
            engines.iter().find_map(|e| {
                e.with_cache(|c| {
                    c.networks
                        .iter()
                        .find(|n| is_shoal_network(n) && f(n))
                        .map(|n| net_name(n).to_string())
                })
            })
        };
        let id = |n: &Value| {
            n.get("Id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        find(&|n| net_name(n) == q)
            .or_else(|| find(&|n| id(n) == q))
            .or_else(|| find(&|n| q.len() >= 3 && id(n).starts_with(q)))
    }

    /// Healthy engines and the copy of `shoal` network `name` each has.
    fn shoal_copies(&self, name: &str) -> Vec<(Arc<Engine>, Value)> {
        self.healthy_engines()
            .into_iter()
            .filter_map(|e| {
                let net = e.with_cache(|c| {
                    c.networks
                        .iter()
                        .find(|n| is_shoal_network(n) && net_name(n) == name)
                        .cloned()
                });
                net.map(|n| (e, n))
            })
            .collect()
    }

    /// `docker network create -d shoal NAME`: on the first healthy engine
    /// (whose agent picks a subnet when none is given), then with that
    /// subnet on every other healthy engine. Answers the first engine's
    /// `{"Id", "Warning"}`. Engines that fail now get it from the watchdog.
    pub async fn create_shoal_network(&self, mut body: Value) -> Result<Value, ClusterError> {
        let name = net_name(&body).to_string();
        if name.is_empty() {
            return Err(ClusterError::BadRequest("network name is required".into()));
        }
        let _busy = {
            let mut st = self.shoal_state();
            if !st.busy.insert(name.clone()) {
                return Err(status_error(
                    StatusCode::CONFLICT,
                    format!("network with name {name} is being created or removed"),
                ));
            }
            Busy {
                cluster: self,
                name: name.clone(),
            }
        };
        let engines = self.healthy_engines();
        if engines.is_empty() {
            return Err(status_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "No healthy node available in the cluster",
            ));
        }
        for e in &engines {
            let _ = e.refresh_networks().await;
        }
        if engines
            .iter()
            .any(|e| e.with_cache(|c| c.networks.iter().any(|n| net_name(n) == name)))
        {
            return Err(status_error(
                StatusCode::CONFLICT,
                format!("network with name {name} already exists"),
            ));
        }
        self.shoal_state().removed.remove(&name);
        body["Driver"] = Value::from(SHOAL_DRIVER);
        if !body.get("IPAM").is_some_and(Value::is_object) {
            body["IPAM"] = json!({});
        }
        let ipam = &mut body["IPAM"];
        if ipam
            .get("Driver")
            .and_then(Value::as_str)
            .is_none_or(|d| d.is_empty() || d == "default")
        {
            ipam["Driver"] = Value::from(SHOAL_DRIVER);
        }
        let has_subnet = ipam
            .get("Config")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| c.get("Subnet").is_some()));
        if !has_subnet {
            if !ipam.get("Options").is_some_and(Value::is_object) {
                ipam["Options"] = json!({});
            }
            ipam["Options"]["network"] = Value::from(name.clone());
        }

        let first = &engines[0];
        let answer = create_on(first, &body).await?;
        let id = answer
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let path = format!("/networks/{}", shoal_engine::client::encode(&id));
        let created: Value = match first.client().get_json(&path).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(engine = %first.addr(), network = %name, "cannot read back the new network: {e}");
                let _ = first.refresh_networks().await;
                return Ok(answer);
            }
        };
        let replica = replica_body(&created);
        let rest = engines[1..].iter().map(|e| {
            let replica = replica.clone();
            async move { (e, create_on(e, &replica).await) }
        });
        for (e, r) in futures_util::future::join_all(rest).await {
            if let Err(err) = r {
                tracing::warn!(engine = %e.addr(), network = %name, "shoal network create failed (the watchdog retries): {err}");
                self.shoal_state()
                    .failed
                    .insert((e.addr().to_string(), name.clone()), Instant::now());
            }
        }
        futures_util::future::join_all(engines.iter().map(|e| e.refresh_networks())).await;
        Ok(answer)
    }

    /// `docker network rm` of a `shoal` network: refused while a container
    /// is attached on any engine, else removed from every healthy engine
    /// (and later from engines that were away).
    pub async fn remove_shoal_network(&self, name: &str) -> Result<(), ClusterError> {
        let copies = self.shoal_copies(name);
        if copies.is_empty() {
            return Err(status_error(
                StatusCode::NOT_FOUND,
                format!("network {name} not found"),
            ));
        }
        let inspects = copies.iter().map(|(e, n)| async move {
            let id = n.get("Id").and_then(Value::as_str).unwrap_or_default();
            let path = format!("/networks/{}", shoal_engine::client::encode(id));
            e.client().get_json::<Value>(&path).await
        });
        for r in futures_util::future::join_all(inspects).await {
            let attached = r
                .ok()
                .and_then(|v| v.get("Containers").and_then(Value::as_object).cloned())
                .is_some_and(|c| !c.is_empty());
            if attached {
                return Err(status_error(
                    StatusCode::FORBIDDEN,
                    format!("error while removing network: network {name} has active endpoints"),
                ));
            }
        }
        let _busy = {
            let mut st = self.shoal_state();
            if !st.busy.insert(name.to_string()) {
                return Err(status_error(
                    StatusCode::CONFLICT,
                    format!("network {name} is being created or removed"),
                ));
            }
            st.removed.insert(name.to_string());
            Busy {
                cluster: self,
                name: name.to_string(),
            }
        };
        let calls = copies.iter().map(|(e, n)| async move {
            let id = n.get("Id").and_then(Value::as_str).unwrap_or_default();
            let path = format!("/networks/{}", shoal_engine::client::encode(id));
            let r = e.client().call(Method::DELETE, &path, None).await;
            let _ = e.refresh_networks().await;
            (e, r)
        });
        let mut first_err = None;
        let mut any_ok = false;
        for (e, r) in futures_util::future::join_all(calls).await {
            match r {
                Ok(_) => any_ok = true,
                Err(err) if err.is_not_found() => any_ok = true,
                Err(err) => {
                    tracing::warn!(engine = %e.addr(), network = %name, "shoal network removal failed (the watchdog retries): {err}");
                    first_err.get_or_insert(err);
                }
            }
        }
        match first_err {
            Some(err) if !any_ok => Err(err.into()),
            _ => Ok(()),
        }
    }

    /// Puts the gateway of the `shoal` network a container joins
    /// (`HostConfig.NetworkMode`) into its `HostConfig.Dns`, unless the
    /// user gave DNS servers: the engine's embedded DNS answers local names
    /// and forwards the others there, to the agent.
    pub fn add_shoal_dns(&self, body: &mut CreateBody) {
        if !body.has_host_config() {
            return;
        }
        let mode: String = body.host_read("NetworkMode").unwrap_or_default();
        if mode.is_empty()
            || matches!(mode.as_str(), "default" | "bridge" | "host" | "none")
            || mode.starts_with("container:")
            || body
                .host_read::<Vec<IgnoredAny>>("Dns")
                .is_some_and(|d| !d.is_empty())
        {
            return;
        }
        let Some(name) = self.shoal_network_name(&mode) else {
            return;
        };
        let gateway = self
            .shoal_copies(&name)
            .first()
            .and_then(|(_, n)| gateway_of(n));
        if let Some(g) = gateway {
            body.host_set("Dns", &Value::from(vec![g]));
        }
    }

    /// One pass of the watchdog: every healthy engine has every `shoal`
    /// network some healthy engine has (the same subnet and options), and
    /// none has one removed through the manager. Reads only the engines
    /// that changed since the last pass, and returns at once when no
    /// healthy engine holds a `shoal` network.
    pub(crate) async fn reconcile_shoal_networks(&self) {
        let mut calls = Vec::new();
        {
            let mut guard = self.shoal_state();
            let st = &mut *guard;
            st.seen.update(self, |e, _| NetsSeen {
                healthy: e.is_healthy(),
                shoal: e.with_cache(|c| c.networks.iter().any(is_shoal_network)),
            });
            let healthy = || {
                st.seen
                    .slots()
                    .iter()
                    .filter(|s| s.seen.is_some_and(|n| n.healthy))
            };
            // name -> a copy of the network, from the first engine that has
            // it (names being created or removed are left alone)
            let mut wanted: BTreeMap<String, Value> = BTreeMap::new();
            for slot in healthy().filter(|s| s.seen.is_some_and(|n| n.shoal)) {
                slot.engine.with_cache(|c| {
                    for n in c.networks.iter().filter(|n| is_shoal_network(n)) {
                        let name = net_name(n);
                        if !wanted.contains_key(name) && !st.busy.contains(name) {
                            wanted.insert(name.to_string(), n.clone());
                        }
                    }
                });
            }
            if wanted.is_empty() {
                return;
            }
            for slot in healthy() {
                let e = &slot.engine;
                // (name, the ID to remove, or none: to create)
                let todo: Vec<(&String, Option<String>)> = e.with_cache(|c| {
                    wanted
                        .keys()
                        .filter_map(|name| {
                            if st.removed.contains(name) {
                                c.networks
                                    .iter()
                                    .find(|n| is_shoal_network(n) && net_name(n) == name)
                                    .and_then(|n| n.get("Id").and_then(Value::as_str))
                                    .map(|id| (name, Some(id.to_string())))
                            } else {
                                let has = c.networks.iter().any(|n| net_name(n) == name);
                                (!has).then_some((name, None))
                            }
                        })
                        .collect()
                });
                for (name, id) in todo {
                    let key = (e.addr().to_string(), name.clone());
                    let recent = st
                        .failed
                        .get(&key)
                        .is_some_and(|t| t.elapsed() < RETRY_AFTER);
                    if recent {
                        continue;
                    }
                    calls.push(match id {
                        Some(id) => (e.clone(), key, Method::DELETE, id, Value::Null),
                        None => (
                            e.clone(),
                            key,
                            Method::POST,
                            String::new(),
                            replica_body(&wanted[name]),
                        ),
                    });
                }
            }
        }
        let runs = calls.into_iter().map(|(e, key, method, id, body)| async move {
            let r = if method == Method::DELETE {
                let path = format!("/networks/{}", shoal_engine::client::encode(&id));
                e.client().call(Method::DELETE, &path, None).await.map(|_| ())
            } else {
                create_on(&e, &body).await.map(|_| ())
            };
            match &r {
                Ok(()) => tracing::info!(engine = %e.addr(), network = %key.1, "shoal network {}", if method == Method::DELETE { "removed (removed while the engine was away)" } else { "created on a new or returning engine" }),
                Err(err) => tracing::warn!(engine = %e.addr(), network = %key.1, "shoal network sync failed: {err}"),
            }
            let _ = e.refresh_networks().await;
            (key, r.is_ok())
        });
        for (key, ok) in futures_util::future::join_all(runs).await {
            let mut s = self.shoal_state();
            if ok {
                s.failed.remove(&key);
            } else {
                s.failed.insert(key, Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_has_the_same_subnet_and_options() {
        let listed = json!({
            "Name": "web", "Id": "abc", "Driver": "shoal", "Scope": "local",
            "IPAM": {"Driver": "shoal", "Options": {"network": "web"},
                     "Config": [{"Subnet": "10.240.3.0/24", "Gateway": "10.240.3.1"}]},
            "Options": {"vni": "42"}, "Labels": {"a": "b"}, "Internal": false, "Attachable": true
        });
        let body = replica_body(&listed);
        assert_eq!(body["Name"], "web");
        assert_eq!(body["Driver"], "shoal");
        assert_eq!(body["IPAM"]["Driver"], "shoal");
        assert_eq!(
            body["IPAM"]["Config"],
            json!([{"Subnet": "10.240.3.0/24", "Gateway": "10.240.3.1"}])
        );
        assert!(body["IPAM"]["Options"].get("network").is_none());
        assert_eq!(body["Options"]["vni"], "42");
        assert_eq!(body["Labels"]["a"], "b");
        assert_eq!(body["Attachable"], true);
        assert!(body.get("Id").is_none());
    }

    #[test]
    fn gateways() {
        let with =
            json!({"IPAM": {"Config": [{"Subnet": "10.1.2.0/24", "Gateway": "10.1.2.254"}]}});
        assert_eq!(gateway_of(&with).as_deref(), Some("10.1.2.254"));
        let without = json!({"IPAM": {"Config": [{"Subnet": "10.1.2.0/24"}]}});
        assert_eq!(gateway_of(&without).as_deref(), Some("10.1.2.1"));
        assert_eq!(gateway_of(&json!({"IPAM": {"Config": []}})), None);
        assert!(is_shoal_network(&json!({"Driver": "shoal"})));
        assert!(!is_shoal_network(&json!({"Driver": "bridge"})));
    }

    /// An engine at `addr` (a closed loopback port: every call to it fails
    /// at once) holding `networks`.
    fn seeded(addr: &str, status: shoal_api_types::NodeStatus, networks: &[Value]) -> Arc<Engine> {
        let cache = shoal_engine::EngineCache {
            networks: networks.to_vec(),
            ..Default::default()
        };
        crate::tests::seeded_engine(addr, addr, status, cache)
    }

    /// The (engine, network) pairs whose last call failed.
    fn failed(c: &Cluster) -> Vec<(String, String)> {
        let mut f: Vec<_> = c.shoal_state().failed.keys().cloned().collect();
        f.sort();
        f
    }

    /// Built outside any runtime, the cluster runs no watchdog, whose own
    /// passes would reconcile between the steps below.
    #[test]
    fn the_reconciler_acts_on_what_the_engines_hold_now() {
        let cluster = Cluster::new(
            shoal_scheduler::Scheduler::new(&shoal_scheduler::SchedulerConfig::default()).unwrap(),
            crate::ClusterOpts::default(),
        );
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(reconciler_steps(cluster));
    }

    async fn reconciler_steps(cluster: Arc<Cluster>) {
        use shoal_api_types::NodeStatus::{Healthy, Unhealthy};
        // privileged ports nothing listens on: every call fails at once. Not
        // a port freed from the ephemeral range: a connect to one may pick
        // it as its own source port and reach itself (or another process
        // may take it meanwhile), which made this test flaky.
        let (a, b) = ("127.0.0.1:1", "127.0.0.1:9");
        let bridge = json!({"Name": "bridge", "Id": "b0", "Driver": "bridge"});
        let web = json!({"Name": "web", "Id": "w1", "Driver": "shoal",
                         "IPAM": {"Driver": "shoal", "Config": [{"Subnet": "10.240.3.0/24"}]}});
        let info = |e: &Engine| (*e.snapshot().info).clone();
        let ea = seeded(a, Unhealthy, &[bridge.clone(), web.clone()]);
        let eb = seeded(b, Healthy, std::slice::from_ref(&bridge));
        cluster.insert_engine(ea.clone());
        cluster.insert_engine(eb.clone());

        // the only shoal network is on an unhealthy engine: nothing to do
        cluster.reconcile_shoal_networks().await;
        assert!(failed(&cluster).is_empty());

        // healthy now: the network is created on the engine without it
        ea.seed_for_tests(info(&ea), Healthy, ea.with_cache(Clone::clone));
        cluster.reconcile_shoal_networks().await;
        assert_eq!(failed(&cluster), [(b.to_string(), "web".to_string())]);

        // a name being created through the manager is left alone
        cluster.shoal_state().failed.clear();
        cluster.shoal_state().busy.insert("web".into());
        cluster.reconcile_shoal_networks().await;
        assert!(failed(&cluster).is_empty());
        cluster.shoal_state().busy.clear();

        // removed through the manager: removed where it is, not created
        cluster.shoal_state().removed.insert("web".into());
        cluster.reconcile_shoal_networks().await;
        assert_eq!(failed(&cluster), [(a.to_string(), "web".to_string())]);
        // a recent failure waits before it is tried again
        let at = cluster.shoal_state().failed[&(a.to_string(), "web".to_string())];
        cluster.reconcile_shoal_networks().await;
        assert_eq!(
            cluster.shoal_state().failed[&(a.to_string(), "web".to_string())],
            at
        );

        // gone from the engine's networks: nothing left to do
        cluster.shoal_state().failed.clear();
        let mut cache = ea.with_cache(Clone::clone);
        cache.networks = vec![bridge.clone()];
        ea.seed_for_tests(info(&ea), Healthy, cache);
        cluster.reconcile_shoal_networks().await;
        assert!(failed(&cluster).is_empty());
    }
}
