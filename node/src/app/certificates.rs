//! The certificates a node keeps of each agency, across node key rotations.
//!
//! Every certificate that verified is kept (`store/certificates.rs`), so a record, agreement
//! or backup signed under an agency's earlier key still verifies after the agency rotated its
//! key; the newest one is also the agency's current certificate (its role, key and contact).
//! Which certificate may sign what is the protocol's rule (`pki::signer`): chain and CRL judged
//! now, the validity window at the record's creation time, a retired certificate only for what
//! it signed before its retirement.

use std::collections::BTreeMap;

use safeport_protocol::pki::{
    self, AgencySigners, CertPolicy, Crl, MAX_AGENCY_CERTIFICATES, SignerCertificate, TrustAnchor,
};
use safeport_protocol::{AgencyId, Role, Timestamp};

use super::{App, AppError};
use crate::store::{Store, StoreBatch, StoreError};

/// The certificate policy of signers: any role that runs a node.
fn signer_policy() -> CertPolicy {
    CertPolicy {
        allowed_roles: vec![Role::Hotline, Role::Lea, Role::Interpol],
        expected_key: None,
    }
}

/// Verifies a certificate as a signer of records (see the module doc).
pub(crate) fn verify_signer(
    pem: &str,
    anchors: &[TrustAnchor],
    crls: &[Crl],
    now: Timestamp,
) -> Result<SignerCertificate, String> {
    pki::verify_signer_certificate(pem, anchors, crls, now, &signer_policy())
        .map_err(|e| e.to_string())
}

/// Every certificate held for `agency` that verifies as a signer and names that agency,
/// newest first, with the reasons the others were refused.
pub(crate) fn stored_signer_certificates(
    store: &Store,
    anchors: &[TrustAnchor],
    crls: &[Crl],
    now: Timestamp,
    agency: &AgencyId,
) -> Result<(Vec<SignerCertificate>, Vec<String>), StoreError> {
    let mut verified = Vec::new();
    let mut refused = Vec::new();
    for pem in store.agency_certificates(agency)?.iter().rev() {
        match verify_signer(pem, anchors, crls, now) {
            Ok(signer) if &signer.identity.subject.agency == agency => verified.push(signer),
            Ok(signer) => refused.push(format!(
                "a certificate stored for {agency} names {}",
                signer.identity.subject.agency
            )),
            Err(reason) => refused.push(reason),
        }
    }
    Ok((verified, refused))
}

/// The signer keys of certificates, by agency.
pub(crate) fn signers_by_agency<'a>(
    certificates: impl IntoIterator<Item = &'a SignerCertificate>,
) -> BTreeMap<AgencyId, AgencySigners> {
    let mut by_agency: BTreeMap<AgencyId, AgencySigners> = BTreeMap::new();
    for signer in certificates {
        by_agency
            .entry(signer.identity.subject.agency.clone())
            .or_default()
            .add(signer);
    }
    by_agency
}

impl App {
    /// Verifies a certificate as a signer of records, against this node's trust now.
    pub(crate) fn verify_signer(&self, pem: &str) -> Result<SignerCertificate, String> {
        let trust = self.trust();
        verify_signer(pem, &trust.anchors, trust.crl.as_slice(), self.now())
    }

    /// The signer keys of every certificate held for `agency`.
    pub(super) fn stored_signers(&self, agency: &AgencyId) -> Result<AgencySigners, AppError> {
        let trust = self.trust();
        let (verified, _) = stored_signer_certificates(
            &self.store,
            &trust.anchors,
            trust.crl.as_slice(),
            self.now(),
            agency,
        )?;
        Ok(signers_by_agency(&verified)
            .remove(agency)
            .unwrap_or_default())
    }

    /// Adds verified certificates to `batch`, in their canonical PEM text: each among its
    /// agency's certificates unless held already. An agency at [`MAX_AGENCY_CERTIFICATES`]
    /// makes room by dropping its oldest certificate that no longer verifies, or, for a
    /// certificate newer than all it holds, its oldest one; otherwise the certificate is not
    /// kept (logged). The newest of an agency that is valid and unrevoked now also becomes its
    /// current certificate when it is newer than the one held. Returns how many were new.
    pub(super) fn keep_certificates(
        &self,
        batch: &mut StoreBatch<'_>,
        certificates: &[(SignerCertificate, String)],
    ) -> Result<usize, AppError> {
        let now = self.now();
        let trust = self.trust();
        let mut held: BTreeMap<AgencyId, Vec<String>> = BTreeMap::new();
        let mut current: BTreeMap<AgencyId, (SignerCertificate, String)> = BTreeMap::new();
        let mut added = 0;
        for (signer, pem) in certificates {
            let Ok(pem) = pki::canonical_pem(pem) else {
                continue;
            };
            let agency = &signer.identity.subject.agency;
            if !held.contains_key(agency) {
                held.insert(agency.clone(), self.store.agency_certificates(agency)?);
            }
            let Some(kept) = held.get_mut(agency) else {
                continue;
            };
            if kept.contains(&pem) {
                continue;
            }
            if kept.len() >= MAX_AGENCY_CERTIFICATES {
                let unverified = kept.iter().position(|old| {
                    verify_signer(old, &trust.anchors, trust.crl.as_slice(), now).is_err()
                });
                let newer_than_all = kept.iter().all(|old| {
                    pki::certificate_facts(old).is_ok_and(|facts| signer.is_newer_than(&facts))
                });
                let victim = unverified.or(newer_than_all.then_some(0));
                let Some(victim) = victim else {
                    tracing::warn!(
                        %agency,
                        serial = %signer.identity.serial,
                        "certificate not kept: the agency already has {MAX_AGENCY_CERTIFICATES}"
                    );
                    continue;
                };
                let dropped = kept.remove(victim);
                batch.remove_agency_certificate(agency, &dropped)?;
            }
            batch.add_agency_certificate(agency, &pem)?;
            kept.push(pem.clone());
            added += 1;
            // Only a certificate that may connect now can be the agency's current one.
            if signer.retired_at.is_none()
                && signer.signs_at(now)
                && current
                    .get(agency)
                    .is_none_or(|(held, _)| signer.is_newer_than(&held.facts()))
            {
                current.insert(agency.clone(), (signer.clone(), pem));
            }
        }
        for (agency, (signer, pem)) in current {
            let newer = match self
                .store
                .certificate(&agency)?
                .as_deref()
                .map(pki::certificate_facts)
            {
                Some(Ok(held)) => signer.is_newer_than(&held),
                // Nothing held, or a value that no longer parses: the verified one replaces it.
                None | Some(Err(_)) => true,
            };
            if newer {
                batch.put_certificate(&agency, &pem)?;
            }
        }
        Ok(added)
    }
}
