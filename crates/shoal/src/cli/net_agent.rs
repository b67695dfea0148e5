//! `shoal net-agent`: the per-host daemon of Shoal's overlay network. It
//! serves Docker's network and IPAM driver plugin (driver name `shoal`) on
//! `/run/docker/plugins/shoal.sock` and keeps the host's VXLAN FDB and
//! neighbour entries equal to the store.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use shoal_netdriver::agent::{Agent, AgentConfig};
use shoal_netdriver::dataplane::{Dataplane, DEFAULT_VXLAN_PORT};
use shoal_netdriver::engine::EngineClient;
use shoal_netdriver::layout::{Layout, DEFAULT_PREFIX};
use shoal_netdriver::netlink::{Netlink, RtNetlink};
use shoal_netdriver::session::Session;
use shoal_netdriver::tunnel::DEFAULT_TUNNEL_PORT;
use shoal_netdriver::{dns, kv, plugin};

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct NetAgentArgs {
    /// The store: etcd://HOST:PORT[,...], zk://HOST:PORT[,...][/CHROOT] or consul://HOST:PORT[,...][/PREFIX]
    #[arg(long = "store", value_name = "URL")]
    pub store: String,
    /// Key prefix of the overlay's state in the store
    #[arg(long = "prefix", default_value = DEFAULT_PREFIX)]
    pub prefix: String,
    /// This host's VTEP address (default: its first global IPv4 address)
    #[arg(long = "advertise", value_name = "IP")]
    pub advertise: Option<Ipv4Addr>,
    /// The plugin socket Docker finds the driver by
    #[arg(long = "socket", default_value = "/run/docker/plugins/shoal.sock")]
    pub socket: PathBuf,
    /// Where the agent remembers its networks across restarts
    #[arg(
        long = "state-file",
        default_value = "/run/docker/shoal-net/state.json"
    )]
    pub state_file: PathBuf,
    /// Seconds this host's keys outlive the agent
    #[arg(long = "ttl", default_value_t = 15)]
    pub ttl: u64,
    /// MTU of overlay interfaces (default: underlay MTU minus 50)
    #[arg(long = "mtu")]
    pub mtu: Option<u32>,
    /// UDP port of VXLAN
    #[arg(long = "vxlan-port", default_value_t = DEFAULT_VXLAN_PORT)]
    pub vxlan_port: u16,
    /// UDP port where this agent takes the sealed VXLAN packets of
    /// encrypted networks (`--opt encrypted`) from the other hosts' agents
    #[arg(long = "tunnel-port", default_value_t = DEFAULT_TUNNEL_PORT)]
    pub tunnel_port: u16,
    /// Port of the DNS responder for container names (on every network's
    /// gateway address); 0 turns it off
    #[arg(long = "dns-port", default_value_t = 53)]
    pub dns_port: u16,
    /// The local engine, asked for container names (default: DOCKER_HOST
    /// when unix://, else /var/run/docker.sock)
    #[arg(long = "engine", value_name = "unix://PATH")]
    pub engine: Option<String>,
}

pub fn run(args: NetAgentArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: NetAgentArgs) -> anyhow::Result<()> {
    if args.tunnel_port == 0 {
        anyhow::bail!("--tunnel-port 0: the other hosts need a fixed port to reach this one");
    }
    if args.ttl < 3 {
        anyhow::bail!("--ttl {} is too short (3 seconds at least)", args.ttl);
    }
    let store: Arc<dyn kv::Kv> = Arc::new(kv::open(&args.store)?);
    let nl = RtNetlink::new()?;
    let host = match args.advertise {
        Some(a) => a,
        None => nl
            .first_global_ipv4()
            .await?
            .context("no global ipv4 address on this host: pass --advertise")?,
    };
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let session = Session::new(store, Layout::new(&args.prefix), host, 0);
    let dp = Dataplane::new(Arc::new(nl), host, args.vxlan_port);
    let agent = Agent::start(
        session,
        dp,
        AgentConfig {
            name,
            ttl: Duration::from_secs(args.ttl),
            mtu: args.mtu,
            state_file: Some(args.state_file.clone()),
            engine: (args.dns_port != 0).then(|| {
                let host = args
                    .engine
                    .clone()
                    .or_else(|| std::env::var("DOCKER_HOST").ok());
                EngineClient::from_docker_host(host.as_deref())
            }),
            tunnel_port: args.tunnel_port,
        },
    )
    .await
    .with_context(|| format!("registering host {host} in {}", args.store))?;
    tracing::info!("net-agent for {host} registered in {}", args.store);
    tokio::spawn(agent.clone().keep_alive_loop());
    tokio::spawn(agent.clone().reconcile_loop());
    if args.dns_port != 0 {
        let addr = std::net::SocketAddr::from(([0, 0, 0, 0], args.dns_port));
        let socket = tokio::net::UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding the dns responder on {addr}"))?;
        tokio::spawn(dns::serve(socket, agent.clone()));
    }
    let server = plugin::server::serve(agent.clone(), &args.socket);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let result = tokio::select! {
        r = server => r.map_err(anyhow::Error::from),
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    };
    // A clean stop keeps the keys (the engine still has its containers);
    // they expire with the lease unless an agent comes back in time.
    let _ = std::fs::remove_file(&args.socket);
    result
}
