//! `shoal join`: register a node with a discovery backend, again every heartbeat.
//! (Placeholder until its issue lands: it refuses to run rather than pretend.)

use clap::Args;

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct JoinArgs {
    /// Arguments, not parsed yet
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(_args: JoinArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    anyhow::bail!("`shoal join` is not built yet")
}
