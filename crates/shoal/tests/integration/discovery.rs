//! Issue 5 with real stores: agents (`shoal join`) and a manager (`shoal
//! manage`) on etcd and ZooKeeper servers run by keystore machines, the
//! token service killed and restarted under registering agents, and
//! malformed discovery URLs refused.
//!
//! Agents heartbeat every second with a 3 s ttl, so "within two
//! heartbeats" and "within its ttl" are measured in seconds; every wait
//! scales with `SHOAL_TEST_TIMEOUT_SCALE`.

use crate::harness::{docker, eventually, timeout, Lab, Machine, SHOAL};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HEARTBEAT: Duration = Duration::from_secs(1);
const TTL: Duration = Duration::from_secs(3);
/// What observing a change costs on top of the product's own latency: one
/// poll interval of `eventually` plus a `docker info` or `shoal list` run.
const OBSERVE: Duration = Duration::from_millis(1000);
/// How late a store may expire an entry past its ttl: etcd checks leases
/// every 500 ms; ZooKeeper expires sessions on its tick (500 ms on a
/// keystore machine).
const EXPIRY_TICK: Duration = Duration::from_millis(500);

/// A child `shoal` process with its log, killed (SIGKILL, by its pid) and
/// reaped when dropped.
pub(crate) struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub(crate) fn spawn(args: &[&str], log: &Path) -> Proc {
        let out = std::fs::File::create(log).expect("log file");
        let child = Command::new(SHOAL)
            .args(args)
            .env_remove("SWARM_DISCOVERY")
            .env_remove("SHOAL_DISCOVERY_SERVICE")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start shoal");
        Proc {
            child,
            log: log.to_path_buf(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Still the same process, still running.
    fn assert_running(&mut self, what: &str) {
        let status = self.child.try_wait().expect("try_wait");
        assert!(
            status.is_none(),
            "{what} exited ({status:?}); log:\n{}",
            self.log_text()
        );
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn agent(lab: &Lab, url: &str, advertise: &str, tag: &str) -> Proc {
    let log = lab.store().join(format!("agent-{tag}.log"));
    Proc::spawn(
        &[
            "join",
            "--advertise",
            advertise,
            "--heartbeat",
            "1s",
            "--ttl",
            "3s",
            url,
        ],
        &log,
    )
}

/// `shoal list URL`: the addresses, sorted; None when it failed.
fn list(url: &str) -> Option<Vec<String>> {
    let out = Command::new(SHOAL)
        .args(["list", "--timeout", "2s", url])
        .env_remove("SWARM_DISCOVERY")
        .stdin(Stdio::null())
        .output()
        .expect("run shoal list");
    if !out.status.success() {
        return None;
    }
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    Some(v)
}

/// The node lines (`  name: addr`) of the manager's `docker info`, and its
/// `Nodes:` count.
fn manager_nodes(host: &str) -> Option<(usize, Vec<String>)> {
    let r = docker(host, &["info"]);
    if r.code != 0 {
        return None;
    }
    let count = r
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Nodes: "))?
        .parse()
        .ok()?;
    let mut addrs: Vec<String> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.trim().rsplit_once(": ").map(|(_, a)| a.to_string()))
        .filter(|a| a.ends_with(":2376"))
        .collect();
    addrs.sort();
    Some((count, addrs))
}

/// Waits until the manager lists exactly `want` (addresses) and returns
/// how long it took from `since`; panics past `within`.
fn manager_shows(
    host: &str,
    want: &[&str],
    since: Instant,
    within: Duration,
    what: &str,
    manager: &Proc,
) -> Duration {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    let mut last = None;
    loop {
        let polled = Instant::now();
        let got = manager_nodes(host);
        if let Some((count, addrs)) = &got {
            if *count == want.len() && *addrs == want {
                return polled.saturating_duration_since(since);
            }
        }
        last = got.or(last);
        if since.elapsed() > within {
            panic!(
                "{what}: the manager did not show {want:?} within {within:?} (last: {last:?}); manager log:\n{}",
                manager.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every healthy node of the manager, once `n` are.
fn wait_healthy(host: &str, n: usize, manager: &Proc) {
    let start = Instant::now();
    while docker(host, &["info"])
        .stdout
        .matches("└ Status: Healthy")
        .count()
        != n
    {
        assert!(
            start.elapsed() < timeout(30),
            "{n} healthy nodes; manager log:\n{}",
            manager.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A manager on `url` with no node yet, then agents for `a1` and `a2`:
/// the manager shows `Nodes: 2` within two heartbeats and both healthy.
fn manager_and_two_agents(lab: &Lab, url: &str, a1: &str, a2: &str) -> (Proc, String, Proc, Proc) {
    let host = format!("unix://{}", lab.store().join("x.sock").display());
    let manager = Proc::spawn(
        &["manage", "-H", &host, "--heartbeat", "1s", url],
        &lab.store().join("manager.log"),
    );
    eventually("the manager answers", timeout(15), || {
        manager_nodes(&host).is_some()
    });
    assert_eq!(
        manager_nodes(&host).unwrap().0,
        0,
        "no node before any agent"
    );
    let start = Instant::now();
    let j1 = agent(lab, url, a1, "1");
    let j2 = agent(lab, url, a2, "2");
    let took = manager_shows(
        &host,
        &[a1, a2],
        start,
        timeout(2) * 2 + OBSERVE,
        "two agents join",
        &manager,
    );
    eprintln!("{url}: Nodes: 2 after {took:?}");
    assert!(
        took <= 2 * HEARTBEAT,
        "{url}: Nodes: 2 after {took:?}, more than two heartbeats"
    );
    assert_eq!(list(url), Some(sorted(&[a1, a2])));
    wait_healthy(&host, 2, &manager);
    (manager, host, j1, j2)
}

/// Two agents join within two heartbeats; one stops and its node leaves
/// the manager (and the store) within its ttl; a new agent brings it back
/// within two heartbeats.
fn join_and_leave(lab: &Lab, url: &str, a1: &str, a2: &str) {
    let (manager, host, _j1, mut j2) = manager_and_two_agents(lab, url, a1, a2);
    let start = Instant::now();
    j2.kill();
    let took = manager_shows(
        &host,
        &[a1],
        start,
        timeout(3) * 3,
        "a stopped agent's node leaves",
        &manager,
    );
    eprintln!("{url}: stopped agent's node left after {took:?}");
    assert!(
        took <= TTL + EXPIRY_TICK,
        "{url}: node left after {took:?}, more than its ttl"
    );
    assert_eq!(list(url), Some(sorted(&[a1])));
    let start = Instant::now();
    let _j2 = agent(lab, url, a2, "2b");
    let took = manager_shows(
        &host,
        &[a1, a2],
        start,
        timeout(2) * 2 + OBSERVE,
        "agent 2 rejoins",
        &manager,
    );
    assert!(took <= 2 * HEARTBEAT, "{url}: rejoined after {took:?}");
}

/// The store (keystore machine `ks`) is down for longer than a heartbeat
/// and than the ttl, then back: the same agents and manager processes
/// carry on: registrations renewed, the manager follows the store again.
fn store_outage(lab: &Lab, ks: &Machine, url: &str, a1: &str, a2: &str) {
    let (mut manager, host, mut j1, mut j2) = manager_and_two_agents(lab, url, a1, a2);
    let (p2, pm) = (j2.pid(), manager.pid());
    lab.shoal(&["machine", "stop", &ks.name])
        .ok("stop the keystore machine");
    assert_eq!(list(url), None, "{url}: the store is down");
    std::thread::sleep(TTL + HEARTBEAT);
    j1.assert_running("agent 1 while the store is down");
    j2.assert_running("agent 2 while the store is down");
    manager.assert_running("the manager while the store is down");
    lab.shoal(&["machine", "start", &ks.name])
        .ok("start the keystore machine");
    let back = Instant::now();
    eventually("the store lists both agents again", timeout(15), || {
        list(url) == Some(sorted(&[a1, a2]))
    });
    let took = manager_shows(
        &host,
        &[a1, a2],
        back,
        timeout(15),
        "manager after the outage",
        &manager,
    );
    eprintln!("{url}: store back, the manager shows both nodes after {took:?}");
    // registrations from before the outage would have expired by now: the
    // agents registered again
    std::thread::sleep(TTL + HEARTBEAT);
    assert_eq!(
        list(url),
        Some(sorted(&[a1, a2])),
        "{url}: agents registered again after the outage"
    );
    wait_healthy(&host, 2, &manager);
    // the manager follows the store again: a node leaves, a node joins
    let start = Instant::now();
    j1.kill();
    let took = manager_shows(
        &host,
        &[a2],
        start,
        timeout(10),
        "after the outage, a node leaves",
        &manager,
    );
    eprintln!("{url}: after the outage, a stopped agent's node left after {took:?}");
    let start = Instant::now();
    let _j1 = agent(lab, url, a1, "1b");
    let took = manager_shows(
        &host,
        &[a1, a2],
        start,
        timeout(2) * 2 + OBSERVE,
        "after the outage, a node joins",
        &manager,
    );
    assert!(
        took <= 2 * HEARTBEAT,
        "{url}: after the outage a node joined after {took:?}"
    );
    // none of them was restarted
    assert_eq!((j2.pid(), manager.pid()), (p2, pm));
    j2.assert_running("agent 2 after the outage");
    manager.assert_running("the manager after the outage");
}

fn addr(m: &Machine) -> String {
    format!("{}:2376", m.ip)
}

/// etcd (v3 API, leases) from a `--keystore etcd` machine (whose engine is
/// one of the nodes): join within two heartbeats, leave within the ttl.
#[test]
fn discovery_etcd_join_and_leave() {
    let lab = Lab::new();
    let ks = lab.create("dej-ks", &["--keystore", "etcd"]);
    let n = lab.create("dej-1", &[]);
    let url = format!("etcd://{}:2379/shoal-it", ks.ip);
    join_and_leave(&lab, &url, &addr(&ks), &addr(&n));
}

/// etcd stopped with its machine for longer than a heartbeat, then started:
/// agents and manager recover without a restart.
#[test]
fn discovery_etcd_store_outage() {
    let lab = Lab::new();
    let ks = lab.create("deo-ks", &["--keystore", "etcd"]);
    let n1 = lab.create("deo-1", &[]);
    let n2 = lab.create("deo-2", &[]);
    let url = format!("etcd://{}:2379/shoal-it", ks.ip);
    store_outage(&lab, &ks, &url, &addr(&n1), &addr(&n2));
}

/// ZooKeeper (ephemeral nodes) from a `--keystore zookeeper` machine: join
/// within two heartbeats, leave within the ttl.
#[test]
fn discovery_zookeeper_join_and_leave() {
    let lab = Lab::new();
    let ks = lab.create("dzj-ks", &["--keystore", "zookeeper"]);
    let n = lab.create("dzj-1", &[]);
    let url = format!("zk://{}:2181/shoal-it", ks.ip);
    join_and_leave(&lab, &url, &addr(&ks), &addr(&n));
}

/// ZooKeeper stopped with its machine for longer than a heartbeat (and the
/// session timeout), then started: agents and manager recover.
#[test]
fn discovery_zookeeper_store_outage() {
    let lab = Lab::new();
    let ks = lab.create("dzo-ks", &["--keystore", "zookeeper"]);
    let n1 = lab.create("dzo-1", &[]);
    let n2 = lab.create("dzo-2", &[]);
    let url = format!("zk://{}:2181/shoal-it", ks.ip);
    store_outage(&lab, &ks, &url, &addr(&n1), &addr(&n2));
}

fn sorted(addrs: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    v.sort();
    v
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn serve(listen: &str, data: &Path, log: &Path) -> Proc {
    let p = Proc::spawn(
        &[
            "discovery",
            "serve",
            "--listen",
            listen,
            "--data-dir",
            &data.display().to_string(),
        ],
        log,
    );
    eventually("the token service listens", timeout(10), || {
        std::net::TcpStream::connect(listen).is_ok()
    });
    p
}

/// The token service killed with SIGKILL while agents register, then
/// restarted on the same data dir after their registrations expired: no
/// token lost, every agent registered again, `shoal list` complete within
/// a heartbeat of the restart. Agents advertise loopback addresses (the
/// list is about registrations; no engine is needed).
#[test]
fn discovery_token_service_survives_sigkill() {
    let dir = tempfile::Builder::new()
        .prefix("shoal-it-token.")
        .tempdir()
        .expect("temp dir");
    let data = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let service = format!("http://{listen}");
    let mut server = serve(&listen, &data, &dir.path().join("serve-1.log"));

    let create = || {
        let out = Command::new(SHOAL)
            .args(["create", "--discovery-service", &service])
            .stdin(Stdio::null())
            .output()
            .expect("shoal create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
            "{token:?}"
        );
        token
    };
    let tokens: Vec<String> = (0..3).map(|_| create()).collect();
    let urls: Vec<String> = tokens
        .iter()
        .map(|t| format!("token://{listen}/{t}"))
        .collect();
    // six agents on the first token, two on the second, none yet on the third
    let mut want: Vec<Vec<String>> = vec![Vec::new(), Vec::new(), Vec::new()];
    let mut agents = Vec::new();
    let log_dir = dir.path();
    for i in 0..8u16 {
        let t = if i < 6 { 0 } else { 1 };
        let addr = format!("127.0.0.1:{}", 23000 + i);
        let log = log_dir.join(format!("agent-{i}.log"));
        agents.push(Proc::spawn(
            &[
                "join",
                "--advertise",
                &addr,
                "--heartbeat",
                "1s",
                "--ttl",
                "3s",
                &urls[t],
            ],
            &log,
        ));
        want[t].push(addr);
    }
    for w in &mut want {
        w.sort();
    }
    for (url, w) in urls.iter().zip(&want) {
        eventually("every agent listed", timeout(5), || {
            list(url).as_ref() == Some(w)
        });
    }

    // kill -9 in the middle of a heartbeat round, while two new agents
    // make their first registration on the third token; stay down past
    // the ttl
    std::thread::sleep(HEARTBEAT / 2);
    for i in 8..10u16 {
        let addr = format!("127.0.0.1:{}", 23000 + i);
        let log = log_dir.join(format!("agent-{i}.log"));
        agents.push(Proc::spawn(
            &[
                "join",
                "--advertise",
                &addr,
                "--heartbeat",
                "1s",
                "--ttl",
                "3s",
                &urls[2],
            ],
            &log,
        ));
        want[2].push(addr);
    }
    want[2].sort();
    server.kill();
    assert_eq!(list(&urls[0]), None, "the service is down");
    std::thread::sleep(TTL + HEARTBEAT);
    for (i, a) in agents.iter_mut().enumerate() {
        a.assert_running(&format!("agent {i} while the service is down"));
    }
    let _server = serve(&listen, &data, &dir.path().join("serve-2.log"));
    let back = Instant::now();
    for (url, w) in urls.iter().zip(&want) {
        loop {
            let polled = Instant::now();
            let got = list(url);
            if got.as_ref() == Some(w) {
                let took = polled - back;
                eprintln!("{url}: complete {took:?} after the restart");
                assert!(
                    took <= HEARTBEAT,
                    "{url}: complete only {took:?} after the restart"
                );
                break;
            }
            assert!(
                back.elapsed() < timeout(2) * 3,
                "{url}: not complete after the restart; last {got:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // past a ttl, only registrations made since the restart can remain:
    // every agent registered again
    std::thread::sleep(TTL + HEARTBEAT);
    for (url, w) in urls.iter().zip(&want) {
        assert_eq!(list(url).as_ref(), Some(w), "{url}: agents re-registered");
    }
    // and entries still expire: a stopped agent leaves within its ttl
    let gone = want[0][0].clone();
    let start = Instant::now();
    agents[0].kill();
    let rest: Vec<String> = want[0][1..].to_vec();
    eventually("a stopped agent's entry expires", TTL + OBSERVE, || {
        list(&urls[0]).as_ref() == Some(&rest)
    });
    eprintln!("{gone} left the list after {:?}", start.elapsed());
    // a fresh token still works with the old ones
    let fourth = create();
    assert!(!tokens.contains(&fourth));
}

/// Malformed discovery URLs: one line naming the problem, non-zero exit,
/// for `list`, `manage` (and `join`).
#[test]
fn discovery_malformed_urls_refused() {
    let dir = tempfile::Builder::new()
        .prefix("shoal-it-urls.")
        .tempdir()
        .expect("temp dir");
    let host = format!("unix://{}", dir.path().join("x.sock").display());
    let cases: [(&str, &[&str]); 4] = [
        ("etcd://", &["etcd://", "no store address"]),
        ("zk://:x", &["zk://:x", "missing host"]),
        ("token://", &["token://", "no token"]),
        (
            "nodes://10.0.0.[5:1]:2375",
            &["10.0.0.[5:1]:2375", "[5:1]", "5 is greater than 1"],
        ),
    ];
    for (url, names) in cases {
        for cmd in [
            vec!["list", url],
            vec!["manage", "-H", &host, url],
            vec!["join", "--advertise", "127.0.0.1:2376", url],
        ] {
            let mut child = Command::new(SHOAL)
                .args(&cmd)
                .env_remove("SWARM_DISCOVERY")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run shoal");
            let start = Instant::now();
            while child.try_wait().expect("try_wait").is_none() {
                if start.elapsed() > timeout(10) {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("shoal {cmd:?} did not exit on a malformed url");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let out = child.wait_with_output().expect("output");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "shoal {cmd:?} succeeded");
            assert_eq!(
                stderr.trim_end().lines().count(),
                1,
                "shoal {cmd:?}: one line, got:\n{stderr}"
            );
            for n in names {
                assert!(
                    stderr.contains(n),
                    "shoal {cmd:?}: {stderr:?} should name {n:?}"
                );
            }
            assert!(
                !dir.path().join("x.sock").exists(),
                "manage listened on {url}"
            );
        }
    }
}
