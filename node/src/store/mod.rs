//! Typed storage over RocksDB column families.
//!
//! [`Store`] is the only code that touches RocksDB. Each [`Table`] is a column family whose name
//! carries a version, every key is built with the one order-preserving [`codec`], and the schema
//! version in [`Table::Meta`] is checked on every open (newer is refused, older is migrated).
//!
//! All methods block on disk I/O (writes are synced). Async callers run them with
//! `tokio::task::spawn_blocking`; [`Store`] is cheap to clone for that purpose.

pub mod audit;
pub mod backup;
mod batch;
pub mod certificates;
pub mod codec;
mod federation;
pub mod hashlists;
pub mod hotline;
pub mod icse;
pub mod iwol;
pub mod media;
mod media_items;
mod migrations;
mod options;
mod records;
pub mod revisions;
pub mod saved;
mod sorted_writes;
pub mod users;

pub use batch::{Committed, StoreBatch};
pub use federation::{Rejection, ReportHead};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, IteratorMode, Options, ReadOptions, WriteBatch,
    WriteOptions,
};
use thiserror::Error;

use codec::{CodecError, KeyReader, KeyWriter, prefix_upper_bound};

/// The schema version this build writes and understands.
pub const CURRENT_SCHEMA_VERSION: u64 = 4;

/// Upper bound on the entries one page query returns, whatever limit the caller asks for.
pub const MAX_PAGE: usize = 1000;

/// Length of a record id (a SHA-256 digest of the signed record bytes).
pub const RECORD_ID_LEN: usize = 32;

/// A record id.
pub type RecordId = [u8; RECORD_ID_LEN];

/// Key namespaces inside [`Table::Meta`], so that callers of [`Store::put_meta`] can never
/// overwrite the store's own bookkeeping (schema version, counters).
const META_INTERNAL: u8 = 0;
const META_USER: u8 = 1;
const META_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const META_RECORD_COUNT: &str = "record_count";

/// The column families of the store. Their names come only from here; a change of a table's key
/// or value layout gets a new name (and a migration), never a silent reinterpretation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Store bookkeeping (schema version, counters) and generic node metadata.
    Meta,
    /// Records by id: `id[32]` -> record bytes.
    Records,
    /// Index of records by origin: `(origin, sequence, id[32])` -> empty.
    RecordsByOrigin,
    /// Index of records by type: `(type tag u8, id[32])` -> empty.
    RecordsByType,
    /// Media items of reports: `(report record id[32], commitment[32])` -> canonical
    /// `MediaItem` (schema 4; before, `media_items_v1` was keyed by commitment alone).
    MediaItems,
    /// Latest revision of each report: `(origin, report_key[16])` -> `revision u32 ‖ id[32]`.
    ReportHeads,
    /// Per-recipient outboxes: `(recipient, position)` -> record `id[32]`.
    Outbox,
    /// Which records an outbox holds: `(recipient, id[32])` -> position (dedupes back-fills).
    OutboxIndex,
    /// How far this node has pulled each peer's outbox: `peer` -> position.
    Cursors,
    /// Newest verified certificate of each agency: `agency` -> PEM.
    Certificates,
    /// Every verified certificate of each agency: `(agency, not_before secs, serial)` -> PEM
    /// (schema 3; node key rotations).
    AgencyCertificates,
    /// Records refused at ingest: `(received_at, id[32])` -> canonical `Rejection`.
    Rejections,
    /// Peers an admin configured: `agency` -> multiaddr text.
    Peers,
    /// Tombstones of withdrawn records: `id[32]` -> `withdrawal id[32] ‖ origin`.
    Withdrawn,
    /// A hotline's own reports, internal state: `report_key[16]` -> canonical `LocalReport`.
    LocalReports,
    /// Reports waiting for a crawl: `report_key[16]` -> empty.
    CrawlQueue,
    /// Media content to fetch: `(peer, record id[32], commitment[32])` -> `sha256[32]`.
    BlobQueue,
    /// INTERPOL's ICSE collection: `(sha256[32], origin, report_key[16])` -> `IcseEntry`.
    IcseItems,
    /// ICSE by intake time: `(received_at u64, sha256[32], origin, report_key[16])` -> empty.
    IcseByTime,
    /// Status records by report: `(report origin, report_key[16], status record id[32])`.
    ReportStatuses,
    /// Hash lists held: `list id` -> canonical `HeldListState`.
    HashLists,
    /// Hash-list entries: `(list id, generation u32, algorithm u8, value)` -> category, time.
    HashListEntries,
    /// Part records of list versions: `(list id, version u64, kind u8, part u32)` ->
    /// `parts u32 ‖ record id[32]`.
    HashListParts,
    /// The IWOL version held: `"list"` -> canonical `HeldIwol`.
    IwolState,
    /// IWOL suggestions with their confirmations and decisions:
    /// `(suggestion id[32], part u8, record id[32])` -> empty.
    IwolSuggestions,
    /// The audit trail: `seq u64` -> canonical `AuditEntry`; `0` -> the chain's head.
    Audit,
    /// Every revision of each report held: `(origin, report_key[16], revision u32)` ->
    /// record `id[32]` (schema 2).
    ReportRevisions,
    /// Saved searches: `name` -> JSON of the search's criteria.
    SavedSearches,
    /// Portal accounts: `name` -> JSON of the account (roles, Argon2id hash, second factor,
    /// lockout state).
    Users,
}

