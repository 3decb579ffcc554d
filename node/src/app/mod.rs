//! Domain services of the node: creating this node's own records, agreements, and the sync
//! logic that decides what goes into which peer's outbox and what is accepted from peers.
//! No axum or libp2p types here: the HTTP layer and the network task call into [`App`].
//!
//! Every method blocks on the store; async callers use `spawn_blocking`.

pub mod access;
#[cfg(test)]
mod access_tests;
pub mod accounts;
pub mod agreements;
pub mod audit;
pub(crate) mod certificates;
#[cfg(test)]
mod certificates_tests;
mod credentials;
pub mod detail;
#[cfg(test)]
mod detail_tests;
#[cfg(test)]
mod hashlist_tests;
pub mod hashlists;
pub mod held;
pub mod hotline;
mod ingest;
pub use ingest::CheckedPage;
pub mod iwol;
mod iwol_sync;
#[cfg(test)]
mod iwol_tests;
pub mod iwol_views;
mod list_matching;
mod list_versions;
pub mod packages;
mod page_keys;
mod parallel;
pub mod received;
pub mod saved;
pub mod search;
mod serve;
pub mod sync;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
mod withdrawals;

use std::sync::{Arc, Mutex, RwLock};

use safeport_protocol::agreement::{Agreement, AgreementRevocation, AgreementTerms};
use safeport_protocol::pki::{Crl, TrustAnchor};
use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::{AgencyId, RecordBody, RecordId, Signed, Timestamp};
use thiserror::Error;

use crate::identity::NodeIdentity;
use crate::store::{Committed, Store, StoreError};
use agreements::{AgreementBook, AgreementState, Judge};

/// Why a domain operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AppError {
    /// The store failed; nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record could not be made (invalid body, encoding).
    #[error("record: {0}")]
    Record(#[from] safeport_protocol::signed::RecordError),
    /// The request is not valid in the current state.
    #[error("{0}")]
    Invalid(String),
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("not found")]
    NotFound,
}

/// The federation roots and CRL this node judges certificates by; the CRL can be replaced on a
/// running node.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The configured roots.
    pub anchors: Vec<TrustAnchor>,
    /// The CRL in force.
    pub crl: Option<Crl>,
}

/// The node's domain state. Cheap to share (`Arc<App>`).
pub struct App {
    store: Store,
    identity: Arc<NodeIdentity>,
    clock: fn() -> Timestamp,
    trust: RwLock<Trust>,
    book: RwLock<Arc<AgreementBook>>,
    /// Serialises creation of this node's own records, so sequences never collide.
    own_records: Mutex<()>,
    /// Serialises read-modify-write of this hotline's reports, so no revision is lost.
    revisions: Mutex<()>,
    /// Bumped after every change of stored state, so waiters (tests, status pages) react to
    /// events instead of polling.
    changes: tokio::sync::watch::Sender<u64>,
    /// The PDQ indexes of the hash lists held (rebuilt when a list moves forward).
    pdq_lists: crate::matching::lists::PdqLists,
    /// Serialises changes of hash lists (publishing, applying versions): a snapshot written
    /// into a new generation must not meet a second writer of the same generation.
    hash_lists: Mutex<()>,
    /// Serialises publishing and reviewing on the IWOL, so two versions never share a number
    /// and a suggestion is decided once.
    iwol: Mutex<()>,
    /// The search index over the reports held (built on the first search).
    search: Mutex<search::SearchState>,
    /// Reports whose head moved since the last search.
    search_marks: search::Marked,
    /// Serialises read-modify-write of portal accounts (lockout counters, resets).
    accounts: Mutex<()>,
    /// Serialises agreement book rebuilds (see `refresh_agreements`).
    book_rebuild: Mutex<()>,
}

impl App {
    /// Opens the domain layer over a store; records this node's own certificate and builds the
    /// agreement book.
    pub fn new(
        store: Store,
        identity: Arc<NodeIdentity>,
        clock: fn() -> Timestamp,
    ) -> Result<Self, AppError> {
        let trust = RwLock::new(Trust {
            anchors: identity.anchors.clone(),
            crl: identity.crl.clone(),
        });
        let app = Self {
            store,
            identity,
            clock,
            trust,
            book: RwLock::new(Arc::new(AgreementBook::default())),
            own_records: Mutex::new(()),
            revisions: Mutex::new(()),
            changes: tokio::sync::watch::Sender::new(0),
            pdq_lists: Default::default(),
            hash_lists: Mutex::new(()),
            iwol: Mutex::new(()),
            search: Mutex::default(),
            search_marks: search::Marked::default(),
            accounts: Mutex::new(()),
            book_rebuild: Mutex::new(()),
        };
        // The certificate this node runs with is its current one; it joins those of its
        // earlier keys (after a key rotation, what they signed is still served with the
        // certificate that verifies it).
        let mut batch = app.store.batch();
        batch.put_certificate(app.me(), &app.identity.certificate_pem)?;
        batch.commit()?;
        app.refresh_agreements()?;
        for state in app.store.list_states()? {
            app.index_pdq_entries(&state.manifest.list)?;
        }
        Ok(app)
    }

