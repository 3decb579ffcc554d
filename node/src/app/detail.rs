//! What an investigator sees of one report or one media item, each through `access.rs` (so
//! through `authorize()`, per revision and per item) and audited:
//! - a report's detail: its current revision with crawl metadata and every visible item with
//!   its hashes, classification and who classified it; every earlier revision held, as far as
//!   each may be shown; and the takedown statuses held about it;
//! - a media item's detail: every report held where the same SHA-256 occurs (visible
//!   occurrences only), and which hash lists match its hashes.
//!
//! Anything not visible answers [`AppError::NotFound`], exactly like something never held.

use safeport_protocol::AgencyId;
use safeport_protocol::hashes::HashAlgorithm;
use safeport_protocol::report::{Assessor, MediaItem, Report};
use serde_json::{Value, json};

use super::access::{VisibleItem, VisibleReport};
use super::audit::{Actor, AuditAction};
use super::hashlists::ListMatch;
use super::{App, AppError};
use crate::media::pdq;
use crate::search::{HashQuery, MAX_RESULTS, Query};

/// Who classified an item, as shown: `analyst:REF`, `hash-list:LIST@VERSION`, or none.
pub fn assessor_label(item: &MediaItem) -> Option<String> {
    match &item.assessment.assessor {
        Some(Assessor::Analyst(reference)) => Some(format!("analyst:{reference}")),
        Some(Assessor::HashList { list_id, version }) => {
            Some(format!("hash-list:{list_id}@{version}"))
        }
        None => None,
    }
}

/// What an item is: every hash, type, size and dimensions.
fn content_json(item: &MediaItem) -> Value {
    json!({
        "sha256": hex::encode(item.sha256),
        "md5": hex::encode(item.md5),
        "sha1": hex::encode(item.sha1),
        "pdq": item.pdq.as_ref().map(|p| hex::encode(p.bits())),
        "pdq_quality": item.pdq.as_ref().map(|p| p.quality()),
        "mime_type": item.mime_type,
        "size": item.size,
        "dimensions": item.dimensions,
    })
}

/// An item as details and packages show it: what it is, where it came from, who classified
/// it, and the agreement that allows it.
pub fn item_json(visible: &VisibleItem) -> Value {
    let item = &visible.item;
    let mut view = content_json(item);
    view["source_url"] = json!(item.source_url);
    view["classification"] = json!(item.classification().as_str());
    view["classified_by"] = json!(assessor_label(item));
    view["classified_at"] = json!(item.assessment.assessed_at.map(|t| t.to_string()));
    view["agreement"] = json!(visible.grant.label());
    view["content_granted"] = json!(visible.content.is_some());
    view
}

/// A report as details and packages show it: crawl metadata and its visible items.
pub fn report_json(visible: &VisibleReport) -> Value {
    let report = &visible.report;
    json!({
        "record_id": visible.record_id.to_hex(),
        "origin": visible.origin.as_str(),
        "report_key": hex::encode(report.report_key),
        "revision": report.revision,
        "reported_url": report.reported_url,
        "final_url": report.final_url(),
        "redirects": report.redirects,
        "intake": format!("{:?}", report.intake),
        "received_at": report.received_at.to_string(),
        "hosting": {
            "ip": report.hosting.ip.map(|ip| ip.to_string()),
            "country": report.hosting.country.map(|c| c.to_string()),
        },
        "page": report.page.as_ref().map(|page| json!({
            "http_status": page.http_status,
            "title": page.title,
            "headers": page.headers,
            "fetched_at": page.fetched_at.to_string(),
        })),
        "agreement": visible.grant.label(),
        "items": visible.items.iter().map(item_json).collect::<Vec<_>>(),
    })
}

