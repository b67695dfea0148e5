//! The consul backend against a STAND-IN for Consul (tests/support/consul_standin.rs):
//! no Consul server is installable here, so this checks our use of Consul's
//! documented KV + session API, not Consul itself.

mod support;

use std::time::{Duration, Instant};

use shoal_discovery::{from_url, DiscoveryOpts};
use support::consul_standin::ConsulStandIn;
use support::{eventually, eventually_error, Agent};

fn open(url: &str) -> Box<dyn shoal_discovery::Discovery> {
    from_url(url, &DiscoveryOpts::default()).unwrap()
}

#[tokio::test]
async fn consul_standin_join_leave_and_recover() {
    let mut consul = ConsulStandIn::start().await;
    let url = format!("consul://{}/swarm", consul.addr);
    let hb = Duration::from_secs(1);
    let ttl = Duration::from_secs(10); // Consul's shortest session TTL

    let manager = open(&url);
    let mut watch = manager.watch(hb);
    eventually(&mut watch, Duration::from_secs(5), "empty list", |l| {
        l.is_empty()
    })
    .await;

    let a1 = Agent::start(open(&url), "10.0.0.1:2375", hb, ttl);
    let _a2 = Agent::start(open(&url), "10.0.0.2:2375", hb, ttl);
    eventually(&mut watch, 2 * hb, "two nodes within two heartbeats", |l| {
        l.len() == 2
    })
    .await;
    assert_eq!(
        consul.keys(),
        [
            "swarm/docker/swarm/nodes/10.0.0.1:2375",
            "swarm/docker/swarm/nodes/10.0.0.2:2375"
        ]
    );
    assert_eq!(
        manager.fetch().await.unwrap(),
        ["10.0.0.1:2375", "10.0.0.2:2375"]
    );

    let stopped = Instant::now();
    drop(a1);
    eventually(&mut watch, ttl + hb, "node 1 leaving within its ttl", |l| {
        l == ["10.0.0.2:2375"]
    })
    .await;
    eprintln!("node 1 left after {:?}", stopped.elapsed());

    consul.stop();
    eventually_error(&mut watch, Duration::from_secs(10)).await;
    tokio::time::sleep(2 * hb).await;
    consul.restart().await;
    let _a3 = Agent::start(open(&url), "10.0.0.3:2375", hb, ttl);
    eventually(
        &mut watch,
        Duration::from_secs(10),
        "nodes 2 and 3 after the restart",
        |l| l == ["10.0.0.2:2375", "10.0.0.3:2375"],
    )
    .await;
}

#[tokio::test]
async fn consul_standin_kv_path_and_session_loss() {
    let consul = ConsulStandIn::start().await;
    let opts = DiscoveryOpts::from_pairs(["kv.path=custom/nodes"]).unwrap();
    let d = from_url(&format!("consul://{}/p", consul.addr), &opts).unwrap();
    d.register("10.1.1.1:2375", Duration::from_secs(10))
        .await
        .unwrap();
    d.register("10.1.1.1:2375", Duration::from_secs(10))
        .await
        .unwrap(); // renews
    assert_eq!(consul.keys(), ["p/custom/nodes/10.1.1.1:2375"]);
    assert_eq!(d.fetch().await.unwrap(), ["10.1.1.1:2375"]);
    let default_path = open(&format!("consul://{}/p", consul.addr));
    assert!(default_path.fetch().await.unwrap().is_empty());
}

#[tokio::test]
async fn consul_down_is_an_error_naming_it() {
    let port = support::free_port();
    let d = open(&format!("consul://127.0.0.1:{port}/x"));
    let err = d.fetch().await.unwrap_err().to_string();
    assert!(err.starts_with("consul at http://127.0.0.1:"), "{err}");
}
