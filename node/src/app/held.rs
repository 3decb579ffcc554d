//! Queries about what this node holds, each through `access.rs` and audited: a media item's
//! content (only where an agreement grants content, and only with a stated purpose), and the
//! agency behind a report, as its verified certificate names it.

use safeport_protocol::AgencyId;
use safeport_protocol::pki::{self, Contact};

use super::audit::{Actor, AuditAction};
use super::{App, AppError};
use crate::blobs::BlobStore;

/// An agency as its certificate names it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AgencyInfo {
    /// Agency id.
    pub agency: String,
    /// Role.
    pub role: String,
    /// Country.
    pub country: String,
    /// Organisation name.
    pub organisation: String,
    /// How to reach the agency, as its certificate states it: `{emails, phone, url}`, empty
    /// (no emails, nulls) when it states nothing.
    pub contact: Contact,
    /// Certificate serial (hex).
    pub serial: String,
    /// Start and end of the certificate's validity.
    pub valid_from: String,
    /// See `valid_from`.
    pub valid_until: String,
}

impl App {
    /// The content of item `sha256` of report `(origin, report_key)`, if this node may show
    /// it; audited with `purpose`, which is required.
    pub fn media_content(
        &self,
        actor: &Actor,
        origin: &AgencyId,
        report_key: &[u8; 16],
        sha256: &[u8; 32],
        purpose: Option<&str>,
        blobs: &BlobStore,
    ) -> Result<Vec<u8>, AppError> {
        let (bytes, record_id) = self.granted_content(origin, report_key, sha256, blobs)?;
        let target = format!(
            "media {} of report {}",
            hex::encode(sha256),
            record_id.to_hex()
        );
        self.audit(actor, AuditAction::MediaContent, &target, purpose, None)?;
        Ok(bytes)
    }

    /// The content of item `sha256` of report `(origin, report_key)` if this node may show it,
    /// with the report's current record id, not audited: for the caller that audits what it
    /// does with it (the portal's blurred previews, and a picture revealed by an audited
    /// reveal).
    pub fn granted_content(
        &self,
        origin: &AgencyId,
        report_key: &[u8; 16],
        sha256: &[u8; 32],
        blobs: &BlobStore,
    ) -> Result<(Vec<u8>, safeport_protocol::RecordId), AppError> {
        let visible = self.visible_report(origin, report_key)?;
        let item = visible
            .items
            .iter()
            .find(|v| &v.item.sha256 == sha256 && v.content.is_some())
            .ok_or(AppError::NotFound)?;
        let bytes = blobs
            .get(&item.item.sha256)
            .map_err(|e| AppError::Invalid(format!("media content: {e}")))?
            .ok_or(AppError::NotFound)?;
        Ok((bytes, visible.record_id))
    }

    /// The agency `agency` as its stored certificate names it (verified now); audited.
    pub fn agency_info(&self, actor: &Actor, agency: &AgencyId) -> Result<AgencyInfo, AppError> {
        let pem = self.store.certificate(agency)?.ok_or(AppError::NotFound)?;
        let identity = self
            .verify_certificate(&pem)
            .map_err(|_| AppError::NotFound)?;
        // The same bytes just verified, contact fields included (verification refuses
        // malformed ones), so this read cannot disagree with it.
        let contact = pki::certificate_contact(&pem).map_err(|_| AppError::NotFound)?;
        self.audit(actor, AuditAction::ViewAgency, agency.as_str(), None, None)?;
        Ok(AgencyInfo {
            agency: identity.subject.agency.to_string(),
            role: identity.subject.role.to_string(),
            country: identity.subject.country.to_string(),
            organisation: identity.subject.organisation,
            contact,
            serial: identity.serial,
            valid_from: identity.validity.not_before.to_string(),
            valid_until: identity.validity.not_after.to_string(),
        })
    }
}
