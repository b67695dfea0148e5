//! The test harness: real machines (namespaces with real dockerd engines)
//! made by our own `shoal machine`, driven with the real `docker` CLI.
//!
//! Every `Lab` has its own store in a temp folder, so parallel tests and
//! leftovers of a killed run never collide (machine ids, hence namespace
//! and veth names, derive from the store path). Dropping a `Lab` removes
//! its machines and everything they made, also when the test panics.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

/// Scales every "eventually" timeout (one setting for slow machines).
pub fn timeout(secs: u64) -> Duration {
    let scale: f64 = std::env::var("SHOAL_TEST_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs as f64 * scale)
}

/// Polls `check` until it holds or `within` passes; panics with `what`.
pub fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > within {
            panic!("not true within {within:?}: {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Machines need root; CI runs as root. Elsewhere the test fails loudly.
pub fn require_root() {
    assert!(
        nix_is_root(),
        "integration tests make network namespaces and run dockerd: run them as root (CI does)"
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the command succeeded.
    pub fn ok(self, what: &str) -> Run {
        assert_eq!(
            self.code, 0,
            "{what} failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

pub struct Machine {
    pub name: String,
    pub ip: String,
}

impl Machine {
    pub fn engine(&self) -> String {
        format!("tcp://{}:2376", self.ip)
    }
}

pub struct Lab {
    dir: tempfile::TempDir,
    machines: std::sync::Mutex<Vec<String>>,
}

impl Lab {
    pub fn new() -> Lab {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("shoal-it.")
            .tempdir()
            .expect("temp dir");
        Lab {
            dir,
            machines: Default::default(),
        }
    }

    pub fn store(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `shoal ARGS` against this lab's store.
    pub fn shoal(&self, args: &[&str]) -> Run {
        let out = Command::new(SHOAL)
            .args(args)
            .env("SHOAL_MACHINE_STORAGE_PATH", self.store())
            .env_remove("DOCKER_HOST")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run shoal");
        Run::from(out)
    }

    /// `shoal machine create [extra...] NAME`, remembered for cleanup.
    pub fn create(&self, name: &str, extra: &[&str]) -> Machine {
        self.machines.lock().unwrap().push(name.to_string());
        let mut args = vec!["machine", "create", "-d", "netns"];
        args.extend_from_slice(extra);
        args.push(name);
        self.shoal(&args).ok(&format!("machine create {name}"));
        let ip = self
            .shoal(&["machine", "ip", name])
            .ok("machine ip")
            .stdout
            .trim()
            .to_string();
        Machine {
            name: name.to_string(),
            ip,
        }
    }

    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self
            .shoal(&["machine", "inspect", name])
            .ok("machine inspect");
        serde_json::from_str(&out.stdout).expect("inspect prints JSON")
    }

    pub fn path(&self) -> PathBuf {
        self.store().to_path_buf()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let names = self.machines.lock().unwrap().clone();
        if !names.is_empty() {
            let mut args = vec!["machine", "rm", "-f"];
            args.extend(names.iter().map(String::as_str));
            let _ = self.shoal(&args);
        }
    }
}

/// Runs the real docker CLI against `host`.
pub fn docker(host: &str, args: &[&str]) -> Run {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the docker CLI (is /usr/local/bin/docker there?)");
    Run::from(out)
}

/// A running `shoal manage` on a unix socket in the lab's store, its output
/// in a log beside it; killed (by its pid) when dropped.
pub struct ManagerProcess {
    child: std::process::Child,
    pub host: String,
    log: PathBuf,
}

impl ManagerProcess {
    /// Starts `shoal manage` on `<store>/<tag>.sock` (log `<store>/<tag>.log`)
    /// with a fast heartbeat and engine refreshes (1 s to 2 s), then `extra`
    /// and `discovery`; does not wait for it.
    pub fn spawn(lab: &Lab, tag: &str, discovery: &str, extra: &[&str]) -> ManagerProcess {
        let sock = lab.store().join(format!("{tag}.sock"));
        let host = format!("unix://{}", sock.display());
        ManagerProcess::spawn_on(lab, tag, &host, discovery, extra)
    }

    /// As [`ManagerProcess::spawn`], listening on `host` (`tcp://...` or
    /// `unix://...`).
    pub fn spawn_on(
        lab: &Lab,
        tag: &str,
        host: &str,
        discovery: &str,
        extra: &[&str],
    ) -> ManagerProcess {
        let log = lab.store().join(format!("{tag}.log"));
        let host = host.to_string();
        let mut args = vec![
            "manage",
            "-H",
            &host,
            "--heartbeat",
            "1s",
            "--engine-refresh-min-interval",
            "1s",
            "--engine-refresh-max-interval",
            "2s",
        ];
        args.extend_from_slice(extra);
        args.push(discovery);
        let out = std::fs::File::create(&log).expect("manager log");
        let child = Command::new(SHOAL)
            .args(&args)
            .env("RUST_LOG", "info")
            .env_remove("SWARM_DISCOVERY")
            .env_remove("SHOAL_DISCOVERY_SERVICE")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start shoal manage");
        ManagerProcess { child, host, log }
    }

    /// A manager on `nodes://` of the machines, once every node is healthy.
    pub fn over(lab: &Lab, machines: &[&Machine], extra: &[&str]) -> ManagerProcess {
        let nodes: Vec<String> = machines.iter().map(|m| format!("{}:2376", m.ip)).collect();
        let discovery = format!("nodes://{}", nodes.join(","));
        let m = ManagerProcess::spawn(lab, "shoal-manager", &discovery, extra);
        m.wait_healthy(machines.len());
        m
    }

    /// Waits until `docker info` shows `nodes` nodes, all healthy.
    pub fn wait_healthy(&self, nodes: usize) {
        let want = format!("Nodes: {nodes}");
        let start = std::time::Instant::now();
        loop {
            let info = self.docker(&["info"]).stdout;
            if info.contains(&want) && info.matches("└ Status: Healthy").count() == nodes {
                return;
            }
            if start.elapsed() > timeout(30) {
                panic!(
                    "the manager did not see {nodes} nodes healthy within 30 s; info:\n{info}\nmanager log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn docker(&self, args: &[&str]) -> Run {
        docker(&self.host, args)
    }

    /// Runs docker through the manager; panics with the manager's log on failure.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.docker(args);
        if r.code != 0 {
            panic!(
                "docker {args:?} through the manager failed ({}):\nstdout: {}\nstderr: {}\nmanager log:\n{}",
                r.code,
                r.stdout,
                r.stderr,
                self.log_text()
            );
        }
        r
    }

    /// SIGTERM, by its pid.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let st = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(st.success());
    }

    /// SIGKILL, by its pid, and reaped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// How many nodes `docker info` shows healthy.
    pub fn healthy_nodes(&self) -> usize {
        self.docker(&["info"])
            .stdout
            .matches("└ Status: Healthy")
            .count()
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// The exit code, once it has exited (at most `within`).
    pub fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let mut code = None;
        eventually("the manager exits", within, || {
            code = self
                .child
                .try_wait()
                .expect("try_wait")
                .map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        code
    }
}

impl Drop for ManagerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
