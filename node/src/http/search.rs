//! `GET /admin/search`: the reports this node holds, filtered, sorted and paged, with facet
//! counts, as far as `authorize()` lets this node's users see them; audited.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use safeport_protocol::{Classification, Country};
use serde::Deserialize;
use serde_json::json;

use super::admin::{AdminState, blocking};
use super::reports::rfc3339;
use super::{ApiError, agency};
use crate::search::{self, MAX_QUERY_TEXT};

/// The search route.
pub fn routes() -> Router<AdminState> {
    Router::new().route("/admin/search", get(search))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    country: Option<String>,
    hotline: Option<String>,
    classification: Option<String>,
    /// RFC 3339.
    since: Option<String>,
    /// RFC 3339.
    until: Option<String>,
    domain: Option<String>,
    /// Text in the URLs or the page title.
    text: Option<String>,
    /// `newest` (default) or `oldest`.
    order: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
    /// Why the search is made (recorded).
    purpose: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

fn bounded_text(what: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    match text {
        Some(t) if t.len() > MAX_QUERY_TEXT => {
            Err(bad(format!("{what} is at most {MAX_QUERY_TEXT} bytes")))
        }
        Some(t) if t.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn query_of(params: SearchParams) -> Result<(search::Query, Option<String>), ApiError> {
    let query = search::Query {
        country: params
            .country
            .as_deref()
            .map(Country::new)
            .transpose()
            .map_err(|e| bad(e.to_string()))?,
        hotline: params.hotline.as_deref().map(agency).transpose()?,
        classification: params
            .classification
            .as_deref()
            .map(str::parse::<Classification>)
            .transpose()
            .map_err(|e| bad(e.to_string()))?,
        since: params.since.as_deref().map(rfc3339).transpose()?,
        until: params.until.as_deref().map(rfc3339).transpose()?,
        domain: bounded_text("domain", params.domain)?,
        text: bounded_text("text", params.text)?,
        oldest_first: match params.order.as_deref() {
            None | Some("newest") => false,
            Some("oldest") => true,
            Some(other) => return Err(bad(format!("unknown order {other:?}: newest or oldest"))),
        },
        offset: params.offset.unwrap_or(0),
        limit: params.limit.unwrap_or(50),
    };
    Ok((query, bounded_text("purpose", params.purpose)?))
}

async fn search(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = super::actor(&headers)?;
    let (query, purpose) = query_of(params)?;
    let results = blocking(&state.app, move |app| {
        app.search_reports(&actor, &query, purpose.as_deref())
    })
    .await?;
    let page: Vec<serde_json::Value> = results
        .page
        .iter()
        .map(|hit| {
            let doc = &hit.doc;
            let classes: Vec<&str> = Classification::ALL
                .iter()
                .filter(|c| hit.visible & search::class_bit(**c) != 0)
                .map(|c| c.as_str())
                .collect();
            json!({
                "origin": hit.origin.as_str(),
                "record_id": doc.record_id.to_hex(),
                "report_key": hex::encode(doc.report_key),
                "url": doc.url,
                "country": doc.country.map(|c| c.to_string()),
                "received_at": doc.received_at.to_string(),
                "classifications": classes,
            })
        })
        .collect();
    Ok(Json(json!({
        "total": results.total,
        "results": page,
        "facets": results.facets,
    })))
}
