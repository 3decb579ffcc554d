//! The hotline's intake and crawl through the real paths: the admin API over HTTP, the
//! crawler against a test website on loopback, the store, the blob store. Hashes are checked
//! against coreutils (independent of Safeport's code); failures are checked to be recorded,
//! bounded and harmless.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use safeport_node::RunningNode;
use safeport_protocol::Role;
use safeport_tests::ops::Admin;
use safeport_tests::{TestFederation, wait_until, website};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// One node's admin API (the scenario harness's [`Admin`], bound to the node).
struct Api<'a> {
    node: &'a RunningNode,
    admin: Admin,
}

impl<'a> Api<'a> {
    fn of(node: &'a RunningNode) -> Self {
        Self {
            node,
            admin: Admin::new().unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.admin
            .call(self.node, reqwest::Method::GET, path, None)
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, body) = self
            .admin
            .try_call(self.node, reqwest::Method::POST, path, Some(body))
            .await
            .unwrap();
        (status.as_u16(), body)
    }
}

/// The config of a hotline node whose crawler may visit the test website (loopback, 1 MiB
/// media limit, 2 s fetch deadline, loopback placed in DE).
fn hotline_config(dir: &Path) -> safeport_node::config::NodeConfig {
    let federation = TestFederation::create(dir, "Test Federation").unwrap();
    let agency = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let mut config = agency.config().unwrap();
    website::crawl_locally(&mut config, dir, "DE").unwrap();
    config
}

/// A started [`hotline_config`] node.
async fn hotline(dir: &Path) -> RunningNode {
    safeport_node::start(hotline_config(dir)).await.unwrap()
}

fn crawl_state(node: &RunningNode, key: &str) -> &'static str {
    website::crawl_state(node, key).unwrap()
}

