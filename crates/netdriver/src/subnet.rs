//! IPv4 subnets: parsing `a.b.c.d/len`, host addresses, the gateway, and
//! the default VNI of a subnet. Hand-written: a few lines of arithmetic, not
//! worth a dependency.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::NetError;

/// An IPv4 network: base address (host bits zero) and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub len: u8,
}

impl FromStr for Subnet {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Self, NetError> {
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| NetError::invalid("subnet", s, "want a.b.c.d/len"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| NetError::invalid("subnet", s, "not an IPv4 address"))?;
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| (8..=30).contains(l))
            .ok_or_else(|| NetError::invalid("subnet", s, "prefix length must be 8 to 30"))?;
        let base = Ipv4Addr::from(u32::from(ip) & mask(len));
        Ok(Subnet { base, len })
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.len)
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

impl Subnet {
    /// The form used inside store keys: `10.1.2.0-24`.
    pub fn key(&self) -> String {
        format!("{}-{}", self.base, self.len)
    }

    pub fn from_key(key: &str) -> Result<Self, NetError> {
        key.replacen('-', "/", 1).parse()
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.len) == u32::from(self.base)
    }

    /// The first host address, the gateway by convention.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1)
    }

    /// Host addresses a container may get: all but the network address, the
    /// gateway and the broadcast address.
    pub fn assignable(&self) -> impl Iterator<Item = Ipv4Addr> {
        let base = u32::from(self.base);
        let size = 1u32 << (32 - self.len);
        (base + 2..base + size - 1).map(Ipv4Addr::from)
    }

    /// `ip/len` as Docker and CNI want addresses.
    pub fn with_len(&self, ip: Ipv4Addr) -> String {
        format!("{ip}/{}", self.len)
    }

    /// The VNI a network on this subnet gets when none is given: a stable
    /// hash into 4096..16777215, so every engine that creates the network
    /// with the same subnet lands on the same segment.
    pub fn default_vni(&self) -> u32 {
        // FNV-1a over the text form.
        let mut h: u32 = 0x811c_9dc5;
        for b in self.to_string().bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        4096 + h % (16_777_215 - 4096)
    }
}

/// Parses `a.b.c.d/len` into the address and the subnet around it.
pub fn parse_cidr_address(s: &str) -> Result<(Ipv4Addr, Subnet), NetError> {
    let subnet: Subnet = s.parse()?;
    let ip: Ipv4Addr = s
        .split('/')
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(|_| NetError::invalid("address", s, "not an IPv4 address"))?;
    Ok((ip, subnet))
}

/// The MAC address of an endpoint: `02:42` and its IPv4 address, as Docker
/// does, so addresses unique in the pool give unique MACs.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(s: &str) -> Result<[u8; 6], NetError> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| NetError::invalid("mac address", s, "want six hex bytes"))?;
    parts
        .try_into()
        .map_err(|_| NetError::invalid("mac address", s, "want six hex bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_hosts() {
        let s: Subnet = "10.1.2.77/24".parse().unwrap();
        assert_eq!(s.to_string(), "10.1.2.0/24");
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 1, 2, 1));
        let hosts: Vec<_> = s.assignable().collect();
        assert_eq!(hosts.len(), 253);
        assert_eq!(hosts[0], Ipv4Addr::new(10, 1, 2, 2));
        assert_eq!(*hosts.last().unwrap(), Ipv4Addr::new(10, 1, 2, 254));
        assert!(s.contains(Ipv4Addr::new(10, 1, 2, 200)));
        assert!(!s.contains(Ipv4Addr::new(10, 1, 3, 1)));
        assert_eq!(Subnet::from_key(&s.key()).unwrap(), s);
    }

    #[test]
    fn bad_subnets_name_the_input() {
        for bad in ["10.1.2.0", "10.1.2.0/33", "x/24", "10.1.2.0/31"] {
            let e = bad.parse::<Subnet>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn vni_is_stable_and_in_range() {
        let a: Subnet = "10.1.2.0/24".parse().unwrap();
        let b: Subnet = "10.1.3.0/24".parse().unwrap();
        assert_eq!(a.default_vni(), a.default_vni());
        assert_ne!(a.default_vni(), b.default_vni());
        assert!((4096..16_777_215).contains(&a.default_vni()));
    }

    #[test]
    fn macs() {
        let m = mac_for(Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(format_mac(&m), "02:42:0a:01:02:03");
        assert_eq!(parse_mac("02:42:0a:01:02:03").unwrap(), m);
        assert!(parse_mac("02:42").is_err());
        let (ip, s) = parse_cidr_address("10.1.2.3/24").unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(s.to_string(), "10.1.2.0/24");
    }
}
