//! Processes the machine started: liveness that survives pid reuse, and a
//! polite stop (SIGTERM, wait, then SIGKILL).

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Reads a pid file; `None` when missing or garbled.
pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

/// True when `pid` runs, is not a zombie, and its command line contains
/// `marker` (so a recycled pid is never mistaken for our process).
pub fn alive(pid: i32, marker: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    if !cmdline.contains(marker) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn gone(pid: i32, marker: &str) -> bool {
    !alive(pid, marker)
}

/// Sends SIGTERM, waits up to `grace`, then SIGKILL and waits again.
/// Returns true when the process is gone.
pub fn terminate(pid: i32, marker: &str, grace: Duration) -> bool {
    if gone(pid, marker) {
        return true;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    if wait_gone(pid, marker, grace) {
        return true;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    wait_gone(pid, marker, Duration::from_secs(5))
}

/// SIGKILL for processes we own and that hold nothing worth a clean stop.
pub fn kill_now(pid: i32) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

pub fn wait_gone(pid: i32, marker: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        if gone(pid, marker) {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_checks_the_command_line() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // posix_spawn may return before the child's exec is visible in /proc
        let seen = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            alive(pid, "sleep")
        });
        assert!(seen, "a running sleep must be seen alive");
        assert!(
            !alive(pid, "dockerd"),
            "a recycled pid must not pass for our engine"
        );
        assert!(
            terminate(pid, "sleep", Duration::from_secs(2)) || {
                // our own child is a zombie until reaped, which counts as gone
                child.try_wait().unwrap().is_some()
            }
        );
        child.wait().unwrap();
        assert!(!alive(pid, "sleep"));
    }

    #[test]
    fn pid_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        assert_eq!(read_pid(&p), None);
        std::fs::write(&p, "1234\n").unwrap();
        assert_eq!(read_pid(&p), Some(1234));
        std::fs::write(&p, "garbage").unwrap();
        assert_eq!(read_pid(&p), None);
    }
}
