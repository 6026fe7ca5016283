//! TLS material from PEM files that the provisioning system rotates on disk. The files are
//! re-read whenever their modification time or size changes, so a renewed certificate is used
//! from the next connection on without a restart; the expiry time of the certificate in use is
//! exported. Shared by the agent (client side) and the aggregator (server side).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate in it")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no usable PEM private key in it")]
    NoKey { path: PathBuf },
    #[error("{path}: {message}")]
    BadPem { path: PathBuf, message: String },
    #[error("{path}: certificate cannot be parsed: {message}")]
    BadCertificate { path: PathBuf, message: String },
    #[error("tls configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(String),
}

/// The process-wide crypto provider (ring). Installed once; later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// All certificates of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| TlsError::NoKey {
        path: path.to_path_buf(),
    })
}

/// A root store holding every certificate of the CA file.
pub fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path)? {
        roots.add(c).map_err(|e| TlsError::BadCertificate {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// What the agent and aggregator need to know of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// First DNS subject alternative name, else the subject's common name.
    pub name: Option<String>,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
}

/// Parses a DER certificate for its name and expiry.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    let mut name = None;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        name = san.value.general_names.iter().find_map(|g| match g {
            GeneralName::DNSName(n) => Some((*n).to_owned()),
            _ => None,
        });
    }
    if name.is_none() {
        name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
    }
    Ok(CertInfo {
        name,
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Identifies one version of a set of files: (modification time, size) of each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilesStamp(Vec<Option<(SystemTime, u64)>>);

impl FilesStamp {
    /// The stamp of `paths` now (a missing file stamps as `None`).
    pub fn of(paths: &[&Path]) -> Self {
        Self(
            paths
                .iter()
                .map(|p| {
                    std::fs::metadata(p)
                        .ok()
                        .and_then(|m| Some((m.modified().ok()?, m.len())))
                })
                .collect(),
        )
    }
}

/// The three PEM files of one side of an mTLS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// The current stamp of the three files.
    pub fn stamp(&self) -> FilesStamp {
        FilesStamp::of(&[&self.ca, &self.cert, &self.key])
    }

    /// Loads the chain and key, and the expiry/name of the leaf certificate.
    pub fn load_identity(
        &self,
    ) -> Result<
        (
            Vec<CertificateDer<'static>>,
            PrivateKeyDer<'static>,
            CertInfo,
        ),
        TlsError,
    > {
        let chain = load_certs(&self.cert)?;
        let key = load_key(&self.key)?;
        let info = cert_info(&chain[0]).map_err(|message| TlsError::BadCertificate {
            path: self.cert.clone(),
            message,
        })?;
        Ok((chain, key, info))
    }

    /// A client configuration presenting this identity and trusting only `ca`, speaking h2.
    pub fn client_config(&self) -> Result<(Arc<rustls::ClientConfig>, CertInfo), TlsError> {
        install_crypto_provider();
        let roots = load_roots(&self.ca)?;
        let (chain, key, info) = self.load_identity()?;
        let mut cfg = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok((Arc::new(cfg), info))
    }

    /// A server configuration presenting this identity and requiring client certificates
    /// signed by `ca`, speaking h2.
    pub fn server_config(&self) -> Result<(Arc<rustls::ServerConfig>, CertInfo), TlsError> {
        install_crypto_provider();
        let roots = Arc::new(load_roots(&self.ca)?);
        let verifier = rustls::server::WebPkiClientVerifier::builder(roots)
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
        let (chain, key, info) = self.load_identity()?;
        let mut cfg = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok((Arc::new(cfg), info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("hvscope-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = load_certs(&dir.join("nope.pem")).unwrap_err();
        assert!(e.to_string().contains("nope.pem"), "{e}");
        std::fs::write(dir.join("empty.pem"), "hello\n").unwrap();
        assert!(matches!(
            load_certs(&dir.join("empty.pem")),
            Err(TlsError::NoCertificate { .. })
        ));
        assert!(matches!(
            load_key(&dir.join("empty.pem")),
            Err(TlsError::NoKey { .. })
        ));
        let s1 = FilesStamp::of(&[&dir.join("empty.pem"), &dir.join("nope.pem")]);
        std::fs::write(dir.join("empty.pem"), "hello again\n").unwrap();
        let s2 = FilesStamp::of(&[&dir.join("empty.pem"), &dir.join("nope.pem")]);
        assert_ne!(s1, s2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn garbage_der_is_an_error() {
        assert!(cert_info(b"\x30\x03garbage").is_err());
        assert!(cert_info(b"").is_err());
    }
}
