//! INTERPOL's "Worst Of" list (IWOL): domains that disseminate the most severe material, which
//! ISPs block by DNS with a stop page.
//!
//! Three record bodies:
//! - [`IwolSuggestion`] (record type `IwolSuggestion`): a hotline or police analyst suggests a
//!   domain, with every INTERPOL criterion checked and evidence from reports its node holds;
//!   a second agency confirms (co-signs) by a suggestion that names the first (`confirms`).
//!   Suggestions go to INTERPOL, which passes them on to the other IWOL subscribers so that
//!   they can confirm.
//! - [`IwolDecision`] (`IwolDecision`): INTERPOL's reviewer accepts (only with confirmations
//!   from at least [`MIN_CONFIRMING_AGENCIES`] agencies) or rejects, always with a reason; the
//!   decision goes back to the suggesters and to subscribers.
//! - [`IwolList`] (`Iwol`): one whole, signed version of the list. Subscribers apply only
//!   newer versions ([`plan_version`]); an expired version is stale.
//!
//! [`domain`] normalises names; [`export`] writes the ISP formats (DNS RPZ, plain, CSV).

pub mod domain;
pub mod export;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::ids::{AgencyId, Classification, Country, RecordId, Timestamp};
use crate::signed::{RecordBody, RecordType};

pub use domain::{Domain, DomainError};

/// Most domains one version of the list holds (about 1 MB encoded, one record).
pub const MAX_IWOL_DOMAINS: usize = 20_000;
/// Most domains delisted by one version.
pub const MAX_DELISTED: usize = 5_000;
/// Most reports cited by one suggestion.
pub const MAX_EVIDENCE_REPORTS: usize = 100;
/// Most media items cited by one suggestion.
pub const MAX_EVIDENCE_MEDIA: usize = 1_000;
/// Longest note, reason or cited URL.
pub const MAX_TEXT_LEN: usize = 2_048;
/// Most agencies named on one decision.
pub const MAX_SUGGESTERS: usize = 64;
/// INTERPOL requires confirmation from at least this many agencies before a domain is listed.
pub const MIN_CONFIRMING_AGENCIES: usize = 2;
/// Longest validity of one version of the list (a year).
pub const MAX_VALID_MS: u64 = 366 * 24 * 3600 * 1000;
/// Highest version: the version is the RPZ zone's SOA serial, a 32-bit number.
pub const MAX_VERSION: u64 = u32::MAX as u64;

/// INTERPOL's criteria for the list. A suggestion records each as a checked item, and must
/// check them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Criterion {
    /// The material shows real children (not drawn or generated).
    RealChildren,
    /// The children are apparently under 13.
    ApparentlyUnder13,
    /// The abuse is severe.
    SevereAbuse,
    /// The domain was online with such material within the last three months.
    OnlineLastThreeMonths,
}

impl Criterion {
    /// All criteria, in order.
    pub const ALL: [Criterion; 4] = [
        Criterion::RealChildren,
        Criterion::ApparentlyUnder13,
        Criterion::SevereAbuse,
        Criterion::OnlineLastThreeMonths,
    ];

    /// The reason code used in APIs, the CLI and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Criterion::RealChildren => "real-children",
            Criterion::ApparentlyUnder13 => "under-13",
            Criterion::SevereAbuse => "severe-abuse",
            Criterion::OnlineLastThreeMonths => "online-3-months",
        }
    }

    /// Parses [`Criterion::as_str`] codes.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// Text rules shared by notes and reasons: bounded, no control characters but newlines.
fn check_text(what: &str, text: &str, required: bool) -> Result<(), String> {
    if required && text.trim().is_empty() {
        return Err(format!("{what} is required"));
    }
    if text.len() > MAX_TEXT_LEN || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!("{what} is at most {MAX_TEXT_LEN} bytes of text"));
    }
    Ok(())
}

fn strictly_sorted<T: Ord>(items: &[T]) -> bool {
    items.windows(2).all(|pair| pair[0] < pair[1])
}

