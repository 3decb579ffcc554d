//! What this node holds from other agencies: the reports other hotlines forwarded (a hotline's
//! incoming queue), and at INTERPOL the ICSE collection of contributed media, queryable by
//! hash, contributing hotline, classification and date.

use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::{AgencyId, Classification, RecordId, Role, Timestamp};

use safeport_protocol::RecordBody;
use safeport_protocol::status::{ReportStatus, TakedownStatus};

use super::{App, AppError};
use crate::store::icse::IcseEntry;
use crate::store::{Committed, StoreBatch};

/// Most index keys one ICSE listing reads (bounds a query's cost on a large collection).
pub const MAX_ICSE_SCAN: usize = 200_000;
/// Most entries one ICSE query returns.
pub const MAX_ICSE_RESULTS: usize = 1000;
/// Most statuses shown for one report.
pub const MAX_STATUSES: usize = 200;

/// A report received from another agency, as held here.
#[derive(Debug, Clone)]
pub struct HeldReport {
    /// Its originator (signature verified at ingest; the record is kept as signed).
    pub origin: AgencyId,
    /// The latest revision's record id.
    pub record_id: RecordId,
    /// The latest revision.
    pub report: Report,
    /// The media items disclosed to this node.
    pub items: Vec<MediaItem>,
}

/// An ICSE query; every given criterion must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IcseQuery {
    /// This exact content.
    pub sha256: Option<[u8; 32]>,
    /// Contributed by this hotline.
    pub hotline: Option<AgencyId>,
    /// Of this classification.
    pub classification: Option<Classification>,
    /// Reports received at or after.
    pub since: Option<Timestamp>,
    /// Reports received before.
    pub until: Option<Timestamp>,
    /// At most this many (capped at [`MAX_ICSE_RESULTS`]).
    pub limit: usize,
}

impl IcseQuery {
    fn admits(&self, entry: &IcseEntry) -> bool {
        self.hotline.as_ref().is_none_or(|h| &entry.origin == h)
            && self
                .classification
                .is_none_or(|c| entry.item.classification() == c)
            && self.since.is_none_or(|t| entry.received_at >= t)
            && self.until.is_none_or(|t| entry.received_at < t)
    }
}

/// A status another hotline reported about one of this node's reports.
#[derive(Debug, Clone)]
pub struct StatusView {
    /// The hotline that reported it.
    pub by: AgencyId,
    /// When it signed it.
    pub at: Timestamp,
    /// The status.
    pub status: ReportStatus,
}

impl App {
    /// A hotline that handles a forwarded report tells its originator what it did: a signed
    /// status record that goes back to the originator only.
    pub fn send_status(
        &self,
        report_origin: &AgencyId,
        report_key: &[u8; 16],
        status: TakedownStatus,
        note: Option<String>,
    ) -> Result<Committed, AppError> {
        if report_origin == self.me() {
            return Err(AppError::Invalid(
                "statuses are for reports of other hotlines".into(),
            ));
        }
        if self.store.report_head(report_origin, report_key)?.is_none() {
            return Err(AppError::NotFound);
        }
        let body = ReportStatus {
            report_origin: report_origin.clone(),
            report_key: *report_key,
            status,
            note,
        };
        body.validate().map_err(AppError::Invalid)?;
        let (record, _guard) = self.sign_own(body)?;
        let id = record.id();
        self.store_and_share_with(record.raw(), None, |batch| {
            batch.index_status(report_origin, report_key, &id)?;
            self.search_marks.mark(report_origin, report_key);
            Ok(())
        })
    }

    /// Statuses of a report, oldest first (by signing time).
    pub fn statuses_of(
        &self,
        report_origin: &AgencyId,
        report_key: &[u8; 16],
    ) -> Result<Vec<StatusView>, AppError> {
        let mut out = Vec::new();
        for id in self
            .store
            .report_statuses(report_origin, report_key, MAX_STATUSES)?
        {
            let Some(raw) = self.store.record(&id)? else {
                continue;
            };
            let typed = raw.into_typed::<ReportStatus>()?;
            out.push(StatusView {
                by: typed.header().origin.clone(),
                at: typed.header().created_at,
                status: typed.body().clone(),
            });
        }
        out.sort_by_key(|s| s.at);
        Ok(out)
    }

    /// Reports from other agencies held here, latest revision each, at most `limit`.
    pub fn received_reports(
        &self,
        origin: Option<&AgencyId>,
        limit: usize,
    ) -> Result<Vec<HeldReport>, AppError> {
        let mut out = Vec::new();
        for head in self.store.report_heads(origin, limit)? {
            let (origin, record_id) = (head.origin, head.record_id);
            if &origin == self.me() {
                continue;
            }
            let Some(raw) = self.store.record(&record_id)? else {
                continue;
            };
            let report = raw.into_typed::<Report>()?.body().clone();
            let items = self.report_items(&record_id, &report)?;
            out.push(HeldReport {
                origin,
                record_id,
                report,
                items,
            });
        }
        Ok(out)
    }

    /// At INTERPOL: records the illegal items of a received report revision that just became
    /// the report's head in the ICSE collection, in the ingest batch.
    pub(crate) fn index_icse(
        &self,
        batch: &mut StoreBatch<'_>,
        origin: &AgencyId,
        record_id: RecordId,
        report: &Report,
        items: &[MediaItem],
    ) -> Result<(), AppError> {
        if self.identity.certificate.subject.role != Role::Interpol {
            return Ok(());
        }
        for item in items.iter().filter(|i| i.classification().is_illegal()) {
            batch.put_icse(&IcseEntry {
                origin: origin.clone(),
                report_key: report.report_key,
                record_id,
                received_at: report.received_at,
                reported_url: report.reported_url.clone(),
                hosting_country: report.hosting.country,
                item: item.clone(),
            })?;
        }
        Ok(())
    }

    /// Queries the ICSE collection. Only current entries count: the item must still be in the
    /// latest revision of its report.
    pub fn icse(&self, query: &IcseQuery) -> Result<Vec<IcseEntry>, AppError> {
        let limit = query.limit.clamp(1, MAX_ICSE_RESULTS);
        let current = |entry: &IcseEntry| -> Result<bool, AppError> {
            Ok(self
                .store
                .report_head(&entry.origin, &entry.report_key)?
                .is_some_and(|(_, head)| head == entry.record_id))
        };
        let mut out = Vec::new();
        if let Some(sha256) = &query.sha256 {
            for entry in self.store.icse_by_hash(sha256, MAX_ICSE_RESULTS)? {
                if out.len() < limit && query.admits(&entry) && current(&entry)? {
                    out.push(entry);
                }
            }
            return Ok(out);
        }
        let mut failure = None;
        self.store.icse_newest_first(MAX_ICSE_SCAN, |entry| {
            if query.admits(&entry) {
                match current(&entry) {
                    Ok(true) => out.push(entry),
                    Ok(false) => {}
                    Err(error) => {
                        failure = Some(error);
                        return false;
                    }
                }
            }
            out.len() < limit
        })?;
        match failure {
            Some(error) => Err(error),
            None => Ok(out),
        }
    }
}
