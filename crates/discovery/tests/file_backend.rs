//! The file backend against a real file: re-read at every heartbeat.

use std::time::Duration;

use shoal_discovery::{from_url, DiscoveryOpts};

#[tokio::test]
async fn file_is_reread_every_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster");
    std::fs::write(
        &path,
        "# two nodes\n10.0.0.1:2375\n10.0.0.[2:3]:2375 # a range\n",
    )
    .unwrap();
    let d = from_url(
        &format!("file://{}", path.display()),
        &DiscoveryOpts::default(),
    )
    .unwrap();
    assert_eq!(d.scheme(), "file");
    assert_eq!(
        d.fetch().await.unwrap(),
        ["10.0.0.1:2375", "10.0.0.2:2375", "10.0.0.3:2375"]
    );

    let mut w = d.watch(Duration::from_millis(50));
    let first = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.unwrap().len(), 3);

    std::fs::write(&path, "h:1\n").unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.unwrap(), ["h:1"]);

    // A broken file is reported, and the watch carries on once it is fixed.
    std::fs::write(&path, "h:1\nnot-an-address\n").unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap();
    let err = err.unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
    std::fs::write(&path, "h:2\n").unwrap();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .unwrap()
            .unwrap();
        if let Ok(list) = item {
            assert_eq!(list, ["h:2"]);
            break;
        }
    }
}

#[tokio::test]
async fn missing_file_is_an_error_naming_it() {
    let d = from_url("file:///nonexistent/shoal-nodes", &DiscoveryOpts::default()).unwrap();
    let err = d.fetch().await.unwrap_err().to_string();
    assert!(err.contains("/nonexistent/shoal-nodes"), "{err}");
    assert!(d.register("a:1", Duration::from_secs(5)).await.is_err());
}
