//! The web portal: server-rendered pages for analysts, investigators, reviewers, auditors and
//! admins, served by the node on its own listener (loopback unless TLS is configured).
//!
//! Security is enforced in layers that no handler can forget:
//! - every response carries the security headers (`security_headers`): a CSP without inline
//!   script, `frame-ancestors 'none'`, nosniff, no referrer, no caching, HSTS over TLS;
//! - every request that is not GET or HEAD passes `csrf_guard`, which reads the form's `csrf`
//!   field and compares it with the session's token (or, for the login form, with the
//!   double-submit cookie) before the handler runs; GET handlers only read;
//! - pages take an [`Authed`] extractor that finds the session, re-reads the account (a
//!   disabled account or a changed role takes effect at the next request) and checks roles;
//! - data comes only from the domain layer's views, which go through `authorize()`; whatever
//!   another agency's agreement does not cover answers 404 like something never held.

pub mod assets;
pub mod federation;
pub mod iwol;
pub mod layout;
pub mod login;
pub mod media;
pub mod packages;
pub mod reports;
pub mod session;
#[cfg(test)]
mod tests;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use thiserror::Error;

use crate::app::accounts::{LockoutPolicy, PortalRole, PortalUser};
use crate::app::{App, AppError};
use crate::blobs::BlobStore;
use crate::http::{HttpLimits, with_layers};
use session::{LOGIN_COOKIE, SESSION_COOKIE, Session, Sessions, same_secret};

/// State shared by the portal's handlers.
#[derive(Clone)]
pub struct PortalState {
    /// The domain layer.
    pub app: Arc<App>,
    /// Media content (thumbnails and revealed pictures).
    pub blobs: BlobStore,
    /// The federation driver, nudged after every change that peers should receive.
    pub federation: crate::federation::FederationHandle,
    /// The session table.
    pub sessions: Arc<Sessions>,
    /// The login lockout rule.
    pub lockout: LockoutPolicy,
    /// Whether the portal is served over TLS (adds HSTS).
    pub tls: bool,
    /// Request limits.
    pub limits: HttpLimits,
}

/// Why a portal request failed; rendered as a small HTML page that tells nothing internal.
#[derive(Debug, Error)]
pub enum PortalError {
    /// No valid session: go to the login page.
    #[error("login required")]
    LoginRequired,
    /// The user's roles do not allow this page or action.
    #[error("forbidden")]
    Forbidden,
    /// Nothing here (or nothing this user may see).
    #[error("not found")]
    NotFound,
    /// The request is malformed; the message is for the user.
    #[error("{0}")]
    BadRequest(String),
    /// Refused in the current state; the message is for the user.
    #[error("{0}")]
    Conflict(String),
    /// Something failed inside the node; the source is logged, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<AppError> for PortalError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::NotFound => PortalError::NotFound,
            AppError::Invalid(message) => PortalError::Conflict(message),
            AppError::Record(e) => PortalError::BadRequest(e.to_string()),
            other => PortalError::Internal(Box::new(other)),
        }
    }
}

impl From<tokio::task::JoinError> for PortalError {
    fn from(err: tokio::task::JoinError) -> Self {
        PortalError::Internal(Box::new(err))
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let status = match &self {
            PortalError::LoginRequired => return Redirect::to("/login").into_response(),
            PortalError::Forbidden => StatusCode::FORBIDDEN,
            PortalError::NotFound => StatusCode::NOT_FOUND,
            PortalError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PortalError::Conflict(_) => StatusCode::CONFLICT,
            PortalError::Internal(source) => {
                tracing::error!(error = %crate::ErrorChain(source.as_ref()), "internal error in portal request");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let title = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::INTERNAL_SERVER_ERROR => "Something went wrong",
            _ => "Request refused",
        };
        (status, layout::bare_page(title, &self.to_string())).into_response()
    }
}

/// Runs domain work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    work: impl FnOnce(&App) -> Result<T, AppError> + Send + 'static,
) -> Result<T, PortalError> {
    let app = Arc::clone(app);
    Ok(tokio::task::spawn_blocking(move || work(&app)).await??)
}

/// A request from a logged-in user.
#[derive(Debug, Clone)]
pub struct Authed {
    /// The account, as stored now.
    pub user: PortalUser,
    /// The session.
    pub session: Session,
    /// The session cookie's value (to change the session: reveal, logout).
    pub token: String,
}

impl Authed {
    /// Refused unless the user holds one of `roles`.
    pub fn require(&self, roles: &[PortalRole]) -> Result<(), PortalError> {
        if roles.iter().any(|role| self.user.has(*role)) {
            Ok(())
        } else {
            tracing::warn!(user = %self.user.name, "portal: page refused for the user's roles");
            Err(PortalError::Forbidden)
        }
    }

