//! TLS to engines, as classic Swarm spoke it: `manage --tlsverify` (or
//! `--tls`) with `--tlscacert`, `--tlscert` and `--tlskey` also makes the
//! manager talk TLS to every engine, presenting that certificate. With
//! `--tlsverify` an engine's certificate must be signed by the CA and name
//! the address the manager dials; with `--tls` alone it is not checked
//! (Docker's `--tls` without verification).
//!
//! Also the PEM reading the manager's server side shares.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;

/// A certificate, key or CA file that cannot be used, naming it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path}: no certificate in it")]
    NoCertificate { path: PathBuf },
    #[error("{cert} and {key}: {detail}")]
    KeyPair {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
    #[error("{path}: {detail}")]
    Ca { path: PathBuf, detail: String },
}

/// The one crypto provider of every TLS configuration (ring, as the rest
/// of the workspace), so no process-wide default is needed.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_err(path: &Path, e: impl fmt::Display) -> TlsError {
    let detail = match e.to_string() {
        d if d.contains("No such file") => "no such file".to_string(),
        d => d,
    };
    TlsError::Read {
        path: path.to_path_buf(),
        detail,
    }
}

/// The certificates of a PEM file (a chain: the leaf first).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_err(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| read_err(path, e))
}

/// Trust anchors: every certificate of a CA file.
pub fn read_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in read_certs(path)? {
        roots.add(c).map_err(|e| TlsError::Ca {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    }
    Ok(Arc::new(roots))
}

/// How the manager connects to engines over TLS. Cheap to clone.
#[derive(Clone)]
pub struct ClientTls {
    connector: tokio_rustls::TlsConnector,
    verify: bool,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("verify", &self.verify)
            .finish()
    }
}

impl ClientTls {
    /// Presents `cert`/`key` to engines; with `ca`, engines' certificates
    /// are verified against it, without, they are not checked.
    pub fn from_files(ca: Option<&Path>, cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let chain = read_certs(cert)?;
        let private = read_key(key)?;
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Ca {
                path: cert.to_path_buf(),
                detail: e.to_string(),
            })?;
        let builder = match ca {
            Some(ca) => builder.with_root_certificates(read_roots(ca)?),
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider))),
        };
        let config =
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| TlsError::KeyPair {
                    cert: cert.to_path_buf(),
                    key: key.to_path_buf(),
                    detail: e.to_string(),
                })?;
        Ok(ClientTls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            verify: ca.is_some(),
        })
    }

    /// Whether engines' certificates are verified.
    pub fn verifies(&self) -> bool {
        self.verify
    }

    /// The TLS handshake on a connected stream; `host` is the name or IP
    /// the engine's certificate must carry.
    pub async fn connect(
        &self,
        stream: TcpStream,
        host: &str,
    ) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host:?}: {e}")))?;
        self.connector.connect(name, stream).await
    }
}

/// `--tls` without `--tlsverify`: any engine certificate is accepted (the
/// handshake's signatures are still checked), as Docker's client does.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_bad_files_are_one_line_errors() {
        let dir = std::env::temp_dir().join(format!("shoal-engine-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("nope.pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for (err, needle) in [
            (
                ClientTls::from_files(None, &missing, &missing).unwrap_err(),
                "nope.pem: no such file",
            ),
            (
                ClientTls::from_files(None, &empty, &empty).unwrap_err(),
                "empty.pem: no certificate in it",
            ),
            (read_roots(&missing).unwrap_err(), "nope.pem"),
            (read_key(&empty).map(|_| ()).unwrap_err(), "empty.pem"),
        ] {
            let text = err.to_string();
            assert!(text.contains(needle), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
