//! [`StoreBatch`]: one atomic, synced write of everything an operation changes.
//!
//! Ingesting a sync page stores the records, their media items and indexes, appends them to the
//! outboxes of the peers `authorize()` admits, and advances the cursor: all of it in one
//! RocksDB `WriteBatch`, written with sync before the page counts as received. A crash therefore
//! leaves either all of it or none of it, and an acknowledged record is never lost. The batch
//! holds the store's write lock from creation to commit, so its existence checks stay true
//! until it is written.

use std::collections::{HashMap, HashSet};
use std::sync::MutexGuard;

use safeport_protocol::report::{CommittedItem, MediaItem};
use safeport_protocol::{AgencyId, RawRecord, RecordId, encoding};

use super::codec::KeyWriter;
use super::sorted_writes::SortedWrites;
use super::{META_RECORD_COUNT, Store, StoreError, Table};
use crate::store::federation::Rejection;

/// Pending writes; nothing is visible until [`StoreBatch::commit`].
pub struct StoreBatch<'a> {
    pub(super) store: &'a Store,
    _guard: MutexGuard<'a, ()>,
    /// Written as one RocksDB batch, sorted by key, at commit.
    pub(super) batch: SortedWrites<'a>,
    added: HashSet<[u8; 32]>,
    removed: u64,
    /// Next free outbox position per recipient, as far as this batch has used them.
    outbox_next: HashMap<AgencyId, u64>,
    /// Records enqueued per recipient in this batch, for nudges after commit.
    enqueued: HashMap<AgencyId, u64>,
}

/// What a committed batch appended to outboxes: recipient and its new outbox head.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Committed {
    /// `(recipient, newest position)` for every outbox that grew.
    pub outbox_heads: Vec<(AgencyId, u64)>,
}

impl Store {
    /// Starts a batch. Holds the store's write lock until the batch is committed or dropped:
    /// keep batches short and never hold one across an await.
    pub fn batch(&self) -> StoreBatch<'_> {
        StoreBatch {
            store: self,
            _guard: self.lock(),
            batch: SortedWrites::default(),
            added: HashSet::new(),
            removed: 0,
            outbox_next: HashMap::new(),
            enqueued: HashMap::new(),
        }
    }
}

