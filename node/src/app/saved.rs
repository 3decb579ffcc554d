//! Saved searches: named criteria an investigator runs again (new reports arrive) or packages
//! whole. The criteria are stored as the user wrote them ([`SearchSpec`]) and checked when
//! saved and again when run, so a search saved by an older release still gets a clear answer.
//! Running one is a search like any other: through `authorize()`, and audited.

use safeport_protocol::AgencyId;
use safeport_protocol::package::MAX_PACKAGE_REPORTS;
use serde::{Deserialize, Serialize};

use super::audit::{Actor, AuditAction};
use super::search::describe;
use super::{App, AppError};
use crate::search::Results;
use crate::search::spec::SearchSpec;
use crate::store::saved::MAX_SAVED_SEARCH_BYTES;

/// Longest name of a saved search.
pub const MAX_SAVED_SEARCH_NAME: usize = 128;

/// A saved search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSearch {
    /// Its name.
    pub name: String,
    /// The criteria (paging included; a run may page differently).
    pub criteria: SearchSpec,
    /// Who saved it.
    pub saved_by: String,
    /// When (ms since the epoch).
    pub saved_at: u64,
}

fn check_name(name: &str) -> Result<&str, AppError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > MAX_SAVED_SEARCH_NAME
        || name.chars().any(|c| c.is_control() || c == '/')
    {
        return Err(AppError::Invalid(format!(
            "a saved search's name is 1 to {MAX_SAVED_SEARCH_NAME} printable characters \
             without '/'"
        )));
    }
    Ok(name)
}

fn decode(name: &str, bytes: &[u8]) -> Result<SavedSearch, AppError> {
    serde_json::from_slice(bytes).map_err(|e| {
        AppError::Invalid(format!(
            "saved search {name:?} is not readable by this release: {e}"
        ))
    })
}

impl App {
    /// Saves (or replaces) a search after checking its criteria.
    pub fn save_search(
        &self,
        actor: &Actor,
        name: &str,
        criteria: SearchSpec,
    ) -> Result<SavedSearch, AppError> {
        let name = check_name(name)?;
        if criteria.is_empty() {
            return Err(AppError::Invalid(
                "a saved search needs at least one criterion".into(),
            ));
        }
        criteria
            .to_query()
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let saved = SavedSearch {
            name: name.to_owned(),
            criteria,
            saved_by: actor.as_str().to_owned(),
            saved_at: self.now().0,
        };
        let bytes = serde_json::to_vec(&saved)
            .map_err(|e| AppError::Invalid(format!("saved search: {e}")))?;
        if bytes.len() > MAX_SAVED_SEARCH_BYTES {
            return Err(AppError::Invalid(format!(
                "a saved search is at most {MAX_SAVED_SEARCH_BYTES} bytes"
            )));
        }
        self.store.put_saved_search(name, &bytes)?;
        Ok(saved)
    }

    /// Every saved search, by name.
    pub fn saved_searches(&self) -> Result<Vec<SavedSearch>, AppError> {
        self.store
            .saved_searches()?
            .iter()
            .map(|(name, bytes)| decode(name, bytes))
            .collect()
    }

    /// One saved search.
    pub fn saved_search(&self, name: &str) -> Result<SavedSearch, AppError> {
        let name = check_name(name)?;
        let bytes = self.store.saved_search(name)?.ok_or(AppError::NotFound)?;
        decode(name, &bytes)
    }

    /// Deletes a saved search.
    pub fn delete_saved_search(&self, name: &str) -> Result<(), AppError> {
        if self.store.delete_saved_search(check_name(name)?)? {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }

    /// Runs a saved search with the paging of `paging` where given; audited like a search,
    /// naming the saved search.
    pub fn run_saved_search(
        &self,
        actor: &Actor,
        name: &str,
        paging: &SearchSpec,
        purpose: Option<&str>,
    ) -> Result<Results, AppError> {
        let saved = self.saved_search(name)?;
        let query = saved
            .criteria
            .with_paging(paging)
            .to_query()
            .map_err(|e| AppError::Invalid(format!("saved search {:?}: {e}", saved.name)))?;
        let results = self.find_reports(&query, crate::search::MAX_RESULTS)?;
        let target = format!("saved search {:?}: {}", saved.name, describe(&query));
        self.audit(actor, AuditAction::Search, &target, purpose, None)?;
        Ok(results)
    }

    /// Every report a saved search finds now (as far as this node may show them), for a
    /// package; refused when they are more than a package holds.
    pub(crate) fn saved_search_reports(
        &self,
        name: &str,
    ) -> Result<Vec<(AgencyId, [u8; 16])>, AppError> {
        let saved = self.saved_search(name)?;
        let mut query = saved
            .criteria
            .to_query()
            .map_err(|e| AppError::Invalid(format!("saved search {:?}: {e}", saved.name)))?;
        query.offset = 0;
        query.limit = MAX_PACKAGE_REPORTS;
        let results = self.find_reports(&query, MAX_PACKAGE_REPORTS)?;
        if results.total > MAX_PACKAGE_REPORTS as u64 {
            return Err(AppError::Invalid(format!(
                "saved search {:?} finds {} reports; a package holds at most \
                 {MAX_PACKAGE_REPORTS}",
                saved.name, results.total
            )));
        }
        Ok(results
            .page
            .into_iter()
            .map(|hit| (hit.origin, hit.doc.report_key))
            .collect())
    }
}
