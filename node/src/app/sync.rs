//! Scoped sync, holder side: what enters each peer's outbox. Every decision goes through
//! `authorize()`: when a record is stored (outbox fan-out) and again when it is served
//! (`serve.rs`, so a revoked agreement stops the flow at once). The receiving side is
//! `ingest.rs`.

use safeport_protocol::agreement::{Agreement, AgreementRevocation, MediaAccess};
use safeport_protocol::hashlist::HashListPart;
use safeport_protocol::report::{CommittedItem, MediaItem, Report};
use safeport_protocol::status::ReportStatus;
use safeport_protocol::withdrawal::Withdrawal;
use safeport_protocol::{AgencyId, RawRecord, RecordId, RecordType, Request, Subject, authorize};

use super::{App, AppError};
use crate::store::{Committed, StoreBatch};

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
    /// Milliseconds spent checking the page's records (in parallel), building the batch, and
    /// writing it (synced): where ingest time goes, for the sync benchmark and the logs.
    pub check_ms: u64,
    /// See `check_ms`.
    pub build_ms: u64,
    /// See `check_ms`.
    pub write_ms: u64,
}

impl App {
    /// Loads the media items stored report record `record` commits to (those this node holds).
    pub(crate) fn report_items(
        &self,
        record: &RecordId,
        report: &Report,
    ) -> Result<Vec<MediaItem>, AppError> {
        Ok(self
            .store
            .media_items(record, &report.media)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// Whether `record` (with the items this node holds) may go to `recipient` now, and which
    /// of its media items.
    pub(crate) fn disclosure(
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
                    // An item that does not encode has no commitment and is in no report.
                    .filter_map(|item| CommittedItem::new(item.clone()).ok())
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
                    .map(CommittedItem::into_item)
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
            RecordType::HashList => {
                let part = record.clone().into_typed::<HashListPart>()?;
                let subject = Subject::HashList {
                    national_list: part.body().manifest.national,
                };
                Ok(authorize(agreements, request, subject)
                    .is_allowed()
                    .then(Vec::new))
            }
            RecordType::Iwol | RecordType::IwolSuggestion | RecordType::IwolDecision => {
                Ok(self.iwol_disclosed(record, recipient)?.then(Vec::new))
            }
            RecordType::ReportStatus => {
                let status = record.clone().into_typed::<ReportStatus>()?;
                let subject = Subject::ReportStatus {
                    report_origin: &status.body().report_origin,
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
        // Snapshots of later versions go only to those who need them: new subscribers, by
        // back-fill. A subscriber that follows the list has every delta already.
        if record.header().record_type == RecordType::HashList
            && super::list_versions::is_later_snapshot(record)?
        {
            return Ok(());
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
        self.store_and_share_with(record, report, |_| Ok(()))
    }

    /// [`App::store_and_share`] with further writes of the caller in the same batch (a
    /// hotline's internal state of the report), so both land or neither does.
    pub(crate) fn store_and_share_with(
        &self,
        record: &RawRecord,
        report: Option<(&Report, &[MediaItem])>,
        extra: impl FnOnce(&mut StoreBatch<'_>) -> Result<(), AppError>,
    ) -> Result<Committed, AppError> {
        let mut batch = self.store.batch();
        extra(&mut batch)?;
        batch.insert_record(record)?;
        if let Some((report, items)) = report {
            for item in items {
                batch.put_media_item(&record.id(), item)?;
            }
            self.advance_report_head(&mut batch, record, report)?;
        }
        self.fan_out(&mut batch, record, report)?;
        let committed = batch.commit()?;
        self.changed();
        Ok(committed)
    }

    /// Indexes `record` among the report's revisions and makes it the report's head unless a
    /// newer revision is held; `true` when it did.
    pub(crate) fn advance_report_head(
        &self,
        batch: &mut StoreBatch<'_>,
        record: &RawRecord,
        report: &Report,
    ) -> Result<bool, AppError> {
        let origin = &record.header().origin;
        batch.index_revision(origin, &report.report_key, report.revision, &record.id())?;
        let newer = match self.store.report_head(origin, &report.report_key)? {
            Some((revision, _)) => report.revision > revision,
            None => true,
        };
        if newer {
            batch.set_report_head(origin, &report.report_key, report.revision, &record.id())?;
            self.search_marks.mark(origin, &report.report_key);
        }
        Ok(newer)
    }

    /// Whether an agreement lets this node receive the content of `item` from `holder` (the
    /// receiving side's own `authorize()` check; the holder checks again before sending).
    pub(crate) fn content_granted(
        &self,
        holder: &AgencyId,
        report: &Report,
        items: &[MediaItem],
        item: &CommittedItem,
    ) -> bool {
        let book = self.agreements();
        // Most flows carry hashes only: skip the per-item decision (a commitment hash each)
        // when no agreement from this holder grants content at all.
        let any_content = book.active().iter().any(|agreement| {
            let terms = agreement.terms();
            &terms.provider == holder && terms.scope.media == MediaAccess::Content
        });
        if !any_content {
            return false;
        }
        let request = Request {
            holder,
            recipient: self.me(),
            now: self.now(),
        };
        let subject = Subject::MediaContent {
            report,
            items,
            item,
        };
        authorize(book.active(), request, subject).is_allowed()
    }

    /// The blob (SHA-256) of the content of item `commitment` of report `record`, if
    /// `recipient` may receive it now. The holder's `authorize()` check on the content path;
    /// anything not allowed is "not found", so a peer learns nothing of what it may not see.
    pub fn content_for(
        &self,
        recipient: &AgencyId,
        record: &RecordId,
        commitment: &[u8; 32],
    ) -> Result<[u8; 32], AppError> {
        let raw = self.store.record(record)?.ok_or(AppError::NotFound)?;
        if raw.header().record_type != RecordType::Report {
            return Err(AppError::NotFound);
        }
        let typed = raw.into_typed::<Report>()?;
        let report = typed.body();
        if !report.media.contains(commitment) {
            return Err(AppError::NotFound);
        }
        let item = self
            .store
            .media_item(record, commitment)?
            .ok_or(AppError::NotFound)?;
        let items = self.report_items(record, report)?;
        let item =
            CommittedItem::new(item).map_err(|e| AppError::Invalid(format!("media item: {e}")))?;
        let request = Request {
            holder: self.me(),
            recipient,
            now: self.now(),
        };
        let subject = Subject::MediaContent {
            report,
            items: &items,
            item: &item,
        };
        if !authorize(self.agreements().active(), request, subject).is_allowed() {
            return Err(AppError::NotFound);
        }
        Ok(item.item().sha256)
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
        let mut committed = self.requeue_of_type(RecordType::Report, &recipient, |raw| {
            let typed = raw.clone().into_typed::<Report>()?;
            let items = self.report_items(&raw.id(), typed.body())?;
            Ok(self
                .disclosure(raw, &recipient, Some((typed.body(), &items)))?
                .is_some())
        })?;
        committed
            .outbox_heads
            .extend(self.backfill_hash_lists(&recipient)?.outbox_heads);
        committed
            .outbox_heads
            .extend(self.backfill_iwol(&recipient)?.outbox_heads);
        Ok(committed)
    }

    /// Requeues for `recipient`, a step at a time, every stored record of `record_type` that it
    /// did not originate and `may_go` lets go (the back-fill of a new counterparty).
    pub(crate) fn requeue_of_type(
        &self,
        record_type: RecordType,
        recipient: &AgencyId,
        mut may_go: impl FnMut(&RawRecord) -> Result<bool, AppError>,
    ) -> Result<Committed, AppError> {
        let mut committed = Committed::default();
        let mut after: Option<RecordId> = None;
        loop {
            let ids = self
                .store
                .records_of_type(record_type, after.as_ref(), BACKFILL_STEP)?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            let mut batch = self.store.batch();
            for id in &ids {
                let Some(raw) = self.store.record(id)? else {
                    continue;
                };
                if &raw.header().origin != recipient && may_go(&raw)? {
                    batch.requeue(recipient, id)?;
                }
            }
            committed.outbox_heads.extend(batch.commit()?.outbox_heads);
            after = Some(last);
        }
        Ok(committed)
    }
}
