//! An operator manages a node's web portal accounts with `safeport-admin users …` against a
//! running node (admin API): accounts added with roles, with and without a second factor and
//! with a password from a file; listed without secrets; a duplicate name and an unknown role
//! refused with a clear reason; passwords reset (each time a new one) and the second factor
//! enrolled anew or removed; accounts disabled and enabled again. The credentials the CLI
//! printed log in through the node's domain layer, and every change is in the audit trail
//! under the person who made it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::Output;
use std::sync::Arc;

use common::{Target, admin, ok, target};
use safeport_node::app::App;
use safeport_node::app::accounts::{
    LockoutPolicy, LoginAttempt, LoginRefusal, PortalRole, totp_code_from_uri,
};
use safeport_protocol::Role;
use safeport_tests::TestFederation;
use serde_json::Value;

/// Runs the CLI against the node without `--json` (the readable output).
async fn readable(target: &Target, args: &[&str]) -> Output {
    common::run(target, args, false).await
}

/// Runs the CLI, expecting it to fail; its standard error.
async fn refused(target: &Target, args: &[&str]) -> String {
    let out = admin(target, args).await;
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(out.stdout.is_empty(), "{args:?} printed a result");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Logs in through the domain layer (what the portal's login form does).
async fn login(
    app: &Arc<App>,
    name: &str,
    password: &str,
    totp_uri: Option<&str>,
) -> Result<Vec<PortalRole>, LoginRefusal> {
    let app = Arc::clone(app);
    let (name, password) = (name.to_owned(), password.to_owned());
    let totp_uri = totp_uri.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let code = totp_uri.map(|uri| totp_code_from_uri(&uri, app.now().0).unwrap());
        let attempt = LoginAttempt {
            name: &name,
            password: &password,
            totp_code: code.as_deref(),
        };
        app.login(attempt, LockoutPolicy::default())
            .unwrap()
            .map(|user| user.roles)
    })
    .await
    .unwrap()
}

fn account<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

