//! Name resolution across hosts: a small DNS responder in the agent, on
//! each network's gateway address (on the bridge of every host). Docker's
//! embedded DNS (127.0.0.11 in the container) answers names of local
//! endpoints itself and forwards the rest to the container's `--dns`
//! servers; with `--dns <gateway>` those questions reach this responder,
//! which answers A queries for `name` and `name.<anything>` from the names
//! the agents published in the store.
//!
//! Hand-written: only single-question A/AAAA queries are answered, which
//! is a few dozen lines of the DNS wire format; a full DNS library would
//! bring far more than that.

use std::net::Ipv4Addr;
use std::sync::Arc;

use tokio::net::UdpSocket;

use crate::NetError;

/// One parsed question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: u16,
    /// Lower-case, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    /// The question section as received (echoed in the answer).
    raw: Vec<u8>,
    recursion_desired: bool,
}

pub const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;

/// Parses a query with exactly one question; None for anything else.
pub fn parse_query(packet: &[u8]) -> Option<Question> {
    if packet.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    let is_query = flags & 0x8000 == 0;
    let qdcount = u16::from_be_bytes([packet[4], packet[5]]);
    if !is_query || qdcount != 1 {
        return None;
    }
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *packet.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // no compression in questions
        }
        let label = packet.get(pos..pos + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*packet.get(pos)?, *packet.get(pos + 1)?]);
    let qclass = u16::from_be_bytes([*packet.get(pos + 2)?, *packet.get(pos + 3)?]);
    if qclass != CLASS_IN {
        return None;
    }
    Some(Question {
        id,
        name: labels.join("."),
        qtype,
        raw: packet[12..pos + 4].to_vec(),
        recursion_desired: flags & 0x0100 != 0,
    })
}

/// The response to `q`: an A record when `ip` is known and an A was asked,
/// NOERROR without answers for other types of a known name, NXDOMAIN
/// otherwise.
pub fn answer(q: &Question, ip: Option<Ipv4Addr>, ttl: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&q.id.to_be_bytes());
    // QR, AA, RD echoed, RA; RCODE 3 (NXDOMAIN) when unknown.
    let mut flags: u16 = 0x8400 | 0x0080;
    if q.recursion_desired {
        flags |= 0x0100;
    }
    if ip.is_none() {
        flags |= 3;
    }
    let answers: u16 = if ip.is_some() && q.qtype == TYPE_A {
        1
    } else {
        0
    };
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&answers.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&q.raw);
    if let (Some(ip), 1) = (ip, answers) {
        out.extend_from_slice(&[0xc0, 12]); // pointer to the question name
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// Looks names up (the agent, reading the store).
#[async_trait::async_trait]
pub trait Resolve: Send + Sync + 'static {
    async fn resolve(&self, name: &str) -> Option<Ipv4Addr>;
}

/// Answers queries on `socket` until the task ends.
pub async fn serve(socket: UdpSocket, resolver: Arc<dyn Resolve>) -> Result<(), NetError> {
    let socket = Arc::new(socket);
    let mut buf = vec![0u8; 1500];
    loop {
        let (n, peer) = socket
            .recv_from(&mut buf)
            .await
            .map_err(|e| NetError::io("dns socket", e))?;
        let Some(q) = parse_query(&buf[..n]) else {
            continue;
        };
        let socket = socket.clone();
        let resolver = resolver.clone();
        tokio::spawn(async move {
            let ip = resolver.resolve(&q.name).await;
            tracing::debug!("dns {} -> {ip:?}", q.name);
            let _ = socket.send_to(&answer(&q, ip, 5), peer).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            p.push(l.len() as u8);
            p.extend_from_slice(l.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
        p
    }

    #[test]
    fn a_query_gets_an_answer() {
        let q = parse_query(&query("Web1.Shoal", TYPE_A)).unwrap();
        assert_eq!(q.name, "web1.shoal");
        assert_eq!(q.id, 0x1234);
        let a = answer(&q, Some(Ipv4Addr::new(10, 1, 2, 3)), 5);
        assert_eq!(&a[0..2], &[0x12, 0x34]);
        assert_eq!(a[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1, "one answer");
        assert_eq!(&a[a.len() - 4..], &[10, 1, 2, 3]);
    }

    #[test]
    fn unknown_names_are_nxdomain_and_junk_is_ignored() {
        let q = parse_query(&query("nothere", TYPE_A)).unwrap();
        let a = answer(&q, None, 5);
        assert_eq!(a[3] & 0x0f, 3);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 0);
        let q6 = parse_query(&query("web1", 28)).unwrap();
        let a6 = answer(&q6, Some(Ipv4Addr::new(10, 1, 2, 3)), 5);
        assert_eq!(a6[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([a6[6], a6[7]]), 0);
        assert!(parse_query(&[1, 2, 3]).is_none());
        let mut response = query("x", TYPE_A);
        response[2] |= 0x80;
        assert!(parse_query(&response).is_none());
    }
}
