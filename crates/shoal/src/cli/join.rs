//! `shoal join`: registers a node's engine address with a discovery backend,
//! then again every heartbeat. A backend that is down is retried at every
//! heartbeat with an error in the log; the agent itself never gives up.

use std::time::Duration;

use clap::Args;
use rand::Rng;
use shoal_discovery::duration::{format_go_duration, parse_go_duration, GoDurationError};
use shoal_discovery::{from_url, validate_addr, DiscoveryError, DiscoveryOpts};

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct JoinArgs {
    /// Address of this node's engine to announce: HOST:PORT
    #[arg(
        long = "advertise",
        visible_alias = "addr",
        env = "SWARM_ADVERTISE",
        value_name = "HOST:PORT"
    )]
    pub advertise: Option<String>,
    /// Time between registrations (Go duration)
    #[arg(long, default_value = "60s", allow_hyphen_values = true)]
    pub heartbeat: String,
    /// How long a registration lives; must exceed the heartbeat
    #[arg(long, default_value = "180s", allow_hyphen_values = true)]
    pub ttl: String,
    /// Wait a random time up to this before the first registration
    #[arg(long, default_value = "0s", allow_hyphen_values = true)]
    pub delay: String,
    /// Discovery option K=V (kv.path, kv.cacertfile, kv.certfile, kv.keyfile)
    #[arg(long = "discovery-opt", value_name = "K=V")]
    pub discovery_opt: Vec<String>,
    /// Token service for token://TOKEN
    #[arg(long = "discovery-service", env = "SHOAL_DISCOVERY_SERVICE")]
    pub discovery_service: Option<String>,
    /// Discovery URL: token://, etcd://, zk://, consul://
    #[arg(env = "SWARM_DISCOVERY")]
    pub discovery: Option<String>,
}

fn duration(flag: &str, v: &str) -> anyhow::Result<Duration> {
    parse_go_duration(v).map_err(|e| match e {
        GoDurationError::Negative(_) => anyhow::anyhow!("--{flag} should not be a negative number"),
        e => anyhow::anyhow!("invalid --{flag}: {e}"),
    })
}

/// What `join` will do, once its flags have been checked.
#[derive(Debug)]
struct Plan {
    url: String,
    addr: String,
    heartbeat: Duration,
    ttl: Duration,
    delay: Duration,
    opts: DiscoveryOpts,
}

/// Checks the flags, with classic Swarm's error texts.
fn plan(args: JoinArgs) -> anyhow::Result<Plan> {
    let url = args.discovery.filter(|u| !u.is_empty()).ok_or_else(|| {
        anyhow::anyhow!("discovery required to join a cluster. See 'shoal join --help'.")
    })?;
    let addr = args
        .advertise
        .filter(|a| !a.is_empty())
        .ok_or_else(|| anyhow::anyhow!("missing mandatory --advertise flag"))?;
    if validate_addr(&addr).is_err() {
        anyhow::bail!("--advertise should be of the form ip:port or hostname:port");
    }
    let delay = duration("delay", &args.delay)?;
    let heartbeat = duration("heartbeat", &args.heartbeat)?;
    if heartbeat < Duration::from_secs(1) {
        anyhow::bail!("--heartbeat should be at least one second");
    }
    let ttl = duration("ttl", &args.ttl)?;
    if ttl <= heartbeat {
        anyhow::bail!("--ttl must be strictly superior to the heartbeat value");
    }
    let mut opts = DiscoveryOpts::from_pairs(&args.discovery_opt)?;
    opts.token_service = args.discovery_service;
    opts.request_timeout = Some(heartbeat.min(Duration::from_secs(10)));
    Ok(Plan {
        url,
        addr,
        heartbeat,
        ttl,
        delay,
        opts,
    })
}

