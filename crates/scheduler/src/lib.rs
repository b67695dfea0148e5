//! shoal-scheduler: placement of containers on nodes (pure: no I/O).
//!
//! NOTE TO THE SCHEDULER AUTHOR AND THE MANAGER AUTHOR: the prompts you were given
//! referred to "{SCHED_API}" and "{COMMON}"; they are this block and /work/main/DEVELOPING.md.
//!
//! ## The scheduler's public API (agreed between the scheduler author and the manager author; names are fixed, fields may be added)
//! In crate `shoal-scheduler` (crates/scheduler, pure: no tokio, no I/O; serde/serde_json/regex allowed):
//! ```rust
//! pub struct NodeView {            // one node as the scheduler sees it
//!     pub id: String, pub name: String, pub addr: String,
//!     pub labels: BTreeMap<String, String>, // engine --label pairs plus storagedriver, kernelversion, operatingsystem, ostype
//!     pub total_cpus: i64, pub total_memory: i64,         // raw engine totals (NCPU, MemTotal bytes)
//!     pub reserved_cpus: i64, pub reserved_memory: i64,   // sums over all containers on the node (incl. in-flight)
//!     pub healthy: bool,
//!     pub containers: Vec<ContainerView>,
//!     pub images: Vec<ImageView>,
//! }
//! pub struct ContainerView { pub id: String, pub name: String /* without slash */, pub image: String, pub image_id: String,
//!     pub labels: BTreeMap<String, String>, pub ports: Vec<PortBinding>, pub running: bool }
//! pub struct ImageView { pub id: String, pub repo_tags: Vec<String> }
//! pub struct PortBinding { pub host_ip: String, pub host_port: u16, pub container_port: u16, pub proto: String }
//! pub struct ContainerRequest {   // what a create asks for
//!     pub name: Option<String>, pub image: String,
//!     pub constraints: Vec<Expr>, pub affinities: Vec<Expr>, pub reschedule_on_node_failure: bool,
//!     pub cpus: i64, pub memory: i64, pub ports: Vec<PortBinding>, pub host_network: bool,
//!     pub exposed_ports: Vec<(u16, String)>, pub dependencies: Vec<String> /* container names/ids from volumes_from, links, net=container: */,
//!     pub labels: BTreeMap<String, String>,
//! }
//! impl ContainerRequest {
//!     /// Parses a Docker `POST /containers/create` JSON body (API 1.41 shape: Config fields at top level,
//!     /// HostConfig, NetworkingConfig). Reads constraint:/affinity:/reschedule: env entries and the
//!     /// com.docker.swarm.constraints / .affinities / .reschedule-policies labels (JSON arrays), and
//!     /// returns the request plus the body with those env entries removed (to send to the engine).
//!     /// CPUs: HostConfig.NanoCpus / 1e9, or (classic) HostConfig.CpuShares as a CPU count when small.
//!     pub fn from_create_body(name: Option<&str>, body: &serde_json::Value) -> Result<(Self, serde_json::Value), SchedulerError>;
//! }
//! pub struct Scheduler { .. }
//! impl Scheduler {
//!     /// strategy: spread | binpack | binpacking | random ; filters: names in order (unknown -> error)
//!     pub fn new(strategy: &str, filters: &[String], overcommit: f64) -> Result<Self, SchedulerError>;
//!     pub fn select<'a>(&self, nodes: &'a [NodeView], req: &ContainerRequest) -> Result<&'a NodeView, SchedulerError>;
//!     pub fn strategy_name(&self) -> &str;          // "spread", "binpack", "random"
//!     pub fn filter_names(&self) -> Vec<&str>;      // in order, for `docker info`
//! }
//! pub const DEFAULT_FILTERS: [&str; 7] = ["health","port","containerslots","dependency","affinity","constraint","whitelist"];
//! pub enum SchedulerError { .. }  // Display texts exactly as classic Swarm printed them
//! ```
