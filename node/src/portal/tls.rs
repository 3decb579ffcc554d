//! The portal's TLS: a certificate chain and private key from PEM files (bounded reads),
//! served with rustls and the ring provider named explicitly (two providers are in the build,
//! so there is no process-wide default to rely on).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Largest certificate chain or key file read.
const MAX_PEM_FILE_BYTES: u64 = 1024 * 1024;

/// Why the portal's TLS could not be set up.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A file could not be read (or is too large).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The PEM does not hold what it should.
    #[error("{}: {what}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// rustls refused the certificate and key (e.g. they do not match).
    #[error("the portal's certificate and key are not usable")]
    Config(#[source] rustls::Error),
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let err = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(err)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(err(std::io::Error::other("file larger than 1 MiB")));
    }
    Ok(bytes)
}

/// The server configuration from a PEM chain and key. Blocking (reads two small files).
pub fn load(certificate: &Path, key: &Path) -> Result<RustlsConfig, TlsError> {
    let pem = |path: &Path, what: String| TlsError::Pem {
        path: path.to_owned(),
        what,
    };
    let chain_bytes = read_bounded(certificate)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| pem(certificate, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem(certificate, "no certificate in the file".into()));
    }
    let key_bytes = read_bounded(key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| pem(key, e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(TlsError::Config)?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)
    .map_err(TlsError::Config)?;
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}
