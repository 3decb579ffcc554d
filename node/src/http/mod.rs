//! The HTTP API (axum): routes, shared state, limits and the one error mapping.
//!
//! Handlers stay thin: they decode the request, call the store or domain services (blocking
//! calls via `spawn_blocking`) and map failures through [`ApiError`], which never exposes
//! internal details to the client.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use thiserror::Error;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub mod admin;
pub mod audit;
pub mod backup;
pub mod collections;
pub mod hashlists;
pub mod iwol;
pub mod packages;
pub mod reports;
pub mod search;
pub mod users;

use crate::config::HttpSection;
use crate::identity::NodeInfo;
use crate::store::{Store, StoreError};

/// Request limits applied to every route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Maximum time to produce a response.
    pub request_timeout: Duration,
}

impl From<&HttpSection> for HttpLimits {
    fn from(http: &HttpSection) -> Self {
        Self {
            max_body_bytes: http.max_body_bytes,
            request_timeout: http.request_timeout(),
        }
    }
}

/// State shared by all handlers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The node's database.
    pub store: Store,
    /// This node's agency, as certified.
    pub info: Arc<NodeInfo>,
    /// Request limits.
    pub limits: HttpLimits,
    /// The ISPs' IWOL feed, when configured.
    pub iwol_feed: Option<iwol::IwolFeed>,
}

/// An error returned by a handler. Its response is `{"error": "..."}` with a message that is
/// safe to show to any client; internal details are logged, not returned.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The requested resource does not exist.
    #[error("not found")]
    NotFound,
    /// The request is malformed; the message describes the client's mistake.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request body is larger than allowed.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request body is not acceptable JSON (the rejection decides the exact status).
    #[error("invalid JSON body: {message}")]
    Json {
        /// Status chosen by axum's rejection (400, 413, 415 or 422).
        status: StatusCode,
        /// Description of the client's mistake.
        message: String,
    },
    /// No or a wrong admin token.
    #[error("missing or invalid admin token")]
    Unauthorized,
    /// The request conflicts with the current state (e.g. accepting an active agreement).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The network task is not available.
    #[error("network unavailable: {0}")]
    Unavailable(String),
    /// Something failed inside the node; the source is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Json { status, .. } => *status,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(source) = &self {
            tracing::error!(error = %crate::ErrorChain(source.as_ref()), "internal error in request");
        }
        let body = Json(json!({ "error": self.to_string() }));
        (self.status(), body).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::Internal(Box::new(err))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        ApiError::Internal(Box::new(err))
    }
}

impl From<crate::app::AppError> for ApiError {
    fn from(err: crate::app::AppError) -> Self {
        use crate::app::AppError;
        match err {
            AppError::NotFound => ApiError::NotFound,
            AppError::Invalid(message) => ApiError::Conflict(message),
            AppError::Record(e) => ApiError::BadRequest(e.to_string()),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::Json {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

/// Builds the HTTP application: all routes, with body limit, timeout and request tracing.
pub fn router(state: AppState) -> Router {
    let limits = state.limits;
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/iwol/{format}", get(iwol::feed))
        .fallback(not_found)
        .with_state(state);
    with_layers(routes, limits)
}

/// Applies the request limits and tracing to `routes` (every route added before this call).
/// Parses `2 * N` hex digits from a path or query; `what` names the value in the error.
pub(crate) fn hex_id<const N: usize>(text: &str, what: &str) -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes)
        .map_err(|_| ApiError::BadRequest(format!("{what} is {} hex digits", 2 * N)))?;
    Ok(bytes)
}

/// Who acts, from the `x-safeport-actor` header (the name of the person using the admin token,
/// as the operator's tooling states it); the token's holder when absent.
pub(crate) fn actor(headers: &axum::http::HeaderMap) -> Result<crate::app::audit::Actor, ApiError> {
    match headers.get("x-safeport-actor") {
        None => Ok(crate::app::audit::Actor::admin()),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::BadRequest("x-safeport-actor is not text".into()))?;
            crate::app::audit::Actor::named(text).map_err(|e| ApiError::BadRequest(e.to_string()))
        }
    }
}

/// Parses an agency id from a request.
pub(crate) fn agency(text: &str) -> Result<safeport_protocol::AgencyId, ApiError> {
    safeport_protocol::AgencyId::new(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

pub(crate) fn with_layers(routes: Router, limits: HttpLimits) -> Router {
    routes
        // Extractors (Json, Bytes) read their limit from here instead of axum's 2 MB default...
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        // ...and this also rejects oversized bodies that no extractor reads.
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(TraceLayer::new_for_http())
}

async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "agency": state.info.agency_id,
        "role": state.info.role,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use axum::body::{Body, Bytes};
    use axum::http::{Request, header};
    use axum::routing::post;
    use tower::ServiceExt;

    fn state(dir: &tempfile::TempDir) -> AppState {
        AppState {
            store: Store::open(dir.path().join("db")).unwrap(),
            info: Arc::new(NodeInfo {
                agency_id: "nl-hotline".into(),
                role: "hotline".into(),
                country: "NL".into(),
            }),
            limits: HttpLimits {
                max_body_bytes: 16,
                request_timeout: Duration::from_secs(30),
            },
            iwol_feed: None,
        }
    }

    async fn json_body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn healthz_reports_identity_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let response = router(state(&dir))
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = json_body(response).await;
        assert_eq!(
            body,
            json!({
                "status": "ok",
                "agency": "nl-hotline",
                "role": "hotline",
                "version": env!("CARGO_PKG_VERSION"),
            })
        );
    }

    #[tokio::test]
    async fn unknown_routes_get_a_json_404() {
        let dir = tempfile::tempdir().unwrap();
        let response = router(state(&dir))
            .oneshot(Request::get("/nope").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(json_body(response).await, json!({ "error": "not found" }));
    }

    #[tokio::test]
    async fn oversized_bodies_are_rejected() {
        let limits = HttpLimits {
            max_body_bytes: 16,
            request_timeout: Duration::from_secs(30),
        };
        let app = with_layers(
            Router::new().route("/echo", post(|body: Bytes| async move { body })),
            limits,
        );
        let ok = app
            .clone()
            .oneshot(
                Request::post("/echo")
                    .body(Body::from(vec![1u8; 16]))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);

        let declared = app
            .clone()
            .oneshot(
                Request::post("/echo")
                    .header(header::CONTENT_LENGTH, "17")
                    .body(Body::from(vec![1u8; 17]))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);

        // Without a Content-Length header the body is cut off while being read.
        let undeclared = app
            .oneshot(
                Request::post("/echo")
                    .body(Body::from(vec![1u8; 17]))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(undeclared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn slow_handlers_time_out() {
        let limits = HttpLimits {
            max_body_bytes: 16,
            request_timeout: Duration::from_millis(20),
        };
        let app = with_layers(
            Router::new().route("/stuck", get(std::future::pending::<()>)),
            limits,
        );
        let response = app
            .oneshot(Request::get("/stuck").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak_details() {
        let err = ApiError::from(StoreError::InvalidArgument("secret detail"));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            json_body(response).await,
            json!({ "error": "internal error" })
        );
    }
}
