//! TLS certificates the way docker-machine made them.
//!
//! - One CA per store: `<store>/certs/ca.pem` and `ca-key.pem`, with a
//!   client certificate signed by it (`cert.pem`, `key.pem`): what the
//!   docker CLI presents.
//! - Per machine, in its folder: copies of `ca.pem`, `cert.pem`, `key.pem`
//!   (the folder `DOCKER_CERT_PATH` names) and a server certificate
//!   `server.pem` / `server-key.pem` whose SANs are the machine's IP, its
//!   name and `localhost`. Its engine serves with it; a swarm master's
//!   manager serves with it and presents it to the engines (classic Swarm
//!   did so), so it is good for server and client authentication.
//!
//! Keys are ECDSA P-256 (rcgen generates no RSA keys), files 0600; every
//! certificate is valid 1080 days, as docker-machine's were.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{io_at, MachineError, Result};

/// How long every certificate is valid (docker-machine: 1080 days).
pub const VALID_DAYS: i64 = 1080;

pub const CA: &str = "ca.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const CERT: &str = "cert.pem";
pub const KEY: &str = "key.pem";
pub const SERVER: &str = "server.pem";
pub const SERVER_KEY: &str = "server-key.pem";

/// The folder of a store's CA and client certificate.
/// Docker's server flags for the machine's certificates in `dir`: clients
/// must show a certificate of the store's CA (dockerd and `shoal manage`
/// take the same four).
pub fn server_flags(dir: &Path) -> [String; 4] {
    let f = |name: &str| dir.join(name).display().to_string();
    [
        "--tlsverify".to_string(),
        format!("--tlscacert={}", f(CA)),
        format!("--tlscert={}", f(SERVER)),
        format!("--tlskey={}", f(SERVER_KEY)),
    ]
}

pub fn store_dir(store_root: &Path) -> PathBuf {
    store_root.join("certs")
}

fn cert_err(path: &Path, message: impl std::fmt::Display) -> MachineError {
    MachineError::Certificate {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// A suffix no other process or thread uses at the same time.
fn unique() -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("tmp{}.{n}", std::process::id())
}

/// Writes `contents` to `path` through a temp file and a rename, with `mode`.
fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    let tmp = path.with_extension(unique());
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_at(&tmp))?;
    // mode() is masked by the umask; the key must be 0600 whatever it is
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_at(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io_at(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_at(path))
}

fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    // a few minutes back: clocks of the engines' clients may lag a little
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(VALID_DAYS);
}

fn gen_err(what: &str) -> impl Fn(rcgen::Error) -> MachineError + '_ {
    move |e| MachineError::Engine {
        what: format!("generating {what}"),
        message: e.to_string(),
    }
}

