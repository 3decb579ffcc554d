//! Online backup under write load, and a restore that goes on syncing. A hotline sends reports
//! to its national police; a background task keeps submitting reports while the operator backs
//! the hotline up through the admin API, and afterwards. The hotline is lost (shut down) after
//! the police has received everything, including reports the backup does not hold. The backup
//! is restored into a fresh data directory: every record verifies, and a node started from it
//! reaches the police with its new reports, although the police had already read further in
//! the lost node's outbox than the backup knows (the restore fences the outboxes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use safeport_node::RunningNode;
use safeport_node::backup::{self, RestoreOptions};
use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::{Classification, Role};
use safeport_tests::ops::{Admin, WAIT, agreement_state};
use safeport_tests::{TestFederation, fixtures};
use serde_json::json;

async fn wait_until(node: &RunningNode, what: &str, check: impl Fn(&RunningNode) -> bool) {
    safeport_tests::wait_until(node, WAIT, what, check)
        .await
        .unwrap();
}

/// Report `n`: hosted in NL, one baseline item (what national access lets the police see).
fn numbered(n: u32) -> (Report, Vec<MediaItem>) {
    let items = vec![fixtures::media_item(n, Classification::Baseline)];
    (fixtures::report(n, "NL", &items), items)
}

/// The numbers of the reports `node` holds.
fn reports(node: &RunningNode) -> BTreeSet<u32> {
    fixtures::report_numbers(node).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_verified_and_goes_on_syncing() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let police_dir = federation.add_agency("nl-police", Role::Lea, "NL").unwrap();
    let hotline = safeport_node::start(hotline_dir.config().unwrap())
        .await
        .unwrap();
    let police = safeport_node::start(police_dir.config().unwrap())
        .await
        .unwrap();
    let admin = Admin::new().unwrap();
    admin.peer(&hotline, &police, "nl-police").await.unwrap();
    let agreement = admin
        .agree(
            &police,
            &hotline,
            json!({
        "template": "national-access", "provider": "nl-hotline", "recipient": "nl-police",
        "country": "NL", "classifications": ["baseline"], "days": 365 }),
        )
        .await
        .unwrap();

    // The write load: reports 1, 2, 3, … until told to stop.
    let hotline = Arc::new(hotline);
    let stop = Arc::new(AtomicBool::new(false));
    let submitted = Arc::new(AtomicU32::new(0));
    let writer = tokio::spawn({
        let (hotline, stop, submitted) = (hotline.clone(), stop.clone(), submitted.clone());
        async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let (report, items) = numbered(n);
                hotline.submit_report(report, items).await.unwrap();
                submitted.store(n, Ordering::SeqCst);
            }
        }
    });
    wait_until(&hotline, "the write load has started", |_| {
        submitted.load(Ordering::SeqCst) >= 5
    })
    .await;

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
    let after_backup = submitted.load(Ordering::SeqCst);
    assert_eq!(summary["agency"], "nl-hotline");
    assert_eq!(summary["blobs"], 0);
    let backed_up = summary["records"].as_u64().unwrap();
    assert!(backed_up > 5, "{summary}");
    // A backup holds everything the node holds: writing one is in the audit trail.
    let audited = hotline.app().audit_entries(0, 1000).unwrap();
    assert!(
        audited
            .iter()
            .any(|e| e.record.action == "backup" && e.record.target.contains("backup")),
        "no audit entry for the backup"
    );
    // A second backup into the same directory is refused: it is no longer empty.
    let (status, refusal) = admin
        .try_call(
            &hotline,
            reqwest::Method::POST,
            "/admin/backup",
            Some(json!({ "dir": backup_dir.display().to_string() })),
        )
        .await
        .unwrap();
    assert_eq!(status, reqwest::StatusCode::CONFLICT, "{refusal}");
    assert!(refusal["error"].as_str().unwrap().contains("not empty"));

    wait_until(&hotline, "writes go on after the backup", |_| {
        submitted.load(Ordering::SeqCst) >= after_backup + 5
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let total = submitted.load(Ordering::SeqCst);
    let everything: BTreeSet<u32> = (1..=total).collect();
    wait_until(&police, "the police holds every report", |n| {
        reports(n) == everything
    })
    .await;
    assert!(hotline.store().record_count().unwrap() > backed_up);

    // The hotline is lost.
    let Ok(hotline) = Arc::try_unwrap(hotline) else {
        panic!("the writer still holds the hotline");
    };
    hotline.shutdown().await.unwrap();

    // Restored into a fresh data directory; keys and config stay where they were.
    let mut config = hotline_dir.config().unwrap();
    let data_dir = dir.path().join("restored-data");
    let options = RestoreOptions {
        anchors: backup::load_anchors(&config.federation.roots).unwrap(),
        accept_unverified: false,
    };
    let report = tokio::task::spawn_blocking({
        let (backup_dir, data_dir) = (backup_dir.clone(), data_dir.clone());
        move || backup::restore(&backup_dir, &data_dir, &options)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.records_verified, backed_up);
    assert_eq!(report.records_failed, 0);
    assert!(report.outboxes_fenced >= 1);

    config.node.data_dir = data_dir.clone();
    config.admin.token_file = data_dir.join("admin.token");
    config.hotline.blob_dir = data_dir.join("blobs");
    let restored = safeport_node::start(config).await.unwrap();
    assert_eq!(restored.store().record_count().unwrap(), backed_up);
    let held = reports(&restored);
    assert!(
        held.len() >= 5 && held.len() as u32 <= after_backup,
        "{held:?}"
    );
    assert!(held.is_subset(&everything));
    assert_eq!(
        agreement_state(&restored, &agreement).as_deref(),
        Some("active")
    );

    // It goes on syncing: new reports reach the police.
    let new: BTreeSet<u32> = (10_001..=10_003).collect();
    for n in &new {
        let (report, items) = numbered(*n);
        restored.submit_report(report, items).await.unwrap();
    }
    let expected: BTreeSet<u32> = everything.union(&new).copied().collect();
    wait_until(
        &police,
        "the police receives the restored node's reports",
        |n| reports(n) == expected,
    )
    .await;
    assert!(police.store().rejections(10).unwrap().is_empty());

    restored.shutdown().await.unwrap();
    police.shutdown().await.unwrap();
}
