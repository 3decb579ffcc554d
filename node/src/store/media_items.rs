//! Media items of the reports held: each stored under its report record and its commitment,
//! so a report's items lie side by side (one block read serves them all) and every revision
//! holds its own. Schema 4 moved them here from `media_items_v1`, keyed by commitment alone.

use rocksdb::{DB, WriteBatch};
use safeport_protocol::report::MediaItem;
use safeport_protocol::{RecordId, encoding};

use super::codec::KeyWriter;
use super::{Store, StoreError, Table};

/// The column family of schema 3 and before: `commitment[32]` -> canonical `MediaItem`. The
/// upgrade to schema 4 copies what it holds and the store drops it once the upgrade is done.
pub(super) const LEGACY_MEDIA_ITEMS: &str = "media_items_v1";

/// Media items the upgrade copies per synced write: bounds its memory on a large store.
const MIGRATION_CHUNK_ITEMS: usize = 10_000;

/// Largest stored media item read back.
const MAX_MEDIA_ITEM_BYTES: usize = 64 * 1024;

/// The key of a report's media item: the report record's id, then the item's commitment, so a
/// report's items lie side by side (and each revision holds its own).
pub(super) fn media_item_key(record: &RecordId, commitment: &[u8; 32]) -> Vec<u8> {
    KeyWriter::new().array(&record.0).array(commitment).finish()
}

/// Decodes a stored media item (one place for its bound and its corruption error).
pub(super) fn decode_media_item(bytes: &[u8]) -> Result<MediaItem, StoreError> {
    encoding::decode(bytes, MAX_MEDIA_ITEM_BYTES).map_err(|_| StoreError::CorruptValue {
        table: Table::MediaItems.name(),
        what: "stored media item does not decode",
    })
}

impl Store {
    /// The media item of report record `record` with this commitment, if stored.
    pub fn media_item(
        &self,
        record: &RecordId,
        commitment: &[u8; 32],
    ) -> Result<Option<MediaItem>, StoreError> {
        self.get(Table::MediaItems, &media_item_key(record, commitment))?
            .map(|bytes| decode_media_item(&bytes))
            .transpose()
    }

    /// The media items of report record `record` with these commitments, in order (`None`
    /// where not stored): one RocksDB multi-get whose keys share the record's prefix, so they
    /// are read from one block instead of one block each.
    pub fn media_items(
        &self,
        record: &RecordId,
        commitments: &[[u8; 32]],
    ) -> Result<Vec<Option<MediaItem>>, StoreError> {
        let cf = self.cf(Table::MediaItems)?;
        let keys: Vec<Vec<u8>> = commitments
            .iter()
            .map(|commitment| media_item_key(record, commitment))
            .collect();
        self.inner
            .db
            .batched_multi_get_cf(cf, &keys, false)
            .into_iter()
            .map(|found| {
                found
                    .map_err(|e| self.db_err(e))?
                    .map(|bytes| decode_media_item(&bytes))
                    .transpose()
            })
            .collect()
    }
}

/// Schema 3 -> 4: every report record's media items, found by commitment in the legacy table,
/// are copied under the record. The copies are written in synced chunks as they are made, so a
/// large store needs no more memory than a chunk: copying is idempotent and the legacy table
/// stays whole until the upgrade is done, so an interrupted upgrade simply copies again. A
/// record or item that does not decode is left out (it was verified when stored; the upgrade
/// never fails on one bad value, and what reads it reports it).
pub(super) fn migrate_media_items_under_reports(
    db: &DB,
    _batch: &mut WriteBatch,
) -> Result<(), StoreError> {
    copy_media_items_under_reports(db, MIGRATION_CHUNK_ITEMS)
}

