//! The report queue and search (every search facet as a filter, counts per facet, order,
//! paging, saved searches), a report's page (crawl metadata, media items with hashes,
//! classification and who classified it, revision history) with classification for the
//! hotline's own reports, and the audit log for auditors. Everything shown comes from the
//! domain layer's audited, `authorize()`d views.

use axum::extract::{Form, Path, Query, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use safeport_protocol::{AgencyId, Classification};
use serde::Deserialize;
use serde_json::Value;

use super::{Authed, PortalError, PortalState, blocking, iwol, layout, media, packages};
use crate::app::accounts::PortalRole;
use crate::http::search::search_request;
use crate::search::spec::SearchSpec;
use crate::search::{self, Results};

/// Roles that see reports.
pub const READERS: &[PortalRole] = &[
    PortalRole::Analyst,
    PortalRole::Investigator,
    PortalRole::Reviewer,
];
/// Most audit entries on one page.
const AUDIT_PAGE: usize = 200;

pub(super) fn agency_of(state: &PortalState) -> String {
    state.app.me().as_str().to_owned()
}

pub(super) fn report_ref(origin: &str, key: &str) -> Result<(AgencyId, [u8; 16]), PortalError> {
    let origin = AgencyId::new(origin).map_err(|e| PortalError::BadRequest(e.to_string()))?;
    let mut report_key = [0u8; 16];
    hex::decode_to_slice(key, &mut report_key)
        .map_err(|_| PortalError::BadRequest("a report key is 32 hex digits".into()))?;
    Ok((origin, report_key))
}

fn link(spec: &SearchSpec) -> String {
    format!(
        "/reports?{}",
        serde_urlencoded::to_string(spec).unwrap_or_default()
    )
}

fn text_input(label: &str, name: &str, value: &Option<String>, hint: &str) -> Markup {
    html! {
        label { (label)
            input type="text" name=(name) id={"f-" (name)} value=[value.as_deref()] placeholder=(hint);
        }
    }
}

fn filters(spec: &SearchSpec) -> Markup {
    let class = spec.classification.as_deref().unwrap_or("");
    let order = spec.order.as_deref().unwrap_or("newest");
    html! {
        form.filters method="get" action="/reports" {
            (text_input("Text in URL or title", "text", &spec.text, "words"))
            (text_input("Domain", "domain", &spec.domain, "example.test"))
            (text_input("Hosting country", "country", &spec.country, "NL"))
            (text_input("Hotline", "hotline", &spec.hotline, "nl-hotline"))
            label { "Classification"
                select name="classification" id="f-classification" {
                    option value="" selected[class.is_empty()] { "any" }
                    @for c in Classification::ALL {
                        option value=(c.as_str()) selected[class == c.as_str()] { (c.as_str()) }
                    }
                }
            }
            (text_input("Media hash", "hash", &spec.hash, "sha256:…, md5:…, pdq:…"))
            (text_input("Hash list", "hash_list", &spec.hash_list, "any or publisher/name"))
            (text_input("Takedown status", "status", &spec.status, "none, notice-sent, …"))
            (text_input("Received since", "since", &spec.since, "2026-01-01T00:00:00Z"))
            (text_input("Received before", "until", &spec.until, "RFC 3339"))
            label { "Order"
                select name="order" id="f-order" {
                    option value="newest" selected[order == "newest"] { "newest first" }
                    option value="oldest" selected[order == "oldest"] { "oldest first" }
                }
            }
            button type="submit" id="search" { "Search" }
            a href="/reports" { "Clear" }
        }
    }
}

fn facets(spec: &SearchSpec, results: &Results) -> Markup {
    let group = |title: &str, entries: &[(String, u64)], set: &dyn Fn(&mut SearchSpec, &str)| {
        html! {
            div {
                strong { (title) }
                ul {
                    @for (value, count) in entries {
                        li {
                            a href=({ let mut s = spec.clone(); set(&mut s, value); s.offset = None; link(&s) }) { (value) }
                            " (" (count) ")"
                        }
                    }
                }
            }
        }
    };
    html! {
        div.facets id="facets" {
            (group("Classification", &results.facets.classification, &|s, v| s.classification = Some(v.to_owned())))
            (group("Hosting country", &results.facets.country, &|s, v| s.country = Some(v.to_owned())))
            (group("Hotline", &results.facets.hotline, &|s, v| s.hotline = Some(v.to_owned())))
        }
    }
}

fn results_table(authed: &Authed, spec: &SearchSpec, results: &Results) -> Markup {
    let compose = packages::may_compose(authed);
    let flipped = {
        let mut s = spec.clone();
        s.order = Some(
            if spec.order.as_deref() == Some("oldest") {
                "newest"
            } else {
                "oldest"
            }
            .into(),
        );
        s.offset = None;
        s
    };
    let limit = spec.limit.unwrap_or(search::spec::DEFAULT_LIMIT);
    let offset = spec.offset.unwrap_or(0);
    html! {
        p id="total" { (results.total) " reports" }
        form method="post" action="/packages" id="package-form" {
        input type="hidden" name="csrf" value=(authed.session.csrf);
        table id="results" {
            thead { tr {
                @if compose { th { "Package" } }
                th { a href=(link(&flipped)) title="Change the order" { "Received ↕" } }
                th { "Hotline" } th { "Reported URL" } th { "Country" } th { "Media" } th { "Status" }
            } }
            tbody {
                @for hit in &results.page {
                    tr {
                        @if compose {
                            td { input type="checkbox" name="report" value={(hit.origin.as_str()) "/" (hex::encode(hit.doc.report_key))}; }
                        }
                        td { (hit.doc.received_at.to_string()) }
                        td { (hit.origin.as_str()) }
                        td { a.report href={"/reports/" (hit.origin.as_str()) "/" (hex::encode(hit.doc.report_key))} { (hit.doc.url) } }
                        td { (hit.doc.country.map(|c| c.to_string()).unwrap_or_else(|| "?".into())) }
                        td {
                            @for c in Classification::ALL {
                                @if hit.visible & search::class_bit(c) != 0 {
                                    span class={"class-" (c.as_str())} { (c.as_str()) } " "
                                }
                            }
                        }
                        td { (hit.doc.status.map(|s| s.as_str()).unwrap_or("")) }
                    }
                }
            }
        }
        @if compose { (packages::case_fields()) }
        }
        div.pager {
            @if offset > 0 {
                a href=({ let mut s = spec.clone(); s.offset = Some(offset.saturating_sub(limit)); link(&s) }) { "← Previous" }
            }
            @if (offset + results.page.len()) < usize::try_from(results.total).unwrap_or(usize::MAX) {
                a id="next" href=({ let mut s = spec.clone(); s.offset = Some(offset + limit); link(&s) }) { "Next →" }
            }
        }
    }
}

/// `GET /reports`: the queue and search.
pub async fn queue(
    State(state): State<PortalState>,
    authed: Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, PortalError> {
    authed.require(READERS)?;
    let request =
        search_request(raw.as_deref()).map_err(|e| PortalError::BadRequest(e.to_string()))?;
    let actor = authed.actor()?;
    let criteria = request.criteria.clone();
    let saved_name = request.saved.clone();
    let outcome = blocking(&state.app, move |app| {
        let results = match &saved_name {
            Some(name) => app.run_saved_search(&actor, name, &criteria, request.purpose.as_deref()),
            None => {
                let query = criteria
                    .to_query()
                    .map_err(|e| crate::app::AppError::Invalid(e.to_string()))?;
                app.search_reports(&actor, &query, request.purpose.as_deref())
            }
        };
        let saved = app.saved_searches()?;
        Ok((results, saved))
    })
    .await?;
    let (results, saved) = outcome;
    let spec = match &request.saved {
        Some(name) => saved
            .iter()
            .find(|s| &s.name == name)
            .map(|s| s.criteria.with_paging(&request.criteria))
            .unwrap_or_else(|| request.criteria.clone()),
        None => request.criteria.clone(),
    };
    let body = html! {
        (filters(&spec))
        @match &results {
            Ok(results) => {
                (facets(&spec, results))
                (results_table(&authed, &spec, results))
            }
            Err(e) => p.message role="alert" { "Search refused: " (e.to_string()) }
        }
        h2 { "Saved searches" }
        ul id="saved" {
            @for s in &saved {
                li { a href={"/reports?saved=" (urlencode(&s.name))} { (s.name) } }
            }
        }
        @if !spec.is_empty() {
            form method="post" action="/searches" {
                input type="hidden" name="csrf" value=(authed.session.csrf);
                input type="hidden" name="criteria" value=(serde_urlencoded::to_string(&spec).unwrap_or_default());
                label { "Save this search as " input type="text" name="name" id="save-name" required maxlength="64"; }
                button type="submit" id="save-search" { "Save" }
            }
        }
    };
    Ok(layout::page(&authed, &agency_of(&state), "Reports", body).into_response())
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// The save-search form.
#[derive(Debug, Deserialize)]
pub struct SaveForm {
    name: String,
    criteria: String,
}

/// `POST /searches`: saves the current criteria under a name.
pub async fn save_search(
    State(state): State<PortalState>,
    authed: Authed,
    Form(form): Form<SaveForm>,
) -> Result<Response, PortalError> {
    authed.require(READERS)?;
    let criteria: SearchSpec = serde_urlencoded::from_str(&form.criteria)
        .map_err(|e| PortalError::BadRequest(format!("search: {e}")))?;
    let actor = authed.actor()?;
    let name = form.name.clone();
    blocking(&state.app, move |app| {
        app.save_search(&actor, &name, criteria)
    })
    .await?;
    Ok(Redirect::to(&format!("/reports?saved={}", urlencode(&form.name))).into_response())
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn report_meta(detail: &Value) -> Markup {
    let row = |label: &str, value: &Value| html! { dt { (label) } dd { (text(value)) } };
    html! {
        dl.meta id="report-meta" {
            (row("Reported URL", &detail["reported_url"]))
            (row("Final URL", &detail["final_url"]))
            dt { "Redirects" }
            dd { @if let Some(list) = detail["redirects"].as_array() { @for r in list { div { (text(r)) } } } }
            (row("Received", &detail["received_at"]))
            (row("Intake", &detail["intake"]))
            (row("Hosting IP", &detail["hosting"]["ip"]))
            (row("Hosting country", &detail["hosting"]["country"]))
            (row("HTTP status", &detail["page"]["http_status"]))
            (row("Page title", &detail["page"]["title"]))
            (row("Fetched", &detail["page"]["fetched_at"]))
            (row("Revision", &detail["revision"]))
            (row("Hotline", &detail["origin"]))
            (row("Shared under", &detail["agreement"]))
        }
    }
}

fn revisions(detail: &Value) -> Markup {
    html! {
        h2 { "Revision history" }
        table id="revisions" {
            thead { tr { th { "Revision" } th { "Signed" } th { "Country" } th { "Classifications" } } }
            tbody {
                @if let Some(list) = detail["revisions"].as_array() {
                    @for r in list {
                        tr {
                            td { (text(&r["revision"])) }
                            td { (text(&r["signed_at"])) }
                            td { (text(&r["hosting_country"])) }
                            td {
                                @if let Some(items) = r["items"].as_array() {
                                    @for i in items {
                                        div { span.hash { (text(&i["sha256"]).get(..12).unwrap_or("")) "…" } " " (text(&i["classification"]))
                                            @if !i["classified_by"].is_null() { " (" (text(&i["classified_by"])) ")" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(list) = detail["statuses"].as_array() {
            @if !list.is_empty() {
                h2 { "Takedown statuses" }
                ul { @for s in list { li { (text(&s["at"])) ": " (text(&s["status"])) " by " (text(&s["by"])) } } }
            }
        }
    }
}

/// The host of the report's final URL (what an IWOL suggestion names).
fn domain_of(detail: &Value) -> String {
    detail["final_url"]
        .as_str()
        .or(detail["reported_url"].as_str())
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `GET /reports/{origin}/{key}`: a report's page (audited as a report view).
pub async fn detail(
    State(state): State<PortalState>,
    authed: Authed,
    Path((origin, key)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    authed.require(READERS)?;
    let (origin_id, report_key) = report_ref(&origin, &key)?;
    let actor = authed.actor()?;
    let lookup = origin_id.clone();
    let detail = blocking(&state.app, move |app| {
        app.report_detail(&actor, &lookup, &report_key)
    })
    .await?;
    let can_classify = authed.user.has(PortalRole::Analyst) && &origin_id == state.app.me();
    let body = html! {
        (report_meta(&detail))
        h2 { "Media" }
        @if can_classify {
            p.shortcuts { "Keys: j/k next/previous item, r reveal, b baseline, n nationally illegal, x not illegal." }
        }
        div.items id="items" {
            @if let Some(items) = detail["items"].as_array() {
                @for item in items {
                    (media::item_card(&authed, &origin, &key, item, can_classify))
                }
            }
        }
        (revisions(&detail))
        (iwol::suggest_form(&authed, detail["record_id"].as_str().unwrap_or(""), &domain_of(&detail)))
        p { a href="/reports" { "← Back to the reports" } }
    };
    Ok(layout::page(&authed, &agency_of(&state), "Report", body).into_response())
}

/// The classification form.
#[derive(Debug, Deserialize)]
pub struct ClassifyForm {
    sha256: String,
    classification: String,
}

/// `POST /reports/{origin}/{key}/classify`: an analyst classifies one item of this hotline's
/// own report (a new signed revision).
pub async fn classify(
    State(state): State<PortalState>,
    authed: Authed,
    Path((origin, key)): Path<(String, String)>,
    Form(form): Form<ClassifyForm>,
) -> Result<Response, PortalError> {
    authed.require(&[PortalRole::Analyst])?;
    let (origin_id, report_key) = report_ref(&origin, &key)?;
    if &origin_id != state.app.me() {
        // Only the originating hotline classifies; others' reports are read-only here.
        return Err(PortalError::Forbidden);
    }
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(&form.sha256, &mut sha256)
        .map_err(|_| PortalError::BadRequest("a SHA-256 is 64 hex digits".into()))?;
    let classification = Classification::ALL
        .into_iter()
        .find(|c| c.as_str() == form.classification && *c != Classification::Unassessed)
        .ok_or_else(|| PortalError::BadRequest("unknown classification".into()))?;
    let analyst = authed.user.name.clone();
    let committed = blocking(&state.app, move |app| {
        app.classify(&report_key, &sha256, classification, &analyst)
    })
    .await?;
    state.federation.committed(committed).await;
    Ok(Redirect::to(&format!("/reports/{origin}/{key}#item-{}", form.sha256)).into_response())
}

/// Paging of the audit log.
#[derive(Debug, Deserialize)]
pub struct AuditPage {
    #[serde(default)]
    after: u64,
}

/// `GET /audit`: the audit trail, for auditors, with the chain's verification.
pub async fn audit_log(
    State(state): State<PortalState>,
    authed: Authed,
    Query(page): Query<AuditPage>,
) -> Result<Response, PortalError> {
    authed.require(&[PortalRole::Auditor])?;
    let (entries, verified) = blocking(&state.app, move |app| {
        Ok((
            app.audit_entries(page.after, AUDIT_PAGE)?,
            app.verify_audit(),
        ))
    })
    .await?;
    let last = entries.last().map(|e| e.seq);
    let body = html! {
        p id="chain" {
            @match &verified {
                Ok(v) => @match &v.broken {
                    None => { "Chain verified: " (v.entries) " entries." }
                    Some(b) => { strong { "Chain broken at entry " (b.seq) ": " (b.reason) } }
                }
                Err(e) => { strong { "Chain verification failed: " (e.to_string()) } }
            }
        }
        table id="audit" {
            thead { tr { th { "#" } th { "When" } th { "Who" } th { "Action" } th { "What" } th { "Purpose" } th { "Recipient" } } }
            tbody {
                @for e in &entries {
                    tr {
                        td { (e.seq) } td { (e.record.at.to_string()) } td { (e.record.actor) }
                        td { (e.record.action) } td { (e.record.target) }
                        td { (e.record.purpose.as_deref().unwrap_or("")) }
                        td { (e.record.recipient.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        @if let Some(last) = last {
            @if entries.len() == AUDIT_PAGE { p.pager { a href={"/audit?after=" (last)} { "Next →" } } }
        }
    };
    Ok(layout::page(&authed, &agency_of(&state), "Audit log", body).into_response())
}
