//! The `shoal` binary: command-line parsing only. Every subcommand lives in
//! its own file under `cli/` and calls into the library crates.

mod cli;

use clap::{CommandFactory, Parser};

/// mimalloc instead of glibc's malloc: the manager allocates and frees many
/// small objects across threads per request (JSON bodies, HTTP buffers),
/// where glibc's arenas cost a quarter of its CPU and hold freed memory
/// (see bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = cli::goflags::normalize(std::env::args_os().collect(), &cli::Cli::command());
    let cli = cli::Cli::parse_from(args);
    cli::init_logging(&cli.global);
    if let Err(err) = cli::run(cli) {
        eprintln!("shoal: {err:#}");
        std::process::exit(1);
    }
}
