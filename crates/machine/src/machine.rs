//! The machine operations: create, start, stop, restart, rm, ls, env,
//! inspect, ssh. Each works from what is really there (pid files checked
//! against /proc, namespaces against the mount table), so a crash or a
//! reboot leaves nothing that is silently reused.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::certs;
use crate::config::{machine_id, validate_name, KeyValue, MachineConfig, SwarmConfig};
use crate::dockerd::{remove_cgroups, which, Engine};
use crate::error::{MachineError, Result};
use crate::exec::System;
use crate::keystore::{Keystore, KEYSTORES};
use crate::lab::{self, Lab};
use crate::namespaces::Namespaces;
use crate::process;
use crate::progress::Progress;
use crate::store::Store;
use crate::swarm::Swarm;

/// What `machine create` was asked for.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: String,
    pub driver: String,
    pub engine_opts: Vec<String>,
    pub engine_labels: Vec<String>,
    pub keystore: Option<String>,
    pub swarm: bool,
    pub swarm_master: bool,
    pub swarm_discovery: Option<String>,
    pub swarm_strategy: Option<String>,
    pub swarm_opts: Vec<String>,
    /// TLS with certificates from the store's CA, as docker-machine made.
    pub tls: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MachineState {
    Running,
    Stopped,
    Error,
}

impl std::fmt::Display for MachineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MachineState::Running => "Running",
            MachineState::Stopped => "Stopped",
            MachineState::Error => "Error",
        })
    }
}

/// One line of `machine ls`.
#[derive(Debug, Clone, Serialize)]
pub struct MachineRow {
    pub name: String,
    pub active: String,
    pub driver: String,
    pub state: MachineState,
    pub url: String,
    pub swarm: String,
    pub docker: String,
    pub error: String,
}

pub struct Machines {
    store: Store,
    lab_root: PathBuf,
    sys: Box<dyn System>,
    /// The `shoal` binary that `--swarm` machines run as agent and manager.
    binary: PathBuf,
}

/// Everything about one machine, derived from its config.
struct Parts {
    cfg: MachineConfig,
    dir: PathBuf,
    ns: Namespaces,
    engine: Engine,
    keystore: Keystore,
    swarm: Swarm,
}

impl Machines {
    pub fn new(store: Store, sys: Box<dyn System>) -> Self {
        let binary = std::env::current_exe().unwrap_or_else(|_| "shoal".into());
        Machines {
            store,
            lab_root: lab::default_root(),
            sys,
            binary,
        }
    }

