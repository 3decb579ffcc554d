//! The admin API (`safeport-admin` talks to it): peers, agreements, status, rejections and
//! CRL updates. Served on its own listener (loopback by default) and protected by a bearer
//! token kept in a 0600 file. Handlers are thin: extract, call the domain layer, map errors.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use safeport_protocol::agreement::{AgreementTerms, templates};
use safeport_protocol::pki::Crl;
use safeport_protocol::{AgencyId, Classification, Country, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ApiError, HttpLimits, agency, hex_id, not_found, with_layers};
use crate::app::App;
use crate::app::agreements::AgreementState;
use crate::app::audit::AuditAction;
use crate::federation::{FederationHandle, PeerSync};

/// Longest agreement validity accepted, in days.
pub const MAX_AGREEMENT_DAYS: u32 = 3650;
/// Most rejections listed.
pub const MAX_REJECTIONS_LISTED: usize = 200;

/// State of the admin API.
#[derive(Clone)]
pub struct AdminState {
    /// The domain layer.
    pub app: Arc<App>,
    /// The federation driver (and through it the network).
    pub federation: FederationHandle,
    /// The media blob store (to say which content is held).
    pub blobs: crate::blobs::BlobStore,
    /// SHA-256 of the bearer token (compared digest to digest).
    pub token_digest: [u8; 32],
    /// Request limits.
    pub limits: HttpLimits,
    /// How IWOL exports write the RPZ zone (`[iwol]`).
    pub rpz: safeport_protocol::iwol::export::RpzOptions,
}

/// Builds the admin router.
pub fn admin_router(state: AdminState) -> Router {
    let limits = state.limits;
    let routes = Router::new()
        .route("/admin/status", get(status))
        .route("/admin/peers", get(list_peers).post(add_peer))
        .route("/admin/peers/{agency}", delete(remove_peer))
        .route("/admin/agreements", get(list_agreements).post(propose))
        .route("/admin/agreements/{id}/accept", post(accept))
        .route("/admin/agreements/{id}/revoke", post(revoke))
        .route("/admin/rejections", get(rejections))
        .route("/admin/records/{id}/withdraw", post(withdraw))
        .route("/admin/crl", post(update_crl))
        .merge(super::reports::routes())
        .merge(super::collections::routes())
        .merge(super::hashlists::routes())
        .merge(super::iwol::routes())
        .merge(super::audit::routes())
        .merge(super::backup::routes())
        .merge(super::packages::routes())
        .merge(super::search::routes())
        .merge(super::users::routes())
        .fallback(not_found)
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state);
    with_layers(routes, limits)
}

async fn require_token(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
    if digest != state.token_digest {
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(request).await)
}

pub(super) async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    work: impl FnOnce(&App) -> Result<T, crate::app::AppError> + Send + 'static,
) -> Result<T, ApiError> {
    let app = Arc::clone(app);
    Ok(tokio::task::spawn_blocking(move || work(&app)).await??)
}

fn agreement_id(text: &str) -> Result<[u8; 16], ApiError> {
    hex_id(text, "an agreement id")
}

/// One peer in the status and peer list.
#[derive(Debug, Serialize)]
pub struct PeerView {
    /// The agency (configured, or certified once admitted).
    pub agency: Option<String>,
    /// The configured address, if an admin configured this peer.
    pub configured_address: Option<String>,
    /// `connecting`, `admitted`, `refused` or `disconnected` (or `not-connected`).
    pub state: String,
    /// Why it was refused.
    pub reason: Option<String>,
    /// The libp2p peer id, once connected.
    pub peer_id: Option<String>,
    /// Our outbox for this peer: newest position.
    pub outbox_head: u64,
    /// Where the peer last asked to read from in that outbox.
    pub outbox_served_after: u64,
    /// Records waiting for this peer (`outbox_head - served_after`).
    pub outbox_lag: u64,
    /// How far this node has pulled the peer's outbox.
    pub cursor: u64,
    /// Sync counters.
    pub sync: PeerSync,
}

