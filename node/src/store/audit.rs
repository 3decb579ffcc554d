//! The audit trail: an append-only, hash-chained log of every consultation and disclosure.
//!
//! Entries are keyed by sequence number (from 1, without gaps). Each stored entry carries the
//! hash of the one before it and its own hash over a domain-separated canonical encoding of
//! everything else, and the head (last sequence and hash) is kept beside them, written in the
//! same synced batch. An entry edited or deleted in the database breaks the chain (its hash,
//! the next entry's link, the sequence, or the head), which [`Store::verify_audit`] reports.

use safeport_protocol::{Timestamp, encoding};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::codec::{KeyReader, KeyWriter};
use super::{MAX_PAGE, Store, StoreError, Table};

/// Domain-separation string of entry hashes.
const AUDIT_HASH_DOMAIN: &str = "safeport/audit-entry/v1";
/// The head's key (sequences start at 1, so 0 is free).
const HEAD_KEY: u64 = 0;
/// Largest stored entry.
const MAX_ENTRY_BYTES: usize = 16 * 1024;

/// What an entry records (everything but the chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When (UTC).
    pub at: Timestamp,
    /// Who acted (a user, or the admin token's holder).
    pub actor: String,
    /// What was done (`search`, `view-report`, `media-access`, `package`, …).
    pub action: String,
    /// What it concerned (ids, a query).
    pub target: String,
    /// The stated purpose or case reference.
    pub purpose: Option<String>,
    /// Who received what was disclosed, if anyone outside this node.
    pub recipient: Option<String>,
}

/// A stored entry: the record, its place and its links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// What happened.
    pub record: AuditRecord,
    /// The previous entry's hash (zeros for the first).
    pub prev: [u8; 32],
    /// This entry's hash.
    pub hash: [u8; 32],
}

/// The chain's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: [u8; 32],
}

/// Where the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditBreak {
    /// The first sequence number that does not verify.
    pub seq: u64,
    /// What is wrong there.
    pub reason: String,
}

/// The outcome of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    /// Entries that verified.
    pub entries: u64,
    /// The first break, if any.
    pub broken: Option<AuditBreak>,
}

fn entry_hash(seq: u64, record: &AuditRecord, prev: &[u8; 32]) -> Result<[u8; 32], StoreError> {
    let bytes = encoding::encode(&(AUDIT_HASH_DOMAIN, seq, record, prev))
        .map_err(|_| StoreError::InvalidArgument("audit entry does not encode"))?;
    Ok(Sha256::digest(bytes).into())
}

fn key(seq: u64) -> Vec<u8> {
    KeyWriter::new().u64(seq).finish()
}

fn corrupt(what: &'static str) -> StoreError {
    StoreError::CorruptValue {
        table: Table::Audit.name(),
        what,
    }
}

impl Store {
    fn audit_head(&self) -> Result<Head, StoreError> {
        match self.get(Table::Audit, &key(HEAD_KEY))? {
            Some(bytes) => encoding::decode(&bytes, 128).map_err(|_| corrupt("head")),
            None => Ok(Head {
                seq: 0,
                hash: [0; 32],
            }),
        }
    }

    /// Appends an entry (synced) and returns it. Serialised by the store's write lock, so
    /// sequence numbers never collide; fails (and the caller's action with it) when the write
    /// fails.
    pub fn append_audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError> {
        let mut batch = self.batch();
        let head = self.audit_head()?;
        let seq = head.seq + 1;
        let hash = entry_hash(seq, &record, &head.hash)?;
        let entry = AuditEntry {
            seq,
            record,
            prev: head.hash,
            hash,
        };
        let value = encoding::encode(&entry)
            .map_err(|_| StoreError::InvalidArgument("audit entry does not encode"))?;
        if value.len() > MAX_ENTRY_BYTES {
            return Err(StoreError::InvalidArgument("audit entry too large"));
        }
        let head = encoding::encode(&Head { seq, hash })
            .map_err(|_| StoreError::InvalidArgument("audit head does not encode"))?;
        let cf = self.cf(Table::Audit)?;
        batch.batch.put_cf(cf, key(seq), value);
        batch.batch.put_cf(cf, key(HEAD_KEY), head);
        batch.commit()?;
        Ok(entry)
    }

