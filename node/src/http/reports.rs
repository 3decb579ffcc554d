//! The hotline's report API (on the token-protected admin listener until the portal brings
//! user accounts): intake, the report queue, one report with its items and crawl state,
//! classification, country correction and re-crawl. Handlers are thin: parse, call the
//! domain layer, shape JSON.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use safeport_protocol::report::{Assessor, IntakeChannel, MediaItem};
use safeport_protocol::{Classification, Country, Role, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::admin::{AdminState, blocking};
use super::{ApiError, hex_id};
use crate::app::hotline::{HotlineReport, Intake};
use crate::store::MAX_PAGE;
use crate::store::hotline::CrawlStatus;

/// The report routes (merged into the admin router, behind its token check).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/reports", get(list).post(intake))
        .route("/admin/reports/{key}", get(show))
        .route("/admin/reports/{key}/recrawl", post(recrawl))
        .route("/admin/reports/{key}/country", post(set_country))
        .route(
            "/admin/reports/{key}/items/{sha256}/classification",
            post(classify),
        )
}

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// A tip, as scripts and the CLI send it. Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeRequest {
    /// The reported URL (http or https, no credentials).
    pub url: String,
    /// public-form, hotline, industry or proactive (default public-form).
    pub channel: Option<String>,
    /// When the tip came in, RFC 3339 (default: now).
    pub received_at: Option<String>,
    /// The reporter's remarks; internal, never shared.
    pub remarks: Option<String>,
}

fn channel(text: Option<&str>) -> Result<IntakeChannel, ApiError> {
    Ok(match text.unwrap_or("public-form") {
        "public-form" => IntakeChannel::PublicForm,
        "hotline" => IntakeChannel::Hotline,
        "industry" => IntakeChannel::Industry,
        "proactive" => IntakeChannel::Proactive,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown channel {other:?}: use public-form, hotline, industry or proactive"
            )));
        }
    })
}

fn channel_name(channel: IntakeChannel) -> &'static str {
    match channel {
        IntakeChannel::PublicForm => "public-form",
        IntakeChannel::Hotline => "hotline",
        IntakeChannel::Industry => "industry",
        IntakeChannel::Proactive => "proactive",
    }
}

/// Parses an RFC 3339 time given in a request.
pub(super) fn rfc3339(text: &str) -> Result<Timestamp, ApiError> {
    crate::search::spec::rfc3339("a time", text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn crawl_view(status: &CrawlStatus) -> Value {
    let mut view = json!({ "state": status.name() });
    match status {
        CrawlStatus::Queued => {}
        CrawlStatus::Fetching { since } => view["since"] = json!(since.to_string()),
        CrawlStatus::Done { at } => view["at"] = json!(at.to_string()),
        CrawlStatus::Failed { at, reason } => {
            view["at"] = json!(at.to_string());
            view["reason"] = json!(reason);
        }
    }
    view
}

/// Parses a report key from a path.
pub(super) fn report_key(text: &str) -> Result<[u8; 16], ApiError> {
    hex_id(text, "a report key")
}

fn hotline_only(state: &AdminState) -> Result<(), ApiError> {
    if state.app.identity().certificate.subject.role != Role::Hotline {
        return Err(ApiError::Conflict(
            "only a hotline node takes in reports".into(),
        ));
    }
    Ok(())
}

async fn intake(
    State(state): State<AdminState>,
    body: JsonBody<IntakeRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    hotline_only(&state)?;
    let intake = Intake {
        url: body.url,
        channel: channel(body.channel.as_deref())?,
        received_at: body.received_at.as_deref().map(rfc3339).transpose()?,
        remarks: body.remarks,
    };
    let (key, committed) = blocking(&state.app, move |app| app.intake(intake)).await?;
    state.federation.committed(committed).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "report_key": hex::encode(key), "crawl": { "state": "queued" } })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
}

async fn list(
    State(state): State<AdminState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(100).min(MAX_PAGE);
    let reports = blocking(&state.app, move |app| {
        Ok(app.store().local_reports(limit)?)
    })
    .await?;
    Ok(Json(Value::Array(
        reports
            .iter()
            .map(|local| {
                json!({
                    "report_key": hex::encode(local.report_key),
                    "reported_url": local.reported_url,
                    "channel": channel_name(local.channel),
                    "received_at": local.received_at.to_string(),
                    "crawl": crawl_view(&local.crawl),
                    "revision": local.revision,
                })
            })
            .collect(),
    )))
}