    /// A receiver that sees a new value after every change of stored state.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// This node's agency.
    pub fn me(&self) -> &AgencyId {
        &self.identity.certificate.subject.agency
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The current time as this node sees it.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Rebuilds the agreement book from the store (after agreement records or certificates
    /// changed). Returns the ids of agreements that became active.
    pub fn refresh_agreements(&self) -> Result<Vec<[u8; 16]>, AppError> {
        // One rebuild at a time, from read to swap: two concurrent refreshes (an own proposal
        // and a peer's, ingested at once) could otherwise swap in the older rebuild last and
        // lose an agreement until the next refresh.
        let _rebuilding = self
            .book_rebuild
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let trust = self.trust();
        let judge = Judge::new(self.me(), &trust.anchors, trust.crl.as_slice(), self.now());
        let rebuilt = AgreementBook::rebuild(&self.store, &judge)?;
        let mut book = self
            .book
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let newly_active = rebuilt
            .entries()
            .filter(|(id, entry)| {
                entry.state == AgreementState::Active
                    && book
                        .get(id)
                        .is_none_or(|old| old.state != AgreementState::Active)
            })
            .map(|(id, _)| *id)
            .collect();
        *book = Arc::new(rebuilt);
        drop(book);
        self.changed();
        Ok(newly_active)
    }

    /// The roots and CRL in force.
    pub fn trust(&self) -> Trust {
        self.trust
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the CRL (after the authority published a new one). Agreements with agencies
    /// whose certificate is now revoked stop being active at once.
    pub fn update_crl(&self, crl: Crl) -> Result<(), AppError> {
        *self
            .trust
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Trust {
            anchors: self.identity.anchors.clone(),
            crl: Some(crl),
        };
        self.refresh_agreements()?;
        Ok(())
    }

    /// This node's identity.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// A peer was admitted: keep its certificate (agreements with it may now verify) and
    /// back-fill agreements that became active.
    pub fn peer_admitted(
        &self,
        agency: &AgencyId,
        certificate_pem: &str,
    ) -> Result<Committed, AppError> {
        let signer = self
            .verify_signer(certificate_pem)
            .map_err(AppError::Invalid)?;
        if &signer.identity.subject.agency != agency {
            return Err(AppError::Invalid(format!(
                "the certificate of admitted peer {agency} names {}",
                signer.identity.subject.agency
            )));
        }
        let mut batch = self.store.batch();
        self.keep_certificates(&mut batch, &[(signer, certificate_pem.to_owned())])?;
        let mut committed = batch.commit()?;
        for id in self.refresh_agreements()? {
            committed
                .outbox_heads
                .extend(self.backfill(&id)?.outbox_heads);
        }
        Ok(committed)
    }

    /// A snapshot of the agreement book (cheap: shared until the next change).
    pub fn agreements(&self) -> Arc<AgreementBook> {
        Arc::clone(
            &self
                .book
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Held while a hash list is published or moved forward.
    pub(crate) fn lock_hash_lists(&self) -> std::sync::MutexGuard<'_, ()> {
        self.hash_lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Held while the IWOL is published or a suggestion reviewed.
    pub(crate) fn lock_iwol(&self) -> std::sync::MutexGuard<'_, ()> {
        self.iwol
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Held while a report of this node is read, changed and written back.
    pub(crate) fn lock_revisions(&self) -> std::sync::MutexGuard<'_, ()> {
        self.revisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signs `body` as this node's next record.
    pub(crate) fn sign_own<T: RecordBody>(
        &self,
        body: T,
    ) -> Result<(Signed<T>, std::sync::MutexGuard<'_, ()>), AppError> {
        let guard = self
            .own_records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let sequence = self.store.next_sequence(self.me().as_str())?;
        let record = Signed::sign(
            &self.identity.key,
            self.me().clone(),
            sequence,
            self.now(),
            body,
        )?;
        Ok((record, guard))
    }

    /// Creates, stores and shares a report of this node (a hotline's intake and revisions).
    pub fn submit_report(
        &self,
        report: Report,
        items: &[MediaItem],
    ) -> Result<(RecordId, Committed), AppError> {
        for item in items {
            item.validate().map_err(AppError::Invalid)?;
            if !report.commits_to(item).unwrap_or(false) {
                return Err(AppError::Invalid(
                    "a media item is not committed in the report".into(),
                ));
            }
        }
        if items.len() != report.media.len() {
            return Err(AppError::Invalid(
                "every committed media item must be given".into(),
            ));
        }
        let (record, _guard) = self.sign_own(report)?;
        let committed = self.store_and_share(record.raw(), Some((record.body(), items)))?;
        Ok((record.id(), committed))
    }

    /// Proposes an agreement: signs our side of the terms and sends them to the other party.
    pub fn propose_agreement(
        &self,
        terms: AgreementTerms,
    ) -> Result<(RecordId, Committed), AppError> {
        terms.validate().map_err(AppError::Invalid)?;
        let me = self.me();
        let signature = terms
            .sign(&self.identity.key)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let agreement = if &terms.provider == me {
            Agreement {
                terms,
                provider_signature: Some(signature),
                recipient_signature: None,
            }
        } else if &terms.recipient == me {
            Agreement {
                terms,
                provider_signature: None,
                recipient_signature: Some(signature),
            }
        } else {
            return Err(AppError::Invalid(
                "this node is not a party to the agreement".into(),
            ));
        };
        self.publish_agreement(agreement)
    }

    /// Accepts a pending agreement that awaits this node's signature.
    pub fn accept_agreement(&self, id: &[u8; 16]) -> Result<(RecordId, Committed), AppError> {
        let entry = self
            .agreements()
            .get(id)
            .cloned()
            .ok_or(AppError::NotFound)?;
        match &entry.state {
            AgreementState::Pending { awaiting } if awaiting == self.me() => {}
            other => {
                return Err(AppError::Invalid(format!(
                    "agreement is not awaiting this node's signature ({other:?})"
                )));
            }
        }
        let mut agreement = entry.agreement;
        let signature = agreement
            .terms
            .sign(&self.identity.key)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        if &agreement.terms.provider == self.me() {
            agreement.provider_signature = Some(signature);
        } else {
            agreement.recipient_signature = Some(signature);
        }
        // Never countersign what could not become active (e.g. roles that do not allow it).
        self.check_agreement(&agreement)
            .map_err(AppError::Invalid)?;
        self.publish_agreement(agreement)
    }

    /// Ends an agreement this node is party to.
    pub fn revoke_agreement(
        &self,
        id: &[u8; 16],
        reason: String,
    ) -> Result<(RecordId, Committed), AppError> {
        if self.agreements().get(id).is_none() {
            return Err(AppError::NotFound);
        }
        let (record, _guard) = self.sign_own(AgreementRevocation {
            agreement_id: *id,
            reason,
        })?;
        let committed = self.store_and_share(record.raw(), None)?;
        self.refresh_agreements()?;
        Ok((record.id(), committed))
    }

    /// [`App::accept_agreement`] by a person, audited first (admin API and portal).
    pub fn accept_agreement_by(
        &self,
        actor: &audit::Actor,
        id: &[u8; 16],
    ) -> Result<(RecordId, Committed), AppError> {
        let target = format!("agreement {}", hex::encode(id));
        self.audit(
            actor,
            audit::AuditAction::AgreementAccept,
            &target,
            None,
            None,
        )?;
        self.accept_agreement(id)
    }

    /// [`App::revoke_agreement`] (or declining a proposal) by a person, audited first with the
    /// reason.
    pub fn revoke_agreement_by(
        &self,
        actor: &audit::Actor,
        id: &[u8; 16],
        reason: String,
    ) -> Result<(RecordId, Committed), AppError> {
        let target = format!("agreement {}", hex::encode(id));
        let action = audit::AuditAction::AgreementRevoke;
        self.audit(actor, action, &target, Some(&reason), None)?;
        self.revoke_agreement(id, reason)
    }

    fn publish_agreement(&self, agreement: Agreement) -> Result<(RecordId, Committed), AppError> {
        let (record, guard) = self.sign_own(agreement)?;
        let mut committed = self.store_and_share(record.raw(), None)?;
        drop(guard);
        let newly_active = self.refresh_agreements()?;
        for id in newly_active {
            let more = self.backfill(&id)?;
            committed.outbox_heads.extend(more.outbox_heads);
        }
        Ok((record.id(), committed))
    }
}
