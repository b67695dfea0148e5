//! The lab: what every machine on this box shares, whatever store it is in.
//! One bridge (`shoal0`, 10.210.0.1/16) joins all machines and the root
//! namespace; addresses are handed out under an exclusive lock, one file per
//! address naming its owner. The bridge goes with the last address.

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{io_at, MachineError, Result};
use crate::exec::System;

pub const BRIDGE: &str = "shoal0";
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 210, 0, 1);
pub const PREFIX_LEN: u8 = 16;
pub const SUBNET: &str = "10.210.0.0/16";

/// The lab folder and, while this value lives, its exclusive lock.
pub struct Lab {
    root: PathBuf,
    _lock: Flock<File>,
}

/// `/run/shoal` unless `$SHOAL_LAB_DIR` says otherwise (tests of the
/// bookkeeping only: the bridge is shared regardless).
pub fn default_root() -> PathBuf {
    std::env::var_os("SHOAL_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/run/shoal".into())
}

impl Lab {
    /// Opens the lab and waits for its lock.
    pub fn lock(root: &Path) -> Result<Lab> {
        for sub in ["ips", "ns", "exec"] {
            let d = root.join(sub);
            fs::create_dir_all(&d).map_err(io_at(&d))?;
        }
        let path = root.join("lock");
        let file = File::create(&path).map_err(io_at(&path))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io_at(&path)(std::io::Error::from(errno)))?;
        Ok(Lab {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Folder for a machine's persistent UTS and mount namespace files.
    pub fn ns_dir(&self, id: &str) -> PathBuf {
        self.root.join("ns").join(id)
    }

    /// A machine engine's exec root (short: unix socket paths are limited).
    pub fn exec_root(&self, id: &str) -> PathBuf {
        self.root.join("exec").join(id)
    }

    /// Creates the bridge and its forwarding rule when missing (idempotent).
    pub fn ensure_bridge(&self, sys: &dyn System) -> Result<()> {
        if !Path::new("/sys/class/net").join(BRIDGE).exists() {
            sys.run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
            let addr = format!("{GATEWAY}/{PREFIX_LEN}");
            sys.run("ip", &["addr", "add", &addr, "dev", BRIDGE])?;
        }
        sys.run("ip", &["link", "set", BRIDGE, "up"])?;
        // Trap: once br_netfilter is loaded with a DROP forward policy (any
        // dockerd in the root namespace does that), bridged traffic between
        // machines is dropped. Accept forwarding within the lab bridge.
        let rule = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"];
        if sys.run("iptables", &[&["-C"], &rule[..]].concat()).is_err() {
            sys.run("iptables", &[&["-I"], &rule[..]].concat())?;
        }
        Ok(())
    }

    /// Removes the bridge, its rule and the private mount of the namespace
    /// folder when no address is allocated: the last machine leaves nothing.
    pub fn teardown_if_unused(&self, sys: &dyn System) -> Result<bool> {
        if !self.allocations()?.is_empty() {
            return Ok(false);
        }
        let ns_root = self.root.join("ns");
        if crate::namespaces::is_mount_point(&ns_root) {
            sys.run("umount", &[&ns_root.to_string_lossy()])?;
        }
        let rule = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"];
        while sys.run("iptables", &[&["-C"], &rule[..]].concat()).is_ok() {
            sys.run("iptables", &[&["-D"], &rule[..]].concat())?;
        }
        if Path::new("/sys/class/net").join(BRIDGE).exists() {
            sys.run("ip", &["link", "del", BRIDGE])?;
        }
        Ok(true)
    }

    /// (address, owner) for every allocation.
    pub fn allocations(&self) -> Result<Vec<(Ipv4Addr, String)>> {
        let dir = self.root.join("ips");
        let mut out = vec![];
        for entry in fs::read_dir(&dir).map_err(io_at(&dir))?.flatten() {
            let Some(ip) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let owner = fs::read_to_string(entry.path()).unwrap_or_default();
            out.push((ip, owner.trim().to_string()));
        }
        out.sort();
        Ok(out)
    }

    /// Allocates an address for `owner` (a machine folder). `preferred` is
    /// kept when free or already ours. An allocation whose owner folder is
    /// gone (a machine whose store was deleted by hand) is reclaimed.
    pub fn allocate(&self, owner: &str, preferred: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        let taken = self.allocations()?;
        let holder = |ip: Ipv4Addr| {
            taken
                .iter()
                .find(|(a, _)| *a == ip)
                .map(|(_, o)| o.as_str())
        };
        let usable = |ip: Ipv4Addr| match holder(ip) {
            None => true,
            Some(o) if o == owner => true,
            Some(o) => !Path::new(o).join("config.json").exists(),
        };
        let base = u32::from(GATEWAY) & !((1u32 << (32 - PREFIX_LEN)) - 1);
        let size = 1u32 << (32 - PREFIX_LEN);
        let candidates = preferred
            .into_iter()
            .chain((2..size - 1).map(|i| Ipv4Addr::from(base + i)));
        for ip in candidates {
            if ip != GATEWAY && u32::from(ip) & !(size - 1) == base && usable(ip) {
                let path = self.root.join("ips").join(ip.to_string());
                fs::write(&path, owner).map_err(io_at(&path))?;
                return Ok(ip);
            }
        }
        Err(MachineError::SubnetFull(SUBNET.into()))
    }

    /// Releases `ip` if `owner` holds it.
    pub fn release(&self, ip: &str, owner: &str) -> Result<()> {
        let path = self.root.join("ips").join(ip);
        match fs::read_to_string(&path) {
            Ok(o) if o.trim() == owner => fs::remove_file(&path).map_err(io_at(&path)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_exclusive_sticky_and_reclaims_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::lock(dir.path()).unwrap();
        let owner_a = dir.path().join("store/a");
        let owner_b = dir.path().join("store/b");
        fs::create_dir_all(&owner_a).unwrap();
        fs::create_dir_all(&owner_b).unwrap();
        fs::write(owner_a.join("config.json"), "{}").unwrap();
        fs::write(owner_b.join("config.json"), "{}").unwrap();
        let (a, b) = (owner_a.to_str().unwrap(), owner_b.to_str().unwrap());

        let ip_a = lab.allocate(a, None).unwrap();
        assert_eq!(ip_a, Ipv4Addr::new(10, 210, 0, 2));
        let ip_b = lab.allocate(b, None).unwrap();
        assert_eq!(ip_b, Ipv4Addr::new(10, 210, 0, 3));
        // b asks for a's address: refused, gets another one.
        assert_ne!(lab.allocate(b, Some(ip_a)).unwrap(), ip_a);
        // a asks again for its own: kept.
        assert_eq!(lab.allocate(a, Some(ip_a)).unwrap(), ip_a);
        // a's folder disappears: its address may be reclaimed.
        fs::remove_dir_all(&owner_a).unwrap();
        assert_eq!(lab.allocate(b, Some(ip_a)).unwrap(), ip_a);
        // release only by the holder
        lab.release(&ip_a.to_string(), a).unwrap();
        assert!(lab.allocations().unwrap().iter().any(|(ip, _)| *ip == ip_a));
        lab.release(&ip_a.to_string(), b).unwrap();
        assert!(!lab.allocations().unwrap().iter().any(|(ip, _)| *ip == ip_a));
    }

    #[test]
    fn bridge_teardown_waits_for_the_last_address() {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::lock(dir.path()).unwrap();
        let sys = crate::exec::fake::RecordingSystem::default();
        lab.allocate("/nowhere/a", None).unwrap();
        assert!(!lab.teardown_if_unused(&sys).unwrap());
        assert!(sys.calls.borrow().is_empty());
        lab.release("10.210.0.2", "/nowhere/a").unwrap();
        // The fake answers `iptables -C` with success once, then it must delete.
        let sys = crate::exec::fake::RecordingSystem {
            failing: vec!["iptables -C".into()],
            ..Default::default()
        };
        assert!(lab.teardown_if_unused(&sys).unwrap());
        assert_eq!(
            sys.calls.borrow()[0],
            "iptables -C FORWARD -i shoal0 -o shoal0 -j ACCEPT"
        );
    }
}
