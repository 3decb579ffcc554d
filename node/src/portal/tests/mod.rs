//! The portal over real HTTP on loopback with real stores: the harness (a portal served on a
//! test node with an injectable clock, and a cookie-handling client that does not follow
//! redirects) and, in `security.rs` and `media.rs`, the tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use safeport_protocol::agreement::{CountryScope, MediaAccess, Scope};
use safeport_protocol::{Classification, Country, RecordType, Role};

use super::session::{SESSION_COOKIE, SessionPolicy, Sessions};
use super::{PortalState, portal_router};
use crate::app::App;
use crate::app::accounts::{LockoutPolicy, PortalRole};
use crate::app::audit::Actor;
use crate::app::test_support::{Agency, admit, agency, agree, item, pull, report, test_root};
use crate::blobs::BlobStore;
use crate::http::HttpLimits;

const PASSWORD: &str = "portal test password";
const IDLE_MS: u64 = 60_000;

struct Portal {
    base: String,
    app: Arc<App>,
    clock: Arc<AtomicU64>,
    blobs: BlobStore,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn serve(agency: Agency) -> Portal {
    let Agency { app, _dir } = agency;
    let app = Arc::new(app);
    let blob_dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(blob_dir.path(), &[7; 32], 1 << 24).unwrap();
    let clock = Arc::new(AtomicU64::new(1_800_000_000_000));
    let reader = Arc::clone(&clock);
    // A real (non-listening) network task and federation driver, which the portal nudges.
    let (net, events, _net_task) = crate::net::spawn(
        app.identity(),
        crate::net::NetConfig {
            listen: Vec::new(),
            ..crate::net::NetConfig::default()
        },
        crate::identity::system_now,
    )
    .await
    .unwrap();
    let (federation, _driver) = crate::federation::start(
        Arc::clone(&app),
        net,
        events,
        blobs.clone(),
        crate::metrics::Metrics::new(),
    );
    let state = PortalState {
        app: Arc::clone(&app),
        blobs: blobs.clone(),
        federation,
        sessions: Arc::new(Sessions::new(
            SessionPolicy {
                idle_ms: IDLE_MS,
                absolute_ms: 12 * 3_600_000,
                max_sessions: 100,
            },
            Arc::new(move || reader.load(Ordering::SeqCst)),
        )),
        lockout: LockoutPolicy {
            max_failed_logins: 3,
            lockout_ms: 15 * 60_000,
        },
        tls: false,
        limits: HttpLimits {
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
        },
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, portal_router(state)).await.unwrap();
    });
    Portal {
        base: format!("http://{addr}"),
        app,
        clock,
        blobs,
        _dirs: (_dir, blob_dir),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies.iter().find_map(|c| {
        c.strip_prefix(&format!("{name}="))
            .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
    })
}

/// The value of `<input … name="NAME" value="…">` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// Logs in; returns the session cookie value, or the failed response's status.
async fn login(
    portal: &Portal,
    user: &str,
    password: &str,
    totp: &str,
) -> Result<String, StatusCode> {
    let http = client();
    let form = http
        .get(format!("{}/login", portal.base))
        .send()
        .await
        .unwrap();
    let login_cookie = cookie_value(&set_cookies(&form), "__Host-safeport-login").unwrap();
    let token = hidden(&form.text().await.unwrap(), "csrf");
    let response = http
        .post(format!("{}/login", portal.base))
        .header("cookie", format!("__Host-safeport-login={login_cookie}"))
        .form(&[
            ("csrf", token.as_str()),
            ("username", user),
            ("password", password),
            ("totp", totp),
        ])
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err(response.status());
    }
    Ok(cookie_value(&set_cookies(&response), SESSION_COOKIE).unwrap())
}

async fn get(portal: &Portal, session: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", portal.base))
        .header("cookie", format!("{SESSION_COOKIE}={session}"))
        .send()
        .await
        .unwrap()
}

async fn post(
    portal: &Portal,
    session: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(format!("{}{path}", portal.base))
        .header("cookie", format!("{SESSION_COOKIE}={session}"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The CSRF token of a session, read from a page (the logout form carries it).
async fn csrf(portal: &Portal, session: &str) -> String {
    hidden(
        &get(portal, session, "/reports").await.text().await.unwrap(),
        "csrf",
    )
}

fn add(app: &App, name: &str, roles: &[PortalRole]) {
    app.add_user(&Actor::admin(), name, roles, false, Some(PASSWORD))
        .unwrap();
}

/// A police node's portal (no reports held).
async fn police(root_seed: u8, seed: u8) -> Portal {
    let (root_key, root_pem) = test_root(root_seed);
    serve(agency(
        &root_key,
        &root_pem,
        "nl-police",
        Role::Lea,
        "NL",
        seed,
    ))
    .await
}

mod media;
mod security;
