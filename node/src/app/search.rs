//! Searching the reports this node holds, as far as `authorize()` lets its users see them.
//!
//! The index (`crate::search`) is built from the stored report heads on the first search and
//! kept current from then on: every path that moves a report head or withdraws a report marks
//! the report, and the next search re-reads the marked ones. What a document may show is
//! asked of `authorize()` once per (originator, hosting country, classes) combination, with a
//! representative report of that combination: the decision depends on nothing else (record
//! type, country, the classes of the items and the agreement's time), and the answers are
//! forgotten when the agreements change and every minute (agreements start and end).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use safeport_protocol::report::{
    Assessment, Assessor, CommittedItem, Hosting, IntakeChannel, MediaItem, Report,
};
use safeport_protocol::status::{ReportStatus, TakedownStatus};
use safeport_protocol::{AgencyId, Classification, Country, RecordId, Subject, Timestamp};

use super::access::Grant;
use super::agreements::AgreementBook;
use super::audit::{Actor, AuditAction};
use super::received::MAX_STATUSES;
use super::{App, AppError};
use crate::matching::pdq_index::bits_of;
use crate::search::spec::report_text;
use crate::search::{
    ClassSet, Doc, DocItem, HashQuery, ListQuery, MAX_RESULTS, Query, Results, SearchIndex,
    StatusQuery, Visibility, class_bit, digest_key,
};

/// Most reports indexed (beyond this a node needs a dedicated search deployment).
pub const MAX_INDEXED_REPORTS: usize = 20_000_000;
/// How long visibility answers are reused.
const VISIBILITY_TTL_MS: u64 = 60_000;

type VisibilityKey = (AgencyId, Option<Country>, ClassSet);

/// The index and what keeps it current.
#[derive(Default)]
pub(crate) struct SearchState {
    index: Option<SearchIndex>,
    /// Visibility answers, with the agreement book and time they were computed under.
    memo: HashMap<VisibilityKey, Visibility>,
    memo_book: Option<Arc<AgreementBook>>,
    memo_at: Timestamp,
}

/// Reports whose head moved since the last search.
#[derive(Default)]
pub(crate) struct Marked(Mutex<Vec<(AgencyId, [u8; 16])>>);

impl Marked {
    /// Marks a report for re-reading.
    pub(crate) fn mark(&self, origin: &AgencyId, report_key: &[u8; 16]) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((origin.clone(), *report_key));
    }

    fn take(&self) -> Vec<(AgencyId, [u8; 16])> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// A representative item of `class` (hashes of nothing), for visibility decisions.
fn representative_item(n: u8, class: Classification) -> MediaItem {
    MediaItem {
        salt: [n; 16],
        md5: [0; 16],
        sha1: [0; 20],
        sha256: [n; 32],
        pdq: None,
        mime_type: "image/jpeg".into(),
        size: 1,
        dimensions: None,
        source_url: "https://representative.invalid/".into(),
        assessment: Assessment {
            classification: class,
            assessor: None,
            assessed_at: None,
        },
    }
}

