//! Reads of the federation tables: outboxes, cursors, report heads, certificates
//! and the rejection log. Writes go through [`super::StoreBatch`].

use safeport_protocol::{AgencyId, RecordId, RecordType, encoding};
use serde::{Deserialize, Serialize};

use super::codec::{KeyReader, KeyWriter};
use super::{MAX_PAGE, Store, StoreError, Table};

/// Largest stored rejection read back.
const MAX_REJECTION_BYTES: usize = 64 * 1024;

/// A record this node refused, and why. Kept so that nothing is dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// When it was refused (ms since the epoch).
    pub at: u64,
    /// The peer it came from.
    pub from: String,
    /// The record's id (all zero when the bytes did not even decode).
    pub record_id: [u8; 32],
    /// The origin named in the record, if it decoded.
    pub origin: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

/// The latest revision of one report held here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHead {
    /// The report's originator.
    pub origin: AgencyId,
    /// The report key.
    pub report_key: [u8; 16],
    /// The latest revision number.
    pub revision: u32,
    /// Its record id.
    pub record_id: RecordId,
}

impl Store {
    fn corrupt_key(table: Table) -> impl Fn(super::codec::CodecError) -> StoreError {
        move |source| StoreError::CorruptKey {
            table: table.name(),
            source,
        }
    }

    /// The newest position of `recipient`'s outbox (0 when empty).
    pub fn outbox_head(&self, recipient: &AgencyId) -> Result<u64, StoreError> {
        let prefix = KeyWriter::new().str(recipient.as_str()).finish();
        let mut iter = self.scan_prefix(Table::Outbox, &prefix, None, true)?;
        let Some(entry) = iter.next() else {
            return Ok(0);
        };
        let (key, _) = entry.map_err(|e| self.db_err(e))?;
        let mut reader = KeyReader::new(&key);
        reader.bytes().map_err(Self::corrupt_key(Table::Outbox))?;
        reader.u64().map_err(Self::corrupt_key(Table::Outbox))
    }

    /// Entries of `recipient`'s outbox after `after`, in order, at most `min(limit, MAX_PAGE)`.
    pub fn outbox_page(
        &self,
        recipient: &AgencyId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, RecordId)>, StoreError> {
        let limit = limit.min(MAX_PAGE);
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let prefix = KeyWriter::new().str(recipient.as_str()).finish();
        let start = KeyWriter::new().str(recipient.as_str()).u64(first).finish();
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        for entry in self.scan_prefix(Table::Outbox, &prefix, Some(&start), false)? {
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key);
            reader.bytes().map_err(Self::corrupt_key(Table::Outbox))?;
            let position = reader.u64().map_err(Self::corrupt_key(Table::Outbox))?;
            let id: [u8; 32] = value
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::CorruptValue {
                    table: Table::Outbox.name(),
                    what: "expected a 32-byte record id",
                })?;
            out.push((position, RecordId(id)));
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// How far this node has pulled `peer`'s outbox (0 when never).
    pub fn cursor(&self, peer: &AgencyId) -> Result<u64, StoreError> {
        let key = KeyWriter::new().str(peer.as_str()).finish();
        Ok(self.read_u64(Table::Cursors, &key)?.unwrap_or(0))
    }

    /// The latest revision of a report known here: `(revision, record id)`.
    pub fn report_head(
        &self,
        origin: &AgencyId,
        report_key: &[u8; 16],
    ) -> Result<Option<(u32, RecordId)>, StoreError> {
        let key = KeyWriter::new()
            .str(origin.as_str())
            .array(report_key)
            .finish();
        let Some(value) = self.get(Table::ReportHeads, &key)? else {
            return Ok(None);
        };
        let corrupt = StoreError::CorruptValue {
            table: Table::ReportHeads.name(),
            what: "expected revision and record id",
        };
        let (revision, id) = value.split_at_checked(4).ok_or(corrupt)?;
        let revision =
            u32::from_be_bytes(revision.try_into().map_err(|_| StoreError::CorruptValue {
                table: Table::ReportHeads.name(),
                what: "expected a 4-byte revision",
            })?);
        let id: [u8; 32] = id.try_into().map_err(|_| StoreError::CorruptValue {
            table: Table::ReportHeads.name(),
            what: "expected a 32-byte record id",
        })?;
        Ok(Some((revision, RecordId(id))))
    }

    /// Latest revisions of reports of one origin or of all, in key order, at most
    /// `min(limit, MAX_PAGE)`.
    pub fn report_heads(
        &self,
        origin: Option<&AgencyId>,
        limit: usize,
    ) -> Result<Vec<ReportHead>, StoreError> {
        let limit = limit.min(MAX_PAGE);
        let mut out = Vec::new();
        self.visit_report_heads(origin, |head| {
            out.push(head);
            out.len() < limit
        })?;
        Ok(out)
    }