pub fn run(args: JoinArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    let Plan {
        url,
        addr,
        heartbeat: hb,
        ttl,
        delay,
        opts,
    } = plan(args)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let d = from_url(&url, &opts)?;
        if !delay.is_zero() {
            let wait = Duration::from_millis(
                rand::thread_rng().gen_range(0..delay.as_millis().max(1) as u64),
            );
            tracing::info!(
                "Add a random delay {} to avoid synchronized registration",
                format_go_duration(wait)
            );
            tokio::time::sleep(wait).await;
        }
        tracing::info!(
            addr = %addr, discovery = %url,
            "Registering on the discovery service every {}...", format_go_duration(hb)
        );
        let mut failing = false;
        loop {
            let started = tokio::time::Instant::now();
            match tokio::time::timeout(hb, d.register(&addr, ttl)).await {
                Ok(Ok(())) => {
                    if failing {
                        tracing::info!(addr = %addr, "registered again with the discovery service");
                    }
                    tracing::debug!(addr = %addr, "registered");
                    failing = false;
                }
                Ok(Err(e @ DiscoveryError::Unsupported { .. })) => {
                    return Err(anyhow::Error::from(e))
                }
                Ok(Err(e)) => {
                    tracing::error!("{e} (retrying in {})", format_go_duration(hb));
                    failing = true;
                }
                Err(_) => {
                    tracing::error!("registering {addr} timed out (retrying)");
                    failing = true;
                }
            }
            tokio::time::sleep_until(started + hb).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::cli::{goflags, Cli, Command};

    fn parse(args: &[&str]) -> anyhow::Result<Plan> {
        let argv = std::iter::once("shoal")
            .chain(args.iter().copied())
            .map(Into::into)
            .collect();
        let cli = Cli::try_parse_from(goflags::normalize(argv, &Cli::command()))?;
        match cli.command {
            Command::Join(a) => plan(a),
            other => panic!("parsed as {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        parse(args).unwrap_err().to_string()
    }

    #[test]
    fn flags_defaults_and_aliases() {
        let p = parse(&["join", "--advertise", "10.0.0.1:2375", "token://abc"]).unwrap();
        assert_eq!(
            (p.heartbeat, p.ttl, p.delay),
            (
                Duration::from_secs(60),
                Duration::from_secs(180),
                Duration::ZERO
            )
        );
        let p = parse(&[
            "j",
            "--addr=h:1",
            "--heartbeat",
            "1s",
            "--ttl",
            "5s",
            "nodes://a:1",
        ])
        .unwrap();
        assert_eq!((p.addr.as_str(), p.url.as_str()), ("h:1", "nodes://a:1"));
        let p = parse(&[
            "join",
            "-addr",
            "h:2",
            "-heartbeat=2s",
            "-ttl",
            "1m",
            "-discovery-opt",
            "kv.path=x",
            "etcd://e/p",
        ])
        .unwrap();
        assert_eq!(
            (p.heartbeat, p.ttl),
            (Duration::from_secs(2), Duration::from_secs(60))
        );
        assert_eq!(p.opts.kv_path(), "x");
    }

    #[test]
    fn validation_errors_read_as_classic_swarm() {
        assert_eq!(
            err(&["join", "--addr", "h:1"]),
            "discovery required to join a cluster. See 'shoal join --help'."
        );
        assert_eq!(
            err(&["join", "token://x"]),
            "missing mandatory --advertise flag"
        );
        for bad in ["h", "h:0", "h:65536", ":1", "h:x"] {
            assert_eq!(
                err(&["join", "--addr", bad, "token://x"]),
                "--advertise should be of the form ip:port or hostname:port"
            );
        }
        assert_eq!(
            err(&["join", "--addr", "h:1", "--heartbeat", "500ms", "token://x"]),
            "--heartbeat should be at least one second"
        );
        assert_eq!(
            err(&[
                "join",
                "--addr",
                "h:1",
                "--heartbeat",
                "5s",
                "--ttl",
                "5s",
                "token://x"
            ]),
            "--ttl must be strictly superior to the heartbeat value"
        );
        assert_eq!(
            err(&["join", "--addr", "h:1", "--ttl", "x", "token://x"]),
            "invalid --ttl: time: invalid duration \"x\""
        );
        assert_eq!(
            err(&["join", "--addr", "h:1", "--heartbeat", "5", "token://x"]),
            "invalid --heartbeat: time: missing unit in duration \"5\""
        );
        assert_eq!(
            err(&["join", "--addr", "h:1", "--delay", "-1s", "token://x"]),
            "--delay should not be a negative number"
        );
        assert!(err(&[
            "join",
            "--addr",
            "h:1",
            "--discovery-opt",
            "novalue",
            "token://x"
        ])
        .contains("expected key=value"));
    }
}