/// A report cited as evidence, as the suggesting node holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceReport {
    /// The report record (the revision cited).
    pub record: RecordId,
    /// Its reported or final URL on the suggested domain.
    pub url: String,
    /// Its hosting country, where known.
    pub hosting_country: Option<Country>,
    /// Items of the report classified baseline.
    pub baseline_items: u32,
    /// Items of the report classified nationally illegal.
    pub nationally_illegal_items: u32,
}

/// A classified media item cited as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceMedia {
    /// The item's SHA-256.
    pub sha256: [u8; 32],
    /// Its classification (baseline or nationally illegal).
    pub classification: Classification,
}

/// What a suggestion rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Reports on the domain (at least one).
    pub reports: Vec<EvidenceReport>,
    /// Illegal media items of those reports.
    pub media: Vec<EvidenceMedia>,
}

/// A suggestion of a domain for the IWOL, or (with `confirms`) another agency's confirmation of
/// an earlier suggestion. Signed by the suggesting agency's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IwolSuggestion {
    /// The domain (its subdomains are covered).
    pub domain: Domain,
    /// The suggestion this one confirms; `None` for a new suggestion.
    pub confirms: Option<RecordId>,
    /// The criteria checked (all of [`Criterion::ALL`], sorted).
    pub criteria: Vec<Criterion>,
    /// The evidence.
    pub evidence: Evidence,
    /// A note for INTERPOL's reviewer.
    pub note: Option<String>,
}

impl RecordBody for IwolSuggestion {
    const RECORD_TYPE: RecordType = RecordType::IwolSuggestion;
    const SCHEMA_VERSION: u16 = 1;

    fn validate(&self) -> Result<(), String> {
        if self.criteria != Criterion::ALL {
            let missing: Vec<&str> = Criterion::ALL
                .iter()
                .filter(|c| !self.criteria.contains(c))
                .map(|c| c.as_str())
                .collect();
            return Err(if missing.is_empty() {
                "criteria must be listed once each, in order".into()
            } else {
                format!(
                    "a domain is suggested only when every criterion is met; not checked: {}",
                    missing.join(", ")
                )
            });
        }
        let evidence = &self.evidence;
        if evidence.reports.is_empty() || evidence.reports.len() > MAX_EVIDENCE_REPORTS {
            return Err(format!(
                "a suggestion cites 1 to {MAX_EVIDENCE_REPORTS} reports as evidence"
            ));
        }
        if evidence.media.len() > MAX_EVIDENCE_MEDIA {
            return Err(format!(
                "a suggestion cites at most {MAX_EVIDENCE_MEDIA} media items"
            ));
        }
        for report in &evidence.reports {
            check_text("a cited URL", &report.url, true)?;
            let on_domain =
                domain::url_host(&report.url).is_some_and(|host| self.domain.covers_host(host));
            if !on_domain {
                return Err(format!(
                    "cited report {} is not on {}",
                    report.record, self.domain
                ));
            }
        }
        if evidence
            .media
            .iter()
            .any(|m| !m.classification.is_illegal())
        {
            return Err("cited media must be classified baseline or nationally illegal".into());
        }
        if let Some(note) = &self.note {
            check_text("the note", note, false)?;
        }
        Ok(())
    }
}

/// What INTERPOL's reviewer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The domain enters the list at this version.
    Accepted {
        /// The list version that first holds the domain.
        list_version: u64,
    },
    /// The domain is not listed.
    Rejected,
}

/// INTERPOL's decision on a suggestion, with its reason, for the suggesters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IwolDecision {
    /// The suggestion decided (the first one, not a confirmation).
    pub suggestion: RecordId,
    /// Its domain.
    pub domain: Domain,
    /// Accepted or rejected.
    pub outcome: Outcome,
    /// Why, in words for the suggesters.
    pub reason: String,
    /// The agencies that suggested or confirmed it (sorted, unique).
    pub suggesters: Vec<AgencyId>,
}

impl RecordBody for IwolDecision {
    const RECORD_TYPE: RecordType = RecordType::IwolDecision;
    const SCHEMA_VERSION: u16 = 1;

