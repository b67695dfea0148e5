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
    // No ALPN, as dockerd: clients then speak HTTP/1.1.
    let config = builder
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::KeyPair {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            detail: e.to_string(),
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    use rustls::pki_types::ServerName;
    use tokio::io::AsyncReadExt;

    /// A CA and a certificate signed by it, written as PEM files in `dir`:
    /// `<name>-ca.pem`, `<name>.pem`, `<name>-key.pem`.
    fn pki(dir: &Path, name: &str, server: bool) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join(format!("{name}-ca.pem")), ca_cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    }

    /// A server answering `ok` on every connection that `accept` lets through.
    async fn server(config: Arc<ServerConfig>) -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Some(mut s) = accept(&acceptor, s).await {
                        let mut buf = [0u8; 64];
                        let _ = s.read(&mut buf).await;
                        let _ = s.write_all(b"ok").await;
                        let _ = s.shutdown().await;
                    }
                });
            }
        });
        addr
    }

    /// Connects with TLS trusting `ca`, presenting `client` (a name in `dir`)
    /// when given; what the server sent back, or the error.
    async fn client(
        addr: std::net::SocketAddr,
        dir: &Path,
        ca: &str,
        client: Option<&str>,
    ) -> Result<String, String> {
        let b = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(read_roots(&dir.join(ca)).unwrap());
        let config = match client {
            Some(c) => b
                .with_client_auth_cert(
                    read_certs(&dir.join(format!("{c}.pem"))).unwrap(),
                    read_key(&dir.join(format!("{c}-key.pem"))).unwrap(),
                )
                .unwrap(),
            None => b.with_no_client_auth(),
        };
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut s = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(b"hello").await.map_err(|e| e.to_string())?;
        let mut out = String::new();
        s.read_to_string(&mut out)
            .await
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[tokio::test]
    async fn tlsverify_lets_only_clients_of_the_ca_through() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "server", true);
        pki(d, "client", false);
        pki(d, "intruder", false);
        let config = server_config(
            Some(&d.join("client-ca.pem")),
            &d.join("server.pem"),
            &d.join("server-key.pem"),
            true,
        )
        .unwrap();
        let addr = server(config).await;
        assert_eq!(
            client(addr, d, "server-ca.pem", Some("client")).await,
            Ok("ok".to_string())
        );
        let none = client(addr, d, "server-ca.pem", None).await.unwrap_err();
        assert!(none.contains("CertificateRequired"), "{none}");
        let foreign = client(addr, d, "server-ca.pem", Some("intruder"))
            .await
            .unwrap_err();
        assert!(foreign.contains("alert"), "{foreign}");

        // plain HTTP: a JSON 400, as Go's server words it
        let mut plain = TcpStream::connect(addr).await.unwrap();
        plain
            .write_all(b"GET /_ping HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        plain.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(
            answer.ends_with(r#"{"message":"Client sent an HTTP request to an HTTPS server."}"#),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn tls_alone_asks_no_client_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "server", true);
        let config = server_config(
            None,
            &d.join("server.pem"),
            &d.join("server-key.pem"),
            false,
        )
        .unwrap();
        let addr = server(config).await;
        assert_eq!(
            client(addr, d, "server-ca.pem", None).await,
            Ok("ok".to_string())
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "server", true);
        pki(d, "other", true);
        let err = server_config(None, &d.join("server.pem"), &d.join("other-key.pem"), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.pem and"), "{err}");
        assert!(err.contains("other-key.pem"), "{err}");
    }
}
