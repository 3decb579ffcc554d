//! Four real nodes on loopback (INTERPOL, hotline NL, hotline DE, police NL) with the standard
//! agreements, set up through the admin API like an operator would: peers, proposals,
//! acceptances. Reports entered at the NL hotline reach exactly the agencies their agreements
//! allow, over libp2p. A sentinel report sent last proves nothing else is still in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use safeport_node::RunningNode;
use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::{Classification, RecordType, Role};
use safeport_tests::ops::{Admin, WAIT};
use safeport_tests::{TestFederation, fixtures};
use serde_json::json;

async fn wait_until(node: &RunningNode, what: &str, check: impl Fn(&RunningNode) -> bool) {
    safeport_tests::wait_until(node, WAIT, what, check)
        .await
        .unwrap();
}

fn item(n: u8, classification: Classification) -> MediaItem {
    fixtures::media_item(u32::from(n), classification)
}

fn report(n: u8, country: &str, items: &[MediaItem]) -> Report {
    fixtures::report(u32::from(n), country, items)
}

/// `(report key, sorted first bytes of the media items held)` for every report at `node`.
fn holdings(node: &RunningNode) -> Vec<(u8, Vec<u8>)> {
    let store = node.store();
    let mut out: Vec<(u8, Vec<u8>)> = store
        .records_of_type(RecordType::Report, None, 1000)
        .unwrap()
        .iter()
        .map(|id| {
            let report = store
                .record(id)
                .unwrap()
                .unwrap()
                .into_typed::<Report>()
                .unwrap();
            let mut items: Vec<u8> = report
                .body()
                .media
                .iter()
                .filter_map(|c| store.media_item(id, c).unwrap())
                .map(|i| i.sha256[0])
                .collect();
            items.sort();
            (report.body().report_key[0], items)
        })
        .collect();
    out.sort();
    out
}

fn holds_report(node: &RunningNode, key: u8) -> bool {
    holdings(node).iter().any(|(k, _)| *k == key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_agencies_receive_exactly_what_their_agreements_allow() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let mut nodes = Vec::new();
    for (agency, role, country) in [
        ("nl-hotline", Role::Hotline, "NL"),
        ("de-hotline", Role::Hotline, "DE"),
        ("interpol", Role::Interpol, "FR"),
        ("nl-police", Role::Lea, "NL"),
    ] {
        let node_dir = federation.add_agency(agency, role, country).unwrap();
        nodes.push(
            safeport_node::start(node_dir.config().unwrap())
                .await
                .unwrap(),
        );
    }
    let [nl, de, interpol, police] = <[RunningNode; 4]>::try_from(nodes).unwrap();
    let admin = Admin::new().unwrap();

    // The NL hotline peers with everyone, through its admin API.
    for (other, agency) in [
        (&de, "de-hotline"),
        (&interpol, "interpol"),
        (&police, "nl-police"),
    ] {
        admin.peer(&nl, other, agency).await.unwrap();
    }

    admin
        .agree(
            &nl,
            &de,
            json!({
        "template": "forwarding", "provider": "nl-hotline", "recipient": "de-hotline",
        "country": "DE", "days": 365 }),
        )
        .await
        .unwrap();
    admin
        .agree(
            &nl,
            &interpol,
            json!({
        "template": "icse-contribution", "provider": "nl-hotline", "recipient": "interpol",
        "days": 365 }),
        )
        .await
        .unwrap();
    // Police access is proposed by the police and accepted by the hotline.
    admin
        .agree(
            &police,
            &nl,
            json!({
        "template": "national-access", "provider": "nl-hotline", "recipient": "nl-police",
        "country": "NL", "classifications": ["baseline"], "days": 365 }),
        )
        .await
        .unwrap();

    let de_items = [
        item(10, Classification::Baseline),
        item(11, Classification::NationallyIllegal),
        item(12, Classification::NotIllegal),
    ];
    nl.submit_report(report(1, "DE", &de_items), de_items.to_vec())
        .await
        .unwrap();
    let nl_items = [
        item(20, Classification::Baseline),
        item(21, Classification::NationallyIllegal),
    ];
    nl.submit_report(report(2, "NL", &nl_items), nl_items.to_vec())
        .await
        .unwrap();
    let fr_items = [item(30, Classification::NotIllegal)];
    nl.submit_report(report(3, "FR", &fr_items), fr_items.to_vec())
        .await
        .unwrap();
    // The sentinel goes last and is covered for every recipient.
    let sentinel_items = [item(90, Classification::Baseline)];
    nl.submit_report(report(9, "DE", &sentinel_items), sentinel_items.to_vec())
        .await
        .unwrap();
    let sentinel_nl_items = [item(91, Classification::Baseline)];
    nl.submit_report(
        report(8, "NL", &sentinel_nl_items),
        sentinel_nl_items.to_vec(),
    )
    .await
    .unwrap();

    wait_until(&de, "sentinel at DE", |n| holds_report(n, 9)).await;
    wait_until(&interpol, "sentinels at INTERPOL", |n| {
        holds_report(n, 9) && holds_report(n, 8)
    })
    .await;
    wait_until(&police, "sentinel at the police", |n| holds_report(n, 8)).await;

    assert_eq!(holdings(&de), vec![(1, vec![10, 11, 12]), (9, vec![90])]);
    assert_eq!(
        holdings(&interpol),
        vec![
            (1, vec![10, 11]),
            (2, vec![20, 21]),
            (8, vec![91]),
            (9, vec![90])
        ]
    );
    assert_eq!(holdings(&police), vec![(2, vec![20]), (8, vec![91])]);
    for node in [&de, &interpol, &police] {
        assert!(node.store().rejections(10).unwrap().is_empty());
    }

    // Status shows the peers admitted and nothing waiting.
    let status = admin
        .call(&nl, reqwest::Method::GET, "/admin/status", None)
        .await
        .unwrap();
    let peers = status["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 3, "{status}");
    for peer in peers {
        assert_eq!(peer["state"], "admitted", "{peer}");
    }

    // Replay: the police's cursor is rewound and everything is delivered again: nothing changes.
    let nl_agency: safeport_protocol::AgencyId = "nl-hotline".parse().unwrap();
    let before = (holdings(&police), police.store().record_count().unwrap());
    let received_before = police.federation().progress()[&nl_agency].received;
    let mut rewind = police.store().batch();
    rewind.set_cursor(&nl_agency, 0).unwrap();
    rewind.commit().unwrap();
    let mut changes = police.app().subscribe();
    police.federation().pull(nl_agency.clone()).await;
    tokio::time::timeout(WAIT, async {
        while police.store().cursor(&nl_agency).unwrap() == 0 {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    assert_eq!(
        (holdings(&police), police.store().record_count().unwrap()),
        before
    );
    assert!(police.store().rejections(10).unwrap().is_empty());
    // Whenever the driver has counted the replayed page, it counted no new record.
    assert_eq!(
        police.federation().progress()[&nl_agency].received,
        received_before
    );

    for node in [nl, de, interpol, police] {
        node.shutdown().await.unwrap();
    }
}
