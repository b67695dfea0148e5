//! `shoal create`: create a cluster token on the discovery service.
//! (Placeholder until its issue lands: it refuses to run rather than pretend.)

use clap::Args;

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Arguments, not parsed yet
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(_args: CreateArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    anyhow::bail!("`shoal create` is not built yet")
}
