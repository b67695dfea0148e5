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

#[tokio::test]
async fn zookeeper_node_of_a_killed_agent_expires_with_its_session() {
    let Some(server) = ZooKeeper::start() else {
        return;
    };
    let url = format!("zk://{}/k", server.endpoint());
    let manager = from_url(&url, &DiscoveryOpts::default()).unwrap();
    let mut watch = manager.watch(Duration::from_secs(1));

    // An agent killed with SIGKILL never closes its session: a detached
    // session, dropped, behaves the same (no close request is sent).
    let ttl = Duration::from_secs(3);
    let agent = zk::Client::connector()
        .with_session_timeout(ttl)
        .with_detached()
        .connect(&server.endpoint())
        .await
        .unwrap();
    let dir = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    agent.mkdir("/k/docker/swarm/nodes", &dir).await.unwrap();
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    agent
        .create(
            "/k/docker/swarm/nodes/10.0.0.5:2375",
            b"10.0.0.5:2375",
            &eph,
        )
        .await
        .unwrap();
    support::eventually(&mut watch, Duration::from_secs(5), "the node", |l| {
        l == ["10.0.0.5:2375"]
    })
    .await;

    let killed = std::time::Instant::now();
    drop(agent);
    support::eventually(
        &mut watch,
        ttl + Duration::from_secs(2),
        "the node gone",
        |l| l.is_empty(),
    )
    .await;
    let after = killed.elapsed();
    eprintln!("node of the killed agent left after {after:?} (session timeout {ttl:?})");
    assert!(
        after >= Duration::from_secs(1),
        "it stayed while the session lived ({after:?})"
    );
}

#[tokio::test]
async fn zookeeper_over_tls_with_client_certificates() {
    let Some(certs) = support::Certs::make() else {
        return;
    };
    let Some((server, tls_port)) = ZooKeeper::start_tls(&certs) else {
        return;
    };
    let url = format!("zk://127.0.0.1:{tls_port}/tls");
    let p = |x: &std::path::Path| x.display().to_string();
    let opts = DiscoveryOpts::from_pairs([
        format!("kv.cacertfile={}", p(&certs.ca)),
        format!("kv.certfile={}", p(&certs.client_cert)),
        format!("kv.keyfile={}", p(&certs.client_key)),
    ])
    .unwrap();
    let d = from_url(&url, &opts).unwrap();
    if let Err(e) = d.register("10.7.7.7:2375", Duration::from_secs(4)).await {
        panic!("{e}; zookeeper log:\n{}", server.log());
    }
    assert_eq!(d.fetch().await.unwrap(), ["10.7.7.7:2375"]);

    // Plain text to the TLS port does not get through.
    let plain = from_url(
        &url,
        &DiscoveryOpts {
            request_timeout: Some(Duration::from_secs(3)),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(plain.fetch().await.is_err());
}