    /// The actor of audit entries.
    pub fn actor(&self) -> Result<crate::app::audit::Actor, PortalError> {
        Ok(self.user.actor()?)
    }
}

impl FromRequestParts<PortalState> for Authed {
    type Rejection = PortalError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &PortalState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .ok_or(PortalError::LoginRequired)?;
        let session = state
            .sessions
            .touch(&token)
            .ok_or(PortalError::LoginRequired)?;
        let name = session.user.clone();
        let user = blocking(&state.app, move |app| app.portal_user(&name))
            .await?
            .ok_or_else(|| {
                // Disabled or removed since login: the session ends here.
                state.sessions.end(&token);
                PortalError::LoginRequired
            })?;
        Ok(Authed {
            user,
            session,
            token,
        })
    }
}

/// Builds the portal's router with every layer.
pub fn portal_router(state: PortalState) -> Router {
    let limits = state.limits;
    let routes = Router::new()
        .route("/", get(home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/reports", get(reports::queue))
        .route("/searches", post(reports::save_search))
        .route("/reports/{origin}/{key}", get(reports::detail))
        .route("/reports/{origin}/{key}/classify", post(reports::classify))
        .route(
            "/media/{origin}/{key}/{sha256}/thumb",
            get(media::thumbnail),
        )
        .route("/media/{origin}/{key}/{sha256}/reveal", post(media::reveal))
        .route("/media/{origin}/{key}/{sha256}/view", get(media::view))
        .route("/iwol", get(iwol::list))
        .route("/iwol/suggest", post(iwol::suggest))
        .route("/iwol/{id}/review", post(iwol::review))
        .route("/packages", get(packages::page).post(packages::compose))
        .route("/agreements", get(federation::agreements))
        .route("/agreements/{id}/accept", post(federation::accept))
        .route("/agreements/{id}/revoke", post(federation::revoke))
        .route("/peers", get(federation::peers))
        .route("/hashlists", get(federation::hash_lists))
        .route("/audit", get(reports::audit_log))
        .route("/assets/{name}", get(assets::serve))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state);
    with_layers(routes, limits)
}

async fn home(authed: Authed) -> Redirect {
    if authed.user.has(PortalRole::Analyst)
        || authed.user.has(PortalRole::Investigator)
        || authed.user.has(PortalRole::Reviewer)
    {
        Redirect::to("/reports")
    } else if authed.user.has(PortalRole::Auditor) {
        Redirect::to("/audit")
    } else {
        Redirect::to("/agreements")
    }
}

async fn not_found() -> PortalError {
    PortalError::NotFound
}

/// The security headers of every response.
async fn security_headers(
    State(state): State<PortalState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    set(
        headers,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    // Pages and pictures hold case data: never kept by the browser or a proxy.
    set(headers, "cache-control", "no-store");
    if state.tls {
        set(
            headers,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    response
}

/// The `csrf` field of a url-encoded form, if any.
fn form_csrf(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == "csrf")
        .map(|(_, value)| value)
}

/// Refuses every state-changing request whose form does not carry the right CSRF token: the
/// session's, or for the login form the value of the double-submit cookie set with the form.
async fn csrf_guard(
    State(state): State<PortalState>,
    request: Request,
    next: Next,
) -> Result<Response, PortalError> {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(next.run(request).await);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, state.limits.max_body_bytes)
        .await
        .map_err(|_| PortalError::BadRequest("the form is too large".into()))?;
    let presented = form_csrf(&bytes);
    let jar = CookieJar::from_headers(&parts.headers);
    let expected = if parts.uri.path() == "/login" {
        jar.get(LOGIN_COOKIE).map(|c| c.value().to_owned())
    } else {
        jar.get(SESSION_COOKIE)
            .and_then(|c| state.sessions.touch(c.value()))
            .map(|session| session.csrf)
    };
    match (presented, expected) {
        (Some(presented), Some(expected)) if same_secret(&presented, &expected) => Ok(next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await),
        (_, None) if parts.uri.path() != "/login" => Err(PortalError::LoginRequired),
        _ => {
            tracing::warn!(
                path = parts.uri.path(),
                "portal: form refused without a valid CSRF token"
            );
            Err(PortalError::Forbidden)
        }
    }
}

/// A `Set-Cookie` value with the attributes every portal cookie has. `__Host-` cookies must be
/// Secure; browsers accept Secure cookies from `http://localhost` and `127.0.0.1` too, so the
/// loopback-only plain HTTP portal works.
pub(crate) fn cookie(name: &str, value: &str, max_age_secs: Option<u64>) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age_secs {
        text.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Adds a `Set-Cookie` header to a response.
pub(crate) fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}
