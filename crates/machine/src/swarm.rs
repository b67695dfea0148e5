//! `--swarm` machines run Shoal itself: an agent (`shoal join`) that
//! registers the machine's engine with the discovery backend, and on a
//! `--swarm-master` a manager (`shoal manage`) on `tcp://IP:3376`, as
//! docker-machine ran classic Swarm's containers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::certs;
use crate::config::{MachineConfig, ENGINE_PORT, SWARM_PORT};
use crate::daemon::Daemon;
use crate::error::{MachineError, Result};
use crate::http::{self, Endpoint};
use crate::namespaces::Namespaces;

pub struct Swarm {
    binary: PathBuf,
    /// The machine folder (its certificates, for a TLS machine).
    dir: PathBuf,
    pub agent: Daemon,
    pub manager: Daemon,
    /// Shoal's overlay network driver (`shoal net-agent`), on swarm
    /// machines whose discovery is etcd: engines then need no cluster store.
    pub net_agent: Daemon,
    /// The plugin socket as the box sees it (the machine's /run/docker).
    net_socket: PathBuf,
}

impl Swarm {
    pub fn new(machine_dir: &Path, cfg: &MachineConfig, binary: PathBuf) -> Self {
        Swarm {
            binary,
            dir: machine_dir.to_path_buf(),
            agent: Daemon {
                what: "shoal agent",
                pidfile: machine_dir.join("agent.pid"),
                log: machine_dir.join("agent.log"),
                marker: format!("--advertise={}:{ENGINE_PORT}", cfg.ip),
                writes_pidfile: true,
            },
            manager: Daemon {
                what: "shoal manager",
                pidfile: machine_dir.join("manager.pid"),
                log: machine_dir.join("manager.log"),
                marker: format!("--host={}", cfg.swarm_url()),
                writes_pidfile: true,
            },
            net_agent: Daemon {
                what: "shoal net-agent",
                pidfile: machine_dir.join("net-agent.pid"),
                log: machine_dir.join("net-agent.log"),
                marker: format!(
                    "--state-file={}",
                    machine_dir.join("net-agent.json").display()
                ),
                writes_pidfile: true,
            },
            net_socket: machine_dir.join("host/run-docker/plugins/shoal.sock"),
        }
    }

    /// The network agent's store on the hosts of a key-value discovery URL:
    /// `etcd://h1:p,h2:p` and `consul://h:p` (the agent keeps its keys under
    /// its own layout), `zk://h:p/shoal-net` (a chroot of its own, so its
    /// recursive watch does not see discovery's nodes). None for other
    /// discovery (token, file, nodes): no agent then.
    fn net_store(cfg: &MachineConfig) -> Option<String> {
        let (scheme, rest) = cfg.swarm.discovery.as_deref()?.split_once("://")?;
        let hosts = rest.split('/').next().unwrap_or_default();
        if hosts.is_empty() {
            return None;
        }
        match scheme {
            "etcd" | "consul" => Some(format!("{scheme}://{hosts}")),
            "zk" => Some(format!("zk://{hosts}/shoal-net")),
            _ => None,
        }
    }

    pub fn net_agent_args(&self, cfg: &MachineConfig, engine_socket: &Path) -> Option<Vec<String>> {
        Some(vec![
            self.binary.to_string_lossy().into_owned(),
            "net-agent".into(),
            format!("--store={}", Self::net_store(cfg)?),
            format!("--advertise={}", cfg.ip),
            format!("--engine=unix://{}", engine_socket.display()),
            self.net_agent.marker.clone(),
        ])
    }

    /// Starts the network agent, before the engine (which looks for the
    /// plugin socket when it starts containers on a `shoal` network).
    pub fn start_network(
        &self,
        cfg: &MachineConfig,
        ns: &Namespaces,
        engine_socket: &Path,
    ) -> Result<()> {
        if !cfg.swarm.enabled || self.net_agent.pid().is_some() {
            return Ok(());
        }
        let Some(argv) = self.net_agent_args(cfg, engine_socket) else {
            return Ok(());
        };
        let _ = std::fs::remove_file(&self.net_socket);
        self.net_agent
            .start(&cfg.name, ns, &argv, Duration::from_secs(20), || {
                self.net_socket.exists()
            })?;
        Ok(())
    }

