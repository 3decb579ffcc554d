//! Scoped sync: what enters each peer's outbox, what a pull returns, and what is accepted from
//! a peer's page. Every decision goes through `authorize()`: when a record is stored (outbox
//! fan-out), again when it is served (so a revoked agreement stops the flow at once), and on
//! the receiving side before anything is stored.

use std::collections::BTreeMap;

use safeport_protocol::agreement::{Agreement, AgreementRevocation};
use safeport_protocol::pki::{self, AgencyIdentity, CertPolicy, Crl};
use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::sync::{
    MAX_PAGE_CERTIFICATES, MAX_PAGE_ITEMS, PAGE_SOFT_LIMIT_BYTES, SyncItem, SyncPage,
};
use safeport_protocol::withdrawal::Withdrawal;
use safeport_protocol::{
    AgencyId, Decision, RawRecord, RecordId, RecordType, Request, Role, Subject, authorize,
};

use super::{App, AppError};
use crate::store::{Committed, Rejection, StoreBatch};

/// At most this many threads verify one page's signatures.
const MAX_VERIFY_THREADS: usize = 4;
/// Pages smaller than this are verified on the calling thread.
const PARALLEL_VERIFY_MIN_ITEMS: usize = 64;

/// Records scanned per step of a back-fill.
const BACKFILL_STEP: usize = 500;

/// What ingesting a page did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// Records stored for the first time.
    pub stored: usize,
    /// Records already held (replays, duplicates).
    pub duplicates: usize,
    /// Records refused and logged with a reason.
    pub rejected: usize,
    /// The cursor after this page.
    pub cursor: u64,
    /// Outboxes of this node that grew (records to relay onwards).
    pub committed: Committed,
}

impl App {
    /// Loads the media items a stored report commits to (those this node holds).
    pub(crate) fn report_items(&self, report: &Report) -> Result<Vec<MediaItem>, AppError> {
        let mut items = Vec::with_capacity(report.media.len());
        for commitment in &report.media {
            if let Some(item) = self.store.media_item(commitment)? {
                items.push(item);
            }
        }
        Ok(items)
    }

    /// Whether `record` (with the items this node holds) may go to `recipient` now, and which
    /// of its media items.
    fn disclosure(
        &self,
        record: &RawRecord,
        recipient: &AgencyId,
        report: Option<(&Report, &[MediaItem])>,
    ) -> Result<Option<Vec<MediaItem>>, AppError> {
        let request = Request {
            holder: self.me(),
            recipient,
            now: self.now(),
        };
        let book = self.agreements();
        let agreements = book.active();
        match record.header().record_type {
            RecordType::Report => {
                let Some((report, items)) = report else {
                    return Ok(None);
                };
                if !authorize(agreements, request, Subject::Report { report, items }).is_allowed() {
                    return Ok(None);
                }
                let disclosed = items
                    .iter()
                    .filter(|item| {
                        authorize(
                            agreements,
                            request,
                            Subject::MediaItem {
                                report,
                                items,
                                item,
                            },
                        )
                        .is_allowed()
                    })
                    .cloned()
                    .collect();
                Ok(Some(disclosed))
            }
            RecordType::Agreement => {
                let agreement = record.clone().into_typed::<Agreement>()?;
                let terms = &agreement.body().terms;
                let subject = Subject::Agreement {
                    provider: &terms.provider,
                    recipient: &terms.recipient,
                };
                Ok(authorize(agreements, request, subject)
                    .is_allowed()
                    .then(Vec::new))
            }
            RecordType::Withdrawal => {
                let withdrawal = record.clone().into_typed::<Withdrawal>()?;
                let received = self
                    .store
                    .outbox_contains(recipient, &withdrawal.body().record)?;
                let subject = Subject::Withdrawal {
                    recipient_received_record: received,
                };
                Ok(authorize(agreements, request, subject)
                    .is_allowed()
                    .then(Vec::new))
            }
            RecordType::AgreementRevocation => {
                let revocation = record.clone().into_typed::<AgreementRevocation>()?;
                let book = self.agreements();
                let Some(entry) = book.get(&revocation.body().agreement_id) else {
                    return Ok(None);
                };
                let terms = &entry.agreement.terms;
                let subject = Subject::Agreement {
                    provider: &terms.provider,
                    recipient: &terms.recipient,
                };
                Ok(authorize(agreements, request, subject)
                    .is_allowed()
                    .then(Vec::new))
            }
        }
    }

