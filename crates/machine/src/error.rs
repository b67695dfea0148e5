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
    #[error("unknown keystore {0:?}: use \"etcd\" or \"zookeeper\"")]
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
    #[error("{machine}: {what} did not become ready within {secs}s; its log ends with: {tail}")]
    NotReady {
        machine: String,
        what: &'static str,
        secs: u64,
        tail: String,
    },
    #[error("{machine}: {what} exited at start; its log ends with: {tail}")]
    DiedAtStart {
        machine: String,
        what: &'static str,
        tail: String,
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
    #[error("{path}: {message}")]
    Certificate { path: PathBuf, message: String },
}

pub type Result<T> = std::result::Result<T, MachineError>;

/// Attaches a path to an I/O error.
pub(crate) fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> MachineError {
    let path = path.into();
    move |source| MachineError::Io { path, source }
}

/// The last lines of a log, for an error that outlives the log's folder.
pub(crate) fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
    if tail.is_empty() {
        format!("(nothing in {})", path.display())
    } else {
        tail
    }
}
