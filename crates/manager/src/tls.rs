//! TLS for the manager's clients, as Docker serves it:
//!
//! - `--tlsverify`: TLS, and every client must present a certificate
//!   signed by `--tlscacert` (rustls' WebPKI client verifier);
//! - `--tls` alone: server TLS only, no client certificate asked.
//!
//! TCP listeners get TLS; unix sockets stay plain (dockerd does the same).
//! A plain HTTP request on a TLS port is answered 400 with Go's wording, so
//! a docker CLI without TLS settings says why it was refused.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
pub use rustls::ServerConfig;
use shoal_engine::tls::{provider, read_certs, read_key, read_roots, TlsError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::server::Listener;

/// How long a client has to send its first bytes and finish the handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The server side: `cert`/`key` served; with `verify`, clients need a
/// certificate signed by `ca`.
pub fn server_config(
    ca: Option<&Path>,
    cert: &Path,
    key: &Path,
    verify: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certs(cert)?;
    let private = read_key(key)?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Ca {
            path: cert.to_path_buf(),
            detail: e.to_string(),
        })?;
    let builder = match (verify, ca) {
        (true, Some(ca)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(read_roots(ca)?, provider)
                .build()
                .map_err(|e| TlsError::Ca {
                    path: ca.to_path_buf(),
                    detail: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::KeyPair {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            detail: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl Listener {
    /// Serves TLS with `config` on a TCP listener; a unix socket stays plain.
    pub fn with_tls(self, config: Arc<ServerConfig>) -> Self {
        match self {
            Listener::Tcp(l) => Listener::Tls(l, TlsAcceptor::from(config)),
            other => other,
        }
    }
}

/// The TLS side of one accepted connection; None when the client speaks
/// plain HTTP (answered 400), fails the handshake (no or a foreign
/// certificate) or says nothing in time.
pub(crate) async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
) -> Option<TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return None,
    }
    // a TLS handshake record starts with 0x16; anything else is plain text
    if first[0] != 0x16 {
        let mut stream = stream;
        let body = r#"{"message":"Client sent an HTTP request to an HTTPS server."}"#;
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tokio::time::timeout(HANDSHAKE, stream.write_all(answer.as_bytes())).await;
        let _ = stream.shutdown().await;
        return None;
    }
    match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!("TLS handshake refused: {e}");
            None
        }
        Err(_) => None,
    }
}
