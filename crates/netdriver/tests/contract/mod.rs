//! What every store backend must do for the overlay, checked the same way on
//! each: `a` and `b` are two clients of one store (two hosts), each check
//! under a prefix of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_netdriver::kv::Kv;

pub type Store = Arc<dyn Kv>;

/// Polls `check` until it holds, for at most `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn keys(entries: &[shoal_netdriver::kv::KvEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.key.as_str()).collect()
}

/// Runs every check.
pub async fn all(a: Store, b: Store, p: &str) {
    create_if_absent_race(&a, &b, &format!("{p}/race")).await;
    compare_and_swap(&a, &b, &format!("{p}/cas")).await;
    list_and_put(&a, &b, &format!("{p}/list")).await;
    revoke_takes_leased_keys(&a, &b, &format!("{p}/revoke")).await;
    key_moves_between_leases(&a, &b, &format!("{p}/move")).await;
    wait_change_wakes(&a, &b, &format!("{p}/wait")).await;
    delete_prefix(&a, &b, &format!("{p}/del")).await;
}

/// Two hosts race to allocate the same addresses: each goes to exactly one.
pub async fn create_if_absent_race(a: &Store, b: &Store, p: &str) {
    let la = a.grant(Duration::from_secs(10)).await.unwrap();
    let lb = b.grant(Duration::from_secs(10)).await.unwrap();
    let n = 20;
    let run = |kv: Store, lease: i64, who: &'static str| {
        let p = p.to_string();
        tokio::spawn(async move {
            let mut won = Vec::new();
            for i in 0..n {
                if kv
                    .create(&format!("{p}/ip/10.0.0.{i}"), who, lease)
                    .await
                    .unwrap()
                {
                    won.push(i);
                }
            }
            won
        })
    };
    let (wa, wb) = tokio::join!(run(a.clone(), la, "a"), run(b.clone(), lb, "b"));
    let (wa, wb) = (wa.unwrap(), wb.unwrap());
    assert_eq!(wa.len() + wb.len(), n, "a won {wa:?}, b won {wb:?}");
    assert!(wa.iter().all(|i| !wb.contains(i)), "a {wa:?} b {wb:?}");
    let (list, _) = b.list(&format!("{p}/ip/")).await.unwrap();
    assert_eq!(list.len(), n);
    for e in &list {
        let i: usize = e.key.rsplit('.').next().unwrap().parse().unwrap();
        let (owner, lease) = if wa.contains(&i) {
            ("a", la)
        } else {
            ("b", lb)
        };
        assert_eq!((e.value.as_str(), e.lease), (owner, lease), "{}", e.key);
    }
    // A second create of a taken key fails, even with an empty value.
    assert!(a.create(&format!("{p}/empty"), "", 0).await.unwrap());
    assert!(!b.create(&format!("{p}/empty"), "x", 0).await.unwrap());
    assert_eq!(
        b.get(&format!("{p}/empty")).await.unwrap().unwrap().value,
        ""
    );
    a.revoke(la).await.unwrap();
    b.revoke(lb).await.unwrap();
}

/// A swap with a stale revision loses; with the current one it wins.
pub async fn compare_and_swap(a: &Store, b: &Store, p: &str) {
    let k = format!("{p}/net/42");
    assert!(
        !a.compare_and_swap(&k, 1, "x", 0).await.unwrap(),
        "missing key swapped"
    );
    a.put(&k, "v1", 0).await.unwrap();
    let seen = b.get(&k).await.unwrap().unwrap();
    assert_eq!(seen.value, "v1");
    assert!(a
        .compare_and_swap(&k, seen.mod_revision, "by a", 0)
        .await
        .unwrap());
    assert!(
        !b.compare_and_swap(&k, seen.mod_revision, "by b", 0)
            .await
            .unwrap(),
        "a stale swap won"
    );
    let now = b.get(&k).await.unwrap().unwrap();
    assert_eq!(now.value, "by a");
    assert_ne!(now.mod_revision, seen.mod_revision);
    assert!(b
        .compare_and_swap(&k, now.mod_revision, "by b", 0)
        .await
        .unwrap());
    assert_eq!(a.get(&k).await.unwrap().unwrap().value, "by b");
    // Deleted and made again: the old revision does not match the new key.
    a.delete(&k).await.unwrap();
    a.put(&k, "again", 0).await.unwrap();
    assert!(!b
        .compare_and_swap(&k, now.mod_revision, "stale", 0)
        .await
        .unwrap());
}