/// Every peer: configured, connected or refused, with its sync state (the status endpoint and
/// the portal's peers page).
pub(crate) async fn peer_views(
    federation: &FederationHandle,
    app: &Arc<App>,
) -> Result<Vec<PeerView>, ApiError> {
    let net_peers = federation
        .net()
        .peers()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let progress = federation.progress();
    let app = Arc::clone(app);
    let configured = blocking(&app, |app| Ok(app.store().peers()?)).await?;
    let mut agencies: Vec<AgencyId> = configured.iter().map(|(a, _)| a.clone()).collect();
    agencies.extend(net_peers.iter().filter_map(|p| p.agency.clone()));
    agencies.extend(progress.keys().cloned());
    agencies.sort();
    agencies.dedup();
    let mut views = Vec::new();
    for agency in agencies {
        let net = net_peers
            .iter()
            .find(|p| p.agency.as_ref() == Some(&agency));
        let (state_name, reason) = match net.map(|p| &p.state) {
            None => ("not-connected".to_owned(), None),
            Some(crate::net::PeerState::Connecting) => ("connecting".to_owned(), None),
            Some(crate::net::PeerState::Admitted) => ("admitted".to_owned(), None),
            Some(crate::net::PeerState::Disconnected) => ("disconnected".to_owned(), None),
            Some(crate::net::PeerState::Refused { reason }) => {
                ("refused".to_owned(), Some(reason.clone()))
            }
        };
        let sync = progress.get(&agency).cloned().unwrap_or_default();
        let peer = agency.clone();
        let (head, cursor) = blocking(&app, move |app| {
            Ok((app.store().outbox_head(&peer)?, app.store().cursor(&peer)?))
        })
        .await?;
        views.push(PeerView {
            configured_address: configured
                .iter()
                .find(|(a, _)| a == &agency)
                .map(|(_, addr)| addr.clone()),
            agency: Some(agency.to_string()),
            state: state_name,
            reason,
            peer_id: net.map(|p| p.peer_id.to_string()),
            outbox_head: head,
            outbox_served_after: sync.served_after,
            outbox_lag: head.saturating_sub(sync.served_after),
            cursor,
            sync,
        });
    }
    // Refused connections whose certificate never named an agency.
    for peer in net_peers.iter().filter(|p| p.agency.is_none()) {
        if let crate::net::PeerState::Refused { reason } = &peer.state {
            views.push(PeerView {
                agency: None,
                configured_address: None,
                state: "refused".into(),
                reason: Some(reason.clone()),
                peer_id: Some(peer.peer_id.to_string()),
                outbox_head: 0,
                outbox_served_after: 0,
                outbox_lag: 0,
                cursor: 0,
                sync: PeerSync::default(),
            });
        }
    }
    Ok(views)
}

async fn status(State(state): State<AdminState>) -> Result<Json<serde_json::Value>, ApiError> {
    let peers = peer_views(&state.federation, &state.app).await?;
    let listen: Vec<String> = state
        .federation
        .net()
        .listen_addrs()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .iter()
        .map(ToString::to_string)
        .collect();
    let app = Arc::clone(&state.app);
    let records = blocking(&app, |app| Ok(app.store().record_count()?)).await?;
    // Lists held, with staleness: an expired list is an alarm for the operator.
    let hash_lists = blocking(&app, |app| app.hash_lists()).await?;
    let iwol = blocking(&app, |app| app.iwol_status()).await?;
    let identity = state.app.identity();
    Ok(Json(serde_json::json!({
        "agency": identity.info.agency_id,
        "role": identity.info.role,
        "country": identity.info.country,
        "peer_id": state.federation.net().local_peer_id().to_string(),
        "listen": listen,
        "records": records,
        "peers": peers,
        "hash_lists": hash_lists,
        "iwol": iwol,
    })))
}

async fn list_peers(State(state): State<AdminState>) -> Result<Json<Vec<PeerView>>, ApiError> {
    Ok(Json(peer_views(&state.federation, &state.app).await?))
}

/// Body of `POST /admin/peers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddPeer {
    /// The peer's multiaddr, e.g. `/ip4/192.0.2.1/tcp/4470`.
    pub address: String,
    /// The agency its certificate must name.
    pub agency: String,
}