fn hosts_of(report: &Report) -> Vec<Box<str>> {
    let mut hosts: Vec<Box<str>> = std::iter::once(&report.reported_url)
        .chain(&report.redirects)
        .filter_map(|url| safeport_protocol::iwol::domain::url_host(url))
        .map(|h| h.to_lowercase().into_boxed_str())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

impl App {
    /// The document of a stored report revision.
    fn doc_of(
        &self,
        index: &mut SearchIndex,
        origin: &AgencyId,
        record_id: RecordId,
        statuses: &[RecordId],
    ) -> Result<Option<Doc>, AppError> {
        let Some(raw) = self.store.record(&record_id)? else {
            return Ok(None);
        };
        let report = raw.into_typed::<Report>()?.body().clone();
        let items = self.report_items(&record_id, &report)?;
        let status = self.latest_status(statuses)?;
        let Some(origin) = index.intern(origin) else {
            return Ok(None);
        };
        let doc_items = items
            .iter()
            .map(|item| DocItem {
                class: class_bit(item.classification()),
                md5: digest_key(&item.md5),
                sha1: digest_key(&item.sha1),
                sha256: digest_key(&item.sha256),
                pdq: item.pdq.as_ref().map(|p| bits_of(p.bits())),
                list: match &item.assessment.assessor {
                    Some(Assessor::HashList { list_id, .. }) => index.intern_list(list_id),
                    _ => 0,
                },
            })
            .collect();
        Ok(Some(Doc {
            origin,
            report_key: report.report_key,
            record_id,
            country: report.hosting.country,
            received_at: report.received_at,
            classes: items
                .iter()
                .fold(0, |set, item| set | class_bit(item.classification())),
            url: report.reported_url.clone().into_boxed_str(),
            text: report_text(&report).into_boxed_str(),
            hosts: hosts_of(&report).into_boxed_slice(),
            items: doc_items,
            status,
        }))
    }

    /// The latest of these status records (by signing time, then id).
    fn latest_status(&self, ids: &[RecordId]) -> Result<Option<TakedownStatus>, AppError> {
        let mut latest: Option<(Timestamp, RecordId, TakedownStatus)> = None;
        for id in ids {
            let Some(raw) = self.store.record(id)? else {
                continue;
            };
            let typed = raw.into_typed::<ReportStatus>()?;
            let candidate = (typed.header().created_at, *id, typed.body().status);
            if latest
                .as_ref()
                .is_none_or(|l| (l.0, l.1.0) < (candidate.0, candidate.1.0))
            {
                latest = Some(candidate);
            }
        }
        Ok(latest.map(|l| l.2))
    }

    /// Builds the index on first use, then re-reads the reports marked since.
    fn refresh_index(&self, state: &mut SearchState) -> Result<(), AppError> {
        // Marks are left inside open batches: take them only between batches, so the writes
        // they describe are visible to the reads below (a later batch marks again).
        let marked = self.store.between_batches(|| self.search_marks.take());
        if state.index.is_none() {
            // Marks from before the build are covered by it.
            drop(marked);
            let mut heads = Vec::new();
            self.store.visit_report_heads(None, |head| {
                heads.push((head.origin, head.report_key, head.record_id));
                heads.len() < MAX_INDEXED_REPORTS
            })?;
            let mut statuses: HashMap<(AgencyId, [u8; 16]), Vec<RecordId>> = HashMap::new();
            self.store.visit_report_statuses(|origin, key, id| {
                statuses.entry((origin, key)).or_default().push(id);
            })?;
            let mut index = SearchIndex::default();
            for (origin, report_key, record_id) in heads {
                let of_report = statuses
                    .get(&(origin.clone(), report_key))
                    .map_or(&[][..], Vec::as_slice);
                if let Some(doc) = self.doc_of(&mut index, &origin, record_id, of_report)? {
                    index.upsert(doc);
                }
            }
            state.index = Some(index);
            return Ok(());
        }
        let Some(index) = state.index.as_mut() else {
            return Ok(());
        };
        for (origin, key) in marked {
            match self.store.report_head(&origin, &key)? {
                Some((_, record_id)) => {
                    let statuses = self.store.report_statuses(&origin, &key, MAX_STATUSES)?;
                    if let Some(doc) = self.doc_of(index, &origin, record_id, &statuses)? {
                        index.upsert(doc);
                    }
                }
                None => index.remove(&origin, &key),
            }
        }
        Ok(())
    }

    /// What may be seen of reports of this combination, by `authorize()`.
    fn visibility(
        &self,
        origin: &AgencyId,
        country: Option<Country>,
        classes: ClassSet,
    ) -> Visibility {
        if origin == self.me() {
            return Visibility::Shown(classes);
        }
        let items: Vec<MediaItem> = Classification::ALL
            .iter()
            .enumerate()
            .filter(|(_, c)| classes & class_bit(**c) != 0)
            .map(|(i, c)| representative_item(i as u8, *c))
            .collect();
        let committed: Vec<CommittedItem> = items
            .iter()
            .filter_map(|item| CommittedItem::new(item.clone()).ok())
            .collect();
        let report = Report {
            report_key: [0; 16],
            revision: 1,
            reported_url: "https://representative.invalid/".into(),
            intake: IntakeChannel::PublicForm,
            received_at: self.now(),
            redirects: Vec::new(),
            hosting: Hosting { ip: None, country },
            page: None,
            media: committed.iter().map(|i| *i.commitment()).collect(),
        };
        let shown = |subject| matches!(self.grant_for(subject), Some(Grant::Agreement(_)));
        if !shown(Subject::Report {
            report: &report,
            items: &items,
        }) {
            return Visibility::Hidden;
        }
        let visible = committed
            .iter()
            .filter(|item| {
                shown(Subject::MediaItem {
                    report: &report,
                    items: &items,
                    item,
                })
            })
            .fold(0, |set, item| set | class_bit(item.item().classification()));
        Visibility::Shown(visible)
    }

    /// Searches the reports held, audited; only what may be seen is returned or counted.
    pub fn search_reports(
        &self,
        actor: &Actor,
        query: &Query,
        purpose: Option<&str>,
    ) -> Result<Results, AppError> {
        let results = self.find_reports(query, MAX_RESULTS)?;
        self.audit(actor, AuditAction::Search, &describe(query), purpose, None)?;
        Ok(results)
    }

    /// [`App::search_reports`] without the audit entry, for callers that audit what they do
    /// with the results; pages of up to `cap` results.
    pub(crate) fn find_reports(&self, query: &Query, cap: usize) -> Result<Results, AppError> {
        let mut state = self
            .search
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.refresh_index(&mut state)?;
        let book = self.agreements();
        let now = self.now();
        let stale = state
            .memo_book
            .as_ref()
            .is_none_or(|b| !Arc::ptr_eq(b, &book))
            || now.0.saturating_sub(state.memo_at.0) > VISIBILITY_TTL_MS;
        if stale {
            state.memo.clear();
            state.memo_book = Some(book);
            state.memo_at = now;
        }
        let SearchState { index, memo, .. } = &mut *state;
        let Some(index) = index.as_ref() else {
            return Err(AppError::Invalid("the search index is not built".into()));
        };
        Ok(index.search_up_to(query, cap, |doc, origin| {
            *memo
                .entry((origin.clone(), doc.country, doc.classes))
                .or_insert_with(|| self.visibility(origin, doc.country, doc.classes))
        }))
    }
}

/// The query as the audit trail records it.
pub(crate) fn describe(query: &Query) -> String {
    let mut parts = Vec::new();
    if let Some(c) = query.country {
        parts.push(format!("country={c}"));
    }
    if let Some(h) = &query.hotline {
        parts.push(format!("hotline={h}"));
    }
    if let Some(c) = query.classification {
        parts.push(format!("classification={}", c.as_str()));
    }
    if let Some(t) = query.since {
        parts.push(format!("since={t}"));
    }
    if let Some(t) = query.until {
        parts.push(format!("until={t}"));
    }
    if let Some(d) = &query.domain {
        parts.push(format!("domain={d}"));
    }
    if let Some(t) = &query.text {
        parts.push(format!("text={t:?}"));
    }
    match &query.hash {
        Some(HashQuery::Exact { algorithm, hex, .. }) => {
            parts.push(format!("hash={algorithm}:{hex}"));
        }
        Some(HashQuery::Pdq { bits, max_distance }) => {
            parts.push(format!(
                "hash=pdq:{} distance={max_distance}",
                hex::encode(bits)
            ));
        }
        None => {}
    }
    match &query.hash_list {
        Some(ListQuery::Any) => parts.push("hash_list=any".into()),
        Some(ListQuery::Named(name)) => parts.push(format!("hash_list={name}")),
        None => {}
    }
    match query.status {
        Some(StatusQuery::None) => parts.push("status=none".into()),
        Some(StatusQuery::Is(status)) => parts.push(format!("status={}", status.as_str())),
        None => {}
    }
    if parts.is_empty() {
        "all reports".into()
    } else {
        parts.join(" ")
    }
}
