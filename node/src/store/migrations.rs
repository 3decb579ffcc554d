//! Schema versions and their upgrades: the version check at every open, the chain of
//! migrations (each applied whole, with its version bump, or not at all), the helpers the
//! migrations share, and the dropping of tables an upgrade emptied.

use std::sync::Arc;

use rocksdb::{ColumnFamily, DB, IteratorMode, WriteBatch, WriteOptions};

use super::codec::KeyWriter;
use super::{CURRENT_SCHEMA_VERSION, META_SCHEMA_VERSION, Store, StoreError, Table};

/// A migration rewrites the data of one schema version into the next one. It adds its changes to
/// the batch; the caller adds the version bump to the same batch, so a step is applied whole or
/// not at all. A step whose data can be large instead writes idempotent copies itself in
/// synced chunks ([`write`]) and leaves the data it copies from in place, so an interrupted
/// step simply runs again.
type Migration = fn(&DB, &mut WriteBatch) -> Result<(), StoreError>;

/// A table's column family, for migrations (which run on the raw database before [`Store`]
/// exists).
pub(super) fn cf(db: &DB, table: Table) -> Result<&ColumnFamily, StoreError> {
    db.cf_handle(table.name())
        .ok_or(StoreError::MissingTable(table.name()))
}

/// RocksDB's error as a [`StoreError`], for migrations.
pub(super) fn db_err(db: &DB) -> impl Fn(rocksdb::Error) -> StoreError + '_ {
    move |source| StoreError::Db {
        path: db.path().to_path_buf(),
        source,
    }
}

/// The migration chain: `(from_version, step)` upgrades `from_version` to `from_version + 1`.
const MIGRATIONS: &[(u64, Migration)] = &[
    (1, super::revisions::migrate_index_revisions),
    (2, super::certificates::migrate_agency_certificates),
    (3, super::media_items::migrate_media_items_under_reports),
];

/// Column families of earlier schemas that a migration copied out of: dropped at open once the
/// schema is current (a crash between the upgrade and the drop leaves one to drop next time).
pub(super) const LEGACY_TABLES: &[&str] = &[super::media_items::LEGACY_MEDIA_ITEMS];

/// Calls `visit` with the id and the typed record of every report record held, for
/// migrations. A record that does not decode is skipped (it was verified when stored; an
/// upgrade never fails on one bad record, and what reads it reports it).
pub(super) fn visit_reports(
    db: &DB,
    mut visit: impl FnMut(
        safeport_protocol::RecordId,
        safeport_protocol::Signed<safeport_protocol::report::Report>,
    ) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    use safeport_protocol::report::Report;
    use safeport_protocol::{RawRecord, RecordType};
    let db_err = db_err(db);
    let records = cf(db, Table::Records)?;
    let prefix = KeyWriter::new().u8(RecordType::Report as u8).finish();
    let iter = db.iterator_cf(
        cf(db, Table::RecordsByType)?,
        IteratorMode::From(&prefix, rocksdb::Direction::Forward),
    );
    for entry in iter {
        let (key, _) = entry.map_err(&db_err)?;
        if !key.starts_with(&prefix) {
            break;
        }
        let Ok(id) = <[u8; 32]>::try_from(&key[prefix.len()..]) else {
            continue;
        };
        let Some(bytes) = db.get_cf(records, id).map_err(&db_err)? else {
            continue;
        };
        let Ok(report) = RawRecord::decode(&bytes).and_then(|raw| raw.into_typed::<Report>())
        else {
            continue;
        };
        visit(safeport_protocol::RecordId(id), report)?;
    }
    Ok(())
}

/// Writes a batch of a migration that copies in chunks, synced like every other write.
pub(super) fn write(db: &DB, batch: WriteBatch) -> Result<(), StoreError> {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    db.write_opt(batch, &opts).map_err(db_err(db))
}

impl Store {
    /// Checks the stored schema version: writes the current one into a new database, refuses
    /// a newer one, migrates an older one.
    pub(super) fn check_schema(&self) -> Result<(), StoreError> {
        let _guard = self.lock();
        let key = Self::internal_meta_key(META_SCHEMA_VERSION);
        let Some(found) = self.read_u64(Table::Meta, &key)? else {
            // A new database: it is created in the current layout.
            let mut batch = WriteBatch::default();
            batch.put_cf(
                self.cf(Table::Meta)?,
                &key,
                CURRENT_SCHEMA_VERSION.to_be_bytes(),
            );
            return self.write(batch);
        };
        if found > CURRENT_SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: CURRENT_SCHEMA_VERSION,
            });
        }
        self.migrate(found)
    }

    /// Runs the migration chain from `from` up to [`CURRENT_SCHEMA_VERSION`], one atomic, synced
    /// batch per step, so an interrupted upgrade resumes at the step that did not complete.
    fn migrate(&self, from: u64) -> Result<(), StoreError> {
        let key = Self::internal_meta_key(META_SCHEMA_VERSION);
        let mut version = from;
        while version < CURRENT_SCHEMA_VERSION {
            let Some((_, step)) = MIGRATIONS.iter().find(|(v, _)| *v == version) else {
                return Err(StoreError::NoMigration { from: version });
            };
            let mut batch = WriteBatch::default();
            step(&self.inner.db, &mut batch)?;
            version += 1;
            batch.put_cf(self.cf(Table::Meta)?, &key, version.to_be_bytes());
            self.write(batch)?;
            tracing::info!(version, "migrated database schema");
        }
        Ok(())
    }

    /// Drops the [`LEGACY_TABLES`] still here. Only at open, while this is the one handle.
    pub(super) fn drop_legacy_tables(&mut self) -> Result<(), StoreError> {
        let inner = Arc::get_mut(&mut self.inner).ok_or(StoreError::InvalidArgument(
            "legacy tables are dropped only while the store is being opened",
        ))?;
        for &name in LEGACY_TABLES {
            if inner.db.cf_handle(name).is_some() {
                inner.db.drop_cf(name).map_err(|source| StoreError::Db {
                    path: inner.path.clone(),
                    source,
                })?;
                tracing::info!(table = name, "dropped a table of an earlier schema");
            }
        }
        Ok(())
    }
}
