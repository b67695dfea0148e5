//! A key-value store inside a machine: `--keystore etcd` runs a real etcd
//! 3.4 serving the v2 API (dockerd's cluster store speaks v2, trap 5) and
//! the v3 API on `IP:2379`; `--keystore zookeeper` runs Debian's ZooKeeper
//! on `IP:2181`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{MachineConfig, KEYSTORE_PORT};
use crate::daemon::Daemon;
use crate::dockerd::which;
use crate::error::{io_at, MachineError, Result};
use crate::http::{self, Endpoint};
use crate::namespaces::Namespaces;

pub const KEYSTORES: [&str; 2] = ["etcd", "zookeeper"];

/// ZooKeeper's client port on a `--keystore zookeeper` machine.
pub const ZOOKEEPER_PORT: u16 = 2181;
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

pub struct Keystore {
    kind: String,
    data_dir: PathBuf,
    daemon: Daemon,
}

impl Keystore {
    /// The keystore of a machine (`kind` is "etcd" or "zookeeper"; any
    /// other kind was refused when the machine was created).
    pub fn new(machine_dir: &Path, kind: Option<&str>) -> Self {
        let kind = kind.unwrap_or("etcd").to_string();
        let (what, dir) = if kind == "zookeeper" {
            ("zookeeper", "zookeeper")
        } else {
            ("etcd", "etcd")
        };
        let data_dir = machine_dir.join(dir);
        Keystore {
            daemon: Daemon {
                what,
                pidfile: machine_dir.join(format!("{dir}.pid")),
                log: machine_dir.join(format!("{dir}.log")),
                marker: data_dir.to_string_lossy().into_owned(),
                writes_pidfile: true,
            },
            data_dir,
            kind,
        }
    }

    pub fn pid(&self) -> Option<i32> {
        self.daemon.pid()
    }

    pub fn args(&self, cfg: &MachineConfig) -> Vec<String> {
        if self.kind == "zookeeper" {
            return self.zookeeper_args();
        }
        let client = format!("http://{}:{KEYSTORE_PORT}", cfg.ip);
        vec![
            "etcd".into(),
            format!("--name={}", cfg.name),
            format!("--data-dir={}", self.data_dir.display()),
            format!("--listen-client-urls={client},http://127.0.0.1:{KEYSTORE_PORT}"),
            format!("--advertise-client-urls={client}"),
            "--listen-peer-urls=http://127.0.0.1:2380".into(),
            "--initial-advertise-peer-urls=http://127.0.0.1:2380".into(),
            format!("--initial-cluster={}=http://127.0.0.1:2380", cfg.name),
            "--enable-v2=true".into(),
        ]
    }

    /// ZooKeeper's JVM command line; its config lives in the data folder,
    /// whose path marks the process.
    fn zookeeper_args(&self) -> Vec<String> {
        vec![
            "java".into(),
            format!("-Dzookeeper.log.dir={}", self.data_dir.display()),
            "-Xmx256m".into(),
            "-cp".into(),
            format!("/etc/zookeeper/conf:{ZOOKEEPER_JAR}"),
            "org.apache.zookeeper.server.ZooKeeperServerMain".into(),
            self.data_dir.join("zoo.cfg").to_string_lossy().into_owned(),
        ]
    }

    pub fn start(&self, cfg: &MachineConfig, ns: &Namespaces) -> Result<()> {
        if self.pid().is_some() {
            return Ok(());
        }
        fs::create_dir_all(&self.data_dir).map_err(io_at(&self.data_dir))?;
        if self.kind == "zookeeper" {
            return self.start_zookeeper(cfg, ns);
        }
        if which("etcd").is_none() {
            return Err(MachineError::MissingBinary {
                binary: "etcd",
                package: "etcd-server",
            });
        }
        let addr = format!("{}:{KEYSTORE_PORT}", cfg.ip)
            .parse()
            .expect("ip:port");
        let ready = || {
            let r = http::request(
                &Endpoint::Tcp(addr),
                "GET",
                "/version",
                None,
                Duration::from_secs(1),
            );
            matches!(r, Ok(ref r) if r.status == 200)
        };
        self.daemon.start(
            &cfg.name,
            ns,
            &self.args(cfg),
            Duration::from_secs(30),
            ready,
        )?;
        Ok(())
    }

    fn start_zookeeper(&self, cfg: &MachineConfig, ns: &Namespaces) -> Result<()> {
        if which("java").is_none() || !Path::new(ZOOKEEPER_JAR).is_file() {
            return Err(MachineError::MissingBinary {
                binary: "zookeeper",
                package: "zookeeper",
            });
        }
        let conf = self.data_dir.join("zoo.cfg");
        // Sessions (agents' ttl) from 1 s to classic Swarm's 180 s default:
        // ZooKeeper bounds them by its tick (2 to 20 ticks unless told).
        let text = format!(
            "tickTime=500\ninitLimit=10\nsyncLimit=5\nminSessionTimeout=1000\nmaxSessionTimeout=180000\n\
             dataDir={}\nclientPort={ZOOKEEPER_PORT}\n\
             admin.enableServer=false\n4lw.commands.whitelist=srvr,ruok\n",
            self.data_dir.join("data").display()
        );
        fs::write(&conf, text).map_err(io_at(&conf))?;
        let addr = format!("{}:{ZOOKEEPER_PORT}", cfg.ip)
            .parse()
            .expect("ip:port");
        // Listening is not serving yet: ask with the `srvr` four-letter word.
        let ready = || zookeeper_serving(addr);
        self.daemon.start(
            &cfg.name,
            ns,
            &self.args(cfg),
            Duration::from_secs(60),
            ready,
        )?;
        Ok(())
    }

    pub fn stop(&self) -> bool {
        self.daemon.stop(Duration::from_secs(10))
    }
}

fn zookeeper_serving(addr: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut out = String::new();
    s.write_all(b"srvr").is_ok() && s.read_to_string(&mut out).is_ok() && out.contains("Mode:")
}
