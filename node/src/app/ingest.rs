//! Ingest: what a node accepts from a peer's page. Every record is authenticated (decoded,
//! signed by its originator under a certificate valid when it was made, `page_keys.rs`) in
//! parallel, then, under the store's write lock, checked against withdrawals and authorized from this node's side with
//! `authorize()`, stored with its indexes and outbox fan-out, and the cursor advanced, in synced
//! batches. Refused records are logged with their reason. The two halves are separate
//! ([`App::check_page`], [`App::store_page`]) so one page is checked while the previous one is
//! written.

use std::sync::Arc;

use safeport_protocol::agreement::{Agreement, AgreementRevocation};
use safeport_protocol::pki::{self, AgencyIdentity, CertPolicy, Crl, SignerCertificate};
use safeport_protocol::report::{CommittedItem, MediaItem, Report};
use safeport_protocol::status::ReportStatus;
use safeport_protocol::sync::{SyncItem, SyncPage};
use safeport_protocol::{
    AgencyId, Decision, RawRecord, RecordType, Request, Role, Subject, authorize,
};

use super::agreements::AgreementBook;
use super::page_keys::PageKeys;
use super::sync::Ingested;
use super::{App, AppError};
use crate::store::Rejection;
use crate::store::media::PendingBlob;

/// Pages smaller than this are verified on the calling thread.
const PARALLEL_VERIFY_MIN_ITEMS: usize = 64;

/// A page after [`App::check_page`], ready for [`App::store_page`].
pub struct CheckedPage {
    /// Originator certificates of the page that verified as signers.
    certificates: Vec<(SignerCertificate, String)>,
    /// Per item, in page order.
    checked: Vec<Checked>,
    /// The agreements the reports were judged by.
    book: Arc<AgreementBook>,
    /// Time spent checking.
    check_ms: u64,
}

/// One received record after the parallel checks.
struct Checked {
    /// The decoded record, if it decoded.
    raw: Option<RawRecord>,
    /// Signature, certificate and tombstone checks.
    authentic: Result<(), String>,
    /// For an authentic report: its judgement under the agreements at the start of the page.
    report_verdict: Option<Result<Option<AdmittedReport>, String>>,
}

/// A report the agreements admit, with its media items committed once (judging, storing and
/// queueing content all need the commitments).
struct AdmittedReport {
    report: Report,
    items: Vec<CommittedItem>,
}

impl Checked {
    fn failed() -> Self {
        Self {
            raw: None,
            authentic: Err("verification failed".to_owned()),
            report_verdict: None,
        }
    }
}

impl App {
    /// Verifies an originator certificate from a page.
    pub(super) fn verify_certificate(&self, pem: &str) -> Result<AgencyIdentity, String> {
        let trust = self.trust();
        let crls: Vec<Crl> = trust.crl.into_iter().collect();
        let policy = CertPolicy {
            allowed_roles: vec![Role::Hotline, Role::Lea, Role::Interpol],
            expected_key: None,
        };
        pki::verify_agency_certificate(pem, &trust.anchors, &crls, self.now(), &policy)
            .map_err(|e| e.to_string())
    }

    /// Whether the record's originator has withdrawn it (a tombstone is stored).
    fn withdrawn(&self, raw: &RawRecord) -> Result<bool, AppError> {
        Ok(self
            .store
            .tombstone(&raw.id())?
            .is_some_and(|(origin, _)| origin == raw.header().origin.as_str()))
    }

    /// [`App::check_part`] for every item of a page, spread over the available cores. Reports
    /// (the bulk of any page) are also judged against the agreements in force when the page
    /// started; the caller judges again if an earlier record of the page changed them.
    fn check_all(&self, from: &AgencyId, items: &[SyncItem], keys: &PageKeys) -> Vec<Checked> {
        // A panicking verifier refuses its part; nothing unverified is stored.
        super::parallel::map_chunks(
            items,
            PARALLEL_VERIFY_MIN_ITEMS,
            |part| self.check_part(from, part, keys),
            Checked::failed,
        )
    }

    /// Decodes, authenticates and (for reports) pre-admits consecutive items of a page.
    /// Signatures of originators whose keys are known are verified in batches; a batch that
    /// fails leaves its records to be verified one by one, so each gets its own verdict.
    fn check_part(&self, from: &AgencyId, part: &[SyncItem], keys: &PageKeys) -> Vec<Checked> {
        let decoded: Vec<Result<RawRecord, String>> = part
            .iter()
            .map(|item| {
                RawRecord::decode(&item.record).map_err(|e| format!("record does not decode: {e}"))
            })
            .collect();
        let batch_verified = keys.batch_verify(&decoded);
        part.iter()
            .zip(decoded)
            .zip(batch_verified)
            .map(|((item, raw), verified)| {
                let raw = match raw {
                    Ok(raw) => raw,
                    Err(reason) => {
                        return Checked {
                            raw: None,
                            authentic: Err(reason),
                            report_verdict: None,
                        };
                    }
                };
                let authentic = self.authenticate(&raw, keys, verified);
                let report_verdict = (authentic.is_ok()
                    && raw.header().record_type == RecordType::Report)
                    .then(|| self.admit(from, &raw, &item.media));
                Checked {
                    raw: Some(raw),
                    authentic,
                    report_verdict,
                }
            })
            .collect()
    }

