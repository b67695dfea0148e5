#![recursion_limit = "512"]
//! `shoal-scale`: the scale benchmark. Starts N hollow engines (in
//! `shoal-hollow` child processes) and a real `shoal manage` over them
//! (`nodes://127.0.0.1:[first:last]`), waits until `GET /info` shows N
//! healthy nodes, fills the cluster to C containers with create + start
//! requests from several clients, then times `GET /info` and
//! `GET /containers/json?all=1`, and reads the manager's peak RSS and CPU
//! time from /proc. Prints one markdown table row and writes a JSON report.

mod client;
mod load;
mod procs;
mod stats;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use hyper::Method;
use serde::Serialize;
use serde_json::Value;

use crate::client::Client;
use crate::procs::Guard;
use crate::stats::{percentiles, Percentiles};

/// mimalloc instead of glibc's malloc, as in the manager and the hollow
/// engines: every request and answer is a few short-lived allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "shoal-scale",
    about = "Scale benchmark of shoal manage over hollow engines",
    args_override_self = true
)]
struct Args {
    /// Hollow engines (nodes)
    #[arg(long, default_value_t = 1000)]
    nodes: u32,
    /// Containers to create and start
    #[arg(long, default_value_t = 30_000)]
    containers: u64,
    /// Clients sending create + start at once
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The shoal binary
    #[arg(long, default_value = "target/release/shoal")]
    shoal: String,
    /// The shoal-hollow binary
    #[arg(long, default_value = "target/release/shoal-hollow")]
    hollow: String,
    /// Port of the first hollow engine
    #[arg(long, default_value_t = 20000)]
    base_port: u16,
    /// Port the manager listens on (127.0.0.1)
    #[arg(long, default_value_t = 19375)]
    manager_port: u16,
    /// Hollow engines per shoal-hollow process (file descriptors: a
    /// listener and an event stream each)
    #[arg(long, default_value_t = 2500)]
    per_process: u32,
    /// Runtime threads of each shoal-hollow process (1: all its engines on
    /// one thread; the processes share the box's cores with the manager)
    #[arg(long, default_value_t = 1)]
    hollow_threads: usize,
    /// Runtime threads of this load generator (1: its clients and the
    /// reporter on one thread, tokio's current-thread runtime: no wake-ups
    /// across threads; it shares the cores with the manager)
    #[arg(long, default_value_t = 1)]
    driver_threads: usize,
    /// Give every container a name (scale-K): exercises name uniqueness
    #[arg(long)]
    named: bool,
    /// Memory each container reserves (bytes, -m), 0 for none
    #[arg(long, default_value_t = 0)]
    memory: i64,
    /// Timed GET /info calls at the end
    #[arg(long, default_value_t = 50)]
    info_samples: usize,
    /// Timed GET /containers/json?all=1 calls at the end
    #[arg(long, default_value_t = 10)]
    ps_samples: usize,
    /// Stop filling after this many seconds (the report says how far it got)
    #[arg(long, default_value_t = 1800)]
    max_fill_seconds: u64,
    /// Give up waiting for healthy nodes after this many seconds
    #[arg(long, default_value_t = 900)]
    healthy_timeout: u64,
    /// Seconds to let events settle between the fill and the end timings
    #[arg(long, default_value_t = 5)]
    settle_seconds: u64,
    /// shoal --log-level for the manager
    #[arg(long, default_value = "info")]
    manager_log_level: String,
    #[arg(long, default_value = "30s")]
    refresh_min: String,
    #[arg(long, default_value = "60s")]
    refresh_max: String,
    /// Record the manager with `perf record -g` during the fill into this file
    #[arg(long)]
    perf: Option<PathBuf>,
    /// Record the manager with `perf record -g` during the end timings
    /// (info and ps) into this file
    #[arg(long)]
    perf_end: Option<PathBuf>,
    /// Where logs and the JSON report go (default: a new folder in /tmp)
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct ProgressSample {
    secs: f64,
    done: u64,
    errors: u64,
    manager_cpu_s: f64,
    manager_rss: u64,
    /// Open descriptors: counted at every sample where the kernel gives
    /// the count (Linux 6.2+), else as of the last printed progress line
    /// (listed every 10 s).
    manager_fds: usize,
}

#[derive(Debug, Serialize)]
struct Decile {
    /// Containers in the cluster when this tenth started.
    from: usize,
    to: usize,
    run: Percentiles,
    create: Percentiles,
    /// Manager CPU milliseconds per container over this tenth.
    manager_cpu_ms_per_container: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    nodes: u32,
    containers_wanted: u64,
    containers_done: usize,
    concurrency: usize,
    named: bool,
    command: String,
    manager_command: String,
    healthy_after_s: f64,
    fill_s: f64,
    containers_per_s: f64,
    stopped_early: bool,
    errors: u64,
    first_errors: Vec<String>,
    run: Percentiles,
    create: Percentiles,
    info: Percentiles,
    ps: Percentiles,
    info_containers: i64,
    ps_items: usize,
    manager_peak_rss: u64,
    manager_rss_before_fill: u64,
    manager_rss_after: u64,
    bytes_per_container: f64,
    /// RSS once the fill settled, before the end timings (whose `ps -a`
    /// answers raise the peak and what stays after).
    manager_rss_filled: u64,
    /// (RSS once filled - RSS with the nodes up and no containers) per
    /// container: what the manager holds per container.
    bytes_per_container_filled: f64,
    manager_cpu_s_total: f64,
    manager_cpu_s_connect: f64,
    manager_cpu_s_fill: f64,
    manager_fds_peak: usize,
    hollow_rss_total: u64,
    /// CPU seconds during the fill of the hollow processes together, and of
    /// this load generator: what shares the cores with the manager.
    hollow_cpu_s_fill: f64,
    driver_cpu_s_fill: f64,
    /// Connections the engines accepted, requests they answered: to
    /// healthy, during the fill, during the end timings.
    engine_traffic_connect: (u64, u64),
    engine_traffic_fill: (u64, u64),
    engine_traffic_end: (u64, u64),
    engine_requests_per_container: f64,
    deciles: Vec<Decile>,
    progress: Vec<ProgressSample>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rt = if args.driver_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(args.driver_threads);
        b
    };
    let rt = rt.enable_all().build()?;
    rt.block_on(run(args))
}

