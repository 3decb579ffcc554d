//! The portal's federation pages across real nodes over libp2p, through real HTTP with logged-in
//! users: an admin accepts and declines agreements and sees peers and sync, everyone sees the
//! hash lists held, a hotline analyst confirms another hotline's IWOL suggestion from a
//! report's page, and INTERPOL's reviewer accepts one suggestion and rejects another with a
//! reason. Roles are enforced on every page and action.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use reqwest::{Method, StatusCode};
use safeport_node::RunningNode;
use safeport_node::app::accounts::PortalRole;
use safeport_node::app::audit::Actor;
use safeport_protocol::{Classification, Role};
use safeport_tests::ops::{Admin, WAIT, agreement_state};
use safeport_tests::portal::PortalUser;
use safeport_tests::{TestFederation, fixtures, wait_until};
use serde_json::{Value, json};

const PASSWORD: &str = "portal pages password";
const CRITERIA: [&str; 4] = [
    "real-children",
    "under-13",
    "severe-abuse",
    "online-3-months",
];

fn add_user(node: &RunningNode, name: &str, roles: &[PortalRole]) {
    node.app()
        .add_user(&Actor::admin(), name, roles, false, Some(PASSWORD))
        .unwrap();
}

/// A report of `node` on `site-<n>.example.test` with one baseline item; its record id.
fn report_on_site(node: &RunningNode, n: u32) -> String {
    let items = vec![fixtures::media_item(n, Classification::Baseline)];
    let mut report = fixtures::report(n, "DE", &items);
    report.received_at = node.app().now();
    node.app().submit_report(report, &items).unwrap().0.to_hex()
}

fn suggestion(node: &RunningNode, id: &str) -> Option<Value> {
    let view = node.app().iwol_suggestion(&id.parse().ok()?).ok()?;
    Some(serde_json::to_value(view).unwrap())
}

