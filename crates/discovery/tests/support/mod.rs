//! Shared test support: real etcd and ZooKeeper servers on loopback, on free
//! ports, in temporary directories, killed by PID when dropped; and the
//! "eventually" helper that reads a watch until a condition holds.

#![allow(dead_code)]

pub mod consul_standin;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_discovery::Watch;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.is_file())
}

/// Says loudly that a test is skipped because a server binary is missing.
pub fn skip(what: &str, install: &str) {
    eprintln!();
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {what} is not installed ({install})");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!();
}

/// Waits until something accepts TCP connections on `port`.
fn wait_listening(port: u16, child: &mut Child, log: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "server exited early ({status}); log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "server not listening on {port} after {within:?}; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// A server process we started; SIGKILLed and reaped on drop.
struct Proc(Option<Child>);

impl Proc {
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill(); // by PID: SIGKILL to this child only
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A single-member etcd 3.4 in a temporary directory.
pub struct Etcd {
    proc: Proc,
    pub port: u16,
    peer_port: u16,
    dir: tempfile::TempDir,
    /// Serve clients over TLS with these (ca, cert, key) files, asking for client certificates.
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

impl Etcd {
    /// Starts etcd, or returns None (after a loud message) if it is not installed.
    pub fn start() -> Option<Etcd> {
        if which("etcd").is_none() {
            skip("etcd", "apt-get install -y etcd-server etcd-client");
            return None;
        }
        let mut e = Etcd {
            proc: Proc(None),
            port: free_port(),
            peer_port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            tls: None,
        };
        e.launch();
        Some(e)
    }

    /// Starts etcd serving clients over TLS with client certificates required.
    pub fn start_tls(certs: &Certs) -> Option<Etcd> {
        if which("etcd").is_none() {
            skip("etcd", "apt-get install -y etcd-server etcd-client");
            return None;
        }
        let mut e = Etcd {
            proc: Proc(None),
            port: free_port(),
            peer_port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            tls: Some((
                certs.ca.clone(),
                certs.server_cert.clone(),
                certs.server_key.clone(),
            )),
        };
        e.launch();
        Some(e)
    }

    fn launch(&mut self) {
        let log = self.dir.path().join("etcd.log");
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{}", self.port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = Command::new("etcd");
        if let Some((ca, cert, key)) = &self.tls {
            cmd.arg("--cert-file").arg(cert).arg("--key-file").arg(key);
            cmd.arg("--trusted-ca-file")
                .arg(ca)
                .arg("--client-cert-auth");
        }
        let mut child = cmd
            .args(["--name", "t", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args([
                "--initial-cluster",
                &format!("t={peer}"),
                "--log-level",
                "warn",
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .expect("starting etcd");
        wait_listening(self.port, &mut child, &log, Duration::from_secs(20));
        if self.tls.is_none() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !etcd_healthy(self.port) {
                assert!(
                    Instant::now() < deadline,
                    "etcd not healthy; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.proc = Proc(Some(child));
    }

    /// `host:port` of the client endpoint.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL); the data stays.
    pub fn stop(&mut self) {
        self.proc.kill();
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.launch();
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made
/// with the openssl command.
pub struct Certs {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Certs {
    /// Makes the files, or returns None (after a loud message) without openssl.
    pub fn make() -> Option<Certs> {
        if which("openssl").is_none() {
            skip("openssl", "apt-get install -y openssl");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=shoal-test-ca",
            ],
        ]
        .concat());
        std::fs::write(
            d.join("ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        for name in ["server", "client"] {
            let (key, csr, pem) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
            );
            run(&[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                    "-subj",
                    &format!("/CN={name}"),
                ],
            ]
            .concat());
            run(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                "ext",
            ]);
        }
        Some(Certs {
            ca: d.join("ca.pem"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server.key"),
            client_cert: d.join("client.pem"),
            client_key: d.join("client.key"),
            dir,
        })
    }
}

/// A standalone ZooKeeper (Debian's package) in a temporary directory,
/// tickTime 500 ms so sessions may time out in 1 s-10 s.
pub struct ZooKeeper {
    proc: Proc,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn etcd_healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.contains("\"health\":\"true\"")
}

fn zk_serving(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"srvr").is_err() {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.contains("Mode:")
}

const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";

/// Debian's zookeeper.jar names its dependencies in its manifest, but not
/// netty-codec, which the Netty (TLS) server needs; slf4j-simple gives us a
/// log. Both are added when present.
fn zk_classpath() -> String {
    let mut cp = format!("/etc/zookeeper/conf:{ZK_JAR}");
    for extra in [
        "/usr/share/java/netty-codec.jar",
        "/usr/share/java/slf4j-simple.jar",
    ] {
        if Path::new(extra).is_file() {
            cp.push(':');
            cp.push_str(extra);
        }
    }
    cp
}

impl ZooKeeper {
    /// Starts ZooKeeper, or returns None (after a loud message) if it is not installed.
    pub fn start() -> Option<ZooKeeper> {
        if which("java").is_none() || !Path::new(ZK_JAR).is_file() {
            skip(
                "zookeeper (java or /usr/share/java/zookeeper.jar)",
                "apt-get install -y zookeeper",
            );
            return None;
        }
        let mut z = ZooKeeper {
            proc: Proc(None),
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
        };
        let cfg = format!(
            "tickTime=500\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
             minSessionTimeout=1000\nmaxSessionTimeout=10000\n4lw.commands.whitelist=srvr\n",
            z.dir.path().join("data").display(),
            z.port
        );
        std::fs::write(z.dir.path().join("zoo.cfg"), cfg).unwrap();
        z.launch();
        Some(z)
    }

    /// Starts ZooKeeper with a TLS client port too (Netty, PEM files, client
    /// certificates required); returns it and the TLS port.
    pub fn start_tls(certs: &Certs) -> Option<(ZooKeeper, u16)> {
        let mut z = ZooKeeper::start()?;
        z.stop();
        let keystore = z.dir.path().join("server-keystore.pem");
        let pem = [
            std::fs::read(&certs.server_key).unwrap(),
            std::fs::read(&certs.server_cert).unwrap(),
        ]
        .concat();
        std::fs::write(&keystore, pem).unwrap();
        let secure = free_port();
        let mut cfg = std::fs::read_to_string(z.dir.path().join("zoo.cfg")).unwrap();
        cfg.push_str(&format!(
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             secureClientPort={secure}\nsecureClientPortAddress=127.0.0.1\n\
             ssl.keyStore.location={}\nssl.keyStore.type=PEM\n\
             ssl.trustStore.location={}\nssl.trustStore.type=PEM\nssl.clientAuth=need\n",
            keystore.display(),
            certs.ca.display()
        ));
        std::fs::write(z.dir.path().join("zoo.cfg"), cfg).unwrap();
        z.launch();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", secure)).is_err() {
            assert!(
                Instant::now() < deadline,
                "zookeeper tls port not listening; log:\n{}",
                z.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some((z, secure))
    }

    fn launch(&mut self) {
        let log = self.dir.path().join("zk.log");
        let mut child = Command::new("java")
            .arg(format!("-Dzookeeper.log.dir={}", self.dir.path().display()))
            .args(["-Xmx256m", "-cp", &zk_classpath()])
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(self.dir.path().join("zoo.cfg"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .expect("starting zookeeper");
        wait_listening(self.port, &mut child, &log, Duration::from_secs(30));
        // Listening is not serving yet: ask with the `srvr` four-letter word.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !zk_serving(self.port) {
            assert!(
                Instant::now() < deadline,
                "zookeeper not serving; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.proc = Proc(Some(child));
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        self.proc.kill();
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("zk.log")).unwrap_or_default()
    }

    pub fn restart(&mut self) {
        self.launch();
    }
}

/// Reads `watch` until a list satisfies `ok`, for at most `within`; failures
/// on the way are printed and skipped. Returns the list.
pub async fn eventually(
    watch: &mut Watch,
    within: Duration,
    what: &str,
    ok: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut last = None;
    loop {
        match tokio::time::timeout_at(deadline, watch.next()).await {
            Ok(Some(Ok(list))) => {
                if ok(&list) {
                    return list;
                }
                last = Some(list);
            }
            Ok(Some(Err(e))) => eprintln!("(watch reported: {e})"),
            Ok(None) => panic!("watch ended while waiting for {what}"),
            Err(_) => panic!("no {what} within {within:?}; last list: {last:?}"),
        }
    }
}

/// An agent: registers `addr` every `heartbeat` until dropped, like `shoal join`.
pub struct Agent(tokio::task::JoinHandle<()>);

impl Agent {
    pub fn start(
        d: Box<dyn shoal_discovery::Discovery>,
        addr: &str,
        heartbeat: Duration,
        ttl: Duration,
    ) -> Agent {
        let addr = addr.to_string();
        Agent(tokio::spawn(async move {
            loop {
                if let Err(e) = d.register(&addr, ttl).await {
                    eprintln!("(agent {addr}: {e})");
                }
                tokio::time::sleep(heartbeat).await;
            }
        }))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A store the scenario can stop and restart.
pub trait Store {
    fn stop(&mut self);
    fn restart(&mut self);
}

impl Store for Etcd {
    fn stop(&mut self) {
        Etcd::stop(self)
    }
    fn restart(&mut self) {
        Etcd::restart(self)
    }
}

impl Store for ZooKeeper {
    fn stop(&mut self) {
        ZooKeeper::stop(self)
    }
    fn restart(&mut self) {
        ZooKeeper::restart(self)
    }
}

fn open(url: &str) -> Box<dyn shoal_discovery::Discovery> {
    shoal_discovery::from_url(url, &shoal_discovery::DiscoveryOpts::default()).unwrap()
}

/// The scenario of issue 5 for a key/value store at `url`:
/// two agents join and the manager's watch shows both within two heartbeats;
/// one agent stops and its node leaves within its ttl; the store is down for
/// longer than a heartbeat and comes back, and agents and watch recover with
/// no restart of theirs (a node that joins afterwards shows up too).
pub async fn join_leave_recover(store: &mut dyn Store, url: &str, hb: Duration, ttl: Duration) {
    let manager = open(url);
    let mut watch = manager.watch(hb);
    eventually(&mut watch, Duration::from_secs(10), "empty list", |l| {
        l.is_empty()
    })
    .await;

    let started = Instant::now();
    let a1 = Agent::start(open(url), "10.0.0.1:2375", hb, ttl);
    let _a2 = Agent::start(open(url), "10.0.0.2:2375", hb, ttl);
    eventually(&mut watch, 2 * hb, "two nodes within two heartbeats", |l| {
        l.len() == 2
    })
    .await;
    eprintln!("two nodes seen after {:?}", started.elapsed());
    assert_eq!(
        manager.fetch().await.unwrap(),
        ["10.0.0.1:2375", "10.0.0.2:2375"]
    );

    let stopped = Instant::now();
    drop(a1);
    eventually(&mut watch, ttl + hb, "node 1 leaving within its ttl", |l| {
        l == ["10.0.0.2:2375"]
    })
    .await;
    eprintln!("node 1 left after {:?} (ttl {ttl:?})", stopped.elapsed());

    store.stop();
    let down = Instant::now();
    eventually_error(&mut watch, 3 * hb + Duration::from_secs(5)).await;
    tokio::time::sleep((2 * hb).saturating_sub(down.elapsed())).await;
    eprintln!("store down for {:?}", down.elapsed());
    store.restart();

    let _a3 = Agent::start(open(url), "10.0.0.3:2375", hb, ttl);
    let back = Instant::now();
    eventually(
        &mut watch,
        Duration::from_secs(30),
        "nodes 2 and 3 after the restart",
        |l| l == ["10.0.0.2:2375", "10.0.0.3:2375"],
    )
    .await;
    eprintln!("recovered {:?} after the store came back", back.elapsed());
}

/// Reads `watch` until it reports a failure.
pub async fn eventually_error(watch: &mut Watch, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, watch.next()).await {
            Ok(Some(Err(e))) => {
                eprintln!("(watch reported, as expected: {e})");
                return;
            }
            Ok(Some(Ok(_))) => {}
            Ok(None) => panic!("watch ended"),
            Err(_) => panic!("the watch did not notice the store going down within {within:?}"),
        }
    }
}
