//! The token service killed with SIGKILL while agents register, then
//! restarted: no token is lost, and `list` is complete again within one
//! heartbeat. The service runs in a child process (this test binary again,
//! running the ignored `token_service_child` test), killed by its PID.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_discovery::token::{create_cluster, ServerConfig, TokenServer};
use shoal_discovery::{from_url, DiscoveryOpts};
use support::Agent;

const DIR_ENV: &str = "SHOAL_TEST_TOKEN_CHILD_DIR";
const LISTEN_ENV: &str = "SHOAL_TEST_TOKEN_CHILD_LISTEN";

/// Not a test of its own: the service process of the test below.
#[test]
#[ignore = "run by token_service_survives_sigkill as its child process"]
fn token_service_child() {
    let (Ok(dir), Ok(listen)) = (std::env::var(DIR_ENV), std::env::var(LISTEN_ENV)) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server =
            TokenServer::bind(ServerConfig::new(listen.parse().unwrap(), Some(dir.into())))
                .await
                .unwrap();
        server.run().await.unwrap();
    });
}

struct ChildService(Child);

impl ChildService {
    fn start(dir: &std::path::Path, listen: &str) -> ChildService {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "token_service_child", "--nocapture"])
            .env(DIR_ENV, dir)
            .env(LISTEN_ENV, listen)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(listen).is_err() {
            assert!(
                Instant::now() < deadline,
                "token service child did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        ChildService(child)
    }

    fn sigkill(&mut self) {
        let _ = self.0.kill(); // SIGKILL, by PID
        let _ = self.0.wait();
    }
}

impl Drop for ChildService {
    fn drop(&mut self) {
        self.sigkill();
    }
}

#[tokio::test]
async fn token_service_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", support::free_port());
    let mut svc = ChildService::start(dir.path(), &listen);
    let opts = DiscoveryOpts {
        token_service: Some(format!("http://{listen}")),
        ..Default::default()
    };

    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(create_cluster(&listen, &opts).await.unwrap());
    }
    let hb = Duration::from_secs(1);
    let ttl = Duration::from_secs(5);
    let url = format!("token://{}", tokens[0]);
    let _agents: Vec<Agent> = (1..=3)
        .map(|i| {
            Agent::start(
                from_url(&url, &opts).unwrap(),
                &format!("10.0.0.{i}:2375"),
                hb,
                ttl,
            )
        })
        .collect();
    let list = from_url(&url, &opts).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while list.fetch().await.map(|l| l.len()).unwrap_or(0) < 3 {
        assert!(Instant::now() < deadline, "agents did not register");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One more token right before the kill, while the agents keep registering.
    tokens.push(create_cluster(&listen, &opts).await.unwrap());
    svc.sigkill();
    assert!(list.fetch().await.is_err(), "the service is down");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let _svc = ChildService::start(dir.path(), &listen);
    let restarted = Instant::now();
    for t in &tokens {
        let d = from_url(&format!("token://{t}"), &opts).unwrap();
        d.fetch()
            .await
            .unwrap_or_else(|e| panic!("token {t} lost: {e}"));
    }
    loop {
        let got = list.fetch().await.unwrap();
        if got == ["10.0.0.1:2375", "10.0.0.2:2375", "10.0.0.3:2375"] {
            break;
        }
        assert!(
            restarted.elapsed() <= hb + Duration::from_millis(500),
            "list incomplete one heartbeat after restart: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("list complete {:?} after the restart", restarted.elapsed());
}
