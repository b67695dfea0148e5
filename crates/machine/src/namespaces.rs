//! A machine's namespaces: network (named, under /run/netns, via `ip netns`),
//! UTS (its own hostname) and mount (its own /etc/docker, /etc/resolv.conf,
//! /etc/hosts and /run/docker). The UTS and mount namespaces are kept alive
//! by bind-mounting their nsfs files into the lab, like `ip netns` does for
//! network namespaces, so they outlive any one process.
//!
//! Trap (LAB-NOTES 1): `ip netns exec` remounts /sys and hides the cgroup
//! mounts, which kills dockerd; we enter namespaces with `nsenter` instead.

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::MachineConfig;
use crate::error::{io_at, Result};
use crate::exec::System;
use crate::lab::{Lab, BRIDGE, PREFIX_LEN};

pub struct Namespaces {
    pub netns: String,
    pub uts: PathBuf,
    pub mnt: PathBuf,
    veth: String,
    hostname: String,
    ip: String,
    host_files: PathBuf,
}

/// Files that shadow the box's own inside the machine (mount namespace).
const SHADOWED: [(&str, &str); 4] = [
    ("etc-docker", "/etc/docker"),
    ("resolv.conf", "/etc/resolv.conf"),
    ("hosts", "/etc/hosts"),
    ("run-docker", "/run/docker"),
];

fn mount_points() -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(str::to_string)
        .collect()
}

pub(crate) fn is_mount_point(path: &Path) -> bool {
    let p = path.to_string_lossy();
    mount_points().iter().any(|m| *m == p)
}

