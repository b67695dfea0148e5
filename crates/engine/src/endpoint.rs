//! Where an engine listens.

use std::path::PathBuf;

use crate::error::EngineError;

/// An engine address: TCP `host:port` or a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Tcp(String),
    Unix(PathBuf),
}

impl Endpoint {
    /// Parses `tcp://h:p`, `http://h:p`, bare `h:p` or `unix:///path`.
    pub fn parse(s: &str) -> Result<Self, EngineError> {
        let bad = || EngineError::BadAddress(s.to_string());
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(bad());
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        let hp = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        let hp = hp.trim_end_matches('/');
        let (host, port) = hp.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) || hp.contains('/') {
            return Err(bad());
        }
        Ok(Endpoint::Tcp(hp.to_string()))
    }

    /// `host:port` or the socket path, as shown to users.
    pub fn display(&self) -> String {
        match self {
            Endpoint::Tcp(hp) => hp.clone(),
            Endpoint::Unix(p) => format!("unix://{}", p.display()),
        }
    }

    /// The host part (an IP for lab engines), empty for unix sockets.
    pub fn host(&self) -> String {
        match self {
            Endpoint::Tcp(hp) => {
                let h = hp.rsplit_once(':').map(|(h, _)| h).unwrap_or(hp);
                h.trim_start_matches('[').trim_end_matches(']').to_string()
            }
            Endpoint::Unix(_) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!(
            Endpoint::parse("tcp://10.0.0.1:2376").unwrap(),
            Endpoint::Tcp("10.0.0.1:2376".into())
        );
        assert_eq!(Endpoint::parse("10.0.0.1:2376").unwrap().host(), "10.0.0.1");
        assert_eq!(
            Endpoint::parse("unix:///run/d.sock").unwrap(),
            Endpoint::Unix("/run/d.sock".into())
        );
        assert!(Endpoint::parse("10.0.0.1").is_err());
        assert!(Endpoint::parse("h:0").is_err());
        assert!(Endpoint::parse("h:99999").is_err());
        assert!(Endpoint::parse("unix://").is_err());
    }
}
