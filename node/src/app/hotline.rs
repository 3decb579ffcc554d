//! The hotline's own workflow: a tip comes in (intake), the crawler's findings become a
//! report revision, analysts classify each media item and may correct the hosting country.
//! Every change is a new signed revision of the report, stored and shared (forwarding, ICSE)
//! in one batch with the hotline's internal state; what `authorize()` admits flows on its own.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use safeport_protocol::report::{
    Assessment, Assessor, Hosting, IntakeChannel, MAX_TEXT_LEN, MAX_URL_LEN, MediaItem,
    PageMetadata, Report,
};
use safeport_protocol::{Classification, Country, RecordId, Timestamp};

use super::{App, AppError};
use crate::media::MediaHashes;
use crate::store::Committed;
use crate::store::hotline::{CrawlProblem, CrawlStatus, LocalReport};

/// Longest reporter remark kept.
pub const MAX_REMARKS_LEN: usize = 8 * 1024;
/// Most crawl problems kept per report (the rest are counted in one line).
pub const MAX_PROBLEMS: usize = 500;

/// A tip as an analyst or a script enters it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intake {
    /// The reported URL.
    pub url: String,
    /// How it came in.
    pub channel: IntakeChannel,
    /// When it came in (now, if not given).
    pub received_at: Option<Timestamp>,
    /// The reporter's remarks, internal only.
    pub remarks: Option<String>,
}

/// What a crawl found, ready to become a revision.
#[derive(Debug, Clone)]
pub struct CrawlOutcome {
    /// Redirect targets, in order.
    pub redirects: Vec<String>,
    /// The final response.
    pub page: PageMetadata,
    /// The server's address.
    pub ip: Option<IpAddr>,
    /// The hosting country from the configured source.
    pub country: Option<Country>,
    /// Media fetched, hashed and stored in the blob store.
    pub media: Vec<CrawledItem>,
    /// What could not be fetched.
    pub problems: Vec<CrawlProblem>,
}

/// One media item the crawler fetched.
#[derive(Debug, Clone)]
pub struct CrawledItem {
    /// Where it came from.
    pub source_url: String,
    /// Its hashes (the bytes are in the blob store under `sha256`).
    pub hashes: MediaHashes,
    /// A hash-list match, if one classified it automatically.
    pub automatic: Option<Assessment>,
}

/// A report with everything its hotline knows: internal state, latest revision, its items.
#[derive(Debug, Clone)]
pub struct HotlineReport {
    /// Internal state.
    pub local: LocalReport,
    /// The latest signed revision.
    pub report: Report,
    /// Its id.
    pub record_id: RecordId,
    /// Its media items.
    pub items: Vec<MediaItem>,
    /// What the hotlines it was forwarded to reported doing about it.
    pub statuses: Vec<super::received::StatusView>,
}

