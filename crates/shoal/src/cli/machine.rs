//! `shoal machine`: local hosts (network namespaces with their own dockerd).

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum MachineCommand {
    /// List machines
    Ls,
}

pub fn run(_cmd: MachineCommand) -> anyhow::Result<()> {
    anyhow::bail!("`shoal machine` is being built")
}
