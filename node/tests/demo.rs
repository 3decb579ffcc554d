//! `safeport-node demo` as a library: the demo federation starts in a temporary directory,
//! every node answers `/healthz` and its portal's login page, and what the seeded casework
//! sent arrives where the agreements take it, checked through each node's admin API: the DE
//! hotline holds the NL hotline's DE-hosted report with content, the NL hotline the DE
//! hotline's NL-hosted one (one item classified by INTERPOL's hash list), INTERPOL's ICSE the
//! illegal items only, the NL police find the NL-hosted report and not the DE-hosted one,
//! every node holds the hash list and the IWOL version listing the confirmed domain, and the
//! printed logins work. It shuts down cleanly, starts again on the same directory without
//! seeding anything twice, and refuses a directory that is not a demo's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use reqwest::{Method, StatusCode};
use safeport_node::RunningNode;
use safeport_node::app::accounts::{LockoutPolicy, LoginAttempt};
use safeport_node::demo::setup::{DE_HOTLINE, INTERPOL, NL_HOTLINE, NL_POLICE, demo_password};
use safeport_node::demo::{self, Demo, DemoError, DemoOptions, HASH_LIST, IWOL_DOMAIN};
use safeport_tests::loopback_client;
use safeport_tests::ops::Admin;
use serde_json::Value;

fn node<'a>(demo: &'a Demo, agency: &str) -> &'a RunningNode {
    demo.node(agency).unwrap()
}

async fn get(admin: &Admin, node: &RunningNode, path: &str) -> Value {
    admin.call(node, Method::GET, path, None).await.unwrap()
}

fn array(value: &Value) -> &Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
}

/// Everything the demo seeded, as each node's APIs show it.
async fn check_federation(demo: &Demo) {
    let client = loopback_client().unwrap();
    let admin = Admin::new().unwrap();
    for demo_node in demo.nodes() {
        let node = &demo_node.node;
        let agency = demo_node.spec.id;
        let health = client
            .get(format!("http://{}/healthz", node.http_addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK, "{agency} /healthz");
        let health: Value = health.json().await.unwrap();
        assert_eq!(health["agency"], agency, "{health}");

        let login = client
            .get(demo_node.portal_url().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::OK, "{agency} portal login page");

        let lists = get(&admin, node, "/admin/hash-lists").await;
        assert!(
            array(&lists)
                .iter()
                .any(|l| l["list"] == HASH_LIST && l["version"] == 1),
            "{agency}: {lists}"
        );
        let iwol = get(&admin, node, "/admin/iwol").await;
        assert_eq!(iwol["held"], true, "{agency}: {iwol}");
        assert_eq!(iwol["list"]["version"], 1, "{agency}: {iwol}");
        assert!(
            array(&iwol["domains"])
                .iter()
                .any(|d| d["domain"] == IWOL_DOMAIN),
            "{agency}: {iwol}"
        );

        let status = get(&admin, node, "/admin/status").await;
        let admitted = array(&status["peers"])
            .iter()
            .filter(|p| p["state"] == "admitted")
            .count();
        let expected = match agency {
            INTERPOL | NL_HOTLINE => 3,
            _ => 2,
        };
        assert!(admitted >= expected, "{agency}: {status}");

        let users = get(&admin, node, "/admin/users").await;
        assert_eq!(
            array(&users["users"]).len(),
            demo_node.spec.users.len(),
            "{users}"
        );
        // The role account's printed password logs in (the admin and auditor accounts are
        // made the same way).
        let (user, _) = demo_node.spec.users[2];
        let password = demo_password(user);
        let logged_in = node
            .app()
            .login(
                LoginAttempt {
                    name: user,
                    password: &password,
                    totp_code: None,
                },
                LockoutPolicy {
                    max_failed_logins: 5,
                    lockout_ms: 60_000,
                },
            )
            .unwrap();
        assert!(logged_in.is_ok(), "{agency}: {user} cannot log in");
    }

    // The DE hotline holds NL's DE-hosted gallery: every item, with content (forwarding).
    let de = node(demo, DE_HOTLINE);
    let received = get(&admin, de, "/admin/received?origin=nl-hotline").await;
    let gallery = array(&received)
        .iter()
        .find(|r| r["hosting_country"] == "DE")
        .unwrap_or_else(|| panic!("{received}"));
    let items = array(&gallery["items"]);
    assert_eq!(items.len(), 3, "{gallery}");
    assert!(items.iter().all(|i| i["content_held"] == true), "{gallery}");
    assert!(
        array(&received)
            .iter()
            .all(|r| r["hosting_country"] == "DE"),
        "only DE-hosted reports are forwarded to DE: {received}"
    );

    // The NL hotline holds DE's NL-hosted album, one picture classified by INTERPOL's list.
    let nl = node(demo, NL_HOTLINE);
    let received = get(&admin, nl, "/admin/received?origin=de-hotline").await;
    let album = array(&received)
        .iter()
        .find(|r| r["reported_url"].as_str().unwrap().ends_with("/album"))
        .unwrap_or_else(|| panic!("{received}"));
    let by_list = format!("hash-list:{HASH_LIST}@1");
    assert!(
        array(&album["items"])
            .iter()
            .any(|i| i["classification"] == "baseline" && i["assessed_by"] == by_list.as_str()),
        "{album}"
    );

    // INTERPOL's ICSE: baseline and nationally illegal items of both hotlines, nothing else.
    let interpol = node(demo, INTERPOL);
    let icse = get(&admin, interpol, "/admin/icse?limit=1000").await;
    let entries = array(&icse);
    for hotline in [NL_HOTLINE, DE_HOTLINE] {
        assert!(
            entries.iter().any(|e| e["hotline"] == hotline),
            "{hotline}: {icse}"
        );
    }
    for class in ["baseline", "nationally-illegal"] {
        assert!(
            entries.iter().any(|e| e["item"]["classification"] == class),
            "{class}: {icse}"
        );
    }
    assert!(
        entries.iter().all(|e| {
            matches!(
                e["item"]["classification"].as_str(),
                Some("baseline" | "nationally-illegal")
            ) && e["item"]["content_held"] == true
        }),
        "{icse}"
    );
    let accepted = get(&admin, interpol, "/admin/iwol/suggestions?status=accepted").await;
    let accepted = array(&accepted);
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0]["domain"], IWOL_DOMAIN);
    assert_eq!(
        accepted[0]["agencies"],
        serde_json::json!(["de-hotline", "nl-hotline"])
    );

    // The NL police find the NL-hosted gallery, and nothing hosted in DE.
    let police = node(demo, NL_POLICE);
    let found = get(&admin, police, "/admin/search?country=NL").await;
    assert!(
        array(&found["results"])
            .iter()
            .any(|r| r["origin"] == "nl-hotline"
                && r["url"].as_str().unwrap().ends_with("/gallery")
                && r["url"].as_str().unwrap().contains("127.0.0.2")),
        "{found}"
    );
    let found = get(&admin, police, "/admin/search?country=DE").await;
    assert_eq!(found["total"], 0, "{found}");
}

