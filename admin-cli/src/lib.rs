//! The library behind `safeport-admin`: offline federation-authority and node-key operations.
//! The binary (`main.rs`) only parses arguments and prints; everything here is tested directly.

pub mod ca;
pub mod cert;
pub mod client;
pub mod files;
pub mod media;
pub mod node_init;
pub mod package;
pub mod progress;
pub mod rotate;

use std::path::PathBuf;

use safeport_protocol::Timestamp;
use safeport_protocol::keys::KeyError;
use safeport_protocol::pki::{CertError, IssueError};

/// Why an admin operation failed. Messages name the file involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// Reading or writing a file failed.
    #[error(transparent)]
    File(#[from] files::FileError),
    /// A key file is not what it should be.
    #[error("{path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: KeyError,
    },
    /// A certificate or CRL file failed verification.
    #[error("{path}: {reason}")]
    Cert {
        /// The file.
        path: PathBuf,
        /// Why it failed.
        reason: CertError,
    },
    /// A certificate that was just made failed its own check (should never happen).
    #[error("self-check of the new certificate failed: {0}")]
    SelfCheck(#[from] CertError),
    /// Creating a certificate or CRL failed.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// A key could not be encoded.
    #[error(transparent)]
    Encode(#[from] KeyError),
    /// The operating system's random reason failed.
    #[error("no randomness available: {0}")]
    Random(#[from] getrandom::Error),
    /// Invalid arguments or state.
    #[error("{0}")]
    Invalid(String),
}

/// The current time from the system clock (the one place the admin tool reads it).
pub fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(u64::try_from(millis).unwrap_or(u64::MAX))
}

/// Parses an RFC 3339 time such as `2027-01-31T12:00:00Z`.
pub fn parse_time(text: &str) -> Result<Timestamp, AdminError> {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| AdminError::Invalid(format!("{text:?} is not an RFC 3339 time ({e})")))?;
    let secs = u64::try_from(parsed.unix_timestamp())
        .map_err(|_| AdminError::Invalid(format!("{text:?} is before 1970")))?;
    Ok(Timestamp::from_secs(secs))
}