async fn add_peer(
    State(state): State<AdminState>,
    body: Result<Json<AddPeer>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body?;
    let agency = agency(&body.agency)?;
    let address: libp2p::Multiaddr = body
        .address
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("address {:?}: {e}", body.address)))?;
    let stored = (agency.clone(), address.to_string());
    blocking(&state.app, move |app| {
        Ok(app.store().put_peer(&stored.0, &stored.1)?)
    })
    .await?;
    state
        .federation
        .net()
        .add_peer(address.clone(), agency.clone())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(
        serde_json::json!({ "agency": agency.to_string(), "address": address.to_string() }),
    ))
}

async fn remove_peer(
    State(state): State<AdminState>,
    Path(agency_text): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let agency = agency(&agency_text)?;
    let peer = agency.clone();
    let removed = blocking(&state.app, move |app| Ok(app.store().remove_peer(&peer)?)).await?;
    if !removed {
        return Err(ApiError::NotFound);
    }
    state
        .federation
        .net()
        .remove_peer(&agency)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(serde_json::json!({ "removed": agency.to_string() })))
}

/// One agreement in `GET /admin/agreements`.
#[derive(Debug, Serialize)]
pub struct AgreementView {
    /// Agreement id (hex).
    pub id: String,
    /// Provider agency.
    pub provider: String,
    /// Recipient agency.
    pub recipient: String,
    /// The scope.
    pub scope: serde_json::Value,
    /// Validity start.
    pub valid_from: String,
    /// Validity end.
    pub valid_until: String,
    /// State (pending, active, revoked, …).
    pub state: AgreementState,
}

async fn list_agreements(
    State(state): State<AdminState>,
) -> Result<Json<Vec<AgreementView>>, ApiError> {
    let book = state.app.agreements();
    let views = book
        .entries()
        .map(|(id, entry)| {
            let terms = &entry.agreement.terms;
            AgreementView {
                id: hex::encode(id),
                provider: terms.provider.to_string(),
                recipient: terms.recipient.to_string(),
                scope: serde_json::to_value(&terms.scope).unwrap_or_default(),
                valid_from: terms.valid_from.to_string(),
                valid_until: terms.valid_until.to_string(),
                state: entry.state.clone(),
            }
        })
        .collect();
    Ok(Json(views))
}

/// Body of `POST /admin/agreements`: a proposal from a template.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Propose {
    /// `forwarding`, `icse-contribution`, `national-access`, `hash-list-subscription`,
    /// `iwol-subscription` or `iwol-contribution`.
    pub template: String,
    /// The providing agency (this node or the counterparty).
    pub provider: String,
    /// The receiving agency.
    pub recipient: String,
    /// Hosting country (forwarding), jurisdiction (national access) or the national list's
    /// country (hash-list subscription).
    pub country: Option<String>,
    /// Classifications for national access (default: baseline and nationally illegal).
    pub classifications: Option<Vec<String>>,
    /// Validity in days from now.
    pub days: u32,
}

