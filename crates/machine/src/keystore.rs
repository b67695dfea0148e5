//! A key-value store inside a machine (`--keystore etcd`): a real etcd
//! 3.4 serving the v2 API (dockerd's cluster store speaks v2, trap 5) and
//! the v3 API on `IP:2379`.

use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{MachineConfig, KEYSTORE_PORT};
use crate::dockerd::which;
use crate::error::{io_at, MachineError, Result};
use crate::http::{self, Endpoint};
use crate::namespaces::Namespaces;
use crate::process;

pub const KEYSTORES: [&str; 1] = ["etcd"];

pub struct Keystore {
    data_dir: PathBuf,
    pidfile: PathBuf,
    log: PathBuf,
}

impl Keystore {
    pub fn new(machine_dir: &Path) -> Self {
        Keystore {
            data_dir: machine_dir.join("etcd"),
            pidfile: machine_dir.join("etcd.pid"),
            log: machine_dir.join("etcd.log"),
        }
    }

    fn marker(&self) -> String {
        self.data_dir.to_string_lossy().into_owned()
    }

    pub fn pid(&self) -> Option<i32> {
        process::read_pid(&self.pidfile).filter(|p| process::alive(*p, &self.marker()))
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
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io_at(&self.log))?;
        let log2 = log.try_clone().map_err(io_at(&self.log))?;
        let enter = ns.enter_args();
        let mut child = Command::new(&enter[0])
            .args(&enter[1..])
            .args(self.args(cfg))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(io_at("nsenter"))?;
        let pid = child.id() as i32;
        fs::write(&self.pidfile, pid.to_string()).map_err(io_at(&self.pidfile))?;
        let addr = format!("{}:{KEYSTORE_PORT}", cfg.ip)
            .parse()
            .expect("ip:port");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = http::request(
                &Endpoint::Tcp(addr),
                "GET",
                "/version",
                None,
                Duration::from_secs(1),
            );
            if matches!(r, Ok(ref r) if r.status == 200) {
                return Ok(());
            }
            if child.try_wait().map_or(true, |s| s.is_some()) {
                return Err(MachineError::DiedAtStart {
                    machine: cfg.name.clone(),
                    what: "etcd",
                    tail: crate::error::log_tail(&self.log),
                });
            }
            if Instant::now() >= deadline {
                return Err(MachineError::NotReady {
                    machine: cfg.name.clone(),
                    what: "etcd",
                    secs: 30,
                    tail: crate::error::log_tail(&self.log),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(&self) -> bool {
        match process::read_pid(&self.pidfile) {
            Some(pid) => process::terminate(pid, &self.marker(), Duration::from_secs(10)),
            None => true,
        }
    }
}
