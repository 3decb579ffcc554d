//! The offline federation authority: `ca init`, `ca issue`, `ca revoke` and `ca crl`.
//!
//! A CA directory holds `root.key` (0600), `root.pem` and `ca.json`, the authority's ledger of
//! issued and revoked certificates and the last CRL number. The ledger is rewritten atomically.

use std::path::{Path, PathBuf};

use safeport_protocol::pki::{
    self, AgencySubject, CertPolicy, Contact, Revocation, RevocationReason, TrustAnchor, Validity,
};
use safeport_protocol::{NodeKey, PublicKey, Timestamp};
use serde::{Deserialize, Serialize};

use crate::AdminError;
use crate::files::{self, Overwrite, PUBLIC_MODE, SECRET_MODE};

/// Root key file name inside a CA directory.
pub const ROOT_KEY: &str = "root.key";
/// Root certificate file name inside a CA directory.
pub const ROOT_CERT: &str = "root.pem";
/// Ledger file name inside a CA directory.
pub const LEDGER: &str = "ca.json";

/// One certificate the authority issued.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IssuedEntry {
    /// Serial number (hex).
    pub serial: String,
    /// Agency id.
    pub agency: String,
    /// Role.
    pub role: String,
    /// Country.
    pub country: String,
    /// End of validity (seconds since the epoch).
    pub not_after: u64,
}

/// One certificate the authority revoked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RevokedEntry {
    /// Serial number (hex).
    pub serial: String,
    /// When it was revoked (seconds since the epoch).
    pub revoked_at: u64,
    /// Why (ledgers written before reasons existed read as unspecified, the strict reading).
    #[serde(default)]
    pub reason: RevocationReason,
}

/// The authority's ledger (`ca.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    /// The federation's name (root CN).
    pub federation: String,
    /// Number of the last CRL issued.
    pub crl_number: u64,
    /// Certificates issued.
    pub issued: Vec<IssuedEntry>,
    /// Certificates revoked.
    pub revoked: Vec<RevokedEntry>,
}

/// An opened CA directory.
pub struct CaDir {
    dir: PathBuf,
    key: NodeKey,
    root_pem: String,
    anchor: TrustAnchor,
    ledger: Ledger,
}

fn key_from_file(path: &Path) -> Result<NodeKey, AdminError> {
    NodeKey::from_pkcs8_pem(&files::read_text(path)?).map_err(|reason| AdminError::Key {
        path: path.to_owned(),
        reason,
    })
}

impl CaDir {
    /// Opens a CA directory and checks that its key matches its root certificate.
    pub fn open(dir: &Path) -> Result<Self, AdminError> {
        let key = key_from_file(&dir.join(ROOT_KEY))?;
        let root_path = dir.join(ROOT_CERT);
        let root_pem = files::read_text(&root_path)?;
        let anchor = TrustAnchor::from_pem(&root_pem).map_err(|reason| AdminError::Cert {
            path: root_path,
            reason,
        })?;
        if anchor.key() != key.public() {
            return Err(AdminError::Invalid(format!(
                "{} does not belong to {}",
                ROOT_KEY, ROOT_CERT
            )));
        }
        let ledger_path = dir.join(LEDGER);
        let ledger: Ledger = serde_json::from_str(&files::read_text(&ledger_path)?)
            .map_err(|e| AdminError::Invalid(format!("{}: {e}", ledger_path.display())))?;
        Ok(Self {
            dir: dir.to_owned(),
            key,
            root_pem,
            anchor,
            ledger,
        })
    }

