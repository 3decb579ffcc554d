//! The IWOL in the portal: suggesting a report's domain (or confirming another agency's open
//! suggestion of it) from the report's page, the list of suggestions with their evidence, and
//! INTERPOL's review (accept or reject, always with a reason). The domain layer enforces who
//! may do what (hotlines and police suggest, only INTERPOL's node reviews, two agencies
//! before a listing); the portal adds the role check.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use maud::{Markup, html};
use safeport_protocol::RecordId;
use safeport_protocol::iwol::Criterion;
use serde::Deserialize;

use super::reports::{READERS, agency_of};
use super::{Authed, PortalError, PortalState, blocking, layout};
use crate::app::accounts::PortalRole;
use crate::app::iwol::{Review, SuggestRequest};
use crate::app::iwol_views::SuggestionStatus;

/// Who suggests: hotline analysts and police investigators.
const SUGGESTERS: &[PortalRole] = &[PortalRole::Analyst, PortalRole::Investigator];

fn record_id(text: &str) -> Result<RecordId, PortalError> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(text, &mut id)
        .map_err(|_| PortalError::BadRequest("a record id is 64 hex digits".into()))?;
    Ok(RecordId(id))
}

/// The suggestion form on a report's page.
pub fn suggest_form(authed: &Authed, record_id: &str, domain: &str) -> Markup {
    if !SUGGESTERS.iter().any(|r| authed.user.has(*r)) {
        return html! {};
    }
    html! {
        h2 { "Suggest for INTERPOL's Worst Of list" }
        form.iwol method="post" action="/iwol/suggest" id="iwol-form" {
            input type="hidden" name="csrf" value=(authed.session.csrf);
            input type="hidden" name="report" value=(record_id);
            label { "Domain " input type="text" name="domain" id="iwol-domain" value=(domain) required maxlength="253"; }
            fieldset {
                legend { "Criteria (all must hold)" }
                @for c in Criterion::ALL {
                    label { input type="checkbox" name="criteria" value=(c.as_str()); " " (c.as_str()) }
                }
            }
            label { "Note for the reviewer " input type="text" name="note" maxlength="1000"; }
            button type="submit" id="iwol-suggest" { "Suggest domain" }
        }
    }
}

/// The suggestion form's fields.
#[derive(Debug, Deserialize)]
pub struct SuggestForm {
    report: String,
    domain: String,
    #[serde(default)]
    criteria: Vec<String>,
    #[serde(default)]
    note: String,
}

/// `POST /iwol/suggest`: a new suggestion, or a confirmation when another agency's open
/// suggestion of the same domain exists.
pub async fn suggest(
    State(state): State<PortalState>,
    authed: Authed,
    Form(form): Form<SuggestForm>,
) -> Result<Response, PortalError> {
    authed.require(SUGGESTERS)?;
    let report = record_id(&form.report)?;
    let criteria = crate::app::iwol::parse_criteria(&form.criteria)?;
    let (_, committed) = blocking(&state.app, move |app| {
        let wanted = safeport_protocol::iwol::Domain::normalise(&form.domain)
            .map_err(|e| crate::app::AppError::Invalid(e.to_string()))?;
        let open = app.iwol_suggestions(Some(SuggestionStatus::Open))?;
        let confirms = open
            .iter()
            .find(|v| {
                v.domain == wanted.as_str() && !v.agencies.iter().any(|a| a == app.me().as_str())
            })
            .map(|v| record_id(&v.id))
            .transpose()
            .map_err(|e| crate::app::AppError::Invalid(e.to_string()))?;
        let request = SuggestRequest {
            domain: Some(wanted.as_str().to_owned()),
            criteria,
            reports: vec![report],
            media: Vec::new(),
            note: Some(form.note).filter(|n| !n.trim().is_empty()),
        };
        app.suggest_iwol(request, confirms)
    })
    .await?;
    state.federation.committed(committed).await;
    Ok(Redirect::to("/iwol").into_response())
}

/// `GET /iwol`: suggestions with evidence and decisions; INTERPOL's reviewers decide here.
pub async fn list(
    State(state): State<PortalState>,
    authed: Authed,
) -> Result<Response, PortalError> {
    authed.require(READERS)?;
    let views = blocking(&state.app, |app| app.iwol_suggestions(None)).await?;
    let reviewer = authed.user.has(PortalRole::Reviewer);
    let body = html! {
        table id="suggestions" {
            thead { tr { th { "Domain" } th { "Status" } th { "Agencies" } th { "Criteria" } th { "Evidence" } th { "Decision" } } }
            tbody {
                @for v in &views {
                    tr id={"suggestion-" (v.domain)} {
                        td { (v.domain) }
                        td.status { (format!("{:?}", v.status).to_lowercase()) }
                        td { (v.agencies.join(", ")) }
                        td { @if let Some(s) = &v.suggestion { (s.criteria.join(", ")) } }
                        td {
                            @if let Some(s) = &v.suggestion {
                                @for r in &s.reports { div.hash { (r.url) " (" (r.baseline_items) " baseline, " (r.nationally_illegal_items) " national)" } }
                            }
                        }
                        td {
                            @if let Some(d) = &v.decision { (d.reason) }
                            @else if reviewer && v.status == SuggestionStatus::Open {
                                form method="post" action={"/iwol/" (v.id) "/review"} {
                                    input type="hidden" name="csrf" value=(authed.session.csrf);
                                    input type="text" name="reason" required maxlength="1000" placeholder="reason";
                                    @if v.acceptable { button type="submit" name="decision" value="accept" { "Accept" } }
                                    @else { span { "Needs a second agency. " } }
                                    button type="submit" name="decision" value="reject" { "Reject" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&authed, &agency_of(&state), "IWOL suggestions", body).into_response())
}

/// The review form.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    decision: String,
    reason: String,
}

/// `POST /iwol/{id}/review` (INTERPOL's reviewers).
pub async fn review(
    State(state): State<PortalState>,
    authed: Authed,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, PortalError> {
    authed.require(&[PortalRole::Reviewer])?;
    let id = record_id(&id)?;
    let review = match form.decision.as_str() {
        "accept" => Review::Accept,
        "reject" => Review::Reject,
        _ => return Err(PortalError::BadRequest("decide accept or reject".into())),
    };
    let (_, committed) = blocking(&state.app, move |app| {
        app.review_iwol(&id, review, &form.reason, None)
    })
    .await?;
    state.federation.committed(committed).await;
    Ok(Redirect::to("/iwol").into_response())
}