    fn discovery(cfg: &MachineConfig) -> Result<String> {
        cfg.swarm
            .discovery
            .clone()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| MachineError::Engine {
                what: cfg.name.clone(),
                message: "--swarm needs --swarm-discovery URL".into(),
            })
    }

    pub fn agent_args(&self, cfg: &MachineConfig) -> Result<Vec<String>> {
        Ok(vec![
            self.binary.to_string_lossy().into_owned(),
            "join".into(),
            self.agent.marker.clone(),
            Self::discovery(cfg)?,
        ])
    }

    pub fn manager_args(&self, cfg: &MachineConfig) -> Result<Vec<String>> {
        let mut a = vec![
            self.binary.to_string_lossy().into_owned(),
            "manage".into(),
            self.manager.marker.clone(),
        ];
        if cfg.tls {
            // as docker-machine ran classic Swarm: the machine's server
            // certificate serves clients and authenticates to the engines
            a.extend(certs::server_flags(&self.dir));
        } else {
            // plain TCP on the lab address: said explicitly, as manage asks
            a.push("--tls=false".to_string());
        }
        if let Some(s) = &cfg.swarm.strategy {
            a.push(format!("--strategy={s}"));
        }
        for o in &cfg.swarm.opts {
            a.push(format!("--{}={}", o.key, o.value));
        }
        a.push(Self::discovery(cfg)?);
        Ok(a)
    }

    /// Starts what the machine's swarm role asks for and is not running.
    pub fn start(&self, cfg: &MachineConfig, ns: &Namespaces) -> Result<()> {
        if !cfg.swarm.enabled {
            return Ok(());
        }
        if self.agent.pid().is_none() {
            let argv = self.agent_args(cfg)?;
            // the agent is up once it has run a moment without exiting
            // (a bad flag or URL makes it exit at once); its log tells more
            let begun = std::time::Instant::now();
            self.agent
                .start(&cfg.name, ns, &argv, Duration::from_secs(5), || {
                    begun.elapsed() > Duration::from_millis(500)
                })?;
        }
        if cfg.swarm.master && self.manager.pid().is_none() {
            let argv = self.manager_args(cfg)?;
            let addr = format!("{}:{SWARM_PORT}", cfg.ip).parse().expect("ip:port");
            let endpoint = if cfg.tls {
                Endpoint::Tls(addr, certs::client_config(&self.dir)?)
            } else {
                Endpoint::Tcp(addr)
            };
            let ready = || {
                let r = http::request(&endpoint, "GET", "/_ping", None, Duration::from_secs(1));
                // 503: up, but no engine healthy yet (the manager's health)
                matches!(r, Ok(ref r) if r.status == 200 || r.status == 503)
            };
            self.manager
                .start(&cfg.name, ns, &argv, Duration::from_secs(30), ready)?;
        }
        Ok(())
    }

    /// Stops the agent and manager (the network agent outlives the engine
    /// and is stopped after it, by `stop_network`).
    pub fn stop(&self) {
        self.manager.stop(Duration::from_secs(10));
        self.agent.stop(Duration::from_secs(10));
    }

    pub fn stop_network(&self) {
        self.net_agent.stop(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KeyValue, SwarmConfig};

    #[test]
    fn agent_and_manager_command_lines() {
        let cfg = MachineConfig {
            swarm: SwarmConfig {
                enabled: true,
                master: true,
                discovery: Some("etcd://10.210.0.2:2379/swarm".into()),
                strategy: Some("binpack".into()),
                opts: vec![KeyValue {
                    key: "heartbeat".into(),
                    value: "5s".into(),
                }],
            },
            complete: true,
            ..MachineConfig::new("swarm-master", "00000001", "10.210.0.3")
        };
        let s = Swarm::new(Path::new("/s/swarm-master"), &cfg, "/bin/shoal".into());
        assert_eq!(
            s.agent_args(&cfg).unwrap(),
            [
                "/bin/shoal",
                "join",
                "--advertise=10.210.0.3:2376",
                "etcd://10.210.0.2:2379/swarm"
            ]
        );
        assert_eq!(
            s.manager_args(&cfg).unwrap(),
            [
                "/bin/shoal",
                "manage",
                "--host=tcp://10.210.0.3:3376",
                "--tls=false",
                "--strategy=binpack",
                "--heartbeat=5s",
                "etcd://10.210.0.2:2379/swarm"
            ]
        );
        let tls = MachineConfig {
            tls: true,
            ..cfg.clone()
        };
        assert_eq!(
            s.manager_args(&tls).unwrap()[3..7],
            [
                "--tlsverify",
                "--tlscacert=/s/swarm-master/ca.pem",
                "--tlscert=/s/swarm-master/server.pem",
                "--tlskey=/s/swarm-master/server-key.pem",
            ]
        );
        // the network agent's store follows key-value discovery only
        let store = |disc: &str| {
            let mut c = cfg.clone();
            c.swarm.discovery = Some(disc.into());
            s.net_agent_args(&c, Path::new("/e.sock"))
                .map(|a| a[2].clone())
        };
        assert_eq!(
            store("etcd://10.210.0.2:2379/swarm").as_deref(),
            Some("--store=etcd://10.210.0.2:2379")
        );
        assert_eq!(
            store("zk://10.210.0.2:2181,10.210.0.4:2181/swarm").as_deref(),
            Some("--store=zk://10.210.0.2:2181,10.210.0.4:2181/shoal-net")
        );
        assert_eq!(
            store("consul://10.210.0.2:8500/swarm").as_deref(),
            Some("--store=consul://10.210.0.2:8500")
        );
        for none in [
            "token://abc",
            "file:///etc/cluster",
            "nodes://10.0.0.1:2375",
            "zk:///x",
        ] {
            assert_eq!(store(none), None, "{none}");
        }
        let mut no_disc = cfg.clone();
        no_disc.swarm.discovery = None;
        assert!(s
            .agent_args(&no_disc)
            .unwrap_err()
            .to_string()
            .contains("--swarm-discovery"));
    }
}
