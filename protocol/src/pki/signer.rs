//! Certificates as the signers of records, across node key rotations.
//!
//! An agency rotates its node key by having the federation authority certify a new key; its
//! node signs with the new key from then on, while everything it signed before stays signed by
//! the earlier one. So a node keeps every certificate of an agency (at most
//! [`MAX_AGENCY_CERTIFICATES`]) and verifies a record under a certificate of its originator
//! that was valid when the record was created:
//! - chain and CRL are judged now;
//! - the certificate's validity window is judged at the record's creation time, so records
//!   outlive the certificate that signed them when it expires after a rotation;
//! - a certificate revoked as `superseded` or `cessation-of-operation` (a retired key) still
//!   signs the records made before its revocation; revoked for any other reason (a key that
//!   leaked, or no reason given) it signs nothing, whenever the record claims to be from.
//!
//! Connections (admission) are judged strictly: a revoked certificate never connects, so the
//! authority's `superseded` revocation after a rotation shuts the retired key out while its
//! records keep verifying. The creation time is the signer's claim: a retired key that leaks
//! could backdate records, which is why a leak is revoked as `key-compromise`.

use x509_parser::x509::X509Name;

use super::crl::Crl;
use super::verify::{
    CertError, CertPolicy, TrustAnchor, check_time, ed25519_key, parse_certificate, pem_der,
    time_of, verify_certificate_at,
};
use super::{AgencyIdentity, Validity, serial_hex};
use crate::ids::Timestamp;
use crate::keys::{PreparedKey, PublicKey};

/// Most certificates kept per agency: one per key rotation, so even yearly rotations take
/// decades to reach it; a node refuses further ones rather than forget an old signer.
pub const MAX_AGENCY_CERTIFICATES: usize = 16;

/// What a certificate states, read without verifying it: for certificates that were verified
/// when stored (store keys, migrations) or for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The agency named as the subject's common name (not checked against the id syntax).
    pub common_name: String,
    /// Serial number, lower-case hex.
    pub serial: String,
    /// Validity window.
    pub validity: Validity,
    /// The certified key.
    pub key: PublicKey,
}

/// Reads a certificate's serial, validity, key and common name without verifying anything.
pub fn certificate_facts(pem: &str) -> Result<CertificateFacts, CertError> {
    let der = pem_der(pem, "CERTIFICATE")?;
    let cert = parse_certificate(&der)?;
    Ok(CertificateFacts {
        common_name: first_common_name(cert.subject()),
        serial: serial_hex(cert.raw_serial()),
        validity: Validity {
            not_before: time_of(cert.validity().not_before),
            not_after: time_of(cert.validity().not_after),
        },
        key: ed25519_key(&cert, "agency certificate")?,
    })
}

fn first_common_name(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A certificate verified as a signer of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerCertificate {
    /// What it certifies.
    pub identity: AgencyIdentity,
    /// When the authority retired it (revoked as superseded or out of operation), if it did:
    /// only records made before count.
    pub retired_at: Option<Timestamp>,
}

impl SignerCertificate {
    /// Whether a record made at `at` may carry this certificate's signature: within the
    /// validity window (X.509: inclusive, whole seconds) and before any retirement.
    pub fn signs_at(&self, at: Timestamp) -> bool {
        signs_at(self.identity.validity, self.retired_at, at)
    }

    /// What the certificate states, for comparing with a held one.
    pub fn facts(&self) -> CertificateFacts {
        CertificateFacts {
            common_name: self.identity.subject.agency.as_str().to_owned(),
            serial: self.identity.serial.clone(),
            validity: self.identity.validity,
            key: self.identity.key,
        }
    }

    /// Whether this certificate is newer than `other` (of the same agency): it starts later, or
    /// at the same second with a higher serial, so the order is total.
    pub fn is_newer_than(&self, other: &CertificateFacts) -> bool {
        order(self.identity.validity.not_before, &self.identity.serial)
            > order(other.validity.not_before, &other.serial)
    }
}

fn order(not_before: Timestamp, serial: &str) -> (Timestamp, usize, &str) {
    // Serials are hex without leading zeros: a longer one is a larger number.
    (not_before, serial.len(), serial)
}

fn signs_at(validity: Validity, retired_at: Option<Timestamp>, at: Timestamp) -> bool {
    check_time(validity, at).is_ok() && retired_at.is_none_or(|retired| at < retired)
}

/// The certificate in its one canonical PEM text (re-encoded from its DER), so the same
/// certificate is always stored and compared as the same bytes whatever padding or line
/// breaks it arrived with.
pub fn canonical_pem(pem: &str) -> Result<String, CertError> {
    let der = pem_der(pem, "CERTIFICATE")?;
    parse_certificate(&der)?;
    Ok(pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    ))
}

/// Verifies a certificate as a signer of records: like
/// [`super::verify_agency_certificate`] at `now`, except that the validity window and a
/// retirement are left for [`SignerCertificate::signs_at`] to judge per record.
pub fn verify_signer_certificate(
    pem: &str,
    anchors: &[TrustAnchor],
    crls: &[Crl],
    now: Timestamp,
    policy: &CertPolicy,
) -> Result<SignerCertificate, CertError> {
    verify_certificate_at(pem, anchors, crls, now, None, policy).map(|(verified, retired_at)| {
        SignerCertificate {
            identity: verified.identity,
            retired_at,
        }
    })
}

/// One verified signer key of an agency.
#[derive(Debug, Clone)]
pub struct SignerKey {
    /// The key, decompressed once for many verifications.
    pub key: PreparedKey,
    /// The certificate's validity window.
    pub validity: Validity,
    /// When the certificate was retired, if it was.
    pub retired_at: Option<Timestamp>,
    /// The certificate serial (for logs).
    pub serial: String,
}

/// The verified signer keys of one agency, newest certificate first.
#[derive(Debug, Clone, Default)]
pub struct AgencySigners {
    keys: Vec<SignerKey>,
}

impl AgencySigners {
    /// Adds a certificate verified with [`verify_signer_certificate`]; a certificate already
    /// held, a key that does not decompress, or one beyond [`MAX_AGENCY_CERTIFICATES`] is
    /// skipped.
    pub fn add(&mut self, signer: &SignerCertificate) {
        let identity = &signer.identity;
        if self.keys.len() >= MAX_AGENCY_CERTIFICATES
            || self.keys.iter().any(|held| held.serial == identity.serial)
        {
            return;
        }
        let Ok(key) = identity.key.prepare() else {
            return;
        };
        self.keys.push(SignerKey {
            key,
            validity: identity.validity,
            retired_at: signer.retired_at,
            serial: identity.serial.clone(),
        });
        self.keys.sort_by(|a, b| {
            order(b.validity.not_before, &b.serial).cmp(&order(a.validity.not_before, &a.serial))
        });
    }

    /// The keys that may have signed a record made at `at`, newest first.
    pub fn signing_at(&self, at: Timestamp) -> impl Iterator<Item = &SignerKey> {
        self.keys
            .iter()
            .filter(move |signer| signs_at(signer.validity, signer.retired_at, at))
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
