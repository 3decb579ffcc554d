//! A hotline's own working state, never shared: the reports its analysts took in (with the
//! reporter's remarks and the crawl's progress) and the queue of crawls still to run. Keys
//! are report keys, which start with the intake time, so a scan is chronological.

use safeport_protocol::Timestamp;
use safeport_protocol::encoding;
use safeport_protocol::report::IntakeChannel;
use serde::{Deserialize, Serialize};

use safeport_protocol::{AgencyId, RecordId};

use super::batch::StoreBatch;
use super::codec::{KeyReader, KeyWriter};
use super::{MAX_PAGE, Store, StoreError, Table};

fn status_prefix(origin: &AgencyId, report_key: &[u8; 16]) -> Vec<u8> {
    KeyWriter::new()
        .str(origin.as_str())
        .array(report_key)
        .finish()
}

/// Largest stored local report (remarks and the crawl log are bounded well below).
const MAX_LOCAL_REPORT_BYTES: usize = 1024 * 1024;

/// Where a report's crawl stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrawlStatus {
    /// Waiting for a crawler slot.
    Queued,
    /// Being fetched since this time.
    Fetching {
        /// When the crawl started.
        since: Timestamp,
    },
    /// Crawled; the report has a revision with what was found.
    Done {
        /// When the crawl finished.
        at: Timestamp,
    },
    /// The page could not be crawled; the report is kept and can be crawled again.
    Failed {
        /// When it failed.
        at: Timestamp,
        /// Why.
        reason: String,
    },
}

impl CrawlStatus {
    /// The state's name: queued, fetching, done or failed.
    pub fn name(&self) -> &'static str {
        match self {
            CrawlStatus::Queued => "queued",
            CrawlStatus::Fetching { .. } => "fetching",
            CrawlStatus::Done { .. } => "done",
            CrawlStatus::Failed { .. } => "failed",
        }
    }
}

/// One thing the crawler could not fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlProblem {
    /// The URL.
    pub url: String,
    /// Why it failed.
    pub reason: String,
}

/// A report as its hotline knows it internally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalReport {
    /// The report key (also of its signed revisions).
    pub report_key: [u8; 16],
    /// The URL as reported.
    pub reported_url: String,
    /// How the tip came in.
    pub channel: IntakeChannel,
    /// When the tip came in.
    pub received_at: Timestamp,
    /// The reporter's remarks: internal, never in a signed record.
    pub remarks: Option<String>,
    /// The crawl's state.
    pub crawl: CrawlStatus,
    /// Media the crawler could not fetch or hash, and links it left out.
    pub problems: Vec<CrawlProblem>,
    /// Set when an analyst corrected the hosting country (a re-crawl keeps the correction).
    pub country_set_by: Option<String>,
    /// The latest signed revision.
    pub revision: u32,
}

fn corrupt(table: Table) -> StoreError {
    StoreError::CorruptValue {
        table: table.name(),
        what: "stored value does not decode",
    }
}

impl Store {
    /// A local report by key.
    pub fn local_report(&self, key: &[u8; 16]) -> Result<Option<LocalReport>, StoreError> {
        self.get(Table::LocalReports, key)?
            .map(|bytes| {
                encoding::decode(&bytes, MAX_LOCAL_REPORT_BYTES)
                    .map_err(|_| corrupt(Table::LocalReports))
            })
            .transpose()
    }

