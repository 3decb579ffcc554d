//! The audit trail on the admin listener: page through entries, verify the chain, and export
//! the whole log as JSON lines (the export is itself audited).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiError;
use super::admin::{AdminState, blocking};
use crate::app::audit::{AuditAction, entry_json};
use crate::store::MAX_PAGE;
use crate::store::audit::AuditVerification;

/// Most entries one export writes (a log that grows beyond it is exported in ranges).
pub const MAX_EXPORT_ENTRIES: usize = 1_000_000;

/// The audit routes.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/audit", get(entries))
        .route("/admin/audit/verify", get(verify))
        .route("/admin/audit/export", get(export))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageParams {
    /// Entries after this sequence number.
    after: Option<u64>,
    /// At most this many (capped).
    limit: Option<usize>,
}

async fn entries(
    State(state): State<AdminState>,
    Query(params): Query<PageParams>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let after = params.after.unwrap_or(0);
    let limit = params.limit.unwrap_or(100).min(MAX_PAGE);
    let list = blocking(&state.app, move |app| app.audit_entries(after, limit)).await?;
    Ok(Json(list.iter().map(entry_json).collect()))
}

async fn verify(State(state): State<AdminState>) -> Result<Json<AuditVerification>, ApiError> {
    Ok(Json(blocking(&state.app, |app| app.verify_audit()).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    /// Entries after this sequence number (for exports in ranges).
    after: Option<u64>,
    /// Why the log is exported (an inspection, a court order).
    purpose: Option<String>,
}

async fn export(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(params): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let actor = super::actor(&headers)?;
    let text = blocking(&state.app, move |app| {
        let after = params.after.unwrap_or(0);
        let target = format!("audit entries after {after}");
        app.audit(
            &actor,
            AuditAction::AuditExport,
            &target,
            params.purpose.as_deref(),
            None,
        )?;
        let mut out = String::new();
        let mut cursor = after;
        let mut written = 0;
        while written < MAX_EXPORT_ENTRIES {
            let page = app.audit_entries(cursor, MAX_PAGE)?;
            let Some(last) = page.last() else { break };
            cursor = last.seq;
            for entry in &page {
                out.push_str(&entry_json(entry).to_string());
                out.push('\n');
                written += 1;
            }
        }
        Ok(out)
    })
    .await?;
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok((response_headers, text).into_response())
}