/// One media item as the API shows it.
#[derive(Debug, Serialize)]
pub struct ItemView {
    /// SHA-256, hex (the item's address in the API and the blob store).
    pub sha256: String,
    /// MD5, hex.
    pub md5: String,
    /// SHA-1, hex.
    pub sha1: String,
    /// PDQ, hex.
    pub pdq: Option<String>,
    /// PDQ quality.
    pub pdq_quality: Option<u8>,
    /// Sniffed media type.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Width and height.
    pub dimensions: Option<(u32, u32)>,
    /// Where it was found.
    pub source_url: String,
    /// baseline, nationally-illegal, not-illegal or unassessed.
    pub classification: &'static str,
    /// `analyst:<ref>` or `hash-list:<list>@<version>`.
    pub assessed_by: Option<String>,
    /// When.
    pub assessed_at: Option<String>,
}

impl From<&MediaItem> for ItemView {
    fn from(item: &MediaItem) -> Self {
        Self {
            sha256: hex::encode(item.sha256),
            md5: hex::encode(item.md5),
            sha1: hex::encode(item.sha1),
            pdq: item.pdq.map(|p| hex::encode(p.bits())),
            pdq_quality: item.pdq.map(|p| p.quality()),
            mime_type: item.mime_type.clone(),
            size: item.size,
            dimensions: item.dimensions,
            source_url: item.source_url.clone(),
            classification: item.classification().as_str(),
            assessed_by: item.assessment.assessor.as_ref().map(|a| match a {
                Assessor::Analyst(reference) => format!("analyst:{reference}"),
                Assessor::HashList { list_id, version } => format!("hash-list:{list_id}@{version}"),
            }),
            assessed_at: item.assessment.assessed_at.map(|t| t.to_string()),
        }
    }
}

fn report_view(report: &HotlineReport) -> Value {
    let HotlineReport {
        local,
        report,
        record_id,
        items,
        statuses,
    } = report;
    json!({
        "report_key": hex::encode(local.report_key),
        "record_id": hex::encode(record_id.0),
        "revision": report.revision,
        "reported_url": report.reported_url,
        "channel": channel_name(report.intake),
        "received_at": report.received_at.to_string(),
        "remarks": local.remarks,
        "crawl": crawl_view(&local.crawl),
        "problems": local.problems,
        "redirects": report.redirects,
        "final_url": report.final_url(),
        "hosting": {
            "ip": report.hosting.ip.map(|ip| ip.to_string()),
            "country": report.hosting.country.map(|c| c.to_string()),
            "country_set_by": local.country_set_by,
        },
        "page": report.page.as_ref().map(|page| json!({
            "http_status": page.http_status,
            "headers": page.headers,
            "title": page.title,
            "fetched_at": page.fetched_at.to_string(),
        })),
        "items": items.iter().map(ItemView::from).collect::<Vec<_>>(),
        "statuses": statuses.iter().map(|s| json!({
            "by": s.by.as_str(),
            "at": s.at.to_string(),
            "status": s.status.status.as_str(),
            "note": s.status.note,
        })).collect::<Vec<_>>(),
    })
}

async fn show(
    State(state): State<AdminState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = report_key(&key)?;
    let report = blocking(&state.app, move |app| app.hotline_report(&key)).await?;
    Ok(Json(report_view(&report)))
}

async fn recrawl(
    State(state): State<AdminState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = report_key(&key)?;
    blocking(&state.app, move |app| app.recrawl(&key)).await?;
    Ok(Json(json!({ "crawl": { "state": "queued" } })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Classify {
    classification: String,
    analyst: String,
}

async fn classify(
    State(state): State<AdminState>,
    Path((key, sha256)): Path<(String, String)>,
    body: JsonBody<Classify>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let key = report_key(&key)?;
    let digest = hex_id::<32>(&sha256, "an item's SHA-256")?;
    let classification: Classification = body
        .classification
        .parse()
        .map_err(|e: safeport_protocol::ids::IdError| ApiError::BadRequest(e.to_string()))?;
    if classification == Classification::Unassessed {
        return Err(ApiError::BadRequest(
            "classify as baseline, nationally-illegal or not-illegal".into(),
        ));
    }
    let committed = blocking(&state.app, move |app| {
        app.classify(&key, &digest, classification, &body.analyst)
    })
    .await?;
    state.federation.committed(committed).await;
    let report = blocking(&state.app, move |app| app.hotline_report(&key)).await?;
    Ok(Json(report_view(&report)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetCountry {
    country: String,
    analyst: String,
}

async fn set_country(
    State(state): State<AdminState>,
    Path(key): Path<String>,
    body: JsonBody<SetCountry>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let key = report_key(&key)?;
    let country = Country::new(&body.country).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let committed = blocking(&state.app, move |app| {
        app.set_hosting_country(&key, country, &body.analyst)
    })
    .await?;
    state.federation.committed(committed).await;
    let report = blocking(&state.app, move |app| app.hotline_report(&key)).await?;
    Ok(Json(report_view(&report)))
}
