//! What backups need from the store: an online checkpoint, and the whole-table walks and the
//! one write a restore makes.
//!
//! A checkpoint is RocksDB's consistent point-in-time copy of every column family (SST files
//! hard-linked when the target is on the same file system, copied otherwise, and a new
//! MANIFEST). It is taken under the store's write lock, so the record count read beside it
//! describes exactly what the checkpoint holds; writers wait only for the memtable flush and
//! the links, not for the backup's copying.

use std::path::Path;

use rocksdb::checkpoint::Checkpoint;
use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::codec::{KeyReader, KeyWriter, prefix_upper_bound};
use super::{CURRENT_SCHEMA_VERSION, META_SCHEMA_VERSION, Store, StoreError, Table};

/// What a checkpoint holds, read under the same lock as the checkpoint itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Records in the checkpoint.
    pub record_count: u64,
    /// The checkpoint's schema version.
    pub schema_version: u64,
}

impl Store {
    /// Writes a consistent copy of the database into `dir`, which must not exist yet (RocksDB
    /// creates it). The node keeps running; batches wait while the checkpoint is cut.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<CheckpointInfo, StoreError> {
        let dir = dir.as_ref();
        let _guard = self.lock();
        let record_count = self.record_count()?;
        let schema_version = self
            .read_u64(Table::Meta, &Self::internal_meta_key(META_SCHEMA_VERSION))?
            .unwrap_or(CURRENT_SCHEMA_VERSION);
        let checkpoint = Checkpoint::new(&self.inner.db).map_err(|e| self.db_err(e))?;
        checkpoint
            .create_checkpoint(dir)
            .map_err(|source| StoreError::Db {
                path: dir.to_owned(),
                source,
            })?;
        Ok(CheckpointInfo {
            record_count,
            schema_version,
        })
    }

    /// Calls `visit` with the key and the stored bytes of every record, in key order, and
    /// stops at the first error it returns. The bytes are not judged here (see `backup`).
    pub fn visit_record_bytes<E: From<StoreError>>(
        &self,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let iter = self
            .inner
            .db
            .iterator_cf(self.cf(Table::Records)?, IteratorMode::Start);
        for entry in iter {
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            visit(&key, &value)?;
        }
        Ok(())
    }

    /// The SHA-256 of at most `limit` stored media items, in key order.
    pub fn media_sha256s(&self, limit: usize) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut out = Vec::new();
        let iter = self
            .inner
            .db
            .iterator_cf(self.cf(Table::MediaItems)?, IteratorMode::Start);
        for entry in iter.take(limit) {
            let (_, value) = entry.map_err(|e| self.db_err(e))?;
            out.push(super::media_items::decode_media_item(&value)?.sha256);
        }
        Ok(out)
    }

    /// Moves every outbox `gap` positions past its head, for every agency with an outbox or a
    /// certificate here except `me`, in one synced batch; returns how many outboxes moved.
    ///
    /// A restored node's outboxes are as old as its backup, while its peers' cursors may have
    /// gone further on the node that was lost: records it appends after the restore would take
    /// positions a peer believes it has read, and never reach it. Each fence is an entry that
    /// names no record (the all-zero id, which no SHA-256 preimage is known to give): serving
    /// skips it as gone and moves the peer's cursor past it, so whatever the peer had read,
    /// the next records it pulls are the new ones.
    pub fn fence_outboxes(&self, me: &str, gap: u64) -> Result<usize, StoreError> {
        let _guard = self.lock();
        let mut agencies = self.table_first_strings(Table::Outbox)?;
        agencies.extend(self.table_first_strings(Table::Certificates)?);
        agencies.sort();
        agencies.dedup();
        agencies.retain(|agency| agency != me);
        let mut batch = WriteBatch::default();
        for agency in &agencies {
            let prefix = KeyWriter::new().str(agency).finish();
            let head = match self.scan_prefix(Table::Outbox, &prefix, None, true)?.next() {
                None => 0,
                Some(entry) => {
                    let (key, _) = entry.map_err(|e| self.db_err(e))?;
                    let mut reader = KeyReader::new(&key);
                    reader.bytes().map_err(corrupt_outbox)?;
                    reader.u64().map_err(corrupt_outbox)?
                }
            };
            let fence = head.checked_add(gap).ok_or(StoreError::InvalidArgument(
                "outbox position space exhausted",
            ))?;
            let key = KeyWriter::new().str(agency).u64(fence).finish();
            batch.put_cf(self.cf(Table::Outbox)?, key, [0u8; 32]);
        }
        self.write(batch)?;
        Ok(agencies.len())
    }

    /// The distinct first (string) fields of the keys of `table`, skipping from one to the
    /// next, so a table of many keys under few agencies costs one seek per agency.
    fn table_first_strings(&self, table: Table) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        loop {
            let mut iter = self.inner.db.iterator_cf(
                self.cf(table)?,
                IteratorMode::From(&from, Direction::Forward),
            );
            let Some(entry) = iter.next() else {
                return Ok(out);
            };
            let (key, _) = entry.map_err(|e| self.db_err(e))?;
            let first = KeyReader::new(&key)
                .string()
                .map_err(|source| StoreError::CorruptKey {
                    table: table.name(),
                    source,
                })?;
            let Some(next) = prefix_upper_bound(&KeyWriter::new().str(&first).finish()) else {
                out.push(first);
                return Ok(out);
            };
            out.push(first);
            from = next;
        }
    }
}

