//! The IWOL on a node: a hotline or police analyst suggests a domain (every criterion checked,
//! evidence from reports this node holds) or confirms another agency's suggestion; INTERPOL's
//! reviewer accepts (only with two agencies behind it) or rejects, always with a reason;
//! INTERPOL publishes each new version of the list, and delists clean domains; every node
//! shows the suggestions it holds and exports the list it holds for ISPs.
//! Records between nodes: [`super::iwol_sync`]; what is shown: [`super::iwol_views`].

use safeport_protocol::iwol::{
    Criterion, Domain, Evidence, EvidenceMedia, EvidenceReport, IwolDecision, IwolSuggestion,
    ListChange, MAX_EVIDENCE_MEDIA, Outcome, check_confirmations, domain, next_version,
};
use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::{AgencyId, RecordBody, RecordId, RecordType, Role};

use super::{App, AppError};
use crate::store::Committed;

pub use super::iwol_views::{
    DecisionView, EvidenceView, IwolExport, IwolStatus, SignedPart, SuggestionStatus,
    SuggestionView,
};

/// Validity of a published version unless the reviewer gives another.
pub const DEFAULT_VALID_DAYS: u64 = 30;
/// Longest validity a reviewer may give (the protocol's bound).
pub const MAX_VALID_DAYS: u64 = 366;
/// "Online within the last three months", as the evidence must show it.
const THREE_MONTHS_MS: u64 = 92 * 24 * 3600 * 1000;

/// A suggestion (or, with `confirms`, a confirmation) as an analyst makes it.
#[derive(Debug, Clone, Default)]
pub struct SuggestRequest {
    /// The domain as typed (a confirmation may leave it out: the suggestion's is taken).
    pub domain: Option<String>,
    /// The criteria the analyst checked (every one is required).
    pub criteria: Vec<Criterion>,
    /// Report records held here that show the domain's material.
    pub reports: Vec<RecordId>,
    /// SHA-256s of illegal items of those reports; empty for all of them.
    pub media: Vec<[u8; 32]>,
    /// A note for the reviewer.
    pub note: Option<String>,
}

/// What INTERPOL's reviewer decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    /// List the domain.
    Accept,
    /// Do not list it.
    Reject,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::Invalid(message.into())
}

impl App {
    /// This node's certified role.
    pub(crate) fn my_role(&self) -> Role {
        self.identity.certificate.subject.role
    }

    /// Suggests a domain, or with `confirms`, confirms another agency's suggestion.
    pub fn suggest_iwol(
        &self,
        request: SuggestRequest,
        confirms: Option<RecordId>,
    ) -> Result<(RecordId, Committed), AppError> {
        if !matches!(self.my_role(), Role::Hotline | Role::Lea) {
            return Err(invalid("only hotlines and police suggest IWOL domains"));
        }
        let typed = match &request.domain {
            Some(text) => Some(Domain::normalise(text).map_err(|e| invalid(e.to_string()))?),
            None => None,
        };
        let domain = match confirms {
            Some(first) => self.confirmable(&first, typed)?,
            None => {
                let domain = typed.ok_or_else(|| invalid("a suggestion names a domain"))?;
                self.not_suggested_yet(&domain)?;
                domain
            }
        };
        let mut criteria = request.criteria.clone();
        criteria.sort();
        criteria.dedup();
        let evidence = self.evidence(&domain, &request)?;
        let suggestion = IwolSuggestion {
            domain,
            confirms,
            criteria,
            evidence,
            note: request.note.filter(|n| !n.trim().is_empty()),
        };
        suggestion.validate().map_err(AppError::Invalid)?;
        self.publish_iwol_record(suggestion, |_| Ok(()))
    }

    /// The domain of suggestion `first`, which this node may confirm.
    fn confirmable(&self, first: &RecordId, typed: Option<Domain>) -> Result<Domain, AppError> {
        let view = self.iwol_suggestion(first)?;
        let Some(part) = &view.suggestion else {
            return Err(AppError::NotFound);
        };
        if view.status != SuggestionStatus::Open {
            return Err(invalid("this suggestion has been decided already"));
        }
        if view.agencies.iter().any(|a| a == self.me().as_str()) {
            return Err(invalid(if part.agency == self.me().as_str() {
                "an agency cannot confirm its own suggestion"
            } else {
                "this agency has confirmed the suggestion already"
            }));
        }
        let domain = Domain::normalise(&view.domain).map_err(|e| invalid(e.to_string()))?;
        if typed.is_some_and(|d| d != domain) {
            return Err(invalid(format!("the suggestion is for {domain}")));
        }
        Ok(domain)
    }

