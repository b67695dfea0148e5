//! Real store servers for the store tests, on loopback, on free ports, in
//! temporary directories, SIGKILLed by PID and reaped when dropped:
//! ZooKeeper (Debian's `zookeeper` package) and etcd. A test whose server is
//! not installed says so loudly and passes without checking anything.

#![allow(dead_code)]

pub mod consul_standin;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn installed(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

fn skip(what: &str, install: &str) {
    eprintln!("\n!!! SKIPPED: {what} is not installed ({install})\n");
}

/// A server process we started.
pub struct Server {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    log: std::path::PathBuf,
}

impl Server {
    /// `host:port` of its client endpoint.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL to this PID only
        let _ = self.child.wait();
    }
}

fn spawn(mut cmd: Command, dir: tempfile::TempDir, port: u16, name: &str) -> Server {
    let log = dir.path().join(format!("{name}.log"));
    let child = cmd
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::options().append(true).open(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    Server {
        child,
        port,
        dir,
        log,
    }
}

/// Waits until `ready` holds, failing with the server's log after `within`.
fn wait_ready(s: &mut Server, within: Duration, ready: impl Fn(u16) -> bool) {
    let deadline = Instant::now() + within;
    while !ready(s.port) {
        if let Ok(Some(status)) = s.child.try_wait() {
            panic!("server exited ({status}); log:\n{}", s.log());
        }
        assert!(
            Instant::now() < deadline,
            "server not ready; log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `request` raw and returns what comes back.
fn ask(port: u16, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut out = String::new();
    if s.write_all(request).is_ok() {
        let _ = s.read_to_string(&mut out);
    }
    out
}

const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";

/// A standalone ZooKeeper with tickTime 500 ms, so sessions may time out in
/// 1 s-10 s.
pub fn zookeeper() -> Option<Server> {
    if !installed("java") || !Path::new(ZK_JAR).is_file() {
        skip("zookeeper", "apt-get install -y zookeeper");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = format!(
        "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
         admin.enableServer=false\nminSessionTimeout=1000\nmaxSessionTimeout=10000\n\
         4lw.commands.whitelist=srvr\n",
        dir.path().join("data").display()
    );
    std::fs::write(dir.path().join("zoo.cfg"), cfg).unwrap();
    let mut cp = format!("/etc/zookeeper/conf:{ZK_JAR}");
    if Path::new("/usr/share/java/slf4j-simple.jar").is_file() {
        cp.push_str(":/usr/share/java/slf4j-simple.jar");
    }
    let mut cmd = Command::new("java");
    cmd.arg(format!("-Dzookeeper.log.dir={}", dir.path().display()))
        .args(["-Xmx256m", "-cp", &cp])
        .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
        .arg(dir.path().join("zoo.cfg"));
    let mut s = spawn(cmd, dir, port, "zookeeper");
    // Listening is not serving yet: ask with the `srvr` four-letter word.
    wait_ready(&mut s, Duration::from_secs(30), |p| {
        ask(p, b"srvr").contains("Mode:")
    });
    Some(s)
}

/// A single-member etcd.
pub fn etcd() -> Option<Server> {
    if !installed("etcd") {
        skip("etcd", "apt-get install -y etcd-server");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let client = format!("http://127.0.0.1:{port}");
    let peer = format!("http://127.0.0.1:{}", free_port());
    let mut cmd = Command::new("etcd");
    cmd.args(["--name", "t", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen-client-urls", &client])
        .args(["--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer])
        .args(["--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("t={peer}")])
        .args(["--log-level", "warn"]);
    let mut s = spawn(cmd, dir, port, "etcd");
    wait_ready(&mut s, Duration::from_secs(20), |p| {
        ask(p, b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").contains("\"health\":\"true\"")
    });
    Some(s)
}
