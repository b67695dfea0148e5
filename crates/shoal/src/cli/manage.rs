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
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish
    #[arg(long = "shutdown-grace", default_value = "10s")]
    pub shutdown_grace: String,
    /// Use TLS (implied by --tlsverify); --tls=false allows plain TCP on a non-loopback address
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub tls: Option<bool>,
    /// Use TLS, require client certificates signed by --tlscacert, verify the engines' certificates
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub tlsverify: Option<bool>,
    /// Trust only certificates signed by this CA [default: ~/.docker/ca.pem]
    #[arg(long)]
    pub tlscacert: Option<String>,
    /// Path to the TLS certificate file [default: ~/.docker/cert.pem]
    #[arg(long)]
    pub tlscert: Option<String>,
    /// Path to the TLS key file [default: ~/.docker/key.pem]
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
    shutdown_grace: Duration,
    /// `--replication`: (advertised address, lock ttl).
    replication: Option<(String, Duration)>,
    /// TLS for clients and to engines; None: plain TCP.
    tls: Option<TlsSettings>,
    /// Said once at start (plain TCP on a non-loopback address).
    warnings: Vec<String>,
}

/// `--tls`/`--tlsverify` with their files, loaded.
#[derive(Debug)]
struct TlsSettings {
    server: Arc<shoal_manager::tls::ServerConfig>,
    engines: shoal_engine::ClientTls,
    verify: bool,
}

/// Docker's certificate folder: `$DOCKER_CERT_PATH`, else `~/.docker`.
fn docker_cert_dir() -> std::path::PathBuf {
    match std::env::var_os("DOCKER_CERT_PATH").filter(|p| !p.is_empty()) {
        Some(p) => p.into(),
        None => std::env::var_os("HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/root".into())
            .join(".docker"),
    }
}

/// Whether a listen address is reachable from this host only.
fn is_loopback(host: &str) -> bool {
    if host.starts_with("unix://") {
        return true;
    }
    let hp = host.strip_prefix("tcp://").unwrap_or(host);
    let h = hp.rsplit_once(':').map_or(hp, |(h, _)| h);
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks the TLS flags as Docker reads them and loads the files: `--tlsverify`
/// implies `--tls`; a missing file flag means Docker's default path.
/// Without TLS, a non-loopback TCP address needs an explicit `--tls=false`.
fn tls_settings(args: &ManageArgs) -> anyhow::Result<(Option<TlsSettings>, Vec<String>)> {
    let verify = args.tlsverify == Some(true);
    let explicit_plain = args.tls == Some(false);
    if explicit_plain && verify {
        bail!("--tls=false contradicts --tlsverify");
    }
    let enabled = verify || args.tls == Some(true);
    if !enabled {
        for (flag, v) in [
            ("--tlscacert", &args.tlscacert),
            ("--tlscert", &args.tlscert),
            ("--tlskey", &args.tlskey),
        ] {
            if v.is_some() {
                bail!("{flag} needs --tlsverify (or --tls)");
            }
        }
        let mut warnings = vec![];
        for h in args.host.iter().filter(|h| !is_loopback(h)) {
            if !explicit_plain {
                bail!("refusing to listen on {h} without TLS: anyone who reaches it controls every engine; use --tlsverify with --tlscacert, --tlscert, --tlskey (or --tls=false to accept plain TCP)");
            }
            warnings.push(format!("listening on {h} without TLS (--tls=false): anyone who reaches it controls every engine"));
        }
        return Ok((None, warnings));
    }
    let dir = docker_cert_dir();
    let path = |v: &Option<String>, default: &str| {
        v.as_ref()
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| dir.join(default))
    };
    let (ca, cert, key) = (
        path(&args.tlscacert, "ca.pem"),
        path(&args.tlscert, "cert.pem"),
        path(&args.tlskey, "key.pem"),
    );
    for (flag, p) in [
        ("--tlscacert", &ca),
        ("--tlscert", &cert),
        ("--tlskey", &key),
    ] {
        if (flag != "--tlscacert" || verify) && !p.is_file() {
            bail!("{flag} {}: no such file", p.display());
        }
    }
    let ca = verify.then_some(ca.as_path());
    let server = shoal_manager::tls::server_config(ca, &cert, &key, verify)
        .map_err(|e| anyhow::anyhow!("invalid TLS settings: {e}"))?;
    let engines = shoal_engine::ClientTls::from_files(ca, &cert, &key)
        .map_err(|e| anyhow::anyhow!("invalid TLS settings: {e}"))?;
    Ok((
        Some(TlsSettings {
            server,
            engines,
            verify,
        }),
        vec![],
    ))
}

fn duration(flag: &str, v: &str) -> anyhow::Result<Duration> {
    parse_go_duration(v).with_context(|| format!("invalid --{flag} {v:?}"))
}