    /// Entries after `after`, oldest first, at most `limit` (capped at [`MAX_PAGE`]).
    pub fn audit_entries(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.min(MAX_PAGE);
        let start = key(after.saturating_add(1).max(1));
        let mut out = Vec::new();
        for item in self.scan_prefix(Table::Audit, &[], Some(&start), false)? {
            let (_, value) = item.map_err(|e| self.db_err(e))?;
            out.push(encoding::decode(&value, MAX_ENTRY_BYTES).map_err(|_| corrupt("entry"))?);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// Walks the whole chain: every entry's hash, link and sequence, and the head.
    pub fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        let head = self.audit_head()?;
        let mut expected_seq = 1;
        let mut prev = [0u8; 32];
        let broken = |seq, reason: &str| AuditBreak {
            seq,
            reason: reason.to_owned(),
        };
        for item in self.scan_prefix(Table::Audit, &[], Some(&key(1)), false)? {
            let (raw_key, value) = item.map_err(|e| self.db_err(e))?;
            let seq = KeyReader::new(&raw_key).u64().unwrap_or(0);
            let fail = |reason| {
                Ok(AuditVerification {
                    entries: expected_seq - 1,
                    broken: Some(broken(expected_seq.min(seq.max(1)), reason)),
                })
            };
            let Ok(entry) = encoding::decode::<AuditEntry>(&value, MAX_ENTRY_BYTES) else {
                return fail("the entry does not decode");
            };
            if seq != expected_seq || entry.seq != seq {
                return fail("an entry is missing before this one");
            }
            if entry.prev != prev {
                return fail("the link to the previous entry is broken");
            }
            if entry_hash(entry.seq, &entry.record, &entry.prev)? != entry.hash {
                return fail("the entry was altered");
            }
            prev = entry.hash;
            expected_seq += 1;
        }
        let entries = expected_seq - 1;
        let broken = (head.seq != entries || head.hash != prev).then(|| {
            broken(
                entries + 1,
                "the log ends before its recorded head (entries were removed at the end)",
            )
        });
        Ok(AuditVerification { entries, broken })
    }

    /// Overwrites or deletes a stored entry, as an intruder with database access would (tests
    /// of [`Store::verify_audit`] only).
    #[cfg(test)]
    pub(crate) fn tamper_audit(&self, seq: u64, value: Option<Vec<u8>>) -> Result<(), StoreError> {
        let mut batch = self.batch();
        let cf = self.cf(Table::Audit)?;
        match value {
            Some(value) => batch.batch.put_cf(cf, key(seq), value),
            None => batch.batch.delete_cf(cf, key(seq)),
        }
        batch.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(n: u64) -> AuditRecord {
        AuditRecord {
            at: Timestamp(n),
            actor: "analyst-1".into(),
            action: "view-report".into(),
            target: format!("report {n}"),
            purpose: Some("case 2026/17".into()),
            recipient: None,
        }
    }

    fn filled(n: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 1..=n {
            assert_eq!(store.append_audit(record(i)).unwrap().seq, i);
        }
        (dir, store)
    }

    #[test]
    fn an_intact_log_verifies_and_pages() {
        let (_dir, store) = filled(5);
        let verified = store.verify_audit().unwrap();
        assert_eq!((verified.entries, verified.broken), (5, None));
        let page = store.audit_entries(2, 2).unwrap();
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(page[0].prev, store.audit_entries(1, 1).unwrap()[0].hash);
    }

    #[test]
    fn edits_and_deletions_anywhere_are_found() {
        // An edited field, even with the entry re-encoded properly.
        let (_dir, store) = filled(5);
        let mut entry = store.audit_entries(2, 1).unwrap().remove(0);
        entry.record.actor = "someone-else".into();
        store
            .tamper_audit(3, Some(encoding::encode(&entry).unwrap()))
            .unwrap();
        let broken = store.verify_audit().unwrap().broken.unwrap();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("altered"));

        // An entry deleted in the middle, or at the end, or garbage written over one.
        for (seq, value, at, reason) in [
            (2, None, 2, "missing"),
            (5, None, 5, "ends before its recorded head"),
            (4, Some(vec![1, 2, 3]), 4, "does not decode"),
        ] {
            let (_dir, store) = filled(5);
            store.tamper_audit(seq, value).unwrap();
            let broken = store.verify_audit().unwrap().broken.unwrap();
            assert_eq!(broken.seq, at, "{reason}");
            assert!(broken.reason.contains(reason), "{}", broken.reason);
        }

        // A rewritten hash does not help: the next entry's link breaks.
        let (_dir, store) = filled(5);
        let mut entry = store.audit_entries(1, 1).unwrap().remove(0);
        entry.record.target = "another report".into();
        entry.hash = entry_hash(entry.seq, &entry.record, &entry.prev).unwrap();
        store
            .tamper_audit(2, Some(encoding::encode(&entry).unwrap()))
            .unwrap();
        let broken = store.verify_audit().unwrap().broken.unwrap();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("link"));
    }
}