    fn save_ledger(&self) -> Result<(), AdminError> {
        let text = serde_json::to_string_pretty(&self.ledger)
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        files::write_file(
            &self.dir.join(LEDGER),
            &text,
            PUBLIC_MODE,
            Overwrite::Replace,
        )?;
        Ok(())
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

/// What `ca init` made.
#[derive(Debug, Serialize)]
pub struct InitOutput {
    /// The root certificate file.
    pub root_certificate: PathBuf,
    /// The root key file (0600).
    pub root_key: PathBuf,
    /// The federation's name.
    pub federation: String,
    /// The root's public key (hex).
    pub public_key: String,
    /// End of the root's validity.
    pub not_after: String,
}

/// Creates a new federation root in `dir` (which must not hold one already).
pub fn init(
    dir: &Path,
    federation: &str,
    days: u32,
    now: Timestamp,
) -> Result<InitOutput, AdminError> {
    std::fs::create_dir_all(dir).map_err(|reason| files::FileError::Write {
        path: dir.to_owned(),
        reason,
    })?;
    let key = NodeKey::from_seed(files::random_bytes()?);
    let validity = Validity::days_from(now, days);
    let root_pem = pki::create_root(&key, federation, validity, files::random_bytes()?)?;
    let key_path = dir.join(ROOT_KEY);
    let cert_path = dir.join(ROOT_CERT);
    files::write_file(
        &key_path,
        &key.to_pkcs8_pem()?,
        SECRET_MODE,
        Overwrite::Never,
    )?;
    files::write_file(&cert_path, &root_pem, PUBLIC_MODE, Overwrite::Never)?;
    let ledger = Ledger {
        federation: federation.to_owned(),
        ..Ledger::default()
    };
    let text =
        serde_json::to_string_pretty(&ledger).map_err(|e| AdminError::Invalid(e.to_string()))?;
    files::write_file(&dir.join(LEDGER), &text, PUBLIC_MODE, Overwrite::Never)?;
    Ok(InitOutput {
        root_certificate: cert_path,
        root_key: key_path,
        federation: federation.to_owned(),
        public_key: key.public().to_hex(),
        not_after: validity.not_after.to_string(),
    })
}

/// What `ca issue` made.
#[derive(Debug, Serialize)]
pub struct IssueOutput {
    /// The certificate file.
    pub certificate: PathBuf,
    /// Serial number (hex).
    pub serial: String,
    /// Agency id.
    pub agency: String,
    /// Role.
    pub role: String,
    /// Country.
    pub country: String,
    /// Contact fields, as read back from the certificate (`emails`, `phone`, `url`).
    pub contact: Contact,
    /// Start of validity.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
}

/// Issues an agency certificate for the node public key in `public_key_pem`, with `contact`'s
/// fields (an empty [`Contact`] adds none); implausible contact values are refused before
/// anything is written.
pub fn issue(
    ca: &mut CaDir,
    subject: &AgencySubject,
    contact: &Contact,
    public_key_pem: &str,
    days: u32,
    now: Timestamp,
    out: &Path,
) -> Result<IssueOutput, AdminError> {
    let node_key = PublicKey::from_pem(public_key_pem).map_err(|reason| AdminError::Key {
        path: PathBuf::from("(public key)"),
        reason,
    })?;
    let validity = Validity::days_from(now, days);
    let pem = pki::issue_agency_certificate_with_contact(
        &ca.key,
        &ca.root_pem,
        subject,
        contact,
        &node_key,
        validity,
        files::random_bytes()?,
    )?;
    // Read back what was made, exactly as a node will.
    let verified = pki::verify_agency_certificate_with_contact(
        &pem,
        std::slice::from_ref(&ca.anchor),
        &[],
        now,
        &CertPolicy::default(),
    )?;
    let identity = verified.identity;
    files::write_file(out, &pem, PUBLIC_MODE, Overwrite::Never)?;
    ca.ledger.issued.push(IssuedEntry {
        serial: identity.serial.clone(),
        agency: subject.agency.to_string(),
        role: subject.role.to_string(),
        country: subject.country.to_string(),
        not_after: validity.not_after.as_secs(),
    });
    ca.save_ledger()?;
    Ok(IssueOutput {
        certificate: out.to_owned(),
        serial: identity.serial,
        agency: subject.agency.to_string(),
        role: subject.role.to_string(),
        country: subject.country.to_string(),
        contact: verified.contact,
        not_before: validity.not_before.to_string(),
        not_after: validity.not_after.to_string(),
    })
}

/// What `ca revoke` did.
#[derive(Debug, Serialize)]
pub struct RevokeOutput {
    /// The revoked serial.
    pub serial: String,
    /// The agency it was issued to, if this authority's ledger knows it.
    pub agency: Option<String>,
    /// Whether it was already revoked.
    pub already_revoked: bool,
    /// The reason now in the ledger.
    pub reason: RevocationReason,
}

/// Marks a serial as revoked in the ledger; `ca crl` publishes it. Revoking again may make a
/// retirement (`superseded`, `cessation-of-operation`) strict (`key-compromise`,
/// `unspecified`), never the other way: what a leaked key signed must not count again.
pub fn revoke(
    ca: &mut CaDir,
    serial: &str,
    reason: RevocationReason,
    now: Timestamp,
) -> Result<RevokeOutput, AdminError> {
    let serial = serial.trim().trim_start_matches("0x").to_ascii_lowercase();
    if serial.is_empty() || serial.len() > 40 || !serial.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AdminError::Invalid(format!(
            "{serial:?} is not a hex serial number"
        )));
    }
    let agency = ca
        .ledger
        .issued
        .iter()
        .find(|entry| entry.serial == serial)
        .map(|entry| entry.agency.clone());
    let held = ca
        .ledger
        .revoked
        .iter_mut()
        .find(|entry| entry.serial == serial);
    let already_revoked = held.is_some();
    let reason = match held {
        None => {
            ca.ledger.revoked.push(RevokedEntry {
                serial: serial.clone(),
                revoked_at: now.as_secs(),
                reason,
            });
            ca.save_ledger()?;
            reason
        }
        Some(entry) if entry.reason == reason => reason,
        Some(entry)
            if entry.reason.keeps_earlier_signatures() && !reason.keeps_earlier_signatures() =>
        {
            entry.reason = reason;
            ca.save_ledger()?;
            reason
        }
        Some(entry) => {
            return Err(AdminError::Invalid(format!(
                "{serial} is already revoked as {}; a revocation is never softened to {}",
                entry.reason.as_str(),
                reason.as_str()
            )));
        }
    };
    Ok(RevokeOutput {
        serial,
        agency,
        already_revoked,
        reason,
    })
}

