//! `[from:to]` ranges in `nodes://` and `file://` entries.
//!
//! One inclusive numeric range per entry, anywhere in it:
//! `10.0.0.[10:200]:2375`, `host:[2375:2380]`. Brackets whose content is not
//! `digits:digits` (an IPv6 host such as `[::1]:2375`) are left alone.

use crate::DiscoveryError;

/// Largest number of addresses one range may expand to.
pub const MAX_RANGE_LEN: u64 = 65_536;

/// Expands the first numeric range in `entry`, or returns the entry alone.
pub fn expand(entry: &str) -> Result<Vec<String>, DiscoveryError> {
    let bad = |reason: String| DiscoveryError::InvalidRange {
        entry: entry.to_string(),
        reason,
    };
    let mut search_from = 0;
    while let Some(open) = entry[search_from..].find('[').map(|i| i + search_from) {
        let Some(close) = entry[open..].find(']').map(|i| i + open) else {
            break;
        };
        let inner = &entry[open + 1..close];
        search_from = open + 1;
        let Some((from, to)) = inner.split_once(':') else {
            continue;
        };
        let numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        if !numeric(from) || !numeric(to) {
            continue;
        }
        let from: u64 = from
            .parse()
            .map_err(|_| bad(format!("[{inner}] is too large")))?;
        let to: u64 = to
            .parse()
            .map_err(|_| bad(format!("[{inner}] is too large")))?;
        if from > to {
            return Err(bad(format!(
                "[{inner}] counts down: {from} is greater than {to}"
            )));
        }
        if to - from + 1 > MAX_RANGE_LEN {
            return Err(bad(format!(
                "[{inner}] holds more than {MAX_RANGE_LEN} values"
            )));
        }
        let (head, tail) = (&entry[..open], &entry[close + 1..]);
        return Ok((from..=to).map(|n| format!("{head}{n}{tail}")).collect());
    }
    Ok(vec![entry.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_a_range_anywhere() {
        assert_eq!(
            expand("10.0.0.[1:3]:2375").unwrap(),
            ["10.0.0.1:2375", "10.0.0.2:2375", "10.0.0.3:2375"]
        );
        assert_eq!(
            expand("host:[2375:2376]").unwrap(),
            ["host:2375", "host:2376"]
        );
        assert_eq!(expand("[1:2]x").unwrap(), ["1x", "2x"]);
        assert_eq!(expand("h:[7:7]").unwrap(), ["h:7"]);
    }

    #[test]
    fn leaves_plain_and_ipv6_entries_alone() {
        assert_eq!(expand("a:1").unwrap(), ["a:1"]);
        assert_eq!(expand("[::1]:2375").unwrap(), ["[::1]:2375"]);
        assert_eq!(expand("[::1]:[1:2]").unwrap(), ["[::1]:1", "[::1]:2"]);
    }

    #[test]
    fn only_the_first_range_is_expanded() {
        assert_eq!(
            expand("10.0.[1:2].[3:4]:1").unwrap(),
            ["10.0.1.[3:4]:1", "10.0.2.[3:4]:1"]
        );
    }

    #[test]
    fn refuses_backwards_and_huge_ranges() {
        let err = expand("h:[5:1]").unwrap_err().to_string();
        assert!(err.contains("[5:1]") && err.contains("greater"), "{err}");
        let err = expand("h:[0:99999999]").unwrap_err().to_string();
        assert!(err.contains("more than"), "{err}");
        assert!(expand("h:[1:99999999999999999999999]").is_err());
    }
}
