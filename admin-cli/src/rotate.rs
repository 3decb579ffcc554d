//! Node key rotation: `node new-key` makes the next key beside the current one, the federation
//! authority certifies it (`ca issue`), and `node install-key` checks the new certificate
//! against the node's configuration and puts key and certificate in place of the current ones,
//! keeping the retired pair beside them, after wrapping the node's media key for the new key
//! too (the node is stopped meanwhile). The node picks the new identity up at its next start;
//! it keeps every certificate it ever had in its store, so what it signed under the earlier key
//! still verifies at its peers, in back-fills and in restores. The authority then revokes the
//! earlier certificate as `superseded`: the retired key can no longer connect, while records it
//! signed before the revocation keep counting.

use std::path::{Path, PathBuf};

use safeport_node::blob_key;
use safeport_node::config::NodeConfig;
use safeport_node::store::Store;
use safeport_protocol::pki::{self, CertPolicy, Crl, TrustAnchor};
use safeport_protocol::{AgencyId, NodeKey, Role, Timestamp};
use serde::Serialize;

use crate::AdminError;
use crate::files::{self, Overwrite, PUBLIC_MODE, SECRET_MODE};

/// File name of the next node key, written beside the node's key.
pub const NEXT_KEY: &str = "node.next.key";
/// File name of the next key's public key, for the federation authority.
pub const NEXT_PUBLIC_KEY: &str = "node.next.pub.pem";

/// What `node new-key` made.
#[derive(Debug, Serialize)]
pub struct NewKeyOutput {
    /// The new private key (0600).
    pub key_file: PathBuf,
    /// The public key file to send to the federation authority for `ca issue`.
    pub public_key_file: PathBuf,
    /// The public key (hex).
    pub public_key: String,
}

/// Creates the next node key in `dir` (refuses to replace one that exists).
pub fn new_key(dir: &Path) -> Result<NewKeyOutput, AdminError> {
    let key_file = dir.join(NEXT_KEY);
    let public_key_file = dir.join(NEXT_PUBLIC_KEY);
    let key = crate::node_init::write_new_key(&key_file, &public_key_file)?;
    Ok(NewKeyOutput {
        key_file,
        public_key_file,
        public_key: key.public().to_hex(),
    })
}

/// What `node install-key` did.
#[derive(Debug, Serialize)]
pub struct InstallKeyOutput {
    /// The agency.
    pub agency: String,
    /// Serial of the certificate retired.
    pub retired_serial: String,
    /// Serial of the certificate now installed.
    pub installed_serial: String,
    /// Where the retired key was moved (0600): destroy it once the node runs on the new one.
    pub retired_key_file: PathBuf,
    /// Where the retired certificate was kept (for `ca revoke --cert … --reason superseded`).
    pub retired_certificate_file: PathBuf,
    /// A copy of the new key that could not be removed, if any (remove it by hand).
    pub leftover: Option<String>,
    /// What to do next.
    pub next: String,
}

fn cert_err(path: &Path) -> impl Fn(pki::CertError) -> AdminError + '_ {
    move |reason| AdminError::Cert {
        path: path.to_owned(),
        reason,
    }
}

