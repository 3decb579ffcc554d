//! The node's federation as its admins and users see it: agreements (active, pending with
//! accept and decline, revoked), peers with their sync state, and the hash lists and IWOL
//! version held with their staleness. Agreement decisions are audited like the admin API's.

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::reports::agency_of;
use super::{Authed, PortalError, PortalState, blocking, layout};
use crate::app::accounts::PortalRole;
use crate::app::agreements::AgreementState;
use crate::http::admin::peer_views;

fn agreement_id(text: &str) -> Result<[u8; 16], PortalError> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text, &mut id)
        .map_err(|_| PortalError::BadRequest("an agreement id is 32 hex digits".into()))?;
    Ok(id)
}

fn state_label(state: &AgreementState) -> String {
    match state {
        AgreementState::Pending { awaiting } => format!("pending (awaiting {awaiting})"),
        AgreementState::Active => "active".into(),
        AgreementState::NotValidNow => "not valid now".into(),
        AgreementState::Revoked { by, reason } => format!("revoked by {by}: {reason}"),
        AgreementState::Invalid { reason } => format!("invalid: {reason}"),
    }
}

/// `GET /agreements` (admins).
pub async fn agreements(
    State(state): State<PortalState>,
    authed: Authed,
) -> Result<Response, PortalError> {
    authed.require(&[PortalRole::Admin])?;
    let book = state.app.agreements();
    let me = state.app.me().clone();
    let body = html! {
        table id="agreements" {
            thead { tr { th { "Agreement" } th { "Provider" } th { "Recipient" } th { "Scope" } th { "Valid" } th { "State" } th { "Decide" } } }
            tbody {
                @for (id, entry) in book.entries() {
                    @let terms = &entry.agreement.terms;
                    @let id_hex = hex::encode(id);
                    tr id={"agreement-" (id_hex)} {
                        td.hash { (id_hex) }
                        td { (terms.provider.as_str()) }
                        td { (terms.recipient.as_str()) }
                        td.hash { (serde_json::to_string(&terms.scope).unwrap_or_default()) }
                        td { (terms.valid_from.to_string()) " – " (terms.valid_until.to_string()) }
                        td.state { (state_label(&entry.state)) }
                        td {
                            @if matches!(&entry.state, AgreementState::Pending { awaiting } if awaiting == &me) {
                                form method="post" action={"/agreements/" (id_hex) "/accept"} {
                                    input type="hidden" name="csrf" value=(authed.session.csrf);
                                    button type="submit" class="accept" { "Accept" }
                                }
                            }
                            @if matches!(&entry.state, AgreementState::Pending { .. } | AgreementState::Active | AgreementState::NotValidNow) {
                                form method="post" action={"/agreements/" (id_hex) "/revoke"} {
                                    input type="hidden" name="csrf" value=(authed.session.csrf);
                                    input type="text" name="reason" required maxlength="512" placeholder="reason";
                                    button type="submit" class="revoke" {
                                        @if matches!(entry.state, AgreementState::Pending { .. }) { "Decline" } @else { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&authed, &agency_of(&state), "Agreements", body).into_response())
}

/// `POST /agreements/{id}/accept` (admins): countersigns a pending proposal, audited.
pub async fn accept(
    State(state): State<PortalState>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    authed.require(&[PortalRole::Admin])?;
    let id = agreement_id(&id)?;
    let actor = authed.actor()?;
    let (_, committed) =
        blocking(&state.app, move |app| app.accept_agreement_by(&actor, &id)).await?;
    state.federation.committed(committed).await;
    Ok(Redirect::to("/agreements").into_response())
}

/// The decline or revoke form.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    reason: String,
}

/// `POST /agreements/{id}/revoke` (admins): declines a proposal or ends an agreement, audited.
pub async fn revoke(
    State(state): State<PortalState>,
    authed: Authed,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, PortalError> {
    authed.require(&[PortalRole::Admin])?;
    let id = agreement_id(&id)?;
    let actor = authed.actor()?;
    let (_, committed) = blocking(&state.app, move |app| {
        app.revoke_agreement_by(&actor, &id, form.reason)
    })
    .await?;
    state.federation.committed(committed).await;
    Ok(Redirect::to("/agreements").into_response())
}

/// `GET /peers` (admins): peers and sync status.
pub async fn peers(
    State(state): State<PortalState>,
    authed: Authed,
) -> Result<Response, PortalError> {
    authed.require(&[PortalRole::Admin])?;
    let views = peer_views(&state.federation, &state.app)
        .await
        .map_err(|e| PortalError::Conflict(e.to_string()))?;
    let body = html! {
        table id="peers" {
            thead { tr { th { "Agency" } th { "Address" } th { "State" } th { "Our outbox" } th { "Waiting for them" } th { "Our cursor of theirs" } } }
            tbody {
                @for peer in &views {
                    tr {
                        td { (peer.agency.as_deref().unwrap_or("(unnamed)")) }
                        td.hash { (peer.configured_address.as_deref().unwrap_or("")) }
                        td.state { (peer.state) @if let Some(reason) = &peer.reason { ": " (reason) } }
                        td { (peer.outbox_head) }
                        td { (peer.outbox_lag) }
                        td { (peer.cursor) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&authed, &agency_of(&state), "Peers and sync", body).into_response())
}

/// `GET /hashlists` (every role but auditors): lists and IWOL held, with staleness.
pub async fn hash_lists(
    State(state): State<PortalState>,
    authed: Authed,
) -> Result<Response, PortalError> {
    authed.require(&[
        PortalRole::Admin,
        PortalRole::Analyst,
        PortalRole::Investigator,
        PortalRole::Reviewer,
    ])?;
    let (lists, iwol) = blocking(&state.app, |app| {
        Ok((app.hash_lists()?, app.iwol_status()?))
    })
    .await?;
    let time = |ms: u64| safeport_protocol::Timestamp(ms).to_string();
    let body = html! {
        table id="hash-lists" {
            thead { tr { th { "List" } th { "Publisher" } th { "Version" } th { "Entries" } th { "Published" } th { "Expires" } th { "State" } } }
            tbody {
                @for list in &lists {
                    tr {
                        td { (list.list) } td { (list.publisher) } td { (list.version) } td { (list.entry_count) }
                        td { (time(list.published_at)) } td { (time(list.expires_at)) }
                        td { @if list.stale { strong { "stale: expired, still matching" } } @else { "current" } }
                    }
                }
            }
        }
        h2 { "INTERPOL Worst Of list" }
        p id="iwol-status" {
            @match &iwol {
                Some(s) => { "Version " (s.version) ", " (s.domains) " domains, published " (s.published_at) ", expires " (s.expires_at) @if s.stale { strong { " (stale)" } } }
                None => { "No version held." }
            }
        }
    };
    Ok(layout::page(&authed, &agency_of(&state), "Hash lists", body).into_response())
}