    /// Appends a record to the outbox of every counterparty that may receive it.
    pub(crate) fn fan_out(
        &self,
        batch: &mut StoreBatch<'_>,
        record: &RawRecord,
        report: Option<(&Report, &[MediaItem])>,
    ) -> Result<(), AppError> {
        let mut recipients = self.agreements().counterparties().to_vec();
        // A new proposal is not in the book yet: its parties are recipients too.
        if record.header().record_type == RecordType::Agreement {
            let agreement = record.clone().into_typed::<Agreement>()?;
            let terms = &agreement.body().terms;
            recipients.extend([terms.provider.clone(), terms.recipient.clone()]);
            recipients.sort();
            recipients.dedup();
        }
        for recipient in recipients {
            if &recipient == self.me() || recipient == record.header().origin {
                continue;
            }
            if self.disclosure(record, &recipient, report)?.is_some() {
                batch.enqueue(&recipient, &record.id())?;
            }
        }
        Ok(())
    }

    /// Stores a record (with its media items and report head) and appends it to the outboxes
    /// `authorize()` admits, in one synced batch.
    pub(crate) fn store_and_share(
        &self,
        record: &RawRecord,
        report: Option<(&Report, &[MediaItem])>,
    ) -> Result<Committed, AppError> {
        let mut batch = self.store.batch();
        batch.insert_record(record)?;
        if let Some((report, items)) = report {
            for item in items {
                batch.put_media_item(item)?;
            }
            self.advance_report_head(&mut batch, record, report)?;
        }
        self.fan_out(&mut batch, record, report)?;
        let committed = batch.commit()?;
        self.changed();
        Ok(committed)
    }

    fn advance_report_head(
        &self,
        batch: &mut StoreBatch<'_>,
        record: &RawRecord,
        report: &Report,
    ) -> Result<(), AppError> {
        let origin = &record.header().origin;
        let newer = match self.store.report_head(origin, &report.report_key)? {
            Some((revision, _)) => report.revision > revision,
            None => true,
        };
        if newer {
            batch.set_report_head(origin, &report.report_key, report.revision, &record.id())?;
        }
        Ok(())
    }

    /// After an agreement became active: enqueue every stored report it now admits.
    pub(crate) fn backfill(&self, agreement_id: &[u8; 16]) -> Result<Committed, AppError> {
        let book = self.agreements();
        let Some(entry) = book.get(agreement_id) else {
            return Ok(Committed::default());
        };
        let terms = &entry.agreement.terms;
        if &terms.provider != self.me() {
            return Ok(Committed::default());
        }
        let recipient = terms.recipient.clone();
        let mut committed = Committed::default();
        let mut after: Option<RecordId> = None;
        loop {
            let ids =
                self.store
                    .records_of_type(RecordType::Report, after.as_ref(), BACKFILL_STEP)?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            let mut batch = self.store.batch();
            for id in &ids {
                let Some(raw) = self.store.record(id)? else {
                    continue;
                };
                if raw.header().origin == recipient {
                    continue;
                }
                let typed = raw.clone().into_typed::<Report>()?;
                let items = self.report_items(typed.body())?;
                if self
                    .disclosure(&raw, &recipient, Some((typed.body(), &items)))?
                    .is_some()
                {
                    batch.enqueue(&recipient, id)?;
                }
            }
            committed.outbox_heads.extend(batch.commit()?.outbox_heads);
            after = Some(last);
        }
        Ok(committed)
    }