fn gib(b: u64) -> String {
    format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
}

/// Healthy nodes and node count according to the manager's `/info`.
fn healthy_nodes(info: &Value) -> (usize, usize) {
    let mut healthy = 0;
    let mut nodes = 0;
    for pair in info["SystemStatus"].as_array().into_iter().flatten() {
        let k = pair[0].as_str().unwrap_or("");
        let v = pair[1].as_str().unwrap_or("");
        if k.trim_start() == "└ Status" {
            nodes += 1;
            if v == "Healthy" {
                healthy += 1;
            }
        }
    }
    (healthy, nodes)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let out_dir = args.out_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("shoal-scale-{}-{}", args.nodes, std::process::id()))
    });
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let ticks = procs::clock_ticks();
    if args.nodes == 0 || u32::from(args.base_port) + args.nodes > 65_536 {
        bail!(
            "invalid --nodes {} with --base-port {}",
            args.nodes,
            args.base_port
        );
    }
    for bin in [&args.shoal, &args.hollow] {
        if !std::path::Path::new(bin).exists() {
            bail!("{bin} not found: build it (cargo build --release -p shoal -p shoal-hollow) or pass its path");
        }
    }

    // 1. hollow engines
    let t0 = Instant::now();
    let mut fleets: Vec<(Guard, PathBuf)> = Vec::new();
    let mut first = 0;
    while first < args.nodes {
        let count = args.per_process.min(args.nodes - first);
        let port = args.base_port + first as u16;
        let log = out_dir.join(format!("hollow-{first}.log"));
        fleets.push((
            procs::start_hollow(&args.hollow, first, count, port, args.hollow_threads, &log)?,
            log,
        ));
        first += count;
    }
    eprintln!(
        "{} hollow engines listening on 127.0.0.1:{}-{} in {} processes ({:.1}s)",
        args.nodes,
        args.base_port,
        u32::from(args.base_port) + args.nodes - 1,
        fleets.len(),
        t0.elapsed().as_secs_f64()
    );

    // 2. the manager
    let discovery = format!(
        "nodes://127.0.0.1:[{}:{}]",
        args.base_port,
        u32::from(args.base_port) + args.nodes - 1
    );
    let addr = format!("127.0.0.1:{}", args.manager_port);
    let manager_args = vec![
        "--log-level".to_string(),
        args.manager_log_level.clone(),
        "manage".into(),
        "-H".into(),
        format!("tcp://{addr}"),
        "--engine-refresh-min-interval".into(),
        args.refresh_min.clone(),
        "--engine-refresh-max-interval".into(),
        args.refresh_max.clone(),
        discovery,
    ];
    let manager_command = format!("{} {}", args.shoal, manager_args.join(" "));
    let log = std::fs::File::create(out_dir.join("manager.log"))?;
    let child = Command::new(&args.shoal)
        .args(&manager_args)
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", args.shoal))?;
    let mut manager = Guard {
        name: "manager".into(),
        child,
        signal: nix::sys::signal::Signal::SIGTERM,
    };
    let pid = manager.pid();
    eprintln!("manager pid {pid}: {manager_command}");

    // 3. wait for N healthy nodes
    let t_connect = Instant::now();
    let mut admin = Client::new(&addr, Duration::from_secs(120));
    let mut last_print = Instant::now();
    loop {
        if let Ok(Some(status)) = manager.child.try_wait() {
            bail!(
                "the manager exited ({status}); see {}",
                out_dir.join("manager.log").display()
            );
        }
        if let Ok((bytes, _)) = admin.ok(Method::GET, "/v1.41/info", None).await {
            let info: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let (healthy, nodes) = healthy_nodes(&info);
            if healthy as u32 >= args.nodes {
                break;
            }
            if last_print.elapsed() > Duration::from_secs(5) {
                eprintln!(
                    "  {healthy}/{} healthy of {nodes} known ({:.0}s, manager fds {})",
                    args.nodes,
                    t_connect.elapsed().as_secs_f64(),
                    procs::open_fds(pid)
                );
                last_print = Instant::now();
            }
        }
        if t_connect.elapsed() > Duration::from_secs(args.healthy_timeout) {
            bail!(
                "fewer than {} healthy nodes after {}s",
                args.nodes,
                args.healthy_timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let healthy_after = t_connect.elapsed().as_secs_f64();
    let cpu_connect = procs::cpu_seconds(pid, ticks);
    let (_, rss_before) = procs::memory(pid);
    let traffic_healthy = procs::fleet_traffic(&fleets);
    eprintln!(
        "{} nodes healthy after {healthy_after:.1}s; manager CPU {cpu_connect:.1}s, RSS {}",
        args.nodes,
        gib(rss_before)
    );

    // 4. fill, with a reporter sampling the manager
    let hollow_cpu_before: f64 = fleets
        .iter()
        .map(|(f, _)| procs::cpu_seconds(f.pid(), ticks))
        .sum();
    let driver_cpu_before = procs::cpu_seconds(std::process::id(), ticks);
    let mut perf = match &args.perf {
        Some(file) => Some(perf_record(pid, file, &out_dir.join("perf.log"))?),
        None => None,
    };
    let progress = Arc::new(load::Progress::default());
    let samples: Arc<Mutex<Vec<ProgressSample>>> = Arc::new(Mutex::new(Vec::new()));
    let fill_start = Instant::now();
    let reporter = {
        let (progress, samples) = (progress.clone(), samples.clone());
        tokio::spawn(async move {
            let mut last = (0u64, 0f64);
            let mut tick = 0u64;
            let mut fds = procs::open_fds(pid);
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                tick += 1;
                let printed = tick.is_multiple_of(40);
                let done = progress.done.load(Ordering::Relaxed);
                let cpu = procs::cpu_seconds(pid, ticks);
                let (_, rss) = procs::memory(pid);
                // Every sample where the kernel counts the descriptors;
                // else listed only for the printed lines (every 10 s).
                if let Some(n) = procs::open_fds_counted(pid) {
                    fds = n;
                } else if printed {
                    fds = procs::open_fds(pid);
                }
                let s = ProgressSample {
                    secs: fill_start.elapsed().as_secs_f64(),
                    done,
                    errors: progress.errors.load(Ordering::Relaxed),
                    manager_cpu_s: cpu,
                    manager_rss: rss,
                    manager_fds: fds,
                };
                if printed {
                    let d = done - last.0;
                    eprintln!(
                        "  {:>6.0}s {done:>8} containers, {:>6.0}/s lately, manager CPU {:.2} ms/container lately, RSS {}, fds {}, errors {}",
                        s.secs,
                        d as f64 / 10.0,
                        if d > 0 { (cpu - last.1) * 1000.0 / d as f64 } else { 0.0 },
                        gib(rss),
                        s.manager_fds,
                        s.errors
                    );
                    last = (done, cpu);
                }
                samples.lock().unwrap_or_else(|p| p.into_inner()).push(s);
            }
        })
    };
    let outcome = load::fill(
        load::Plan {
            addr: addr.clone(),
            containers: args.containers,
            concurrency: args.concurrency,
            named: args.named,
            memory: args.memory,
            deadline: Instant::now() + Duration::from_secs(args.max_fill_seconds),
        },
        progress.clone(),
    )
    .await;
    reporter.abort();
    let cpu_after_fill = procs::cpu_seconds(pid, ticks);
    let hollow_cpu_fill = fleets
        .iter()
        .map(|(f, _)| procs::cpu_seconds(f.pid(), ticks))
        .sum::<f64>()
        - hollow_cpu_before;
    let driver_cpu_fill = procs::cpu_seconds(std::process::id(), ticks) - driver_cpu_before;
    let traffic_filled = procs::fleet_traffic(&fleets);
    if let Some(p) = perf.as_mut() {
        p.stop();
    }
    drop(perf);
    let done = outcome.samples.len();
    eprintln!(
        "filled {done} of {} in {:.1}s ({} errors){}",
        args.containers,
        outcome.elapsed.as_secs_f64(),
        outcome.errors,
        if outcome.stopped_early {
            " -- stopped early"
        } else {
            ""
        }
    );
    for e in &outcome.first_errors {
        eprintln!("  error: {e}");
    }

    // 5. end timings
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    let (_, rss_filled) = procs::memory(pid);
    let mut perf_end = match &args.perf_end {
        Some(file) => Some(perf_record(pid, file, &out_dir.join("perf-end.log"))?),
        None => None,
    };
    let mut info_t = Vec::new();
    let mut info_containers = 0;
    for _ in 0..args.info_samples {
        let (bytes, took) = admin.ok(Method::GET, "/v1.41/info", None).await?;
        info_t.push(took.as_micros() as u32);
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        info_containers = v["Containers"].as_i64().unwrap_or(-1);
    }
    let mut ps_t = Vec::new();
    let mut ps_items = 0;
    for _ in 0..args.ps_samples {
        let (bytes, took) = admin
            .ok(Method::GET, "/v1.41/containers/json?all=1", None)
            .await?;
        ps_t.push(took.as_micros() as u32);
        ps_items = serde_json::from_slice::<Vec<Value>>(&bytes)
            .map(|v| v.len())
            .unwrap_or(0);
    }
    if let Some(p) = perf_end.as_mut() {
        p.stop();
    }
    drop(perf_end);
    let (peak, rss_after) = procs::memory(pid);
    let cpu_total = procs::cpu_seconds(pid, ticks);
    let hollow_rss: u64 = fleets.iter().map(|(f, _)| procs::memory(f.pid()).1).sum();
    let traffic_end = procs::fleet_traffic(&fleets);
    manager.stop();
    drop(fleets);

    // 6. report
    let progress_samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    let run_all: Vec<u32> = outcome.samples.iter().map(|s| s.run_us).collect();
    let create_all: Vec<u32> = outcome.samples.iter().map(|s| s.create_us).collect();
    let cpu_at = |n: usize| -> f64 {
        if n == 0 {
            return cpu_connect;
        }
        progress_samples
            .iter()
            .find(|p| p.done as usize >= n)
            .map(|p| p.manager_cpu_s)
            .unwrap_or(cpu_after_fill)
    };
    let mut deciles = Vec::new();
    if done >= 10 {
        for d in 0..10 {
            let (from, to) = (done * d / 10, done * (d + 1) / 10);
            let cpu = cpu_at(to) - cpu_at(from);
            deciles.push(Decile {
                from,
                to,
                run: percentiles(&run_all[from..to]),
                create: percentiles(&create_all[from..to]),
                manager_cpu_ms_per_container: cpu * 1000.0 / (to - from).max(1) as f64,
            });
        }
    }
    let report = Report {
        nodes: args.nodes,
        containers_wanted: args.containers,
        containers_done: done,
        concurrency: args.concurrency,
        named: args.named,
        command,
        manager_command,
        healthy_after_s: healthy_after,
        fill_s: outcome.elapsed.as_secs_f64(),
        containers_per_s: done as f64 / outcome.elapsed.as_secs_f64().max(1e-9),
        stopped_early: outcome.stopped_early,
        errors: outcome.errors,
        first_errors: outcome.first_errors.clone(),
        run: percentiles(&run_all),
        create: percentiles(&create_all),
        info: percentiles(&info_t),
        ps: percentiles(&ps_t),
        info_containers,
        ps_items,
        manager_peak_rss: peak,
        manager_rss_before_fill: rss_before,
        manager_rss_after: rss_after,
        bytes_per_container: if done > 0 {
            (rss_after as f64 - rss_before as f64) / done as f64
        } else {
            0.0
        },
        manager_rss_filled: rss_filled,
        bytes_per_container_filled: if done > 0 {
            (rss_filled as f64 - rss_before as f64) / done as f64
        } else {
            0.0
        },
        manager_cpu_s_total: cpu_total,
        manager_cpu_s_connect: cpu_connect,
        manager_cpu_s_fill: cpu_after_fill - cpu_connect,
        manager_fds_peak: progress_samples
            .iter()
            .map(|p| p.manager_fds)
            .max()
            .unwrap_or(0),
        hollow_rss_total: hollow_rss,
        hollow_cpu_s_fill: hollow_cpu_fill,
        driver_cpu_s_fill: driver_cpu_fill,
        engine_traffic_connect: traffic_healthy,
        engine_traffic_fill: (
            traffic_filled.0 - traffic_healthy.0,
            traffic_filled.1 - traffic_healthy.1,
        ),
        engine_traffic_end: (
            traffic_end.0.saturating_sub(traffic_filled.0),
            traffic_end.1.saturating_sub(traffic_filled.1),
        ),
        engine_requests_per_container: (traffic_filled.1 - traffic_healthy.1) as f64
            / done.max(1) as f64,
        deciles,
        progress: progress_samples,
    };
    let json_path = out_dir.join("report.json");
    std::fs::write(&json_path, serde_json::to_vec_pretty(&report)?)?;
    print_report(&report);
    eprintln!("report: {}", json_path.display());
    Ok(())
}

/// `perf record` with DWARF call graphs (release builds keep line tables
/// but no frame pointers), attached to the manager.
fn perf_record(pid: u32, file: &std::path::Path, log: &std::path::Path) -> anyhow::Result<Guard> {
    let child = Command::new("perf")
        .args([
            "record",
            "-F",
            "199",
            "--call-graph",
            "dwarf,32768",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .context("starting perf record")?;
    Ok(Guard {
        name: "perf".into(),
        child,
        signal: nix::sys::signal::Signal::SIGINT,
    })
}

fn print_report(r: &Report) {
    println!();
    println!("| size | run (create+start) p50/p90/p99 ms | create p50/p90/p99 ms | info p50/p90/p99 ms | ps -a p50/p90/p99 ms | containers/s | manager peak RSS | bytes/container | manager CPU s (connect + fill) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {} nodes / {} containers{} | {} | {} | {} | {} | {:.0} | {} | {:.0} | {:.1} ({:.1} + {:.1}) |",
        r.nodes,
        r.containers_done,
        if r.stopped_early {
            format!(" (of {})", r.containers_wanted)
        } else {
            String::new()
        },
        r.run.triple(),
        r.create.triple(),
        r.info.triple(),
        r.ps.triple(),
        r.containers_per_s,
        gib(r.manager_peak_rss),
        r.bytes_per_container,
        r.manager_cpu_s_total,
        r.manager_cpu_s_connect,
        r.manager_cpu_s_fill,
    );
    println!();
    println!("healthy after {:.1}s; fill {:.1}s; errors {}; info shows {} containers; ps -a lists {}; manager fds peak {}; hollow RSS {}",
        r.healthy_after_s, r.fill_s, r.errors, r.info_containers, r.ps_items, r.manager_fds_peak, gib(r.hollow_rss_total));
    println!("manager RSS: {} with the nodes up, {} once filled ({:.0} B per container), {} after the end timings, peak {}",
        gib(r.manager_rss_before_fill), gib(r.manager_rss_filled), r.bytes_per_container_filled,
        gib(r.manager_rss_after), gib(r.manager_peak_rss));
    println!("engine traffic (connections/requests): connect {:?}, fill {:?} ({:.1} requests per container), end timings {:?}",
        r.engine_traffic_connect, r.engine_traffic_fill, r.engine_requests_per_container, r.engine_traffic_end);
    let per = |cpu: f64| cpu * 1000.0 / r.containers_done.max(1) as f64;
    println!("CPU during the fill, ms per container: manager {:.3}, hollow engines {:.3}, load generator {:.3}",
        per(r.manager_cpu_s_fill), per(r.hollow_cpu_s_fill), per(r.driver_cpu_s_fill));
    println!();
    println!("| containers in cluster | run p50/p90/p99 ms | create p50/p90/p99 ms | manager CPU ms/container |");
    println!("| --- | --- | --- | --- |");
    for d in &r.deciles {
        println!(
            "| {}-{} | {} | {} | {:.2} |",
            d.from,
            d.to,
            d.run.triple(),
            d.create.triple(),
            d.manager_cpu_ms_per_container
        );
    }
}
