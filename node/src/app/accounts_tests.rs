//! Tests of portal accounts: creation rules, Argon2id hashes, lockout and its end, disabling,
//! resets, TOTP (with replay refused) and the audit entries each step leaves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use safeport_protocol::{Role, Timestamp};

use super::*;
use crate::app::credentials::GENERATED_PASSWORD_CHARS;
use crate::app::test_support::{agency, agency_with_clock, test_root};

fn attempt<'a>(name: &'a str, password: &'a str, code: Option<&'a str>) -> LoginAttempt<'a> {
    LoginAttempt {
        name,
        password,
        totp_code: code,
    }
}

static CLOCK_MS: AtomicU64 = AtomicU64::new(1_800_000_000_000);

fn moving_clock() -> Timestamp {
    Timestamp(CLOCK_MS.load(Ordering::SeqCst))
}

#[test]
fn accounts_are_checked_hashed_and_listed_without_secrets() {
    let (root_key, root_pem) = test_root(211);
    let node = agency(&root_key, &root_pem, "nl-hotline", Role::Hotline, "NL", 61);
    let app = &node.app;
    let admin = Actor::admin();
    let made = app
        .add_user(
            &admin,
            "ana",
            &[PortalRole::Analyst, PortalRole::Analyst],
            false,
            None,
        )
        .unwrap();
    assert_eq!(made.password.chars().count(), GENERATED_PASSWORD_CHARS);
    assert!(made.totp_uri.is_none());
    for bad in ["", "Ana", "-ana", "a b", &"a".repeat(65)] {
        assert!(
            app.add_user(&admin, bad, &[PortalRole::Analyst], false, None)
                .is_err(),
            "{bad:?}"
        );
    }
    assert!(
        app.add_user(&admin, "ana", &[PortalRole::Auditor], false, None)
            .is_err()
    );
    assert!(app.add_user(&admin, "bob", &[], false, None).is_err());
    assert!(
        app.add_user(&admin, "bob", &[PortalRole::Auditor], false, Some("short"))
            .is_err()
    );
    let stored = String::from_utf8(app.store.user("ana").unwrap().unwrap()).unwrap();
    assert!(stored.contains("$argon2id$"), "{stored}");
    assert!(!stored.contains(&made.password));
    let views = app.users().unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].roles, vec![PortalRole::Analyst]);
    assert!(PortalRole::parse("investigator").is_ok());
    assert!(PortalRole::parse("root").is_err());
    let ok = app
        .login(
            attempt("ana", &made.password, None),
            LockoutPolicy::default(),
        )
        .unwrap()
        .unwrap();
    assert!(ok.has(PortalRole::Analyst) && !ok.has(PortalRole::Admin));
    assert_eq!(
        app.login(
            attempt("nobody", "whatever-password", None),
            LockoutPolicy::default()
        )
        .unwrap(),
        Err(LoginRefusal::UnknownName)
    );
    let actions: Vec<String> = app
        .audit_entries(0, 10)
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {} {}", e.record.action, e.record.actor, e.record.target))
        .collect();
    assert_eq!(
        actions,
        vec![
            "account-change admin-token add ana roles=analyst totp=false".to_owned(),
            "login user:ana portal".to_owned(),
        ]
    );
}

