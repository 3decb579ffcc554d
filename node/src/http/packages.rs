//! Intelligence packages and held reports on the admin listener: `POST /admin/packages`
//! composes one from the reports named (as this node may show them) and answers the signed
//! zip (from the reports named and/or a saved search); `GET /admin/held/{origin}/{key}` shows
//! one held report's detail (revisions, crawl metadata, items with hashes and who classified
//! them, statuses) as far as this node may show it (the same decision a package takes); `.../media/{sha256}?purpose=` its content where an
//! agreement grants content; `GET /admin/agencies/{agency}` the agency as its certificate names
//! it. Each is audited.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::admin::{AdminState, blocking};
use super::{ApiError, agency, hex_id};
use crate::app::packages::PackageRequest;

/// The package routes.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/packages", post(compose))
        .route("/admin/held/{origin}/{key}", get(show))
        .route("/admin/held/{origin}/{key}/media/{sha256}", get(media))
        .route("/admin/agencies/{agency}", get(agency_info))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComposeBody {
    /// `origin/report-key-hex` per report.
    #[serde(default)]
    reports: Vec<String>,
    /// Also every report this saved search finds now.
    saved_search: Option<String>,
    case_reference: String,
    purpose: String,
    recipient: Option<String>,
    /// Include media content where an agreement grants it.
    #[serde(default)]
    content: bool,
}

fn report_ref(text: &str) -> Result<(safeport_protocol::AgencyId, [u8; 16]), ApiError> {
    let (origin, key) = text.split_once('/').ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{:?} is not origin/report-key",
            text.chars().take(80).collect::<String>()
        ))
    })?;
    Ok((agency(origin)?, hex_id(key, "a report key")?))
}

async fn compose(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Json(body): Json<ComposeBody>,
) -> Result<Response, ApiError> {
    let actor = super::actor(&headers)?;
    let request = PackageRequest {
        reports: body
            .reports
            .iter()
            .map(|r| report_ref(r))
            .collect::<Result<_, _>>()?,
        case_reference: body.case_reference,
        purpose: body.purpose,
        recipient: body.recipient,
        include_content: body.content,
        saved_search: body.saved_search,
    };
    let blobs = state.blobs.clone();
    let package = blocking(&state.app, move |app| {
        app.compose_package(&actor, &request, &blobs)
    })
    .await?;
    Ok(package_response(package))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaParams {
    /// Why the content is viewed (required, recorded).
    purpose: Option<String>,
}

async fn media(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((origin, key, sha256)): Path<(String, String, String)>,
    axum::extract::Query(params): axum::extract::Query<MediaParams>,
) -> Result<Response, ApiError> {
    let actor = super::actor(&headers)?;
    let origin = agency(&origin)?;
    let key: [u8; 16] = hex_id(&key, "a report key")?;
    let sha256: [u8; 32] = hex_id(&sha256, "a SHA-256")?;
    let blobs = state.blobs.clone();
    let bytes = blocking(&state.app, move |app| {
        app.media_content(
            &actor,
            &origin,
            &key,
            &sha256,
            params.purpose.as_deref(),
            &blobs,
        )
    })
    .await?;
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok((response_headers, bytes).into_response())
}

async fn agency_info(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<crate::app::held::AgencyInfo>, ApiError> {
    let actor = super::actor(&headers)?;
    let name = agency(&name)?;
    Ok(Json(
        blocking(&state.app, move |app| app.agency_info(&actor, &name)).await?,
    ))
}

async fn show(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((origin, key)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = super::actor(&headers)?;
    let origin = agency(&origin)?;
    let key: [u8; 16] = hex_id(&key, "a report key")?;
    Ok(Json(
        blocking(&state.app, move |app| {
            app.report_detail(&actor, &origin, &key)
        })
        .await?,
    ))
}

/// A composed package as a zip download named after its case reference (the admin API and
/// the portal hand packages out the same way).
pub(crate) fn package_response(package: crate::app::packages::Package) -> Response {
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    let name = format!(
        "attachment; filename=\"safeport-package-{}.zip\"",
        package
            .manifest
            .case_reference
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        response_headers.insert(header::CONTENT_DISPOSITION, value);
    }
    (response_headers, package.bytes).into_response()
}
