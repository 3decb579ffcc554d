//! Read APIs over what a node received: a hotline's incoming reports (forwarded to it by
//! other hotlines, originator signature kept) and INTERPOL's ICSE collection. On the
//! token-protected admin listener, like the report API.

use axum::extract::Path;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use safeport_protocol::Classification;
use safeport_protocol::status::TakedownStatus;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{AdminState, blocking};
use super::reports::{ItemView, report_key, rfc3339};
use super::{ApiError, agency, hex_id};
use crate::app::received::IcseQuery;
use crate::store::MAX_PAGE;

/// The collection routes.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/received", get(received))
        .route("/admin/received/{origin}/{key}/status", post(send_status))
        .route("/admin/icse", get(icse))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceivedQuery {
    origin: Option<String>,
    limit: Option<usize>,
}

async fn received(
    State(state): State<AdminState>,
    Query(query): Query<ReceivedQuery>,
) -> Result<Json<Value>, ApiError> {
    let origin = query.origin.as_deref().map(agency).transpose()?;
    let limit = query.limit.unwrap_or(100).min(MAX_PAGE);
    let held = blocking(&state.app, move |app| {
        app.received_reports(origin.as_ref(), limit)
    })
    .await?;
    let blobs = state.blobs.clone();
    Ok(Json(Value::Array(
        held.iter()
            .map(|h| {
                json!({
                    "origin": h.origin.as_str(),
                    "report_key": hex::encode(h.report.report_key),
                    "record_id": hex::encode(h.record_id.0),
                    "revision": h.report.revision,
                    "reported_url": h.report.reported_url,
                    "received_at": h.report.received_at.to_string(),
                    "hosting_country": h.report.hosting.country.map(|c| c.to_string()),
                    "items": h.items.iter().map(|item| {
                        let mut view = json!(ItemView::from(item));
                        view["content_held"] = json!(blobs.contains(&item.sha256));
                        view
                    }).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IcseParams {
    sha256: Option<String>,
    hotline: Option<String>,
    classification: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
}

async fn icse(
    State(state): State<AdminState>,
    Query(params): Query<IcseParams>,
) -> Result<Json<Value>, ApiError> {
    let sha256 = params
        .sha256
        .as_deref()
        .map(|text| hex_id::<32>(text, "sha256"))
        .transpose()?;
    let classification = params
        .classification
        .as_deref()
        .map(|c| {
            c.parse::<Classification>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))
        })
        .transpose()?;
    let query = IcseQuery {
        sha256,
        hotline: params.hotline.as_deref().map(agency).transpose()?,
        classification,
        since: params.since.as_deref().map(rfc3339).transpose()?,
        until: params.until.as_deref().map(rfc3339).transpose()?,
        limit: params.limit.unwrap_or(100),
    };
    let entries = blocking(&state.app, move |app| app.icse(&query)).await?;
    let blobs = state.blobs.clone();
    Ok(Json(Value::Array(
        entries
            .iter()
            .map(|e| {
                let mut item = json!(ItemView::from(&e.item));
                item["content_held"] = json!(blobs.contains(&e.item.sha256));
                json!({
                    "hotline": e.origin.as_str(),
                    "report_key": hex::encode(e.report_key),
                    "record_id": hex::encode(e.record_id.0),
                    "received_at": e.received_at.to_string(),
                    "reported_url": e.reported_url,
                    "hosting_country": e.hosting_country.map(|c| c.to_string()),
                    "item": item,
                })
            })
            .collect(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
    note: Option<String>,
}

async fn send_status(
    State(state): State<AdminState>,
    Path((origin, key)): Path<(String, String)>,
    body: Result<Json<StatusBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let origin = agency(&origin)?;
    let report_key = report_key(&key)?;
    let status = TakedownStatus::parse(&body.status).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown status {:?}: use notice-sent, content-removed, content-still-online or \
             passed-to-police",
            body.status
        ))
    })?;
    let committed = blocking(&state.app, move |app| {
        app.send_status(&origin, &report_key, status, body.note)
    })
    .await?;
    state.federation.committed(committed).await;
    Ok(Json(json!({ "status": status.as_str() })))
}