fn settings(args: ManageArgs) -> anyhow::Result<Settings> {
    let tls = tls_settings(&args);
    let replication_ttl = duration("replication-ttl", &args.replication_ttl)?;
    let Some(discovery) = args.discovery.clone().filter(|d| !d.is_empty()) else {
        bail!(
            "a discovery URL is required: shoal manage [OPTIONS] DISCOVERY (or $SWARM_DISCOVERY)"
        );
    };
    let replication = if args.replication {
        let Some(advertise) = args.advertise.clone() else {
            bail!("--replication needs --advertise HOST:PORT: the address the other managers forward to");
        };
        if !["etcd://", "zk://", "consul://"]
            .iter()
            .any(|s| discovery.starts_with(s))
        {
            bail!("--replication needs an etcd://, zk:// or consul:// discovery URL (the leader lock lives there), not {discovery:?}");
        }
        if replication_ttl < Duration::from_secs(2) {
            bail!(
                "invalid --replication-ttl {:?}: must be at least 2s",
                args.replication_ttl
            );
        }
        Some((advertise, replication_ttl))
    } else {
        None
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
    // checked here, after the addresses, so a malformed one is named first
    let (tls, warnings) = tls?;
    if let Some(a) = &args.advertise {
        if !matches!(a.rsplit_once(':'), Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
        {
            bail!("invalid --advertise {a:?}: expected HOST:PORT");
        }
    }
    let heartbeat = duration("heartbeat", &args.heartbeat)?;
    let shutdown_grace = duration("shutdown-grace", &args.shutdown_grace)?;
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
                tls: tls.as_ref().map(|t| t.engines.clone()),
                ..EngineOpts::default()
            },
            create_retry,
            ..ClusterOpts::default()
        },
        discovery,
        discovery_opts,
        cors: args.api_enable_cors,
        shutdown_grace,
        replication,
        tls,
        warnings,
    })
}

