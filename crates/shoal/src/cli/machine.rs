//! `shoal machine`: local hosts (network namespaces with their own dockerd),
//! with docker-machine's commands and output.

use std::io::IsTerminal;
use std::os::unix::process::CommandExt;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use shoal_machine::{CreateOptions, Machines, Progress, RealSystem, SilentProgress, Store};

#[derive(Subcommand, Debug)]
pub enum MachineCommand {
    /// Create a machine: namespaces, an address on the lab bridge, a dockerd
    Create(CreateArgs),
    /// List machines
    Ls(LsArgs),
    /// Print a machine's IP address
    Ip { names: Vec<String> },
    /// Print the commands that point docker at a machine
    Env(EnvArgs),
    /// Start a machine
    Start { names: Vec<String> },
    /// Stop a machine
    Stop { names: Vec<String> },
    /// Restart a machine
    Restart { names: Vec<String> },
    /// Remove machines and everything they made
    Rm(RmArgs),
    /// Run a command inside a machine (a shell without one)
    Ssh(SshArgs),
    /// Print a machine's details as JSON
    Inspect { name: String },
    /// Print a machine's state
    Status { name: String },
    /// Print a machine's engine URL
    Url { name: String },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to create the machine with (only "netns")
    #[arg(short = 'd', long = "driver", default_value = "netns")]
    driver: String,
    /// Flag for the engine: KEY=VALUE becomes --KEY=VALUE on dockerd
    #[arg(long = "engine-opt", value_name = "KEY=VALUE")]
    engine_opt: Vec<String>,
    /// Label for the engine: KEY=VALUE becomes --label KEY=VALUE on dockerd
    #[arg(long = "engine-label", value_name = "KEY=VALUE")]
    engine_label: Vec<String>,
    /// Also run a key-value store in the machine on IP:2379 (etcd)
    #[arg(long = "keystore", value_name = "KIND")]
    keystore: Option<String>,
    /// Make the machine a member of a Shoal cluster
    #[arg(long = "swarm")]
    swarm: bool,
    /// Make the machine the cluster's manager (on tcp://IP:3376)
    #[arg(long = "swarm-master")]
    swarm_master: bool,
    /// Discovery URL of the cluster
    #[arg(long = "swarm-discovery", value_name = "URL")]
    swarm_discovery: Option<String>,
    /// Scheduling strategy of the manager
    #[arg(long = "swarm-strategy", value_name = "STRATEGY")]
    swarm_strategy: Option<String>,
    /// Option for the manager: KEY=VALUE
    #[arg(long = "swarm-opt", value_name = "KEY=VALUE")]
    swarm_opt: Vec<String>,
    /// Serve the engine (and a swarm master's manager) with TLS and client
    /// certificates, from a CA per store, as docker-machine did
    #[arg(
        long = "tls",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    tls: Option<bool>,
    /// Machine name
    name: String,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Print only names
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct EnvArgs {
    /// Point at the machine's Shoal manager instead of its engine
    #[arg(long = "swarm")]
    swarm: bool,
    /// Print commands that unset the variables instead
    #[arg(short = 'u', long = "unset")]
    unset: bool,
    /// Machine name
    name: Option<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Remove even if some part cannot be cleanly removed; no prompt
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Do not ask for confirmation
    #[arg(short = 'y')]
    yes: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SshArgs {
    name: String,
    /// Command to run (after `--`)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Step lines, or a spinner on a terminal.
struct Steps {
    bar: Option<indicatif::ProgressBar>,
}

impl Steps {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(std::time::Duration::from_millis(100));
            b
        });
        Steps { bar }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for Steps {
    fn step(&self, message: &str) {
        match &self.bar {
            Some(b) => {
                b.println(format!("{message}..."));
                b.set_message(message.to_string());
            }
            None => eprintln!("{message}..."),
        }
    }
}

fn machines() -> Machines {
    Machines::new(Store::from_env(), Box::new(RealSystem))
}

fn one_name(names: &[String]) -> anyhow::Result<&str> {
    match names {
        [n] => Ok(n),
        [] => bail!("a machine name is required"),
        _ => bail!("one machine name is expected, got {}", names.len()),
    }
}

pub fn run(cmd: MachineCommand) -> anyhow::Result<()> {
    let m = machines();
    match cmd {
        MachineCommand::Create(a) => {
            let opts = CreateOptions {
                name: a.name.clone(),
                driver: a.driver,
                engine_opts: a.engine_opt,
                engine_labels: a.engine_label,
                keystore: a.keystore,
                swarm: a.swarm,
                swarm_master: a.swarm_master,
                swarm_discovery: a.swarm_discovery,
                swarm_strategy: a.swarm_strategy,
                swarm_opts: a.swarm_opt,
                tls: a.tls.unwrap_or(false),
            };
            eprintln!("Creating machine {:?} (driver netns)...", a.name);
            let steps = Steps::new();
            let res = m.create(&opts, &steps);
            steps.finish();
            let cfg = res?;
            eprintln!(
                "Machine {:?} is running at {} ({}).",
                cfg.name,
                cfg.engine_url(),
                cfg.ip
            );
            if a.tls.is_none() {
                eprintln!(
                    "WARNING: the engine serves plain TCP (no TLS) on {}, reachable from this \
                     host's lab bridge; --tls for TLS with client certificates, --tls=false \
                     to say plain TCP is meant",
                    cfg.engine_url()
                );
            }
            eprintln!(
                "To see how to connect your Docker client to it, run: shoal machine env {}",
                cfg.name
            );
        }
        MachineCommand::Ls(a) => {
            let rows = m.rows()?;
            if a.quiet {
                for r in rows {
                    println!("{}", r.name);
                }
                return Ok(());
            }
            let mut table = vec![[
                "NAME", "ACTIVE", "DRIVER", "STATE", "URL", "SWARM", "DOCKER", "ERRORS",
            ]
            .map(String::from)];
            for r in rows {
                table.push([
                    r.name,
                    r.active,
                    r.driver,
                    r.state.to_string(),
                    r.url,
                    r.swarm,
                    r.docker,
                    r.error,
                ]);
            }
            print!("{}", columns(&table));
        }
        MachineCommand::Ip { names } => {
            if names.is_empty() {
                bail!("a machine name is required");
            }
            for n in &names {
                println!("{}", m.load(n)?.ip);
            }
        }
        MachineCommand::Url { name } => {
            let cfg = m.load(&name)?;
            println!("{}", cfg.engine_url());
        }
        MachineCommand::Status { name } => {
            let cfg = m.load(&name)?;
            println!("{}", m.state(&cfg).0);
        }
        MachineCommand::Env(a) => {
            let me = std::env::args().next().unwrap_or_else(|| "shoal".into());
            if a.unset {
                for var in [
                    "DOCKER_TLS_VERIFY",
                    "DOCKER_HOST",
                    "DOCKER_CERT_PATH",
                    "DOCKER_MACHINE_NAME",
                ] {
                    println!("unset {var}");
                }
                println!("# Run this command to configure your shell: ");
                println!("# eval $({me} machine env --unset)");
                return Ok(());
            }
            let name = a.name.context("a machine name is required")?;
            // Every line an `export`, a variable not wanted set empty (the
            // docker CLI and compose read empty as unset): tutorials write
            // `eval $(... env NAME)` unquoted, which joins the lines into
            // one command, so an `unset` line before an `export` would
            // swallow the exports after it.
            for (k, v) in m.env(&name, a.swarm)? {
                println!("export {k}=\"{}\"", v.unwrap_or_default());
            }
            let swarm = if a.swarm { " --swarm" } else { "" };
            println!("# Run this command to configure your shell: ");
            println!("# eval $({me} machine env{swarm} {name})");
        }
        MachineCommand::Start { names } => {
            for n in &names {
                let steps = Steps::new();
                let started = m.start(n, &steps);
                steps.finish();
                if started? {
                    eprintln!("Started machine {n:?}.");
                } else {
                    eprintln!("Machine {n:?} is already running.");
                }
            }
        }
        MachineCommand::Stop { names } => {
            for n in &names {
                if m.stop(n, &Steps::new())? {
                    eprintln!("Stopped machine {n:?}.");
                } else {
                    eprintln!("Machine {n:?} is already stopped.");
                }
            }
        }
        MachineCommand::Restart { names } => {
            let n = one_name(&names)?;
            m.stop(n, &Steps::new())?;
            m.start(n, &Steps::new())?;
            eprintln!("Restarted machine {n:?}.");
        }
        MachineCommand::Rm(a) => {
            if !a.force && !a.yes {
                if !std::io::stdin().is_terminal() {
                    bail!("refusing to remove without confirmation: pass -y or -f");
                }
                eprint!(
                    "About to remove {}\nAre you sure? (y/n): ",
                    a.names.join(", ")
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    bail!("aborted");
                }
            }
            if let [name] = a.names.as_slice() {
                m.remove_machine(name, a.force, &SilentProgress)?;
                println!("Successfully removed {name}");
                return Ok(());
            }
            let mut failed = 0;
            for n in &a.names {
                match m.remove_machine(n, a.force, &SilentProgress) {
                    Ok(()) => println!("Successfully removed {n}"),
                    Err(e) => {
                        eprintln!("shoal: {e}");
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} machine(s) could not be removed");
            }
        }
        MachineCommand::Ssh(a) => {
            let (argv, docker_host) = m.ssh_command(&a.name, &a.command)?;
            let err = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .env("DOCKER_HOST", docker_host)
                .exec();
            bail!("running {}: {err}", argv[0]);
        }
        MachineCommand::Inspect { name } => {
            println!("{}", serde_json::to_string_pretty(&m.inspect(&name)?)?);
        }
    }
    Ok(())
}

/// Left-aligned columns separated by three spaces, as docker-machine's
/// tabwriter printed them.
fn columns(rows: &[[String; 8]]) -> String {
    let mut widths = [0usize; 8];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}
