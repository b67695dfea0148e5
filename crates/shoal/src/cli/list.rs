//! `shoal list`: prints the nodes a discovery backend knows, one `host:port`
//! a line.

use clap::Args;
use shoal_discovery::duration::parse_go_duration;
use shoal_discovery::{from_url, DiscoveryOpts};

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct ListArgs {
    /// How long to wait for the backend (Go duration: 10s, 1m)
    #[arg(long, default_value = "10s", allow_hyphen_values = true)]
    pub timeout: String,
    /// Discovery option K=V (kv.path, kv.cacertfile, kv.certfile, kv.keyfile)
    #[arg(long = "discovery-opt", value_name = "K=V")]
    pub discovery_opt: Vec<String>,
    /// Token service for token://TOKEN
    #[arg(long = "discovery-service", env = "SHOAL_DISCOVERY_SERVICE")]
    pub discovery_service: Option<String>,
    /// Discovery URL: token://, nodes://, file://, etcd://, zk://, consul://
    #[arg(env = "SWARM_DISCOVERY")]
    pub discovery: Option<String>,
}

pub fn run(args: ListArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    let url = args.discovery.filter(|u| !u.is_empty()).ok_or_else(|| {
        anyhow::anyhow!("discovery required to list a cluster. See 'shoal list --help'.")
    })?;
    let timeout =
        parse_go_duration(&args.timeout).map_err(|e| anyhow::anyhow!("invalid --timeout: {e}"))?;
    if timeout.is_zero() {
        anyhow::bail!("--timeout should be a positive number");
    }
    let mut opts = DiscoveryOpts::from_pairs(&args.discovery_opt)?;
    opts.token_service = args.discovery_service;
    opts.request_timeout = Some(timeout);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let nodes = rt.block_on(async {
        let d = from_url(&url, &opts)?;
        match tokio::time::timeout(timeout, d.fetch()).await {
            Ok(r) => r.map_err(anyhow::Error::from),
            Err(_) => anyhow::bail!("timed out after {} listing {url}", args.timeout),
        }
    })?;
    for n in nodes {
        println!("{n}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::cli::{goflags, Cli};

    /// Runs `shoal ARGS` in-process and returns the error text.
    fn err(args: &[&str]) -> String {
        let argv = std::iter::once("shoal")
            .chain(args.iter().copied())
            .map(Into::into)
            .collect();
        let cli = Cli::try_parse_from(goflags::normalize(argv, &Cli::command())).unwrap();
        crate::cli::run(cli).unwrap_err().to_string()
    }

    #[test]
    fn list_errors_are_one_line_and_name_the_problem() {
        assert_eq!(
            err(&["list"]),
            "discovery required to list a cluster. See 'shoal list --help'."
        );
        assert_eq!(
            err(&["list", "--timeout", "x", "nodes://a:1"]),
            "invalid --timeout: time: invalid duration \"x\""
        );
        assert_eq!(
            err(&["l", "-timeout", "0s", "nodes://a:1"]),
            "--timeout should be a positive number"
        );
        for (url, needle) in [
            ("etcd://", "names no store address"),
            ("zk://:x", "missing host"),
            ("token://", "names no token"),
            ("a:[5:1]", "[5:1]"),
            ("consul://h:0/p", "1-65535"),
            ("ftp://x", "unsupported discovery scheme"),
        ] {
            let e = err(&["list", url]);
            assert!(e.contains(needle) && !e.contains('\n'), "{url}: {e}");
        }
    }

    #[test]
    fn list_of_a_file_that_is_missing_names_it() {
        let e = err(&[
            "list",
            "--timeout",
            "2s",
            "file:///nonexistent/shoal-cluster",
        ]);
        assert!(e.contains("/nonexistent/shoal-cluster"), "{e}");
    }

    #[test]
    fn create_takes_no_arguments() {
        assert_eq!(
            err(&["create", "extra"]),
            "the `create` command takes no arguments. See 'shoal create --help'."
        );
    }
}
