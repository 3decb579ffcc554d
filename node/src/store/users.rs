//! Portal accounts: a name and the JSON of the account. The store keeps the bytes and the
//! bounds; what an account holds (roles, password hash, second factor, lockout) is the
//! accounts module's business (`app::accounts`).

use super::codec::{KeyReader, KeyWriter};
use super::{Store, StoreError, Table};

/// Most accounts a node keeps.
pub const MAX_USERS: usize = 10_000;
/// Largest stored account.
pub const MAX_USER_BYTES: usize = 8 * 1024;

impl Store {
    /// Every account, by name, at most [`MAX_USERS`].
    pub fn users(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::Users, &[], None, false)? {
            if out.len() >= MAX_USERS {
                break;
            }
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            let name = KeyReader::new(&key)
                .string()
                .map_err(|source| StoreError::CorruptKey {
                    table: Table::Users.name(),
                    source,
                })?;
            out.push((name, value.to_vec()));
        }
        Ok(out)
    }

    /// One account.
    pub fn user(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(Table::Users, &KeyWriter::new().str(name).finish())
    }

    /// Writes an account (synced). With `create`, refused when the name is taken or the node
    /// already keeps [`MAX_USERS`] accounts; without it, refused when there is no such
    /// account. Returns `false` (writing nothing) when refused for those reasons.
    pub fn put_user(&self, name: &str, account: &[u8], create: bool) -> Result<bool, StoreError> {
        if account.len() > MAX_USER_BYTES {
            return Err(StoreError::InvalidArgument("account too large"));
        }
        let key = KeyWriter::new().str(name).finish();
        // The batch holds the write lock, so the existence check and the write are one step.
        let mut batch = self.batch();
        let exists = self.get(Table::Users, &key)?.is_some();
        if exists == create {
            return Ok(false);
        }
        if create && self.users()?.len() >= MAX_USERS {
            return Err(StoreError::InvalidArgument("too many accounts"));
        }
        batch.batch.put_cf(self.cf(Table::Users)?, key, account);
        batch.commit().map(|_| true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn accounts_are_created_once_and_updated_only_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        assert!(store.put_user("ana", b"{\"v\":1}", true).unwrap());
        assert!(!store.put_user("ana", b"{\"v\":2}", true).unwrap());
        assert!(!store.put_user("bob", b"{}", false).unwrap());
        assert!(store.put_user("ana", b"{\"v\":3}", false).unwrap());
        drop(store);
        let store = Store::open(dir.path().join("db")).unwrap();
        assert_eq!(
            store.users().unwrap(),
            vec![("ana".to_owned(), b"{\"v\":3}".to_vec())]
        );
        assert_eq!(store.user("bob").unwrap(), None);
        assert!(matches!(
            store.put_user("big", &vec![b' '; MAX_USER_BYTES + 1], true),
            Err(StoreError::InvalidArgument(_))
        ));
    }
}
