//! What this node's users may see of the reports it holds, decided by `authorize()`: a report
//! from another agency is shown (and packaged, and its media served) only while an agreement
//! from an agency that provides to this node covers it, and each of its items only as far as
//! such an agreement covers that item. Records held under an agreement that has since ended
//! or narrowed stay stored but are invisible, exactly like records that do not exist.

use safeport_protocol::report::{CommittedItem, MediaItem, Report};
use safeport_protocol::{AgencyId, Decision, RecordId, Request, Subject, authorize};

use super::{App, AppError};

/// Which agreement lets this node show something: one of its agreements, or none for its own
/// records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The node's own record.
    Own,
    /// Allowed by this agreement.
    Agreement([u8; 16]),
}

impl Grant {
    /// `own`, or the agreement id in hex.
    pub fn label(self) -> String {
        match self {
            Grant::Own => "own".into(),
            Grant::Agreement(id) => hex::encode(id),
        }
    }
}

/// A media item as far as it may be shown.
#[derive(Debug, Clone)]
pub struct VisibleItem {
    /// The item.
    pub item: MediaItem,
    /// What allows its metadata and hashes.
    pub grant: Grant,
    /// What allows its content, if anything does.
    pub content: Option<Grant>,
}

/// A report as far as it may be shown.
#[derive(Debug, Clone)]
pub struct VisibleReport {
    /// Its originator.
    pub origin: AgencyId,
    /// The revision's record.
    pub record_id: RecordId,
    /// The report.
    pub report: Report,
    /// What allows it.
    pub grant: Grant,
    /// The items that may be shown.
    pub items: Vec<VisibleItem>,
}

impl App {
    /// The first agreement from a provider of this node that allows `subject`.
    pub(crate) fn grant_for(&self, subject: Subject<'_>) -> Option<Grant> {
        let book = self.agreements();
        let agreements = book.active();
        let mut providers: Vec<&AgencyId> = agreements
            .iter()
            .map(|a| &a.terms().provider)
            .filter(|p| *p != self.me())
            .collect();
        providers.sort();
        providers.dedup();
        providers.into_iter().find_map(|provider| {
            let request = Request {
                holder: provider,
                recipient: self.me(),
                now: self.now(),
            };
            match authorize(agreements, request, subject) {
                Decision::Allow {
                    agreement: Some(id),
                } => Some(Grant::Agreement(id)),
                _ => None,
            }
        })
    }

    /// The report `(origin, report_key)`'s latest revision as this node may show it;
    /// [`AppError::NotFound`] when it is not held or not visible.
    pub fn visible_report(
        &self,
        origin: &AgencyId,
        report_key: &[u8; 16],
    ) -> Result<VisibleReport, AppError> {
        let (_, record_id) = self
            .store
            .report_head(origin, report_key)?
            .ok_or(AppError::NotFound)?;
        let raw = self.store.record(&record_id)?.ok_or(AppError::NotFound)?;
        let report = raw.into_typed::<Report>()?.body().clone();
        let items = self.report_items(&record_id, &report)?;
        self.visible(origin, record_id, report, &items)
            .ok_or(AppError::NotFound)
    }

    /// `report` with `items`, as this node may show it, or `None`.
    pub fn visible(
        &self,
        origin: &AgencyId,
        record_id: RecordId,
        report: Report,
        items: &[MediaItem],
    ) -> Option<VisibleReport> {
        if origin == self.me() {
            let items = items
                .iter()
                .map(|item| VisibleItem {
                    item: item.clone(),
                    grant: Grant::Own,
                    content: Some(Grant::Own),
                })
                .collect();
            return Some(VisibleReport {
                origin: origin.clone(),
                record_id,
                report,
                grant: Grant::Own,
                items,
            });
        }
        let grant = self.grant_for(Subject::Report {
            report: &report,
            items,
        })?;
        let visible_items = items
            .iter()
            .filter_map(|item| {
                // An item that does not encode has no commitment and is in no report.
                let item = &CommittedItem::new(item.clone()).ok()?;
                let subject = Subject::MediaItem {
                    report: &report,
                    items,
                    item,
                };
                let grant = self.grant_for(subject)?;
                let content = self.grant_for(Subject::MediaContent {
                    report: &report,
                    items,
                    item,
                });
                Some(VisibleItem {
                    item: item.item().clone(),
                    grant,
                    content,
                })
            })
            .collect();
        Some(VisibleReport {
            origin: origin.clone(),
            record_id,
            report,
            grant,
            items: visible_items,
        })
    }
}
