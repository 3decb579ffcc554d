//! HTTP-level security tests of the portal, over real HTTP on loopback with real stores:
//! cookie attributes, a new session id at every login, idle timeout, logout ending the
//! session on the server, CSRF refusals, lockout, GET changing nothing, role checks, 404 for
//! reports outside the agreements, security headers, TOTP, and the audited reveal of a
//! blurred picture.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_cookies_csrf_lockout_and_roles_hold_over_http() {
    let (root_key, root_pem) = test_root(221);
    let portal = serve(agency(
        &root_key,
        &root_pem,
        "nl-police",
        Role::Lea,
        "NL",
        91,
    ))
    .await;
    add(&portal.app, "ivo", &[PortalRole::Investigator]);
    add(&portal.app, "aud", &[PortalRole::Auditor]);

    // Login: the cookie's attributes, and a new id each time.
    let http = client();
    let form = http
        .get(format!("{}/login", portal.base))
        .send()
        .await
        .unwrap();
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(form.headers()[name], value);
    }
    let csp = form.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert!(
        form.headers().get("strict-transport-security").is_none(),
        "no HSTS without TLS"
    );
    let login_cookie = cookie_value(&set_cookies(&form), "__Host-safeport-login").unwrap();
    let token = hidden(&form.text().await.unwrap(), "csrf");
    let response = http
        .post(format!("{}/login", portal.base))
        .header(
            "cookie",
            format!("__Host-safeport-login={login_cookie}; {SESSION_COOKIE}=planted-by-attacker"),
        )
        .form(&[
            ("csrf", token.as_str()),
            ("username", "ivo"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookies = set_cookies(&response);
    let session_cookie = cookies
        .iter()
        .find(|c| c.starts_with(SESSION_COOKIE))
        .unwrap();
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    assert!(
        !session_cookie.contains("Domain"),
        "__Host- cookies name no domain"
    );
    let first = cookie_value(&cookies, SESSION_COOKIE).unwrap();
    assert_ne!(
        first, "planted-by-attacker",
        "a planted session id is never adopted"
    );
    assert_eq!(
        get(&portal, "planted-by-attacker", "/reports")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let second = login(&portal, "ivo", PASSWORD, "").await.unwrap();
    assert_ne!(first, second, "every login gets a new session id");
    assert_eq!(
        get(&portal, &first, "/reports").await.status(),
        StatusCode::OK
    );

    // A login form posted without its double-submit cookie is refused.
    let refused = client()
        .post(format!("{}/login", portal.base))
        .form(&[
            ("csrf", "guess"),
            ("username", "ivo"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Cross-site POSTs: without the token, or with another session's token, refused.
    let saved_before = portal.app.saved_searches().unwrap().len();
    let crit = "country=NL";
    assert_eq!(
        post(
            &portal,
            &first,
            "/searches",
            &[("name", "x"), ("criteria", crit)]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    let other_token = csrf(&portal, &second).await;
    assert_eq!(
        post(
            &portal,
            &first,
            "/searches",
            &[("csrf", &other_token), ("name", "x"), ("criteria", crit)]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        portal.app.saved_searches().unwrap().len(),
        saved_before,
        "nothing saved"
    );
    // With the session's own token it works, and GET on the same path changes nothing.
    let token = csrf(&portal, &first).await;
    let saved = post(
        &portal,
        &first,
        "/searches",
        &[("csrf", &token), ("name", "nl"), ("criteria", crit)],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(portal.app.saved_searches().unwrap().len(), saved_before + 1);
    let by_get = get(
        &portal,
        &first,
        "/searches?csrf=x&name=y&criteria=country%3DDE",
    )
    .await;
    assert_eq!(by_get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let by_get = get(&portal, &first, "/logout").await;
    assert_eq!(by_get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(portal.app.saved_searches().unwrap().len(), saved_before + 1);
    assert_eq!(
        get(&portal, &first, "/reports").await.status(),
        StatusCode::OK,
        "GET /logout did not log out"
    );

    // Roles: an investigator cannot reach the admins' or auditors' pages, or act on them; an
    // auditor cannot search.
    for page in ["/agreements", "/peers", "/audit"] {
        assert_eq!(
            get(&portal, &first, page).await.status(),
            StatusCode::FORBIDDEN,
            "{page}"
        );
    }
    let token = csrf(&portal, &first).await;
    let accept = post(
        &portal,
        &first,
        "/agreements/00000000000000000000000000000000/accept",
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(accept.status(), StatusCode::FORBIDDEN);
    let auditor = login(&portal, "aud", PASSWORD, "").await.unwrap();
    assert_eq!(
        get(&portal, &auditor, "/reports").await.status(),
        StatusCode::FORBIDDEN
    );
    let audit = get(&portal, &auditor, "/audit").await;
    assert_eq!(audit.status(), StatusCode::OK);
    let audit = audit.text().await.unwrap();
    assert!(
        audit.contains("Chain verified") && audit.contains("user:ivo"),
        "{audit}"
    );

    // Logout ends the session on the server: the old cookie is refused afterwards.
    let token = csrf(&portal, &second).await;
    let out = post(&portal, &second, "/logout", &[("csrf", &token)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookies(&out)
            .iter()
            .any(|c| c.starts_with(&format!("{SESSION_COOKIE}=;")) && c.contains("Max-Age=0"))
    );
    assert_eq!(
        get(&portal, &second, "/reports").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get(&portal, &second, "/reports").await.headers()["location"],
        "/login"
    );

    // Idle timeout: a request just inside it keeps the session; past it, the session is gone.
    portal.clock.fetch_add(IDLE_MS - 1, Ordering::SeqCst);
    assert_eq!(
        get(&portal, &first, "/reports").await.status(),
        StatusCode::OK
    );
    portal.clock.fetch_add(IDLE_MS, Ordering::SeqCst);
    assert_eq!(
        get(&portal, &first, "/reports").await.status(),
        StatusCode::SEE_OTHER
    );

    // Lockout after three failures: the right password is refused afterwards.
    for _ in 0..3 {
        assert_eq!(
            login(&portal, "ivo", "not the password", "").await,
            Err(StatusCode::UNAUTHORIZED)
        );
    }
    assert_eq!(
        login(&portal, "ivo", PASSWORD, "").await,
        Err(StatusCode::UNAUTHORIZED)
    );
    portal
        .app
        .reset_user(&Actor::admin(), "ivo", Some(PASSWORD), None)
        .unwrap();
    let again = login(&portal, "ivo", PASSWORD, "").await.unwrap();
    // Disabling an account ends its sessions at the next request.
    portal
        .app
        .set_user_enabled(&Actor::admin(), "ivo", false)
        .unwrap();
    assert_eq!(
        get(&portal, &again, "/reports").await.status(),
        StatusCode::SEE_OTHER
    );
    let actions: Vec<String> = portal
        .app
        .audit_entries(0, 1000)
        .unwrap()
        .into_iter()
        .map(|e| e.record.action)
        .collect();
    for action in [
        "login",
        "login-failed",
        "logout",
        "search",
        "account-change",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_factor_is_asked_for_when_enrolled() {
    let (root_key, root_pem) = test_root(222);
    let portal = serve(agency(
        &root_key,
        &root_pem,
        "nl-police",
        Role::Lea,
        "NL",
        92,
    ))
    .await;
    let made = portal
        .app
        .add_user(
            &Actor::admin(),
            "ivo",
            &[PortalRole::Investigator],
            true,
            Some(PASSWORD),
        )
        .unwrap();
    assert_eq!(
        login(&portal, "ivo", PASSWORD, "").await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let code = crate::app::accounts::totp_code_from_uri(
        made.totp_uri.as_deref().unwrap(),
        portal.app.now().0,
    )
    .unwrap();
    assert!(login(&portal, "ivo", PASSWORD, &code).await.is_ok());
}

fn scope_nl_baseline() -> Scope {
    Scope {
        record_types: vec![RecordType::Report],
        classifications: vec![Classification::Baseline],
        hosting_countries: CountryScope::Only(vec![Country::new("NL").unwrap()]),
        media: MediaAccess::Hashes,
        include_context: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_outside_the_agreement_are_404_and_pictures_are_revealed_one_at_a_time() {
    let (root_key, root_pem) = test_root(223);
    let nl = agency(&root_key, &root_pem, "nl-hotline", Role::Hotline, "NL", 93);
    let police = agency(&root_key, &root_pem, "nl-police", Role::Lea, "NL", 94);
    admit(&nl, &police);
    agree(&nl, &police, scope_nl_baseline(), 95);
    // Two pictures held by the hotline, in one report hosted in NL; a second report in DE.
    let pictures: Vec<Vec<u8>> = (0..2u8)
        .map(|n| {
            let img = image::RgbImage::from_fn(64, 48, |x, y| {
                image::Rgb([x as u8 * 4, y as u8 * 5, n * 100])
            });
            let mut png = Vec::new();
            img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .unwrap();
            png
        })
        .collect();
    let items: Vec<_> = pictures
        .iter()
        .enumerate()
        .map(|(n, png)| {
            let mut it = item(n as u8 + 1, Classification::Baseline);
            it.sha256 =
                sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(png)).into();
            it.mime_type = "image/png".into();
            it
        })
        .collect();
    // A third item already classified baseline by a hash-list match: not shown by default.
    let mut known = item(3, Classification::Baseline);
    known.assessment.assessor = Some(safeport_protocol::report::Assessor::HashList {
        list_id: "interpol/baseline".into(),
        version: 1,
    });
    let mut items = items;
    items.push(known);
    let in_scope = report(1, "NL", &items);
    let out_of_scope = report(2, "DE", &[item(9, Classification::Baseline)]);
    nl.app.submit_report(in_scope.clone(), &items).unwrap();
    nl.app
        .submit_report(out_of_scope.clone(), &[item(9, Classification::Baseline)])
        .unwrap();
    pull(&nl, &police);

    let police = serve(police).await;
    add(&police.app, "ivo", &[PortalRole::Investigator]);
    let session = login(&police, "ivo", PASSWORD, "").await.unwrap();
    let path = |r: &safeport_protocol::report::Report| {
        format!("/reports/nl-hotline/{}", hex::encode(r.report_key))
    };
    let page = get(&police, &session, &path(&in_scope)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(&in_scope.reported_url));
    let hidden = get(&police, &session, &path(&out_of_scope)).await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    let never = get(
        &police,
        &session,
        "/reports/nl-hotline/00000000000000000000000000000000",
    )
    .await;
    assert_eq!(
        never.status(),
        StatusCode::NOT_FOUND,
        "out of scope looks like never held"
    );
    let list = get(&police, &session, "/reports")
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&in_scope.reported_url) && !list.contains(&out_of_scope.reported_url));

    // The hotline's analyst: blurred thumbnails, reveal audited, one at a time.
    let nl = serve(nl).await;
    for png in &pictures {
        nl.blobs.put(png).unwrap();
    }
    add(&nl.app, "ana", &[PortalRole::Analyst]);
    let session = login(&nl, "ana", PASSWORD, "").await.unwrap();
    let shas: Vec<String> = items.iter().map(|i| hex::encode(i.sha256)).collect();
    let media = |sha: &str, what: &str| {
        format!(
            "/media/nl-hotline/{}/{sha}/{what}",
            hex::encode(in_scope.report_key)
        )
    };
    let page = get(&nl, &session, &path(&in_scope))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/{}/thumb", shas[0])));
    assert!(page.contains("Known baseline material (hash-list match): not shown"));
    assert!(
        !page.contains(&format!("/{}/thumb", shas[2])),
        "no preview of known material"
    );
    let thumb = get(&nl, &session, &media(&shas[0], "thumb")).await;
    assert_eq!(thumb.status(), StatusCode::OK);
    assert_eq!(thumb.headers()["content-type"], "image/png");
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert!(thumb.width() <= 160 && thumb.height() <= 160);
    assert!(
        thumb
            .to_rgb8()
            .pixels()
            .all(|p| p[0] == p[1] && p[1] == p[2]),
        "greyscale"
    );
    assert_eq!(
        get(&nl, &session, &media(&shas[0], "view")).await.status(),
        StatusCode::FORBIDDEN
    );
    let token = csrf(&nl, &session).await;
    assert_eq!(
        post(&nl, &session, &media(&shas[0], "reveal"), &[])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let revealed = post(
        &nl,
        &session,
        &media(&shas[0], "reveal"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(revealed.status(), StatusCode::SEE_OTHER);
    let view = get(&nl, &session, &media(&shas[0], "view")).await;
    assert_eq!(view.status(), StatusCode::OK);
    assert_eq!(view.bytes().await.unwrap().as_ref(), pictures[0].as_slice());
    post(
        &nl,
        &session,
        &media(&shas[1], "reveal"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(
        get(&nl, &session, &media(&shas[0], "view")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&nl, &session, &media(&shas[1], "view")).await.status(),
        StatusCode::OK
    );
    let reveals: Vec<_> = nl
        .app
        .audit_entries(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == "reveal-media")
        .collect();
    assert_eq!(reveals.len(), 2);
    assert_eq!(reveals[0].record.actor, "user:ana");
    assert!(reveals[0].record.target.contains(&shas[0]));
}
