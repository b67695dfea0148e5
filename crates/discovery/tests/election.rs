//! Leader election (`Discovery::campaign`) against real etcd and ZooKeeper
//! servers and the Consul stand-in: one primary among three candidates, the others its replicas;
//! the primary gone, another takes over; the store gone, everyone demotes.

mod support;

use std::time::Duration;

use shoal_discovery::{from_url, Campaign, DiscoveryOpts, Leadership};
use support::{Etcd, ZooKeeper};
use tokio::sync::watch::Receiver;

const ME: [&str; 3] = ["10.1.0.1:3376", "10.1.0.2:3376", "10.1.0.3:3376"];

/// Waits until every receiver's state satisfies `ok` (given the states).
async fn until(
    rx: &mut [Receiver<Leadership>],
    within: Duration,
    what: &str,
    ok: impl Fn(&[Leadership]) -> bool,
) -> Vec<Leadership> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let states: Vec<Leadership> = rx.iter().map(|r| r.borrow().clone()).collect();
        if ok(&states) {
            return states;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("no {what} within {within:?}: {states:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Exactly one primary, and every other candidate a replica of it.
fn one_primary(states: &[Leadership]) -> Option<usize> {
    let primaries: Vec<usize> = (0..states.len())
        .filter(|i| states[*i] == Leadership::Primary)
        .collect();
    let [p] = primaries[..] else { return None };
    states
        .iter()
        .enumerate()
        .all(|(i, s)| i == p || *s == Leadership::Replica(ME[p].to_string()))
        .then_some(p)
}

async fn elect_fail_over_and_demote(url: &str, ttl: Duration, stop_store: impl FnOnce()) {
    let mut campaigns: Vec<Option<Campaign>> = Vec::new();
    let mut rx = Vec::new();
    for me in ME {
        let d = from_url(url, &DiscoveryOpts::default()).unwrap();
        let c = d.campaign(me, ttl).unwrap();
        rx.push(c.leadership());
        campaigns.push(Some(c));
    }
    let states = until(&mut rx, ttl * 3, "single primary", |s| {
        one_primary(s).is_some()
    })
    .await;
    let first = one_primary(&states).unwrap();

    // The primary resigns (a graceful stop): another candidate takes over.
    campaigns[first].take().unwrap().resign().await;
    let mut rest: Vec<Receiver<Leadership>> = (0..3)
        .filter(|i| *i != first)
        .map(|i| rx[i].clone())
        .collect();
    let rest_me: Vec<&str> = (0..3).filter(|i| *i != first).map(|i| ME[i]).collect();
    let states = until(&mut rest, ttl * 2, "a new primary", |s| {
        let p: Vec<usize> = (0..2).filter(|i| s[*i] == Leadership::Primary).collect();
        p.len() == 1 && s[1 - p[0]] == Leadership::Replica(rest_me[p[0]].to_string())
    })
    .await;
    assert!(states.contains(&Leadership::Primary));

    // The store gone: every candidate left stops counting on the lock
    // (a primary that cannot renew demotes itself).
    stop_store();
    until(&mut rest, ttl * 2, "everyone demoted", |s| {
        s.iter().all(|l| matches!(l, Leadership::Unknown(_)))
    })
    .await;
    drop(campaigns);
}

#[tokio::test]
async fn etcd_elects_fails_over_and_demotes() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let url = format!("etcd://{}/el", etcd.endpoint());
    elect_fail_over_and_demote(&url, Duration::from_secs(3), || etcd.stop()).await;
}

#[tokio::test]
async fn zookeeper_elects_fails_over_and_demotes() {
    let Some(mut zk) = ZooKeeper::start() else {
        return;
    };
    let url = format!("zk://{}/el", zk.endpoint());
    elect_fail_over_and_demote(&url, Duration::from_secs(4), || zk.stop()).await;
}

/// Consul, with the stand-in (no Consul server can be installed here):
/// sessions of 10 s at least, so the failover tested is the resigning one.
#[tokio::test]
async fn consul_standin_elects_fails_over_and_demotes() {
    let mut consul = support::consul_standin::ConsulStandIn::start().await;
    let url = format!("consul://{}/el", consul.addr);
    elect_fail_over_and_demote(&url, Duration::from_secs(3), || consul.stop()).await;
}

#[tokio::test]
async fn static_backends_refuse_to_campaign() {
    let d = from_url("nodes://10.0.0.1:2375", &DiscoveryOpts::default()).unwrap();
    let err = d
        .campaign("10.0.0.9:3376", Duration::from_secs(5))
        .unwrap_err();
    assert!(err.to_string().contains("leader election"), "{err}");
}
