//! The node's identity: its Ed25519 key and the agency certificate that certifies it, verified
//! against the configured federation root(s) and CRL before the node does anything else.
//!
//! With `federation.development = true` (the embedded defaults, when no config file is given)
//! the node first creates what is missing of a local **development federation**: a throw-away
//! root labelled as such, a node key, and a certificate for agency `dev-hotline`. The same
//! verification then runs as for a real federation, so a development node exercises the real
//! path; nothing here switches verification off.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use safeport_protocol::pki::{
    self, AgencyIdentity, AgencySubject, CertError, CertPolicy, Crl, TrustAnchor, Validity,
};
use safeport_protocol::{AgencyId, Country, NodeKey, Role, Timestamp};
use thiserror::Error;

use crate::config::NodeConfig;

/// Largest key, certificate or CRL file read (1 MiB; real ones are a few KiB).
const MAX_IDENTITY_FILE: u64 = 1024 * 1024;

/// The name of the development federation's root: impossible to mistake for a real one.
pub const DEVELOPMENT_FEDERATION: &str = "Safeport DEVELOPMENT federation - not for production";
/// The agency id a development node gets.
pub const DEVELOPMENT_AGENCY: &str = "dev-hotline";
/// The development authority's key, kept beside the development root (development only).
const DEVELOPMENT_AUTHORITY_KEY: &str = "development-authority.key";

/// The public facts about an agency that its certificate states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Agency id, e.g. `nl-hotline`.
    pub agency_id: String,
    /// Role of the agency (hotline, lea, interpol).
    pub role: String,
    /// Country of the agency (ISO 3166-1 alpha-2).
    pub country: String,
}

/// The loaded and verified identity of this node.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// What the certificate says about this node's agency, as text for display.
    pub info: NodeInfo,
    /// The verified certificate contents.
    pub certificate: AgencyIdentity,
    /// The certificate as PEM, as presented to peers at admission.
    pub certificate_pem: String,
    /// The node's signing key (also its network identity).
    pub key: Arc<NodeKey>,
    /// The federation roots this node trusts.
    pub anchors: Vec<TrustAnchor>,
    /// The CRL in force, if configured.
    pub crl: Option<Crl>,
    /// Whether this node runs in a development federation.
    pub development: bool,
}

/// Why the node identity could not be loaded. Each names the file involved.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A file could not be read or written.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: std::io::Error,
    },
    /// A file is larger than any identity file can be.
    #[error("{}: larger than {MAX_IDENTITY_FILE} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The private key file can be read by others.
    #[error("{}: the node key is readable by group or others (mode {mode:o}); run chmod 600", path.display())]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file is not an Ed25519 PKCS#8 key.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: safeport_protocol::keys::KeyError,
    },
    /// A root, CRL or the node certificate failed verification.
    #[error("{}: {reason}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why it failed.
        reason: CertError,
    },
    /// The configuration names no federation root.
    #[error("no federation root configured (federation.roots is empty)")]
    NoRoots,
    /// Creating the development federation failed.
    #[error("creating the development federation: {0}")]
    Development(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |reason| IdentityError::Io {
        path: path.to_owned(),
        reason,
    }
}

fn read_text(path: &Path) -> Result<String, IdentityError> {
    let len = std::fs::metadata(path).map_err(io_error(path))?.len();
    if len > MAX_IDENTITY_FILE {
        return Err(IdentityError::TooLarge {
            path: path.to_owned(),
        });
    }
    std::fs::read_to_string(path).map_err(io_error(path))
}

fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), IdentityError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(contents.as_bytes())
        .map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

fn read_key(path: &Path) -> Result<NodeKey, IdentityError> {
    let mode = std::fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::KeyPermissions {
            path: path.to_owned(),
            mode,
        });
    }
    NodeKey::from_pkcs8_pem(&read_text(path)?).map_err(|reason| IdentityError::Key {
        path: path.to_owned(),
        reason,
    })
}

fn random<const N: usize>() -> Result<[u8; N], IdentityError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| IdentityError::Development(e.to_string()))?;
    Ok(bytes)
}

fn new_key(path: &Path) -> Result<NodeKey, IdentityError> {
    let key = NodeKey::from_seed(random()?);
    let pem = key
        .to_pkcs8_pem()
        .map_err(|e| IdentityError::Development(e.to_string()))?;
    write_new(path, &pem, 0o600)?;
    Ok(key)
}

/// Creates whatever is missing of the development federation: node key, root, certificate.
fn ensure_development_federation(config: &NodeConfig, now: Timestamp) -> Result<(), IdentityError> {
    let node = &config.node;
    let key = if node.key_file.exists() {
        read_key(&node.key_file)?
    } else {
        new_key(&node.key_file)?
    };
    let root_path = config
        .federation
        .roots
        .first()
        .ok_or(IdentityError::NoRoots)?;
    if root_path.exists() && node.certificate.exists() {
        return Ok(());
    }
    let authority_path = root_path.with_file_name(DEVELOPMENT_AUTHORITY_KEY);
    let authority = if authority_path.exists() {
        read_key(&authority_path)?
    } else {
        new_key(&authority_path)?
    };
    let develop = |e: pki::IssueError| IdentityError::Development(e.to_string());
    let root_pem = if root_path.exists() {
        read_text(root_path)?
    } else {
        let pem = pki::create_root(
            &authority,
            DEVELOPMENT_FEDERATION,
            Validity::days_from(now, 3650),
            random()?,
        )
        .map_err(develop)?;
        write_new(root_path, &pem, 0o644)?;
        pem
    };
    let subject = AgencySubject {
        agency: AgencyId::new(DEVELOPMENT_AGENCY)
            .map_err(|e| IdentityError::Development(e.to_string()))?,
        role: Role::Hotline,
        country: Country::new("NL").map_err(|e| IdentityError::Development(e.to_string()))?,
        organisation: "Safeport development node".into(),
    };
    let certificate = pki::issue_agency_certificate(
        &authority,
        &root_pem,
        &subject,
        &key.public(),
        Validity::days_from(now, 365),
        random()?,
    )
    .map_err(develop)?;
    write_new(&node.certificate, &certificate, 0o644)
}