/// What seeding made, by agency (agreements, own reports taken in): unchanged by a restart,
/// which must not seed again.
async fn seeded(demo: &Demo) -> Vec<(String, usize, usize)> {
    let admin = Admin::new().unwrap();
    let mut made = Vec::new();
    for demo_node in demo.nodes() {
        let agreements = get(&admin, &demo_node.node, "/admin/agreements").await;
        let intake = demo_node.node.store().local_reports(100).unwrap().len();
        made.push((
            demo_node.spec.id.to_owned(),
            array(&agreements).len(),
            intake,
        ));
    }
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_starts_seeds_restarts_without_reseeding_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let options = DemoOptions {
        dir: dir.path().join("demo"),
        fresh: false,
    };
    let first = demo::start(options.clone()).await.unwrap();
    assert!(!first.reused());
    let summary = first.summary();
    for demo_node in first.nodes() {
        assert!(
            summary.contains(&demo_node.portal_url().unwrap()),
            "{summary}"
        );
        for login in demo_node.logins() {
            assert!(summary.contains(&login.password), "{summary}");
        }
    }
    check_federation(&first).await;
    let before = seeded(&first).await;
    let agreements: usize = before.iter().map(|(_, agreements, _)| agreements).sum();
    assert_eq!(
        agreements,
        2 * 14,
        "each of 14 agreements at both parties: {before:?}"
    );
    let intake: usize = before.iter().map(|(_, _, intake)| intake).sum();
    assert_eq!(intake, 3, "two reports at NL, one at DE: {before:?}");
    first.shutdown().await.unwrap();

    // The same directory again: nothing seeded twice, everything still there.
    let second = demo::start(options.clone()).await.unwrap();
    assert!(second.reused());
    check_federation(&second).await;
    assert_eq!(seeded(&second).await, before);
    second.shutdown().await.unwrap();

    // A directory holding anything but a demo is refused and left as it was.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("notes.txt"), "keep me").unwrap();
    let refused = demo::start(DemoOptions {
        dir: other.path().to_owned(),
        fresh: true,
    })
    .await
    .unwrap_err();
    assert!(
        matches!(refused, DemoError::NotADemoDirectory { .. }),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(other.path().join("notes.txt")).unwrap(),
        "keep me"
    );
}
