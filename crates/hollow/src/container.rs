//! One hollow container: what its create body asked for and where it is in
//! its lifecycle, kept small (no JSON kept around; answers are built on
//! demand by [`crate::shapes`]).

use serde_json::Value;

/// Lifecycle state, as `State.Status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Created,
    Running,
    Paused,
    Exited,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Created => "created",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Exited => "exited",
        }
    }
}

/// A container of a hollow engine.
#[derive(Debug, Clone)]
pub struct Container {
    /// 64 hex digits.
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    /// The image as the create body named it.
    pub image: String,
    /// `sha256:...` of that image.
    pub image_id: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// Sorted by key.
    pub labels: Vec<(String, String)>,
    pub tty: bool,
    pub open_stdin: bool,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub memory: i64,
    pub network_mode: String,
    /// `HostConfig.PortBindings` as given (None when empty).
    pub port_bindings: Option<Box<Value>>,
    pub exposed_ports: Vec<String>,
    /// Unix nanoseconds.
    pub created: i64,
    pub started: i64,
    pub finished: i64,
    pub state: RunState,
    pub exit_code: i64,
    pub pid: u32,
    /// Last octets of its bridge address (172.17.x.y).
    pub ip_host: u16,
}

impl Container {
    pub fn is_running(&self) -> bool {
        matches!(self.state, RunState::Running | RunState::Paused)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.labels[i].1.as_str())
    }

    /// `Path` of the inspect object: the first word of the command.
    pub fn path(&self) -> &str {
        self.cmd.first().map(String::as_str).unwrap_or("")
    }

    pub fn args(&self) -> &[String] {
        self.cmd.get(1..).unwrap_or(&[])
    }

    /// An approximation of the heap this container holds, for the
    /// bench's memory accounting of the hollow side.
    pub fn heap_bytes(&self) -> usize {
        let s = |x: &String| x.capacity();
        s(&self.id)
            + s(&self.name)
            + s(&self.image)
            + s(&self.image_id)
            + self.cmd.iter().map(s).sum::<usize>()
            + self.env.iter().map(s).sum::<usize>()
            + self
                .labels
                .iter()
                .map(|(k, v)| s(k) + s(v) + 48)
                .sum::<usize>()
            + s(&self.network_mode)
            + self.exposed_ports.iter().map(s).sum::<usize>()
            + std::mem::size_of::<Self>()
    }
}

/// Checks a container name the way dockerd does.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    let rest: Vec<char> = chars.collect();
    !rest.is_empty()
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A dockerd-style generated name (`adjective_surname`).
pub fn generated_name(seed: u64) -> String {
    const LEFT: &[&str] = &[
        "admiring",
        "brave",
        "clever",
        "dazzling",
        "eager",
        "focused",
        "gallant",
        "happy",
        "jolly",
        "keen",
        "lucid",
        "modest",
        "nifty",
        "optimistic",
        "quirky",
        "serene",
    ];
    const RIGHT: &[&str] = &[
        "albattani",
        "babbage",
        "curie",
        "darwin",
        "euclid",
        "fermi",
        "goldberg",
        "hopper",
        "lovelace",
        "mccarthy",
        "noether",
        "pike",
        "ritchie",
        "shannon",
        "turing",
        "wozniak",
    ];
    let l = LEFT[(seed % LEFT.len() as u64) as usize];
    let r = RIGHT[((seed / LEFT.len() as u64) % RIGHT.len() as u64) as usize];
    format!("{l}_{r}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("web-1"));
        assert!(valid_name("a.b_c"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-web"));
        assert!(!valid_name("we b"));
        assert!(!valid_name(""));
        let n = generated_name(17);
        assert!(valid_name(&n), "{n}");
        assert_ne!(generated_name(1), generated_name(2));
    }
}
