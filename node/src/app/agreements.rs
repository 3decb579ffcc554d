//! The agreement book: every agreement this node is party to, its state (pending, active,
//! revoked, invalid) and the verified agreements `authorize()` uses.
//!
//! The book is derived from stored records only (agreement and revocation records plus the
//! parties' certificates), so it is rebuilt the same way after a restart. An agreement is
//! active only when both parties' signatures verify against certificates held for them (any key
//! the agency was certified for, across key rotations), their certified roles allow its scope,
//! it is not revoked, and it is valid now.

use std::cell::RefCell;
use std::collections::BTreeMap;

use safeport_protocol::agreement::{
    Agreement, AgreementRevocation, AgreementTerms, Party, VerifiedAgreement,
};
use safeport_protocol::keys::Signature;
use safeport_protocol::pki::{Crl, SignerCertificate, TrustAnchor};
use safeport_protocol::{AgencyId, RecordType, Signed, Timestamp};
use serde::Serialize;

use crate::store::{Store, StoreError};

/// Most agreement and revocation records read when rebuilding the book.
pub const MAX_AGREEMENT_RECORDS: usize = 10_000;

/// Where an agreement stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum AgreementState {
    /// Signed by one party; waits for the other.
    Pending {
        /// The party whose signature is missing.
        awaiting: AgencyId,
    },
    /// Signed by both, verified, and valid now.
    Active,
    /// Signed by both but outside its validity window now.
    NotValidNow,
    /// Ended by a party.
    Revoked {
        /// The party that ended it.
        by: AgencyId,
        /// Its reason.
        reason: String,
    },
    /// Does not verify (bad signature, wrong roles, unknown or revoked certificate).
    Invalid {
        /// Why.
        reason: String,
    },
}

/// One agreement as this node knows it.
#[derive(Debug, Clone)]
pub struct AgreementEntry {
    /// The agreement with every signature seen so far.
    pub agreement: Agreement,
    /// Its state now.
    pub state: AgreementState,
    /// The verified form, when active.
    pub verified: Option<VerifiedAgreement>,
}

/// All agreements involving this node, by agreement id, with the verified ones and the
/// counterparties precomputed (the book is read for every record that is stored or served).
#[derive(Debug, Clone, Default)]
pub struct AgreementBook {
    entries: BTreeMap<[u8; 16], AgreementEntry>,
    active: Vec<VerifiedAgreement>,
    counterparties: Vec<AgencyId>,
}

/// What the book needs to judge agreements.
pub struct Judge<'a> {
    /// This node's agency.
    pub me: &'a AgencyId,
    /// The federation roots.
    pub anchors: &'a [TrustAnchor],
    /// The CRL in force (none or one).
    pub crls: &'a [Crl],
    /// The time of the judgement.
    pub now: Timestamp,
    /// Each agency's verified certificates (and why others were refused), read and verified
    /// once per judgement rather than once per agreement.
    signers: RefCell<BTreeMap<AgencyId, Signers>>,
}

/// An agency's certificates that verify as signers, newest first, and the refusals of the rest.
type Signers = (Vec<SignerCertificate>, Vec<String>);

impl<'a> Judge<'a> {
    /// A judgement at `now` against `anchors` and `crls`.
    pub fn new(
        me: &'a AgencyId,
        anchors: &'a [TrustAnchor],
        crls: &'a [Crl],
        now: Timestamp,
    ) -> Self {
        Self {
            me,
            anchors,
            crls,
            now,
            signers: RefCell::default(),
        }
    }

    fn signers(&self, store: &Store, agency: &AgencyId) -> Result<Signers, StoreError> {
        if let Some(known) = self.signers.borrow().get(agency) {
            return Ok(known.clone());
        }
        let found = super::certificates::stored_signer_certificates(
            store,
            self.anchors,
            self.crls,
            self.now,
            agency,
        )?;
        self.signers
            .borrow_mut()
            .insert(agency.clone(), found.clone());
        Ok(found)
    }
}

fn merge(into: &mut Agreement, from: &Agreement) {
    if into.provider_signature.is_none() {
        into.provider_signature = from.provider_signature;
    }
    if into.recipient_signature.is_none() {
        into.recipient_signature = from.recipient_signature;
    }
}

