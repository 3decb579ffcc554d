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
pub mod crl;
pub mod issue;
pub mod signer;
pub mod verify;

use crate::ids::{AgencyId, Country, Role, Timestamp};
use crate::keys::PublicKey;

pub use contact::{Contact, ContactError};
pub use crl::Crl;
pub use issue::{
    IssueError, Revocation, create_crl, create_root, issue_agency_certificate,
    issue_agency_certificate_with_contact,
};
pub use signer::{
    AgencySigners, CertificateFacts, MAX_AGENCY_CERTIFICATES, SignerCertificate, SignerKey,
    canonical_pem, certificate_facts, verify_signer_certificate,
};
pub use verify::{
    CertError, CertPolicy, TrustAnchor, certificate_contact, certificate_serial,
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

/// Why the authority revoked a certificate: the RFC 5280 reason codes Safeport tells apart.
/// A revocation without a reason, or with one not listed here, counts as a compromise.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    /// No reason given: nothing signed with the key counts any more, whenever it was signed.
    #[default]
    Unspecified,
    /// The key leaked or may have: nothing signed with it counts, whenever it was signed.
    KeyCompromise,
    /// Replaced by a newer certificate (a node key rotation): the key can no longer connect,
    /// but what it signed before the revocation still counts.
    Superseded,
    /// The agency's node stopped operating: as [`RevocationReason::Superseded`].
    CessationOfOperation,
}

impl RevocationReason {
    /// Every reason, for parsing and listing.
    pub const ALL: [RevocationReason; 4] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
    ];

    /// The name used on the command line and in the authority's ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "key-compromise",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessation-of-operation",
        }
    }

    /// Reads a name written by [`RevocationReason::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == name)
    }

    /// Whether records signed before the revocation still count: the key was retired, not
    /// lost.
    pub fn keeps_earlier_signatures(self) -> bool {
        matches!(
            self,
            RevocationReason::Superseded | RevocationReason::CessationOfOperation
        )
    }

    /// The RFC 5280 reason code (`None` for [`RevocationReason::Unspecified`], which CRLs leave
    /// out).
    pub fn code(self) -> Option<u8> {
        match self {
            RevocationReason::Unspecified => None,
            RevocationReason::KeyCompromise => Some(1),
            RevocationReason::Superseded => Some(4),
            RevocationReason::CessationOfOperation => Some(5),
        }
    }

    /// The reason of an RFC 5280 code; codes Safeport does not tell apart are
    /// [`RevocationReason::Unspecified`] (the strict reading).
    pub fn from_code(code: Option<u8>) -> Self {
        match code {
            Some(1) => RevocationReason::KeyCompromise,
            Some(4) => RevocationReason::Superseded,
            Some(5) => RevocationReason::CessationOfOperation,
            _ => RevocationReason::Unspecified,
        }
    }
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
