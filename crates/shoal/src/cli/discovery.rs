//! `shoal discovery`: the hosted token discovery service.
//! (Placeholder until its issue lands: it refuses to run rather than pretend.)

use clap::Args;

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct DiscoveryArgs {
    /// Arguments, not parsed yet
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(_args: DiscoveryArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    anyhow::bail!("`shoal discovery` is not built yet")
}
