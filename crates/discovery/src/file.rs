//! `file:///path`: one address a line, re-read every heartbeat.
//!
//! Blank lines are skipped; `#` starts a comment, on a line of its own or
//! after an address. Each entry may hold one `[from:to]` range.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::{addr, ranges, validate_addr, watch, Discovery, DiscoveryError, Watch};

/// Nodes listed in a file.
#[derive(Clone, Debug)]
pub struct FileDiscovery {
    path: Arc<PathBuf>,
}

impl FileDiscovery {
    /// A backend reading `path` at every fetch. The file need not exist yet.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileDiscovery {
            path: Arc::new(path.into()),
        }
    }

    /// The file this backend reads.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Parses the text of a discovery file into addresses.
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<String>, DiscoveryError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at_line = |e: DiscoveryError| DiscoveryError::File {
            path: path.to_path_buf(),
            reason: format!("line {}: {e}", n + 1),
        };
        for a in ranges::expand(line).map_err(at_line)? {
            validate_addr(&a).map_err(at_line)?;
            out.push(a);
        }
    }
    Ok(addr::dedup(out))
}

#[async_trait::async_trait]
impl Discovery for FileDiscovery {
    fn scheme(&self) -> &'static str {
        "file"
    }

    async fn fetch(&self) -> Result<Vec<String>, DiscoveryError> {
        let text =
            tokio::fs::read_to_string(&*self.path)
                .await
                .map_err(|e| DiscoveryError::File {
                    path: self.path.to_path_buf(),
                    reason: e.to_string().to_lowercase(),
                })?;
        parse_file(&self.path, &text)
    }

    fn watch(&self, heartbeat: Duration) -> Watch {
        let me = self.clone();
        watch::poll(heartbeat, move || {
            let me = me.clone();
            async move { me.fetch().await }
        })
    }

    async fn register(&self, _addr: &str, _ttl: Duration) -> Result<(), DiscoveryError> {
        Err(DiscoveryError::Unsupported {
            backend: "file",
            operation: "register (edit the file instead)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blank_lines_and_ranges() {
        let text = "# nodes\n\n10.0.0.1:2375 # first\n  10.0.0.[2:3]:2375\n#10.0.0.9:1\nh:1#x\n";
        let got = parse_file(Path::new("/f"), text).unwrap();
        assert_eq!(
            got,
            ["10.0.0.1:2375", "10.0.0.2:2375", "10.0.0.3:2375", "h:1"]
        );
    }

    #[test]
    fn a_bad_line_names_the_file_and_line() {
        let err = parse_file(Path::new("/etc/n"), "a:1\nnoport\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/etc/n") && err.contains("line 2") && err.contains("noport"),
            "{err}"
        );
    }
}