/// list: every key under the prefix, in key order, and nothing else.
pub async fn list_and_put(a: &Store, b: &Store, p: &str) {
    for k in [
        "hosts/10.0.0.2",
        "hosts/10.0.0.1",
        "members/7/10.0.0.1",
        "hostsx/1",
    ] {
        a.put(&format!("{p}/{k}"), k, 0).await.unwrap();
    }
    a.put(&format!("{p}/hosts/10.0.0.1"), "new", 0)
        .await
        .unwrap();
    let (list, _) = b.list(&format!("{p}/hosts/")).await.unwrap();
    assert_eq!(
        keys(&list),
        [format!("{p}/hosts/10.0.0.1"), format!("{p}/hosts/10.0.0.2")]
    );
    assert_eq!(list[0].value, "new");
    let (all, _) = b.list(&format!("{p}/")).await.unwrap();
    assert_eq!(all.len(), 4);
    let (partial, _) = b.list(&format!("{p}/hosts/10.0.0.1")).await.unwrap();
    assert_eq!(keys(&partial), [format!("{p}/hosts/10.0.0.1")]);
    assert!(b.get(&format!("{p}/hosts")).await.unwrap().is_none());
    assert!(b.list(&format!("{p}/none/")).await.unwrap().0.is_empty());
    a.delete(&format!("{p}/hosts/10.0.0.2")).await.unwrap();
    a.delete(&format!("{p}/hosts/10.0.0.2")).await.unwrap(); // absent: fine
    assert_eq!(b.list(&format!("{p}/hosts/")).await.unwrap().0.len(), 1);
}

/// Revoking a lease takes its keys, those another client wrote on it too,
/// and nothing else.
pub async fn revoke_takes_leased_keys(a: &Store, b: &Store, p: &str) {
    let lease = a.grant(Duration::from_secs(10)).await.unwrap();
    assert!(a.keep_alive(lease).await.unwrap());
    a.put(&format!("{p}/hosts/a"), "a", lease).await.unwrap();
    // `shoal cni` writes on its agent's lease.
    assert!(b.create(&format!("{p}/ipam/a1"), "a", lease).await.unwrap());
    b.put(&format!("{p}/networks/1"), "n", 0).await.unwrap();
    let e = b.get(&format!("{p}/hosts/a")).await.unwrap().unwrap();
    assert_eq!(e.lease, lease);
    assert_eq!(
        b.get(&format!("{p}/ipam/a1")).await.unwrap().unwrap().lease,
        lease
    );
    a.revoke(lease).await.unwrap();
    let (left, _) = b.list(&format!("{p}/")).await.unwrap();
    assert_eq!(keys(&left), [format!("{p}/networks/1")]);
    assert!(
        !a.keep_alive(lease).await.unwrap(),
        "revoked lease kept alive"
    );
}