    fn validate(&self) -> Result<(), String> {
        check_text("the reason", &self.reason, true)?;
        if self.suggesters.is_empty()
            || self.suggesters.len() > MAX_SUGGESTERS
            || !strictly_sorted(&self.suggesters)
        {
            return Err(format!(
                "a decision names 1 to {MAX_SUGGESTERS} suggesters, sorted and unique"
            ));
        }
        if matches!(self.outcome, Outcome::Accepted { .. })
            && self.suggesters.len() < MIN_CONFIRMING_AGENCIES
        {
            return Err(confirmation_missing(self.suggesters.len()));
        }
        Ok(())
    }
}

fn confirmation_missing(agencies: usize) -> String {
    format!(
        "INTERPOL lists a domain only when at least {MIN_CONFIRMING_AGENCIES} agencies confirm \
         it; this suggestion has {agencies}"
    )
}

/// Whether a suggestion confirmed by `agencies` (suggester and confirmers, any order, repeats
/// allowed) may be accepted.
pub fn check_confirmations(agencies: &[AgencyId]) -> Result<Vec<AgencyId>, String> {
    let mut distinct = agencies.to_vec();
    distinct.sort();
    distinct.dedup();
    if distinct.len() < MIN_CONFIRMING_AGENCIES {
        return Err(confirmation_missing(distinct.len()));
    }
    Ok(distinct)
}

/// One listed domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IwolEntry {
    /// The domain; its subdomains are covered.
    pub domain: Domain,
    /// When it entered the list.
    pub added_at: Timestamp,
    /// Reason codes: the criteria it was listed for (sorted).
    pub reasons: Vec<Criterion>,
}

/// A domain taken off the list by this version, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delisting {
    /// The domain.
    pub domain: Domain,
    /// When.
    pub delisted_at: Timestamp,
    /// Why (e.g. the content is gone).
    pub reason: String,
}

/// One whole version of the IWOL, signed by INTERPOL's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IwolList {
    /// Version, from 1; also the RPZ zone's serial.
    pub version: u64,
    /// When published.
    pub published_at: Timestamp,
    /// After this, subscribers flag the version stale (blocking goes on with it).
    pub expires_at: Timestamp,
    /// The listed domains, sorted by domain, unique.
    pub entries: Vec<IwolEntry>,
    /// Domains this version took off the list (none of them listed), sorted, unique.
    pub delisted: Vec<Delisting>,
}

impl IwolList {
    /// Whether the version has expired at `now`.
    pub fn is_stale(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    /// The entry for `domain`, if listed.
    pub fn entry(&self, domain: &Domain) -> Option<&IwolEntry> {
        self.entries
            .binary_search_by(|e| e.domain.cmp(domain))
            .ok()
            .and_then(|i| self.entries.get(i))
    }
}

impl RecordBody for IwolList {
    const RECORD_TYPE: RecordType = RecordType::Iwol;
    const SCHEMA_VERSION: u16 = 1;

    fn validate(&self) -> Result<(), String> {
        if self.version == 0 || self.version > MAX_VERSION {
            return Err(format!("a list version is 1 to {MAX_VERSION}"));
        }
        let valid_ms = self.expires_at.0.checked_sub(self.published_at.0);
        if !valid_ms.is_some_and(|ms| ms > 0 && ms <= MAX_VALID_MS) {
            return Err("a version expires after it is published, within a year".into());
        }
        if self.entries.len() > MAX_IWOL_DOMAINS || self.delisted.len() > MAX_DELISTED {
            return Err(format!(
                "a version lists at most {MAX_IWOL_DOMAINS} domains and delists at most \
                 {MAX_DELISTED}"
            ));
        }
        let listed: Vec<&Domain> = self.entries.iter().map(|e| &e.domain).collect();
        let delisted: Vec<&Domain> = self.delisted.iter().map(|d| &d.domain).collect();
        if !strictly_sorted(&listed) || !strictly_sorted(&delisted) {
            return Err("domains must be sorted and unique".into());
        }
        if delisted.iter().any(|d| listed.binary_search(d).is_ok()) {
            return Err("a domain cannot be listed and delisted in one version".into());
        }
        for entry in &self.entries {
            if entry.reasons.is_empty() || !strictly_sorted(&entry.reasons) {
                return Err(format!(
                    "{}: reason codes must be given, sorted and unique",
                    entry.domain
                ));
            }
        }
        for delisting in &self.delisted {
            check_text("a delisting reason", &delisting.reason, true)?;
        }
        Ok(())
    }
}

/// What a subscriber does with an offered version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionPlan {
    /// Newer than the version held (or none held): it becomes the list.
    Apply,
    /// The version held, again (a replay): nothing to do.
    AlreadyHeld,
}

