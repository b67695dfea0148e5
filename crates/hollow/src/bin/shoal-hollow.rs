//! `shoal-hollow`: runs a fleet of hollow Docker engines on consecutive
//! loopback ports until SIGTERM or SIGINT. Prints `ready N FIRST_PORT
//! LAST_PORT` on stdout once every engine listens; on SIGUSR1 (and when
//! stopping) prints `traffic: connections C requests R` on stderr, after
//! a `routes:` line with the requests by route.

use std::io::Write;
use std::net::IpAddr;

use anyhow::Context;
use clap::Parser;
use shoal_hollow::{EngineSpec, Fleet};

/// mimalloc instead of glibc's malloc: the answers and requests of
/// thousands of engines are many short-lived allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "shoal-hollow",
    about = "Simulated Docker engines for scale tests"
)]
struct Args {
    /// How many engines
    #[arg(long, default_value_t = 10)]
    count: u32,
    /// Port of the first engine; the others follow
    #[arg(long, default_value_t = 20000)]
    base_port: u16,
    /// Index of the first engine (names hollow-NNNNN, IDs derive from it)
    #[arg(long, default_value_t = 0)]
    first: u32,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Every engine with this many CPUs (default: 2, 4, 8, 16 in turn)
    #[arg(long)]
    cpus: Option<i64>,
    /// Every engine with this much memory in bytes (default: 2 GiB per CPU)
    #[arg(long)]
    memory: Option<i64>,
    /// Worker threads of the runtime (default: tokio's, one per core); 1
    /// runs every engine on the main thread (tokio's current-thread
    /// runtime: no work stealing, no wake-ups across threads)
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if u32::from(args.base_port) + args.count > 65_536 {
        anyhow::bail!(
            "invalid --count {} with --base-port {}: ports would pass 65535",
            args.count,
            args.base_port
        );
    }
    let mut rt = match args.threads {
        Some(0 | 1) => tokio::runtime::Builder::new_current_thread(),
        Some(t) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(t);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    rt.enable_all();
    let rt = rt.build().context("starting the tokio runtime")?;
    rt.block_on(async {
        let specs: Vec<EngineSpec> = (args.first..args.first + args.count)
            .map(|i| {
                let s = EngineSpec::varied(i);
                let (c, m) = (args.cpus.unwrap_or(s.ncpu), args.memory);
                let m = m.unwrap_or(if args.cpus.is_some() {
                    c * (2 << 30)
                } else {
                    s.mem_total
                });
                s.with_size(c, m)
            })
            .collect();
        let fleet = Fleet::start(args.host, args.base_port, specs)?;
        let last = u32::from(args.base_port) + args.count.saturating_sub(1);
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready {} {} {}", fleet.len(), args.base_port, last)?;
            out.flush()?;
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut usr1 =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = usr1.recv() => {
                    // SIGUSR1: report traffic so far (the bench reads it)
                    let (conns, reqs) = fleet.traffic();
                    eprintln!("routes: {}", shoal_hollow::server::route_counts().join(" "));
                    eprintln!("traffic: connections {conns} requests {reqs}");
                }
            }
        }
        let (n, bytes) = fleet.container_memory();
        let (conns, reqs) = fleet.traffic();
        eprintln!("shoal-hollow: stopping; {n} containers, about {bytes} bytes of container state");
        eprintln!("traffic: connections {conns} requests {reqs}");
        drop(fleet);
        Ok(())
    })
}