    /// Local reports, newest first, at most `limit` (capped at [`MAX_PAGE`]).
    pub fn local_reports(&self, limit: usize) -> Result<Vec<LocalReport>, StoreError> {
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::LocalReports, &[], None, true)? {
            if out.len() >= limit.min(MAX_PAGE) {
                break;
            }
            let (_, value) = entry.map_err(|e| self.db_err(e))?;
            out.push(
                encoding::decode(&value, MAX_LOCAL_REPORT_BYTES)
                    .map_err(|_| corrupt(Table::LocalReports))?,
            );
        }
        Ok(out)
    }

    /// Status records about one report (sent by the hotlines it was forwarded to), at most
    /// `limit`.
    pub fn report_statuses(
        &self,
        origin: &AgencyId,
        report_key: &[u8; 16],
        limit: usize,
    ) -> Result<Vec<RecordId>, StoreError> {
        let prefix = status_prefix(origin, report_key);
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::ReportStatuses, &prefix, None, false)? {
            if out.len() >= limit.min(MAX_PAGE) {
                break;
            }
            let (key, _) = entry.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key[prefix.len()..]);
            out.push(RecordId(
                reader
                    .array::<32>()
                    .map_err(|_| corrupt(Table::ReportStatuses))?,
            ));
        }
        Ok(out)
    }

    /// Every status record held, with the report it is about (in key order).
    pub fn visit_report_statuses(
        &self,
        mut visit: impl FnMut(AgencyId, [u8; 16], RecordId),
    ) -> Result<(), StoreError> {
        for entry in self.scan_prefix(Table::ReportStatuses, &[], None, false)? {
            let (key, _) = entry.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key);
            let corrupt_key = |_| corrupt(Table::ReportStatuses);
            let origin = AgencyId::new(&reader.string().map_err(corrupt_key)?)
                .map_err(|_| corrupt(Table::ReportStatuses))?;
            let report_key = reader.array::<16>().map_err(corrupt_key)?;
            let id = reader.array::<32>().map_err(corrupt_key)?;
            visit(origin, report_key, RecordId(id));
        }
        Ok(())
    }

    /// Reports waiting for a crawl, oldest first, at most `limit`.
    pub fn crawl_queue(&self, limit: usize) -> Result<Vec<[u8; 16]>, StoreError> {
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::CrawlQueue, &[], None, false)? {
            if out.len() >= limit.min(MAX_PAGE) {
                break;
            }
            let (key, _) = entry.map_err(|e| self.db_err(e))?;
            out.push(<[u8; 16]>::try_from(key.as_ref()).map_err(|_| corrupt(Table::CrawlQueue))?);
        }
        Ok(out)
    }
}

impl StoreBatch<'_> {
    /// Writes a local report.
    pub fn put_local_report(&mut self, report: &LocalReport) -> Result<(), StoreError> {
        let value = encoding::encode(report)
            .map_err(|_| StoreError::InvalidArgument("local report does not encode"))?;
        if value.len() > MAX_LOCAL_REPORT_BYTES {
            return Err(StoreError::InvalidArgument("local report too large"));
        }
        self.batch.put_cf(
            self.store.cf(Table::LocalReports)?,
            report.report_key,
            value,
        );
        Ok(())
    }

    /// Puts a report in the crawl queue (or keeps it there).
    pub fn queue_crawl(&mut self, report_key: &[u8; 16]) -> Result<(), StoreError> {
        self.batch
            .put_cf(self.store.cf(Table::CrawlQueue)?, report_key, []);
        Ok(())
    }

    /// Indexes a status record under the report it is about.
    pub fn index_status(
        &mut self,
        origin: &AgencyId,
        report_key: &[u8; 16],
        status: &RecordId,
    ) -> Result<(), StoreError> {
        let mut key = status_prefix(origin, report_key);
        key.extend_from_slice(&KeyWriter::new().array(&status.0).finish());
        self.batch
            .put_cf(self.store.cf(Table::ReportStatuses)?, key, []);
        Ok(())
    }

    /// Takes a report off the crawl queue.
    pub fn unqueue_crawl(&mut self, report_key: &[u8; 16]) -> Result<(), StoreError> {
        self.batch
            .delete_cf(self.store.cf(Table::CrawlQueue)?, report_key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(key: u8) -> LocalReport {
        LocalReport {
            report_key: [key; 16],
            reported_url: "https://reported.example.test/".into(),
            channel: IntakeChannel::PublicForm,
            received_at: Timestamp(1),
            remarks: Some("internal".into()),
            crawl: CrawlStatus::Queued,
            problems: vec![],
            country_set_by: None,
            revision: 1,
        }
    }

    #[test]
    fn local_reports_and_the_crawl_queue_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let mut batch = store.batch();
            for key in [1, 3, 2] {
                batch.put_local_report(&report(key)).unwrap();
                batch.queue_crawl(&[key; 16]).unwrap();
            }
            batch.unqueue_crawl(&[3; 16]).unwrap();
            batch.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.local_report(&[2; 16]).unwrap(), Some(report(2)));
        assert_eq!(store.local_report(&[9; 16]).unwrap(), None);
        let newest_first: Vec<u8> = store
            .local_reports(10)
            .unwrap()
            .iter()
            .map(|r| r.report_key[0])
            .collect();
        assert_eq!(newest_first, vec![3, 2, 1]);
        assert_eq!(store.crawl_queue(10).unwrap(), vec![[1; 16], [2; 16]]);
    }
}