#[test]
fn repeated_failures_lock_an_account_until_the_lockout_ends_or_a_reset() {
    let (root_key, root_pem) = test_root(212);
    let node = agency_with_clock(
        &root_key,
        &root_pem,
        "nl-hotline",
        Role::Hotline,
        "NL",
        62,
        moving_clock,
    );
    let app = &node.app;
    let admin = Actor::admin();
    let password = "correct horse battery";
    app.add_user(&admin, "ana", &[PortalRole::Analyst], false, Some(password))
        .unwrap();
    let policy = LockoutPolicy {
        max_failed_logins: 3,
        lockout_ms: 60_000,
    };
    for _ in 0..2 {
        assert_eq!(
            app.login(attempt("ana", "wrong password!", None), policy)
                .unwrap(),
            Err(LoginRefusal::WrongPassword)
        );
    }
    // A success in between resets the count.
    assert!(
        app.login(attempt("ana", password, None), policy)
            .unwrap()
            .is_ok()
    );
    for _ in 0..3 {
        assert_eq!(
            app.login(attempt("ana", "wrong password!", None), policy)
                .unwrap(),
            Err(LoginRefusal::WrongPassword)
        );
    }
    assert_eq!(
        app.login(attempt("ana", password, None), policy).unwrap(),
        Err(LoginRefusal::Locked),
        "the right password is refused while locked"
    );
    assert!(app.users().unwrap()[0].locked_until.is_some());
    CLOCK_MS.fetch_add(60_001, Ordering::SeqCst);
    assert!(
        app.login(attempt("ana", password, None), policy)
            .unwrap()
            .is_ok()
    );
    for _ in 0..3 {
        let _ = app
            .login(attempt("ana", "wrong password!", None), policy)
            .unwrap();
    }
    let reset = app.reset_user(&admin, "ana", None, None).unwrap();
    assert!(
        app.login(attempt("ana", password, None), policy)
            .unwrap()
            .is_err()
    );
    assert!(
        app.login(attempt("ana", &reset.password, None), policy)
            .unwrap()
            .is_ok()
    );
    app.set_user_enabled(&admin, "ana", false).unwrap();
    assert_eq!(
        app.login(attempt("ana", &reset.password, None), policy)
            .unwrap(),
        Err(LoginRefusal::Disabled)
    );
    assert_eq!(app.portal_user("ana").unwrap(), None);
    app.set_user_enabled(&admin, "ana", true).unwrap();
    assert!(app.portal_user("ana").unwrap().is_some());
    let entries = app.audit_entries(0, 100).unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == "login-failed"
                && e.record.target.ends_with("account locked"))
    );
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == "login-failed" && e.record.target == "portal: locked")
    );
    assert!(app.verify_audit().is_ok());
}

#[test]
fn a_second_factor_is_required_and_each_code_is_used_once() {
    let (root_key, root_pem) = test_root(213);
    let node = agency(&root_key, &root_pem, "nl-police", Role::Lea, "NL", 63);
    let app = &node.app;
    let made = app
        .add_user(
            &Actor::admin(),
            "ivo",
            &[PortalRole::Investigator],
            true,
            None,
        )
        .unwrap();
    let uri = made.totp_uri.clone().unwrap();
    assert!(uri.starts_with("otpauth://totp/Safeport:ivo?"), "{uri}");
    let policy = LockoutPolicy::default();
    assert_eq!(
        app.login(attempt("ivo", &made.password, None), policy)
            .unwrap(),
        Err(LoginRefusal::WrongSecondFactor)
    );
    let code = totp_code_from_uri(&uri, app.now().0).unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        app.login(attempt("ivo", &made.password, Some(wrong)), policy)
            .unwrap(),
        Err(LoginRefusal::WrongSecondFactor)
    );
    assert!(
        app.login(attempt("ivo", &made.password, Some(&code)), policy)
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        app.login(attempt("ivo", &made.password, Some(&code)), policy)
            .unwrap(),
        Err(LoginRefusal::WrongSecondFactor),
        "a code is accepted once"
    );
    // The next step's code (clock skew of one step) is still accepted.
    let next = totp_code_from_uri(&uri, app.now().0 + 30_000).unwrap();
    assert!(
        app.login(attempt("ivo", &made.password, Some(&next)), policy)
            .unwrap()
            .is_ok()
    );
    let removed = app
        .reset_user(&Actor::admin(), "ivo", None, Some(false))
        .unwrap();
    assert!(removed.totp_uri.is_none());
    assert!(
        app.login(attempt("ivo", &removed.password, None), policy)
            .unwrap()
            .is_ok()
    );
}