/// The agent's adoption: a key swapped onto a new lease stays when the old
/// one goes, and goes with the new one.
pub async fn key_moves_between_leases(a: &Store, b: &Store, p: &str) {
    let old = a.grant(Duration::from_secs(10)).await.unwrap();
    let k = format!("{p}/endpoints/1/10.1.0.5");
    a.put(&k, "ep", old).await.unwrap();
    let new = a.grant(Duration::from_secs(10)).await.unwrap();
    assert_ne!(old, new);
    let e = b.get(&k).await.unwrap().unwrap();
    assert!(a
        .compare_and_swap(&k, e.mod_revision, &e.value, new)
        .await
        .unwrap());
    assert_eq!(b.get(&k).await.unwrap().unwrap().lease, new);
    a.revoke(old).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap().unwrap().value, "ep");
    // Off any lease with put: stays when the lease goes.
    let k2 = format!("{p}/networks/2");
    a.put(&k2, "n", new).await.unwrap();
    a.put(&k2, "n2", 0).await.unwrap();
    assert_eq!(b.get(&k2).await.unwrap().unwrap().lease, 0);
    a.revoke(new).await.unwrap();
    assert!(b.get(&k).await.unwrap().is_none(), "key outlived its lease");
    assert_eq!(b.get(&k2).await.unwrap().unwrap().value, "n2");
}

/// wait_change returns soon after a change made after the list, even one
/// made before the wait starts; without a change it waits.
pub async fn wait_change_wakes(a: &Store, b: &Store, p: &str) {
    let root = format!("{p}/");
    a.put(&format!("{p}/hosts/x"), "1", 0).await.unwrap();
    let (_, rev) = a.list(&format!("{p}/hosts/")).await.unwrap();

    let t = Instant::now();
    a.wait_change(&root, rev, Duration::from_millis(700))
        .await
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "woke with no change"
    );

    // A change between the list and the wait is not missed.
    b.put(&format!("{p}/members/1/x"), "m", 0).await.unwrap();
    let t = Instant::now();
    a.wait_change(&root, rev, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "missed a change: {:?}",
        t.elapsed()
    );

    // A change while waiting wakes it.
    let (_, rev) = a.list(&format!("{p}/hosts/")).await.unwrap();
    let b2 = b.clone();
    let key = format!("{p}/hosts/x");
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        b2.delete(&key).await.unwrap();
    });
    let t = Instant::now();
    a.wait_change(&root, rev, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "slept through a delete"
    );
    writer.await.unwrap();

    // A leased key vanishing is a change too.
    let lease = b.grant(Duration::from_secs(10)).await.unwrap();
    b.put(&format!("{p}/hosts/y"), "y", lease).await.unwrap();
    let (_, rev) = a.list(&format!("{p}/hosts/")).await.unwrap();
    b.revoke(lease).await.unwrap();
    let t = Instant::now();
    a.wait_change(&root, rev, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "slept through a revoke"
    );
}

/// delete_prefix takes every key under the prefix, counts them, and leaves
/// the rest.
pub async fn delete_prefix(a: &Store, b: &Store, p: &str) {
    let lease = a.grant(Duration::from_secs(10)).await.unwrap();
    for k in [
        "endpoints/5/10.0.0.1",
        "endpoints/5/10.0.0.2",
        "endpoints/6/10.0.0.3",
    ] {
        a.put(&format!("{p}/{k}"), "e", lease).await.unwrap();
    }
    a.put(&format!("{p}/endpoints/5x"), "other", 0)
        .await
        .unwrap();
    assert_eq!(
        b.delete_prefix(&format!("{p}/endpoints/5/")).await.unwrap(),
        2
    );
    let (left, _) = a.list(&format!("{p}/")).await.unwrap();
    assert_eq!(
        keys(&left),
        [
            format!("{p}/endpoints/5x"),
            format!("{p}/endpoints/6/10.0.0.3")
        ]
    );
    assert_eq!(
        b.delete_prefix(&format!("{p}/endpoints/5/")).await.unwrap(),
        0
    );
    // The emptied prefix can be written again, on a lease too.
    a.put(&format!("{p}/endpoints/5/10.0.0.9"), "e", lease)
        .await
        .unwrap();
    assert_eq!(b.delete_prefix(&format!("{p}/")).await.unwrap(), 3);
    assert!(a.list(&format!("{p}/")).await.unwrap().0.is_empty());
    a.revoke(lease).await.unwrap();
}
