//! Certificate revocation lists: read, their signature verified against the root that issued
//! them, and their entries (serial, time, reason) looked up by serial.

use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::verify::{
    CertError, TrustAnchor, check_ed25519, find_anchor, pem_der, signature_of, time_of,
};
use super::{MAX_CRL_ENTRIES, RevocationReason, serial_hex};
use crate::ids::Timestamp;

/// A CRL whose signature has been verified against a trust anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    pub(super) issuer_der: Vec<u8>,
    crl_number: Option<String>,
    this_update: Timestamp,
    pub(super) next_update: Option<Timestamp>,
    /// (serial hex, revoked at, why), sorted by serial.
    revoked: Vec<(String, Timestamp, RevocationReason)>,
}

impl Crl {
    /// Reads a CRL and verifies its signature against the root that issued it.
    pub fn from_pem(pem: &str, anchors: &[TrustAnchor]) -> Result<Self, CertError> {
        let der = pem_der(pem, "X509 CRL")?;
        let (rest, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| CertError::Malformed(format!("CRL ({e})")))?;
        if !rest.is_empty() {
            return Err(CertError::Malformed("CRL has trailing bytes".into()));
        }
        check_ed25519(&crl.signature_algorithm.algorithm, "CRL")?;
        let anchor = find_anchor(anchors, crl.issuer())?;
        let signature = signature_of(&crl.signature_value.data, "CRL")?;
        anchor
            .key
            .verify(crl.tbs_cert_list.as_ref(), &signature)
            .map_err(|_| CertError::BadSignature("CRL"))?;
        let mut revoked = Vec::new();
        for entry in crl.iter_revoked_certificates() {
            if revoked.len() == MAX_CRL_ENTRIES {
                return Err(CertError::CrlTooLarge);
            }
            let reason = RevocationReason::from_code(entry.reason_code().map(|(_, code)| code.0));
            revoked.push((
                serial_hex(&entry.user_certificate.to_bytes_be()),
                time_of(entry.revocation_date),
                reason,
            ));
        }
        revoked.sort();
        Ok(Self {
            issuer_der: crl.issuer().as_raw().to_vec(),
            crl_number: crl.crl_number().map(|n| n.to_str_radix(10)),
            this_update: time_of(crl.last_update()),
            next_update: crl.next_update().map(time_of),
            revoked,
        })
    }

    /// The CRL number, if present.
    pub fn number(&self) -> Option<&str> {
        self.crl_number.as_deref()
    }

    /// When the CRL was issued.
    pub fn this_update(&self) -> Timestamp {
        self.this_update
    }

    /// Number of revoked certificates listed.
    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    /// Whether no certificate is revoked.
    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }

    pub(super) fn revocation_of(&self, serial: &str) -> Option<(Timestamp, RevocationReason)> {
        self.revoked
            .binary_search_by(|(s, _, _)| s.as_str().cmp(serial))
            .ok()
            .map(|i| (self.revoked[i].1, self.revoked[i].2))
    }
}
