//! `shoal manage`: run the manager: one Docker API in front of many engines.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use shoal_cluster::{Cluster, ClusterOpts};
use shoal_discovery::duration::parse_go_duration;
use shoal_discovery::{from_url, DiscoveryOpts};
use shoal_engine::EngineOpts;
use shoal_scheduler::{Scheduler, SchedulerConfig, DEFAULT_FILTERS};

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct ManageArgs {
    /// Address to listen on: tcp://HOST:PORT or unix:///PATH (repeatable)
    #[arg(
        short = 'H',
        long = "host",
        env = "SWARM_HOST",
        value_delimiter = ',',
        default_value = "tcp://127.0.0.1:2375"
    )]
    pub host: Vec<String>,
    /// Address of this manager as other managers reach it (HOST:PORT)
    #[arg(long = "advertise", visible_alias = "addr", env = "SWARM_ADVERTISE")]
    pub advertise: Option<String>,
    /// Period of the discovery heartbeat
    #[arg(long, default_value = "60s")]
    pub heartbeat: String,
    /// Placement strategy: spread, binpack or random
    #[arg(long, default_value = "spread")]
    pub strategy: String,
    /// Filter to apply, in order (repeatable; replaces the default list)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Shortest time between two refreshes of an engine
    #[arg(long = "engine-refresh-min-interval", default_value = "30s")]
    pub engine_refresh_min_interval: String,
    /// Longest time between two refreshes of an engine
    #[arg(long = "engine-refresh-max-interval", default_value = "60s")]
    pub engine_refresh_max_interval: String,
    /// Failures in a row that make an engine unhealthy
    #[arg(long = "engine-failure-retry", default_value = "3")]
    pub engine_failure_retry: String,
    /// Cluster option K=V: swarm.overcommit, swarm.createretry, swarm.whitelist (repeatable)
    #[arg(long = "cluster-opt")]
    pub cluster_opt: Vec<String>,
    /// Discovery option K=V: kv.path, kv.cacertfile, kv.certfile, kv.keyfile (repeatable)
    #[arg(long = "discovery-opt")]
    pub discovery_opt: Vec<String>,
    /// Answer cross-origin requests (CORS headers)
    #[arg(long = "api-enable-cors", visible_alias = "cors")]
    pub api_enable_cors: bool,
    /// Replicate with other managers (high availability)
    #[arg(long)]
    pub replication: bool,
    /// Leader lock TTL for replication
    #[arg(long = "replication-ttl", default_value = "20s")]
    pub replication_ttl: String,
    /// Use TLS (implied by --tlsverify)
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust only certificates signed by this CA
    #[arg(long)]
    pub tlscacert: Option<String>,
    /// Path to the TLS certificate file
    #[arg(long)]
    pub tlscert: Option<String>,
    /// Path to the TLS key file
    #[arg(long)]
    pub tlskey: Option<String>,
    /// Discovery URL: nodes://a:p,b:p, a:p,b:p, file:///path, token://TOKEN, etcd://..., consul://..., zk://...
    #[arg(env = "SWARM_DISCOVERY")]
    pub discovery: Option<String>,
}

/// Everything `manage` needs, checked.
#[derive(Debug)]
struct Settings {
    hosts: Vec<String>,
    heartbeat: Duration,
    scheduler: SchedulerConfig,
    cluster: ClusterOpts,
    discovery: String,
    discovery_opts: DiscoveryOpts,
    cors: bool,
}

fn duration(flag: &str, v: &str) -> anyhow::Result<Duration> {
    parse_go_duration(v).with_context(|| format!("invalid --{flag} {v:?}"))
}

