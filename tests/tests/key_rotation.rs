//! Node key rotation through a new certificate, end to end. The NL hotline sends reports to its
//! national police under an agreement it signed with its first key. Its operator then rotates
//! the key with `node new-key`, the authority's `ca issue` and `node install-key`, and restarts
//! the node; the authority retires the first certificate as superseded and the CRL reaches the
//! nodes. Throughout, nothing is lost or refused: the police goes on receiving (new records
//! under the new key), the agreement signed under the retired key stays active on both sides,
//! a police agency that joins only afterwards receives every report in its back-fill, those
//! signed under the retired key included, and a backup of the hotline restores with every
//! record verified.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeSet;

use safeport_admin::rotate;
use safeport_node::RunningNode;
use safeport_node::backup::{self, RestoreOptions};
use safeport_protocol::pki::RevocationReason;
use safeport_protocol::{AgencyId, Classification, Role, Timestamp};
use safeport_tests::ops::{Admin, WAIT, agreement_state};
use safeport_tests::{TestFederation, fixtures};
use serde_json::json;

async fn wait_until(node: &RunningNode, what: &str, check: impl Fn(&RunningNode) -> bool) {
    safeport_tests::wait_until(node, WAIT, what, check)
        .await
        .unwrap();
}

async fn submit(node: &RunningNode, numbers: impl IntoIterator<Item = u32>) {
    for n in numbers {
        let items = vec![fixtures::media_item(n, Classification::Baseline)];
        let report = fixtures::report(n, "NL", &items);
        node.submit_report(report, items).await.unwrap();
    }
}

fn holds(node: &RunningNode, numbers: std::ops::RangeInclusive<u32>) -> bool {
    fixtures::report_numbers(node).unwrap() == numbers.collect::<BTreeSet<u32>>()
}

fn national_access(recipient: &str) -> serde_json::Value {
    json!({ "template": "national-access", "provider": "nl-hotline", "recipient": recipient,
            "country": "NL", "classifications": ["baseline"], "days": 365 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_node_key_keeps_everything_it_signed_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let police_dir = federation.add_agency("nl-police", Role::Lea, "NL").unwrap();
    let customs_dir = federation
        .add_agency("nl-customs", Role::Lea, "NL")
        .unwrap();
    let hotline = safeport_node::start(hotline_dir.config().unwrap())
        .await
        .unwrap();
    let police = safeport_node::start(police_dir.config().unwrap())
        .await
        .unwrap();
    let admin = Admin::new().unwrap();
    admin.peer(&hotline, &police, "nl-police").await.unwrap();
    let agreement = admin
        .agree(&police, &hotline, national_access("nl-police"))
        .await
        .unwrap();
    submit(&hotline, 1..=3).await;
    wait_until(&police, "the police holds reports 1-3", |n| holds(n, 1..=3)).await;
    let first_key = hotline.app().identity().certificate.key;
    hotline.shutdown().await.unwrap();

    // The rotation, as the operator and the authority do it.
    let made = rotate::new_key(&hotline_dir.dir).unwrap();
    let next_certificate = hotline_dir.dir.join("node.next.pem");
    let next_serial = federation
        .issue_next(
            &hotline_dir,
            "nl-hotline",
            Role::Hotline,
            "NL",
            safeport_admin::now(),
            &next_certificate,
        )
        .unwrap();
    let installed = rotate::install_key(
        &hotline_dir.dir.join("node.toml"),
        &made.key_file,
        &next_certificate,
        safeport_admin::now(),
    )
    .unwrap();
    assert_eq!(installed.retired_serial, hotline_dir.serial);
    assert_eq!(installed.installed_serial, next_serial);
    assert!(installed.retired_key_file.exists());
    assert!(
        !made.key_file.exists(),
        "the installed key's copy stays behind"
    );

    let hotline = safeport_node::start(hotline_dir.config().unwrap())
        .await
        .unwrap();
    let nl_hotline = AgencyId::new("nl-hotline").unwrap();
    assert_ne!(hotline.app().identity().certificate.key, first_key);
    assert_eq!(
        hotline
            .store()
            .agency_certificates(&nl_hotline)
            .unwrap()
            .len(),
        2,
        "the node keeps the certificate of its first key"
    );
    // Signed under the new key, received by the police over a connection with the new key.
    submit(&hotline, [4]).await;
    wait_until(&police, "the police holds report 4", |n| holds(n, 1..=4)).await;
    assert_eq!(
        police
            .store()
            .agency_certificates(&nl_hotline)
            .unwrap()
            .len(),
        2
    );

    // The authority retires the first certificate. (A second after now: the records of the
    // first key were made more than a second ago only in a real rotation, which takes longer
    // than this test.)
    let crl = dir.path().join("federation.crl.pem");
    let retired_at = Timestamp::from_secs(safeport_admin::now().as_secs() + 1);
    federation
        .revoke_with_reason(
            &hotline_dir.serial,
            RevocationReason::Superseded,
            retired_at,
            &crl,
        )
        .unwrap();
    let crl_pem = std::fs::read_to_string(&crl).unwrap();
    for node in [&hotline, &police] {
        admin
            .call_text(node, reqwest::Method::POST, "/admin/crl", crl_pem.clone())
            .await
            .unwrap();
        // The agreement the hotline signed with its first key is still in force.
        assert_eq!(agreement_state(node, &agreement).as_deref(), Some("active"));
    }
    submit(&hotline, [5]).await;
    wait_until(&police, "the police holds report 5", |n| holds(n, 1..=5)).await;

    // A police agency that joins now receives everything, records of the retired key included.
    let customs = safeport_node::start(customs_dir.config().unwrap())
        .await
        .unwrap();
    admin
        .call_text(&customs, reqwest::Method::POST, "/admin/crl", crl_pem)
        .await
        .unwrap();
    admin.peer(&hotline, &customs, "nl-customs").await.unwrap();
    admin
        .agree(&customs, &hotline, national_access("nl-customs"))
        .await
        .unwrap();
    wait_until(&customs, "the customs hold reports 1-5", |n| {
        holds(n, 1..=5)
    })
    .await;
    assert!(customs.store().rejections(10).unwrap().is_empty());
    assert!(police.store().rejections(10).unwrap().is_empty());

    // A backup of the rotated hotline restores with every record verified.
    let backup_dir = dir.path().join("backup");
    let summary = admin
        .call(
            &hotline,
            reqwest::Method::POST,
            "/admin/backup",
            Some(json!({ "dir": backup_dir.display().to_string() })),
        )
        .await
        .unwrap();
    let config = hotline_dir.config().unwrap();
    let options = RestoreOptions {
        anchors: backup::load_anchors(&config.federation.roots).unwrap(),
        accept_unverified: false,
    };
    let restored_dir = dir.path().join("restored");
    let report =
        tokio::task::spawn_blocking(move || backup::restore(&backup_dir, &restored_dir, &options))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(report.records_failed, 0);
    assert_eq!(Some(report.records_verified), summary["records"].as_u64());

    customs.shutdown().await.unwrap();
    hotline.shutdown().await.unwrap();
    police.shutdown().await.unwrap();
}
