//! `cert verify`: checks an agency certificate against roots, CRLs, a time, and optionally a role
//! and the node key it must certify, exactly as a node does at start and at admission.

use std::path::{Path, PathBuf};

use safeport_protocol::pki::{self, CertPolicy, Contact, Crl, TrustAnchor};
use safeport_protocol::{PublicKey, Role, Timestamp};
use serde::Serialize;

use crate::AdminError;
use crate::files;

/// What `cert verify` is asked to check.
#[derive(Debug)]
pub struct VerifyRequest<'a> {
    /// The certificate file.
    pub certificate: &'a Path,
    /// Root certificate files.
    pub roots: &'a [PathBuf],
    /// CRL files.
    pub crls: &'a [PathBuf],
    /// The time of the check.
    pub at: Timestamp,
    /// Accepted roles (empty: any).
    pub roles: Vec<Role>,
    /// A public key file the certificate must certify.
    pub key: Option<&'a Path>,
}

/// A certificate that verified.
#[derive(Debug, Serialize)]
pub struct VerifyOutput {
    /// Always true (failures are errors).
    pub valid: bool,
    /// Agency id.
    pub agency: String,
    /// Role.
    pub role: String,
    /// Country.
    pub country: String,
    /// Organisation name.
    pub organisation: String,
    /// Contact fields (`emails`, `phone`, `url`); empty when the certificate states none.
    pub contact: Contact,
    /// Certified node key (hex).
    pub public_key: String,
    /// Serial (hex).
    pub serial: String,
    /// Issuing root.
    pub issuer: String,
    /// Start of validity.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
    /// The time the check was made for.
    pub checked_at: String,
}

/// Verifies a certificate; every failure is an error naming the reason.
pub fn verify(request: &VerifyRequest<'_>) -> Result<VerifyOutput, AdminError> {
    let (anchors, crls) = load_trust(request.roots, request.crls)?;
    let expected_key = match request.key {
        Some(path) => Some(
            PublicKey::from_pem(&files::read_text(path)?).map_err(|reason| AdminError::Key {
                path: path.to_owned(),
                reason,
            })?,
        ),
        None => None,
    };
    let pem = files::read_text(request.certificate)?;
    let policy = CertPolicy {
        allowed_roles: request.roles.clone(),
        expected_key,
    };
    let verified =
        pki::verify_agency_certificate_with_contact(&pem, &anchors, &crls, request.at, &policy)
            .map_err(|reason| AdminError::Cert {
                path: request.certificate.to_owned(),
                reason,
            })?;
    let identity = verified.identity;
    Ok(VerifyOutput {
        valid: true,
        agency: identity.subject.agency.to_string(),
        role: identity.subject.role.to_string(),
        country: identity.subject.country.to_string(),
        organisation: identity.subject.organisation,
        contact: verified.contact,
        public_key: identity.key.to_hex(),
        serial: identity.serial,
        issuer: identity.issuer,
        not_before: identity.validity.not_before.to_string(),
        not_after: identity.validity.not_after.to_string(),
        checked_at: request.at.to_string(),
    })
}

/// Reads root certificates and CRLs (each CRL checked against the roots).
pub fn load_trust(
    roots: &[PathBuf],
    crl_files: &[PathBuf],
) -> Result<(Vec<TrustAnchor>, Vec<Crl>), AdminError> {
    if roots.is_empty() {
        return Err(AdminError::Invalid("give at least one --root".into()));
    }
    let mut anchors = Vec::new();
    for path in roots {
        let anchor =
            TrustAnchor::from_pem(&files::read_text(path)?).map_err(|reason| AdminError::Cert {
                path: path.clone(),
                reason,
            })?;
        anchors.push(anchor);
    }
    let mut crls = Vec::new();
    for path in crl_files {
        let crl = Crl::from_pem(&files::read_text(path)?, &anchors).map_err(|reason| {
            AdminError::Cert {
                path: path.clone(),
                reason,
            }
        })?;
        crls.push(crl);
    }
    Ok((anchors, crls))
}