/// Checks `new_key` and `new_certificate` against the node configured in `config_file` and
/// installs them in place of its key and certificate. Refused before anything is written
/// unless the new certificate verifies now against the node's roots and CRL, certifies the new
/// key, names the same agency and role as the current certificate, and is newer than it, and
/// the node's key file holds the current certificate's key. Every file is replaced atomically;
/// an interrupted run is finished by running it again with the same arguments.
pub fn install_key(
    config_file: &Path,
    new_key_file: &Path,
    new_certificate_file: &Path,
    now: Timestamp,
) -> Result<InstallKeyOutput, AdminError> {
    let config = NodeConfig::load(config_file)
        .map_err(|e| AdminError::Invalid(format!("{}: {e}", config_file.display())))?;
    let key_file = &config.node.key_file;
    let certificate_file = &config.node.certificate;
    let anchors = config
        .federation
        .roots
        .iter()
        .map(|path| TrustAnchor::from_pem(&files::read_text(path)?).map_err(cert_err(path)))
        .collect::<Result<Vec<_>, AdminError>>()?;
    let crls = match &config.federation.crl {
        Some(path) => {
            vec![Crl::from_pem(&files::read_text(path)?, &anchors).map_err(cert_err(path))?]
        }
        None => Vec::new(),
    };
    let new_key_pem = files::read_text(new_key_file)?;
    let new_key = NodeKey::from_pkcs8_pem(&new_key_pem).map_err(|reason| AdminError::Key {
        path: new_key_file.to_owned(),
        reason,
    })?;
    let new_pem = files::read_text(new_certificate_file)?;
    let policy = CertPolicy {
        allowed_roles: vec![Role::Hotline, Role::Lea, Role::Interpol],
        expected_key: Some(new_key.public()),
    };
    let new = pki::verify_signer_certificate(&new_pem, &anchors, &crls, now, &policy)
        .map_err(cert_err(new_certificate_file))?;
    // Strictly valid now too (the signer check leaves the window to each record).
    pki::verify_agency_certificate(&new_pem, &anchors, &crls, now, &policy)
        .map_err(cert_err(new_certificate_file))?;
    let current_pem = files::read_text(certificate_file)?;
    let current = pki::certificate_facts(&current_pem).map_err(cert_err(certificate_file))?;
    let current_role =
        pki::verify_signer_certificate(&current_pem, &anchors, &[], now, &CertPolicy::default())
            .map_err(cert_err(certificate_file))?
            .identity
            .subject
            .role;
    let agency = new.identity.subject.agency.as_str().to_owned();
    if current.common_name != agency || current_role != new.identity.subject.role {
        return Err(AdminError::Invalid(format!(
            "{} certifies {agency} as {}, but this node is {} as {}",
            new_certificate_file.display(),
            new.identity.subject.role.as_str(),
            current.common_name,
            current_role.as_str()
        )));
    }
    if current.key == new.identity.key {
        return Err(AdminError::Invalid(format!(
            "{} certifies the key the node already has",
            new_certificate_file.display()
        )));
    }
    if !new.is_newer_than(&current) {
        return Err(AdminError::Invalid(format!(
            "{} (serial {}) is not newer than the installed certificate (serial {})",
            new_certificate_file.display(),
            new.identity.serial,
            current.serial
        )));
    }
    let retired_key_file = with_suffix(key_file, &format!("{}.retired", current.serial));
    let retired_certificate_file =
        with_suffix(certificate_file, &format!("{}.retired", current.serial));
    let installed_key_pem = files::read_text(key_file)?;
    // Run again after an interruption between replacing the key and the certificate: the key
    // is the new one already, and the retired pair and the media key's wrapping are in place.
    let resuming = installed_key_pem == new_key_pem;
    let retired_key_pem = if resuming {
        files::read_text(&retired_key_file)?
    } else {
        installed_key_pem
    };
    let retired_key = read_key(&retired_key_pem, key_file)?;
    if retired_key.public() != current.key {
        return Err(AdminError::Invalid(format!(
            "{} does not hold the key {} certifies",
            key_file.display(),
            certificate_file.display()
        )));
    }
    if !resuming {
        files::write_file(
            &retired_key_file,
            &retired_key_pem,
            SECRET_MODE,
            Overwrite::Replace,
        )?;
        files::write_file(
            &retired_certificate_file,
            &current_pem,
            PUBLIC_MODE,
            Overwrite::Replace,
        )?;
        rewrap_media_key(
            &config,
            &new.identity.subject.agency,
            &retired_key,
            &new_key,
        )?;
        // The key before the certificate: a crash between the two leaves a node that refuses
        // to start (its key does not match its certificate) until this command, run again
        // with the same arguments, finishes the job.
        files::write_file(key_file, &new_key_pem, SECRET_MODE, Overwrite::Replace)?;
    }
    files::write_file(certificate_file, &new_pem, PUBLIC_MODE, Overwrite::Replace)?;
    for file in [key_file, certificate_file] {
        files::sync_parent(file)?;
    }
    // The key now lives at the node's key path; a second copy is not left lying around.
    let leftover = std::fs::remove_file(new_key_file)
        .err()
        .map(|error| format!("could not remove {}: {error}", new_key_file.display()));
    Ok(InstallKeyOutput {
        agency,
        retired_serial: current.serial.clone(),
        installed_serial: new.identity.serial,
        retired_key_file,
        retired_certificate_file,
        leftover,
        next: format!(
            "restart the node; then ask the federation authority to run `safeport-admin ca \
             revoke --serial {} --reason superseded` and publish the CRL; destroy the retired \
             key once the node runs on the new one",
            current.serial
        ),
    })
}

fn read_key(pem: &str, path: &Path) -> Result<NodeKey, AdminError> {
    NodeKey::from_pkcs8_pem(pem).map_err(|reason| AdminError::Key {
        path: path.to_owned(),
        reason,
    })
}

/// Wraps the node's media key for the next key as well (`blob_key.rs`), in the node's database,
/// which must not be in use: the node is stopped for a rotation. A node that never started has
/// no database and no media yet.
fn rewrap_media_key(
    config: &NodeConfig,
    agency: &AgencyId,
    current: &NodeKey,
    next: &NodeKey,
) -> Result<(), AdminError> {
    let db = config.node.data_dir.join(safeport_node::DB_DIR);
    if !db.exists() {
        return Ok(());
    }
    let store = Store::open(&db).map_err(|e| {
        AdminError::Invalid(format!(
            "cannot open the node's database {} (stop the node first): {e}",
            db.display()
        ))
    })?;
    blob_key::add_next_key(&store, agency, current, next)
        .map_err(|e| AdminError::Invalid(format!("re-wrapping the media key: {e}")))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// What `node rewrap-media-key` did.
#[derive(Debug, Serialize)]
pub struct RewrapOutput {
    /// The node's database.
    pub database: PathBuf,
    /// The public key (hex) that can now open the media key too.
    pub now_opens_with: String,
}

/// Wraps the media key of the node configured in `config_file` for the key in its key file,
/// opening it with `from_key_file` (an earlier key): for a backup from before a key rotation,
/// restored under the current key. The node must be stopped.
pub fn rewrap_media_key_from(
    config_file: &Path,
    from_key_file: &Path,
) -> Result<RewrapOutput, AdminError> {
    let config = NodeConfig::load(config_file)
        .map_err(|e| AdminError::Invalid(format!("{}: {e}", config_file.display())))?;
    let current = read_key(
        &files::read_text(&config.node.key_file)?,
        &config.node.key_file,
    )?;
    let earlier = read_key(&files::read_text(from_key_file)?, from_key_file)?;
    let certificate = files::read_text(&config.node.certificate)?;
    let facts = pki::certificate_facts(&certificate).map_err(cert_err(&config.node.certificate))?;
    let agency = AgencyId::new(&facts.common_name)
        .map_err(|e| AdminError::Invalid(format!("{}: {e}", config.node.certificate.display())))?;
    let database = config.node.data_dir.join(safeport_node::DB_DIR);
    if !database.exists() {
        return Err(AdminError::Invalid(format!(
            "{} does not exist: nothing to re-wrap",
            database.display()
        )));
    }
    rewrap_media_key(&config, &agency, &earlier, &current)?;
    Ok(RewrapOutput {
        database,
        now_opens_with: current.public().to_hex(),
    })
}