/// The MAC address of a machine's `eth0`, derived from its IP address.
/// Addresses are reused after `rm`; with a MAC that follows the address,
/// the neighbour caches of the box and of other machines stay right, where
/// a fresh random MAC would leave them pointing at the old machine for up
/// to a minute (connections to the new one hang meanwhile).
pub fn mac_for(ip: &str) -> String {
    let octets: Vec<u8> = ip.split('.').filter_map(|o| o.parse().ok()).collect();
    let [a, b, c, d] = octets[..] else {
        return "02:5b:00:00:00:00".into();
    };
    format!("02:5b:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

impl Namespaces {
    pub fn of(cfg: &MachineConfig, lab: &Lab, machine_dir: &Path) -> Self {
        Self::at(cfg, lab.ns_dir(&cfg.id), machine_dir)
    }

    pub fn at(cfg: &MachineConfig, ns_dir: PathBuf, machine_dir: &Path) -> Self {
        Namespaces {
            netns: cfg.netns(),
            uts: ns_dir.join("uts"),
            mnt: ns_dir.join("mnt"),
            veth: cfg.veth(),
            hostname: cfg.name.clone(),
            ip: cfg.ip.clone(),
            host_files: machine_dir.join("host"),
        }
    }

    pub fn netns_path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.netns)
    }

    /// All three namespaces are there and usable.
    pub fn exist(&self) -> bool {
        self.netns_path().exists() && is_mount_point(&self.uts) && is_mount_point(&self.mnt)
    }

    /// Any part of them is there (a half-made or half-removed machine).
    pub fn any_exist(&self) -> bool {
        self.netns_path().exists()
            || self.uts.exists()
            || self.mnt.exists()
            || Path::new("/sys/class/net").join(&self.veth).exists()
    }

    /// The command prefix that runs a program inside the machine.
    pub fn enter_args(&self) -> Vec<String> {
        vec![
            "nsenter".into(),
            format!("--net={}", self.netns_path().display()),
            format!("--uts={}", self.uts.display()),
            format!("--mount={}", self.mnt.display()),
            "--".into(),
        ]
    }

    /// Makes the namespaces, the veth leg on the lab bridge and the shadow files.
    pub fn create(&self, sys: &dyn System, lab: &Lab) -> Result<()> {
        self.write_host_files()?;
        // network namespace and its wire
        sys.run("ip", &["netns", "add", &self.netns])?;
        sys.run(
            "ip",
            &[
                "link",
                "add",
                &self.veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "address",
                &mac_for(&self.ip),
                "netns",
                &self.netns,
            ],
        )?;
        sys.run("ip", &["link", "set", &self.veth, "master", BRIDGE, "up"])?;
        // a neighbour entry left by an earlier machine with this address
        let _ = sys.run("ip", &["neigh", "flush", "to", &self.ip, "dev", BRIDGE]);
        let addr = format!("{}/{PREFIX_LEN}", self.ip);
        sys.run(
            "ip",
            &["-n", &self.netns, "addr", "add", &addr, "dev", "eth0"],
        )?;
        sys.run("ip", &["-n", &self.netns, "link", "set", "eth0", "up"])?;
        sys.run("ip", &["-n", &self.netns, "link", "set", "lo", "up"])?;
        // No default route: nothing a machine does can leave the lab (trap 8).

        // UTS and mount namespaces, pinned to files in a private mount
        // (a mount namespace file must not be reachable from inside itself).
        let ns_root = lab.root().join("ns");
        if !is_mount_point(&ns_root) {
            let r = ns_root.to_string_lossy();
            sys.run("mount", &["--bind", &r, &r])?;
            sys.run("mount", &["--make-private", &r])?;
        }
        let dir = self.uts.parent().expect("ns files live in a folder");
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        for f in [&self.uts, &self.mnt] {
            fs::write(f, b"").map_err(io_at(f))?;
        }
        let uts = format!("--uts={}", self.uts.display());
        let mnt = format!("--mount={}", self.mnt.display());
        sys.run("unshare", &[&uts, &mnt, "--propagation", "private", "true"])?;
        sys.run("nsenter", &[&uts, "hostname", &self.hostname])?;
        for (file, target) in SHADOWED {
            if !Path::new(target).exists() {
                fs::create_dir_all(target).map_err(io_at(target))?;
            }
            let src = self.host_files.join(file);
            sys.run(
                "nsenter",
                &[&mnt, "mount", "--bind", &src.to_string_lossy(), target],
            )?;
        }
        Ok(())
    }

    fn write_host_files(&self) -> Result<()> {
        let h = &self.host_files;
        for d in ["etc-docker", "run-docker"] {
            fs::create_dir_all(h.join(d)).map_err(io_at(h.join(d)))?;
        }
        // No resolver outside the lab: a missing image fails at once instead
        // of a registry lookup leaving the box (trap 8).
        let resolv = "# shoal machine: no resolver outside the lab\nnameserver 127.0.0.1\n";
        fs::write(h.join("resolv.conf"), resolv).map_err(io_at(h.join("resolv.conf")))?;
        let hosts = format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost\n{}\t{}\n",
            self.ip, self.hostname
        );
        fs::write(h.join("hosts"), hosts).map_err(io_at(h.join("hosts")))
    }

    /// Pids of every process inside the machine's network namespace.
    pub fn pids(&self, sys: &dyn System) -> Vec<i32> {
        if !self.netns_path().exists() {
            return vec![];
        }
        sys.run("ip", &["netns", "pids", &self.netns])
            .map(|out| {
                out.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes whatever exists of the namespaces; tolerant of missing parts.
    /// Processes inside must have been stopped first.
    pub fn destroy(&self, sys: &dyn System) -> Result<()> {
        for f in [&self.mnt, &self.uts] {
            if is_mount_point(f) {
                sys.run("umount", &[&f.to_string_lossy()])?;
            }
        }
        if let Some(dir) = self.uts.parent() {
            if dir.exists() {
                fs::remove_dir_all(dir).map_err(io_at(dir))?;
            }
        }
        if self.netns_path().exists() {
            sys.run("ip", &["netns", "del", &self.netns])?;
        }
        if Path::new("/sys/class/net").join(&self.veth).exists() {
            sys.run("ip", &["link", "del", &self.veth])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::fake::RecordingSystem;

    #[test]
    fn create_wires_the_machine_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::lock(&dir.path().join("lab")).unwrap();
        let cfg = MachineConfig {
            ..MachineConfig::new("node-1", "0123abcd", "10.210.0.7")
        };
        let ns = Namespaces::of(&cfg, &lab, &dir.path().join("store/node-1"));
        let sys = RecordingSystem::default();
        ns.create(&sys, &lab).unwrap();
        let calls = sys.calls.borrow();
        assert_eq!(calls[0], "ip netns add shoal-node-1-0123abcd");
        assert_eq!(
            calls[1],
            "ip link add shv0123abcd type veth peer name eth0 address 02:5b:0a:d2:00:07 netns shoal-node-1-0123abcd"
        );
        assert_eq!(calls[2], "ip link set shv0123abcd master shoal0 up");
        assert_eq!(calls[3], "ip neigh flush to 10.210.0.7 dev shoal0");
        assert_eq!(
            calls[4],
            "ip -n shoal-node-1-0123abcd addr add 10.210.0.7/16 dev eth0"
        );
        assert!(calls.iter().any(|c| c.ends_with("hostname node-1")));
        assert!(calls
            .iter()
            .any(|c| c.starts_with("unshare --uts=") && c.contains("--propagation private")));
        assert!(calls
            .iter()
            .any(|c| c.contains("mount --bind") && c.ends_with(" /etc/docker")));
        assert!(calls
            .iter()
            .any(|c| c.contains("mount --bind") && c.ends_with(" /etc/resolv.conf")));
        assert!(
            !calls.iter().any(|c| c.contains("route")),
            "a machine gets no route out of the lab"
        );
        let hosts = fs::read_to_string(dir.path().join("store/node-1/host/hosts")).unwrap();
        assert!(hosts.contains("10.210.0.7\tnode-1"));
    }
}