async fn intake_and_crawl(node: &RunningNode, api: &Api<'_>, url: &str) -> Value {
    let (status, created) = api
        .post(
            "/admin/reports",
            json!({ "url": url, "channel": "public-form", "remarks": "reporter says: INTERNAL-REMARK" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["report_key"].as_str().unwrap().to_owned();
    wait_until(node, WAIT, "crawl finished", |n| {
        matches!(crawl_state(n, &key), "done" | "failed")
    })
    .await
    .unwrap();
    api.get(&format!("/admin/reports/{key}")).await
}

fn coreutils(tool: &str, bytes: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let out = Command::new(tool).arg(file.path()).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_website_is_crawled_hashed_and_recorded_completely() {
    let dir = tempfile::tempdir().unwrap();
    let site = website::serve().await.unwrap();
    let node = hotline(dir.path()).await;
    let api = Api::of(&node);

    let report = intake_and_crawl(&node, &api, &site.url("/start")).await;
    assert_eq!(report["crawl"]["state"], "done", "{report}");
    assert_eq!(report["redirects"], json!([site.url("/gallery")]));
    assert_eq!(report["final_url"], site.url("/gallery"));
    assert_eq!(report["page"]["http_status"], 200);
    assert_eq!(report["page"]["title"], "Test gallery");
    assert!(
        report["page"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h[0] == "content-type"),
        "{report}"
    );
    assert_eq!(report["hosting"]["ip"], "127.0.0.1");
    assert_eq!(report["hosting"]["country"], "DE");
    assert_eq!(report["revision"], 2);

    // Every reachable media item, in page order, hashed as coreutils hashes it.
    let items = report["items"].as_array().unwrap();
    let sources: Vec<&str> = items
        .iter()
        .map(|i| i["source_url"].as_str().unwrap())
        .collect();
    let expected_paths = [
        "/img/cover.png",
        "/img/one.png",
        "/img/two.jpg",
        "/media/clip.mp4",
        "/img/three.png",
        "/img/broken.png",
    ];
    let expected: Vec<String> = expected_paths.iter().map(|p| site.url(p)).collect();
    assert_eq!(sources, expected, "{report}");
    for (item, path) in items.iter().zip(expected_paths) {
        let bytes = &site.media[path];
        assert_eq!(item["md5"], coreutils("md5sum", bytes), "{path}");
        assert_eq!(item["sha1"], coreutils("sha1sum", bytes), "{path}");
        assert_eq!(item["sha256"], coreutils("sha256sum", bytes), "{path}");
        assert_eq!(item["size"], bytes.len());
        assert_eq!(item["classification"], "unassessed");
        // The bytes are in the blob store, encrypted, and come back intact.
        let mut sha = [0u8; 32];
        hex::decode_to_slice(item["sha256"].as_str().unwrap(), &mut sha).unwrap();
        assert_eq!(
            node.blobs().get(&sha).unwrap().as_deref(),
            Some(bytes.as_slice())
        );
    }
    let by_path = |p: &str| &items[expected_paths.iter().position(|e| *e == p).unwrap()];
    assert_eq!(by_path("/media/clip.mp4")["mime_type"], "video/mp4");
    assert!(by_path("/media/clip.mp4")["pdq"].is_null());
    assert_eq!(by_path("/img/two.jpg")["mime_type"], "image/jpeg");
    assert!(by_path("/img/one.png")["pdq"].is_string());
    assert_eq!(by_path("/img/one.png")["dimensions"], json!([320, 240]));
    // An image that does not decode keeps its digests but has no PDQ.
    assert!(by_path("/img/broken.png")["pdq"].is_null());

    // The broken link, the oversized file and the endpoint that never answers are on record.
    let problems = report["problems"].as_array().unwrap();
    let reason = |p: &str| {
        problems
            .iter()
            .find(|x| x["url"] == site.url(p))
            .map(|x| x["reason"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no problem recorded for {p}: {report}"))
    };
    assert!(reason("/img/missing.png").contains("404"));
    assert!(reason("/img/huge.png").contains("larger than the limit"));
    assert!(reason("/img/slow.png").contains("within 2 s"));
    assert_eq!(problems.len(), 3, "{report}");

    // The remarks stay internal: shown to the hotline, absent from every signed revision.
    assert_eq!(report["remarks"], "reporter says: INTERNAL-REMARK");
    let mut id = [0u8; 32];
    hex::decode_to_slice(report["record_id"].as_str().unwrap(), &mut id).unwrap();
    let record = node
        .store()
        .record(&safeport_protocol::RecordId(id))
        .unwrap()
        .unwrap();
    assert!(!record.bytes().windows(15).any(|w| w == b"INTERNAL-REMARK"));

    // An analyst classifies an item: a new signed revision, marked with the analyst.
    let sha = items[1]["sha256"].as_str().unwrap();
    let key = report["report_key"].as_str().unwrap();
    let (status, classified) = api
        .post(
            &format!("/admin/reports/{key}/items/{sha}/classification"),
            json!({ "classification": "baseline", "analyst": "analyst-7" }),
        )
        .await;
    assert_eq!(status, 200, "{classified}");
    assert_eq!(classified["revision"], 3);
    let item = classified["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sha256"] == sha)
        .unwrap();
    assert_eq!(item["classification"], "baseline");
    assert_eq!(item["assessed_by"], "analyst:analyst-7");
    // The others are untouched.
    assert_eq!(classified["items"][0]["classification"], "unassessed");

    // The analyst corrects the hosting country; a re-crawl keeps the correction.
    let (status, corrected) = api
        .post(
            &format!("/admin/reports/{key}/country"),
            json!({ "country": "FR", "analyst": "analyst-7" }),
        )
        .await;
    assert_eq!(status, 200, "{corrected}");
    assert_eq!(corrected["hosting"]["country"], "FR");
    let (status, _) = api
        .post(&format!("/admin/reports/{key}/recrawl"), json!({}))
        .await;
    assert_eq!(status, 200);
    wait_until(&node, WAIT, "re-crawl finished", |n| {
        crawl_state(n, key) == "done"
            && n.store()
                .local_report(&{
                    let mut k = [0u8; 16];
                    hex::decode_to_slice(key, &mut k).unwrap();
                    k
                })
                .unwrap()
                .unwrap()
                .revision
                >= 5
    })
    .await
    .unwrap();
    let again = api.get(&format!("/admin/reports/{key}")).await;
    assert_eq!(again["hosting"]["country"], "FR");
    // The classification survives the re-crawl (same bytes, same item).
    let item = again["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sha256"] == sha)
        .unwrap();
    assert_eq!(item["classification"], "baseline", "{again}");

    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_failures_are_bounded_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let site = website::serve().await.unwrap();
    let node = hotline(dir.path()).await;
    let api = Api::of(&node);

    for body in [
        json!({ "url": "ftp://files.example.test/x" }),
        json!({ "url": "http://user:secret@site.example.test/" }),
        json!({ "url": "not a url" }),
        json!({ "url": "https://site.example.test/", "colour": "red" }),
        json!({ "url": "https://site.example.test/", "channel": "pigeon" }),
        json!({ "url": "https://site.example.test/", "received_at": "yesterday" }),
        json!({}),
    ] {
        let (status, answer) = api.post("/admin/reports", body.clone()).await;
        assert!((400..500).contains(&status), "{body}: {status} {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}: {answer}"
        );
    }
    assert_eq!(
        api.get("/admin/reports").await,
        json!([]),
        "nothing was created"
    );

    // Thousands of media links: the crawler fetches its bound and lists the rest.
    let many = intake_and_crawl(&node, &api, &site.url("/many")).await;
    assert_eq!(many["crawl"]["state"], "done");
    let problems = many["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["reason"]
            .as_str()
            .unwrap()
            .contains("4800 more media links")),
        "{many}"
    );
    assert_eq!(many["items"], json!([]));

    // A target that never answers: the crawl fails with its reason, the report stays.
    let never = intake_and_crawl(&node, &api, &site.url("/never")).await;
    assert_eq!(never["crawl"]["state"], "failed");
    assert!(
        never["crawl"]["reason"]
            .as_str()
            .unwrap()
            .contains("within 2 s"),
        "{never}"
    );
    assert_eq!(never["reported_url"], site.url("/never"));
    let listed = api.get("/admin/reports").await;
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Classifying something that is not there changes nothing.
    let key = never["report_key"].as_str().unwrap();
    let (status, _) = api
        .post(
            &format!(
                "/admin/reports/{key}/items/{}/classification",
                "00".repeat(32)
            ),
            json!({ "classification": "baseline", "analyst": "a" }),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post(
            &format!(
                "/admin/reports/{key}/items/{}/classification",
                "00".repeat(32)
            ),
            json!({ "classification": "unassessed", "analyst": "a" }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        api.get(&format!("/admin/reports/{key}")).await["revision"],
        1
    );

    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_on_a_local_hash_list_are_classified_automatically_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let site = website::serve().await.unwrap();
    let mut config = hotline_config(dir.path());
    // One picture known by SHA-256, another by MD5.
    let list = dir.path().join("known.csv");
    std::fs::write(
        &list,
        format!(
            "algorithm,value,category\nsha256,{},baseline\nmd5,{},nationally-illegal\n",
            coreutils("sha256sum", &site.media["/img/one.png"]),
            coreutils("md5sum", &site.media["/img/two.jpg"]),
        ),
    )
    .unwrap();
    config.hotline.local_hash_list = Some(list);
    let node = safeport_node::start(config).await.unwrap();
    let api = Api::of(&node);

    let report = intake_and_crawl(&node, &api, &site.url("/gallery")).await;
    let by_url = |path: &str| {
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["source_url"] == site.url(path))
            .unwrap()
            .clone()
    };
    assert_eq!(by_url("/img/one.png")["classification"], "baseline");
    assert_eq!(
        by_url("/img/one.png")["assessed_by"],
        "hash-list:local:known@1"
    );
    assert_eq!(
        by_url("/img/two.jpg")["classification"],
        "nationally-illegal"
    );
    assert_eq!(
        by_url("/img/two.jpg")["assessed_by"],
        "hash-list:local:known@1"
    );
    assert_eq!(by_url("/img/three.png")["classification"], "unassessed");
    assert!(by_url("/img/three.png")["assessed_by"].is_null());
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_cut_short_by_a_restart_runs_again_and_the_report_stays() {
    let dir = tempfile::tempdir().unwrap();
    let site = website::serve().await.unwrap();
    let mut config = hotline_config(dir.path());
    // Long enough that the node is stopped while the crawl waits on a target that never
    // answers.
    config.crawler.fetch_timeout = Duration::from_secs(600);
    let node = safeport_node::start(config.clone()).await.unwrap();
    let api = Api::of(&node);
    let (status, created) = api
        .post("/admin/reports", json!({ "url": site.url("/never") }))
        .await;
    assert_eq!(status, 201);
    let key = created["report_key"].as_str().unwrap().to_owned();
    wait_until(&node, WAIT, "crawl started", |n| {
        crawl_state(n, &key) == "fetching"
    })
    .await
    .unwrap();
    node.shutdown().await.unwrap();

    // After the restart the crawl runs again (and now fails within a short deadline).
    config.crawler.fetch_timeout = website::FETCH_TIMEOUT;
    let node = safeport_node::start(config).await.unwrap();
    wait_until(&node, WAIT, "crawl ran again", |n| {
        crawl_state(n, &key) == "failed"
    })
    .await
    .unwrap();
    let report = Api::of(&node).get(&format!("/admin/reports/{key}")).await;
    assert_eq!(report["reported_url"], site.url("/never"));
    assert!(
        report["crawl"]["reason"]
            .as_str()
            .unwrap()
            .contains("within 2 s")
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_local_hash_list_stops_the_node_from_starting_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = hotline_config(dir.path());
    let list = dir.path().join("known.csv");
    std::fs::write(&list, "algorithm,value,category\nsha256,not-hex,baseline\n").unwrap();
    config.hotline.local_hash_list = Some(list);
    let error = safeport_node::start(config).await.unwrap_err();
    let message = safeport_node::ErrorChain(&error).to_string();
    assert!(
        message.contains("known.csv") && message.contains("line 2"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_permission_the_crawler_never_reaches_private_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let site = website::serve().await.unwrap();
    let mut config = hotline_config(dir.path());
    config.crawler.allow_private_addresses = false;
    let node = safeport_node::start(config).await.unwrap();
    let api = Api::of(&node);
    // By literal address, and by a name that resolves to loopback.
    let port = site.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/gallery"),
        format!("http://localhost:{port}/gallery"),
    ] {
        let report = intake_and_crawl(&node, &api, &url).await;
        assert_eq!(report["crawl"]["state"], "failed", "{url}: {report}");
        let reason = report["crawl"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("private or local address"),
            "{url}: {reason}"
        );
        assert_eq!(report["items"], json!([]));
    }
    node.shutdown().await.unwrap();
}
