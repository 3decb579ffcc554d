//! The HTTP latency layer: every request a listener answers is observed in
//! `safeport_http_request_duration_seconds` under its listener, its route template and its
//! status class.
//!
//! The route label is axum's [`MatchedPath`] (the template a route was declared with), never
//! the requested URI: paths carry ids and arbitrary client input, and one series per distinct
//! path would grow without bound. Requests no route matched share one `unmatched` series.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;

use super::Metrics;

/// The route label of requests that matched no route (fallbacks, 404s of unknown paths).
pub(super) const UNMATCHED: &str = "unmatched";

/// Which listener answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Listener {
    /// The public HTTP API (`[http]`).
    Public,
    /// The token-protected admin API (`[admin]`).
    Admin,
    /// The web portal (`[portal]`).
    Portal,
}

impl Listener {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Listener::Public => "public",
            Listener::Admin => "admin",
            Listener::Portal => "portal",
        }
    }
}

impl Metrics {
    /// `router` with every request observed under `listener`. Applied with
    /// [`Router::layer`], so it runs after routing (where the matched route is known) and
    /// around the router's own layers (a timeout counts as the 408 it answers).
    pub fn instrument(&self, router: Router, listener: Listener) -> Router {
        router.layer(middleware::from_fn_with_state(
            (self.clone(), listener),
            observe,
        ))
    }
}

async fn observe(
    State((metrics, listener)): State<(Metrics, Listener)>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe_http(
        listener,
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
