use std::fs;
use std::path::{Path, PathBuf};

use crate::config::MachineConfig;
use crate::error::{io_at, MachineError, Result};

/// The machine store: one folder per machine under its root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// `$SHOAL_MACHINE_STORAGE_PATH`, else `~/.shoal/machine`.
    pub fn from_env() -> Self {
        let root = std::env::var_os("SHOAL_MACHINE_STORAGE_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| "/root".into());
                home.join(".shoal").join("machine")
            });
        Store::at(root)
    }

    pub fn at(root: impl Into<PathBuf>) -> Self {
        let root: PathBuf = root.into();
        // An absolute root keeps machine ids stable whatever the cwd.
        let root = std::path::absolute(&root).unwrap_or(root);
        Store { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn config_path(&self, name: &str) -> PathBuf {
        self.dir(name).join("config.json")
    }

    pub fn exists(&self, name: &str) -> bool {
        self.dir(name).exists()
    }

    pub fn load(&self, name: &str) -> Result<MachineConfig> {
        let path = self.config_path(name);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(MachineError::NotFound(name.to_string()))
            }
            Err(e) => return Err(io_at(&path)(e)),
        };
        serde_json::from_slice(&text).map_err(|source| MachineError::Json { path, source })
    }

    /// Writes the config atomically (temp file, then rename).
    pub fn save(&self, cfg: &MachineConfig) -> Result<()> {
        let dir = self.dir(&cfg.name);
        fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let tmp = dir.join("config.json.tmp");
        let text = serde_json::to_vec_pretty(cfg).expect("config serializes");
        fs::write(&tmp, text).map_err(io_at(&tmp))?;
        let path = self.config_path(&cfg.name);
        fs::rename(&tmp, &path).map_err(io_at(&path))
    }

    /// Names of the machine folders, sorted (folders without a readable
    /// config are listed too: they are half-made machines `rm` can remove).
    pub fn names(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io_at(&self.root)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| crate::config::validate_name(n).is_ok())
            // the store's CA and client certificate (`certs.rs`)
            .filter(|n| n != "certs")
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        let dir = self.dir(name);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_at(&dir)(e)),
            _ => Ok(()),
        }
    }
}