fn settings(args: ManageArgs) -> anyhow::Result<Settings> {
    if args.tls
        || args.tlsverify
        || args.tlscacert.is_some()
        || args.tlscert.is_some()
        || args.tlskey.is_some()
    {
        bail!("TLS is not supported yet (--tls, --tlsverify, --tlscacert, --tlscert, --tlskey): listen on a loopback or lab address without TLS");
    }
    if args.replication {
        bail!("--replication is not supported yet: run one manager");
    }
    duration("replication-ttl", &args.replication_ttl)?;
    let Some(discovery) = args.discovery.filter(|d| !d.is_empty()) else {
        bail!(
            "a discovery URL is required: shoal manage [OPTIONS] DISCOVERY (or $SWARM_DISCOVERY)"
        );
    };
    for h in &args.host {
        let ok = match h.strip_prefix("unix://") {
            Some(p) => !p.is_empty(),
            None => {
                let hp = h.strip_prefix("tcp://").unwrap_or(h);
                matches!(hp.rsplit_once(':'), Some((_, p)) if p.parse::<u16>().is_ok())
                    && !hp.contains('/')
            }
        };
        if !ok {
            bail!("invalid --host {h:?}: expected tcp://HOST:PORT or unix:///PATH");
        }
    }
    if let Some(a) = &args.advertise {
        if !matches!(a.rsplit_once(':'), Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
        {
            bail!("invalid --advertise {a:?}: expected HOST:PORT");
        }
    }
    let heartbeat = duration("heartbeat", &args.heartbeat)?;
    if heartbeat.is_zero() {
        bail!(
            "invalid --heartbeat {:?}: must be greater than 0",
            args.heartbeat
        );
    }
    let refresh_min = duration(
        "engine-refresh-min-interval",
        &args.engine_refresh_min_interval,
    )?;
    let refresh_max = duration(
        "engine-refresh-max-interval",
        &args.engine_refresh_max_interval,
    )?;
    if refresh_min.is_zero() {
        bail!(
            "invalid --engine-refresh-min-interval {:?}: must be greater than 0",
            args.engine_refresh_min_interval
        );
    }
    if refresh_max < refresh_min {
        bail!(
            "invalid --engine-refresh-max-interval {:?}: must be at least --engine-refresh-min-interval ({})",
            args.engine_refresh_max_interval,
            args.engine_refresh_min_interval
        );
    }
    let failure_retry: u32 = match args.engine_failure_retry.parse() {
        Ok(n) if n > 0 => n,
        _ => bail!(
            "invalid --engine-failure-retry {:?}: must be a whole number greater than 0",
            args.engine_failure_retry
        ),
    };
    let mut opts: BTreeMap<String, String> = BTreeMap::new();
    for kv in &args.cluster_opt {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("invalid --cluster-opt {kv:?}: expected KEY=VALUE");
        };
        opts.insert(k.to_string(), v.to_string());
    }
    let mut scheduler = SchedulerConfig {
        strategy: args.strategy.clone(),
        filters: if args.filter.is_empty() {
            DEFAULT_FILTERS.iter().map(|s| s.to_string()).collect()
        } else {
            args.filter.clone()
        },
        ..SchedulerConfig::default()
    };
    let mut create_retry = 0;
    for (k, v) in &opts {
        match k.as_str() {
            "swarm.overcommit" => {
                scheduler.overcommit =
                    SchedulerConfig::parse_overcommit(v).map_err(|e| anyhow::anyhow!("invalid --cluster-opt {k}={v}: {e}"))?;
            }
            "swarm.createretry" => {
                create_retry = v
                    .parse::<u32>()
                    .map_err(|_| anyhow::anyhow!("invalid --cluster-opt {k}={v}: must be a whole number of 0 or more"))?;
            }
            "swarm.whitelist" => scheduler.whitelist.extend(v.split(',').map(|s| s.trim().to_string())),
            _ => bail!("unsupported --cluster-opt {k:?}: known options are swarm.overcommit, swarm.createretry, swarm.whitelist"),
        }
    }
    // Checks strategy and filters now, for a one-line error.
    Scheduler::new(&scheduler).map_err(|e| anyhow::anyhow!("{e}"))?;
    let discovery_opts =
        DiscoveryOpts::from_pairs(&args.discovery_opt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Settings {
        hosts: args.host,
        heartbeat,
        scheduler,
        cluster: ClusterOpts {
            engine: EngineOpts {
                refresh_min,
                refresh_max,
                failure_retry,
                ..EngineOpts::default()
            },
            create_retry,
            ..ClusterOpts::default()
        },
        discovery,
        discovery_opts,
        cors: args.api_enable_cors,
    })
}

