//! The gateway's certificate and private key.
//!
//! With `gateway.tls.enabled`, the pair comes from `certPath`/`keyPath`, by
//! default `<stateDir>/gateway/tls/gateway-cert.pem` and `gateway-key.pem`
//! (the reference's place and names). When neither file exists and
//! `autoGenerate` is not `false`, a self-signed pair is generated there once
//! (CN `openclaw-gateway`, valid 3650 days, both files 0600) and reused on
//! every later start, so its fingerprint stays the one clients pinned.
//!
//! The reference generates an RSA-2048 key with the `openssl` binary; ring
//! cannot generate RSA keys, so ours is ECDSA P-256. Clients pin the
//! certificate's fingerprint, which does not care about the key type, and
//! every TLS 1.3 client speaks ECDSA. A pair the reference generated (RSA,
//! PKCS#8) is read and served as it is.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The common name of a generated certificate (the reference's).
const GENERATED_COMMON_NAME: &str = "openclaw-gateway";
/// How long a generated certificate is valid (the reference's `-days 3650`).
const GENERATED_VALIDITY_DAYS: i64 = 3650;

/// `gateway.tls`, with the default paths filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// `caPath`: more certificates sent after ours (an intermediate chain).
    pub ca_path: Option<PathBuf>,
    /// Generate a self-signed pair when neither file exists.
    pub auto_generate: bool,
}

impl TlsSettings {
    /// The default place of the pair under a state dir.
    pub fn default_dir(state_dir: &Path) -> PathBuf {
        state_dir.join("gateway").join("tls")
    }

    pub fn default_cert_path(state_dir: &Path) -> PathBuf {
        Self::default_dir(state_dir).join("gateway-cert.pem")
    }

    pub fn default_key_path(state_dir: &Path) -> PathBuf {
        Self::default_dir(state_dir).join("gateway-key.pem")
    }
}

/// Why TLS cannot be served. The messages start like the reference's
/// (`gateway tls: ...`) and name the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("gateway tls: failed to generate cert at {}: {reason}", .path.display())]
    Generate { path: PathBuf, reason: String },
    #[error("gateway tls: cert/key missing (cert {}, key {})", .cert.display(), .key.display())]
    Missing { cert: PathBuf, key: PathBuf },
    #[error("gateway tls: failed to load cert ({}: {reason})", .path.display())]
    Load { path: PathBuf, reason: String },
}

/// What the listener serves: the rustls config and the leaf's fingerprint.
///
/// The config picks its certificate through a [`RenewableCert`], so a
/// renewed pair ([`ServerTls::renew`]) is served to every later handshake
/// without restarting the listener or touching open connections.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate, as clients pin it (at load).
    pub fingerprint: String,
    pub cert_path: PathBuf,
    /// Whether this start generated the pair.
    pub generated: bool,
    /// Where the pair was read from (for renewal).
    pub settings: TlsSettings,
    current: Arc<RenewableCert>,
}

