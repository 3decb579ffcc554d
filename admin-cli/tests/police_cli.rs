//! An investigator at the NL police works through `safeport-admin` against a running police
//! node fed over libp2p by the NL hotline, under an agreement that grants NL-hosted reports'
//! baseline items only: searches by criteria, by every kind of media hash and by hash-list
//! match, a saved search run again and packaged whole, a report's detail with both of its
//! revisions (each shown only as far as the agreement reaches), a media item's detail, the
//! agency behind the reports; what the agreement does not grant is never found, and every
//! consultation is in the verified audit trail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::{WAIT, admin, ok, target};
use safeport_node::RunningNode;
use safeport_protocol::report::{Assessor, MediaItem};
use safeport_protocol::{Classification, Role};
use safeport_tests::ops::Admin;
use safeport_tests::{TestFederation, fixtures};
use serde_json::{Value, json};

/// Submits report `n` (revision `revision`) hosted in `country` with `items`; its key in hex.
async fn submit(
    node: &RunningNode,
    n: u32,
    revision: u32,
    country: &str,
    items: &[MediaItem],
) -> String {
    let mut report = fixtures::report(n, country, items);
    report.revision = revision;
    let key = hex::encode(report.report_key);
    node.submit_report(report, items.to_vec()).await.unwrap();
    key
}

