//! [`SortedWrites`]: the pending writes of a [`super::StoreBatch`], handed to RocksDB sorted by
//! column family and key.
//!
//! Why: a batch applies its writes to each column family's memtable (a skip list) one by one.
//! Writes in random key order (records arrive under random ids, media items under random
//! commitments) search every insertion point from the top of the skip list; RocksDB keeps the
//! last insertion point and, for keys that follow it in order, only searches the levels where
//! it no longer brackets the new key. Sorting a sync page's writes first cut the receiver's
//! skip-list inserts (BENCHMARKS.md). The sort is stable, so two writes of the same key keep
//! their order and the last one wins, as in a plain `WriteBatch`; which column family goes
//! first does not matter, the batch is atomic. A range delete is a barrier: the writes before
//! it stay before it and those after it stay after it, so a key put again after its range was
//! deleted survives.

use rocksdb::{ColumnFamily, WriteBatch};

/// What one pending write does.
enum Change {
    Put(Vec<u8>),
    Delete,
    /// Deletes `[key, end)`.
    DeleteRange(Vec<u8>),
}

/// One pending write.
struct Write<'a> {
    cf: &'a ColumnFamily,
    key: Vec<u8>,
    change: Change,
}

impl Write<'_> {
    /// Groups writes by column family (the handle's address: stable while the database is
    /// open, and the order between families is irrelevant).
    fn family(&self) -> usize {
        std::ptr::from_ref(self.cf).addr()
    }
}

/// Pending puts and deletes, with the same calls as [`WriteBatch`].
#[derive(Default)]
pub(super) struct SortedWrites<'a> {
    writes: Vec<Write<'a>>,
}

impl<'a> SortedWrites<'a> {
    /// Sets `key` to `value` in `cf`.
    pub(super) fn put_cf(
        &mut self,
        cf: &'a ColumnFamily,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) {
        self.push(cf, key, Change::Put(value.as_ref().to_vec()));
    }

    /// Deletes `key` from `cf`.
    pub(super) fn delete_cf(&mut self, cf: &'a ColumnFamily, key: impl AsRef<[u8]>) {
        self.push(cf, key, Change::Delete);
    }

    /// Deletes every key of `cf` in `[from, to)`.
    pub(super) fn delete_range_cf(
        &mut self,
        cf: &'a ColumnFamily,
        from: impl AsRef<[u8]>,
        to: impl AsRef<[u8]>,
    ) {
        self.push(cf, from, Change::DeleteRange(to.as_ref().to_vec()));
    }

    fn push(&mut self, cf: &'a ColumnFamily, key: impl AsRef<[u8]>, change: Change) {
        self.writes.push(Write {
            cf,
            key: key.as_ref().to_vec(),
            change,
        });
    }

    /// The writes as one RocksDB batch: between range deletes, sorted by column family and key
    /// (stable).
    pub(super) fn into_write_batch(mut self) -> WriteBatch {
        for run in self
            .writes
            .split_mut(|write| matches!(write.change, Change::DeleteRange(_)))
        {
            run.sort_by(|a, b| a.family().cmp(&b.family()).then_with(|| a.key.cmp(&b.key)));
        }
        let mut batch = WriteBatch::default();
        for write in &self.writes {
            match &write.change {
                Change::Put(value) => batch.put_cf(write.cf, &write.key, value),
                Change::Delete => batch.delete_cf(write.cf, &write.key),
                Change::DeleteRange(end) => batch.delete_range_cf(write.cf, &write.key, end),
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Store, Table};
    use super::*;

    #[test]
    fn later_writes_of_a_key_win_and_every_family_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        let meta = store.cf(Table::Meta).unwrap();
        let records = store.cf(Table::Records).unwrap();
        let mut writes = SortedWrites::default();
        writes.put_cf(records, b"zz", b"one");
        writes.put_cf(meta, b"test-b", b"first");
        writes.put_cf(records, b"aa", b"two");
        writes.put_cf(meta, b"test-b", b"second");
        writes.put_cf(meta, b"test-a", b"kept");
        writes.delete_cf(meta, b"test-a");
        writes.put_cf(meta, b"test-c", b"gone");
        writes.delete_cf(meta, b"test-c");
        writes.put_cf(meta, b"test-c", b"back");
        // Put before a range delete: gone; put again after it: kept.
        writes.put_cf(records, b"m1", b"old");
        writes.put_cf(records, b"m2", b"old");
        writes.delete_range_cf(records, b"m", b"n");
        writes.put_cf(records, b"m2", b"new");
        store.write(writes.into_write_batch()).unwrap();
        let get = |table, key: &[u8]| store.get(table, key).unwrap();
        assert_eq!(get(Table::Records, b"zz").as_deref(), Some(&b"one"[..]));
        assert_eq!(get(Table::Records, b"aa").as_deref(), Some(&b"two"[..]));
        assert_eq!(get(Table::Meta, b"test-b").as_deref(), Some(&b"second"[..]));
        assert_eq!(get(Table::Meta, b"test-a"), None);
        assert_eq!(get(Table::Meta, b"test-c").as_deref(), Some(&b"back"[..]));
        assert_eq!(get(Table::Records, b"m1"), None);
        assert_eq!(get(Table::Records, b"m2").as_deref(), Some(&b"new"[..]));
    }
}