impl ServerTls {
    /// Read the pair (generating it first when allowed and absent).
    pub fn load(settings: &TlsSettings) -> Result<ServerTls, TlsError> {
        let (cert_path, key_path) = (&settings.cert_path, &settings.key_path);
        let generated = settings.auto_generate && !cert_path.exists() && !key_path.exists();
        if generated {
            generate(cert_path, key_path).map_err(|reason| TlsError::Generate {
                path: cert_path.clone(),
                reason,
            })?;
        }
        let certified = read_pair(settings)?;
        let fingerprint = super::fingerprint_sha256(&certified.cert[0]);
        let current = Arc::new(RenewableCert(RwLock::new(Arc::new(certified))));
        // TLS 1.3 only, as the reference's listener.
        let config = ServerConfig::builder_with_provider(super::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Load {
                path: cert_path.clone(),
                reason: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        Ok(ServerTls {
            config: Arc::new(config),
            fingerprint,
            cert_path: cert_path.clone(),
            generated,
            settings: settings.clone(),
            current,
        })
    }

    /// Read the files again (never generating). When they hold another
    /// certificate than the one served, serve the new pair from the next
    /// handshake on and return its fingerprint; `Ok(None)` when nothing
    /// changed. On an error (a half-written or mismatched pair) the pair
    /// already served stays.
    pub fn renew(&self) -> Result<Option<String>, TlsError> {
        let next = read_pair(&self.settings)?;
        let mut current = self.current.0.write().unwrap_or_else(|e| e.into_inner());
        if current.cert == next.cert {
            return Ok(None);
        }
        let fingerprint = super::fingerprint_sha256(&next.cert[0]);
        *current = Arc::new(next);
        Ok(Some(fingerprint))
    }

    /// The fingerprint of the certificate served now.
    pub fn current_fingerprint(&self) -> String {
        let current = self.current.0.read().unwrap_or_else(|e| e.into_inner());
        super::fingerprint_sha256(&current.cert[0])
    }
}

/// The certificate every handshake gets: the latest pair read.
#[derive(Debug)]
struct RenewableCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for RenewableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

/// The chain (the certificate file, then `caPath`) and the key, checked to
/// belong together.
fn read_pair(settings: &TlsSettings) -> Result<CertifiedKey, TlsError> {
    let (cert_path, key_path) = (&settings.cert_path, &settings.key_path);
    if !cert_path.exists() || !key_path.exists() {
        return Err(TlsError::Missing {
            cert: cert_path.clone(),
            key: key_path.clone(),
        });
    }
    let load = |path: &Path, reason: String| TlsError::Load {
        path: path.to_owned(),
        reason,
    };
    let mut chain = read_certs(cert_path).map_err(|r| load(cert_path, r))?;
    if let Some(ca_path) = &settings.ca_path {
        chain.extend(read_certs(ca_path).map_err(|r| load(ca_path, r))?);
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| load(key_path, format!("no private key: {e}")))?;
    let signing_key = super::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| load(key_path, format!("no private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| load(key_path, format!("cert and key do not make a pair: {e}")))?;
    Ok(certified)
}

/// The fingerprint of the first certificate of a PEM file: what a client
/// on this machine pins to reach the local gateway (its key is not read).
pub fn cert_file_fingerprint(path: &Path) -> Result<String, String> {
    let certs = read_certs(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(super::fingerprint_sha256(&certs[0]))
}

/// Every certificate of a PEM file, at least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = fs::read(path).map_err(|e| e.to_string())?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the file".into());
    }
    Ok(certs)
}

/// A self-signed pair written to `cert_path` and `key_path` (0600, in
/// directories made 0700 when created). Each file appears whole or not at
/// all: written beside its place, then renamed.
fn generate(cert_path: &Path, key_path: &Path) -> Result<(), String> {
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    // No subject alternative names: the reference's certificate has none
    // either, so clients pin it rather than check a host name.
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, GENERATED_COMMON_NAME);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(GENERATED_VALIDITY_DAYS);
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    write_private(key_path, key.serialize_pem().as_bytes())?;
    write_private(cert_path, cert.pem().as_bytes())?;
    log::info!(target: "gateway/tls", "generated self-signed cert at {}", cert_path.display());
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail)?;
    }
    let staged = path.with_extension("pem.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staged)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&staged, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn settings(dir: &Path) -> TlsSettings {
        TlsSettings {
            cert_path: TlsSettings::default_cert_path(dir),
            key_path: TlsSettings::default_key_path(dir),
            ca_path: None,
            auto_generate: true,
        }
    }

    #[test]
    fn a_generated_pair_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServerTls::load(&settings(dir.path())).unwrap();
        assert!(first.generated);
        assert_eq!(first.fingerprint.len(), 64);
        for path in [
            TlsSettings::default_cert_path(dir.path()),
            TlsSettings::default_key_path(dir.path()),
        ] {
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
        let again = ServerTls::load(&settings(dir.path())).unwrap();
        assert!(!again.generated);
        assert_eq!(again.fingerprint, first.fingerprint);
    }

    #[test]
    fn missing_files_without_generation_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        s.auto_generate = false;
        let e = ServerTls::load(&s).unwrap_err();
        assert!(
            e.to_string().starts_with("gateway tls: cert/key missing"),
            "{e}"
        );
    }

    #[test]
    fn a_key_that_is_not_a_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        ServerTls::load(&settings(dir.path())).unwrap();
        fs::write(TlsSettings::default_key_path(dir.path()), "junk").unwrap();
        let e = ServerTls::load(&settings(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("gateway tls: failed to load cert ("), "{e}");
        assert!(e.contains("gateway-key.pem"), "{e}");
    }
}
