//! Two net-agents (fake netlink, real store code) sharing a store, a real
//! ZooKeeper or the Consul stand-in: they never hand out the same address,
//! each programs the other's container through its watch alone, and a host
//! whose lease ends vanishes from the other's forwarding table. Run under
//! `flock /tmp/shoal-lab.lock` (ZooKeeper on a loopback port).

mod support;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shoal_netdriver::agent::{Agent, AgentConfig};
use shoal_netdriver::dataplane::Dataplane;
use shoal_netdriver::kv;
use shoal_netdriver::layout::Layout;
use shoal_netdriver::netlink::FakeNetlink;
use shoal_netdriver::session::Session;

async fn agent(url: &str, last: u8) -> (Arc<Agent>, FakeNetlink) {
    let host = Ipv4Addr::new(10, 210, 0, last);
    let nl = FakeNetlink::new(host, 1500);
    let store = Arc::new(kv::open(url).unwrap());
    let session = Session::new(store, Layout::new("/shoal/net"), host, 0);
    let dp = Dataplane::new(Arc::new(nl.clone()), host, 4789);
    let cfg = AgentConfig {
        name: format!("n{last}"),
        ttl: Duration::from_secs(4),
        mtu: None,
        state_file: None,
        engine: None,
        tunnel_port: 0,
    };
    let a = Agent::start(session, dp, cfg).await.unwrap();
    tokio::spawn(a.clone().reconcile_loop());
    tokio::spawn(a.clone().keep_alive_loop());
    (a, nl)
}

async fn until(within: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn address(a: &Agent) -> Ipv4Addr {
    let got = a
        .request_address(serde_json::from_value(json!({"PoolID": "10.70.0.0/24"})).unwrap())
        .await
        .unwrap()
        .address;
    got.split('/').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_a_zookeeper() {
    let Some(zk) = support::zookeeper() else {
        return;
    };
    two_agents(&format!("zk://{}/shoal-test", zk.endpoint())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_a_consul_standin() {
    let consul = support::consul_standin::ConsulStandIn::start();
    two_agents(&format!("consul://{}/shoal-test", consul.endpoint())).await;
}

async fn two_agents(url: &str) {
    let (a, nla) = agent(url, 2).await;
    let (b, _nlb) = agent(url, 3).await;
    for (x, net) in [(&a, "neta"), (&b, "netb")] {
        x.create_network(
            serde_json::from_value(json!({
                "NetworkID": net,
                "Options": {"com.docker.network.generic": {"vni": "700"}},
                "IPv4Data": [{"AddressSpace": "shoal-local", "Pool": "10.70.0.0/24", "Gateway": "10.70.0.1/24"}]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
        x.request_pool(serde_json::from_value(json!({"Pool": "10.70.0.0/24"})).unwrap())
            .await
            .unwrap();
    }

    // Both allocate at once: never the same address.
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let (x, y) = tokio::join!(address(&a), address(&b));
        got_a.push(x);
        got_b.push(y);
    }
    let mut all: Vec<_> = got_a.iter().chain(&got_b).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20, "a {got_a:?} b {got_b:?}");

    // b's container shows up in a's FDB by a's watch, with no reconcile call.
    let ipb = got_b[0];
    b.create_endpoint(
        serde_json::from_value(
            json!({"NetworkID": "netb", "EndpointID": "epb0123456789", "Interface": {"Address": format!("{ipb}/24")}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    b.join(
        serde_json::from_value(
            json!({"NetworkID": "netb", "EndpointID": "epb0123456789", "SandboxKey": "/x"}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    // (The loop also re-reads every 5 s: 2 s is the watch's doing.)
    until(Duration::from_secs(2), "b's endpoint in a's fdb", || {
        nla.fdb()
            .iter()
            .any(|(dev, _, vtep)| dev == "svx700" && *vtep == Ipv4Addr::new(10, 210, 0, 3))
    })
    .await;

    // b's lease ends (its host died): its keys go, and a forgets it.
    let s = b.session();
    s.kv.revoke(s.lease()).await.unwrap();
    until(Duration::from_secs(2), "dead host out of a's fdb", || {
        nla.fdb().is_empty()
    })
    .await;
    // (b's keep-alive loop registers it again soon: its host record comes
    // back, its endpoints and addresses do not.)
    let (left, _) = a.session().kv.list("/shoal/net/").await.unwrap();
    assert!(
        !left.iter().any(
            |e| (e.key.contains("/endpoints/") || e.key.contains("/ipam/"))
                && e.value.contains("10.210.0.3")
        ),
        "{left:?}"
    );
    // a's own addresses stayed.
    let (mine, _) = a.session().kv.list("/shoal/net/ipam/").await.unwrap();
    assert_eq!(mine.len(), 10, "{mine:?}");
}