    /// Checks an authenticated record against this node's agreements; `Ok(report)` when it
    /// may be stored.
    fn admit(
        &self,
        from: &AgencyId,
        raw: &RawRecord,
        media: &[MediaItem],
    ) -> Result<Option<AdmittedReport>, String> {
        let origin = &raw.header().origin;
        let request = Request {
            holder: from,
            recipient: self.me(),
            now: self.now(),
        };
        let book = self.agreements();
        let agreements = book.active();
        match raw.header().record_type {
            RecordType::Report => {
                let typed = raw
                    .clone()
                    .into_typed::<Report>()
                    .map_err(|e| e.to_string())?;
                let report = typed.body();
                let subject = Subject::Report {
                    report,
                    items: media,
                };
                if let Decision::Deny(reason) = authorize(agreements, request, subject) {
                    return Err(format!(
                        "no active agreement covers this report ({reason:?})"
                    ));
                }
                let mut items = Vec::with_capacity(media.len());
                for item in media {
                    item.validate()?;
                    let item = CommittedItem::new(item.clone())
                        .map_err(|e| format!("a media item does not encode: {e}"))?;
                    let subject = Subject::MediaItem {
                        report,
                        items: media,
                        item: &item,
                    };
                    if let Decision::Deny(reason) = authorize(agreements, request, subject) {
                        return Err(format!("a media item is not covered ({reason:?})"));
                    }
                    items.push(item);
                }
                Ok(Some(AdmittedReport {
                    report: report.clone(),
                    items,
                }))
            }
            RecordType::Agreement => {
                let typed = raw
                    .clone()
                    .into_typed::<Agreement>()
                    .map_err(|e| e.to_string())?;
                let terms = &typed.body().terms;
                let parties = [&terms.provider, &terms.recipient];
                if !parties.contains(&origin)
                    || !parties.contains(&self.me())
                    || !parties.contains(&from)
                {
                    return Err("an agreement travels only between its parties".into());
                }
                self.check_agreement(typed.body())?;
                Ok(None)
            }
            RecordType::Withdrawal => {
                self.admit_withdrawal(raw)?;
                Ok(None)
            }
            RecordType::ReportStatus => {
                let typed = raw
                    .clone()
                    .into_typed::<ReportStatus>()
                    .map_err(|e| e.to_string())?;
                let status = typed.body();
                if origin != from {
                    return Err("a report status comes only from its author".into());
                }
                if &status.report_origin != self.me() {
                    return Err("a report status goes only to the report's originator".into());
                }
                let subject = Subject::ReportStatus {
                    report_origin: &status.report_origin,
                };
                if let Decision::Deny(reason) = authorize(agreements, request, subject) {
                    return Err(format!("no agreement covers this status ({reason:?})"));
                }
                if self
                    .store
                    .report_head(self.me(), &status.report_key)
                    .map_err(|e| e.to_string())?
                    .is_none()
                {
                    return Err("a status about a report this node does not have".into());
                }
                Ok(None)
            }
            RecordType::HashList => self.admit_hash_list_part(from, raw).map(|()| None),
            RecordType::Iwol | RecordType::IwolSuggestion | RecordType::IwolDecision => {
                self.admit_iwol(from, raw).map(|()| None)
            }
            RecordType::AgreementRevocation => {
                let typed = raw
                    .clone()
                    .into_typed::<AgreementRevocation>()
                    .map_err(|e| e.to_string())?;
                let book = self.agreements();
                let entry = book
                    .get(&typed.body().agreement_id)
                    .ok_or("revocation of an agreement this node does not hold")?;
                let terms = &entry.agreement.terms;
                if origin != &terms.provider && origin != &terms.recipient {
                    return Err("only a party may revoke an agreement".into());
                }
                Ok(None)
            }
        }
    }

