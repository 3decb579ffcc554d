//! `GET /metrics`: the scrape-time gauges read from the network task, the federation driver
//! and the store, then every family encoded.
//!
//! The work per scrape is bounded: one peer-table request to the network task, two small
//! reads per known peer (at most [`MAX_PEERS`]), and the crawl queue counted up to
//! [`MAX_QUEUE_COUNTED`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use safeport_protocol::AgencyId;
use thiserror::Error;

use super::{CONTENT_TYPE, Metrics};
use crate::app::App;
use crate::federation::FederationHandle;
use crate::http::{ApiError, HttpLimits, not_found, with_layers};
use crate::net::{NetError, PeerState};
use crate::store::StoreError;

/// Most peers reported per scrape (the network's peer table is bounded well below).
pub const MAX_PEERS: usize = 1000;
/// The crawl queue is counted up to this many reports (one bounded store scan).
pub const MAX_QUEUE_COUNTED: usize = crate::store::MAX_PAGE;

/// Why a scrape failed.
#[derive(Debug, Error)]
pub enum ScrapeError {
    /// The network task did not answer.
    #[error("network unavailable")]
    Net(#[from] NetError),
    /// The store failed.
    #[error("store")]
    Store(#[from] StoreError),
    /// The blocking store task failed.
    #[error("store task")]
    Task(#[from] tokio::task::JoinError),
    /// Encoding failed (writing into a string does not fail; kept for the type).
    #[error("encoding metrics")]
    Encode(#[from] std::fmt::Error),
}

impl From<ScrapeError> for ApiError {
    fn from(err: ScrapeError) -> Self {
        match err {
            ScrapeError::Net(e) => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

/// One peer's outbox figures at scrape time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PeerOutbox {
    pub(super) agency: AgencyId,
    /// Our outbox head for it minus where it last pulled from.
    pub(super) pending: u64,
    /// Its announced or served head minus our cursor, when a head is known.
    pub(super) lag: Option<u64>,
}

/// The scrape-time gauges' values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Snapshot {
    /// Peers per state name.
    pub(super) peers: BTreeMap<&'static str, u64>,
    pub(super) outboxes: Vec<PeerOutbox>,
    pub(super) crawl_queue: usize,
}

fn state_name(state: &PeerState) -> &'static str {
    match state {
        PeerState::Connecting => "connecting",
        PeerState::Admitted => "admitted",
        PeerState::Refused { .. } => "refused",
        PeerState::Disconnected => "disconnected",
    }
}

impl Snapshot {
    /// Reads the figures: the same peers the admin status lists (configured, known to the
    /// network, or known from sync), plus connections that have not named an agency yet.
    async fn take(app: &Arc<App>, federation: &FederationHandle) -> Result<Self, ScrapeError> {
        let net_peers = federation.net().peers().await?;
        let progress = federation.progress();
        let mut agencies: Vec<AgencyId> = net_peers
            .iter()
            .filter_map(|p| p.agency.clone())
            .chain(progress.keys().cloned())
            .collect();
        let app = Arc::clone(app);
        let (heads, crawl_queue) = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let store = app.store();
            agencies.extend(store.peers()?.into_iter().map(|(agency, _)| agency));
            agencies.sort();
            agencies.dedup();
            agencies.truncate(MAX_PEERS);
            let mut heads = Vec::with_capacity(agencies.len());
            for agency in agencies {
                let head = store.outbox_head(&agency)?;
                let cursor = store.cursor(&agency)?;
                heads.push((agency, head, cursor));
            }
            let queue = store.crawl_queue(MAX_QUEUE_COUNTED)?.len();
            Ok((heads, queue))
        })
        .await??;
        let mut snapshot = Snapshot {
            crawl_queue,
            ..Snapshot::default()
        };
        for (agency, head, cursor) in heads {
            // A configured peer the network has no entry for counts as not connected, as in
            // the admin status.
            let state = net_peers
                .iter()
                .find(|p| p.agency.as_ref() == Some(&agency))
                .map_or("not-connected", |p| state_name(&p.state));
            *snapshot.peers.entry(state).or_default() += 1;
            let sync = progress.get(&agency).cloned().unwrap_or_default();
            snapshot.outboxes.push(PeerOutbox {
                pending: head.saturating_sub(sync.served_after),
                lag: sync.peer_head.map(|known| known.saturating_sub(cursor)),
                agency,
            });
        }
        // Connections whose certificate has not (or never) named an agency.
        for peer in net_peers.iter().filter(|p| p.agency.is_none()) {
            *snapshot.peers.entry(state_name(&peer.state)).or_default() += 1;
        }
        Ok(snapshot)
    }
}

impl Metrics {
    /// Recomputes the scrape-time gauges and encodes every family.
    pub async fn scrape(
        &self,
        app: &Arc<App>,
        federation: &FederationHandle,
    ) -> Result<String, ScrapeError> {
        let snapshot = Snapshot::take(app, federation).await?;
        Ok(self.encode_with(&snapshot)?)
    }
}

/// What `GET /metrics` reads. Cheap to clone.
#[derive(Clone)]
pub struct MetricsState {
    /// The metrics to encode.
    pub metrics: Metrics,
    /// The domain layer (its store holds outboxes, cursors, peers and the crawl queue).
    pub app: Arc<App>,
    /// The federation driver (sync progress) and through it the network (peer states).
    pub federation: FederationHandle,
    /// Request limits of the metrics listener.
    pub limits: HttpLimits,
}

/// The metrics listener's router: `GET /metrics` and nothing else.
pub fn router(state: MetricsState) -> Router {
    let limits = state.limits;
    let routes = Router::new()
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state);
    with_layers(routes, limits)
}

async fn metrics(State(state): State<MetricsState>) -> Result<Response, ApiError> {
    let text = state.metrics.scrape(&state.app, &state.federation).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}
