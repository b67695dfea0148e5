use std::path::PathBuf;

/// Everything that can go wrong with a machine, each naming its input.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("invalid machine name {0:?}: use letters, digits, '.' and '-', starting with a letter or digit, at most 40 characters")]
    InvalidName(String),
    #[error("machine {0:?} already exists")]
    Exists(String),
    #[error("machine {0:?} does not exist")]
    NotFound(String),
    #[error("unknown driver {0:?}: the only driver is \"netns\"")]
    UnknownDriver(String),
    #[error("unknown keystore {0:?}: use \"etcd\"")]
    UnknownKeystore(String),
    #[error("malformed {flag} {value:?}: expected KEY=VALUE")]
    MalformedOption { flag: &'static str, value: String },
    #[error("{binary} not found in PATH: install the Debian package {package}")]
    MissingBinary {
        binary: &'static str,
        package: &'static str,
    },
    #[error("machines need root (namespaces, bridges and mounts): run as root")]
    NotRoot,
    #[error("{0:?} is not a swarm master")]
    NotSwarmMaster(String),
    #[error("{machine}: {what} did not become ready within {secs}s (log: {log})")]
    NotReady {
        machine: String,
        what: &'static str,
        secs: u64,
        log: PathBuf,
    },
    #[error("{machine}: {what} exited at start (log: {log})")]
    DiedAtStart {
        machine: String,
        what: &'static str,
        log: PathBuf,
    },
    #[error("no free address left in the lab subnet {0}")]
    SubnetFull(String),
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{what}: {message}")]
    Engine { what: String, message: String },
}

pub type Result<T> = std::result::Result<T, MachineError>;

/// Attaches a path to an I/O error.
pub(crate) fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> MachineError {
    let path = path.into();
    move |source| MachineError::Io { path, source }
}
