//! What a node shows of the IWOL: the list held (summary, ISP exports) and each suggestion with
//! its evidence, the agencies that confirmed it, and INTERPOL's decision, assembled from the
//! signed records through the store's IWOL index.

use safeport_protocol::iwol::export::{self, ExportFormat, RpzOptions};
use safeport_protocol::iwol::{
    IwolDecision, IwolList, IwolSuggestion, Outcome, check_confirmations,
};
use safeport_protocol::{AgencyId, RecordId};

use super::{App, AppError};
use crate::store::iwol::SuggestionPart;

/// Most suggestions one listing shows.
pub const MAX_SUGGESTIONS_LISTED: usize = 500;

/// A suggestion's status as this node knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuggestionStatus {
    /// Waiting for INTERPOL's decision.
    Open,
    /// Listed.
    Accepted,
    /// Not listed.
    Rejected,
}

/// One agency's part in a suggestion (the suggestion itself or a confirmation).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignedPart {
    /// Its record.
    pub record_id: String,
    /// The agency.
    pub agency: String,
    /// When it signed.
    pub at: String,
    /// The criteria it checked.
    pub criteria: Vec<&'static str>,
    /// The reports it cited.
    pub reports: Vec<EvidenceView>,
    /// How many media items it cited.
    pub media_items: usize,
    /// Its note.
    pub note: Option<String>,
}

/// A cited report, and whether this node holds it too.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvidenceView {
    /// The report record.
    pub record_id: String,
    /// Its URL on the domain.
    pub url: String,
    /// Its hosting country.
    pub hosting_country: Option<String>,
    /// Baseline items.
    pub baseline_items: u32,
    /// Nationally illegal items.
    pub nationally_illegal_items: u32,
    /// Whether this node holds the report.
    pub held_here: bool,
}

/// INTERPOL's decision, as shown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecisionView {
    /// Its record.
    pub record_id: String,
    /// `accepted` or `rejected`.
    pub outcome: SuggestionStatus,
    /// The list version that first holds the domain (accepted only).
    pub list_version: Option<u64>,
    /// The reviewer's reason.
    pub reason: String,
    /// When.
    pub at: String,
}

/// A suggestion with its confirmations and decision.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SuggestionView {
    /// The suggestion's record.
    pub id: String,
    /// The domain.
    pub domain: String,
    /// Open, accepted or rejected.
    pub status: SuggestionStatus,
    /// The suggestion; `None` while only confirmations of it are held.
    pub suggestion: Option<SignedPart>,
    /// Other agencies' confirmations.
    pub confirmations: Vec<SignedPart>,
    /// The distinct agencies behind it.
    pub agencies: Vec<String>,
    /// Whether INTERPOL may accept it now (open, and enough agencies).
    pub acceptable: bool,
    /// INTERPOL's decision.
    pub decision: Option<DecisionView>,
}

/// The list held, for status pages and the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IwolStatus {
    /// The version.
    pub version: u64,
    /// Domains listed.
    pub domains: u32,
    /// When published.
    pub published_at: String,
    /// When it expires.
    pub expires_at: String,
    /// Whether it has expired (ISPs keep blocking with it; flagged stale).
    pub stale: bool,
}

/// An export of the list held.
#[derive(Debug, Clone)]
pub struct IwolExport {
    /// The text.
    pub text: String,
    /// The version exported.
    pub version: u64,
    /// Whether that version is stale.
    pub stale: bool,
}

impl App {
    /// The version of the list held, if any.
    pub fn iwol_list(&self) -> Result<Option<IwolList>, AppError> {
        let Some(held) = self.store.held_iwol()? else {
            return Ok(None);
        };
        let raw = self.store.record(&held.record)?.ok_or(AppError::NotFound)?;
        Ok(Some(raw.into_typed::<IwolList>()?.body().clone()))
    }

    /// The list held, summarised.
    pub fn iwol_status(&self) -> Result<Option<IwolStatus>, AppError> {
        let now = self.now();
        Ok(self.store.held_iwol()?.map(|held| IwolStatus {
            version: held.version,
            domains: held.domains,
            published_at: held.published_at.to_string(),
            expires_at: held.expires_at.to_string(),
            stale: now >= held.expires_at,
        }))
    }

