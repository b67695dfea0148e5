//! Local hosts for Shoal ("machines"), in the spirit of docker-machine.
//!
//! A machine made by the `netns` driver is a network namespace, a UTS
//! namespace (its own hostname) and a private mount namespace (its own
//! `/etc/docker`, `/etc/resolv.conf`, `/etc/hosts`, `/run/docker`), with one
//! interface `eth0` on the lab bridge and a real `dockerd` listening on
//! `tcp://IP:2376` and a unix socket. Optionally an etcd keystore runs in it.
//!
//! State lives in two places:
//! - the store (`$SHOAL_MACHINE_STORAGE_PATH`, default `~/.shoal/machine`):
//!   one folder per machine with `config.json`, logs and the engine's data;
//! - the lab (`/run/shoal`): what all stores on this box share (the bridge,
//!   address allocations, the persistent UTS/mount namespace files, engines'
//!   exec roots). It is gone after a reboot; `start` rebuilds it.
//!
//! Nothing is trusted blindly: a pid is alive only if `/proc/PID/cmdline`
//! still names our engine, a namespace exists only if its file is mounted.

mod busybox;
pub mod certs;
mod config;
mod daemon;
mod dockerd;
mod error;
mod exec;
mod http;
mod keystore;
mod lab;
mod machine;
mod namespaces;
mod process;
mod progress;
mod store;
mod swarm;

pub use config::{validate_name, KeyValue, MachineConfig, SwarmConfig, ENGINE_PORT, SWARM_PORT};
pub use error::MachineError;
pub use exec::{RealSystem, System};
pub use machine::{CreateOptions, MachineRow, MachineState, Machines};
pub use progress::{Progress, SilentProgress};
pub use store::Store;