impl Table {
    /// Every table, in creation order.
    pub const ALL: [Table; 29] = [
        Table::Meta,
        Table::Records,
        Table::RecordsByOrigin,
        Table::RecordsByType,
        Table::MediaItems,
        Table::ReportHeads,
        Table::Outbox,
        Table::OutboxIndex,
        Table::Cursors,
        Table::Certificates,
        Table::Rejections,
        Table::Peers,
        Table::Withdrawn,
        Table::LocalReports,
        Table::CrawlQueue,
        Table::BlobQueue,
        Table::IcseItems,
        Table::IcseByTime,
        Table::ReportStatuses,
        Table::HashLists,
        Table::HashListEntries,
        Table::HashListParts,
        Table::IwolState,
        Table::IwolSuggestions,
        Table::Audit,
        Table::ReportRevisions,
        Table::SavedSearches,
        Table::Users,
        Table::AgencyCertificates,
    ];

    /// The column family name, including the table's layout version.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta_v1",
            Table::Records => "records_v1",
            Table::RecordsByOrigin => "records_by_origin_v1",
            Table::RecordsByType => "records_by_type_v1",
            Table::MediaItems => "media_items_v2",
            Table::ReportHeads => "report_heads_v1",
            Table::Outbox => "outbox_v1",
            Table::OutboxIndex => "outbox_index_v1",
            Table::Cursors => "cursors_v1",
            Table::Certificates => "certificates_v1",
            Table::Rejections => "rejections_v1",
            Table::Peers => "peers_v1",
            Table::Withdrawn => "withdrawn_v1",
            Table::LocalReports => "local_reports_v1",
            Table::CrawlQueue => "crawl_queue_v1",
            Table::BlobQueue => "blob_queue_v1",
            Table::IcseItems => "icse_items_v1",
            Table::IcseByTime => "icse_by_time_v1",
            Table::ReportStatuses => "report_statuses_v1",
            Table::HashLists => "hash_lists_v1",
            Table::HashListEntries => "hash_list_entries_v1",
            Table::HashListParts => "hash_list_parts_v1",
            Table::IwolState => "iwol_state_v1",
            Table::IwolSuggestions => "iwol_suggestions_v1",
            Table::Audit => "audit_v1",
            Table::ReportRevisions => "report_revisions_v1",
            Table::SavedSearches => "saved_searches_v1",
            Table::Users => "users_v1",
            Table::AgencyCertificates => "agency_certificates_v1",
        }
    }
}

