//! Every revision of a report held: `(origin, report_key, revision)` -> record id, written in
//! the batch that stores the revision, removed with it when it is withdrawn. The report head
//! says which revision is current; this index lets a report's detail show all of them. The
//! schema 1 -> 2 migration fills it from the report records a node already held.

use rocksdb::{DB, WriteBatch};
use safeport_protocol::report::Report;
use safeport_protocol::{AgencyId, RecordId};

use super::codec::{KeyReader, KeyWriter};
use super::{MAX_PAGE, Store, StoreBatch, StoreError, Table};

/// Most revisions one report detail reads.
pub const MAX_REVISIONS: usize = 256;

fn revision_key(origin: &AgencyId, report_key: &[u8; 16], revision: u32) -> Vec<u8> {
    KeyWriter::new()
        .str(origin.as_str())
        .array(report_key)
        .u32(revision)
        .finish()
}

impl Store {
    /// The revisions of report `(origin, report_key)` held here, oldest first, at most
    /// [`MAX_REVISIONS`].
    pub fn report_revisions(
        &self,
        origin: &AgencyId,
        report_key: &[u8; 16],
    ) -> Result<Vec<(u32, RecordId)>, StoreError> {
        let prefix = KeyWriter::new()
            .str(origin.as_str())
            .array(report_key)
            .finish();
        let corrupt_key = |source| StoreError::CorruptKey {
            table: Table::ReportRevisions.name(),
            source,
        };
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::ReportRevisions, &prefix, None, false)? {
            if out.len() >= MAX_REVISIONS.min(MAX_PAGE) {
                break;
            }
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key[prefix.len()..]);
            let revision = reader.u32().map_err(corrupt_key)?;
            let id: [u8; 32] = value
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::CorruptValue {
                    table: Table::ReportRevisions.name(),
                    what: "expected a 32-byte record id",
                })?;
            out.push((revision, RecordId(id)));
        }
        Ok(out)
    }
}

impl StoreBatch<'_> {
    /// Indexes `id` as revision `revision` of report `(origin, report_key)`.
    pub fn index_revision(
        &mut self,
        origin: &AgencyId,
        report_key: &[u8; 16],
        revision: u32,
        id: &RecordId,
    ) -> Result<(), StoreError> {
        self.batch.put_cf(
            self.store.cf(Table::ReportRevisions)?,
            revision_key(origin, report_key, revision),
            id.0,
        );
        Ok(())
    }

    /// Removes a revision from the index if `id` is the revision indexed there.
    pub(super) fn unindex_revision(
        &mut self,
        origin: &AgencyId,
        report: &Report,
        id: &RecordId,
    ) -> Result<(), StoreError> {
        let key = revision_key(origin, &report.report_key, report.revision);
        if self
            .store
            .get(Table::ReportRevisions, &key)?
            .is_some_and(|held| held.as_slice() == id.0)
        {
            self.batch
                .delete_cf(self.store.cf(Table::ReportRevisions)?, key);
        }
        Ok(())
    }
}

/// Schema 1 -> 2: indexes the revisions of every report record held. A record that does not
/// decode is left out of the index (it is still stored and still reported by whatever reads
/// it), so an upgrade never fails on one bad record.
pub(super) fn migrate_index_revisions(db: &DB, batch: &mut WriteBatch) -> Result<(), StoreError> {
    let revisions = super::migrations::cf(db, Table::ReportRevisions)?;
    let mut indexed = 0u64;
    super::migrations::visit_reports(db, |id, report| {
        let origin = &report.header().origin;
        let report = report.body();
        batch.put_cf(
            revisions,
            revision_key(origin, &report.report_key, report.revision),
            id.0,
        );
        indexed += 1;
        Ok(())
    })?;
    tracing::info!(indexed, "indexed the revisions of the reports held");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use safeport_protocol::{AgencyId, NodeKey, Signed, Timestamp};

    use super::*;
    use crate::store::META_SCHEMA_VERSION;

    fn signed_report(key: &NodeKey, sequence: u64, revision: u32) -> Signed<Report> {
        let mut report = safeport_tests::fixtures::report(7, "NL", &[]);
        report.revision = revision;
        Signed::sign(
            key,
            AgencyId::new("nl-hotline").unwrap(),
            sequence,
            Timestamp::from_secs(1_800_000_000 + sequence),
            report,
        )
        .unwrap()
    }

    #[test]
    fn revisions_are_indexed_unindexed_and_rebuilt_by_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        let key = NodeKey::from_seed([3; 32]);
        let origin = AgencyId::new("nl-hotline").unwrap();
        let first = signed_report(&key, 1, 1);
        let second = signed_report(&key, 2, 2);
        let report_key = first.body().report_key;
        // Stored without the index, as a schema 1 node stored them.
        let mut batch = store.batch();
        batch.insert_record(first.raw()).unwrap();
        batch.insert_record(second.raw()).unwrap();
        batch.commit().unwrap();
        assert!(
            store
                .report_revisions(&origin, &report_key)
                .unwrap()
                .is_empty()
        );
        let mut batch = store.batch();
        batch.batch.put_cf(
            store.cf(Table::Meta).unwrap(),
            Store::internal_meta_key(META_SCHEMA_VERSION),
            1u64.to_be_bytes(),
        );
        batch.commit().unwrap();
        drop(store);

        let store = Store::open(&path).unwrap();
        let expected = vec![(1, first.id()), (2, second.id())];
        assert_eq!(
            store.report_revisions(&origin, &report_key).unwrap(),
            expected
        );

        // Withdrawing a revision takes it out of the index; the other stays.
        let mut batch = store.batch();
        batch
            .delete_record(first.raw(), Some(first.body()))
            .unwrap();
        batch.commit().unwrap();
        assert_eq!(
            store.report_revisions(&origin, &report_key).unwrap(),
            vec![(2, second.id())]
        );
        // Indexing again is idempotent.
        let mut batch = store.batch();
        batch
            .index_revision(&origin, &report_key, 2, &second.id())
            .unwrap();
        batch
            .index_revision(&origin, &report_key, 2, &second.id())
            .unwrap();
        batch.commit().unwrap();
        assert_eq!(
            store.report_revisions(&origin, &report_key).unwrap().len(),
            1
        );
    }
}
