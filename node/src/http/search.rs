//! Police access on the admin listener: `GET /admin/search` (the reports held, filtered,
//! sorted and paged, with facet counts; or a saved search with `saved=NAME`), saved searches
//! at `/admin/searches[/{name}]`, and `GET /admin/media/{sha256}` (where a media item occurs
//! and which hash lists match it). Everything as far as `authorize()` lets this node's users
//! see it; searches and views are audited by the domain layer.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use safeport_protocol::Classification;
use serde_json::{Value, json};

use super::admin::{AdminState, blocking};
use super::{ApiError, hex_id};
use crate::app::saved::SavedSearch;
use crate::search::spec::SearchSpec;
use crate::search::{self, MAX_QUERY_TEXT, Results};

/// Longest query string accepted.
const MAX_QUERY_STRING: usize = 4096;

/// The search routes.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/search", get(search))
        .route("/admin/searches", get(list_saved))
        .route(
            "/admin/searches/{name}",
            get(show_saved).put(save).delete(delete_saved),
        )
        .route("/admin/media/{sha256}", get(media))
}

pub(crate) fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// A search request: the criteria, and apart from them the saved search to run and the
/// purpose to record.
pub(crate) struct SearchRequest {
    pub(crate) criteria: SearchSpec,
    pub(crate) saved: Option<String>,
    pub(crate) purpose: Option<String>,
}

/// Splits a search's query string into its criteria, the saved search to run and the purpose
/// (the admin API and the portal read searches the same way).
pub(crate) fn search_request(raw: Option<&str>) -> Result<SearchRequest, ApiError> {
    let raw = raw.unwrap_or("");
    if raw.len() > MAX_QUERY_STRING {
        return Err(bad(format!(
            "the query string is at most {MAX_QUERY_STRING} bytes"
        )));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw).map_err(|e| bad(format!("query string: {e}")))?;
    let (mut saved, mut purpose) = (None, None);
    let mut criteria = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        match key.as_str() {
            "saved" => saved = Some(value),
            "purpose" if value.len() > MAX_QUERY_TEXT => {
                return Err(bad(format!("purpose is at most {MAX_QUERY_TEXT} bytes")));
            }
            "purpose" => purpose = Some(value).filter(|p| !p.trim().is_empty()),
            _ => criteria.push((key, value)),
        }
    }
    let encoded = serde_urlencoded::to_string(&criteria).map_err(|e| bad(e.to_string()))?;
    let criteria: SearchSpec =
        serde_urlencoded::from_str(&encoded).map_err(|e| bad(format!("search: {e}")))?;
    Ok(SearchRequest {
        criteria,
        saved,
        purpose,
    })
}

fn results_json(results: &Results) -> Value {
    let page: Vec<Value> = results
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
                "status": doc.status.map(|s| s.as_str()),
            })
        })
        .collect();
    json!({
        "total": results.total,
        "results": page,
        "facets": results.facets,
    })
}

async fn search(
    State(state): State<AdminState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let actor = super::actor(&headers)?;
    let request = search_request(raw.as_deref())?;
    let results = match request.saved {
        Some(name) => {
            if !request.criteria.is_empty() {
                return Err(bad(
                    "a saved search takes only offset, limit, order and purpose besides its name",
                ));
            }
            blocking(&state.app, move |app| {
                app.run_saved_search(&actor, &name, &request.criteria, request.purpose.as_deref())
            })
            .await?
        }
        None => {
            let query = request
                .criteria
                .to_query()
                .map_err(|e| bad(e.to_string()))?;
            blocking(&state.app, move |app| {
                app.search_reports(&actor, &query, request.purpose.as_deref())
            })
            .await?
        }
    };
    Ok(Json(results_json(&results)))
}

async fn list_saved(State(state): State<AdminState>) -> Result<Json<Vec<SavedSearch>>, ApiError> {
    Ok(Json(
        blocking(&state.app, |app| app.saved_searches()).await?,
    ))
}

async fn show_saved(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<SavedSearch>, ApiError> {
    Ok(Json(
        blocking(&state.app, move |app| app.saved_search(&name)).await?,
    ))
}

async fn save(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(criteria): Json<SearchSpec>,
) -> Result<Json<SavedSearch>, ApiError> {
    let actor = super::actor(&headers)?;
    Ok(Json(
        blocking(&state.app, move |app| {
            app.save_search(&actor, &name, criteria)
        })
        .await?,
    ))
}

async fn delete_saved(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let deleted = name.clone();
    blocking(&state.app, move |app| app.delete_saved_search(&name)).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

async fn media(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let actor = super::actor(&headers)?;
    let sha256: [u8; 32] = hex_id(&sha256, "a SHA-256")?;
    Ok(Json(
        blocking(&state.app, move |app| app.media_detail(&actor, &sha256)).await?,
    ))
}