    /// Refuses agreements that can never become active: a signature that does not verify
    /// under its party's certified key (forged, altered terms, lifted from another record),
    /// roles that do not allow the scope, or a validity that has already ended. A proposal
    /// with one valid signature is kept: it waits for the other party.
    pub(crate) fn check_agreement(&self, agreement: &Agreement) -> Result<(), String> {
        let terms = &agreement.terms;
        if terms.valid_until <= self.now() {
            return Err("agreement refused: its validity has already ended".into());
        }
        let trust = self.trust();
        let judge = super::agreements::Judge::new(
            self.me(),
            &trust.anchors,
            trust.crl.as_slice(),
            self.now(),
        );
        let party = |agency, signature| {
            super::agreements::signing_party(&self.store, &judge, agency, terms, signature)
                .map_err(|e| e.to_string())?
                .map_err(|reason| format!("agreement refused: {reason}"))
        };
        let provider = party(&terms.provider, agreement.provider_signature.as_ref())?;
        let recipient = party(&terms.recipient, agreement.recipient_signature.as_ref())?;
        let refused =
            |e: safeport_protocol::agreement::AgreementError| format!("agreement refused: {e}");
        match (
            &agreement.provider_signature,
            &agreement.recipient_signature,
        ) {
            (Some(_), Some(_)) => agreement
                .verify(&provider, &recipient)
                .map(|_| ())
                .map_err(refused),
            (Some(signature), None) => terms
                .verify_signature(&provider.key, signature)
                .map_err(refused),
            (None, Some(signature)) => terms
                .verify_signature(&recipient.key, signature)
                .map_err(refused),
            (None, None) => Err("agreement refused: no signature".into()),
        }
    }

    /// Ingests a page pulled from `from`: [`App::check_page`] then [`App::store_page`].
    pub fn ingest_page(&self, from: &AgencyId, page: &SyncPage) -> Result<Ingested, AppError> {
        let checked = self.check_page(from, page);
        self.store_page(from, page, checked)
    }

    /// The CPU-bound half of ingest, without the store's write lock, so it can run while the
    /// previous page is being written: certificates verified and keys prepared once per page,
    /// signatures verified in batches on all cores, reports pre-judged against the agreements.
    pub fn check_page(&self, from: &AgencyId, page: &SyncPage) -> CheckedPage {
        let started = std::time::Instant::now();
        let book = self.agreements();
        let mut certificates: Vec<(SignerCertificate, String)> = Vec::new();
        for pem in &page.certificates {
            // A certificate that does not verify is ignored; records that need it are refused.
            if let Ok(signer) = self.verify_signer(pem) {
                certificates.push((signer, pem.clone()));
            }
        }
        let keys = PageKeys::carried(certificates.iter().map(|(s, _)| s));
        let checked = self.check_all(from, &page.items, &keys);
        CheckedPage {
            certificates,
            checked,
            book,
            check_ms: started.elapsed().as_millis() as u64,
        }
    }