/// Errors of the store. Anything but [`StoreError::InvalidArgument`] means the database cannot be
/// trusted or reached and the operation must fail.
#[derive(Debug, Error)]
pub enum StoreError {
    /// RocksDB refused to open, read or write.
    #[error("database error at {}", path.display())]
    Db {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },
    /// The database was written by a newer Safeport release.
    #[error(
        "database schema version {found} is newer than the supported version {supported}; \
         upgrade Safeport or restore a backup"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: u64,
        /// Highest version this build understands.
        supported: u64,
    },
    /// The database has an old schema version that no migration upgrades.
    #[error("no migration from database schema version {from}")]
    NoMigration {
        /// The version without a migration step.
        from: u64,
    },
    /// A column family this build needs is missing after open.
    #[error("column family {0} is missing")]
    MissingTable(&'static str),
    /// A stored key does not decode.
    #[error("corrupt key in {table}")]
    CorruptKey {
        /// Column family of the key.
        table: &'static str,
        /// Decoding error.
        #[source]
        source: CodecError,
    },
    /// A stored value has the wrong shape.
    #[error("corrupt value in {table}: {what}")]
    CorruptValue {
        /// Column family of the value.
        table: &'static str,
        /// What was wrong.
        what: &'static str,
    },
    /// The caller passed a value the store does not accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

struct Inner {
    db: DB,
    path: PathBuf,
    /// Serialises check-then-write sequences (idempotent insert, counters) so two writers cannot
    /// both see a record as absent and both count it.
    write_lock: Mutex<()>,
}

/// Handle to the node's database. Clones share one RocksDB instance, which closes when the last
/// clone is dropped. Every method blocks; see the module documentation.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database in directory `path`, checks its schema version and
    /// runs pending migrations. Blocking.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db_err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_paranoid_checks(true);

        // RocksDB refuses to open a database without naming all its column families. Open any
        // that a newer release created as well, so that the schema check below can report
        // `SchemaTooNew` instead of an obscure RocksDB error. A fresh directory has none.
        let mut names: Vec<String> = Table::ALL.iter().map(|t| t.name().to_owned()).collect();
        if let Ok(existing) = DB::list_cf(&opts, &path) {
            for name in existing {
                if name != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let cache = rocksdb::Cache::new_hyper_clock_cache(options::BLOCK_CACHE_BYTES, 0);
        let descriptors = names.into_iter().map(|name| {
            let options = options::table_options(&cache, &name);
            ColumnFamilyDescriptor::new(name, options)
        });
        let db = DB::open_cf_descriptors(&opts, &path, descriptors).map_err(db_err)?;
        for table in Table::ALL {
            if db.cf_handle(table.name()).is_none() {
                return Err(StoreError::MissingTable(table.name()));
            }
        }
        let mut store = Self {
            inner: Arc::new(Inner {
                db,
                path,
                write_lock: Mutex::new(()),
            }),
        };
        store.check_schema()?;
        store.drop_legacy_tables()?;
        Ok(store)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn db_err(&self, source: rocksdb::Error) -> StoreError {
        StoreError::Db {
            path: self.inner.path.clone(),
            source,
        }
    }

    fn cf(&self, table: Table) -> Result<&ColumnFamily, StoreError> {
        self.inner
            .db
            .cf_handle(table.name())
            .ok_or(StoreError::MissingTable(table.name()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded value is `()`: a panic while holding the lock leaves nothing inconsistent
        // in memory (RocksDB batches are atomic), so a poisoned lock is still usable.
        self.inner
            .write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` while no batch is open: every batch begun before has been committed or
    /// dropped, and none begins until `f` returns. Lets a reader take notes that batches
    /// leave (the search index's marks) knowing the writes they describe are visible.
    pub fn between_batches<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = self.lock();
        f()
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        // Synced so that a write acknowledged to a peer or user survives a crash or power loss.
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.inner
            .db
            .write_opt(batch, &opts)
            .map_err(|e| self.db_err(e))
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner
            .db
            .get_cf(self.cf(table)?, key)
            .map_err(|e| self.db_err(e))
    }

    fn read_u64(&self, table: Table, key: &[u8]) -> Result<Option<u64>, StoreError> {
        match self.get(table, key)? {
            None => Ok(None),
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| StoreError::CorruptValue {
                    table: table.name(),
                    what: "expected an 8-byte big-endian integer",
                }),
        }
    }

    fn internal_meta_key(name: &str) -> Vec<u8> {
        KeyWriter::new().u8(META_INTERNAL).str(name).finish()
    }

    /// Stores a record and indexes it under `(origin, sequence)`, atomically and synced.
    ///
    /// Idempotent by id: returns `true` when the record was new, `false` (writing nothing) when a
    /// record with this id is already stored. Sequences start at 1; 0 is rejected because it is
    /// the "from the beginning" cursor of [`Store::records_by_origin`].
    #[cfg(test)]
    pub(crate) fn put_record(
        &self,
        id: &RecordId,
        origin: &str,
        sequence: u64,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        let mut batch = self.batch();
        let added = batch.put_record_parts(id, origin, sequence, bytes)?;
        if added {
            batch.commit()?;
        }
        Ok(added)
    }

    /// The bytes of the record with this id, if stored.
    pub(crate) fn get_record(&self, id: &RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(Table::Records, &KeyWriter::new().array(id).finish())
    }

    /// Records of `origin` with a sequence greater than `after_sequence`, in ascending
    /// `(sequence, id)` order, at most `min(limit, MAX_PAGE)` of them. Pass the last returned
    /// sequence as `after_sequence` to fetch the next page (0 starts at the beginning).
    pub fn records_by_origin(
        &self,
        origin: &str,
        after_sequence: u64,
        limit: usize,
    ) -> Result<Vec<(u64, RecordId)>, StoreError> {
        let limit = limit.min(MAX_PAGE);
        let Some(first) = after_sequence.checked_add(1) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let prefix = KeyWriter::new().str(origin).finish();
        let start = KeyWriter::new().str(origin).u64(first).finish();
        let mut out = Vec::with_capacity(limit.min(64));
        for entry in self.scan_prefix(Table::RecordsByOrigin, &prefix, Some(&start), false)? {
            let (key, _) = entry.map_err(|e| self.db_err(e))?;
            out.push(decode_origin_key(&key)?);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// The sequence this node should give its next own record of `origin`: the highest stored
    /// sequence plus one, or 1 when none is stored.
    pub fn next_sequence(&self, origin: &str) -> Result<u64, StoreError> {
        let prefix = KeyWriter::new().str(origin).finish();
        let mut iter = self.scan_prefix(Table::RecordsByOrigin, &prefix, None, true)?;
        let Some(entry) = iter.next() else {
            return Ok(1);
        };
        let (key, _) = entry.map_err(|e| self.db_err(e))?;
        let (last, _) = decode_origin_key(&key)?;
        last.checked_add(1).ok_or(StoreError::InvalidArgument(
            "sequence space of origin exhausted",
        ))
    }

    /// Number of stored records.
    pub fn record_count(&self) -> Result<u64, StoreError> {
        let key = Self::internal_meta_key(META_RECORD_COUNT);
        Ok(self.read_u64(Table::Meta, &key)?.unwrap_or(0))
    }

    /// Node metadata stored under `key` (a namespace separate from the store's bookkeeping).
    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(
            Table::Meta,
            &KeyWriter::new().u8(META_USER).str(key).finish(),
        )
    }

    /// Stores node metadata under `key`, synced.
    pub fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(Table::Meta)?,
            KeyWriter::new().u8(META_USER).str(key).finish(),
            value,
        );
        self.write(batch)
    }

    /// Iterates the keys of `table` that start with `prefix`, forward from `start` (or the
    /// prefix) or backward from the end of the prefix range.
    fn scan_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        start: Option<&[u8]>,
        reverse: bool,
    ) -> Result<rocksdb::DBIteratorWithThreadMode<'_, DB>, StoreError> {
        let mut opts = ReadOptions::default();
        // Bounds keep RocksDB from reading past the prefix (and make `End` mean "end of prefix").
        opts.set_iterate_lower_bound(prefix.to_vec());
        if let Some(upper) = prefix_upper_bound(prefix) {
            opts.set_iterate_upper_bound(upper);
        }
        let mode = match (reverse, start) {
            (true, _) => IteratorMode::End,
            (false, Some(start)) => IteratorMode::From(start, rocksdb::Direction::Forward),
            (false, None) => IteratorMode::Start,
        };
        Ok(self.inner.db.iterator_cf_opt(self.cf(table)?, opts, mode))
    }
}

fn decode_origin_key(key: &[u8]) -> Result<(u64, RecordId), StoreError> {
    let corrupt = |source| StoreError::CorruptKey {
        table: Table::RecordsByOrigin.name(),
        source,
    };
    let mut reader = KeyReader::new(key);
    reader.bytes().map_err(corrupt)?;
    let sequence = reader.u64().map_err(corrupt)?;
    let id = reader.array::<RECORD_ID_LEN>().map_err(corrupt)?;
    reader.finish().map_err(corrupt)?;
    Ok((sequence, id))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn id(n: u8) -> RecordId {
        [n; RECORD_ID_LEN]
    }

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        (dir, store)
    }

    /// Overwrites the stored schema version, as a different release would have written it.
    fn set_schema_version(store: &Store, version: u64) {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            store.cf(Table::Meta).unwrap(),
            Store::internal_meta_key(META_SCHEMA_VERSION),
            version.to_be_bytes(),
        );
        store.write(batch).unwrap();
    }

    #[test]
    fn every_table_reads_through_the_one_bounded_block_cache() {
        let (_dir, store) = temp_store();
        let (a, b) = (Table::Records, Table::MediaItems);
        let usage = |table| {
            store
                .inner
                .db
                .property_int_value_cf(store.cf(table).unwrap(), "rocksdb.block-cache-usage")
                .unwrap()
        };
        for table in Table::ALL {
            let capacity = store
                .inner
                .db
                .property_int_value_cf(store.cf(table).unwrap(), "rocksdb.block-cache-capacity")
                .unwrap();
            assert_eq!(
                capacity,
                Some(options::BLOCK_CACHE_BYTES as u64),
                "{table:?}"
            );
        }
        // Shared, not one cache of that size each: what one table caches, the other reports.
        let mut batch = store.batch();
        for n in 0..200u8 {
            batch.batch.put_cf(store.cf(a).unwrap(), [n; 32], [n; 512]);
        }
        batch.commit().unwrap();
        store.inner.db.flush_cf(store.cf(a).unwrap()).unwrap();
        let before = usage(b);
        for n in 0..200u8 {
            assert!(store.get(a, &[n; 32]).unwrap().is_some());
        }
        assert!(usage(b) > before);
        assert_eq!(usage(a), usage(b));
    }

    #[test]
    fn tables_keyed_by_hash_make_every_entry_a_restart_point() {
        let (_dir, store) = temp_store();
        // RocksDB writes the options it opened each column family with to an OPTIONS file.
        let mut files: Vec<_> = std::fs::read_dir(store.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with("OPTIONS-"))
            .collect();
        files.sort_by_key(|name| name["OPTIONS-".len()..].parse::<u64>().unwrap());
        let latest = std::fs::read_to_string(store.path().join(files.last().unwrap())).unwrap();
        let interval = |table: Table| {
            let section = format!("[TableOptions/BlockBasedTable \"{}\"]", table.name());
            let start = latest.find(&section).unwrap();
            latest[start..]
                .lines()
                .find_map(|line| line.trim().strip_prefix("block_restart_interval="))
                .unwrap()
                .parse::<u32>()
                .unwrap()
        };
        for table in Table::ALL {
            let expected = if options::keyed_by_hash(table) { 1 } else { 16 };
            assert_eq!(interval(table), expected, "{table:?}");
        }
        assert!(
            options::keyed_by_hash(Table::Records) && options::keyed_by_hash(Table::MediaItems)
        );
    }

    #[test]
    fn table_names_are_versioned_and_unique() {
        let names: Vec<_> = Table::ALL.iter().map(|t| t.name()).collect();
        let versioned = |name: &str| {
            name.rsplit_once("_v").is_some_and(|(_, version)| {
                !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit())
            })
        };
        assert!(names.iter().all(|n| versioned(n)), "{names:?}");
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        // A table an upgrade emptied is never the name of a current one.
        assert!(
            migrations::LEGACY_TABLES
                .iter()
                .all(|legacy| !names.contains(legacy))
        );
    }

    #[test]
    fn reopen_keeps_records_and_schema_version() {
        let (dir, store) = temp_store();
        assert!(store.put_record(&id(1), "nl-hotline", 1, b"one").unwrap());
        store.put_meta("peer", b"x").unwrap();
        drop(store);

        let store = Store::open(dir.path().join("db")).unwrap();
        assert_eq!(
            store.get_record(&id(1)).unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(store.get_meta("peer").unwrap().as_deref(), Some(&b"x"[..]));
        assert_eq!(store.record_count().unwrap(), 1);
        let key = Store::internal_meta_key(META_SCHEMA_VERSION);
        assert_eq!(
            store.read_u64(Table::Meta, &key).unwrap(),
            Some(CURRENT_SCHEMA_VERSION)
        );
    }

    #[test]
    fn newer_schema_is_refused_with_a_clear_error() {
        let (dir, store) = temp_store();
        set_schema_version(&store, CURRENT_SCHEMA_VERSION + 1);
        drop(store);

        let err = Store::open(dir.path().join("db")).unwrap_err();
        assert!(matches!(
            err,
            StoreError::SchemaTooNew { found, supported }
                if found == CURRENT_SCHEMA_VERSION + 1 && supported == CURRENT_SCHEMA_VERSION
        ));
        assert!(err.to_string().contains("newer than the supported version"));
    }

    #[test]
    fn newer_schema_with_unknown_tables_is_refused_as_too_new() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        set_schema_version(&store, 7);
        drop(store);
        {
            // A later release added a table this build does not know.
            let mut opts = Options::default();
            opts.create_missing_column_families(true);
            let mut names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
            names.push("records_v2");
            DB::open_cf(&opts, &path, names).unwrap();
        }
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::SchemaTooNew { found: 7, .. })
        ));
    }

    #[test]
    fn older_schema_without_migration_is_refused() {
        let (dir, store) = temp_store();
        set_schema_version(&store, 0);
        drop(store);
        assert!(matches!(
            Store::open(dir.path().join("db")),
            Err(StoreError::NoMigration { from: 0 })
        ));
    }

    #[test]
    fn user_meta_cannot_clobber_the_schema_version() {
        let (dir, store) = temp_store();
        store
            .put_meta(META_SCHEMA_VERSION, &99u64.to_be_bytes())
            .unwrap();
        drop(store);
        Store::open(dir.path().join("db")).unwrap();
    }

    #[test]
    fn put_is_idempotent_by_id() {
        let (_dir, store) = temp_store();
        assert!(store.put_record(&id(1), "nl-hotline", 1, b"first").unwrap());
        assert!(!store.put_record(&id(1), "nl-hotline", 1, b"first").unwrap());
        // A second put under the same id writes nothing, not even a new index entry.
        assert!(!store.put_record(&id(1), "be-hotline", 9, b"other").unwrap());
        assert_eq!(
            store.get_record(&id(1)).unwrap().as_deref(),
            Some(&b"first"[..])
        );
        assert_eq!(store.record_count().unwrap(), 1);
        assert!(
            store
                .records_by_origin("be-hotline", 0, 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.get_record(&id(2)).unwrap(), None);
    }

    #[test]
    fn sequence_zero_is_rejected() {
        let (_dir, store) = temp_store();
        assert!(matches!(
            store.put_record(&id(1), "nl-hotline", 0, b""),
            Err(StoreError::InvalidArgument(_))
        ));
        assert_eq!(store.record_count().unwrap(), 0);
    }

    #[test]
    fn records_by_origin_pages_in_sequence_order() {
        let (_dir, store) = temp_store();
        for (n, seq) in [(1u8, 3u64), (2, 1), (3, 2), (4, 10)] {
            store.put_record(&id(n), "nl-hotline", seq, &[n]).unwrap();
        }
        // Origins that are prefixes of each other, or contain the escape byte, stay apart.
        store.put_record(&id(5), "nl", 5, b"").unwrap();
        store.put_record(&id(6), "nl-hotline\0x", 5, b"").unwrap();

        let all = store.records_by_origin("nl-hotline", 0, 100).unwrap();
        assert_eq!(all, vec![(1, id(2)), (2, id(3)), (3, id(1)), (10, id(4))]);
        assert_eq!(
            store.records_by_origin("nl-hotline", 2, 1).unwrap(),
            vec![(3, id(1))]
        );
        assert!(
            store
                .records_by_origin("nl-hotline", 10, 5)
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .records_by_origin("nl-hotline", u64::MAX, 5)
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .records_by_origin("nl-hotline", 0, 0)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.records_by_origin("nl", 0, 10).unwrap(),
            vec![(5, id(5))]
        );
        assert!(
            store
                .records_by_origin("unknown", 0, 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn page_size_is_capped() {
        let (_dir, store) = temp_store();
        // One batch of index entries, rather than MAX_PAGE synced puts, keeps the test fast.
        let mut batch = WriteBatch::default();
        for seq in 1..=(MAX_PAGE as u64 + 5) {
            let mut rid = [0u8; RECORD_ID_LEN];
            rid[..8].copy_from_slice(&seq.to_be_bytes());
            let key = KeyWriter::new().str("o").u64(seq).array(&rid).finish();
            batch.put_cf(store.cf(Table::RecordsByOrigin).unwrap(), key, []);
        }
        store.write(batch).unwrap();
        let page = store.records_by_origin("o", 0, usize::MAX).unwrap();
        assert_eq!(page.len(), MAX_PAGE);
        assert_eq!(page.last().map(|(seq, _)| *seq), Some(MAX_PAGE as u64));
    }

    #[test]
    fn next_sequence_follows_the_highest_stored() {
        let (_dir, store) = temp_store();
        assert_eq!(store.next_sequence("nl-hotline").unwrap(), 1);
        store.put_record(&id(1), "nl-hotline", 4, b"").unwrap();
        store.put_record(&id(2), "nl-hotline", 2, b"").unwrap();
        store.put_record(&id(3), "nl-hotline-2", 50, b"").unwrap();
        assert_eq!(store.next_sequence("nl-hotline").unwrap(), 5);
        assert_eq!(store.next_sequence("nl").unwrap(), 1);
        store.put_record(&id(4), "max", u64::MAX, b"").unwrap();
        assert!(matches!(
            store.next_sequence("max"),
            Err(StoreError::InvalidArgument(_))
        ));
    }

    #[test]
    fn a_plain_file_at_the_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(&path, b"not a database").unwrap();
        assert!(matches!(Store::open(&path), Err(StoreError::Db { .. })));
    }

    #[test]
    fn a_corrupt_database_is_an_error() {
        let (dir, store) = temp_store();
        drop(store);
        std::fs::write(dir.path().join("db").join("CURRENT"), b"garbage\n").unwrap();
        assert!(matches!(
            Store::open(dir.path().join("db")),
            Err(StoreError::Db { .. })
        ));
    }

    #[test]
    fn a_second_open_while_in_use_is_an_error() {
        let (dir, _store) = temp_store();
        assert!(matches!(
            Store::open(dir.path().join("db")),
            Err(StoreError::Db { .. })
        ));
    }

    #[test]
    fn store_is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Store>();
    }

    proptest! {
        // Each case opens a real database and syncs every write, so fewer cases than default.
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn store_matches_a_model(
            puts in proptest::collection::vec(
                (0u8..12, prop::sample::select(vec!["a", "a\0", "ab", "b"]), 1u64..20),
                0..24,
            ),
            after in 0u64..20,
            limit in 0usize..8,
        ) {
            let (_dir, store) = temp_store();
            // Model: first put of an id wins.
            let mut model: BTreeMap<u8, (&str, u64)> = BTreeMap::new();
            for (n, origin, seq) in &puts {
                let inserted = store.put_record(&id(*n), origin, *seq, &[*n]).unwrap();
                prop_assert_eq!(inserted, !model.contains_key(n));
                model.entry(*n).or_insert((origin, *seq));
            }
            prop_assert_eq!(store.record_count().unwrap(), model.len() as u64);
            for origin in ["a", "a\0", "ab", "b"] {
                let mut expected: Vec<(u64, RecordId)> = model
                    .iter()
                    .filter(|(_, (o, s))| *o == origin && *s > after)
                    .map(|(n, (_, s))| (*s, id(*n)))
                    .collect();
                expected.sort();
                let max = model.values().filter(|(o, _)| *o == origin).map(|(_, s)| *s).max();
                expected.truncate(limit);
                prop_assert_eq!(store.records_by_origin(origin, after, limit).unwrap(), expected);
                prop_assert_eq!(store.next_sequence(origin).unwrap(), max.unwrap_or(0) + 1);
            }
        }
    }
}