/// The copy of [`migrate_media_items_under_reports`], writing every `chunk_items` items.
fn copy_media_items_under_reports(db: &DB, chunk_items: usize) -> Result<(), StoreError> {
    let cf = |table: Table| super::migrations::cf(db, table);
    let db_err = super::migrations::db_err(db);
    let Some(legacy) = db.cf_handle(LEGACY_MEDIA_ITEMS) else {
        // Every release before schema 4 created it; without it there is nothing to copy.
        tracing::warn!(
            table = LEGACY_MEDIA_ITEMS,
            "schema 4: no media items of an earlier schema to copy"
        );
        return Ok(());
    };
    let mut chunk = WriteBatch::default();
    let (mut copied, mut reports) = (0u64, 0u64);
    super::migrations::visit_reports(db, |id, report| {
        reports += 1;
        let commitments = &report.body().media;
        for (commitment, found) in
            commitments
                .iter()
                .zip(db.batched_multi_get_cf(legacy, commitments, false))
        {
            let Some(value) = found.map_err(&db_err)? else {
                continue;
            };
            chunk.put_cf(
                cf(Table::MediaItems)?,
                media_item_key(&id, commitment),
                &*value,
            );
            copied += 1;
        }
        if chunk.len() >= chunk_items {
            super::migrations::write(db, std::mem::take(&mut chunk))?;
        }
        Ok(())
    })?;
    super::migrations::write(db, chunk)?;
    tracing::info!(
        reports,
        copied,
        "schema 4: every report's media items are kept under the report record"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use safeport_protocol::Classification;
    use safeport_tests::fixtures::media_item;

    use super::*;

    #[test]
    fn media_items_come_back_in_order_with_gaps_for_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        let (record, other_record) = (RecordId([1; 32]), RecordId([2; 32]));
        let held = [
            media_item(1, Classification::Baseline),
            media_item(2, Classification::NationallyIllegal),
        ];
        let of_other_record = media_item(4, Classification::Baseline);
        let mut batch = store.batch();
        for item in &held {
            batch.put_media_item(&record, item).unwrap();
        }
        batch
            .put_media_item(&other_record, &of_other_record)
            .unwrap();
        batch.commit().unwrap();
        let missing = media_item(3, Classification::Baseline);
        let commitments = [
            held[1].commitment().unwrap(),
            missing.commitment().unwrap(),
            held[0].commitment().unwrap(),
            of_other_record.commitment().unwrap(),
        ];
        let found = store.media_items(&record, &commitments).unwrap();
        assert_eq!(
            found,
            vec![Some(held[1].clone()), None, Some(held[0].clone()), None]
        );
        assert_eq!(
            store.media_item(&record, &commitments[2]).unwrap(),
            Some(held[0].clone())
        );
        // Items are held per record: another record's item is not this one's.
        assert_eq!(store.media_item(&record, &commitments[3]).unwrap(), None);
        assert_eq!(
            store.media_item(&other_record, &commitments[3]).unwrap(),
            Some(of_other_record)
        );
        assert!(store.media_items(&record, &[]).unwrap().is_empty());
    }
}

#[cfg(test)]
mod migration_tests {
    #![allow(clippy::unwrap_used)]

    use rocksdb::IteratorMode;
    use safeport_protocol::report::Report;

    use super::*;