/// Loads and verifies this node's identity at time `now`. Blocking (reads files).
pub fn load_at(config: &NodeConfig, now: Timestamp) -> Result<NodeIdentity, IdentityError> {
    if config.federation.development {
        ensure_development_federation(config, now)?;
    }
    if config.federation.roots.is_empty() {
        return Err(IdentityError::NoRoots);
    }
    let key = read_key(&config.node.key_file)?;
    let mut anchors = Vec::with_capacity(config.federation.roots.len());
    for path in &config.federation.roots {
        let anchor = TrustAnchor::from_pem(&read_text(path)?).map_err(|reason| {
            IdentityError::Certificate {
                path: path.clone(),
                reason,
            }
        })?;
        anchors.push(anchor);
    }
    let crl = match &config.federation.crl {
        Some(path) => Some(
            Crl::from_pem(&read_text(path)?, &anchors).map_err(|reason| {
                IdentityError::Certificate {
                    path: path.clone(),
                    reason,
                }
            })?,
        ),
        None => None,
    };
    let policy = CertPolicy {
        allowed_roles: vec![Role::Hotline, Role::Lea, Role::Interpol],
        expected_key: Some(key.public()),
    };
    let cert_path = &config.node.certificate;
    let certificate_pem = read_text(cert_path)?;
    let certificate =
        pki::verify_agency_certificate(&certificate_pem, &anchors, crl.as_slice(), now, &policy)
            .map_err(|reason| IdentityError::Certificate {
                path: cert_path.clone(),
                reason,
            })?;
    Ok(NodeIdentity {
        info: NodeInfo {
            agency_id: certificate.subject.agency.to_string(),
            role: certificate.subject.role.to_string(),
            country: certificate.subject.country.to_string(),
        },
        certificate,
        certificate_pem,
        key: Arc::new(key),
        anchors,
        crl,
        development: config.federation.development,
    })
}

/// The current time from the system clock.
pub fn system_now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(u64::try_from(millis).unwrap_or(u64::MAX))
}

/// Loads and verifies this node's identity now. Blocking (reads files).
pub fn load(config: &NodeConfig) -> Result<NodeIdentity, IdentityError> {
    load_at(config, system_now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_config(dir: &Path) -> NodeConfig {
        let mut config = NodeConfig::defaults_for(dir);
        config.federation.development = true;
        config
    }

    #[test]
    fn a_development_node_creates_and_then_reuses_its_federation() {
        let dir = tempfile::tempdir().unwrap();
        let config = dev_config(dir.path());
        let first = load(&config).unwrap();
        assert_eq!(first.info.agency_id, DEVELOPMENT_AGENCY);
        assert_eq!(first.certificate.issuer, DEVELOPMENT_FEDERATION);
        let key_mode = std::fs::metadata(&config.node.key_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        let second = load(&config).unwrap();
        assert_eq!(second.certificate.serial, first.certificate.serial);
        assert_eq!(second.key.public(), first.key.public());
    }

    #[test]
    fn a_production_node_without_files_refuses_and_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let config = NodeConfig::defaults_for(dir.path());
        let error = load(&config).unwrap_err().to_string();
        assert!(error.contains("node.key"), "{error}");
    }

    #[test]
    fn a_certificate_for_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = dev_config(dir.path());
        load(&config).unwrap();
        // Replace the node key: the certificate no longer certifies it.
        std::fs::remove_file(&config.node.key_file).unwrap();
        new_key(&config.node.key_file).unwrap();
        let mut production = config.clone();
        production.federation.development = false;
        let error = load(&production).unwrap_err();
        assert!(
            matches!(
                error,
                IdentityError::Certificate {
                    reason: CertError::KeyMismatch { .. },
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn a_world_readable_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = dev_config(dir.path());
        load(&config).unwrap();
        std::fs::set_permissions(
            &config.node.key_file,
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert!(matches!(
            load(&config),
            Err(IdentityError::KeyPermissions { .. })
        ));
    }

    #[test]
    fn an_expired_certificate_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let config = dev_config(dir.path());
        load(&config).unwrap();
        let mut production = config.clone();
        production.federation.development = false;
        let later = system_now().plus_secs(400 * 86_400);
        let error = load_at(&production, later).unwrap_err();
        assert!(
            matches!(
                error,
                IdentityError::Certificate {
                    reason: CertError::Expired { .. },
                    ..
                }
            ),
            "{error}"
        );
    }
}
