//! `shoal list`: list the nodes a discovery backend knows.
//! (Placeholder until its issue lands: it refuses to run rather than pretend.)

use clap::Args;

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Arguments, not parsed yet
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(_args: ListArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    anyhow::bail!("`shoal list` is not built yet")
}
