//! The local `busybox:latest` image every engine gets (no registry is
//! reachable): a rootfs of Debian's busybox-static with a link per applet,
//! imported with `CMD ["sh"]` (without it `docker run -itd busybox` fails
//! with "No command specified").

use std::path::Path;
use std::process::Command;

use crate::error::{MachineError, Result};

const BUSYBOX: &str = "/bin/busybox";

/// Builds the image's rootfs as an in-memory tar.
pub fn rootfs_tar() -> Result<Vec<u8>> {
    let missing = || MachineError::MissingBinary {
        binary: "busybox",
        package: "busybox-static",
    };
    if !Path::new(BUSYBOX).exists() {
        return Err(missing());
    }
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .map_err(|_| missing())?;
    let applets = String::from_utf8_lossy(&list.stdout).to_string();
    let binary = std::fs::read(BUSYBOX).map_err(crate::error::io_at(BUSYBOX))?;

    let mut tar = tar::Builder::new(Vec::new());
    let dir = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        tar.append_data(&mut h, path, std::io::empty())
    };
    let file = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, path, data)
    };
    let io = |e: std::io::Error| MachineError::Engine {
        what: "busybox image".into(),
        message: e.to_string(),
    };
    for (d, mode) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("root", 0o700),
        ("tmp", 0o1777),
        ("var", 0o755),
    ] {
        dir(&mut tar, d, mode).map_err(io)?;
    }
    for d in [
        "proc", "sys", "dev", "home", "usr", "usr/bin", "sbin", "usr/sbin", "var/www",
    ] {
        dir(&mut tar, d, 0o755).map_err(io)?;
    }
    file(&mut tar, "bin/busybox", 0o755, &binary).map_err(io)?;
    for applet in applets.split_whitespace().filter(|a| *a != "busybox") {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .map_err(io)?;
    }
    file(
        &mut tar,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )
    .map_err(io)?;
    file(
        &mut tar,
        "etc/group",
        0o644,
        b"root:x:0:\nnogroup:x:65534:\n",
    )
    .map_err(io)?;
    tar.into_inner().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_has_busybox_and_its_applets() {
        if !Path::new(BUSYBOX).exists() {
            panic!(
                "busybox-static is required for the machine tests (apt-get install busybox-static)"
            );
        }
        let tar = rootfs_tar().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
            .collect();
        for must in [
            "bin/busybox",
            "bin/sh",
            "bin/ping",
            "bin/ip",
            "bin/sleep",
            "bin/nc",
            "etc/passwd",
            "tmp",
        ] {
            assert!(
                names.iter().any(|n| n.trim_end_matches('/') == must),
                "{must} missing from the rootfs"
            );
        }
    }
}
