//! A key-value store inside a machine (`--keystore etcd`): a real etcd
//! 3.4 serving the v2 API (dockerd's cluster store speaks v2, trap 5) and
//! the v3 API on `IP:2379`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{MachineConfig, KEYSTORE_PORT};
use crate::daemon::Daemon;
use crate::dockerd::which;
use crate::error::{io_at, MachineError, Result};
use crate::http::{self, Endpoint};
use crate::namespaces::Namespaces;

pub const KEYSTORES: [&str; 1] = ["etcd"];

pub struct Keystore {
    data_dir: PathBuf,
    daemon: Daemon,
}

impl Keystore {
    pub fn new(machine_dir: &Path) -> Self {
        let data_dir = machine_dir.join("etcd");
        Keystore {
            daemon: Daemon {
                what: "etcd",
                pidfile: machine_dir.join("etcd.pid"),
                log: machine_dir.join("etcd.log"),
                marker: data_dir.to_string_lossy().into_owned(),
                writes_pidfile: true,
            },
            data_dir,
        }
    }

    pub fn pid(&self) -> Option<i32> {
        self.daemon.pid()
    }

    pub fn args(&self, cfg: &MachineConfig) -> Vec<String> {
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

    pub fn start(&self, cfg: &MachineConfig, ns: &Namespaces) -> Result<()> {
        if which("etcd").is_none() {
            return Err(MachineError::MissingBinary {
                binary: "etcd",
                package: "etcd-server",
            });
        }
        if self.pid().is_some() {
            return Ok(());
        }
        fs::create_dir_all(&self.data_dir).map_err(io_at(&self.data_dir))?;
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

    pub fn stop(&self) -> bool {
        self.daemon.stop(Duration::from_secs(10))
    }
}
