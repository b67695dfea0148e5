//! The store contract on a real ZooKeeper (and, for comparison, on the
//! in-memory store and a real etcd), and what only ZooKeeper needs checked:
//! leased keys going with the session when their process dies, keys another
//! process wrote on a lease, the chroot, bad URLs and an unreachable server.
//! Run under `flock /tmp/shoal-lab.lock` (servers on loopback ports).

mod contract;
mod support;

use std::sync::Arc;
use std::time::Duration;

use contract::{eventually, Store};
use shoal_netdriver::kv::{self, Kv, MemKv};

fn open(url: &str) -> Store {
    Arc::new(kv::open(url).unwrap())
}

#[tokio::test]
async fn contract_on_memory() {
    let m = MemKv::new();
    contract::all(Arc::new(m.clone()), Arc::new(m), "/t").await;
}

#[tokio::test]
async fn contract_on_etcd() {
    let Some(etcd) = support::etcd() else { return };
    let url = format!("etcd://{}", etcd.endpoint());
    contract::all(open(&url), open(&url), "/t").await;
}

#[tokio::test]
async fn contract_on_zookeeper() {
    let Some(zk) = support::zookeeper() else {
        return;
    };
    let url = format!("zk://{}", zk.endpoint());
    contract::all(open(&url), open(&url), "/shoal/net").await;
    // The same under a chroot, which is made on first use.
    let url = format!("zk://{}/clusters/one", zk.endpoint());
    contract::all(open(&url), open(&url), "/shoal/net").await;
}

#[tokio::test]
async fn zookeeper_chroots_do_not_mix() {
    let Some(zk) = support::zookeeper() else {
        return;
    };
    let one = open(&format!("zk://{}/one", zk.endpoint()));
    let two = open(&format!("zk://{}/two", zk.endpoint()));
    let top = open(&format!("zk://{}", zk.endpoint()));
    one.put("/shoal/net/hosts/a", "1", 0).await.unwrap();
    assert!(two.get("/shoal/net/hosts/a").await.unwrap().is_none());
    assert!(two.list("/shoal/").await.unwrap().0.is_empty());
    let e = top.get("/one/shoal/net/hosts/a").await.unwrap().unwrap();
    assert_eq!(e.value, "1");
}

/// Child mode of `leased_keys_go_when_their_process_is_killed`: takes a
/// lease, writes a key on it, says so and waits to be killed.
#[tokio::test]
async fn child_holding_a_lease() {
    let Ok(url) = std::env::var("SHOAL_TEST_ZK_CHILD") else {
        return;
    };
    let kv = open(&url);
    let lease = kv.grant(Duration::from_secs(2)).await.unwrap();
    kv.put("/shoal/net/hosts/child", "c", lease).await.unwrap();
    println!("LEASED {lease}");
    tokio::time::sleep(Duration::from_secs(120)).await;
    panic!("child was not killed");
}

/// A host that dies without a word (SIGKILL: no session close): its leased
/// keys go once its session times out, and stay until then.
#[tokio::test]
async fn leased_keys_go_when_their_process_is_killed() {
    use std::io::{BufRead, BufReader};
    let Some(zk) = support::zookeeper() else {
        return;
    };
    let url = format!("zk://{}", zk.endpoint());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holding_a_lease",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SHOAL_TEST_ZK_CHILD", &url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill(); // by PID
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let mut child = Reap(child);
    let lease: i64 = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest's "test NAME ... " comes first on the line.
        .find_map(|l| {
            l.split_once("LEASED ")
                .map(|(_, n)| n.trim().parse().unwrap())
        })
        .expect("child took no lease");
    let kv = open(&url);
    let e = kv.get("/shoal/net/hosts/child").await.unwrap().unwrap();
    assert_eq!(e.lease, lease);
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let killed = std::time::Instant::now();
    // Still there right after: the session has not timed out yet.
    assert!(kv.get("/shoal/net/hosts/child").await.unwrap().is_some());
    eventually(
        Duration::from_secs(15),
        "key of a killed process gone",
        || async { kv.get("/shoal/net/hosts/child").await.unwrap().is_none() },
    )
    .await;
    assert!(
        killed.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        killed.elapsed()
    );
}

/// A key `shoal cni` wrote on the agent's lease goes when the agent's
/// process ends, even though only the agent's session could own it.
#[tokio::test]
async fn key_written_on_another_process_lease_goes_with_it() {
    let Some(zk) = support::zookeeper() else {
        return;
    };
    let url = format!("zk://{}", zk.endpoint());
    let agent = open(&url);
    let cni = open(&url);
    let lease = agent.grant(Duration::from_secs(5)).await.unwrap();
    agent.put("/shoal/net/hosts/h", "h", lease).await.unwrap();
    // The agent's watch runs from grant on; the CNI reads the lease.
    let lease_seen = cni.get("/shoal/net/hosts/h").await.unwrap().unwrap().lease;
    assert_eq!(lease_seen, lease);
    assert!(cni
        .create("/shoal/net/ipam/10.1.0.0-24/10.1.0.7", "a", lease)
        .await
        .unwrap());
    // Give the agent's watch the event, then end the agent's process.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(agent);
    eventually(
        Duration::from_secs(10),
        "cni key gone with its agent",
        || async { cni.list("/shoal/net/").await.unwrap().0.is_empty() },
    )
    .await;
}

#[tokio::test]
async fn unreachable_zookeeper_is_a_clear_error() {
    let port = support::free_port();
    let kv = open(&format!("zk://127.0.0.1:{port}"));
    let t = std::time::Instant::now();
    let e = kv.list("/shoal/net/").await.unwrap_err().to_string();
    assert!(e.contains(&format!("zk://127.0.0.1:{port}")), "{e}");
    assert!(e.contains("connect"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let e = kv
        .grant(Duration::from_secs(5))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("connect"), "{e}");
}

#[test]
fn bad_store_urls_are_clear_errors() {
    for url in [
        "zk://",
        "zk:///shoal",
        "zk://h:2181/a//b",
        "zookeeper://h:2181",
        "h:2181",
    ] {
        let e = kv::open(url).unwrap_err().to_string();
        assert!(e.contains(url), "{e}");
    }
    let kv = kv::open("zk://127.0.0.1:1").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt.block_on(kv.get("no-slash")).unwrap_err().to_string();
    assert!(e.contains("no-slash"), "{e}");
}