    /// The list held in an ISP format.
    pub fn iwol_export(
        &self,
        format: ExportFormat,
        rpz: &RpzOptions,
    ) -> Result<IwolExport, AppError> {
        let list = self.iwol_list()?.ok_or(AppError::NotFound)?;
        Ok(IwolExport {
            text: export::export(&list, format, rpz),
            version: list.version,
            stale: list.is_stale(self.now()),
        })
    }

    /// The suggestions held (newest first), optionally only those with `status`.
    pub fn iwol_suggestions(
        &self,
        status: Option<SuggestionStatus>,
    ) -> Result<Vec<SuggestionView>, AppError> {
        let mut views = Vec::new();
        let mut after = None;
        loop {
            let ids = self.store.iwol_suggestion_ids(after.as_ref(), 500)?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            for id in &ids {
                let view = self.iwol_suggestion(id)?;
                if status.is_none_or(|s| s == view.status) {
                    views.push(view);
                }
            }
            if views.len() >= MAX_SUGGESTIONS_LISTED {
                break;
            }
            after = Some(last);
        }
        views.sort_by(|a, b| {
            let at = |v: &SuggestionView| v.suggestion.as_ref().map(|s| s.at.clone());
            at(b).cmp(&at(a))
        });
        views.truncate(MAX_SUGGESTIONS_LISTED);
        Ok(views)
    }

    /// One suggestion with its confirmations and decision.
    pub fn iwol_suggestion(&self, id: &RecordId) -> Result<SuggestionView, AppError> {
        let story = self.store.iwol_story(id)?;
        if story.is_empty() {
            return Err(AppError::NotFound);
        }
        let mut view = SuggestionView {
            id: id.to_hex(),
            domain: String::new(),
            status: SuggestionStatus::Open,
            suggestion: None,
            confirmations: Vec::new(),
            agencies: Vec::new(),
            acceptable: false,
            decision: None,
        };
        for (part, record) in story {
            let Some(raw) = self.store.record(&record)? else {
                continue;
            };
            let at = raw.header().created_at.to_string();
            let agency = raw.header().origin.to_string();
            match part {
                SuggestionPart::Suggestion | SuggestionPart::Confirmation => {
                    let typed = raw.into_typed::<IwolSuggestion>()?;
                    let body = typed.body();
                    view.domain = body.domain.to_string();
                    if !view.agencies.contains(&agency) {
                        view.agencies.push(agency.clone());
                    }
                    let signed = self.signed_part(record, agency, at, body)?;
                    if part == SuggestionPart::Suggestion {
                        view.suggestion = Some(signed);
                    } else {
                        view.confirmations.push(signed);
                    }
                }
                SuggestionPart::Decision => {
                    let typed = raw.into_typed::<IwolDecision>()?;
                    let body = typed.body();
                    view.domain = body.domain.to_string();
                    let (outcome, list_version) = match body.outcome {
                        Outcome::Accepted { list_version } => {
                            (SuggestionStatus::Accepted, Some(list_version))
                        }
                        Outcome::Rejected => (SuggestionStatus::Rejected, None),
                    };
                    view.status = outcome;
                    view.decision = Some(DecisionView {
                        record_id: record.to_hex(),
                        outcome,
                        list_version,
                        reason: body.reason.clone(),
                        at,
                    });
                }
            }
        }
        view.agencies.sort();
        let agencies: Vec<AgencyId> = view
            .agencies
            .iter()
            .filter_map(|a| AgencyId::new(a).ok())
            .collect();
        view.acceptable = view.status == SuggestionStatus::Open
            && view.suggestion.is_some()
            && check_confirmations(&agencies).is_ok();
        Ok(view)
    }

    fn signed_part(
        &self,
        record: RecordId,
        agency: String,
        at: String,
        body: &IwolSuggestion,
    ) -> Result<SignedPart, AppError> {
        let mut reports = Vec::new();
        for report in &body.evidence.reports {
            reports.push(EvidenceView {
                record_id: report.record.to_hex(),
                url: report.url.clone(),
                hosting_country: report.hosting_country.map(|c| c.to_string()),
                baseline_items: report.baseline_items,
                nationally_illegal_items: report.nationally_illegal_items,
                held_here: self.store.record(&report.record)?.is_some(),
            });
        }
        Ok(SignedPart {
            record_id: record.to_hex(),
            agency,
            at,
            criteria: body.criteria.iter().map(|c| c.as_str()).collect(),
            reports,
            media_items: body.evidence.media.len(),
            note: body.note.clone(),
        })
    }
}