    /// The writing half of ingest: stores what passed (judged again if the agreements changed
    /// since the check), logs what did not, fans stored records out, and advances the cursor,
    /// in one synced batch.
    pub fn store_page(
        &self,
        from: &AgencyId,
        page: &SyncPage,
        checked: CheckedPage,
    ) -> Result<Ingested, AppError> {
        let now = self.now();
        let mut outcome = Ingested {
            check_ms: checked.check_ms,
            ..Ingested::default()
        };
        let started = std::time::Instant::now();
        // The page's verified certificates are stored first, on their own: admitting a record
        // relayed from a third agency (an IWOL suggestion) reads its originator's certified
        // role from the store. A certificate that verifies is kept whatever its records do.
        let mut new_certificates = Vec::new();
        for (signer, pem) in &checked.certificates {
            if !self
                .store
                .holds_certificate(&signer.identity.subject.agency, pem)?
            {
                new_certificates.push((signer.clone(), pem.clone()));
            }
        }
        if !new_certificates.is_empty() {
            // A batch holds the store's write lock until it is committed.
            let mut batch = self.store.batch();
            self.keep_certificates(&mut batch, &new_certificates)?;
            batch.commit()?;
        }
        let mut batch = self.store.batch();
        // Records stored by this page so far (a withdrawal later in the page may name one).
        let mut inserted: Vec<RawRecord> = Vec::new();
        // Hash lists that received parts: moved forward once the page is stored.
        let mut touched_lists = Vec::new();
        let mut page_iwol = super::iwol_sync::PageIwol::default();
        // Whether the agreements reports were judged by have changed since: by an earlier page
        // stored after this one was checked, or by an agreement record of this page.
        let mut agreements_changed = !Arc::ptr_eq(&checked.book, &self.agreements());
        if page.items.len() != checked.checked.len() {
            return Err(AppError::Invalid(
                "checked page does not match the page".into(),
            ));
        }
        for (item, checked) in page.items.iter().zip(checked.checked) {
            let decoded = checked.raw;
            let verdict = match (&decoded, checked.authentic, checked.report_verdict) {
                // Withdrawals may have been stored since the check: ask again, now, under
                // the write lock.
                (Some(raw), Ok(()), _) if self.withdrawn(raw)? => {
                    Err("the originator has withdrawn this record".into())
                }
                (Some(_), Ok(()), Some(verdict)) if !agreements_changed => verdict,
                (Some(raw), Ok(()), _) => self.admit(from, raw, &item.media),
                (_, Err(reason), _) => Err(reason),
                (None, Ok(()), _) => Err("record does not decode".into()),
            };
            // A list version must also be newer than one admitted earlier in this page.
            let verdict = match (verdict, &decoded) {
                (Ok(report), Some(raw)) => self
                    .admit_iwol_in_page(raw, &mut page_iwol)
                    .map(|()| report),
                (verdict, _) => verdict,
            };
            match verdict {
                Ok(admitted) => {
                    // `admit` only succeeds on a decoded record.
                    let Some(raw) = decoded else { continue };
                    if !batch.insert_record(&raw)? {
                        outcome.duplicates += 1;
                        continue;
                    }
                    outcome.stored += 1;
                    match raw.header().record_type {
                        RecordType::Withdrawal => {
                            self.apply_withdrawal(&mut batch, &raw, &inserted)?;
                        }
                        RecordType::ReportStatus => {
                            let status = raw.clone().into_typed::<ReportStatus>()?;
                            let body = status.body();
                            batch.index_status(&body.report_origin, &body.report_key, &raw.id())?;
                            self.search_marks
                                .mark(&body.report_origin, &body.report_key);
                        }
                        RecordType::HashList => {
                            let list = self.index_hash_list_part(&mut batch, &raw)?;
                            if !touched_lists.contains(&list) {
                                touched_lists.push(list);
                            }
                        }
                        RecordType::Iwol
                        | RecordType::IwolSuggestion
                        | RecordType::IwolDecision => self.index_iwol_record(&mut batch, &raw)?,
                        RecordType::Agreement
                        | RecordType::AgreementRevocation
                        | RecordType::Report => {}
                    }
                    let report = admitted.as_ref().map(|admitted| &admitted.report);
                    if let Some(AdmittedReport { report, items }) = &admitted {
                        for media in items {
                            batch.put_committed_item(&raw.id(), media)?;
                            if self.content_granted(from, report, &item.media, media) {
                                let pending = PendingBlob {
                                    record: raw.id(),
                                    commitment: *media.commitment(),
                                    sha256: media.item().sha256,
                                };
                                batch.queue_blob(from, &pending)?;
                            }
                        }
                        // A late, older revision must not take the current one's ICSE entries.
                        if self.advance_report_head(&mut batch, &raw, report)? {
                            let origin = &raw.header().origin;
                            self.index_icse(&mut batch, origin, raw.id(), report, &item.media)?;
                        }
                    }
                    let context = report.map(|r| (r, item.media.as_slice()));
                    self.fan_out(&mut batch, &raw, context)?;
                    let changes_agreements = matches!(
                        raw.header().record_type,
                        RecordType::Agreement | RecordType::AgreementRevocation
                    );
                    inserted.push(raw);
                    if changes_agreements {
                        // Later records of this page are judged under the new agreement state:
                        // commit up to here (cursor included), refresh, and go on in a new batch.
                        batch.set_cursor(from, item.position)?;
                        let committed = batch.commit()?;
                        outcome
                            .committed
                            .outbox_heads
                            .extend(committed.outbox_heads);
                        self.changed();
                        for id in self.refresh_agreements()? {
                            outcome
                                .committed
                                .outbox_heads
                                .extend(self.backfill(&id)?.outbox_heads);
                        }
                        batch = self.store.batch();
                        agreements_changed = true;
                    }
                }
                Err(reason) => {
                    tracing::warn!(peer = %from, %reason, "refused a record");
                    let raw = decoded;
                    batch.reject(&Rejection {
                        at: now.0,
                        from: from.to_string(),
                        record_id: raw.as_ref().map_or([0; 32], |r| r.id().0),
                        origin: raw.map(|r| r.header().origin.to_string()),
                        reason,
                    })?;
                    outcome.rejected += 1;
                }
            }
        }
        batch.set_cursor(from, page.next_cursor)?;
        outcome.build_ms = started.elapsed().as_millis() as u64;
        let started = std::time::Instant::now();
        let committed = batch.commit()?;
        outcome.write_ms = started.elapsed().as_millis() as u64;
        outcome
            .committed
            .outbox_heads
            .extend(committed.outbox_heads);
        self.changed();
        outcome.cursor = page.next_cursor;
        for list in &touched_lists {
            // The parts are stored and acknowledged; a list that cannot move forward now
            // (a store failure) tries again when its next part arrives.
            if let Err(error) = self.advance_list(list) {
                tracing::warn!(%list, %error, "could not apply hash-list parts");
            }
        }
        Ok(outcome)
    }
}
