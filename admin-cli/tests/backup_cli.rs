//! `safeport-admin backup create` against a running hotline (admin API) and `backup restore`
//! offline into a fresh data directory, as an operator would type them; a node started from
//! the restored directory holds the records and can still decrypt the media content.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::process::Output;

use common::{admin, ok, target};

use safeport_protocol::{Classification, Role};
use safeport_tests::{TestFederation, fixtures};
use serde_json::Value;

/// Runs the CLI without a node to talk to (offline commands).
async fn offline(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_safeport-admin"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn restore_args(from: &Path, data_dir: &Path, root: &Path) -> Vec<String> {
    [
        "--json",
        "backup",
        "restore",
        "--from",
        &from.display().to_string(),
        "--data-dir",
        &data_dir.display().to_string(),
        "--root",
        &root.display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_backs_up_and_restores_a_node_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let node = safeport_node::start(hotline_dir.config().unwrap())
        .await
        .unwrap();

    // Three reports, one of whose items has its content in the blob store.
    let content = b"synthetic media content, not an image".to_vec();
    let sha256 = node.blobs().put(&content).unwrap();
    for n in 1..=3 {
        let mut items = vec![fixtures::media_item(n, Classification::Baseline)];
        if n == 1 {
            items[0].sha256 = sha256;
        }
        let report = fixtures::report(n, "NL", &items);
        node.submit_report(report, items).await.unwrap();
    }
    let records = node.store().record_count().unwrap();

    let at = target(&node, &hotline_dir.dir);
    let backup = dir.path().join("backup");
    let backup_text = backup.display().to_string();
    let created = ok(&at, &["backup", "create", "--dir", &backup_text]).await;
    assert_eq!(created["records"], records);
    assert_eq!(created["blobs"], 1);
    assert_eq!(created["agency"], "nl-hotline");
    assert!(backup.join("backup.json").is_file());

    let again = admin(&at, &["backup", "create", "--dir", &backup_text]).await;
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("not empty"), "{stderr}");
    node.shutdown().await.unwrap();

    // Offline restore, verified against the federation root.
    let root = hotline_dir.dir.join("federation-root.pem");
    let data_dir = dir.path().join("restored");
    let out = offline(restore_args(&backup, &data_dir, &root)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["records_verified"], records);
    assert_eq!(report["records_failed"], 0);
    assert_eq!(report["blobs"], 1);

    // Not over a data directory that holds something, and not without a root.
    let again = offline(restore_args(&backup, &data_dir, &root)).await;
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    let mut no_root = restore_args(&backup, &dir.path().join("other"), &root);
    no_root.truncate(no_root.len() - 2);
    assert!(!offline(no_root).await.status.success());
    assert!(!dir.path().join("other").exists());

    // A node started from the restored data directory (same key and config otherwise).
    let mut config = hotline_dir.config().unwrap();
    config.node.data_dir = data_dir.clone();
    config.admin.token_file = data_dir.join("admin.token");
    config.hotline.blob_dir = data_dir.join("blobs");
    let restored = safeport_node::start(config).await.unwrap();
    assert_eq!(restored.store().record_count().unwrap(), records);
    assert_eq!(restored.blobs().get(&sha256).unwrap(), Some(content));
    restored.shutdown().await.unwrap();
}
