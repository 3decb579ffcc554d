//! `safeport-admin` against running nodes: status, peers, the agreement lifecycle and a CRL
//! pushed to a running node, through the real admin API, as an operator would type it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;

use common::{Target, WAIT, admin, ok, target};

use safeport_node::RunningNode;
use safeport_protocol::Role;
use safeport_tests::TestFederation;
use serde_json::Value;

async fn wait_until(node: &RunningNode, what: &str, check: impl Fn(&RunningNode) -> bool) {
    safeport_tests::wait_until(node, WAIT, what, check)
        .await
        .unwrap();
}

fn state_of(node: &RunningNode, id: &str) -> Option<String> {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(id, &mut bytes).ok()?;
    let entry = node.app().agreements().get(&bytes).cloned()?;
    Some(
        serde_json::to_value(entry.state).unwrap()["state"]
            .as_str()?
            .to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_sets_up_peers_and_agreements_with_the_cli() {
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
    let at_hotline = target(&hotline, &hotline_dir.dir);
    let at_police = target(&police, &police_dir.dir);

    let status = ok(&at_police, &["status"]).await;
    assert_eq!(status["agency"], "nl-police");
    let address = status["listen"][0].as_str().unwrap().to_owned();

    ok(
        &at_hotline,
        &[
            "peers",
            "add",
            "--address",
            &address,
            "--agency",
            "nl-police",
        ],
    )
    .await;
    wait_until(&hotline, "police admitted", |n| {
        n.store()
            .certificate(&"nl-police".parse().unwrap())
            .unwrap()
            .is_some()
    })
    .await;
    let peers = ok(&at_hotline, &["peers", "list"]).await;
    assert_eq!(peers[0]["agency"], "nl-police");
    assert_eq!(peers[0]["configured_address"], address.as_str());

    let proposal = ok(
        &at_police,
        &[
            "agreement",
            "propose",
            "--template",
            "national-access",
            "--provider",
            "nl-hotline",
            "--recipient",
            "nl-police",
            "--country",
            "NL",
            "--classification",
            "baseline",
        ],
    )
    .await;
    let id = proposal["id"].as_str().unwrap().to_owned();
    wait_until(&hotline, "proposal at the hotline", |n| {
        state_of(n, &id).as_deref() == Some("pending")
    })
    .await;
    let listed = ok(&at_hotline, &["agreement", "list"]).await;
    assert_eq!(listed[0]["state"]["state"], "pending");
    assert_eq!(listed[0]["state"]["awaiting"], "nl-hotline");
    ok(&at_hotline, &["agreement", "accept", &id]).await;
    wait_until(&police, "agreement active at the police", |n| {
        state_of(n, &id).as_deref() == Some("active")
    })
    .await;

    ok(
        &at_police,
        &["agreement", "revoke", &id, "--reason", "test over"],
    )
    .await;
    wait_until(&hotline, "revocation at the hotline", |n| {
        state_of(n, &id).as_deref() == Some("revoked")
    })
    .await;

    // A wrong token is refused with a clear message and a non-zero exit.
    let wrong = dir.path().join("wrong.token");
    std::fs::write(&wrong, "0000").unwrap();
    let out = admin(
        &Target {
            url: at_hotline.url.clone(),
            token_file: wrong,
        },
        &["status"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The authority revokes the police certificate; the hotline gets the CRL while running and
    // drops the police at once.
    let crl = dir.path().join("federation.crl.pem");
    federation
        .revoke_and_publish(&police_dir.serial, &crl)
        .unwrap();
    ok(&at_hotline, &["crl-push", crl.to_str().unwrap()]).await;
    let peers = ok(&at_hotline, &["peers", "list"]).await;
    let police_peer = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["agency"] == "nl-police")
        .unwrap();
    assert_eq!(police_peer["state"], "refused", "{peers}");
    assert!(
        police_peer["reason"].as_str().unwrap().contains("revoked"),
        "{peers}"
    );

    hotline.shutdown().await.unwrap();
    police.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_subscribes_to_interpol_lists_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let interpol_dir = federation
        .add_agency("interpol", Role::Interpol, "FR")
        .unwrap();
    let hotline = safeport_node::start(hotline_dir.config().unwrap())
        .await
        .unwrap();
    let interpol = safeport_node::start(interpol_dir.config().unwrap())
        .await
        .unwrap();
    let at_hotline = target(&hotline, &hotline_dir.dir);
    let at_interpol = target(&interpol, &interpol_dir.dir);
    let address = ok(&at_interpol, &["status"]).await["listen"][0]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &at_hotline,
        &[
            "peers",
            "add",
            "--address",
            &address,
            "--agency",
            "interpol",
        ],
    )
    .await;

    let mut ids = Vec::new();
    for (template, extra) in [
        ("hash-list-subscription", &["--country", "NL"][..]),
        ("iwol-subscription", &[][..]),
    ] {
        let mut args = vec![
            "agreement",
            "propose",
            "--template",
            template,
            "--provider",
            "interpol",
            "--recipient",
            "nl-hotline",
        ];
        args.extend_from_slice(extra);
        let proposal = ok(&at_hotline, &args).await;
        assert_eq!(proposal["template"], template);
        ids.push(proposal["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_until(&interpol, "proposal at INTERPOL", |n| {
            state_of(n, id).as_deref() == Some("pending")
        })
        .await;
        ok(&at_interpol, &["agreement", "accept", id]).await;
    }
    for id in &ids {
        wait_until(&hotline, "subscription active at the hotline", |n| {
            state_of(n, id).as_deref() == Some("active")
        })
        .await;
    }
    let listed = ok(&at_hotline, &["agreement", "list"]).await;
    let scopes: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["scope"]["record_types"])
        .collect();
    assert!(
        scopes.contains(&&serde_json::json!(["HashList"])),
        "{listed}"
    );
    assert!(
        scopes.contains(&&serde_json::json!([
            "Iwol",
            "IwolSuggestion",
            "IwolDecision"
        ])),
        "{listed}"
    );

    // An unknown template is refused with the list of known ones, and creates nothing.
    let out = admin(
        &at_hotline,
        &[
            "agreement",
            "propose",
            "--template",
            "everything",
            "--provider",
            "interpol",
            "--recipient",
            "nl-hotline",
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("iwol-subscription"));
    assert_eq!(
        ok(&at_hotline, &["agreement", "list"])
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // INTERPOL publishes its baseline list from a CSV file, then adds an HMA file to it.
    let sha = |n: u8| format!("{:064x}", u128::from(n) * 0x1f2e_3d4c_5b6a);
    let csv = dir.path().join("baseline.csv");
    std::fs::write(
        &csv,
        format!(
            "algorithm,value,category\nsha256,{},baseline\nsha256,{},baseline\n",
            sha(1),
            sha(2)
        ),
    )
    .unwrap();
    let published = ok(
        &at_interpol,
        &[
            "hashes",
            "publish",
            "--list",
            "baseline",
            "--format",
            "csv",
            p(&csv),
        ],
    )
    .await;
    assert_eq!(published["version"], 1);
    let hma = dir.path().join("more.hma");
    std::fs::write(
        &hma,
        format!("pdq {}\nvideo_md5 {:032x}\n", "ab".repeat(32), 77),
    )
    .unwrap();
    let added = ok(
        &at_interpol,
        &[
            "hashes",
            "import",
            "--list",
            "baseline",
            "--format",
            "hma",
            p(&hma),
        ],
    )
    .await;
    assert_eq!(
        (added["version"].as_u64(), added["entry_count"].as_u64()),
        (Some(2), Some(4))
    );

    // A malformed file is refused with its line, before anything is sent.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "algorithm,value,category\nsha256,zz,baseline\n").unwrap();
    let out = admin(
        &at_interpol,
        &[
            "hashes",
            "publish",
            "--list",
            "baseline",
            "--format",
            "csv",
            p(&bad),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));

    // The hotline receives version 2 and answers lookups; its copy exports and re-imports.
    wait_until(&hotline, "version 2 at the hotline", |n| {
        n.app().hash_lists().unwrap().first().map(|l| l.version) == Some(2)
    })
    .await;
    let status = ok(&at_hotline, &["hashes", "status", "interpol/baseline"]).await;
    assert_eq!(
        (status["version"].as_u64(), status["stale"].as_bool()),
        (Some(2), Some(false))
    );
    assert_eq!(
        ok(&at_hotline, &["hashes", "list"])
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let found = ok(
        &at_hotline,
        &["hashes", "match", &format!("sha256:{}", sha(2))],
    )
    .await;
    assert_eq!(found[0]["list"], "interpol/baseline");
    let near = ok(
        &at_hotline,
        &[
            "hashes",
            "match",
            &format!("pdq:{}ac", "ab".repeat(31)),
            "--distance",
            "8",
        ],
    )
    .await;
    assert_eq!(near[0]["distance"], 3);
    let vics = dir.path().join("export.json");
    ok(
        &at_hotline,
        &[
            "hashes",
            "export",
            "interpol/baseline",
            "--format",
            "vics",
            "--out",
            p(&vics),
        ],
    )
    .await;
    // `hashes check` is offline: no node options.
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_safeport-admin"))
        .args(["--json", "hashes", "check", "--format", "vics", p(&vics)])
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let checked: Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert_eq!(checked["entries"], 4);

    // INTERPOL publishes an (empty) IWOL version; the subscribed hotline holds and exports it.
    assert_eq!(
        ok(&at_interpol, &["iwol", "refresh", "--valid-days", "7"]).await["version"],
        1
    );
    wait_until(&hotline, "IWOL version 1 at the hotline", |n| {
        n.app().iwol_status().unwrap().map(|s| s.version) == Some(1)
    })
    .await;
    let status = ok(&at_hotline, &["iwol", "status"]).await;
    assert_eq!(
        (
            status["list"]["version"].as_u64(),
            status["list"]["stale"].as_bool()
        ),
        (Some(1), Some(false))
    );
    let zone = dir.path().join("iwol.rpz.zone");
    let written = ok(
        &at_hotline,
        &[
            "iwol",
            "export",
            "--format",
            "rpz",
            "--nxdomain",
            "--out",
            p(&zone),
        ],
    )
    .await;
    assert!(written["bytes"].as_u64().unwrap() > 0);
    assert!(std::fs::read_to_string(&zone).unwrap().contains(" SOA "));
    assert_eq!(
        ok(&at_hotline, &["iwol", "suggestions"]).await,
        serde_json::json!([])
    );
    // Refused with the reason: a wildcard (checked before sending), a missing criterion and
    // a report the node does not hold (by the node), a hotline reviewing.
    for (args, expected) in [
        (
            vec![
                "iwol",
                "suggest",
                "*.bad.example.test",
                "--report",
                "00",
                "--criterion",
                "real-children",
            ],
            "wildcard",
        ),
        (
            vec![
                "iwol",
                "suggest",
                "bad.example.test",
                "--report",
                &"ab".repeat(32),
                "--criterion",
                "real-children",
            ],
            "is not held here",
        ),
        (
            vec!["iwol", "accept", &"ab".repeat(32), "--reason", "mine"],
            "only INTERPOL",
        ),
    ] {
        let out = admin(&at_hotline, &args).await;
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }

    hotline.shutdown().await.unwrap();
    interpol.shutdown().await.unwrap();
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_scripts_intake_and_classification_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let site = safeport_tests::website::serve().await.unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let mut config = hotline_dir.config().unwrap();
    safeport_tests::website::crawl_locally(&mut config, dir.path(), "NL").unwrap();
    let hotline = safeport_node::start(config).await.unwrap();
    let at = target(&hotline, &hotline_dir.dir);

    let created = ok(
        &at,
        &[
            "report",
            "add",
            "--url",
            &site.url("/start"),
            "--channel",
            "industry",
            "--remarks",
            "seen on a forum",
        ],
    )
    .await;
    let key = created["report_key"].as_str().unwrap().to_owned();
    wait_until(&hotline, "crawl done", |n| {
        safeport_tests::website::crawl_state(n, &key) == Some("done")
    })
    .await;
    let listed = ok(&at, &["report", "list"]).await;
    assert_eq!(listed[0]["report_key"], key.as_str());
    assert_eq!(listed[0]["channel"], "industry");
    let shown = ok(&at, &["report", "show", &key]).await;
    let sha = shown["items"][0]["sha256"].as_str().unwrap().to_owned();
    let classified = ok(
        &at,
        &[
            "report",
            "classify",
            &key,
            &sha,
            "--as",
            "nationally-illegal",
            "--analyst",
            "analyst-3",
        ],
    )
    .await;
    assert_eq!(
        classified["items"][0]["classification"],
        "nationally-illegal"
    );
    let corrected = ok(
        &at,
        &["report", "country", &key, "BE", "--analyst", "analyst-3"],
    )
    .await;
    assert_eq!(corrected["hosting"]["country"], "BE");

    // Bad input: a clear error, nothing created.
    let out = admin(
        &at,
        &["report", "add", "--url", "ftp://files.example.test/"],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("http(s)"));
    let out = admin(&at, &["report", "show", "../status"]).await;
    assert!(!out.status.success());
    assert_eq!(
        ok(&at, &["report", "list"]).await.as_array().unwrap().len(),
        1
    );

    hotline.shutdown().await.unwrap();
}