/// A new CA: its certificate and key, as PEM.
fn new_ca() -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(gen_err("the CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "shoal");
    params
        .distinguished_name
        .push(DnType::CommonName, "shoal machine CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params);
    let cert = params
        .self_signed(&key)
        .map_err(gen_err("the CA certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A leaf certificate signed by the CA: `(cert PEM, key PEM)`.
fn new_leaf(
    ca_pem: &str,
    ca_key_pem: &str,
    common_name: &str,
    organization: &str,
    sans: &[String],
    server: bool,
) -> Result<(String, String)> {
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(gen_err("the CA key"))?;
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key).map_err(gen_err("the CA"))?;
    let key = KeyPair::generate().map_err(gen_err("a key"))?;
    let mut params = CertificateParams::new(sans.to_vec()).map_err(gen_err("certificate names"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, organization);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = if server {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    params.use_authority_key_identifier_extension = true;
    validity(&mut params);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(gen_err("a certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Makes the store's CA and client certificate unless they exist. Safe
/// against a parallel `create` in the same store: everything is made in a
/// private folder that is renamed into place, and the loser of the race
/// uses the winner's.
pub fn ensure_store(store_root: &Path) -> Result<PathBuf> {
    let dir = store_dir(store_root);
    if dir.join(CA).is_file() && dir.join(CA_KEY).is_file() && dir.join(CERT).is_file() {
        return Ok(dir);
    }
    fs::create_dir_all(store_root).map_err(io_at(store_root))?;
    let tmp = store_root.join(format!(".certs.{}", unique()));
    fs::create_dir(&tmp).map_err(io_at(&tmp))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o700)).map_err(io_at(&tmp))?;
    let made = (|| {
        let (ca, ca_key) = new_ca()?;
        let (cert, key) = new_leaf(&ca, &ca_key, "client", "shoal", &[], false)?;
        write_file(&tmp.join(CA), &ca, 0o644)?;
        write_file(&tmp.join(CA_KEY), &ca_key, 0o600)?;
        write_file(&tmp.join(CERT), &cert, 0o644)?;
        write_file(&tmp.join(KEY), &key, 0o600)
    })();
    if let Err(e) = made {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if fs::rename(&tmp, &dir).is_err() {
        // another create made them first (or a half-made folder is in the
        // way, which the check below reports)
        let _ = fs::remove_dir_all(&tmp);
    }
    for f in [CA, CA_KEY, CERT, KEY] {
        if !dir.join(f).is_file() {
            return Err(cert_err(
                &dir.join(f),
                "missing: remove the folder to make a new CA (every TLS machine of the store then needs new certificates)",
            ));
        }
    }
    Ok(dir)
}

/// What a certificate says, as far as machines care.
#[derive(Debug)]
pub struct CertInfo {
    /// SANs: DNS names and IP addresses, as text.
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
}

/// Reads the first certificate of a PEM file.
pub fn read_info(path: &Path) -> Option<CertInfo> {
    use x509_parser::extensions::GeneralName;
    let raw = fs::read(path).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&raw).ok()?;
    let cert = pem.parse_x509().ok()?;
    let mut names = vec![];
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => names
                        .push(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                    16 => names
                        .push(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Some(CertInfo {
        names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
    })
}

/// Whether `server.pem` exists and names `ip` among its SANs.
fn server_cert_names(path: &Path, ip: &str) -> bool {
    read_info(path).is_some_and(|i| i.names.iter().any(|n| n == ip))
}

/// Puts a machine's certificates in its folder: the store's CA and client
/// certificate, and a server certificate for `name` and `ip` (made again
/// when the machine's address changed).
pub fn ensure_machine(store_root: &Path, machine_dir: &Path, name: &str, ip: &str) -> Result<()> {
    let store = ensure_store(store_root)?;
    fs::create_dir_all(machine_dir).map_err(io_at(machine_dir))?;
    let read = |f: &str| {
        let p = store.join(f);
        fs::read_to_string(&p).map_err(io_at(&p))
    };
    let ca = read(CA)?;
    write_file(&machine_dir.join(CA), &ca, 0o644)?;
    write_file(&machine_dir.join(CERT), &read(CERT)?, 0o644)?;
    write_file(&machine_dir.join(KEY), &read(KEY)?, 0o600)?;
    let server = machine_dir.join(SERVER);
    if machine_dir.join(SERVER_KEY).is_file() && server_cert_names(&server, ip) {
        return Ok(());
    }
    let sans = vec![ip.to_string(), name.to_string(), "localhost".to_string()];
    let (cert, key) = new_leaf(
        &ca,
        &read(CA_KEY)?,
        name,
        &format!("shoal.{name}"),
        &sans,
        true,
    )?;
    write_file(&machine_dir.join(SERVER_KEY), &key, 0o600)?;
    write_file(&server, &cert, 0o644)
}

/// A TLS client configuration from a folder holding `ca.pem`, `cert.pem`
/// and `key.pem` (a machine folder): trusts only that CA and presents the
/// client certificate. For the readiness check of a TLS swarm master.
pub fn client_config(dir: &Path) -> Result<Arc<rustls::ClientConfig>> {
    let ca = dir.join(CA);
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&ca).map_err(|e| cert_err(&ca, e))? {
        roots
            .add(c.map_err(|e| cert_err(&ca, e))?)
            .map_err(|e| cert_err(&ca, e))?;
    }
    let cert = dir.join(CERT);
    let chain = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| cert_err(&cert, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| cert_err(&cert, e))?;
    let key_path = dir.join(KEY);
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| cert_err(&key_path, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_err(dir, e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| cert_err(dir, e))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};

    fn verifier(ca_pem: &Path) -> Arc<rustls::client::WebPkiServerVerifier> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca_pem).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap()
    }

    fn verify(ca: &Path, cert: &Path, name: &str, at: UnixTime) -> std::result::Result<(), String> {
        let der = CertificateDer::from_pem_file(cert).unwrap();
        verifier(ca)
            .verify_server_cert(
                &der,
                &[],
                &ServerName::try_from(name.to_string()).unwrap(),
                &[],
                at,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn store_ca_and_machine_certificates() {
        let store = tempfile::tempdir().unwrap();
        let m = store.path().join("node1");
        ensure_machine(store.path(), &m, "node1", "10.210.0.7").unwrap();
        let certs = store_dir(store.path());
        for f in [CA, CA_KEY, CERT, KEY] {
            assert!(certs.join(f).is_file(), "{f} in the store");
        }
        for f in [CA, CERT, KEY, SERVER, SERVER_KEY] {
            assert!(m.join(f).is_file(), "{f} in the machine folder");
        }
        for key in [
            certs.join(CA_KEY),
            certs.join(KEY),
            m.join(KEY),
            m.join(SERVER_KEY),
        ] {
            assert_eq!(mode(&key), 0o600, "{}", key.display());
        }
        assert!(!m.join(CA_KEY).exists(), "the CA key stays in the store");

        // SANs and validity, read back from the PEM
        let server = read_info(&m.join(SERVER)).unwrap();
        assert_eq!(server.names, ["10.210.0.7", "node1", "localhost"]);
        assert!(!server.is_ca);
        let days = (server.not_after - server.not_before) / 86_400;
        assert_eq!(days, VALID_DAYS, "validity in days");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(server.not_before < now && now < server.not_after);
        let ca = read_info(&certs.join(CA)).unwrap();
        assert!(ca.is_ca);
        assert!(!read_info(&certs.join(CERT)).unwrap().is_ca);

        // signed by the store's CA, for the IP and the name, not others
        let now = UnixTime::now();
        verify(&m.join(CA), &m.join(SERVER), "10.210.0.7", now).unwrap();
        verify(&m.join(CA), &m.join(SERVER), "node1", now).unwrap();
        let wrong = verify(&m.join(CA), &m.join(SERVER), "10.210.0.8", now).unwrap_err();
        assert!(wrong.contains("not valid for name"), "{wrong}");
        let later = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            now.as_secs() + (VALID_DAYS as u64 + 2) * 86_400,
        ));
        let expired = verify(&m.join(CA), &m.join(SERVER), "10.210.0.7", later).unwrap_err();
        assert!(expired.to_lowercase().contains("expired"), "{expired}");

        // another store's CA does not vouch for this machine
        let other = tempfile::tempdir().unwrap();
        let o = other.path().join("x");
        ensure_machine(other.path(), &o, "x", "10.210.0.9").unwrap();
        let foreign = verify(&o.join(CA), &m.join(SERVER), "10.210.0.7", now).unwrap_err();
        // (same CA name, other key: the signature does not verify)
        assert!(
            foreign.contains("BadSignature") || foreign.contains("UnknownIssuer"),
            "{foreign}"
        );

        // a second machine shares the CA; a new address means a new server cert
        let before = fs::read_to_string(certs.join(CA)).unwrap();
        let m2 = store.path().join("node2");
        ensure_machine(store.path(), &m2, "node2", "10.210.0.8").unwrap();
        assert_eq!(fs::read_to_string(certs.join(CA)).unwrap(), before);
        verify(&m2.join(CA), &m2.join(SERVER), "10.210.0.8", now).unwrap();
        let old = fs::read_to_string(m.join(SERVER)).unwrap();
        ensure_machine(store.path(), &m, "node1", "10.210.0.7").unwrap();
        assert_eq!(fs::read_to_string(m.join(SERVER)).unwrap(), old, "kept");
        ensure_machine(store.path(), &m, "node1", "10.210.0.17").unwrap();
        verify(&m.join(CA), &m.join(SERVER), "10.210.0.17", now).unwrap();

        // the client configuration loads from a machine folder
        client_config(&m).unwrap();
    }

    #[test]
    fn parallel_creates_share_one_ca() {
        let store = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|i| {
                    let root = store.path().to_path_buf();
                    s.spawn(move || {
                        let d = root.join(format!("m{i}"));
                        ensure_machine(&root, &d, &format!("m{i}"), &format!("10.210.1.{i}"))
                            .unwrap();
                        d
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ca = store_dir(store.path()).join(CA);
        for (i, d) in dirs.iter().enumerate() {
            verify(
                &ca,
                &d.join(SERVER),
                &format!("10.210.1.{i}"),
                UnixTime::now(),
            )
            .unwrap();
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = client_config(dir.path()).unwrap_err().to_string();
        assert!(err.contains("ca.pem"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