    /// Uses another `shoal` binary for the agents and managers of `--swarm` machines.
    pub fn with_binary(mut self, binary: PathBuf) -> Self {
        self.binary = binary;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn lock_lab(&self) -> Result<Lab> {
        Lab::lock(&self.lab_root)
    }

    fn owner(&self, name: &str) -> String {
        self.store.dir(name).to_string_lossy().into_owned()
    }

    fn parts(&self, cfg: MachineConfig, lab: &Lab) -> Parts {
        let dir = self.store.dir(&cfg.name);
        Parts {
            ns: Namespaces::of(&cfg, lab, &dir),
            engine: Engine::new(&dir, lab.exec_root(&cfg.id)),
            keystore: Keystore::new(&dir, cfg.keystore.as_deref()),
            swarm: Swarm::new(&dir, &cfg, self.binary.clone()),
            dir,
            cfg,
        }
    }

    /// Parts without holding the lab lock (paths only).
    fn parts_unlocked(&self, cfg: MachineConfig) -> Parts {
        let dir = self.store.dir(&cfg.name);
        let ns_dir = self.lab_root.join("ns").join(&cfg.id);
        Parts {
            ns: Namespaces::at(&cfg, ns_dir, &dir),
            engine: Engine::new(&dir, self.lab_root.join("exec").join(&cfg.id)),
            keystore: Keystore::new(&dir, cfg.keystore.as_deref()),
            swarm: Swarm::new(&dir, &cfg, self.binary.clone()),
            dir,
            cfg,
        }
    }

    pub fn load(&self, name: &str) -> Result<MachineConfig> {
        validate_name(name)?;
        self.store.load(name)
    }

    fn check_prerequisites(keystore: Option<&str>) -> Result<()> {
        if !nix::unistd::geteuid().is_root() {
            return Err(MachineError::NotRoot);
        }
        let needs: &[(&'static str, &'static str)] = &[
            ("dockerd", "docker.io"),
            ("containerd", "containerd"),
            ("runc", "runc"),
            ("ip", "iproute2"),
            ("iptables", "iptables"),
            ("nsenter", "util-linux"),
            ("unshare", "util-linux"),
            ("busybox", "busybox-static"),
        ];
        for (binary, package) in needs {
            if which(binary).is_none() {
                return Err(MachineError::MissingBinary { binary, package });
            }
        }
        let zookeeper_jar = std::path::Path::new("/usr/share/java/zookeeper.jar");
        match keystore {
            Some("etcd") if which("etcd").is_none() => Err(MachineError::MissingBinary {
                binary: "etcd",
                package: "etcd-server",
            }),
            Some("zookeeper") if which("java").is_none() || !zookeeper_jar.is_file() => {
                Err(MachineError::MissingBinary {
                    binary: "zookeeper",
                    package: "zookeeper",
                })
            }
            _ => Ok(()),
        }
    }

    /// Validates everything `create` was given before touching anything.
    fn plan(&self, o: &CreateOptions) -> Result<MachineConfig> {
        validate_name(&o.name)?;
        if o.name == "certs" {
            return Err(MachineError::Engine {
                what: o.name.clone(),
                message:
                    "the name is reserved: the store keeps its TLS certificates in that folder"
                        .into(),
            });
        }
        let driver = if o.driver.is_empty() {
            "netns"
        } else {
            o.driver.as_str()
        };
        if driver != "netns" {
            return Err(MachineError::UnknownDriver(driver.to_string()));
        }
        if let Some(k) = &o.keystore {
            if !KEYSTORES.contains(&k.as_str()) {
                return Err(MachineError::UnknownKeystore(k.clone()));
            }
        }
        let parse = |flag, v: &Vec<String>| {
            v.iter()
                .map(|s| KeyValue::parse(flag, s))
                .collect::<Result<Vec<_>>>()
        };
        let cfg = MachineConfig {
            name: o.name.clone(),
            driver: driver.to_string(),
            id: machine_id(&self.store.root().to_string_lossy(), &o.name),
            ip: String::new(),
            engine_opts: parse("--engine-opt", &o.engine_opts)?,
            engine_labels: parse("--engine-label", &o.engine_labels)?,
            keystore: o.keystore.clone(),
            swarm: SwarmConfig {
                enabled: o.swarm || o.swarm_master,
                master: o.swarm_master,
                discovery: o.swarm_discovery.clone(),
                strategy: o.swarm_strategy.clone(),
                opts: parse("--swarm-opt", &o.swarm_opts)?,
            },
            tls: o.tls,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            complete: false,
        };
        if cfg.swarm.enabled && cfg.swarm.discovery.as_deref().unwrap_or("").is_empty() {
            return Err(MachineError::Engine {
                what: o.name.clone(),
                message: "--swarm needs --swarm-discovery URL".into(),
            });
        }
        Self::check_prerequisites(cfg.keystore.as_deref())?;
        if self.store.exists(&o.name) {
            return Err(MachineError::Exists(o.name.clone()));
        }
        Ok(cfg)
    }

    /// Makes a machine. On failure whatever was made is removed again.
    pub fn create(&self, o: &CreateOptions, progress: &dyn Progress) -> Result<MachineConfig> {
        let mut cfg = self.plan(o)?;
        let lab = self.lock_lab()?;
        if self.store.exists(&o.name) {
            return Err(MachineError::Exists(o.name.clone()));
        }
        progress.step("Allocating an address on the lab bridge");
        cfg.ip = lab.allocate(&self.owner(&cfg.name), None)?.to_string();
        // Written first, marked incomplete: `rm -f` can always find it.
        self.store.save(&cfg)?;
        let result = self.bring_up(cfg.clone(), Some(lab), progress);
        match result {
            Ok(()) => {
                cfg.complete = true;
                self.store.save(&cfg)?;
                Ok(cfg)
            }
            Err(e) => {
                progress.step("Creation failed: removing what was made");
                let _ = self.remove_machine(&cfg.name, true, progress);
                Err(e)
            }
        }
    }

    /// Network, namespaces, keystore, engine, image: what `create` and
    /// `start` share. The lab lock is held only while the wiring is made.
    fn bring_up(
        &self,
        cfg: MachineConfig,
        lab: Option<Lab>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let lab = match lab {
            Some(l) => l,
            None => self.lock_lab()?,
        };
        let p = self.parts(cfg, &lab);
        progress.step("Creating the lab bridge and the machine's namespaces");
        lab.ensure_bridge(self.sys.as_ref())?;
        if !p.ns.exist() {
            // half-made or left from before a reboot: rebuild from scratch
            if p.ns.any_exist() {
                self.stop_everything(&p);
                p.ns.destroy(self.sys.as_ref())?;
            }
            p.ns.create(self.sys.as_ref(), &lab)?;
        }
        drop(lab);
        if p.cfg.keystore.is_some() {
            progress.step(&format!(
                "Starting the {} keystore",
                p.cfg.keystore.as_deref().unwrap_or("etcd")
            ));
            p.keystore.start(&p.cfg, &p.ns)?;
        }
        if p.cfg.swarm.enabled && p.swarm.net_agent.pid().is_none() {
            progress.step("Starting the Shoal network agent");
            p.swarm.start_network(&p.cfg, &p.ns, &p.engine.socket())?;
        }
        if p.cfg.tls {
            progress.step("Making the TLS certificates");
            certs::ensure_machine(self.store.root(), &p.dir, &p.cfg.name, &p.cfg.ip)?;
        }
        if p.engine.pid().is_none() {
            // An engine that was killed leaves containerd, shims and
            // containers behind: end them (all ours) before a clean start.
            let keep = p.keystore.pid();
            let net_agent = p.swarm.net_agent.pid();
            for pid in
                p.ns.pids(self.sys.as_ref())
                    .into_iter()
                    .filter(|pid| Some(*pid) != keep && Some(*pid) != net_agent)
            {
                process::kill_now(pid);
            }
            remove_cgroups(&p.cfg.cgroup_parent());
            progress.step("Starting the Docker engine");
            p.engine.start(&p.cfg, &p.ns)?;
        }
        progress.step("Loading the busybox image");
        p.engine.ensure_busybox(&p.cfg.name)?;
        if p.cfg.swarm.enabled {
            progress.step(if p.cfg.swarm.master {
                "Starting the Shoal agent and manager"
            } else {
                "Starting the Shoal agent"
            });
            p.swarm.start(&p.cfg, &p.ns)?;
        }
        Ok(())
    }

    pub fn state(&self, cfg: &MachineConfig) -> (MachineState, String) {
        let p = self.parts_unlocked(cfg.clone());
        let pid = p.engine.pid();
        if !cfg.complete {
            return (
                MachineState::Error,
                "creation did not finish: remove it with `rm -f`".into(),
            );
        }
        match pid {
            None => (MachineState::Stopped, String::new()),
            Some(_) if !p.ns.exist() => (
                MachineState::Error,
                "engine runs but its namespaces are gone".into(),
            ),
            Some(_) if !p.engine.ping(Duration::from_secs(2)) => (
                MachineState::Error,
                "engine does not answer on its socket".into(),
            ),
            Some(_) => (MachineState::Running, String::new()),
        }
    }

    pub fn start(&self, name: &str, progress: &dyn Progress) -> Result<bool> {
        let mut cfg = self.load(name)?;
        Self::check_prerequisites(cfg.keystore.as_deref())?;
        if self.state(&cfg).0 == MachineState::Running {
            return Ok(false);
        }
        {
            let lab = self.lock_lab()?;
            let preferred: Option<Ipv4Addr> = cfg.ip.parse().ok();
            let ip = lab.allocate(&self.owner(name), preferred)?.to_string();
            if ip != cfg.ip {
                progress.step(&format!(
                    "Address {} is taken: the machine now has {ip}",
                    cfg.ip
                ));
                // the namespaces carry the old address: rebuild them
                let p = self.parts(cfg.clone(), &lab);
                self.stop_everything(&p);
                p.ns.destroy(self.sys.as_ref())?;
                cfg.ip = ip;
                self.store.save(&cfg)?;
            }
        }
        self.bring_up(cfg, None, progress)?;
        Ok(true)
    }

    pub fn stop(&self, name: &str, progress: &dyn Progress) -> Result<bool> {
        let cfg = self.load(name)?;
        let p = self.parts_unlocked(cfg);
        if p.engine.pid().is_none()
            && p.keystore.pid().is_none()
            && p.swarm.agent.pid().is_none()
            && p.swarm.net_agent.pid().is_none()
        {
            return Ok(false);
        }
        p.swarm.stop();
        progress.step("Stopping the Docker engine");
        if !p.engine.stop(Duration::from_secs(30)) {
            return Err(MachineError::Engine {
                what: name.into(),
                message: "dockerd did not stop".into(),
            });
        }
        p.swarm.stop_network();
        if p.cfg.keystore.is_some() {
            progress.step("Stopping the keystore");
            p.keystore.stop();
        }
        Ok(true)
    }

    /// Ends every process of the machine: engine (politely), keystore,
    /// whatever is left in its network namespace and its cgroups.
    fn stop_everything(&self, p: &Parts) {
        p.swarm.stop();
        p.engine.stop(Duration::from_secs(15));
        p.swarm.stop_network();
        p.keystore.stop();
        for pid in p.ns.pids(self.sys.as_ref()) {
            process::kill_now(pid);
        }
        remove_cgroups(&p.cfg.cgroup_parent());
    }

    /// Removes a machine and everything it made. With `force`, goes on past
    /// errors and removes even a machine whose config is unreadable.
    pub fn remove_machine(&self, name: &str, force: bool, progress: &dyn Progress) -> Result<()> {
        validate_name(name)?;
        if !nix::unistd::geteuid().is_root() {
            return Err(MachineError::NotRoot);
        }
        let cfg = match self.store.load(name) {
            Ok(c) => c,
            Err(MachineError::NotFound(n)) if !self.store.exists(name) => {
                return Err(MachineError::NotFound(n))
            }
            Err(e) if !force => return Err(e),
            // unreadable config: every name is derived, so rebuild it
            Err(_) => MachineConfig::new(
                name,
                &machine_id(&self.store.root().to_string_lossy(), name),
                "",
            ),
        };
        let lab = self.lock_lab()?;
        let p = self.parts(cfg, &lab);
        progress.step(&format!("Stopping {name}"));
        self.stop_everything(&p);
        progress.step(&format!("Removing {name}'s namespaces"));
        let mut first_err = p.ns.destroy(self.sys.as_ref()).err();
        let exec = lab.exec_root(&p.cfg.id);
        let _ = std::fs::remove_dir_all(&exec);
        let owner = self.owner(name);
        for (ip, o) in lab.allocations()? {
            if o == owner {
                lab.release(&ip.to_string(), &owner)?;
            }
        }
        if first_err.is_none() || force {
            if let Err(e) = self.store.remove(name) {
                first_err.get_or_insert(e);
            }
        }
        if lab.teardown_if_unused(self.sys.as_ref())? {
            progress.step("Removed the lab bridge (no machine left)");
        }
        let _ = &p.dir;
        match first_err {
            Some(e) if !force => Err(e),
            _ => Ok(()),
        }
    }

    pub fn rows(&self) -> Result<Vec<MachineRow>> {
        let active = std::env::var("DOCKER_HOST").unwrap_or_default();
        let configs: Vec<std::result::Result<MachineConfig, (String, MachineError)>> = self
            .store
            .names()?
            .into_iter()
            .map(|n| self.store.load(&n).map_err(|e| (n, e)))
            .collect();
        let masters: Vec<&MachineConfig> = configs
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .filter(|c| c.swarm.master)
            .collect();
        let mut rows = vec![];
        for c in &configs {
            let cfg = match c {
                Ok(cfg) => cfg,
                Err((name, e)) => {
                    rows.push(MachineRow {
                        name: name.clone(),
                        active: "-".into(),
                        driver: "netns".into(),
                        state: MachineState::Error,
                        url: String::new(),
                        swarm: String::new(),
                        docker: "Unknown".into(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let (state, error) = self.state(cfg);
            let running = state == MachineState::Running;
            let url = if running {
                cfg.engine_url()
            } else {
                String::new()
            };
            let active_mark = if running && active == cfg.engine_url() {
                "*"
            } else if running && cfg.swarm.master && active == cfg.swarm_url() {
                "* (swarm)"
            } else {
                "-"
            };
            let swarm = if cfg.swarm.master {
                format!("{} (master)", cfg.name)
            } else if cfg.swarm.enabled {
                masters
                    .iter()
                    .find(|m| m.swarm.discovery == cfg.swarm.discovery)
                    .map(|m| m.name.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let docker = if running {
                self.parts_unlocked(cfg.clone())
                    .engine
                    .version()
                    .map(|v| format!("v{v}"))
                    .unwrap_or("Unknown".into())
            } else {
                "Unknown".into()
            };
            rows.push(MachineRow {
                name: cfg.name.clone(),
                active: active_mark.into(),
                driver: cfg.driver.clone(),
                state,
                url,
                swarm,
                docker,
                error,
            });
        }
        Ok(rows)
    }

    /// `export` lines for `eval $(shoal machine env NAME)`.
    pub fn env(&self, name: &str, swarm: bool) -> Result<Vec<(String, Option<String>)>> {
        let cfg = self.load(name)?;
        let (state, err) = self.state(&cfg);
        if state != MachineState::Running {
            return Err(MachineError::Engine {
                what: name.into(),
                message: format!(
                    "machine is not running ({state}{}{err})",
                    if err.is_empty() { "" } else { ": " }
                ),
            });
        }
        if swarm && !cfg.swarm.master {
            return Err(MachineError::NotSwarmMaster(name.into()));
        }
        let host = if swarm {
            cfg.swarm_url()
        } else {
            cfg.engine_url()
        };
        // without TLS, clear what a previous eval set
        let (verify, cert_path) = if cfg.tls {
            let dir = self.store.dir(&cfg.name);
            (Some("1".into()), Some(dir.to_string_lossy().into_owned()))
        } else {
            (None, None)
        };
        Ok(vec![
            ("DOCKER_TLS_VERIFY".into(), verify),
            ("DOCKER_HOST".into(), Some(host)),
            ("DOCKER_CERT_PATH".into(), cert_path),
            ("DOCKER_MACHINE_NAME".into(), Some(cfg.name)),
        ])
    }

    /// The docker-machine-like JSON of `machine inspect`.
    pub fn inspect(&self, name: &str) -> Result<serde_json::Value> {
        let cfg = self.load(name)?;
        let (state, error) = self.state(&cfg);
        let p = self.parts_unlocked(cfg.clone());
        Ok(serde_json::json!({
            "Name": cfg.name,
            "DriverName": cfg.driver,
            "State": state,
            "Error": error,
            "URL": cfg.engine_url(),
            "Driver": {
                "MachineName": cfg.name,
                "IPAddress": cfg.ip,
                "StorePath": p.dir,
                "Netns": cfg.netns(),
                "Veth": cfg.veth(),
                "Bridge": lab::BRIDGE,
                "Subnet": lab::SUBNET,
                "EngineSocket": p.engine.socket(),
                "EnginePid": p.engine.pid(),
            },
            "EngineOptions": {
                "ArbitraryFlags": cfg.engine_opts.iter().map(|o| format!("{}={}", o.key, o.value)).collect::<Vec<_>>(),
                "Labels": cfg.engine_labels.iter().map(|o| format!("{}={}", o.key, o.value)).collect::<Vec<_>>(),
                "DataRoot": p.engine.data_root,
                "ExecRoot": p.engine.exec_root,
                "CgroupParent": cfg.cgroup_parent(),
            },
            "SwarmOptions": {
                "IsSwarm": cfg.swarm.enabled,
                "Master": cfg.swarm.master,
                "Discovery": cfg.swarm.discovery,
                "Strategy": cfg.swarm.strategy.clone().unwrap_or_else(|| "spread".into()),
                "ArbitraryFlags": cfg.swarm.opts.iter().map(|o| format!("{}={}", o.key, o.value)).collect::<Vec<_>>(),
                "Host": cfg.swarm_url(),
            },
            "HostOptions": {
                "AuthOptions": {
                    "TLS": cfg.tls,
                    "CertDir": crate::certs::store_dir(self.store.root()),
                    "CaCertPath": p.dir.join(certs::CA),
                    "ClientCertPath": p.dir.join(certs::CERT),
                    "ClientKeyPath": p.dir.join(certs::KEY),
                    "ServerCertPath": p.dir.join(certs::SERVER),
                    "ServerKeyPath": p.dir.join(certs::SERVER_KEY),
                },
            },
            "Keystore": cfg.keystore,
            "Created": cfg.created_at,
        }))
    }

    /// The command line that runs `cmd` (a shell when empty) inside the
    /// machine, with DOCKER_HOST pointing at its engine's socket.
    pub fn ssh_command(&self, name: &str, cmd: &[String]) -> Result<(Vec<String>, String)> {
        let cfg = self.load(name)?;
        let p = self.parts_unlocked(cfg);
        if !p.ns.exist() {
            return Err(MachineError::Engine {
                what: name.into(),
                message:
                    "machine is not running: its namespaces are missing (run `shoal machine start`)"
                        .into(),
            });
        }
        let mut argv = p.ns.enter_args();
        if cmd.is_empty() {
            argv.push("/bin/sh".into());
        } else {
            argv.extend(cmd.iter().cloned());
        }
        Ok((argv, format!("unix://{}", p.engine.socket().display())))
    }
}