async fn propose(admin: &Admin, at: &RunningNode, body: Value) -> String {
    let proposal = admin
        .call(at, Method::POST, "/admin/agreements", Some(body))
        .await
        .unwrap();
    proposal["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_reviewers_and_analysts_use_the_federation_pages() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let mut nodes = Vec::new();
    for (agency, role, country) in [
        ("interpol", Role::Interpol, "FR"),
        ("nl-hotline", Role::Hotline, "NL"),
        ("de-hotline", Role::Hotline, "DE"),
    ] {
        let config = federation
            .add_agency(agency, role, country)
            .unwrap()
            .config()
            .unwrap();
        nodes.push(safeport_node::start(config).await.unwrap());
    }
    let [interpol, nl, de] = <[RunningNode; 3]>::try_from(nodes).unwrap();
    let admin = Admin::new().unwrap();
    admin.peer(&nl, &interpol, "interpol").await.unwrap();
    admin.peer(&de, &interpol, "interpol").await.unwrap();
    add_user(&nl, "olga", &[PortalRole::Admin]);
    add_user(&nl, "ana", &[PortalRole::Analyst]);
    add_user(&de, "dirk", &[PortalRole::Analyst]);
    add_user(&interpol, "rita", &[PortalRole::Reviewer]);
    let olga = PortalUser::login(&nl, "olga", PASSWORD).await.unwrap();
    let ana = PortalUser::login(&nl, "ana", PASSWORD).await.unwrap();

    // Agreements: INTERPOL proposes; NL's admin accepts one in the portal and declines another.
    let subscription = propose(
        &admin,
        &interpol,
        json!({ "template": "iwol-subscription", "provider": "interpol",
                "recipient": "nl-hotline", "days": 30 }),
    )
    .await;
    let unwanted = propose(
        &admin,
        &interpol,
        json!({ "template": "hash-list-subscription", "provider": "interpol",
                "recipient": "nl-hotline", "days": 30 }),
    )
    .await;
    for id in [&subscription, &unwanted] {
        wait_until(&nl, WAIT, "proposal at NL", |n| {
            agreement_state(n, id).as_deref() == Some("pending")
        })
        .await
        .unwrap();
    }
    let (status, page) = olga.get("/agreements").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("/agreements/{subscription}/accept")),
        "{page}"
    );
    assert!(page.contains("pending (awaiting nl-hotline)"));
    // An analyst may neither see nor decide agreements.
    assert_eq!(
        ana.get("/agreements").await.unwrap().0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = ana
        .post(&format!("/agreements/{subscription}/accept"), &[])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        agreement_state(&nl, &subscription).as_deref(),
        Some("pending")
    );
    let (status, _) = olga
        .post(&format!("/agreements/{subscription}/accept"), &[])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = olga
        .post(
            &format!("/agreements/{unwanted}/revoke"),
            &[("reason", "not needed here")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    wait_until(&interpol, WAIT, "accepted at INTERPOL", |n| {
        agreement_state(n, &subscription).as_deref() == Some("active")
    })
    .await
    .unwrap();
    wait_until(&interpol, WAIT, "declined at INTERPOL", |n| {
        agreement_state(n, &unwanted).as_deref() == Some("revoked")
    })
    .await
    .unwrap();
    let (_, page) = olga.get("/agreements").await.unwrap();
    assert!(
        page.contains("revoked by nl-hotline: not needed here"),
        "{page}"
    );
    let audit = nl.app().audit_entries(0, 1000).unwrap();
    for action in ["agreement-accept", "agreement-revoke"] {
        assert!(
            audit
                .iter()
                .any(|e| e.record.action == action && e.record.actor == "user:olga")
        );
    }

    // Peers and sync, for the admin only.
    let (status, page) = olga.get("/peers").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("interpol") && page.contains("admitted"),
        "{page}"
    );
    assert_eq!(ana.get("/peers").await.unwrap().0, StatusCode::FORBIDDEN);

    // Hash lists held, with their state.
    admin
        .agree(
            &interpol,
            &nl,
            json!({ "template": "hash-list-subscription", "provider": "interpol",
                    "recipient": "nl-hotline", "days": 30 }),
        )
        .await
        .unwrap();
    let csv = format!("algorithm,value,category\nsha256,{:064x},baseline\n", 7u8);
    admin
        .call_text(
            &interpol,
            Method::POST,
            "/admin/hash-lists/baseline/versions?format=csv",
            csv,
        )
        .await
        .unwrap();
    wait_until(&nl, WAIT, "the list at NL", |n| {
        !n.app().hash_lists().unwrap().is_empty()
    })
    .await
    .unwrap();
    let (status, page) = ana.get("/hashlists").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("interpol/baseline") && page.contains("current"),
        "{page}"
    );

    // IWOL: NL suggests (admin API), DE's analyst confirms from its own report's page, and
    // INTERPOL's reviewer decides in the portal.
    for (node, agency) in [(&nl, "nl-hotline"), (&de, "de-hotline")] {
        admin
            .agree(
                node,
                &interpol,
                json!({ "template": "iwol-contribution", "provider": agency,
                        "recipient": "interpol", "days": 30 }),
            )
            .await
            .unwrap();
    }
    admin
        .agree(
            &interpol,
            &de,
            json!({ "template": "iwol-subscription", "provider": "interpol",
                    "recipient": "de-hotline", "days": 30 }),
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in [1, 2] {
        let evidence = report_on_site(&nl, n);
        let suggested = admin
            .call(
                &nl,
                Method::POST,
                "/admin/iwol/suggestions",
                Some(
                    json!({ "domain": format!("site-{n}.example.test"), "criteria": CRITERIA,
                             "reports": [evidence] }),
                ),
            )
            .await
            .unwrap();
        ids.push(suggested["record_id"].as_str().unwrap().to_owned());
    }
    wait_until(&de, WAIT, "the suggestion at DE", |n| {
        suggestion(n, &ids[0]).is_some()
    })
    .await
    .unwrap();
    let de_report = report_on_site(&de, 1);
    let dirk = PortalUser::login(&de, "dirk", PASSWORD).await.unwrap();
    let criteria: Vec<(&str, &str)> = CRITERIA.iter().map(|c| ("criteria", *c)).collect();
    let mut form = vec![
        ("report", de_report.as_str()),
        ("domain", "site-1.example.test"),
    ];
    form.extend(criteria.iter().copied());
    let (status, body) = dirk.post("/iwol/suggest", &form).await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    wait_until(&interpol, WAIT, "the confirmation at INTERPOL", |n| {
        suggestion(n, &ids[0]).is_some_and(|v| v["acceptable"] == true)
    })
    .await
    .unwrap();
    wait_until(&interpol, WAIT, "the second suggestion at INTERPOL", |n| {
        suggestion(n, &ids[1]).is_some()
    })
    .await
    .unwrap();

    let rita = PortalUser::login(&interpol, "rita", PASSWORD)
        .await
        .unwrap();
    let (status, page) = rita.get("/iwol").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("site-1.example.test") && page.contains("de-hotline"),
        "{page}"
    );
    assert!(
        page.contains("Needs a second agency"),
        "site-2 has one agency: {page}"
    );
    // Accepting on one agency's word is refused by the domain layer, shown as a refusal.
    let (status, _) = rita
        .post(
            &format!("/iwol/{}/review", ids[1]),
            &[("decision", "accept"), ("reason", "x")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CONFLICT);
    // An analyst cannot review.
    let (status, _) = dirk
        .post(
            &format!("/iwol/{}/review", ids[1]),
            &[("decision", "reject"), ("reason", "x")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (id, decision, reason) in [
        (&ids[0], "accept", "confirmed by two hotlines"),
        (&ids[1], "reject", "evidence too old"),
    ] {
        let (status, body) = rita
            .post(
                &format!("/iwol/{id}/review"),
                &[("decision", decision), ("reason", reason)],
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    }
    let (_, page) = rita.get("/iwol").await.unwrap();
    assert!(page.contains("confirmed by two hotlines") && page.contains("evidence too old"));
    wait_until(&nl, WAIT, "the listing at NL", |n| {
        n.app()
            .iwol_status()
            .unwrap()
            .is_some_and(|s| s.domains == 1)
    })
    .await
    .unwrap();
    let (_, page) = ana.get("/hashlists").await.unwrap();
    assert!(page.contains("Version 1, 1 domains"), "{page}");

    for node in [interpol, nl, de] {
        node.shutdown().await.unwrap();
    }
}
