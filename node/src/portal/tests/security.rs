//! Sessions and HTTP security: cookie attributes, a new session id at every login, idle
//! timeout, logout ending the session on the server, CSRF refusals, lockout, GET changing
//! nothing, role checks, security headers and TOTP.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_cookies_csrf_lockout_and_roles_hold_over_http() {
    let portal = police(221, 91).await;
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
    let portal = police(222, 92).await;
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