/// Why an offered version is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IwolError {
    /// Older than the version held.
    #[error("IWOL version {offered} is older than version {held}, which this node holds")]
    Rollback {
        /// The version held.
        held: u64,
        /// The version offered.
        offered: u64,
    },
    /// Another record claims the version held.
    #[error("a different IWOL record claims version {0}, which this node holds")]
    Conflict(u64),
}

/// The subscriber's rule (the same as for hash lists): a list moves only forward.
/// `held` is the version and record id held; `offered` the offered version and its record id.
pub fn plan_version(
    held: Option<(u64, RecordId)>,
    offered: (u64, RecordId),
) -> Result<VersionPlan, IwolError> {
    match held {
        None => Ok(VersionPlan::Apply),
        Some((version, _)) if offered.0 > version => Ok(VersionPlan::Apply),
        Some((version, id)) if offered.0 == version => {
            if id == offered.1 {
                Ok(VersionPlan::AlreadyHeld)
            } else {
                Err(IwolError::Conflict(version))
            }
        }
        Some((version, _)) => Err(IwolError::Rollback {
            held: version,
            offered: offered.0,
        }),
    }
}

/// A change INTERPOL makes to the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListChange {
    /// List a domain for these reasons.
    Add {
        /// The domain.
        domain: Domain,
        /// Reason codes.
        reasons: Vec<Criterion>,
    },
    /// Take a domain off the list.
    Delist {
        /// The domain.
        domain: Domain,
        /// Why.
        reason: String,
    },
}

/// The next version after `previous` with `changes` applied, published `now` and valid for
/// `valid_ms`. Adding a listed domain keeps its first `added_at` and joins the reasons;
/// delisting a domain that is not listed is an error (nothing to take off).
pub fn next_version(
    previous: Option<&IwolList>,
    changes: &[ListChange],
    now: Timestamp,
    valid_ms: u64,
) -> Result<IwolList, String> {
    let mut entries: std::collections::BTreeMap<Domain, IwolEntry> = previous
        .map(|list| {
            list.entries
                .iter()
                .map(|e| (e.domain.clone(), e.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut delisted = std::collections::BTreeMap::new();
    for change in changes {
        match change {
            ListChange::Add { domain, reasons } => {
                delisted.remove(domain);
                let entry = entries.entry(domain.clone()).or_insert(IwolEntry {
                    domain: domain.clone(),
                    added_at: now,
                    reasons: Vec::new(),
                });
                entry.reasons.extend(reasons.iter().copied());
                entry.reasons.sort();
                entry.reasons.dedup();
            }
            ListChange::Delist { domain, reason } => {
                if entries.remove(domain).is_none() {
                    return Err(format!("{domain} is not on the list"));
                }
                delisted.insert(
                    domain.clone(),
                    Delisting {
                        domain: domain.clone(),
                        delisted_at: now,
                        reason: reason.clone(),
                    },
                );
            }
        }
    }
    let list = IwolList {
        version: previous.map_or(1, |list| list.version + 1),
        published_at: now,
        expires_at: Timestamp(now.0.saturating_add(valid_ms)),
        entries: entries.into_values().collect(),
        delisted: delisted.into_values().collect(),
    };
    list.validate()?;
    Ok(list)
}
