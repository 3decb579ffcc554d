//! The federation's X.509 PKI: a root certificate (the federation authority), agency
//! certificates that certify a node's Ed25519 key with its agency id, role and country, and
//! CRLs. Everything is standard X.509 with Ed25519 (RFC 8410), so `openssl verify -crl_check`
//! accepts what [`issue`] creates.
//!
//! Agency fields live in the subject name, where every tool shows them:
//! `CN=<agency id>, O=<organisation>, OU=<role>, C=<country>`. Optional contact fields
//! ([`contact`]) sit in standard places too: a `telephoneNumber` in the subject name, email
//! addresses and a website in the subjectAltName extension.
//! Verification ([`verify`]) takes the time as an argument and never reads a clock.

pub mod contact;
pub mod issue;
pub mod verify;

use crate::ids::{AgencyId, Country, Role, Timestamp};
use crate::keys::PublicKey;

pub use contact::{Contact, ContactError};
pub use issue::{
    IssueError, Revocation, create_crl, create_root, issue_agency_certificate,
    issue_agency_certificate_with_contact,
};
pub use verify::{
    CertError, CertPolicy, Crl, TrustAnchor, certificate_contact, certificate_serial,
    verify_agency_certificate, verify_agency_certificate_with_contact,
};

/// Longest certificate or CRL PEM accepted (64 KiB).
pub const MAX_PEM_BYTES: usize = 64 * 1024;
/// Most entries accepted in one CRL.
pub const MAX_CRL_ENTRIES: usize = 100_000;

/// The agency an agency certificate describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencySubject {
    /// The agency id (certificate CN).
    pub agency: AgencyId,
    /// The agency's role (certificate OU). Never [`Role::Authority`].
    pub role: Role,
    /// The agency's country (certificate C).
    pub country: Country,
    /// The agency's display name (certificate O), e.g. "Meldpunt Kinderporno".
    pub organisation: String,
}

/// A validity window: `not_before <= t <= not_after` (X.509 semantics, whole seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First second of validity.
    pub not_before: Timestamp,
    /// Last second of validity.
    pub not_after: Timestamp,
}

impl Validity {
    /// From `start` for `days` days.
    pub fn days_from(start: Timestamp, days: u32) -> Self {
        Self {
            not_before: start,
            not_after: start.plus_secs(u64::from(days) * 86_400),
        }
    }
}

/// What a verified agency certificate certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyIdentity {
    /// The agency, role, country and organisation.
    pub subject: AgencySubject,
    /// The certified node key.
    pub key: PublicKey,
    /// The certificate serial number, as lower-case hex without leading zeros.
    pub serial: String,
    /// The certificate's validity.
    pub validity: Validity,
    /// The issuing root's common name.
    pub issuer: String,
}

/// A verified agency certificate with its contact fields. (The contact is kept beside
/// [`AgencyIdentity`] rather than inside it so the many callers that only need the identity
/// keep building and matching it as they did.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAgency {
    /// What the certificate certifies.
    pub identity: AgencyIdentity,
    /// How the agency can be reached, as the certificate states it (empty when it states
    /// nothing).
    pub contact: Contact,
}

/// A certificate serial as the hex string used in CLI output and CRL look-ups.
pub(crate) fn serial_hex(big_endian: &[u8]) -> String {
    let trimmed: Vec<u8> = big_endian.iter().copied().skip_while(|b| *b == 0).collect();
    if trimmed.is_empty() {
        "0".into()
    } else {
        hex::encode(trimmed)
    }
}