impl StoreBatch<'_> {
    /// Adds a record with its origin and type indexes. Idempotent by id: returns `false` (and
    /// adds nothing) when the record is already stored or already in this batch.
    pub fn insert_record(&mut self, record: &RawRecord) -> Result<bool, StoreError> {
        let header = record.header();
        let added = self.put_record_parts(
            &record.id().0,
            header.origin.as_str(),
            header.sequence,
            record.bytes(),
        )?;
        if added {
            let type_key = KeyWriter::new()
                .u8(header.record_type as u8)
                .array(&record.id().0)
                .finish();
            self.batch
                .put_cf(self.store.cf(Table::RecordsByType)?, type_key, []);
        }
        Ok(added)
    }

    /// The untyped core of record insertion (record, origin index, count).
    pub(super) fn put_record_parts(
        &mut self,
        id: &[u8; 32],
        origin: &str,
        sequence: u64,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        if sequence == 0 {
            return Err(StoreError::InvalidArgument(
                "record sequence must be at least 1",
            ));
        }
        let record_key = KeyWriter::new().array(id).finish();
        if self.added.contains(id) || self.store.get(Table::Records, &record_key)?.is_some() {
            return Ok(false);
        }
        let index_key = KeyWriter::new()
            .str(origin)
            .u64(sequence)
            .array(id)
            .finish();
        self.batch
            .put_cf(self.store.cf(Table::Records)?, &record_key, bytes);
        self.batch
            .put_cf(self.store.cf(Table::RecordsByOrigin)?, &index_key, []);
        self.added.insert(*id);
        Ok(true)
    }

    /// Deletes a stored record with its indexes (and, for a report, its media items and head).
    pub fn delete_record(
        &mut self,
        record: &RawRecord,
        report: Option<&safeport_protocol::report::Report>,
    ) -> Result<(), StoreError> {
        let header = record.header();
        let id = record.id().0;
        self.batch.delete_cf(
            self.store.cf(Table::Records)?,
            KeyWriter::new().array(&id).finish(),
        );
        self.batch.delete_cf(
            self.store.cf(Table::RecordsByOrigin)?,
            KeyWriter::new()
                .str(header.origin.as_str())
                .u64(header.sequence)
                .array(&id)
                .finish(),
        );
        self.batch.delete_cf(
            self.store.cf(Table::RecordsByType)?,
            KeyWriter::new()
                .u8(header.record_type as u8)
                .array(&id)
                .finish(),
        );
        if let Some(report) = report {
            self.unindex_revision(&header.origin, report, &record.id())?;
            for commitment in &report.media {
                self.batch.delete_cf(
                    self.store.cf(Table::MediaItems)?,
                    super::media_items::media_item_key(&record.id(), commitment),
                );
            }
            let head_key = KeyWriter::new()
                .str(header.origin.as_str())
                .array(&report.report_key)
                .finish();
            if let Some((_, head)) = self.store.report_head(&header.origin, &report.report_key)?
                && head == record.id()
            {
                self.batch
                    .delete_cf(self.store.cf(Table::ReportHeads)?, head_key);
            }
        }
        self.removed += 1;
        Ok(())
    }

    /// Remembers that `withdrawn` (of `origin`) was withdrawn by record `withdrawal`.
    pub fn put_tombstone(
        &mut self,
        withdrawn: &RecordId,
        origin: &AgencyId,
        withdrawal: &RecordId,
    ) -> Result<(), StoreError> {
        let mut value = withdrawal.0.to_vec();
        value.extend_from_slice(origin.as_str().as_bytes());
        self.batch
            .put_cf(self.store.cf(Table::Withdrawn)?, withdrawn.0, value);
        Ok(())
    }

    /// Stores a media item of report record `record` under the record and its commitment.
    pub fn put_media_item(
        &mut self,
        record: &RecordId,
        item: &MediaItem,
    ) -> Result<(), StoreError> {
        let invalid = |_| StoreError::InvalidArgument("media item does not encode");
        let (value, commitment) = item.encode_with_commitment().map_err(invalid)?;
        self.put_encoded_media_item(record, &commitment, &value)
    }

    /// [`StoreBatch::put_media_item`] with the encoding and commitment computed before.
    pub fn put_committed_item(
        &mut self,
        record: &RecordId,
        item: &CommittedItem,
    ) -> Result<(), StoreError> {
        self.put_encoded_media_item(record, item.commitment(), item.encoded())
    }

    fn put_encoded_media_item(
        &mut self,
        record: &RecordId,
        commitment: &[u8; 32],
        encoded: &[u8],
    ) -> Result<(), StoreError> {
        self.batch.put_cf(
            self.store.cf(Table::MediaItems)?,
            super::media_items::media_item_key(record, commitment),
            encoded,
        );
        Ok(())
    }

    /// Records `id` as the latest revision of report `(origin, report_key)`.
    pub fn set_report_head(
        &mut self,
        origin: &AgencyId,
        report_key: &[u8; 16],
        revision: u32,
        id: &RecordId,
    ) -> Result<(), StoreError> {
        let key = KeyWriter::new()
            .str(origin.as_str())
            .array(report_key)
            .finish();
        let mut value = revision.to_be_bytes().to_vec();
        value.extend_from_slice(&id.0);
        self.batch
            .put_cf(self.store.cf(Table::ReportHeads)?, key, value);
        Ok(())
    }

    /// Appends a record to `recipient`'s outbox unless it is already there; returns the new
    /// position, or `None` when it was already enqueued.
    pub fn enqueue(
        &mut self,
        recipient: &AgencyId,
        id: &RecordId,
    ) -> Result<Option<u64>, StoreError> {
        self.append(recipient, id, false)
    }

    /// Appends a record to `recipient`'s outbox even if it was enqueued before: a back-fill
    /// after a new agreement must also resend records that an earlier, revoked agreement had
    /// queued but that were skipped when served. The recipient ignores duplicates.
    pub fn requeue(&mut self, recipient: &AgencyId, id: &RecordId) -> Result<u64, StoreError> {
        self.append(recipient, id, true)
            .map(|position| position.unwrap_or_default())
    }

    fn append(
        &mut self,
        recipient: &AgencyId,
        id: &RecordId,
        again: bool,
    ) -> Result<Option<u64>, StoreError> {
        let index_key = KeyWriter::new()
            .str(recipient.as_str())
            .array(&id.0)
            .finish();
        if !again && self.store.get(Table::OutboxIndex, &index_key)?.is_some() {
            return Ok(None);
        }
        let position = match self.outbox_next.get(recipient) {
            Some(next) => *next,
            None => self.store.outbox_head(recipient)? + 1,
        };
        // Within one batch a record could be enqueued twice before the index is written.
        self.outbox_next.insert(recipient.clone(), position + 1);
        let outbox_key = KeyWriter::new()
            .str(recipient.as_str())
            .u64(position)
            .finish();
        self.batch
            .put_cf(self.store.cf(Table::Outbox)?, outbox_key, id.0);
        self.batch.put_cf(
            self.store.cf(Table::OutboxIndex)?,
            index_key,
            position.to_be_bytes(),
        );
        self.enqueued.insert(recipient.clone(), position);
        Ok(Some(position))
    }

    /// Sets how far this node has pulled `peer`'s outbox.
    pub fn set_cursor(&mut self, peer: &AgencyId, position: u64) -> Result<(), StoreError> {
        let key = KeyWriter::new().str(peer.as_str()).finish();
        self.batch
            .put_cf(self.store.cf(Table::Cursors)?, key, position.to_be_bytes());
        Ok(())
    }

    /// Makes a verified certificate the agency's current one (and keeps it among all its
    /// certificates, see `certificates.rs`).
    pub fn put_certificate(&mut self, agency: &AgencyId, pem: &str) -> Result<(), StoreError> {
        self.add_agency_certificate(agency, pem)?;
        let key = KeyWriter::new().str(agency.as_str()).finish();
        self.batch
            .put_cf(self.store.cf(Table::Certificates)?, key, pem.as_bytes());
        Ok(())
    }

    /// Logs a refused record with its reason (never dropped silently).
    pub fn reject(&mut self, rejection: &Rejection) -> Result<(), StoreError> {
        let key = KeyWriter::new()
            .u64(rejection.at)
            .array(&rejection.record_id)
            .finish();
        let value = encoding::encode(rejection)
            .map_err(|_| StoreError::InvalidArgument("rejection does not encode"))?;
        self.batch
            .put_cf(self.store.cf(Table::Rejections)?, key, value);
        Ok(())
    }

    /// Writes everything, synced. Returns the outboxes that grew.
    pub fn commit(mut self) -> Result<Committed, StoreError> {
        if !self.added.is_empty() || self.removed > 0 {
            let count_key = Store::internal_meta_key(META_RECORD_COUNT);
            let count = self
                .store
                .read_u64(Table::Meta, &count_key)?
                .unwrap_or(0)
                .saturating_add(self.added.len() as u64)
                .saturating_sub(self.removed);
            self.batch
                .put_cf(self.store.cf(Table::Meta)?, &count_key, count.to_be_bytes());
        }
        let batch = std::mem::take(&mut self.batch);
        self.store.write(batch.into_write_batch())?;
        let mut outbox_heads: Vec<(AgencyId, u64)> = self.enqueued.drain().collect();
        outbox_heads.sort();
        Ok(Committed { outbox_heads })
    }
}
