//! IWOL API. On the admin listener: suggest a domain or confirm a suggestion (hotlines and
//! police), list and show suggestions with their evidence, accept, reject, delist and refresh
//! (INTERPOL), the list held, and its exports. On the public listener, when an operator set
//! `iwol.feed_token_file`: `GET /iwol/{rpz|plain|csv}` for the resolvers of the country's ISPs,
//! behind their own bearer token (never the admin token).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use safeport_protocol::RecordId;
use safeport_protocol::iwol::Domain;
use safeport_protocol::iwol::export::{ExportFormat, RpzAction, RpzOptions};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::admin::{AdminState, blocking};
use super::{ApiError, hex_id};
use crate::app::App;
use crate::app::iwol::{
    IwolExport, IwolStatus, Review, SuggestRequest, SuggestionStatus, SuggestionView,
    parse_criteria,
};

/// The admin routes.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/iwol", get(status))
        .route("/admin/iwol/export", get(export))
        .route("/admin/iwol/suggestions", get(suggestions).post(suggest))
        .route("/admin/iwol/suggestions/{id}", get(show))
        .route("/admin/iwol/suggestions/{id}/confirm", post(confirm))
        .route("/admin/iwol/suggestions/{id}/accept", post(accept))
        .route("/admin/iwol/suggestions/{id}/reject", post(reject))
        .route("/admin/iwol/delist", post(delist))
        .route("/admin/iwol/refresh", post(refresh))
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

fn record_id(text: &str) -> Result<RecordId, ApiError> {
    Ok(RecordId(hex_id(text, "a suggestion id")?))
}

