//! `host:port` addresses: the one thing every backend stores.

use crate::DiscoveryError;

/// Checks that `addr` is `host:port` (IPv6 hosts in brackets) with a port in
/// 1-65535, as classic Swarm's `checkAddrFormat` did. Returns the address
/// unchanged on success.
pub fn validate_addr(addr: &str) -> Result<&str, DiscoveryError> {
    let bad = |reason: &str| DiscoveryError::InvalidAddress {
        addr: addr.to_string(),
        reason: reason.to_string(),
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("missing port"))?;
    if host.is_empty() {
        return Err(bad("missing host"));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| bad("unclosed '[' in host"))?;
        if inner.is_empty()
            || !inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(bad("bad ipv6 host"));
        }
    } else if host.contains(':') {
        return Err(bad("too many colons (put an ipv6 host in brackets)"));
    } else if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(bad("host may hold only letters, digits, '.', '-' and '_'"));
    }
    if port.is_empty() {
        return Err(bad("missing port"));
    }
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) && port.chars().all(|c| c.is_ascii_digit()) => Ok(addr),
        _ => Err(bad("port must be a number in 1-65535")),
    }
}

/// Removes repeated addresses, keeping the first occurrence's position.
pub(crate) fn dedup(list: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    list.into_iter()
        .filter(|a| seen.insert(a.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hosts_ips_and_bracketed_ipv6() {
        for ok in [
            "10.0.0.1:2375",
            "node-1.example:1",
            "h_x:65535",
            "[::1]:2375",
            "[fe80::1]:80",
        ] {
            assert_eq!(validate_addr(ok).unwrap(), ok);
        }
    }

    #[test]
    fn refuses_malformed_addresses_naming_the_problem() {
        for (bad, why) in [
            ("10.0.0.1", "missing port"),
            (":2375", "missing host"),
            ("h:", "missing port"),
            ("h:0", "1-65535"),
            ("h:65536", "1-65535"),
            ("h:+80", "1-65535"),
            ("h:x", "1-65535"),
            ("::1:80", "too many colons"),
            ("a b:80", "letters"),
            ("[::1:80", "unclosed"),
        ] {
            let err = validate_addr(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn dedup_keeps_first_positions() {
        let v = dedup(vec!["a:1".into(), "b:1".into(), "a:1".into()]);
        assert_eq!(v, ["a:1", "b:1"]);
    }
}