/// What `ca crl` made.
#[derive(Debug, Serialize)]
pub struct CrlOutput {
    /// The CRL file.
    pub crl: PathBuf,
    /// Its CRL number.
    pub crl_number: u64,
    /// How many certificates it lists.
    pub revoked: usize,
    /// Issue time.
    pub this_update: String,
    /// When the next CRL is due; nodes refuse the CRL after this.
    pub next_update: String,
}

/// Publishes a CRL of everything revoked so far.
pub fn crl(
    ca: &mut CaDir,
    out: &Path,
    valid_days: u32,
    now: Timestamp,
) -> Result<CrlOutput, AdminError> {
    let revoked: Vec<Revocation> = ca
        .ledger
        .revoked
        .iter()
        .map(|entry| Revocation {
            serial: entry.serial.clone(),
            revoked_at: Timestamp::from_secs(entry.revoked_at),
            reason: entry.reason,
        })
        .collect();
    let crl_number = ca.ledger.crl_number + 1;
    let next_update = now.plus_secs(u64::from(valid_days) * 86_400);
    let pem = pki::create_crl(
        &ca.key,
        &ca.root_pem,
        &revoked,
        crl_number,
        now,
        next_update,
    )?;
    files::write_file(out, &pem, PUBLIC_MODE, Overwrite::Replace)?;
    ca.ledger.crl_number = crl_number;
    ca.save_ledger()?;
    Ok(CrlOutput {
        crl: out.to_owned(),
        crl_number,
        revoked: revoked.len(),
        this_update: now.to_string(),
        next_update: next_update.to_string(),
    })
}