/// Checks a reported URL: http(s), a host, no credentials, bounded length.
pub fn check_reported_url(text: &str) -> Result<String, AppError> {
    let invalid = |why: &str| AppError::Invalid(format!("reported URL {why}"));
    if text.len() > MAX_URL_LEN {
        return Err(invalid(&format!("is longer than {MAX_URL_LEN} bytes")));
    }
    let url =
        reqwest::Url::parse(text.trim()).map_err(|e| invalid(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("is not an http(s) URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    Ok(url.into())
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), AppError> {
    if text.len() > max {
        return Err(AppError::Invalid(format!(
            "{what} is longer than {max} bytes"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(AppError::Invalid(format!(
            "{what} contains control characters"
        )));
    }
    Ok(())
}

/// A report key that sorts by intake time: milliseconds, then 64 random bits.
fn new_report_key(now: Timestamp) -> Result<[u8; 16], AppError> {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&now.0.to_be_bytes());
    getrandom::fill(&mut key[8..]).map_err(|e| AppError::Invalid(format!("no randomness: {e}")))?;
    Ok(key)
}

impl App {
    /// Takes in a tip: signs revision 1 (URL and intake only), keeps the remarks internally and
    /// queues the crawl, in one batch. Invalid input changes nothing.
    pub fn intake(&self, intake: Intake) -> Result<([u8; 16], Committed), AppError> {
        let url = check_reported_url(&intake.url)?;
        if let Some(remarks) = &intake.remarks {
            check_text("remarks", remarks, MAX_REMARKS_LEN)?;
        }
        let now = self.now();
        let received_at = intake.received_at.unwrap_or(now);
        if received_at > now {
            return Err(AppError::Invalid("received_at lies in the future".into()));
        }
        let report_key = new_report_key(now)?;
        let report = Report {
            report_key,
            revision: 1,
            reported_url: url.clone(),
            intake: intake.channel,
            received_at,
            redirects: Vec::new(),
            hosting: Hosting {
                ip: None,
                country: None,
            },
            page: None,
            media: Vec::new(),
        };
        let local = LocalReport {
            report_key,
            reported_url: url,
            channel: intake.channel,
            received_at,
            remarks: intake.remarks,
            crawl: CrawlStatus::Queued,
            problems: Vec::new(),
            country_set_by: None,
            revision: 1,
        };
        let _revising = self.lock_revisions();
        let (record, _guard) = self.sign_own(report)?;
        let committed =
            self.store_and_share_with(record.raw(), Some((record.body(), &[])), |batch| {
                batch.put_local_report(&local)?;
                batch.queue_crawl(&report_key)?;
                Ok(())
            })?;
        Ok((report_key, committed))
    }

    /// A report of this hotline with its latest revision and items.
    pub fn hotline_report(&self, report_key: &[u8; 16]) -> Result<HotlineReport, AppError> {
        let local = self
            .store
            .local_report(report_key)?
            .ok_or(AppError::NotFound)?;
        let (_, head) = self
            .store
            .report_head(self.me(), report_key)?
            .ok_or(AppError::NotFound)?;
        let record_id = head;
        let record = self.store.record(&record_id)?.ok_or(AppError::NotFound)?;
        let report = record.into_typed::<Report>()?.body().clone();
        let items = self.report_items(&record_id, &report)?;
        let statuses = self.statuses_of(self.me(), report_key)?;
        Ok(HotlineReport {
            local,
            report,
            record_id,
            items,
            statuses,
        })
    }

    /// Marks a queued report as being fetched.
    pub fn crawl_started(&self, report_key: &[u8; 16]) -> Result<(), AppError> {
        self.update_local(report_key, |local| {
            local.crawl = CrawlStatus::Fetching { since: self.now() };
        })
    }

    /// Records a failed crawl: the report stays, off the queue, with the reason.
    pub fn crawl_failed(&self, report_key: &[u8; 16], reason: &str) -> Result<(), AppError> {
        let _revising = self.lock_revisions();
        let mut local = self
            .store
            .local_report(report_key)?
            .ok_or(AppError::NotFound)?;
        local.crawl = CrawlStatus::Failed {
            at: self.now(),
            reason: reason.chars().take(MAX_TEXT_LEN).collect(),
        };
        let mut batch = self.store.batch();
        batch.put_local_report(&local)?;
        batch.unqueue_crawl(report_key)?;
        batch.commit()?;
        self.changed();
        Ok(())
    }

    /// Queues a report for another crawl (after a failure, or to see the page again).
    pub fn recrawl(&self, report_key: &[u8; 16]) -> Result<(), AppError> {
        let _revising = self.lock_revisions();
        let mut local = self
            .store
            .local_report(report_key)?
            .ok_or(AppError::NotFound)?;
        local.crawl = CrawlStatus::Queued;
        let mut batch = self.store.batch();
        batch.put_local_report(&local)?;
        batch.queue_crawl(report_key)?;
        batch.commit()?;
        self.changed();
        Ok(())
    }

    /// Turns a crawl's findings into the next revision. Items crawled again keep their
    /// assessment; an analyst's country correction outlives the crawl.
    pub fn crawl_done(
        &self,
        report_key: &[u8; 16],
        outcome: CrawlOutcome,
    ) -> Result<Committed, AppError> {
        let now = self.now();
        self.revise(report_key, |report, items, local| {
            // Assessments of the previous revision's items, by content.
            let previous: HashMap<[u8; 32], Assessment> = items
                .iter()
                .map(|item| (item.sha256, item.assessment.clone()))
                .collect();
            let mut seen = HashSet::new();
            let mut fresh = Vec::with_capacity(outcome.media.len());
            for crawled in outcome.media {
                // The same content found under two URLs is one item (the first URL).
                if !seen.insert(crawled.hashes.sha256) {
                    continue;
                }
                let assessment = match (previous.get(&crawled.hashes.sha256), crawled.automatic) {
                    (Some(previous), _)
                        if previous.classification != Classification::Unassessed =>
                    {
                        previous.clone()
                    }
                    (_, Some(automatic)) => automatic,
                    (previous, None) => previous.cloned().unwrap_or_else(Assessment::unassessed),
                };
                let mut salt = [0u8; 16];
                getrandom::fill(&mut salt)
                    .map_err(|e| AppError::Invalid(format!("no randomness: {e}")))?;
                let hashes = crawled.hashes;
                fresh.push(MediaItem {
                    salt,
                    md5: hashes.md5,
                    sha1: hashes.sha1,
                    sha256: hashes.sha256,
                    pdq: hashes.pdq,
                    mime_type: hashes.mime_type,
                    size: hashes.size,
                    dimensions: hashes.dimensions,
                    source_url: crawled.source_url,
                    assessment,
                });
            }
            *items = fresh;
            report.redirects = outcome.redirects;
            report.page = Some(outcome.page);
            report.hosting.ip = outcome.ip;
            if local.country_set_by.is_none() {
                report.hosting.country = outcome.country;
            }
            let mut problems = outcome.problems;
            if problems.len() > MAX_PROBLEMS {
                let more = problems.len() - MAX_PROBLEMS;
                problems.truncate(MAX_PROBLEMS);
                problems.push(CrawlProblem {
                    url: String::new(),
                    reason: format!("{more} more problems not listed"),
                });
            }
            local.problems = problems;
            local.crawl = CrawlStatus::Done { at: now };
            Ok(())
        })
    }

    /// An analyst's verdict on one media item (by SHA-256): a new revision.
    pub fn classify(
        &self,
        report_key: &[u8; 16],
        sha256: &[u8; 32],
        classification: Classification,
        analyst: &str,
    ) -> Result<Committed, AppError> {
        check_text("analyst reference", analyst, MAX_TEXT_LEN)?;
        if analyst.trim().is_empty() {
            return Err(AppError::Invalid(
                "an assessment needs an analyst reference".into(),
            ));
        }
        let now = self.now();
        self.revise(report_key, |_, items, _| {
            let item = items
                .iter_mut()
                .find(|item| &item.sha256 == sha256)
                .ok_or(AppError::NotFound)?;
            item.assessment = Assessment {
                classification,
                assessor: Some(Assessor::Analyst(analyst.to_owned())),
                assessed_at: Some(now),
            };
            Ok(())
        })
    }

    /// An analyst corrects the hosting country: a new revision; later crawls keep it.
    pub fn set_hosting_country(
        &self,
        report_key: &[u8; 16],
        country: Country,
        analyst: &str,
    ) -> Result<Committed, AppError> {
        check_text("analyst reference", analyst, MAX_TEXT_LEN)?;
        self.revise(report_key, |report, _, local| {
            report.hosting.country = Some(country);
            local.country_set_by = Some(analyst.to_owned());
            Ok(())
        })
    }

    /// Read-modify-write of a report: applies `change` to the latest revision, its items and
    /// the internal state, then signs, stores and shares the next revision with the internal
    /// state in one batch. Nothing is written if `change` or validation fails.
    fn revise(
        &self,
        report_key: &[u8; 16],
        change: impl FnOnce(&mut Report, &mut Vec<MediaItem>, &mut LocalReport) -> Result<(), AppError>,
    ) -> Result<Committed, AppError> {
        let _revising = self.lock_revisions();
        let HotlineReport {
            mut local,
            mut report,
            mut items,
            ..
        } = self.hotline_report(report_key)?;
        change(&mut report, &mut items, &mut local)?;
        for item in &items {
            item.validate().map_err(AppError::Invalid)?;
        }
        report.revision = report
            .revision
            .checked_add(1)
            .ok_or_else(|| AppError::Invalid("too many revisions".into()))?;
        report.media = items
            .iter()
            .map(MediaItem::commitment)
            .collect::<Result<_, _>>()
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        local.revision = report.revision;
        let crawl_finished = matches!(local.crawl, CrawlStatus::Done { .. });
        let (record, _guard) = self.sign_own(report)?;
        self.store_and_share_with(record.raw(), Some((record.body(), &items)), |batch| {
            batch.put_local_report(&local)?;
            if crawl_finished {
                batch.unqueue_crawl(report_key)?;
            }
            Ok(())
        })
    }

    fn update_local(
        &self,
        report_key: &[u8; 16],
        change: impl FnOnce(&mut LocalReport),
    ) -> Result<(), AppError> {
        let _revising = self.lock_revisions();
        let mut local = self
            .store
            .local_report(report_key)?
            .ok_or(AppError::NotFound)?;
        change(&mut local);
        let mut batch = self.store.batch();
        batch.put_local_report(&local)?;
        batch.commit()?;
        self.changed();
        Ok(())
    }
}