    /// Serves a pull from `recipient` (an admitted peer): the next page of its outbox, each
    /// record re-authorized now, with the media items it may see and the originators'
    /// certificates.
    pub fn serve_pull(
        &self,
        recipient: &AgencyId,
        after: u64,
        limit: u32,
    ) -> Result<SyncPage, AppError> {
        let limit = limit.clamp(1, MAX_PAGE_ITEMS) as usize;
        let entries = self.store.outbox_page(recipient, after, limit)?;
        let head = self.store.outbox_head(recipient)?;
        let mut items = Vec::new();
        let mut certificates: BTreeMap<AgencyId, String> = BTreeMap::new();
        let mut next_cursor = after;
        let mut bytes = 0usize;
        for (position, id) in entries {
            if bytes >= PAGE_SOFT_LIMIT_BYTES {
                break;
            }
            let origin_certificate_missing =
                |origin: &AgencyId, certs: &BTreeMap<AgencyId, String>| {
                    !certs.contains_key(origin) && certs.len() >= MAX_PAGE_CERTIFICATES
                };
            let Some(raw) = self.store.record(&id)? else {
                next_cursor = position;
                continue;
            };
            let origin = raw.header().origin.clone();
            if origin_certificate_missing(&origin, &certificates) {
                break;
            }
            let report = match raw.header().record_type {
                RecordType::Report => Some(raw.clone().into_typed::<Report>()?),
                _ => None,
            };
            let report_items = match &report {
                Some(report) => self.report_items(report.body())?,
                None => Vec::new(),
            };
            let context = report.as_ref().map(|r| (r.body(), report_items.as_slice()));
            next_cursor = position;
            // Skipped (no longer authorized) items still advance the cursor.
            let Some(media) = self.disclosure(&raw, recipient, context)? else {
                continue;
            };
            if !certificates.contains_key(&origin)
                && let Some(pem) = self.store.certificate(&origin)?
            {
                certificates.insert(origin, pem);
            }
            bytes += raw.bytes().len();
            items.push(SyncItem {
                position,
                record: raw.bytes().to_vec(),
                media,
            });
        }
        Ok(SyncPage {
            items,
            certificates: certificates.into_values().collect(),
            next_cursor,
            more: next_cursor < head,
        })
    }

    /// Verifies an originator certificate from a page.
    fn verify_certificate(&self, pem: &str) -> Result<AgencyIdentity, String> {
        let trust = self.trust();
        let crls: Vec<Crl> = trust.crl.into_iter().collect();
        let policy = CertPolicy {
            allowed_roles: vec![Role::Hotline, Role::Lea, Role::Interpol],
            expected_key: None,
        };
        pki::verify_agency_certificate(pem, &trust.anchors, &crls, self.now(), &policy)
            .map_err(|e| e.to_string())
    }

    /// Decodes a received record and checks that its originator signed it (with a
    /// certificate that verifies now) and has not withdrawn it. Pure CPU work plus reads, so
    /// a page's records are authenticated in parallel.
    fn authenticate(
        &self,
        bytes: &[u8],
        certificates: &BTreeMap<AgencyId, AgencyIdentity>,
    ) -> (Option<RawRecord>, Result<(), String>) {
        let raw = match RawRecord::decode(bytes) {
            Ok(raw) => raw,
            Err(e) => return (None, Err(format!("record does not decode: {e}"))),
        };
        let verdict = (|| {
            let origin = &raw.header().origin;
            let key = match certificates.get(origin) {
                Some(identity) => identity.key,
                None => match self.store.certificate(origin).map_err(|e| e.to_string())? {
                    Some(pem) => self.verify_certificate(&pem)?.key,
                    None => return Err(format!("no certificate for originator {origin}")),
                },
            };
            raw.verify(&key).map_err(|e| e.to_string())?;
            if self
                .store
                .tombstone(&raw.id())
                .map_err(|e| e.to_string())?
                .is_some_and(|(tomb_origin, _)| tomb_origin == origin.as_str())
            {
                return Err("the originator has withdrawn this record".into());
            }
            Ok(())
        })();
        (Some(raw), verdict)
    }