    /// Refuses a second open suggestion of one domain: the analyst confirms the first.
    fn not_suggested_yet(&self, domain: &Domain) -> Result<(), AppError> {
        for view in self.iwol_suggestions(None)? {
            if view.domain == domain.as_str() && view.status == SuggestionStatus::Open {
                return Err(invalid(format!(
                    "{domain} is suggested already ({}); confirm that suggestion instead",
                    view.id
                )));
            }
        }
        if let Some(list) = self.iwol_list()?
            && list.entry(domain).is_some()
        {
            return Err(invalid(format!(
                "{domain} is on the IWOL already (version {})",
                list.version
            )));
        }
        Ok(())
    }

    /// Builds the evidence from the cited reports held here.
    fn evidence(&self, domain: &Domain, request: &SuggestRequest) -> Result<Evidence, AppError> {
        let mut reports = Vec::new();
        let mut illegal: Vec<MediaItem> = Vec::new();
        let mut recent = false;
        let now = self.now();
        for id in &request.reports {
            let report = self.held_report_record(id)?;
            let url = std::iter::once(&report.reported_url)
                .chain(&report.redirects)
                .find(|url| domain::url_host(url).is_some_and(|h| domain.covers_host(h)))
                .ok_or_else(|| invalid(format!("report {id} is not on {domain}")))?;
            let items = self.report_items(id, &report)?;
            let count = |class| items.iter().filter(|i| i.classification() == class).count() as u32;
            reports.push(EvidenceReport {
                record: *id,
                url: url.clone(),
                hosting_country: report.hosting.country,
                baseline_items: count(safeport_protocol::Classification::Baseline),
                nationally_illegal_items: count(
                    safeport_protocol::Classification::NationallyIllegal,
                ),
            });
            let seen = report
                .page
                .as_ref()
                .map_or(report.received_at, |p| p.fetched_at.max(report.received_at));
            recent |= now.0.saturating_sub(seen.0) <= THREE_MONTHS_MS;
            illegal.extend(
                items
                    .into_iter()
                    .filter(|i| i.classification().is_illegal()),
            );
        }
        if reports.is_empty() {
            return Err(invalid("cite at least one report held here as evidence"));
        }
        if illegal.is_empty() {
            return Err(invalid(
                "the cited reports have no item classified baseline or nationally illegal",
            ));
        }
        if !recent {
            return Err(invalid(
                "none of the cited reports was received or crawled within the last three months",
            ));
        }
        let media: Vec<EvidenceMedia> = if request.media.is_empty() {
            illegal
                .iter()
                .take(MAX_EVIDENCE_MEDIA)
                .map(|i| EvidenceMedia {
                    sha256: i.sha256,
                    classification: i.classification(),
                })
                .collect()
        } else {
            let mut cited = Vec::new();
            for sha in &request.media {
                let item = illegal.iter().find(|i| &i.sha256 == sha).ok_or_else(|| {
                    invalid(format!(
                        "media item {} is not a baseline or nationally illegal item of the \
                         cited reports",
                        hex::encode(sha)
                    ))
                })?;
                cited.push(EvidenceMedia {
                    sha256: item.sha256,
                    classification: item.classification(),
                });
            }
            cited
        };
        Ok(Evidence { reports, media })
    }

    fn held_report_record(&self, id: &RecordId) -> Result<Report, AppError> {
        let raw = self
            .store
            .record(id)?
            .filter(|r| r.header().record_type == RecordType::Report)
            .ok_or_else(|| invalid(format!("report {id} is not held here")))?;
        Ok(raw.into_typed::<Report>()?.body().clone())
    }

