//! Saved searches: a name and the JSON of the search's criteria. The store keeps the bytes;
//! what they mean (and whether they still parse) is the search module's business, so a saved
//! search written by an older release is read back and checked, never reinterpreted here.

use super::codec::{KeyReader, KeyWriter};
use super::{Store, StoreError, Table};

/// Most saved searches a node keeps.
pub const MAX_SAVED_SEARCHES: usize = 1000;
/// Largest stored criteria.
pub const MAX_SAVED_SEARCH_BYTES: usize = 16 * 1024;

impl Store {
    /// Every saved search, by name, at most [`MAX_SAVED_SEARCHES`].
    pub fn saved_searches(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::SavedSearches, &[], None, false)? {
            if out.len() >= MAX_SAVED_SEARCHES {
                break;
            }
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            let name = KeyReader::new(&key)
                .string()
                .map_err(|source| StoreError::CorruptKey {
                    table: Table::SavedSearches.name(),
                    source,
                })?;
            out.push((name, value.to_vec()));
        }
        Ok(out)
    }

    /// One saved search's criteria.
    pub fn saved_search(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(Table::SavedSearches, &KeyWriter::new().str(name).finish())
    }

    /// Saves (or replaces) a search. Refused when the node already keeps
    /// [`MAX_SAVED_SEARCHES`] others or the criteria are too large.
    pub fn put_saved_search(&self, name: &str, criteria: &[u8]) -> Result<(), StoreError> {
        if criteria.len() > MAX_SAVED_SEARCH_BYTES {
            return Err(StoreError::InvalidArgument(
                "saved search criteria too large",
            ));
        }
        let key = KeyWriter::new().str(name).finish();
        let mut batch = self.batch();
        if self.get(Table::SavedSearches, &key)?.is_none()
            && self.saved_searches()?.len() >= MAX_SAVED_SEARCHES
        {
            return Err(StoreError::InvalidArgument("too many saved searches"));
        }
        batch
            .batch
            .put_cf(self.cf(Table::SavedSearches)?, key, criteria);
        batch.commit().map(|_| ())
    }

    /// Deletes a saved search; `false` when there was none of that name.
    pub fn delete_saved_search(&self, name: &str) -> Result<bool, StoreError> {
        let key = KeyWriter::new().str(name).finish();
        let mut batch = self.batch();
        if self.get(Table::SavedSearches, &key)?.is_none() {
            return Ok(false);
        }
        batch.batch.delete_cf(self.cf(Table::SavedSearches)?, key);
        batch.commit().map(|_| true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn saved_searches_are_kept_replaced_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        store.put_saved_search("nl baseline", b"{\"a\":1}").unwrap();
        store.put_saved_search("de", b"{}").unwrap();
        store.put_saved_search("nl baseline", b"{\"a\":2}").unwrap();
        assert_eq!(
            store.saved_searches().unwrap(),
            vec![
                ("de".to_owned(), b"{}".to_vec()),
                ("nl baseline".to_owned(), b"{\"a\":2}".to_vec())
            ]
        );
        assert!(store.delete_saved_search("de").unwrap());
        assert!(!store.delete_saved_search("de").unwrap());
        assert_eq!(store.saved_search("de").unwrap(), None);
        drop(store);
        let store = Store::open(dir.path().join("db")).unwrap();
        assert_eq!(
            store.saved_search("nl baseline").unwrap().as_deref(),
            Some(&b"{\"a\":2}"[..])
        );
        assert!(matches!(
            store.put_saved_search("big", &vec![b' '; MAX_SAVED_SEARCH_BYTES + 1]),
            Err(StoreError::InvalidArgument(_))
        ));
    }
}