impl App {
    /// The detail of report `(origin, report_key)`; audited.
    pub fn report_detail(
        &self,
        actor: &Actor,
        origin: &AgencyId,
        report_key: &[u8; 16],
    ) -> Result<Value, AppError> {
        let current = self.visible_report(origin, report_key)?;
        let mut revisions = Vec::new();
        for (revision, record_id) in self.store.report_revisions(origin, report_key)? {
            let Some(raw) = self.store.record(&record_id)? else {
                continue;
            };
            let signed_at = raw.header().created_at;
            let report: Report = raw.into_typed::<Report>()?.body().clone();
            let items = self.report_items(&record_id, &report)?;
            // Each revision is judged on its own: an earlier one may have had items of a class
            // this node may not see.
            if let Some(visible) = self.visible(origin, record_id, report, &items) {
                revisions.push(json!({
                    "revision": revision,
                    "record_id": record_id.to_hex(),
                    "signed_at": signed_at.to_string(),
                    "hosting_country": visible.report.hosting.country.map(|c| c.to_string()),
                    "items": visible.items.iter().map(|v| json!({
                        "sha256": hex::encode(v.item.sha256),
                        "classification": v.item.classification().as_str(),
                        "classified_by": assessor_label(&v.item),
                    })).collect::<Vec<_>>(),
                }));
            }
        }
        let statuses: Vec<Value> = self
            .statuses_of(origin, report_key)?
            .into_iter()
            .map(|s| {
                json!({
                    "by": s.by.as_str(),
                    "at": s.at.to_string(),
                    "status": s.status.status.as_str(),
                    "note": s.status.note,
                })
            })
            .collect();
        let target = format!("report {}", current.record_id.to_hex());
        self.audit(actor, AuditAction::ViewReport, &target, None, None)?;
        let mut detail = report_json(&current);
        detail["revisions"] = json!(revisions);
        detail["statuses"] = json!(statuses);
        Ok(detail)
    }

    /// Where media item `sha256` occurs among the reports this node may show, and which hash
    /// lists match it; audited. Not found when no visible report holds it.
    pub fn media_detail(&self, actor: &Actor, sha256: &[u8; 32]) -> Result<Value, AppError> {
        let query = Query {
            hash: Some(HashQuery::exact(HashAlgorithm::Sha256, sha256)),
            limit: MAX_RESULTS,
            ..Query::default()
        };
        let hits = self.find_reports(&query, MAX_RESULTS)?;
        let mut occurrences = Vec::new();
        let mut found: Option<MediaItem> = None;
        for hit in &hits.page {
            let visible = match self.visible_report(&hit.origin, &hit.doc.report_key) {
                Ok(visible) => visible,
                Err(AppError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            // The index matched on a 64-bit key of the digest: the whole digest decides.
            for v in visible.items.iter().filter(|v| &v.item.sha256 == sha256) {
                occurrences.push(json!({
                    "origin": visible.origin.as_str(),
                    "report_key": hex::encode(visible.report.report_key),
                    "record_id": visible.record_id.to_hex(),
                    "reported_url": visible.report.reported_url,
                    "hosting_country": visible.report.hosting.country.map(|c| c.to_string()),
                    "received_at": visible.report.received_at.to_string(),
                    "source_url": v.item.source_url,
                    "classification": v.item.classification().as_str(),
                    "classified_by": assessor_label(&v.item),
                    "agreement": v.grant.label(),
                    "content_granted": v.content.is_some(),
                }));
                found.get_or_insert_with(|| v.item.clone());
            }
        }
        let item = found.ok_or(AppError::NotFound)?;
        let lists = self.lists_matching(&item)?;
        self.audit(
            actor,
            AuditAction::ViewMedia,
            &format!("media {}", hex::encode(sha256)),
            None,
            None,
        )?;
        let mut detail = content_json(&item);
        detail["occurrences"] = json!(occurrences);
        detail["more_occurrences"] = json!(hits.total > hits.page.len() as u64);
        detail["hash_lists"] = json!(lists);
        Ok(detail)
    }

    /// The hash lists that hold one of `item`'s digests, or its PDQ hash within the matching
    /// distance (when the hash is of usable quality).
    fn lists_matching(&self, item: &MediaItem) -> Result<Vec<ListMatch>, AppError> {
        let mut out = self.match_digests(item.sha256, item.md5, item.sha1)?;
        if let Some(hash) = &item.pdq
            && hash.quality() >= pdq::MIN_MATCH_QUALITY
        {
            out.extend(self.match_pdq(&[*hash.bits()], pdq::MATCH_DISTANCE));
        }
        Ok(out)
    }
}