fn corrupt_outbox(source: super::codec::CodecError) -> StoreError {
    StoreError::CorruptKey {
        table: Table::Outbox.name(),
        source,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use safeport_protocol::{AgencyId, RecordId};

    use super::*;

    fn agency(name: &str) -> AgencyId {
        AgencyId::new(name).unwrap()
    }

    #[test]
    fn a_checkpoint_is_a_store_of_its_own_and_keeps_its_moment() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        store.put_record(&[1; 32], "nl-hotline", 1, b"one").unwrap();
        let info = store.checkpoint(dir.path().join("copy")).unwrap();
        assert_eq!(
            info,
            CheckpointInfo {
                record_count: 1,
                schema_version: CURRENT_SCHEMA_VERSION
            }
        );
        // Writes after the checkpoint stay out of it.
        store.put_record(&[2; 32], "nl-hotline", 2, b"two").unwrap();
        let copy = Store::open(dir.path().join("copy")).unwrap();
        assert_eq!(copy.record_count().unwrap(), 1);
        let mut seen = Vec::new();
        copy.visit_record_bytes(|key, bytes| {
            seen.push((key.to_vec(), bytes.to_vec()));
            Ok::<_, StoreError>(())
        })
        .unwrap();
        assert_eq!(seen, vec![(vec![1; 32], b"one".to_vec())]);
        // The target must be new.
        assert!(matches!(
            store.checkpoint(dir.path().join("copy")),
            Err(StoreError::Db { .. })
        ));
    }

    #[test]
    fn fences_move_every_outbox_past_its_head() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        let mut batch = store.batch();
        batch
            .enqueue(&agency("nl-police"), &RecordId([1; 32]))
            .unwrap();
        batch
            .enqueue(&agency("nl-police"), &RecordId([2; 32]))
            .unwrap();
        batch.batch.put_cf(
            store.cf(Table::Certificates).unwrap(),
            KeyWriter::new().str("interpol").finish(),
            "pem",
        );
        batch.batch.put_cf(
            store.cf(Table::Certificates).unwrap(),
            KeyWriter::new().str("nl-hotline").finish(),
            "pem",
        );
        batch.commit().unwrap();

        assert_eq!(store.fence_outboxes("nl-hotline", 1000).unwrap(), 2);
        assert_eq!(store.outbox_head(&agency("nl-police")).unwrap(), 1002);
        assert_eq!(store.outbox_head(&agency("interpol")).unwrap(), 1000);
        assert_eq!(store.outbox_head(&agency("nl-hotline")).unwrap(), 0);
        // A peer that had read further than the backup skips to the records after the fence.
        let mut batch = store.batch();
        batch
            .enqueue(&agency("nl-police"), &RecordId([3; 32]))
            .unwrap();
        batch.commit().unwrap();
        assert_eq!(
            store.outbox_page(&agency("nl-police"), 7, 10).unwrap(),
            vec![(1002, RecordId([0; 32])), (1003, RecordId([3; 32]))]
        );
        assert_eq!(store.record(&RecordId([0; 32])).unwrap(), None);
    }
}
