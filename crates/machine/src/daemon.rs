//! A long-running process of a machine (its engine, keystore, agent or
//! manager): started inside the machine's namespaces in its own process
//! group with its output in a log, found again through a pid file checked
//! against its command line, stopped politely.

use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{io_at, log_tail, MachineError, Result};
use crate::namespaces::Namespaces;
use crate::process;

pub struct Daemon {
    pub what: &'static str,
    pub pidfile: PathBuf,
    pub log: PathBuf,
    /// A piece of the command line unique to this machine's process.
    pub marker: String,
    /// Whether we write the pid file (dockerd writes its own).
    pub writes_pidfile: bool,
}

impl Daemon {
    pub fn pid(&self) -> Option<i32> {
        process::read_pid(&self.pidfile).filter(|p| process::alive(*p, &self.marker))
    }

    /// Starts `argv` in the machine and waits until `ready` holds.
    pub fn start(
        &self,
        machine: &str,
        ns: &Namespaces,
        argv: &[String],
        timeout: Duration,
        ready: impl Fn() -> bool,
    ) -> Result<i32> {
        // a stale pid file (checked dead by the caller) must not stop a start
        let _ = fs::remove_file(&self.pidfile);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io_at(&self.log))?;
        let log2 = log.try_clone().map_err(io_at(&self.log))?;
        let enter = ns.enter_args();
        let mut child = Command::new(&enter[0])
            .args(&enter[1..])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(io_at("nsenter"))?;
        let pid = child.id() as i32;
        if self.writes_pidfile {
            fs::write(&self.pidfile, pid.to_string()).map_err(io_at(&self.pidfile))?;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return Ok(pid);
            }
            // our own child: try_wait tells exactly when it is gone
            if child.try_wait().map_or(true, |s| s.is_some()) {
                return Err(MachineError::DiedAtStart {
                    machine: machine.into(),
                    what: self.what,
                    tail: log_tail(&self.log),
                });
            }
            if Instant::now() >= deadline {
                return Err(MachineError::NotReady {
                    machine: machine.into(),
                    what: self.what,
                    secs: timeout.as_secs(),
                    tail: log_tail(&self.log),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. True when gone.
    pub fn stop(&self, grace: Duration) -> bool {
        match process::read_pid(&self.pidfile) {
            Some(pid) => process::terminate(pid, &self.marker, grace),
            None => true,
        }
    }
}