    /// INTERPOL's review of a suggestion: accept (the domain enters the next version of the
    /// list) or reject, with a reason that goes back to the suggesters.
    pub fn review_iwol(
        &self,
        id: &RecordId,
        review: Review,
        reason: &str,
        valid_days: Option<u64>,
    ) -> Result<(RecordId, Committed), AppError> {
        if self.my_role() != Role::Interpol {
            return Err(invalid("only INTERPOL's node reviews IWOL suggestions"));
        }
        let _guard = self.lock_iwol();
        let view = self.iwol_suggestion(id)?;
        let Some(suggestion) = &view.suggestion else {
            return Err(AppError::NotFound);
        };
        if view.status != SuggestionStatus::Open {
            return Err(invalid("this suggestion has been decided already"));
        }
        let domain = Domain::normalise(&view.domain).map_err(|e| invalid(e.to_string()))?;
        let agencies: Vec<AgencyId> = view
            .agencies
            .iter()
            .filter_map(|a| AgencyId::new(a).ok())
            .collect();
        let mut decision = IwolDecision {
            suggestion: *id,
            domain: domain.clone(),
            outcome: Outcome::Rejected,
            reason: reason.trim().to_owned(),
            suggesters: check_confirmations(&agencies).unwrap_or_else(|_| {
                let mut sorted = agencies.clone();
                sorted.sort();
                sorted
            }),
        };
        if review == Review::Accept {
            decision.suggesters = check_confirmations(&agencies).map_err(AppError::Invalid)?;
            decision.outcome = Outcome::Accepted { list_version: 0 };
        }
        decision.validate().map_err(AppError::Invalid)?;
        let mut committed = Committed::default();
        if review == Review::Accept {
            let reasons = suggestion
                .criteria
                .iter()
                .filter_map(|c| Criterion::parse(c))
                .collect();
            let change = ListChange::Add { domain, reasons };
            // The list first: should the node stop in between, the domain is listed and the
            // suggestion still open; accepting it again publishes a version with the same
            // domains and the decision.
            let (version, list_committed) = self.publish_iwol_version(&[change], valid_days)?;
            committed.outbox_heads.extend(list_committed.outbox_heads);
            decision.outcome = Outcome::Accepted {
                list_version: version,
            };
        }
        let (record, decided) = self.publish_iwol_record(decision, |_| Ok(()))?;
        committed.outbox_heads.extend(decided.outbox_heads);
        Ok((record, committed))
    }

    /// INTERPOL takes a clean domain off the list (a new version).
    pub fn delist_iwol(
        &self,
        domain: &str,
        reason: &str,
        valid_days: Option<u64>,
    ) -> Result<(u64, Committed), AppError> {
        let domain = Domain::normalise(domain).map_err(|e| invalid(e.to_string()))?;
        let _guard = self.lock_iwol();
        let change = ListChange::Delist {
            domain,
            reason: reason.trim().to_owned(),
        };
        self.publish_iwol_version(&[change], valid_days)
    }

    /// INTERPOL republishes the list unchanged with a new expiry (a new version).
    pub fn refresh_iwol(&self, valid_days: Option<u64>) -> Result<(u64, Committed), AppError> {
        let _guard = self.lock_iwol();
        self.publish_iwol_version(&[], valid_days)
    }

    /// Publishes the next version with `changes`; the caller holds the IWOL lock.
    fn publish_iwol_version(
        &self,
        changes: &[ListChange],
        valid_days: Option<u64>,
    ) -> Result<(u64, Committed), AppError> {
        if self.my_role() != Role::Interpol {
            return Err(invalid("only INTERPOL's node publishes the IWOL"));
        }
        let days = valid_days.unwrap_or(DEFAULT_VALID_DAYS);
        if days == 0 || days > MAX_VALID_DAYS {
            return Err(invalid(format!(
                "a version is valid for 1 to {MAX_VALID_DAYS} days"
            )));
        }
        let previous = self.iwol_list()?;
        let list = next_version(
            previous.as_ref(),
            changes,
            self.now(),
            days * 24 * 3600 * 1000,
        )
        .map_err(AppError::Invalid)?;
        let version = list.version;
        let (_, committed) = self.publish_iwol_record(list, |_| Ok(()))?;
        Ok((version, committed))
    }
}

/// Parses criterion codes (`real-children`, `under-13`, `severe-abuse`, `online-3-months`).
pub fn parse_criteria(codes: &[String]) -> Result<Vec<Criterion>, AppError> {
    codes
        .iter()
        .map(|code| {
            Criterion::parse(code.trim()).ok_or_else(|| {
                invalid(format!(
                    "unknown criterion {:?}: expected {}",
                    code.chars().take(40).collect::<String>(),
                    Criterion::ALL.map(|c| c.as_str()).join(", ")
                ))
            })
        })
        .collect()
}