    /// A store as schema 3 left it: two revisions of one report (sharing one item) stored, and
    /// their items, plus one no report names, keyed by commitment alone in the legacy table.
    fn schema_3_store(
        path: &std::path::Path,
    ) -> (
        safeport_protocol::Signed<Report>,
        safeport_protocol::Signed<Report>,
        Vec<MediaItem>,
    ) {
        use safeport_protocol::{AgencyId, Classification, NodeKey, Signed, Timestamp};
        use safeport_tests::fixtures::{media_item, report};

        let items: Vec<MediaItem> = (1..=5)
            .map(|n| media_item(n, Classification::Baseline))
            .collect();
        let key = NodeKey::from_seed([3; 32]);
        let origin = AgencyId::new("nl-hotline").unwrap();
        let revision = |revision: u32, items: &[MediaItem]| {
            let mut body = report(7, "NL", items);
            body.revision = revision;
            let at = Timestamp::from_secs(1_800_000_000 + u64::from(revision));
            Signed::sign(&key, origin.clone(), u64::from(revision), at, body).unwrap()
        };
        let (first, second) = (revision(1, &items[..2]), revision(2, &items[1..4]));
        {
            let store = Store::open(path).unwrap();
            let mut batch = store.batch();
            batch.insert_record(first.raw()).unwrap();
            batch.insert_record(second.raw()).unwrap();
            batch.batch.put_cf(
                store.cf(Table::Meta).unwrap(),
                Store::internal_meta_key(crate::store::META_SCHEMA_VERSION),
                3u64.to_be_bytes(),
            );
            batch.commit().unwrap();
        }
        let options = rocksdb::Options::default();
        let names = DB::list_cf(&options, path).unwrap();
        let mut db = DB::open_cf(&options, path, names).unwrap();
        db.create_cf(LEGACY_MEDIA_ITEMS, &options).unwrap();
        let legacy = db.cf_handle(LEGACY_MEDIA_ITEMS).unwrap();
        for item in &items {
            let (value, commitment) = item.encode_with_commitment().unwrap();
            db.put_cf(legacy, commitment, value).unwrap();
        }
        (first, second, items)
    }

    #[test]
    fn the_upgrade_keeps_each_revisions_items_under_it_and_drops_the_legacy_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (first, second, items) = schema_3_store(&path);

        let store = Store::open(&path).unwrap();
        let version_key = Store::internal_meta_key(crate::store::META_SCHEMA_VERSION);
        assert_eq!(store.read_u64(Table::Meta, &version_key).unwrap(), Some(4));
        let held = |store: &Store, record: &safeport_protocol::Signed<Report>| {
            store
                .media_items(&record.id(), &record.body().media)
                .unwrap()
        };
        let some = |items: &[MediaItem]| items.iter().cloned().map(Some).collect::<Vec<_>>();
        assert_eq!(held(&store, &first), some(&items[..2]));
        assert_eq!(held(&store, &second), some(&items[1..4]));
        // Two copies of the shared item, none of the item no report names.
        assert_eq!(store.media_sha256s(100).unwrap().len(), 5);
        drop(store);
        let names = DB::list_cf(&rocksdb::Options::default(), &path).unwrap();
        assert!(
            !names.iter().any(|name| name == LEGACY_MEDIA_ITEMS),
            "{names:?}"
        );

        // Withdrawing one revision takes its items and leaves the other's copy of the shared one.
        let store = Store::open(&path).unwrap();
        let mut batch = store.batch();
        batch
            .delete_record(first.raw(), Some(first.body()))
            .unwrap();
        batch.commit().unwrap();
        assert_eq!(held(&store, &first), vec![None, None]);
        assert_eq!(held(&store, &second), some(&items[1..4]));
    }

    #[test]
    fn the_copy_writes_in_chunks_and_running_it_again_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (first, second, _) = schema_3_store(&path);
        let options = rocksdb::Options::default();
        let names = DB::list_cf(&options, &path).unwrap();
        let db = DB::open_cf(&options, &path, names).unwrap();
        let stored = |db: &DB| {
            let cf = db.cf_handle(Table::MediaItems.name()).unwrap();
            db.iterator_cf(cf, IteratorMode::Start)
                .map(|entry| entry.unwrap())
                .collect::<Vec<_>>()
        };
        // Chunks of two items: the five copies take three writes.
        copy_media_items_under_reports(&db, 2).unwrap();
        let once = stored(&db);
        assert_eq!(once.len(), 5);
        // As after an interrupted upgrade: copying again finds the same and writes the same.
        copy_media_items_under_reports(&db, 2).unwrap();
        assert_eq!(stored(&db), once);
        let mut ids: Vec<[u8; 32]> = once
            .iter()
            .map(|(key, _)| key[..32].try_into().unwrap())
            .collect();
        ids.dedup();
        let mut expected = vec![first.id().0, second.id().0];
        expected.sort();
        assert_eq!(ids, expected);
    }
}
