//! The HTTP client shared by the token, etcd and consul backends, with the
//! `kv.cacertfile` / `kv.certfile` / `kv.keyfile` TLS options (rustls).

use std::time::Duration;

use crate::{DiscoveryError, DiscoveryOpts};

/// TLS files named by the options, if any.
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsFiles {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl TlsFiles {
    pub fn from_opts(opts: &DiscoveryOpts) -> Result<Self, DiscoveryError> {
        let get = |k: &str| opts.options.get(k).filter(|v| !v.is_empty()).cloned();
        let files = TlsFiles {
            ca: get("kv.cacertfile"),
            cert: get("kv.certfile"),
            key: get("kv.keyfile"),
        };
        if files.cert.is_some() != files.key.is_some() {
            return Err(DiscoveryError::InvalidOption {
                option: "kv.certfile".into(),
                reason: "kv.certfile and kv.keyfile go together".into(),
            });
        }
        Ok(files)
    }

    pub fn enabled(&self) -> bool {
        self.ca.is_some() || self.cert.is_some()
    }
}

pub(crate) fn read_file(option: &str, path: &str) -> Result<Vec<u8>, DiscoveryError> {
    std::fs::read(path).map_err(|e| DiscoveryError::InvalidOption {
        option: format!("{option}={path}"),
        reason: e.to_string().to_lowercase(),
    })
}

/// A client with the request time limit of `opts` and, when `tls` names
/// files, their CA and client certificate.
pub(crate) fn client(
    opts: &DiscoveryOpts,
    tls: &TlsFiles,
    timeout: Option<Duration>,
) -> Result<reqwest::Client, DiscoveryError> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(opts.request_timeout())
        .use_rustls_tls();
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    if let Some(ca) = &tls.ca {
        let pem = read_file("kv.cacertfile", ca)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            DiscoveryError::InvalidOption {
                option: format!("kv.cacertfile={ca}"),
                reason: e.to_string(),
            }
        })?;
        b = b.tls_built_in_root_certs(false);
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        let mut pem = read_file("kv.certfile", cert)?;
        pem.push(b'\n');
        pem.extend(read_file("kv.keyfile", key)?);
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| DiscoveryError::InvalidOption {
            option: format!("kv.certfile={cert}"),
            reason: e.to_string(),
        })?;
        b = b.identity(id);
    }
    b.build().map_err(|e| DiscoveryError::InvalidOption {
        option: "tls".into(),
        reason: e.to_string(),
    })
}

/// Renders a reqwest error with its causes on one line.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}