async fn propose(
    State(state): State<AdminState>,
    headers: axum::http::HeaderMap,
    body: Result<Json<Propose>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = super::actor(&headers)?;
    let Json(body) = body?;
    if body.days == 0 || body.days > MAX_AGREEMENT_DAYS {
        return Err(ApiError::BadRequest(format!(
            "days must be 1 to {MAX_AGREEMENT_DAYS}"
        )));
    }
    let country = || -> Result<Country, ApiError> {
        let text = body
            .country
            .as_deref()
            .ok_or_else(|| ApiError::BadRequest("this template needs a country".into()))?;
        Country::new(text).map_err(|e| ApiError::BadRequest(e.to_string()))
    };
    let template = match body.template.as_str() {
        "forwarding" => templates::forwarding(country()?),
        "icse-contribution" => templates::icse_contribution(),
        "hash-list-subscription" => templates::hash_list_subscription(
            body.country
                .as_ref()
                .map(|_| country())
                .transpose()?
                .into_iter()
                .collect(),
        ),
        "iwol-subscription" => templates::iwol_subscription(),
        "iwol-contribution" => templates::iwol_contribution(),
        "national-access" => {
            let classifications = match &body.classifications {
                None => vec![Classification::Baseline, Classification::NationallyIllegal],
                Some(list) => list
                    .iter()
                    .map(|c| {
                        c.parse().map_err(|e: safeport_protocol::ids::IdError| {
                            ApiError::BadRequest(e.to_string())
                        })
                    })
                    .collect::<Result<_, _>>()?,
            };
            templates::national_access(country()?, classifications)
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown template {other:?}: use forwarding, icse-contribution, national-access, \
                 hash-list-subscription, iwol-subscription or iwol-contribution"
            )));
        }
    };
    let now = state.app.now();
    let terms = AgreementTerms {
        agreement_id: random_id()?,
        provider: agency(&body.provider)?,
        recipient: agency(&body.recipient)?,
        scope: template.scope,
        valid_from: now,
        valid_until: Timestamp(now.0.saturating_add(u64::from(body.days) * 86_400_000)),
    };
    let id = terms.agreement_id;
    let target = format!(
        "agreement {} ({}: {} to {})",
        hex::encode(id),
        template.name,
        terms.provider,
        terms.recipient
    );
    let (_, committed) = blocking(&state.app, move |app| {
        app.audit(&actor, AuditAction::AgreementPropose, &target, None, None)?;
        app.propose_agreement(terms)
    })
    .await?;
    state.federation.committed(committed).await;
    Ok(Json(
        serde_json::json!({ "id": hex::encode(id), "template": template.name }),
    ))
}

fn random_id() -> Result<[u8; 16], ApiError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(id)
}

async fn accept(
    State(state): State<AdminState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = super::actor(&headers)?;
    let id = agreement_id(&id)?;
    let (_, committed) =
        blocking(&state.app, move |app| app.accept_agreement_by(&actor, &id)).await?;
    state.federation.committed(committed).await;
    Ok(Json(serde_json::json!({ "accepted": hex::encode(id) })))
}

/// Body of `POST /admin/agreements/{id}/revoke`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// Why, for the other party.
    pub reason: String,
}

async fn revoke(
    State(state): State<AdminState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<Revoke>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = super::actor(&headers)?;
    let Json(body) = body?;
    let id = agreement_id(&id)?;
    let (_, committed) = blocking(&state.app, move |app| {
        app.revoke_agreement_by(&actor, &id, body.reason)
    })
    .await?;
    state.federation.committed(committed).await;
    Ok(Json(serde_json::json!({ "revoked": hex::encode(id) })))
}

async fn rejections(
    State(state): State<AdminState>,
) -> Result<Json<Vec<crate::store::Rejection>>, ApiError> {
    let list = blocking(&state.app, |app| {
        Ok(app.store().rejections(MAX_REJECTIONS_LISTED)?)
    })
    .await?;
    Ok(Json(list))
}

async fn update_crl(
    State(state): State<AdminState>,
    pem: String,
) -> Result<Json<serde_json::Value>, ApiError> {
    let trust = state.app.trust();
    let crl =
        Crl::from_pem(&pem, &trust.anchors).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let revoked = crl.len();
    blocking(&state.app, {
        let crl = crl.clone();
        move |app| app.update_crl(crl)
    })
    .await?;
    state
        .federation
        .net()
        .update_trust(trust.anchors, Some(crl))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(serde_json::json!({ "revoked_certificates": revoked })))
}

/// Body of `POST /admin/records/{id}/withdraw`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withdraw {
    /// Why, for the holders.
    pub reason: String,
}

async fn withdraw(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    body: Result<Json<Withdraw>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body?;
    let id: safeport_protocol::RecordId = id
        .parse()
        .map_err(|e: safeport_protocol::ids::IdError| ApiError::BadRequest(e.to_string()))?;
    let (withdrawal, committed) =
        blocking(&state.app, move |app| app.withdraw(&id, body.reason)).await?;
    state.federation.committed(committed).await;
    Ok(Json(
        serde_json::json!({ "withdrawn": id.to_hex(), "withdrawal": withdrawal.to_hex() }),
    ))
}
