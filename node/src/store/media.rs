//! Media content still to fetch: when a received report's item comes with a right to its
//! content, the item is queued (in the ingest batch) until its bytes are in the blob store.
//! Keyed by the peer that holds the content, so each peer's queue is one prefix.

use safeport_protocol::{AgencyId, RecordId};

use super::batch::StoreBatch;
use super::codec::{KeyReader, KeyWriter};
use super::{MAX_PAGE, Store, StoreError, Table};

/// One media item whose content is to be fetched from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingBlob {
    /// The report record the item belongs to.
    pub record: RecordId,
    /// The item's commitment in that report.
    pub commitment: [u8; 32],
    /// The content's SHA-256 (its blob address).
    pub sha256: [u8; 32],
}

fn key(peer: &AgencyId, record: &RecordId, commitment: &[u8; 32]) -> Vec<u8> {
    KeyWriter::new()
        .str(peer.as_str())
        .array(&record.0)
        .array(commitment)
        .finish()
}

impl Store {
    /// Up to `limit` (capped at [`MAX_PAGE`]) items to fetch from `peer`.
    pub fn pending_blobs(
        &self,
        peer: &AgencyId,
        limit: usize,
    ) -> Result<Vec<PendingBlob>, StoreError> {
        let prefix = KeyWriter::new().str(peer.as_str()).finish();
        let corrupt = || StoreError::CorruptValue {
            table: Table::BlobQueue.name(),
            what: "pending blob entry does not decode",
        };
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::BlobQueue, &prefix, None, false)? {
            if out.len() >= limit.min(MAX_PAGE) {
                break;
            }
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key);
            let _peer = reader.string().map_err(|_| corrupt())?;
            let record = RecordId(reader.array().map_err(|_| corrupt())?);
            let commitment = reader.array().map_err(|_| corrupt())?;
            let sha256 = <[u8; 32]>::try_from(value.as_ref()).map_err(|_| corrupt())?;
            out.push(PendingBlob {
                record,
                commitment,
                sha256,
            });
        }
        Ok(out)
    }

    /// Takes an item off `peer`'s queue (fetched, or refused for good).
    pub fn done_blob(&self, peer: &AgencyId, blob: &PendingBlob) -> Result<(), StoreError> {
        let mut batch = self.batch();
        batch.batch.delete_cf(
            self.cf(Table::BlobQueue)?,
            key(peer, &blob.record, &blob.commitment),
        );
        batch.commit()?;
        Ok(())
    }
}

impl StoreBatch<'_> {
    /// Queues an item's content for fetching from `peer`.
    pub fn queue_blob(&mut self, peer: &AgencyId, blob: &PendingBlob) -> Result<(), StoreError> {
        self.batch.put_cf(
            self.store.cf(Table::BlobQueue)?,
            key(peer, &blob.record, &blob.commitment),
            blob.sha256,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_queue_is_per_peer_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let a = AgencyId::new("de-hotline").unwrap();
        let b = AgencyId::new("nl-hotline").unwrap();
        let blob = |n: u8| PendingBlob {
            record: RecordId([n; 32]),
            commitment: [n + 1; 32],
            sha256: [n + 2; 32],
        };
        {
            let store = Store::open(dir.path()).unwrap();
            let mut batch = store.batch();
            batch.queue_blob(&a, &blob(1)).unwrap();
            batch.queue_blob(&a, &blob(2)).unwrap();
            batch.queue_blob(&b, &blob(3)).unwrap();
            batch.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.pending_blobs(&a, 10).unwrap(), vec![blob(1), blob(2)]);
        store.done_blob(&a, &blob(1)).unwrap();
        assert_eq!(store.pending_blobs(&a, 10).unwrap(), vec![blob(2)]);
        assert_eq!(store.pending_blobs(&b, 10).unwrap(), vec![blob(3)]);
    }
}