fn password_of(credentials: &Value) -> String {
    credentials["password"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_manages_portal_accounts_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let node = safeport_node::start(hotline_dir.config().unwrap())
        .await
        .unwrap();
    let at = target(&node, &hotline_dir.dir);

    // No accounts yet.
    let empty = ok(&at, &["users", "list"]).await;
    assert_eq!(empty["users"], serde_json::json!([]));

    // An analyst who is also an auditor, with a password chosen by the operator (from a file,
    // whose line ending is not part of it); named as the acting person.
    let password_file = dir.path().join("ana.password");
    std::fs::write(&password_file, "a long enough passphrase\n").unwrap();
    let password_path = password_file.display().to_string();
    let ana = ok(
        &at,
        &[
            "users",
            "add",
            "ana",
            "--role",
            "analyst",
            "--role",
            "auditor",
            "--password-file",
            &password_path,
            "--actor",
            "operator-olga",
        ],
    )
    .await;
    assert_eq!(ana["name"], "ana");
    assert_eq!(ana["password"], "a long enough passphrase");
    assert!(ana["totp_uri"].is_null(), "{ana}");
    assert_eq!(
        ana.as_object().unwrap().len(),
        3,
        "only name, password and totp_uri: {ana}"
    );

    // An investigator with a second factor and a generated password, shown readably once.
    let out = readable(
        &at,
        &["users", "add", "ivo", "--role", "investigator", "--totp"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("shown only now"), "{text}");
    let line = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {text}"))
            .trim()
            .to_owned()
    };
    let ivo_password = line("password");
    let ivo_totp = line("totp uri");
    assert!(ivo_password.len() >= 12, "{ivo_password}");
    assert!(ivo_totp.starts_with("otpauth://totp/"), "{ivo_totp}");
    assert!(ivo_totp.contains("issuer=Safeport"), "{ivo_totp}");

    // The printed credentials work at the portal's login (and only with the second factor).
    let app = node.app();
    assert_eq!(
        login(app, "ana", "a long enough passphrase", None).await,
        Ok(vec![PortalRole::Analyst, PortalRole::Auditor])
    );
    assert_eq!(
        login(app, "ivo", &ivo_password, None).await,
        Err(LoginRefusal::WrongSecondFactor)
    );
    assert_eq!(
        login(app, "ivo", &ivo_password, Some(&ivo_totp)).await,
        Ok(vec![PortalRole::Investigator])
    );

    // Listed with roles, second factor and state; no password, hash or TOTP secret.
    let out = admin(&at, &["users", "list"]).await;
    assert!(out.status.success());
    let raw = String::from_utf8(out.stdout).unwrap();
    for secret in [
        "argon2",
        "password",
        "totp_secret",
        "a long enough",
        &ivo_password,
    ] {
        assert!(!raw.contains(secret), "{secret:?} in {raw}");
    }
    let list: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(list["users"].as_array().unwrap().len(), 2);
    let listed = account(&list, "ana");
    assert_eq!(listed["roles"], serde_json::json!(["analyst", "auditor"]));
    assert_eq!(listed["totp"], false);
    assert_eq!(listed["disabled"], false);
    assert!(listed["last_login_at"].is_u64(), "{listed}");
    let listed = account(&list, "ivo");
    assert_eq!(listed["roles"], serde_json::json!(["investigator"]));
    assert_eq!(listed["totp"], true);
    let out = readable(&at, &["users", "list"]).await;
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("ana ")
            && l.contains("analyst,auditor")
            && l.contains("enabled")),
        "{table}"
    );

    // A name taken, an unknown role, a bad name, no role, a password on the command line and
    // contradictory second-factor options are refused, with the reason and a failing status.
    let stderr = refused(&at, &["users", "add", "ana", "--role", "reviewer"]).await;
    assert!(
        stderr.contains("409") && stderr.contains("\"ana\" exists"),
        "{stderr}"
    );
    let stderr = refused(&at, &["users", "add", "root", "--role", "superuser"]).await;
    assert!(
        stderr.contains("400") && stderr.contains("unknown role \"superuser\""),
        "{stderr}"
    );
    let stderr = refused(&at, &["users", "add", "Not A Name", "--role", "admin"]).await;
    assert!(stderr.contains("account name"), "{stderr}");
    refused(&at, &["users", "add", "norole"]).await;
    refused(
        &at,
        &["users", "add", "pat", "--role", "admin", "--password", "x"],
    )
    .await;
    refused(&at, &["users", "reset", "ivo", "--totp", "--no-totp"]).await;
    std::fs::write(dir.path().join("short"), "short\n").unwrap();
    let short = dir.path().join("short").display().to_string();
    let stderr = refused(
        &at,
        &[
            "users",
            "add",
            "pat",
            "--role",
            "admin",
            "--password-file",
            &short,
        ],
    )
    .await;
    assert!(stderr.contains("at least 12"), "{stderr}");
    assert_eq!(
        ok(&at, &["users", "list"]).await["users"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing refused was added"
    );

    // Resets: each gives a new password (the old one stops working); the second factor is
    // kept, enrolled anew, or removed.
    let first = ok(&at, &["users", "reset", "ivo"]).await;
    assert_eq!(first["name"], "ivo");
    assert_ne!(password_of(&first), ivo_password);
    assert_eq!(first["totp_uri"].as_str(), Some(ivo_totp.as_str()));
    let second = ok(&at, &["users", "reset", "ivo", "--totp"]).await;
    assert_ne!(password_of(&second), password_of(&first));
    let new_totp = second["totp_uri"].as_str().unwrap().to_owned();
    assert_ne!(new_totp, ivo_totp);
    assert_eq!(
        login(app, "ivo", &password_of(&first), Some(&new_totp)).await,
        Err(LoginRefusal::WrongPassword)
    );
    assert_eq!(
        login(app, "ivo", &password_of(&second), Some(&new_totp)).await,
        Ok(vec![PortalRole::Investigator])
    );
    let third = ok(
        &at,
        &[
            "users",
            "reset",
            "ivo",
            "--no-totp",
            "--password-file",
            &password_path,
        ],
    )
    .await;
    assert_eq!(third["password"], "a long enough passphrase");
    assert!(third["totp_uri"].is_null(), "{third}");
    assert_eq!(
        account(&ok(&at, &["users", "list"]).await, "ivo")["totp"],
        false
    );
    let stderr = refused(&at, &["users", "reset", "nobody"]).await;
    assert!(stderr.contains("404"), "{stderr}");

    // Disabled: listed so, and logins are refused; enabled again: logins work.
    let disabled = ok(&at, &["users", "disable", "ana"]).await;
    assert_eq!(
        disabled,
        serde_json::json!({ "name": "ana", "disabled": true })
    );
    assert_eq!(
        account(&ok(&at, &["users", "list"]).await, "ana")["disabled"],
        true
    );
    assert_eq!(
        login(app, "ana", "a long enough passphrase", None).await,
        Err(LoginRefusal::Disabled)
    );
    let out = readable(&at, &["users", "enable", "ana"]).await;
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "account ana enabled"
    );
    assert_eq!(
        account(&ok(&at, &["users", "list"]).await, "ana")["disabled"],
        false
    );
    assert!(
        login(app, "ana", "a long enough passphrase", None)
            .await
            .is_ok()
    );
    let stderr = refused(&at, &["users", "disable", "nobody"]).await;
    assert!(stderr.contains("404"), "{stderr}");

    // Every change is in the audit trail, under who made it, and the chain verifies.
    let entries = ok(&at, &["audit", "list", "--limit", "500"]).await;
    let changes: Vec<(String, String)> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "account-change")
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("operator-olga", "add ana roles=analyst,auditor totp=false"),
        ("admin-token", "add ivo roles=investigator totp=true"),
        ("admin-token", "reset ivo totp=true"),
        ("admin-token", "reset ivo totp=true"),
        ("admin-token", "reset ivo totp=false"),
        ("admin-token", "disable ana"),
        ("admin-token", "enable ana"),
    ]
    .map(|(actor, target)| (actor.to_owned(), target.to_owned()));
    assert_eq!(changes, expected);
    ok(&at, &["audit", "verify"]).await;
    node.shutdown().await.unwrap();
}
