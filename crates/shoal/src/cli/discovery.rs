//! `shoal discovery serve`: the hosted token discovery service, with classic
//! Swarm's HTTP API (see `shoal_discovery::token`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use shoal_discovery::token::{ServerConfig, TokenServer};

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct DiscoveryArgs {
    #[command(subcommand)]
    pub command: DiscoveryCommand,
}

#[derive(Subcommand, Debug)]
pub enum DiscoveryCommand {
    /// Run the token discovery service
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub listen: SocketAddr,
    /// Where tokens and registrations are kept across restarts
    /// [default: $XDG_DATA_HOME/shoal/discovery or ~/.local/share/shoal/discovery]
    #[arg(long = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// Keep nothing on disk (a restart forgets every token)
    #[arg(long = "in-memory", conflicts_with = "data_dir")]
    pub in_memory: bool,
    /// Most addresses one token may hold
    #[arg(long = "max-entries", default_value_t = 1000)]
    pub max_entries: usize,
}

fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("shoal/discovery")
}

pub fn run(args: DiscoveryArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    let DiscoveryCommand::Serve(args) = args.command;
    let data_dir = if args.in_memory {
        None
    } else {
        Some(args.data_dir.unwrap_or_else(default_data_dir))
    };
    let mut config = ServerConfig::new(args.listen, data_dir.clone());
    config.max_entries = args.max_entries;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let server = TokenServer::bind(config).await?;
        match &data_dir {
            Some(d) => tracing::info!("token discovery service on http://{} (data in {})", server.local_addr(), d.display()),
            None => tracing::info!("token discovery service on http://{} (in memory)", server.local_addr()),
        }
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            tracing::info!("stopping, saving state");
        };
        server.run_until(shutdown).await?;
        Ok(())
    })
}
