//! The machine's engine: a real dockerd inside the machine's namespaces,
//! with its own data root, exec root, pid file, sockets and cgroup parent.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::certs;
use crate::config::{MachineConfig, ENGINE_PORT};
use crate::daemon::Daemon;
use crate::error::{io_at, MachineError, Result};
use crate::http::{self, Endpoint};
use crate::namespaces::Namespaces;
use crate::process;

/// Where one machine's engine keeps its things.
pub struct Engine {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub log: PathBuf,
    /// The machine folder, where its certificates are (`certs.rs`).
    pub certs: PathBuf,
}

impl Engine {
    pub fn new(machine_dir: &Path, exec_root: PathBuf) -> Self {
        Engine {
            data_root: machine_dir.join("docker"),
            pidfile: machine_dir.join("dockerd.pid"),
            log: machine_dir.join("dockerd.log"),
            certs: machine_dir.to_path_buf(),
            exec_root,
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.exec_root.join("docker.sock")
    }

    fn daemon(&self) -> Daemon {
        Daemon {
            what: "dockerd",
            pidfile: self.pidfile.clone(),
            log: self.log.clone(),
            // the pid file path is unique per machine: it marks our process
            marker: self.pidfile.to_string_lossy().into_owned(),
            writes_pidfile: false,
        }
    }

    pub fn pid(&self) -> Option<i32> {
        self.daemon().pid()
    }

    /// dockerd's command line (after the nsenter prefix).
    pub fn args(&self, cfg: &MachineConfig) -> Vec<String> {
        let mut a = vec![
            "dockerd".to_string(),
            format!("--data-root={}", self.data_root.display()),
            format!("--exec-root={}", self.exec_root.display()),
            format!("--pidfile={}", self.pidfile.display()),
            format!("--host=unix://{}", self.socket().display()),
            format!("--host=tcp://{}:{ENGINE_PORT}", cfg.ip),
        ];
        if cfg.tls {
            a.extend(certs::server_flags(&self.certs));
        } else {
            // Without an explicit --tls=false dockerd 20.10 sleeps ~15 s to
            // warn about plain TCP (trap 4).
            a.push("--tls=false".to_string());
        }
        a.push(format!("--cgroup-parent=/{}", cfg.cgroup_parent()));
        for l in &cfg.engine_labels {
            a.push(format!("--label={}={}", l.key, l.value));
        }
        for o in &cfg.engine_opts {
            a.push(format!("--{}={}", o.key, o.value));
        }
        a
    }

    /// Starts dockerd and waits until its API answers.
    pub fn start(&self, cfg: &MachineConfig, ns: &Namespaces) -> Result<i32> {
        if which("dockerd").is_none() {
            return Err(MachineError::MissingBinary {
                binary: "dockerd",
                package: "docker.io",
            });
        }
        fs::create_dir_all(&self.data_root).map_err(io_at(&self.data_root))?;
        fs::create_dir_all(&self.exec_root).map_err(io_at(&self.exec_root))?;
        self.stop_stale_containerd();
        self.daemon().start(
            &cfg.name,
            ns,
            &self.args(cfg),
            Duration::from_secs(60),
            || self.ping(Duration::from_secs(2)),
        )
    }

    /// A containerd left by an engine that was killed would hold the old
    /// state; dockerd starts its own under the exec root, so end the old one
    /// and remove its pid file. (Where PID 1 does not reap orphans, as in
    /// some sandboxes, a dead containerd stays a zombie that dockerd's own
    /// check takes for alive: it then waits for it forever.)
    fn stop_stale_containerd(&self) {
        let dir = self.exec_root.join("containerd");
        let pidfile = dir.join("containerd.pid");
        if let Some(pid) = process::read_pid(&pidfile) {
            let marker = self.exec_root.to_string_lossy();
            process::terminate(pid, &marker, Duration::from_secs(5));
        }
        let _ = fs::remove_file(&pidfile);
        let _ = fs::remove_file(dir.join("containerd.sock"));
    }

    pub fn ping(&self, timeout: Duration) -> bool {
        matches!(
            http::request(&Endpoint::Unix(self.socket()), "GET", "/_ping", None, timeout),
            Ok(r) if r.status == 200
        )
    }

    /// The engine's version string, when it answers.
    pub fn version(&self) -> Option<String> {
        let r = http::request(
            &Endpoint::Unix(self.socket()),
            "GET",
            "/version",
            None,
            Duration::from_secs(2),
        )
        .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        v.get("Version")?.as_str().map(str::to_string)
    }

    /// Stops dockerd (SIGTERM: it stops its containers and containerd).
    pub fn stop(&self, grace: Duration) -> bool {
        self.daemon().stop(grace)
    }

    /// Imports busybox:latest unless the engine has it.
    pub fn ensure_busybox(&self, machine: &str) -> Result<()> {
        let sock = Endpoint::Unix(self.socket());
        let t = Duration::from_secs(30);
        let engine_err = |message: String| MachineError::Engine {
            what: format!("{machine}: busybox image"),
            message,
        };
        let have = http::request(&sock, "GET", "/v1.41/images/busybox:latest/json", None, t)
            .map_err(|e| engine_err(e.to_string()))?;
        if have.status == 200 {
            return Ok(());
        }
        let tar = crate::busybox::rootfs_tar()?;
        // changes=CMD ["sh"], url-encoded
        let path =
            "/v1.41/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20%5B%22sh%22%5D";
        let r = http::request(&sock, "POST", path, Some(("application/x-tar", &tar)), t)
            .map_err(|e| engine_err(e.to_string()))?;
        let text = String::from_utf8_lossy(&r.body);
        if r.status != 200 || text.contains("\"error\"") {
            return Err(engine_err(format!(
                "import answered {}: {}",
                r.status,
                text.trim()
            )));
        }
        Ok(())
    }
}

/// Kills every process left in the machine's container cgroups (an engine
/// that was SIGKILLed leaves its containers running) and removes the
/// cgroups in every hierarchy.
pub fn remove_cgroups(cgroup_parent: &str) {
    let root = Path::new("/sys/fs/cgroup");
    let Ok(hierarchies) = fs::read_dir(root) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = vec![];
    for h in hierarchies.flatten() {
        let top = h.path().join(cgroup_parent);
        if top.is_dir() {
            collect_dirs(&top, &mut dirs);
        }
    }
    for _ in 0..50 {
        let mut any = false;
        for d in &dirs {
            for pid in fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
            {
                if let Ok(pid) = pid.trim().parse() {
                    process::kill_now(pid);
                    any = true;
                }
            }
        }
        if !any {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // deepest first
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let _ = fs::remove_dir(&d);
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// The full path of a program found in PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyValue;

    #[test]
    fn engine_flags_follow_docker_machine() {
        let cfg = MachineConfig {
            engine_opts: vec![
                KeyValue {
                    key: "cluster-store".into(),
                    value: "etcd://10.210.0.2:2379".into(),
                },
                KeyValue {
                    key: "cluster-advertise".into(),
                    value: "eth0:2376".into(),
                },
            ],
            engine_labels: vec![KeyValue {
                key: "storage".into(),
                value: "ssd".into(),
            }],
            complete: true,
            ..MachineConfig::new("m", "deadbeef", "10.210.0.9")
        };
        let e = Engine::new(Path::new("/s/m"), "/run/shoal/exec/deadbeef".into());
        let a = e.args(&cfg);
        assert_eq!(a[0], "dockerd");
        for want in [
            "--data-root=/s/m/docker",
            "--exec-root=/run/shoal/exec/deadbeef",
            "--pidfile=/s/m/dockerd.pid",
            "--host=unix:///run/shoal/exec/deadbeef/docker.sock",
            "--host=tcp://10.210.0.9:2376",
            "--tls=false",
            "--cgroup-parent=/shoal-deadbeef",
            "--label=storage=ssd",
            "--cluster-store=etcd://10.210.0.2:2379",
            "--cluster-advertise=eth0:2376",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
        }
        assert!(!a.iter().any(|x| x.starts_with("--tlsverify")));
        let tls = MachineConfig { tls: true, ..cfg };
        let a = e.args(&tls);
        for want in [
            "--host=tcp://10.210.0.9:2376",
            "--tlsverify",
            "--tlscacert=/s/m/ca.pem",
            "--tlscert=/s/m/server.pem",
            "--tlskey=/s/m/server-key.pem",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
        }
        assert!(!a.iter().any(|x| x == "--tls=false"), "{a:?}");
    }
}
