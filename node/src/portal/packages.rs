//! Intelligence packages in the portal: an investigator ticks reports in the search results
//! (or names a saved search), states the case reference and purpose, and downloads the signed
//! zip. Composition is the domain layer's (`compose_package`: only visible reports, content
//! only where granted, audited with the purpose and recipient).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Form;
use maud::{Markup, html};
use serde::Deserialize;

use super::reports::{agency_of, report_ref};
use super::{Authed, PortalError, PortalState, blocking, layout};
use crate::app::accounts::PortalRole;
use crate::app::packages::PackageRequest;
use crate::http::packages::package_response;

/// Most reports ticked in one form (a package holds at most 10,000; the domain checks).
const MAX_TICKED: usize = 10_000;

/// Whether the user composes packages.
pub fn may_compose(authed: &Authed) -> bool {
    authed.user.has(PortalRole::Investigator)
}

/// The case fields of a package form.
pub fn case_fields() -> Markup {
    html! {
        fieldset.package {
            legend { "Compose an intelligence package" }
            label { "Case reference " input type="text" name="case_reference" id="case-reference" required maxlength="256"; }
            label { "Purpose " input type="text" name="purpose" id="package-purpose" required maxlength="256"; }
            label { "Recipient (if it leaves the agency) " input type="text" name="recipient" maxlength="256"; }
            label { input type="checkbox" name="include_content" value="true"; " include media content where an agreement grants it" }
            button type="submit" id="compose-package" { "Download package" }
        }
    }
}

/// The package form's fields.
#[derive(Debug, Deserialize)]
pub struct PackageForm {
    #[serde(default)]
    report: Vec<String>,
    #[serde(default)]
    saved_search: String,
    case_reference: String,
    purpose: String,
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    include_content: Option<String>,
}

/// `POST /packages`: composes and downloads a package.
pub async fn compose(
    State(state): State<PortalState>,
    authed: Authed,
    Form(form): Form<PackageForm>,
) -> Result<Response, PortalError> {
    authed.require(&[PortalRole::Investigator])?;
    if form.report.len() > MAX_TICKED {
        return Err(PortalError::BadRequest(format!(
            "at most {MAX_TICKED} reports"
        )));
    }
    let reports = form
        .report
        .iter()
        .map(|r| {
            let (origin, key) = r
                .split_once('/')
                .ok_or_else(|| PortalError::BadRequest("a report is origin/key".into()))?;
            report_ref(origin, key)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let saved_search = Some(form.saved_search).filter(|s| !s.trim().is_empty());
    if reports.is_empty() && saved_search.is_none() {
        return Err(PortalError::BadRequest(
            "tick reports or choose a saved search".into(),
        ));
    }
    let request = PackageRequest {
        reports,
        case_reference: form.case_reference,
        purpose: form.purpose,
        recipient: Some(form.recipient).filter(|r| !r.trim().is_empty()),
        include_content: form.include_content.is_some(),
        saved_search,
    };
    let actor = authed.actor()?;
    let blobs = state.blobs.clone();
    let package = blocking(&state.app, move |app| {
        app.compose_package(&actor, &request, &blobs)
    })
    .await?;
    Ok(package_response(package))
}

/// `GET /packages`: a package from a saved search.
pub async fn page(
    State(state): State<PortalState>,
    authed: Authed,
) -> Result<Response, PortalError> {
    authed.require(&[PortalRole::Investigator])?;
    let saved = blocking(&state.app, |app| app.saved_searches()).await?;
    let body = html! {
        p { "Tick reports on the " a href="/reports" { "reports page" } ", or package everything a saved search finds now." }
        form method="post" action="/packages" {
            input type="hidden" name="csrf" value=(authed.session.csrf);
            label { "Saved search "
                select name="saved_search" id="package-saved" {
                    @for s in &saved { option value=(s.name) { (s.name) } }
                }
            }
            (case_fields())
        }
    };
    Ok(layout::page(&authed, &agency_of(&state), "Packages", body).into_response())
}