pub fn run(args: ManageArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    let s = settings(args)?;
    for w in &s.warnings {
        tracing::warn!("{w}");
    }
    let discovery =
        from_url(&s.discovery, &s.discovery_opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    match super::descriptors::raise_open_file_limit() {
        Ok(limit) => {
            tracing::debug!("open-file limit: {limit}");
            shoal_engine::client::set_descriptor_limit(limit);
        }
        Err(e) => tracing::warn!("cannot read the open-file limit: {e}"),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let scheduler = Scheduler::new(&s.scheduler).map_err(|e| anyhow::anyhow!("{e}"))?;
        let cluster = Cluster::new(scheduler, s.cluster.clone());
        if cluster.keep_intents_in(&s.discovery) {
            tracing::info!("rescheduling intents kept in the discovery store");
        }
        let api = shoal_manager::Api::new(cluster.clone(), s.cors);
        let discovery: Arc<dyn shoal_discovery::Discovery> = discovery.into();
        // Replicated: campaign before serving, so no request is served as
        // primary before the lock is ours.
        let campaign = match &s.replication {
            Some((advertise, ttl)) => {
                let c = discovery
                    .campaign(advertise, *ttl)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let rep = shoal_manager::replication::Replication::new(
                    advertise.clone(),
                    c.leadership(),
                    *ttl,
                )
                .with_tls(s.cluster.engine.tls.clone());
                let _ = api.replication.set(rep);
                // only the primary reschedules and keeps shoal networks
                let (mut lead, watched) = (c.leadership(), cluster.clone());
                tokio::spawn(async move {
                    loop {
                        let primary = matches!(
                            *lead.borrow_and_update(),
                            shoal_discovery::Leadership::Primary
                        );
                        watched.set_watchdog_paused(!primary);
                        if lead.changed().await.is_err() {
                            break;
                        }
                    }
                });
                tracing::info!("replication: campaigning as {advertise}, ttl {ttl:?}");
                Some(c)
            }
            None => None,
        };
        let mut servers = Vec::new();
        for h in &s.hosts {
            let mut l = shoal_manager::Listener::bind(h)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut how = "";
            if let (Some(t), false) = (&s.tls, h.starts_with("unix://")) {
                l = l.with_tls(t.server.clone());
                how = if t.verify {
                    " (TLS, client certificates required)"
                } else {
                    " (TLS)"
                };
            }
            tracing::info!("listening on {}{how}", l.local_addr());
            servers.push(tokio::spawn(shoal_manager::serve(api.clone(), l)));
        }
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
        // Graceful: listeners close at once, requests in flight get the
        // grace period, endless streams (events, logs -f) end now.
        tracing::info!(
            "shutting down: no new connections, {:?} for requests in flight",
            s.shutdown_grace
        );
        api.shutdown.begin();
        if let Some(c) = campaign {
            // the other managers take over at their next round
            c.resign().await;
        }
        for server in servers {
            let _ = server.await;
        }
        let left = api.shutdown.drained(s.shutdown_grace).await;
        if left > 0 {
            tracing::warn!("{left} connection(s) still open after the grace period: closing them");
        }
        watcher.abort();
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
            "--tls=false",
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
    fn tls_flags_as_docker_reads_them() {
        let store = tempfile::tempdir().unwrap();
        let dir = store.path().join("m");
        shoal_machine::certs::ensure_machine(store.path(), &dir, "m", "127.0.0.1").unwrap();
        let f = |n: &str| dir.join(n).to_string_lossy().into_owned();
        let (ca, cert, key) = (f("ca.pem"), f("server.pem"), f("server-key.pem"));
        let s = parse(&[
            "-H",
            "tcp://0.0.0.0:3376",
            "--tlsverify",
            "--tlscacert",
            &ca,
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
            "a:1",
        ])
        .unwrap();
        let tls = s.tls.as_ref().expect("TLS on");
        assert!(tls.verify && tls.engines.verifies());
        assert!(s.cluster.engine.tls.is_some(), "TLS to engines too");
        assert!(s.warnings.is_empty());

        // --tls alone: server TLS, engines not verified, no CA needed
        let s = parse(&["--tls", "--tlscert", &cert, "--tlskey", &key, "a:1"]).unwrap();
        let tls = s.tls.as_ref().expect("TLS on");
        assert!(!tls.verify && !tls.engines.verifies());

        // a key that is not the certificate's
        let other = tempfile::tempdir().unwrap();
        let odir = other.path().join("o");
        shoal_machine::certs::ensure_machine(other.path(), &odir, "o", "127.0.0.1").unwrap();
        let wrong_key = odir.join("server-key.pem").to_string_lossy().into_owned();
        let err = format!(
            "{:#}",
            parse(&["--tls", "--tlscert", &cert, "--tlskey", &wrong_key, "a:1"]).unwrap_err()
        );
        assert!(err.contains("invalid TLS settings"), "{err}");
        assert!(!err.contains('\n'), "{err}");

        // plain TCP on a non-loopback address only when said, with a warning
        let s = parse(&["-H", "tcp://10.1.2.3:2375", "--tls=false", "a:1"]).unwrap();
        assert!(s.tls.is_none());
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("tcp://10.1.2.3:2375"));
        for quiet in [
            "tcp://127.0.0.1:2375",
            "localhost:2375",
            "tcp://[::1]:2375",
            "unix:///tmp/s",
        ] {
            let s = parse(&["-H", quiet, "a:1"]).unwrap();
            assert!(s.warnings.is_empty() && s.tls.is_none(), "{quiet}");
        }
    }

    #[test]
    fn tlsverify_alone_takes_dockers_default_files() {
        // the only test that reads DOCKER_CERT_PATH
        let store = tempfile::tempdir().unwrap();
        let dir = store.path().join("m");
        shoal_machine::certs::ensure_machine(store.path(), &dir, "m", "127.0.0.1").unwrap();
        std::env::set_var("DOCKER_CERT_PATH", &dir);
        let ok = parse(&["--tlsverify", "a:1"]);
        std::fs::remove_file(dir.join("key.pem")).unwrap();
        let missing = parse(&["--tlsverify", "a:1"]);
        std::env::remove_var("DOCKER_CERT_PATH");
        assert!(ok.unwrap().tls.is_some_and(|t| t.verify));
        let err = format!("{:#}", missing.unwrap_err());
        assert_eq!(
            err,
            format!("--tlskey {}: no such file", dir.join("key.pem").display())
        );
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
            (vec!["--tls=false", "--tlsverify", "a:1"], "contradicts"),
            (
                vec!["--tlscert", "/x.pem", "a:1"],
                "--tlscert needs --tlsverify",
            ),
            (
                vec!["-H", "tcp://0.0.0.0:2375", "a:1"],
                "refusing to listen on tcp://0.0.0.0:2375 without TLS",
            ),
            (
                vec![
                    "--tlsverify",
                    "--tlscacert=/nonexistent/ca.pem",
                    "--tlscert=/nonexistent/cert.pem",
                    "--tlskey=/nonexistent/key.pem",
                    "a:1",
                ],
                "--tlscacert /nonexistent/ca.pem: no such file",
            ),
            (vec!["--replication", "etcd://a:1/p"], "--advertise"),
            (
                vec!["--replication", "--advertise", "a:1", "nodes://a:1"],
                "etcd://, zk:// or consul://",
            ),
            (
                vec![
                    "--replication",
                    "--advertise",
                    "a:1",
                    "--replication-ttl",
                    "1s",
                    "etcd://a:1/p",
                ],
                "--replication-ttl",
            ),
        ] {
            let err = parse(&args).unwrap_err();
            let text = format!("{err:#}");
            assert!(text.contains(needle), "{args:?}: {text}");
            assert!(!text.contains('\n'), "{args:?}: {text}");
        }
    }
}
