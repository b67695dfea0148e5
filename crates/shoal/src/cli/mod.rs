//! Command-line interface: the classic Swarm commands plus `machine`.

mod cni;
mod create;
mod descriptors;
mod discovery;
pub mod goflags;
mod join;
mod list;
mod machine;
mod manage;
mod net_agent;

use clap::{Args, Parser, Subcommand};

/// Shoal: a Docker cluster manager, a drop-in for classic Docker Swarm.
#[derive(Parser, Debug)]
#[command(name = "shoal", version, about, long_about = None, disable_version_flag = true)]
pub struct Cli {
    /// Print the version (`-v`, as classic Swarm)
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: (),
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted before the subcommand, as classic Swarm did.
#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Debug mode (log level debug)
    #[arg(long, global = true)]
    pub debug: bool,
    /// Log level: trace, debug, info, warn, error
    #[arg(short = 'l', long = "log-level", default_value = "info", global = true)]
    pub log_level: String,
    /// Enable experimental features
    #[arg(long, global = true)]
    pub experimental: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make and manage local hosts, each with its own Docker engine
    /// Create a cluster token on the discovery service
    #[command(visible_alias = "c")]
    Create(create::CreateArgs),
    /// List the nodes a discovery backend knows
    #[command(visible_alias = "l")]
    List(list::ListArgs),
    /// Register a node with a discovery backend, again every heartbeat
    #[command(visible_alias = "j")]
    Join(join::JoinArgs),
    /// Run the manager: one Docker API in front of many engines
    #[command(visible_alias = "m")]
    Manage(manage::ManageArgs),
    /// The hosted token discovery service (`shoal discovery serve`)
    Discovery(discovery::DiscoveryArgs),
    /// Make and manage local hosts, each with its own Docker engine
    #[command(subcommand)]
    Machine(machine::MachineCommand),
    /// Shoal's overlay network agent: Docker network and IPAM driver `shoal`
    #[command(name = "net-agent")]
    NetAgent(net_agent::NetAgentArgs),
    /// Shoal's overlay network as a CNI 1.0 plugin (CNI_* env, config on stdin)
    Cni(cni::CniArgs),
}

pub fn init_logging(global: &GlobalOpts) {
    let level = if global.debug {
        "debug"
    } else {
        global.log_level.as_str()
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // the ZooKeeper client narrates every session event at info
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!("{level},zookeeper_client=warn"))
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Create(args) => create::run(args, &cli.global),
        Command::List(args) => list::run(args, &cli.global),
        Command::Join(args) => join::run(args, &cli.global),
        Command::Manage(args) => manage::run(args, &cli.global),
        Command::Discovery(args) => discovery::run(args, &cli.global),
        Command::Machine(cmd) => machine::run(cmd),
        Command::NetAgent(args) => net_agent::run(args, &cli.global),
        Command::Cni(args) => cni::run(args, &cli.global),
    }
}
