//! Login and logout. The login form carries a double-submit token (a fresh random value in a
//! `__Host-` cookie and in the form), so another site cannot log a user into an account of
//! its choosing. A successful login always begins a new session with a new id; every refusal
//! shows the same message (the reason goes to the log and the audit trail).

use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::html;
use serde::Deserialize;

use super::session::{LOGIN_COOKIE, SESSION_COOKIE, random_token};
use super::{Authed, PortalError, PortalState, blocking, cookie, with_cookie};
use crate::app::accounts::{LoginAttempt, MAX_PASSWORD_BYTES};
use crate::app::audit::AuditAction;

/// How long a login form stays usable, in seconds.
const LOGIN_FORM_SECS: u64 = 15 * 60;

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    csrf: String,
    username: String,
    password: String,
    #[serde(default)]
    totp: String,
}

fn login_page(token: &str, message: Option<&str>) -> Response {
    let markup = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Log in · Safeport" }
                link rel="stylesheet" href="/assets/portal.css";
            }
            body {
                header.top { span.brand { "Safeport" } }
                main.login {
                    h1 { "Log in" }
                    @if let Some(message) = message {
                        p.message role="alert" { (message) }
                    }
                    form method="post" action="/login" {
                        input type="hidden" name="csrf" value=(token);
                        label { "User name" input type="text" name="username" id="username" autocomplete="username" required maxlength="64"; }
                        label { "Password" input type="password" name="password" id="password" autocomplete="current-password" required maxlength=(MAX_PASSWORD_BYTES); }
                        label { "Authenticator code (if enrolled)" input type="text" name="totp" id="totp" inputmode="numeric" autocomplete="one-time-code" maxlength="8"; }
                        button type="submit" id="login" { "Log in" }
                    }
                }
            }
        }
    };
    with_cookie(
        markup.into_response(),
        cookie(LOGIN_COOKIE, token, Some(LOGIN_FORM_SECS)),
    )
}

fn fresh_login_page(message: Option<&str>, status: axum::http::StatusCode) -> Response {
    match random_token() {
        Ok(token) => (status, login_page(&token, message)).into_response(),
        Err(e) => PortalError::Internal(Box::new(e)).into_response(),
    }
}

/// `GET /login`.
pub async fn form() -> Response {
    fresh_login_page(None, axum::http::StatusCode::OK)
}

/// `POST /login` (the CSRF guard has checked the form's token against the login cookie).
pub async fn submit(
    State(state): State<PortalState>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response, PortalError> {
    let _ = form.csrf;
    // A session cookie presented at login is ended: a login never continues a session.
    if let Some(old) = jar.get(SESSION_COOKIE) {
        state.sessions.end(old.value());
    }
    let policy = state.lockout;
    let (username, password, totp) = (form.username, form.password, form.totp);
    let result = blocking(&state.app, move |app| {
        app.login(
            LoginAttempt {
                name: &username,
                password: &password,
                totp_code: Some(totp.as_str()).filter(|t| !t.trim().is_empty()),
            },
            policy,
        )
    })
    .await?;
    let user = match result {
        Ok(user) => user,
        Err(_refusal) => {
            return Ok(fresh_login_page(
                Some("Login failed: check the user name, password and code."),
                axum::http::StatusCode::UNAUTHORIZED,
            ));
        }
    };
    let (token, _) = state
        .sessions
        .create(&user.name)
        .map_err(|e| PortalError::Internal(Box::new(e)))?;
    let response = with_cookie(
        Redirect::to("/").into_response(),
        cookie(SESSION_COOKIE, &token, None),
    );
    // The login form's token is used up.
    Ok(with_cookie(response, cookie(LOGIN_COOKIE, "", Some(0))))
}

/// `POST /logout`: ends the session on the server (the old cookie is worthless from now on).
pub async fn logout(
    State(state): State<PortalState>,
    authed: Authed,
) -> Result<Response, PortalError> {
    state.sessions.end(&authed.token);
    let actor = authed.actor()?;
    blocking(&state.app, move |app| {
        app.audit(&actor, AuditAction::Logout, "portal", None, None)
    })
    .await?;
    Ok(with_cookie(
        Redirect::to("/login").into_response(),
        cookie(SESSION_COOKIE, "", Some(0)),
    ))
}
