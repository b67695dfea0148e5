//! `shoal manage`: run the manager: one docker api in front of many engines.
//! (Placeholder until its issue lands: it refuses to run rather than pretend.)

use clap::Args;

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct ManageArgs {
    /// Arguments, not parsed yet
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(_args: ManageArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    anyhow::bail!("`shoal manage` is not built yet")
}