    /// [`App::authenticate`] for every item of a page, spread over the available cores.
    fn authenticate_all(
        &self,
        items: &[SyncItem],
        certificates: &BTreeMap<AgencyId, AgencyIdentity>,
    ) -> Vec<(Option<RawRecord>, Result<(), String>)> {
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_VERIFY_THREADS);
        if threads < 2 || items.len() < PARALLEL_VERIFY_MIN_ITEMS {
            return items
                .iter()
                .map(|item| self.authenticate(&item.record, certificates))
                .collect();
        }
        let chunk = items.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = items
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|item| self.authenticate(&item.record, certificates))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| {
                    worker.join().unwrap_or_else(|_| {
                        // A panicking verifier refuses its part; nothing unverified is stored.
                        vec![(None, Err("verification failed".to_owned())); chunk]
                    })
                })
                .collect()
        })
    }

    /// Checks an authenticated record against this node's agreements; `Ok(report)` when it
    /// may be stored.
    fn admit(
        &self,
        from: &AgencyId,
        raw: &RawRecord,
        media: &[MediaItem],
    ) -> Result<Option<Report>, String> {
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
                for item in media {
                    item.validate()?;
                    let subject = Subject::MediaItem {
                        report,
                        items: media,
                        item,
                    };
                    if let Decision::Deny(reason) = authorize(agreements, request, subject) {
                        return Err(format!("a media item is not covered ({reason:?})"));
                    }
                }
                Ok(Some(report.clone()))
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
        let judge = super::agreements::Judge {
            me: self.me(),
            anchors: &trust.anchors,
            crl: trust.crl.as_ref(),
            now: self.now(),
        };
        let party = |agency| {
            super::agreements::party(&self.store, &judge, agency)
                .map_err(|e| e.to_string())?
                .map_err(|reason| format!("agreement refused: {reason}"))
        };
        let provider = party(&terms.provider)?;
        let recipient = party(&terms.recipient)?;
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

    /// Ingests a page pulled from `from`: verifies and authorizes every record, stores what
    /// passes, logs what does not, fans stored records out, and advances the cursor: one
    /// synced batch.
    pub fn ingest_page(&self, from: &AgencyId, page: &SyncPage) -> Result<Ingested, AppError> {
        let now = self.now();
        let mut identities: BTreeMap<AgencyId, AgencyIdentity> = BTreeMap::new();
        let mut verified_pems: Vec<(AgencyId, String)> = Vec::new();
        for pem in &page.certificates {
            // A certificate that does not verify is ignored; records that need it are refused.
            if let Ok(identity) = self.verify_certificate(pem) {
                verified_pems.push((identity.subject.agency.clone(), pem.clone()));
                identities.insert(identity.subject.agency.clone(), identity);
            }
        }
        let mut outcome = Ingested::default();
        let mut batch = self.store.batch();
        for (agency, pem) in &verified_pems {
            batch.put_certificate(agency, pem)?;
        }
        // Records stored by this page so far (a withdrawal later in the page may name one).
        let mut inserted: Vec<RawRecord> = Vec::new();
        let authenticated = self.authenticate_all(&page.items, &identities);
        for (item, (decoded, authentic)) in page.items.iter().zip(authenticated) {
            let verdict = match (&decoded, authentic) {
                (Some(raw), Ok(())) => self.admit(from, raw, &item.media),
                (_, Err(reason)) => Err(reason),
                (None, Ok(())) => Err("record does not decode".into()),
            };
            match verdict {
                Ok(report) => {
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
                        RecordType::Agreement | RecordType::AgreementRevocation => {}
                        RecordType::Report => {}
                    }
                    if let Some(report) = &report {
                        for media in &item.media {
                            batch.put_media_item(media)?;
                        }
                        self.advance_report_head(&mut batch, &raw, report)?;
                    }
                    let context = report.as_ref().map(|r| (r, item.media.as_slice()));
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
        let committed = batch.commit()?;
        outcome
            .committed
            .outbox_heads
            .extend(committed.outbox_heads);
        self.changed();
        outcome.cursor = page.next_cursor;
        Ok(outcome)
    }
}