fn total(value: &Value) -> u64 {
    value["total"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_investigator_searches_saves_and_packages_with_the_cli() {
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
    let ops = Admin::new().unwrap();
    ops.peer(&police, &hotline, "nl-hotline").await.unwrap();
    ops.agree(
        &police,
        &hotline,
        json!({ "template": "national-access", "provider": "nl-hotline",
                "recipient": "nl-police", "country": "NL", "classifications": ["baseline"],
                "days": 30 }),
    )
    .await
    .unwrap();

    use Classification::*;
    let baseline = fixtures::media_item(10, Baseline);
    let context = fixtures::media_item(11, NotIllegal);
    let key = submit(&hotline, 1, 1, "NL", &[baseline.clone(), context.clone()]).await;
    let elsewhere = fixtures::media_item(20, Baseline);
    submit(&hotline, 2, 1, "DE", std::slice::from_ref(&elsewhere)).await;
    let national = fixtures::media_item(30, NationallyIllegal);
    submit(&hotline, 3, 1, "NL", std::slice::from_ref(&national)).await;
    // Revision 2: the second item is on INTERPOL's baseline list after all.
    let mut listed = fixtures::media_item(11, Baseline);
    listed.assessment.assessor = Some(Assessor::HashList {
        list_id: "interpol/baseline".into(),
        version: 4,
    });
    submit(&hotline, 1, 2, "NL", &[baseline.clone(), listed.clone()]).await;
    let origin = "nl-hotline".parse().unwrap();
    let mut report_key = [0u8; 16];
    hex::decode_to_slice(&key, &mut report_key).unwrap();
    safeport_tests::wait_until(&police, WAIT, "revision 2 at the police", |n| {
        n.store()
            .report_head(&origin, &report_key)
            .unwrap()
            .is_some_and(|(revision, _)| revision == 2)
    })
    .await
    .unwrap();

    let at = target(&police, &police_dir.dir);
    let sha = |item: &MediaItem| hex::encode(item.sha256);
    assert_eq!(total(&ok(&at, &["search"]).await), 1);
    let pdq = hex::encode(baseline.pdq.as_ref().unwrap().bits());
    for (args, expected) in [
        (vec!["--classification", "baseline"], 1),
        (vec!["--country", "DE"], 0),
        (vec!["--hash", &sha(&baseline)], 1),
        (
            vec!["--hash", &format!("md5:{}", hex::encode(baseline.md5))],
            1,
        ),
        (
            vec!["--hash", &format!("sha1:{}", hex::encode(listed.sha1))],
            1,
        ),
        (vec!["--hash", &format!("pdq:{pdq}"), "--distance", "0"], 1),
        (vec!["--hash", &sha(&elsewhere)], 0),
        (vec!["--hash", &sha(&national)], 0),
        (vec!["--hash-list", "any"], 1),
        (vec!["--hash-list", "interpol/baseline"], 1),
        (vec!["--hash-list", "interpol/other"], 0),
        (vec!["--status", "none"], 1),
    ] {
        let mut full = vec!["search"];
        full.extend(args.iter().copied());
        assert_eq!(total(&ok(&at, &full).await), expected, "{args:?}");
    }
    let refused = admin(&at, &["search", "--status", "deleted"]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unknown status"));

    // A saved search: saved and run in one step, listed, run again, packaged whole.
    let saved = ok(
        &at,
        &[
            "search",
            "--save",
            "nl-baseline",
            "--country",
            "NL",
            "--classification",
            "baseline",
            "--purpose",
            "case NL-7",
        ],
    )
    .await;
    assert_eq!(total(&saved), 1);
    let listed_searches = ok(&at, &["searches", "list"]).await;
    assert_eq!(listed_searches[0]["name"], "nl-baseline");
    assert_eq!(
        ok(&at, &["searches", "show", "nl-baseline"]).await["criteria"]["country"],
        "NL"
    );
    let again = ok(&at, &["search", "--saved", "nl-baseline", "--limit", "5"]).await;
    assert_eq!(again["results"][0]["report_key"], key);
    let package = dir.path().join("nl-7.zip");
    ok(
        &at,
        &[
            "package",
            "create",
            "--saved-search",
            "nl-baseline",
            "--case",
            "NL-7",
            "--purpose",
            "identify the hosting provider",
            "--out",
            package.to_str().unwrap(),
        ],
    )
    .await;
    let root = federation.root_certificate();
    // Offline, as the recipient checks it.
    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_safeport-admin"))
        .args(["--json", "package", "verify"])
        .arg(&package)
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let verified: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(
        (verified["valid"].as_bool(), verified["reports"].as_u64()),
        (Some(true), Some(1))
    );
    assert_eq!(verified["case_reference"], "NL-7");

    // The report's detail: both revisions, each as far as the agreement reaches.
    let detail = ok(&at, &["held", "show", &format!("nl-hotline/{key}")]).await;
    assert_eq!(detail["revision"], 2);
    assert_eq!(
        detail["items"][1]["classified_by"],
        "hash-list:interpol/baseline@4"
    );
    let revisions = detail["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0]["items"].as_array().unwrap().len(), 1);
    assert_eq!(revisions[1]["items"].as_array().unwrap().len(), 2);
    let media = ok(&at, &["held", "media", &sha(&baseline)]).await;
    assert_eq!(media["occurrences"][0]["report_key"], key);
    assert_eq!(media["md5"], hex::encode(baseline.md5));
    // (The second item of report 1 is shown now: revision 2 classifies the same content
    // baseline.)
    assert_eq!(
        ok(&at, &["held", "media", &sha(&context)]).await["occurrences"][0]["classification"],
        "baseline"
    );
    for hidden in [sha(&elsewhere), sha(&national)] {
        let out = admin(&at, &["held", "media", &hidden]).await;
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
    }
    let agency = ok(&at, &["held", "agency", "nl-hotline"]).await;
    assert_eq!(agency["role"], "hotline");

    ok(&at, &["searches", "delete", "nl-baseline"]).await;
    let gone = admin(&at, &["search", "--saved", "nl-baseline"]).await;
    assert!(!gone.status.success());

    // Every consultation is in the audit trail, and the chain verifies.
    let entries = ok(&at, &["audit", "list", "--limit", "200"]).await;
    let actions: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "search",
        "view-report",
        "view-media",
        "view-agency",
        "package",
    ] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
    ok(&at, &["audit", "verify"]).await;
    police.shutdown().await.unwrap();
    hotline.shutdown().await.unwrap();
}
