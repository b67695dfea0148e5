//! `shoal create`: asks the token discovery service for a new cluster token
//! and prints it.

use clap::Args;
use shoal_discovery::{token, DiscoveryOpts, DEFAULT_DISCOVERY_SERVICE};

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The token discovery service (`shoal discovery serve`)
    #[arg(long = "discovery-service", env = "SHOAL_DISCOVERY_SERVICE", default_value = DEFAULT_DISCOVERY_SERVICE)]
    pub discovery_service: String,
    /// `create` takes no arguments; any given is an error
    #[arg(hide = true)]
    pub rest: Vec<String>,
}

pub fn run(args: CreateArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    if !args.rest.is_empty() {
        anyhow::bail!("the `create` command takes no arguments. See 'shoal create --help'.");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let token = rt.block_on(token::create_cluster(
        &args.discovery_service,
        &DiscoveryOpts::default(),
    ))?;
    println!("{token}");
    Ok(())
}
