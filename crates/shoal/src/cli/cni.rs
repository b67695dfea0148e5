//! `shoal cni`: the CNI 1.0 plugin of Shoal's overlay. Install it as a CNI
//! plugin named `shoal` (a link or a two-line script calling `shoal cni`);
//! the runtime passes CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME
//! in the environment and the network configuration on stdin.

use std::io::{Read, Write};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use shoal_netdriver::cni::{self, CniEnv, CniError};
use shoal_netdriver::kv::{self, Kv};
use shoal_netdriver::netlink::RtNetlink;
use shoal_netdriver::NetError;

use super::GlobalOpts;

#[derive(Args, Debug)]
pub struct CniArgs {}

pub fn run(_args: CniArgs, _global: &GlobalOpts) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let mut stdin = String::new();
    let outcome = match CniEnv::from_vars(|k| std::env::var(k).ok()) {
        Ok(env) => {
            if env.command != "VERSION" {
                std::io::stdin()
                    .read_to_string(&mut stdin)
                    .context("reading the network configuration from stdin")?;
            }
            rt.block_on(async {
                let nl = RtNetlink::new().map_err(CniError::from)?;
                let open =
                    |url: &str| -> Result<Arc<dyn Kv>, NetError> { Ok(Arc::new(kv::open(url)?)) };
                cni::run(&env, &stdin, Arc::new(nl), &open).await
            })
        }
        Err(e) => Err(e),
    };
    let version = serde_json::from_str::<serde_json::Value>(&stdin)
        .ok()
        .and_then(|v| {
            v.get("cniVersion")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| cni::SPEC_VERSION.to_string());
    let mut out = std::io::stdout();
    match outcome {
        Ok(text) => {
            if !text.is_empty() {
                writeln!(out, "{text}")?;
            }
            Ok(())
        }
        Err(e) => {
            writeln!(out, "{}", e.to_json(&version))?;
            out.flush()?;
            eprintln!("shoal cni: {}", e.msg);
            std::process::exit(1)
        }
    }
}
