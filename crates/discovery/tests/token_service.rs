//! The token service and the token backend, end to end over loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use shoal_discovery::token::{create_cluster, ServerConfig, TokenServer};
use shoal_discovery::{from_url, DiscoveryOpts};

/// A service running in this test's runtime; aborted (like a SIGKILL: no
/// final save) when dropped.
struct Running {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<Result<(), shoal_discovery::DiscoveryError>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(dir: Option<&Path>, listen: &str, max_entries: usize) -> Running {
    let mut cfg = ServerConfig::new(listen.parse().unwrap(), dir.map(Path::to_path_buf));
    cfg.max_entries = max_entries;
    let server = TokenServer::bind(cfg).await.unwrap();
    let addr = server.local_addr();
    Running {
        addr,
        task: tokio::spawn(server.run()),
    }
}

fn opts(addr: SocketAddr) -> DiscoveryOpts {
    DiscoveryOpts {
        token_service: Some(format!("http://{addr}")),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_register_list_expire() {
    let svc = start(None, "127.0.0.1:0", 100).await;
    let token = create_cluster(&svc.addr.to_string(), &DiscoveryOpts::default())
        .await
        .unwrap();
    assert_eq!(token.len(), 32);
    assert!(token
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));

    // token://TOKEN resolves against the configured service...
    let d = from_url(&format!("token://{token}"), &opts(svc.addr)).unwrap();
    assert_eq!(d.fetch().await.unwrap(), Vec::<String>::new());
    d.register("10.0.0.1:2375", Duration::from_secs(1))
        .await
        .unwrap();
    d.register("10.0.0.2:2375", Duration::from_secs(60))
        .await
        .unwrap();
    // ...and token://HOST:PORT/TOKEN names the service itself.
    let d2 = from_url(
        &format!("token://{}/{token}", svc.addr),
        &DiscoveryOpts::default(),
    )
    .unwrap();
    let mut got = d2.fetch().await.unwrap();
    got.sort();
    assert_eq!(got, ["10.0.0.1:2375", "10.0.0.2:2375"]);

    // The one with a 1 s ttl expires.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(d2.fetch().await.unwrap(), ["10.0.0.2:2375"]);

    // The watch polls and reports the change.
    let mut w = d2.watch(Duration::from_millis(100));
    assert_eq!(w.next().await.unwrap().unwrap(), ["10.0.0.2:2375"]);
    d.register("10.0.0.3:2375", Duration::from_secs(60))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next, ["10.0.0.2:2375", "10.0.0.3:2375"]);

    // An unknown token is an error naming it.
    let bad = from_url("token://0123456789abcdef0123456789abcdef", &opts(svc.addr)).unwrap();
    let err = bad.fetch().await.unwrap_err().to_string();
    assert!(err.contains("unknown token"), "{err}");
}

#[tokio::test]
async fn bad_requests_are_refused() {
    let svc = start(None, "127.0.0.1:0", 2).await;
    let token = create_cluster(&svc.addr.to_string(), &DiscoveryOpts::default())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/clusters/{token}", svc.addr);
    let post = |q: &str, body: Vec<u8>| http.post(format!("{url}{q}")).body(body).send();

    for body in ["", "nohost", "h:0", "h:99999", "a b:1", ":1"] {
        let r = post("?ttl=10", body.into()).await.unwrap();
        assert_eq!(r.status(), 400, "address {body:?}");
        let text = r.text().await.unwrap();
        assert!(text.contains("invalid address"), "{text}");
    }
    for ttl in ["x", "0", "-1", "99999999"] {
        let r = post(&format!("?ttl={ttl}"), b"h:1".to_vec()).await.unwrap();
        assert_eq!(r.status(), 400, "ttl {ttl}");
    }
    let r = post("?ttl=10", vec![b'a'; 5000]).await.unwrap();
    assert_eq!(r.status(), 413);
    let r = http
        .get(format!("http://{}/v1/clusters/bad%20token", svc.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // At most 2 entries per token (this service's limit); re-registering is fine.
    assert_eq!(
        post("?ttl=10", b"h:1".to_vec()).await.unwrap().status(),
        200
    );
    assert_eq!(
        post("?ttl=10", b"h:2".to_vec()).await.unwrap().status(),
        200
    );
    assert_eq!(
        post("?ttl=10", b"h:3".to_vec()).await.unwrap().status(),
        507
    );
    assert_eq!(
        post("?ttl=10", b"h:2".to_vec()).await.unwrap().status(),
        200
    );

    // DELETE forgets the token.
    assert_eq!(http.delete(&url).send().await.unwrap().status(), 204);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn state_survives_an_abrupt_stop() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(Some(dir.path()), "127.0.0.1:0", 100).await;
    let addr = svc.addr;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(
            create_cluster(&addr.to_string(), &DiscoveryOpts::default())
                .await
                .unwrap(),
        );
    }
    let d = from_url(
        &format!("token://{addr}/{}", tokens[0]),
        &DiscoveryOpts::default(),
    )
    .unwrap();
    d.register("10.0.0.1:2375", Duration::from_secs(60))
        .await
        .unwrap();
    // Registrations reach the disk within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Tokens created just before the stop are on disk already.
    tokens.push(
        create_cluster(&addr.to_string(), &DiscoveryOpts::default())
            .await
            .unwrap(),
    );
    drop(svc); // aborted: no final save
    tokio::time::sleep(Duration::from_millis(100)).await;

    let svc = start(Some(dir.path()), &addr.to_string(), 100).await;
    for t in &tokens {
        let d = from_url(
            &format!("token://{}/{t}", svc.addr),
            &DiscoveryOpts::default(),
        )
        .unwrap();
        d.fetch()
            .await
            .unwrap_or_else(|e| panic!("token {t} lost: {e}"));
    }
    assert_eq!(d.fetch().await.unwrap(), ["10.0.0.1:2375"]);
}