async fn status(State(state): State<AdminState>) -> Result<Json<serde_json::Value>, ApiError> {
    let (status, entries) = blocking(&state.app, |app| {
        let list = app.iwol_list()?;
        Ok((app.iwol_status()?, list))
    })
    .await?;
    let Some(status): Option<IwolStatus> = status else {
        return Ok(Json(json!({ "held": false })));
    };
    let list = entries.map(|l| l.entries).unwrap_or_default();
    let domains: Vec<serde_json::Value> = list
        .iter()
        .map(|e| {
            json!({
                "domain": e.domain.as_str(),
                "added_at": e.added_at.to_string(),
                "reasons": e.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(
        json!({ "held": true, "list": status, "domains": domains }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    format: String,
    /// Overrides `iwol.stop_page` for this export.
    stop_page: Option<String>,
    /// `true` answers NXDOMAIN whatever the configured stop page.
    nxdomain: Option<bool>,
    /// Overrides `iwol.rpz_zone`.
    zone: Option<String>,
}

async fn export(
    State(state): State<AdminState>,
    Query(params): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let format: ExportFormat = params.format.parse().map_err(bad)?;
    let mut rpz = state.rpz.clone();
    if let Some(zone) = &params.zone {
        rpz.zone = Domain::normalise(zone).map_err(bad)?;
    }
    if let Some(name) = &params.stop_page {
        rpz.action = RpzAction::StopPage(Domain::normalise(name).map_err(bad)?);
    }
    if params.nxdomain == Some(true) {
        rpz.action = RpzAction::NxDomain;
    }
    let exported = blocking(&state.app, move |app| app.iwol_export(format, &rpz)).await?;
    Ok(export_response(format, exported))
}

/// The export as a response: its media type, and the version and staleness in headers (a
/// resolver's fetch script can refuse to load a stale list or alert on it).
fn export_response(format: ExportFormat, exported: IwolExport) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    headers.insert(
        "x-safeport-iwol-version",
        HeaderValue::from(exported.version),
    );
    headers.insert(
        "x-safeport-iwol-stale",
        HeaderValue::from_static(if exported.stale { "true" } else { "false" }),
    );
    (headers, exported.text).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// `open`, `accepted` or `rejected`.
    status: Option<String>,
}

async fn suggestions(
    State(state): State<AdminState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Vec<SuggestionView>>, ApiError> {
    let status = match params.status.as_deref() {
        None => None,
        Some("open") => Some(SuggestionStatus::Open),
        Some("accepted") => Some(SuggestionStatus::Accepted),
        Some("rejected") => Some(SuggestionStatus::Rejected),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unknown status {other:?}: use open, accepted or rejected"
            )));
        }
    };
    Ok(Json(
        blocking(&state.app, move |app| app.iwol_suggestions(status)).await?,
    ))
}

async fn show(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<SuggestionView>, ApiError> {
    let id = record_id(&id)?;
    Ok(Json(
        blocking(&state.app, move |app| app.iwol_suggestion(&id)).await?,
    ))
}

/// A suggestion or confirmation as posted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuggestBody {
    domain: Option<String>,
    /// Criterion codes, each checked by the analyst.
    criteria: Vec<String>,
    /// Report record ids (hex) held by this node.
    reports: Vec<String>,
    /// SHA-256s (hex) of illegal items of those reports; all of them when left out.
    #[serde(default)]
    media: Vec<String>,
    note: Option<String>,
}

impl SuggestBody {
    fn into_request(self) -> Result<SuggestRequest, ApiError> {
        Ok(SuggestRequest {
            domain: self.domain,
            criteria: parse_criteria(&self.criteria).map_err(|e| bad(e.to_string()))?,
            reports: self
                .reports
                .iter()
                .map(|r| hex_id(r, "a report record id").map(RecordId))
                .collect::<Result<_, _>>()?,
            media: self
                .media
                .iter()
                .map(|m| hex_id(m, "a media SHA-256"))
                .collect::<Result<_, _>>()?,
            note: self.note,
        })
    }
}

async fn submit(
    state: AdminState,
    body: SuggestBody,
    confirms: Option<RecordId>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let request = body.into_request()?;
    let (id, committed) =
        blocking(&state.app, move |app| app.suggest_iwol(request, confirms)).await?;
    state.federation.committed(committed).await;
    Ok(Json(json!({ "record_id": id.to_hex() })))
}

async fn suggest(
    State(state): State<AdminState>,
    Json(body): Json<SuggestBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    submit(state, body, None).await
}

async fn confirm(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    Json(body): Json<SuggestBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = record_id(&id)?;
    submit(state, body, Some(id)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    reason: String,
    /// Validity of the version an acceptance publishes.
    valid_days: Option<u64>,
}

async fn review(
    state: AdminState,
    id: String,
    body: ReviewBody,
    review: Review,
) -> Result<Json<SuggestionView>, ApiError> {
    let id = record_id(&id)?;
    let (view, committed) = blocking(&state.app, move |app| {
        let (_, committed) = app.review_iwol(&id, review, &body.reason, body.valid_days)?;
        Ok((app.iwol_suggestion(&id)?, committed))
    })
    .await?;
    state.federation.committed(committed).await;
    Ok(Json(view))
}

async fn accept(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    Json(body): Json<ReviewBody>,
) -> Result<Json<SuggestionView>, ApiError> {
    review(state, id, body, Review::Accept).await
}

async fn reject(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    Json(body): Json<ReviewBody>,
) -> Result<Json<SuggestionView>, ApiError> {
    review(state, id, body, Review::Reject).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelistBody {
    domain: String,
    reason: String,
    valid_days: Option<u64>,
}

async fn delist(
    State(state): State<AdminState>,
    Json(body): Json<DelistBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (version, committed) = blocking(&state.app, move |app| {
        app.delist_iwol(&body.domain, &body.reason, body.valid_days)
    })
    .await?;
    state.federation.committed(committed).await;
    Ok(Json(json!({ "version": version })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    valid_days: Option<u64>,
}

async fn refresh(
    State(state): State<AdminState>,
    Json(body): Json<RefreshBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (version, committed) =
        blocking(&state.app, move |app| app.refresh_iwol(body.valid_days)).await?;
    state.federation.committed(committed).await;
    Ok(Json(json!({ "version": version })))
}

/// The ISPs' feed on the public listener.
#[derive(Clone)]
pub struct IwolFeed {
    /// The domain layer.
    pub app: Arc<App>,
    /// SHA-256 of the ISPs' bearer token.
    pub token_digest: [u8; 32],
    /// How the RPZ zone is written.
    pub rpz: RpzOptions,
}

impl std::fmt::Debug for IwolFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token digest stays out of logs.
        f.debug_struct("IwolFeed").field("rpz", &self.rpz).finish()
    }
}

/// `GET /iwol/{format}`: the list held, for ISPs' resolvers holding the feed token. Without a
/// configured feed, or with a wrong token, the answer says nothing about the list.
pub(super) async fn feed(
    State(state): State<super::AppState>,
    Path(format): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(feed) = state.iwol_feed.clone() else {
        return Err(ApiError::NotFound);
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
    if digest != feed.token_digest {
        return Err(ApiError::Unauthorized);
    }
    let format: ExportFormat = format.parse().map_err(bad)?;
    let rpz = feed.rpz.clone();
    let exported = blocking(&feed.app, move |app| app.iwol_export(format, &rpz)).await?;
    Ok(export_response(format, exported))
}
