//! The etcd backend against a real etcd 3.4 (Debian's etcd-server).

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use shoal_discovery::{from_url, DiscoveryOpts};
use support::Etcd;

#[tokio::test]
async fn etcd_join_leave_and_recover() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let url = format!("etcd://{}/swarm", etcd.endpoint());
    support::join_leave_recover(
        &mut etcd,
        &url,
        Duration::from_secs(1),
        Duration::from_secs(3),
    )
    .await;
}

#[tokio::test]
async fn etcd_key_layout_and_kv_path() {
    let Some(etcd) = Etcd::start() else { return };
    let url = format!("etcd://127.0.0.1:1,{}/p", etcd.endpoint()); // the first server is down
    let d = from_url(&url, &DiscoveryOpts::default()).unwrap();
    d.register("10.9.9.9:2375", Duration::from_secs(30))
        .await
        .unwrap();

    // The key sits at <prefix>/docker/swarm/nodes/<addr> with the address as value, on a lease.
    let key = "p/docker/swarm/nodes/10.9.9.9:2375";
    let b64 = |s: &str| base64_encode(s.as_bytes());
    let v: Value = reqwest::Client::new()
        .post(format!("http://{}/v3/kv/range", etcd.endpoint()))
        .json(&json!({"key": b64(key)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kv = &v["kvs"][0];
    assert_eq!(kv["value"], b64("10.9.9.9:2375"));
    assert!(
        kv["lease"].as_str().is_some_and(|l| l != "0"),
        "key has a lease: {kv}"
    );

    let opts = DiscoveryOpts::from_pairs(["kv.path=other/place"]).unwrap();
    let custom = from_url(&url, &opts).unwrap();
    assert!(custom.fetch().await.unwrap().is_empty());
    custom
        .register("10.8.8.8:2375", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(custom.fetch().await.unwrap(), ["10.8.8.8:2375"]);
    assert_eq!(d.fetch().await.unwrap(), ["10.9.9.9:2375"]);
}

#[tokio::test]
async fn etcd_down_is_an_error_naming_it() {
    let port = support::free_port();
    let d = from_url(
        &format!("etcd://127.0.0.1:{port}/x"),
        &DiscoveryOpts::default(),
    )
    .unwrap();
    let err = d.fetch().await.unwrap_err().to_string();
    assert!(err.starts_with("etcd at http://127.0.0.1:"), "{err}");
    assert!(d.register("a:1", Duration::from_secs(5)).await.is_err());
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn etcd_over_tls_with_client_certificates() {
    let Some(certs) = support::Certs::make() else {
        return;
    };
    let Some(etcd) = Etcd::start_tls(&certs) else {
        return;
    };
    let url = format!("etcd://{}/tls", etcd.endpoint());
    let p = |x: &std::path::Path| x.display().to_string();
    let opts = DiscoveryOpts::from_pairs([
        format!("kv.cacertfile={}", p(&certs.ca)),
        format!("kv.certfile={}", p(&certs.client_cert)),
        format!("kv.keyfile={}", p(&certs.client_key)),
    ])
    .unwrap();
    let d = from_url(&url, &opts).unwrap();
    d.register("10.7.7.7:2375", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(d.fetch().await.unwrap(), ["10.7.7.7:2375"]);
    let mut w = d.watch(Duration::from_secs(1));
    support::eventually(&mut w, Duration::from_secs(5), "the node over tls", |l| {
        l == ["10.7.7.7:2375"]
    })
    .await;

    // Without a client certificate the server refuses us.
    let ca_only = DiscoveryOpts::from_pairs([format!("kv.cacertfile={}", p(&certs.ca))]).unwrap();
    assert!(from_url(&url, &ca_only).unwrap().fetch().await.is_err());
    // A missing file is named.
    let missing = DiscoveryOpts::from_pairs(["kv.cacertfile=/nonexistent/ca.pem"]).unwrap();
    let err = from_url(&url, &missing).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}
