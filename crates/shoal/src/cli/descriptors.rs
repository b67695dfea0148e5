//! The process's open-file limit, raised as far as it may go.
//!
//! A manager holds one event stream per engine and keeps connections to
//! them besides; the usual soft limit (1,024) is far below what thousands
//! of engines need, while the hard limit usually is not. Like Go programs
//! (and so classic Swarm), the soft limit is raised to the hard one.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft open-file limit to the hard one; the soft limit in
/// force after.
pub fn raise_open_file_limit() -> nix::Result<usize> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= hard {
        return Ok(clamp(soft));
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => Ok(clamp(hard)),
        // not allowed (a sandbox): keep what there is
        Err(_) => Ok(clamp(soft)),
    }
}

fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let limit = raise_open_file_limit().expect("getrlimit");
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert_eq!(soft, hard);
        assert_eq!(limit as u64, soft);
    }
}