pub fn run(args: ManageArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    let s = settings(args)?;
    let discovery =
        from_url(&s.discovery, &s.discovery_opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let scheduler = Scheduler::new(&s.scheduler).map_err(|e| anyhow::anyhow!("{e}"))?;
        let cluster = Cluster::new(scheduler, s.cluster.clone());
        let api = shoal_manager::Api::new(cluster.clone(), s.cors);
        let mut servers = Vec::new();
        for h in &s.hosts {
            let l = shoal_manager::Listener::bind(h)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!("listening on {}", l.local_addr());
            servers.push(tokio::spawn(shoal_manager::serve(api.clone(), l)));
        }
        let discovery: Arc<dyn shoal_discovery::Discovery> = discovery.into();
        let watcher = {
            let cluster = cluster.clone();
            let heartbeat = s.heartbeat;
            tokio::spawn(async move {
                let mut watch = discovery.watch(heartbeat);
                while let Some(update) = watch.next().await {
                    match update {
                        Ok(nodes) => {
                            tracing::debug!("discovery: {} node(s)", nodes.len());
                            cluster.set_engines(&nodes);
                        }
                        Err(e) => tracing::warn!("discovery: {e}"),
                    }
                }
            })
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch SIGTERM")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        watcher.abort();
        for s in servers {
            s.abort();
        }
        cluster.set_engines(&[]);
        for h in &s.hosts {
            if let Some(p) = h.strip_prefix("unix://") {
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        m: ManageArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<Settings> {
        let mut v = vec!["t"];
        v.extend_from_slice(args);
        settings(T::try_parse_from(v)?.m)
    }

    #[test]
    fn defaults() {
        let s = parse(&["nodes://1.2.3.4:2375"]).unwrap();
        assert_eq!(s.hosts, vec!["tcp://127.0.0.1:2375"]);
        assert_eq!(s.heartbeat, Duration::from_secs(60));
        assert_eq!(s.scheduler.strategy, "spread");
        assert_eq!(s.scheduler.filters, DEFAULT_FILTERS.to_vec());
        assert_eq!(s.cluster.engine.refresh_min, Duration::from_secs(30));
        assert_eq!(s.cluster.engine.refresh_max, Duration::from_secs(60));
        assert_eq!(s.cluster.engine.failure_retry, 3);
        assert_eq!(s.cluster.create_retry, 0);
        assert!(!s.cors);
    }

    #[test]
    fn flags() {
        let s = parse(&[
            "-H",
            "tcp://0.0.0.0:5001",
            "-H",
            "unix:///tmp/x.sock",
            "--strategy",
            "binpack",
            "-f",
            "health",
            "-f",
            "constraint",
            "--cluster-opt",
            "swarm.createretry=2",
            "--cluster-opt",
            "swarm.overcommit=0.1",
            "--engine-refresh-min-interval",
            "1s",
            "--engine-refresh-max-interval",
            "2s",
            "--cors",
            "a:1,b:2",
        ])
        .unwrap();
        assert_eq!(s.hosts.len(), 2);
        assert_eq!(s.scheduler.filters, vec!["health", "constraint"]);
        assert_eq!(s.cluster.create_retry, 2);
        assert!((s.scheduler.overcommit - 0.1).abs() < 1e-9);
        assert_eq!(s.cluster.engine.refresh_max, Duration::from_secs(2));
        assert!(s.cors);
        assert_eq!(s.discovery, "a:1,b:2");
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        for (args, needle) in [
            (vec!["--strategy", "nope", "a:1"], "nope"),
            (vec!["-f", "bogus", "a:1"], "bogus"),
            (vec!["--heartbeat", "x", "a:1"], "--heartbeat"),
            (
                vec!["--engine-failure-retry", "0", "a:1"],
                "--engine-failure-retry",
            ),
            (
                vec!["--cluster-opt", "swarm.overcommit=-2", "a:1"],
                "overcommit",
            ),
            (vec!["--cluster-opt", "foo=1", "a:1"], "foo"),
            (vec!["--cluster-opt", "novalue", "a:1"], "novalue"),
            (vec!["-H", "nonsense", "a:1"], "--host"),
            (
                vec![
                    "--engine-refresh-min-interval",
                    "10s",
                    "--engine-refresh-max-interval",
                    "5s",
                    "a:1",
                ],
                "max",
            ),
            (vec!["--tls", "a:1"], "TLS"),
            (vec!["--replication", "a:1"], "replication"),
        ] {
            let err = parse(&args).unwrap_err();
            let text = format!("{err:#}");
            assert!(text.contains(needle), "{args:?}: {text}");
            assert!(!text.contains('\n'), "{args:?}: {text}");
        }
    }
}
