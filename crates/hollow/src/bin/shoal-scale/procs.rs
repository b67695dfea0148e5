//! Child processes (hollow fleets, the manager, perf) stopped by PID when
//! dropped, and what /proc says about a process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A child process, sent `signal` (then SIGKILL after a grace time) when
/// dropped.
pub struct Guard {
    pub name: String,
    pub child: Child,
    pub signal: Signal,
}

impl Guard {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process now (idempotent).
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, self.signal);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "{} did not stop on {:?}: killing it",
            self.name, self.signal
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// mimalloc setting of the hollow processes (unless this process's
/// environment sets it): never give freed memory back to the kernel. By
/// default mimalloc returns pages unused for a second, and the fill's
/// connections and answers fault them back in, 2 MiB huge pages zeroed
/// each time: page faults were 7.7 % of the hollow processes' samples in a
/// 10,000-node fill, 2.9 % without the returns (memory really added).
/// Their memory only grows to its peak instead (RSS at the end of a 60 s
/// fill 0.91 GiB instead of 0.77-0.84).
const HOLLOW_PURGE_DELAY: (&str, &str) = ("MIMALLOC_PURGE_DELAY", "-1");

/// Starts a hollow fleet and waits for its `ready` line.
pub fn start_hollow(
    bin: &str,
    first: u32,
    count: u32,
    base_port: u16,
    threads: usize,
    log: &std::path::Path,
) -> anyhow::Result<Guard> {
    let err = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = Command::new(bin);
    if std::env::var_os(HOLLOW_PURGE_DELAY.0).is_none() {
        cmd.env(HOLLOW_PURGE_DELAY.0, HOLLOW_PURGE_DELAY.1);
    }
    let mut child = cmd
        .args([
            "--count",
            &count.to_string(),
            "--first",
            &first.to_string(),
            "--base-port",
            &base_port.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    let stdout = child.stdout.take().expect("piped");
    let guard = Guard {
        name: format!("hollow {first}+{count}"),
        child,
        signal: Signal::SIGTERM,
    };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if !line.starts_with("ready") {
        bail!("{bin} did not get ready (see {}): {line:?}", log.display());
    }
    Ok(guard)
}

/// `VmHWM`, `VmRSS` (bytes) of a process.
pub fn memory(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// User + system CPU seconds of a process.
pub fn cpu_seconds(pid: u32, ticks_per_sec: f64) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: fields start after the last ')'.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime 15.
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (num(11) + num(12)) / ticks_per_sec
}

/// Open file descriptors of a process, when the kernel tells them at no
/// cost: Linux 6.2 and later give the count as the size of `/proc/PID/fd`
/// (one `statx`, no listing). `None` on older kernels (size 0) or when the
/// process is gone.
pub fn open_fds_counted(pid: u32) -> Option<usize> {
    std::fs::metadata(format!("/proc/{pid}/fd"))
        .ok()
        .map(|m| m.len() as usize)
        .filter(|n| *n > 0)
}

/// Open file descriptors of a process: the size of `/proc/PID/fd` (see
/// [`open_fds_counted`]), else the entries listed (14,000 of them for the
/// manager at 10,000 nodes: a few milliseconds each time).
pub fn open_fds(pid: u32) -> usize {
    open_fds_counted(pid).unwrap_or_else(|| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    })
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 when unknown.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Asks every fleet for its traffic (SIGUSR1) and sums the answers it
/// writes to its log: (connections accepted, requests answered).
pub fn fleet_traffic(fleets: &[(Guard, std::path::PathBuf)]) -> (u64, u64) {
    let lines_before: Vec<usize> = fleets
        .iter()
        .map(|(_, log)| traffic_lines(log).len())
        .collect();
    for (g, _) in fleets {
        let _ = kill(Pid::from_raw(g.pid() as i32), Signal::SIGUSR1);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut total = (0, 0);
    for ((_, log), before) in fleets.iter().zip(lines_before) {
        loop {
            let lines = traffic_lines(log);
            if lines.len() > before || Instant::now() > deadline {
                if let Some(last) = lines.last() {
                    total.0 += last.0;
                    total.1 += last.1;
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    total
}

fn traffic_lines(log: &std::path::Path) -> Vec<(u64, u64)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("traffic: connections ")?;
            let (c, r) = rest.split_once(" requests ")?;
            Some((c.trim().parse().ok()?, r.trim().parse().ok()?))
        })
        .collect()
}
