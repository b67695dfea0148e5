//! Every external command a machine needs (`ip`, `iptables`, `unshare`,
//! `mount`, ...) goes through [`System`], so the plumbing can be unit tested
//! with a recording fake and run for real in throwaway namespaces.

use std::process::Command;

use crate::error::{MachineError, Result};

pub trait System {
    /// Runs a program to completion; an unsuccessful exit is an error that
    /// carries the command line and its stderr.
    fn run(&self, program: &str, args: &[&str]) -> Result<String>;
}

/// Runs commands on this machine.
pub struct RealSystem;

impl System for RealSystem {
    fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let command = format!("{program} {}", args.join(" "));
        let out = Command::new(program)
            .args(args)
            .output()
            .map_err(|e| MachineError::Command {
                command: command.clone(),
                stderr: e.to_string(),
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(MachineError::Command { command, stderr });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[cfg(test)]
pub mod fake {
    use std::cell::RefCell;

    use super::*;

    /// Records every command; answers from a list of (prefix, output) rules,
    /// and fails commands whose line starts with one of `failing`.
    #[derive(Default)]
    pub struct RecordingSystem {
        pub calls: RefCell<Vec<String>>,
        pub answers: Vec<(String, String)>,
        pub failing: Vec<String>,
    }

    impl System for RecordingSystem {
        fn run(&self, program: &str, args: &[&str]) -> Result<String> {
            let line = format!("{program} {}", args.join(" "));
            self.calls.borrow_mut().push(line.clone());
            if self.failing.iter().any(|f| line.starts_with(f.as_str())) {
                return Err(MachineError::Command {
                    command: line,
                    stderr: "refused by the fake".into(),
                });
            }
            Ok(self
                .answers
                .iter()
                .find(|(p, _)| line.starts_with(p.as_str()))
                .map(|(_, out)| out.clone())
                .unwrap_or_default())
        }
    }
}
