//! The portal's static files, compiled in: one stylesheet and one small script (keyboard
//! shortcuts for triage), served from the portal's own origin as the CSP requires.

use axum::extract::Path;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::PortalError;

const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Result<Response, PortalError> {
    let (body, content_type) = match name.as_str() {
        "portal.css" => (CSS, "text/css; charset=utf-8"),
        "portal.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return Err(PortalError::NotFound),
    };
    Ok(([(CONTENT_TYPE, content_type)], body).into_response())
}