impl AgreementBook {
    /// Rebuilds the book from the stored agreement and revocation records.
    pub fn rebuild(store: &Store, judge: &Judge<'_>) -> Result<Self, StoreError> {
        let mut merged: BTreeMap<[u8; 16], Agreement> = BTreeMap::new();
        for id in store.records_of_type(RecordType::Agreement, None, MAX_AGREEMENT_RECORDS)? {
            let Some(raw) = store.record(&id)? else {
                continue;
            };
            // Stored records were verified at ingest; a record that no longer decodes is
            // skipped rather than trusted.
            let Ok(record) = raw.into_typed::<Agreement>() else {
                continue;
            };
            let agreement = record.body();
            let parties = [&agreement.terms.provider, &agreement.terms.recipient];
            if !parties.contains(&judge.me) {
                continue;
            }
            match merged.get_mut(&agreement.terms.agreement_id) {
                // Signatures over different terms under one id never merge.
                Some(existing) if existing.terms == agreement.terms => merge(existing, agreement),
                Some(_) => {}
                None => {
                    merged.insert(agreement.terms.agreement_id, agreement.clone());
                }
            }
        }
        let mut revocations: BTreeMap<[u8; 16], (AgencyId, String)> = BTreeMap::new();
        for id in
            store.records_of_type(RecordType::AgreementRevocation, None, MAX_AGREEMENT_RECORDS)?
        {
            let Some(raw) = store.record(&id)? else {
                continue;
            };
            let Ok(record) = raw.into_typed::<AgreementRevocation>() else {
                continue;
            };
            let revocation: &Signed<AgreementRevocation> = &record;
            revocations.insert(
                revocation.body().agreement_id,
                (
                    revocation.header().origin.clone(),
                    revocation.body().reason.clone(),
                ),
            );
        }
        let mut entries = BTreeMap::new();
        let mut counterparties = Vec::new();
        for (id, agreement) in merged {
            let terms = &agreement.terms;
            counterparties.push(if &terms.provider == judge.me {
                terms.recipient.clone()
            } else {
                terms.provider.clone()
            });
            let (state, verified) = judge_one(store, judge, &agreement, revocations.get(&id))?;
            entries.insert(
                id,
                AgreementEntry {
                    agreement,
                    state,
                    verified,
                },
            );
        }
        counterparties.sort();
        counterparties.dedup();
        let active = entries
            .values()
            .filter_map(|entry: &AgreementEntry| entry.verified.clone())
            .collect();
        Ok(Self {
            entries,
            active,
            counterparties,
        })
    }

    /// Every agreement, by id.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8; 16], &AgreementEntry)> {
        self.entries.iter()
    }

    /// One agreement.
    pub fn get(&self, id: &[u8; 16]) -> Option<&AgreementEntry> {
        self.entries.get(id)
    }

    /// The verified agreements (`authorize()` itself checks their validity window).
    pub fn active(&self) -> &[VerifiedAgreement] {
        &self.active
    }

    /// Agencies this node may have to send records to: the other party of every agreement.
    pub fn counterparties(&self) -> &[AgencyId] {
        &self.counterparties
    }
}

/// The certified party `agency` that made `signature` over `terms`: among the certificates
/// held for the agency (newest first, see `certificates.rs`), one that may have signed when the
/// agreement started or may sign now, and whose key verifies the signature. Without a
/// signature, or when no key verifies it, the newest such party (the caller's check then
/// reports the bad signature).
pub(crate) fn signing_party(
    store: &Store,
    judge: &Judge<'_>,
    agency: &AgencyId,
    terms: &AgreementTerms,
    signature: Option<&Signature>,
) -> Result<Result<Party, String>, StoreError> {
    let (verified, refused) = judge.signers(store, agency)?;
    let usable: Vec<_> = verified
        .into_iter()
        .filter(|signer| signer.signs_at(terms.valid_from) || signer.signs_at(judge.now))
        .collect();
    let chosen = signature
        .and_then(|signature| {
            usable.iter().find(|signer| {
                terms
                    .verify_signature(&signer.identity.key, signature)
                    .is_ok()
            })
        })
        .or(usable.first());
    Ok(match chosen {
        Some(signer) => Ok(Party {
            agency: agency.clone(),
            role: signer.identity.subject.role,
            key: signer.identity.key,
        }),
        None => Err(match refused.first() {
            Some(reason) => format!("certificate of {agency}: {reason}"),
            None => format!("no certificate of {agency} valid for this agreement is known"),
        }),
    })
}

fn judge_one(
    store: &Store,
    judge: &Judge<'_>,
    agreement: &Agreement,
    revocation: Option<&(AgencyId, String)>,
) -> Result<(AgreementState, Option<VerifiedAgreement>), StoreError> {
    let terms = &agreement.terms;
    if let Some((by, reason)) = revocation {
        return Ok((
            AgreementState::Revoked {
                by: by.clone(),
                reason: reason.clone(),
            },
            None,
        ));
    }
    let missing = match (
        &agreement.provider_signature,
        &agreement.recipient_signature,
    ) {
        (None, _) => Some(terms.provider.clone()),
        (_, None) => Some(terms.recipient.clone()),
        _ => None,
    };
    if let Some(awaiting) = missing {
        return Ok((AgreementState::Pending { awaiting }, None));
    }
    let provider = match signing_party(
        store,
        judge,
        &terms.provider,
        terms,
        agreement.provider_signature.as_ref(),
    )? {
        Ok(party) => party,
        Err(reason) => return Ok((AgreementState::Invalid { reason }, None)),
    };
    let recipient = match signing_party(
        store,
        judge,
        &terms.recipient,
        terms,
        agreement.recipient_signature.as_ref(),
    )? {
        Ok(party) => party,
        Err(reason) => return Ok((AgreementState::Invalid { reason }, None)),
    };
    match agreement.verify(&provider, &recipient) {
        Err(e) => Ok((
            AgreementState::Invalid {
                reason: e.to_string(),
            },
            None,
        )),
        Ok(verified) if terms.is_valid_at(judge.now) => {
            Ok((AgreementState::Active, Some(verified)))
        }
        // Kept verified: authorize() itself refuses it outside its window.
        Ok(verified) => Ok((AgreementState::NotValidNow, Some(verified))),
    }
}
