//! The store contract on the Consul backend, against a STAND-IN for Consul
//! (tests/support/consul_standin.rs: Consul's documented KV, txn and
//! session API, on loopback; no Consul package here), and what only Consul
//! needs checked: a session not renewed takes its keys, bad URLs and an
//! unreachable server.

mod contract;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use contract::{eventually, Store};
use shoal_netdriver::kv;
use support::consul_standin::ConsulStandIn;

fn open(url: &str) -> Store {
    Arc::new(kv::open(url).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_on_consul_standin() {
    let consul = ConsulStandIn::start();
    let url = format!("consul://{}", consul.endpoint());
    contract::all(open(&url), open(&url), "/shoal/net").await;
    let url = format!("consul://{}/clusters/one", consul.endpoint());
    contract::all(open(&url), open(&url), "/shoal/net").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_prefixes_do_not_mix() {
    let consul = ConsulStandIn::start();
    let one = open(&format!("consul://{}/one", consul.endpoint()));
    let two = open(&format!("consul://{}/two", consul.endpoint()));
    let top = open(&format!("consul://{}", consul.endpoint()));
    one.put("/shoal/net/hosts/a", "1", 0).await.unwrap();
    assert!(two.get("/shoal/net/hosts/a").await.unwrap().is_none());
    assert!(two.list("/shoal/").await.unwrap().0.is_empty());
    assert_eq!(
        top.get("/one/shoal/net/hosts/a")
            .await
            .unwrap()
            .unwrap()
            .value,
        "1"
    );
}

/// A lease nobody renews (its host died): its keys go after the TTL
/// (Consul's shortest, 10 s), not before, and renewing keeps them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrenewed_session_takes_its_keys() {
    let consul = ConsulStandIn::start();
    let url = format!("consul://{}", consul.endpoint());
    let (a, b) = (open(&url), open(&url));
    let dying = a.grant(Duration::from_secs(3)).await.unwrap();
    let kept = a.grant(Duration::from_secs(3)).await.unwrap();
    a.put("/shoal/net/hosts/dying", "d", dying).await.unwrap();
    a.put("/shoal/net/hosts/kept", "k", kept).await.unwrap();
    let t = Instant::now();
    let renew = {
        let a = a.clone();
        tokio::spawn(async move {
            loop {
                assert!(a.keep_alive(kept).await.unwrap());
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    };
    eventually(Duration::from_secs(20), "unrenewed key gone", || async {
        b.get("/shoal/net/hosts/dying").await.unwrap().is_none()
    })
    .await;
    assert!(
        t.elapsed() >= Duration::from_secs(9),
        "gone before the TTL: {:?}",
        t.elapsed()
    );
    assert!(!a.keep_alive(dying).await.unwrap());
    assert_eq!(
        b.get("/shoal/net/hosts/kept").await.unwrap().unwrap().lease,
        kept
    );
    renew.abort();
}

#[tokio::test]
async fn unreachable_consul_is_a_clear_error() {
    let port = support::free_port();
    let kv = open(&format!("consul://127.0.0.1:{port}"));
    let e = kv.list("/shoal/net/").await.unwrap_err().to_string();
    assert!(e.contains(&format!("consul://127.0.0.1:{port}")), "{e}");
    let e = kv
        .grant(Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[test]
fn bad_consul_urls_are_clear_errors() {
    for url in ["consul://", "consul:///p", "consul://h:8500/a//b"] {
        let e = kv::open(url).unwrap_err().to_string();
        assert!(e.contains(url), "{e}");
    }
}
