//! INTERPOL's ICSE collection: every baseline or nationally illegal media item contributed to
//! this node, indexed by SHA-256 (for "is this known?") and by intake time (for listing by
//! hotline, classification and date). Entries are upserted per (item, report); whether an
//! entry is still current (its report not superseded without it) is decided at query time
//! against the report head, so ingest never has to find and delete old entries.

use safeport_protocol::report::MediaItem;
use safeport_protocol::{AgencyId, Country, RecordId, Timestamp, encoding};
use serde::{Deserialize, Serialize};

use super::batch::StoreBatch;
use super::codec::{KeyReader, KeyWriter};
use super::{Store, StoreError, Table};

/// Largest stored entry.
const MAX_ENTRY_BYTES: usize = 64 * 1024;

/// One contributed item with its report context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcseEntry {
    /// The contributing hotline.
    pub origin: AgencyId,
    /// The report's key.
    pub report_key: [u8; 16],
    /// The report revision that carried this entry.
    pub record_id: RecordId,
    /// When the hotline received the report.
    pub received_at: Timestamp,
    /// The reported URL.
    pub reported_url: String,
    /// The hosting country, when known.
    pub hosting_country: Option<Country>,
    /// The item as contributed (hashes, classification, assessor).
    pub item: MediaItem,
}

fn item_key(sha256: &[u8; 32], origin: &AgencyId, report_key: &[u8; 16]) -> Vec<u8> {
    KeyWriter::new()
        .array(sha256)
        .str(origin.as_str())
        .array(report_key)
        .finish()
}

fn corrupt(table: Table) -> StoreError {
    StoreError::CorruptValue {
        table: table.name(),
        what: "ICSE entry does not decode",
    }
}

impl StoreBatch<'_> {
    /// Adds or replaces the entry of one item of one report.
    pub fn put_icse(&mut self, entry: &IcseEntry) -> Result<(), StoreError> {
        let value = encoding::encode(entry)
            .map_err(|_| StoreError::InvalidArgument("ICSE entry does not encode"))?;
        let key = item_key(&entry.item.sha256, &entry.origin, &entry.report_key);
        let by_time = KeyWriter::new()
            .u64(entry.received_at.0)
            .array(&entry.item.sha256)
            .str(entry.origin.as_str())
            .array(&entry.report_key)
            .finish();
        self.batch
            .put_cf(self.store.cf(Table::IcseItems)?, key, value);
        self.batch
            .put_cf(self.store.cf(Table::IcseByTime)?, by_time, []);
        Ok(())
    }
}

impl Store {
    fn icse_entry(&self, key: &[u8]) -> Result<Option<IcseEntry>, StoreError> {
        self.get(Table::IcseItems, key)?
            .map(|bytes| {
                encoding::decode(&bytes, MAX_ENTRY_BYTES).map_err(|_| corrupt(Table::IcseItems))
            })
            .transpose()
    }

    /// Entries of one item (by SHA-256), at most `limit`.
    pub fn icse_by_hash(
        &self,
        sha256: &[u8; 32],
        limit: usize,
    ) -> Result<Vec<IcseEntry>, StoreError> {
        let prefix = KeyWriter::new().array(sha256).finish();
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::IcseItems, &prefix, None, false)? {
            if out.len() >= limit {
                break;
            }
            let (_, value) = entry.map_err(|e| self.db_err(e))?;
            out.push(
                encoding::decode(&value, MAX_ENTRY_BYTES).map_err(|_| corrupt(Table::IcseItems))?,
            );
        }
        Ok(out)
    }

    /// Visits entries newest first (by report intake time) until `visit` returns `false` or
    /// `max_scan` index keys were read.
    pub fn icse_newest_first(
        &self,
        max_scan: usize,
        mut visit: impl FnMut(IcseEntry) -> bool,
    ) -> Result<(), StoreError> {
        for (scanned, entry) in self
            .scan_prefix(Table::IcseByTime, &[], None, true)?
            .enumerate()
        {
            if scanned >= max_scan {
                break;
            }
            let (key, _) = entry.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key);
            let bad = |_| corrupt(Table::IcseByTime);
            let _received = reader.u64().map_err(bad)?;
            let sha256 = reader.array::<32>().map_err(bad)?;
            let origin = AgencyId::new(&reader.string().map_err(bad)?)
                .map_err(|_| corrupt(Table::IcseByTime))?;
            let report_key = reader.array::<16>().map_err(bad)?;
            if let Some(found) = self.icse_entry(&item_key(&sha256, &origin, &report_key))?
                && !visit(found)
            {
                break;
            }
        }
        Ok(())
    }
}
