//! The ZooKeeper backend against a real ZooKeeper (Debian's zookeeper).

mod support;

use std::time::Duration;

use shoal_discovery::{from_url, DiscoveryOpts};
use support::ZooKeeper;
use zookeeper_client as zk;

#[tokio::test]
async fn zookeeper_join_leave_and_recover() {
    let Some(mut zk) = ZooKeeper::start() else {
        return;
    };
    let url = format!("zk://{}/swarm", zk.endpoint());
    support::join_leave_recover(
        &mut zk,
        &url,
        Duration::from_secs(1),
        Duration::from_secs(4),
    )
    .await;
}

#[tokio::test]
async fn zookeeper_nodes_are_ephemeral_at_the_classic_path() {
    let Some(server) = ZooKeeper::start() else {
        return;
    };
    let url = format!("zk://{}/p", server.endpoint());
    let d = from_url(&url, &DiscoveryOpts::default()).unwrap();
    d.register("10.9.9.9:2375", Duration::from_secs(4))
        .await
        .unwrap();
    d.register("10.9.9.9:2375", Duration::from_secs(4))
        .await
        .unwrap(); // again: no error

    let client = zk::Client::connect(&server.endpoint()).await.unwrap();
    let (data, stat) = client
        .get_data("/p/docker/swarm/nodes/10.9.9.9:2375")
        .await
        .unwrap();
    assert_eq!(data, b"10.9.9.9:2375");
    assert_ne!(stat.ephemeral_owner, 0, "the node is ephemeral");

    // kv.path moves the nodes elsewhere.
    let opts = DiscoveryOpts::from_pairs(["kv.path=other/place"]).unwrap();
    let custom = from_url(&url, &opts).unwrap();
    assert!(custom.fetch().await.unwrap().is_empty());
    custom
        .register("10.8.8.8:2375", Duration::from_secs(4))
        .await
        .unwrap();
    assert_eq!(custom.fetch().await.unwrap(), ["10.8.8.8:2375"]);
    assert_eq!(
        client.list_children("/p/other/place").await.unwrap(),
        ["10.8.8.8:2375"]
    );

    // A node left by an earlier session of the same address is taken over.
    let again = from_url(&url, &DiscoveryOpts::default()).unwrap();
    again
        .register("10.9.9.9:2375", Duration::from_secs(4))
        .await
        .unwrap();
    drop(d);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(again.fetch().await.unwrap(), ["10.9.9.9:2375"]);
}