    /// Visits the report heads (of one origin, or all) in key order until `visit` returns
    /// false (the search index is built from them; the caller bounds what it keeps).
    pub fn visit_report_heads(
        &self,
        origin: Option<&AgencyId>,
        mut visit: impl FnMut(ReportHead) -> bool,
    ) -> Result<(), StoreError> {
        let prefix = origin.map_or_else(Vec::new, |o| KeyWriter::new().str(o.as_str()).finish());
        let corrupt = || StoreError::CorruptValue {
            table: Table::ReportHeads.name(),
            what: "report head entry does not decode",
        };
        for entry in self.scan_prefix(Table::ReportHeads, &prefix, None, false)? {
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key);
            let origin =
                AgencyId::new(&reader.string().map_err(|_| corrupt())?).map_err(|_| corrupt())?;
            let report_key = reader.array::<16>().map_err(|_| corrupt())?;
            let (revision, id) = value.split_at_checked(4).ok_or_else(corrupt)?;
            let revision = u32::from_be_bytes(revision.try_into().map_err(|_| corrupt())?);
            let id: [u8; 32] = id.try_into().map_err(|_| corrupt())?;
            let head = ReportHead {
                origin,
                report_key,
                revision,
                record_id: RecordId(id),
            };
            if !visit(head) {
                break;
            }
        }
        Ok(())
    }

    /// Ids of stored records of one type after `after` (in id order), at most
    /// `min(limit, MAX_PAGE)`; pass the last id returned to continue.
    pub fn records_of_type(
        &self,
        record_type: RecordType,
        after: Option<&RecordId>,
        limit: usize,
    ) -> Result<Vec<RecordId>, StoreError> {
        let limit = limit.min(MAX_PAGE);
        let prefix = KeyWriter::new().u8(record_type as u8).finish();
        let start = after.map(|id| KeyWriter::new().u8(record_type as u8).array(&id.0).finish());
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::RecordsByType, &prefix, start.as_deref(), false)? {
            let (key, _) = entry.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key);
            reader
                .u8()
                .map_err(Self::corrupt_key(Table::RecordsByType))?;
            let id = RecordId(
                reader
                    .array::<32>()
                    .map_err(Self::corrupt_key(Table::RecordsByType))?,
            );
            if Some(&id) == after {
                continue;
            }
            out.push(id);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// The latest verified certificate (PEM) of an agency, if known.
    pub fn certificate(&self, agency: &AgencyId) -> Result<Option<String>, StoreError> {
        let key = KeyWriter::new().str(agency.as_str()).finish();
        let Some(bytes) = self.get(Table::Certificates, &key)? else {
            return Ok(None);
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| StoreError::CorruptValue {
                table: Table::Certificates.name(),
                what: "certificate is not text",
            })
    }

    /// The tombstone of a withdrawn record: `(origin, withdrawal record id)`.
    pub fn tombstone(&self, id: &RecordId) -> Result<Option<(String, RecordId)>, StoreError> {
        let Some(value) = self.get(Table::Withdrawn, &id.0)? else {
            return Ok(None);
        };
        let corrupt = || StoreError::CorruptValue {
            table: Table::Withdrawn.name(),
            what: "expected a withdrawal id and an origin",
        };
        let (withdrawal, origin) = value.split_at_checked(32).ok_or_else(corrupt)?;
        let withdrawal: [u8; 32] = withdrawal.try_into().map_err(|_| corrupt())?;
        let origin = String::from_utf8(origin.to_vec()).map_err(|_| corrupt())?;
        Ok(Some((origin, RecordId(withdrawal))))
    }

    /// Whether `recipient`'s outbox ever held record `id`.
    pub fn outbox_contains(&self, recipient: &AgencyId, id: &RecordId) -> Result<bool, StoreError> {
        let key = KeyWriter::new()
            .str(recipient.as_str())
            .array(&id.0)
            .finish();
        Ok(self.get(Table::OutboxIndex, &key)?.is_some())
    }

    /// Stores (or replaces) a configured peer, synced.
    pub fn put_peer(&self, agency: &AgencyId, address: &str) -> Result<(), StoreError> {
        let mut batch = rocksdb::WriteBatch::default();
        let key = KeyWriter::new().str(agency.as_str()).finish();
        batch.put_cf(self.cf(Table::Peers)?, key, address.as_bytes());
        self.write(batch)
    }

    /// Removes a configured peer; `false` when there was none.
    pub fn remove_peer(&self, agency: &AgencyId) -> Result<bool, StoreError> {
        let key = KeyWriter::new().str(agency.as_str()).finish();
        if self.get(Table::Peers, &key)?.is_none() {
            return Ok(false);
        }
        let mut batch = rocksdb::WriteBatch::default();
        batch.delete_cf(self.cf(Table::Peers)?, key);
        self.write(batch)?;
        Ok(true)
    }

    /// Every configured peer: `(agency, multiaddr text)`, at most [`MAX_PAGE`].
    pub fn peers(&self) -> Result<Vec<(AgencyId, String)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::Peers, &[], None, false)? {
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key);
            let agency = reader.string().map_err(Self::corrupt_key(Table::Peers))?;
            let corrupt = || StoreError::CorruptValue {
                table: Table::Peers.name(),
                what: "peer entry is not an agency and an address",
            };
            let agency = AgencyId::new(&agency).map_err(|_| corrupt())?;
            let address = String::from_utf8(value.to_vec()).map_err(|_| corrupt())?;
            out.push((agency, address));
            if out.len() == MAX_PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// The most recent rejections, newest first, at most `min(limit, MAX_PAGE)`.
    pub fn rejections(&self, limit: usize) -> Result<Vec<Rejection>, StoreError> {
        let limit = limit.min(MAX_PAGE);
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::Rejections, &[], None, true)? {
            let (_, value) = entry.map_err(|e| self.db_err(e))?;
            if out.len() == limit {
                break;
            }
            out.push(encoding::decode(&value, MAX_REJECTION_BYTES).map_err(|_| {
                StoreError::CorruptValue {
                    table: Table::Rejections.name(),
                    what: "stored rejection does not decode",
                }
            })?);
        }
        Ok(out)
    }
}
