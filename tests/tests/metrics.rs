//! Prometheus metrics through the real path: a hotline and its national police on loopback,
//! each serving `GET /metrics` on its own listener. The police proposes national access, the
//! hotline accepts and sends reports; scraped over HTTP, the police's ingest counter equals the
//! records it stored from the hotline, both show their peer admitted, the HTTP histogram
//! counted the admin and public requests under their route templates, the sync lag closes to
//! zero, and the hotline's outbox gauge follows what the police has (and has not) pulled.
//! Crawls at the hotline (one fetched and matched by its local hash list, one unreachable) are
//! counted by outcome and match.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use image::ImageFormat;
use safeport_node::RunningNode;
use safeport_node::config::NodeConfig;
use safeport_node::metrics::CONTENT_TYPE;
use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::{AgencyId, Classification, RecordId, RecordType, Role};
use safeport_tests::ops::{Admin, WAIT};
use safeport_tests::{AgencyNode, TestFederation, fixtures, loopback_client, website};
use serde_json::json;

/// Longest wait for a change notification between two scrapes: some counters are updated by
/// tasks that notify nothing, so a scrape is repeated at least this often until the deadline.
const POLL: Duration = Duration::from_millis(100);

/// Report `n`: hosted in NL, one baseline item (what national access lets the police see).
fn numbered(n: u32) -> (Report, Vec<MediaItem>) {
    let items = vec![fixtures::media_item(n, Classification::Baseline)];
    (fixtures::report(n, "NL", &items), items)
}

async fn start(dir: &AgencyNode, configure: impl FnOnce(&mut NodeConfig)) -> RunningNode {
    let mut config = dir.config().unwrap();
    config.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    configure(&mut config);
    safeport_node::start(config).await.unwrap()
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

/// Scrapes `node` once over HTTP.
async fn scrape(client: &reqwest::Client, node: &RunningNode) -> String {
    let addr = node.metrics_addr().expect("metrics are configured");
    let response = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text
}

/// Scrapes `node` until `check` holds, woken by the node's changes (or after [`POLL`]); fails
/// with the last scrape after [`WAIT`].
async fn scrape_until(
    client: &reqwest::Client,
    node: &RunningNode,
    what: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + WAIT;
    let mut changes = node.app().subscribe();
    loop {
        let text = scrape(client, node).await;
        if check(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{text}"
        );
        let _ = tokio::time::timeout(POLL, changes.changed()).await;
    }
}

/// How many records `node` holds that `origin` created (each came in through a pull).
fn records_from(node: &RunningNode, origin: &AgencyId) -> u64 {
    let store = node.store();
    let mut count = 0;
    for record_type in RecordType::ALL {
        let mut after: Option<RecordId> = None;
        loop {
            let page = store
                .records_of_type(record_type, after.as_ref(), 1000)
                .unwrap();
            for id in &page {
                let record = store.record(id).unwrap().unwrap();
                if &record.header().origin == origin {
                    count += 1;
                }
            }
            match page.last() {
                Some(last) => after = Some(*last),
                None => break,
            }
        }
    }
    count
}

/// How many requests the latency histogram counted for one listener, route and status class.
fn requests(text: &str, listener: &str, route: &str, status: &str) -> f64 {
    let labels = format!(r#"listener="{listener}",route="{route}",status="{status}""#);
    let series = format!("safeport_http_request_duration_seconds_count{{{labels}}}");
    sample(text, &series).unwrap_or(0.0)
}

fn report_count(node: &RunningNode) -> usize {
    node.store()
        .records_of_type(RecordType::Report, None, 1000)
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_sync_peers_and_requests() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let police_dir = federation.add_agency("nl-police", Role::Lea, "NL").unwrap();
    // The hotline crawls the test website, and its local hash list knows one picture there.
    let site = website::serve().await.unwrap();
    let listed = website::picture(2, ImageFormat::Png).unwrap();
    let list = dir.path().join("known.csv");
    let sha256 = hex::encode(safeport_node::media::hash_media(&listed).sha256);
    std::fs::write(
        &list,
        format!("algorithm,value,category\nsha256,{sha256},baseline\n"),
    )
    .unwrap();
    let hotline = start(&hotline_dir, |config| {
        website::crawl_locally(config, dir.path(), "NL").unwrap();
        config.hotline.local_hash_list = Some(list);
    })
    .await;
    let police = start(&police_dir, |_| {}).await;
    let hotline_id: AgencyId = "nl-hotline".parse().unwrap();
    let client = loopback_client().unwrap();

    // Nothing happened yet: every family is there, counters at zero.
    let text = scrape(&client, &police).await;
    assert_eq!(
        sample(
            &text,
            r#"safeport_records_ingested_total{outcome="stored"}"#
        ),
        Some(0.0),
        "{text}"
    );

    let admin = Admin::new().unwrap();
    admin.peer(&hotline, &police, "nl-police").await.unwrap();
    admin
        .agree(
            &police,
            &hotline,
            json!({
        "template": "national-access", "provider": "nl-hotline", "recipient": "nl-police",
        "country": "NL", "classifications": ["baseline"], "days": 365 }),
        )
        .await
        .unwrap();
    const REPORTS: u32 = 5;
    for n in 1..=REPORTS {
        let (report, items) = numbered(n);
        hotline.submit_report(report, items).await.unwrap();
    }
    safeport_tests::wait_until(&police, WAIT, "the reports at the police", |node| {
        report_count(node) == REPORTS as usize
    })
    .await
    .unwrap();

    // The ingest counter is what the police stored from the hotline: the reports, and the
    // hotline's agreement records.
    let text = scrape_until(&client, &police, "ingest counted", |text| {
        sample(text, r#"safeport_records_ingested_total{outcome="stored"}"#)
            == Some(records_from(&police, &hotline_id) as f64)
    })
    .await;
    let stored = records_from(&police, &hotline_id);
    assert!(
        stored > u64::from(REPORTS),
        "{stored}: reports and agreement"
    );
    assert_eq!(
        sample(
            &text,
            r#"safeport_records_ingested_total{outcome="rejected"}"#
        ),
        Some(0.0)
    );
    // The police caught up with every head the hotline announced.
    scrape_until(&client, &police, "no sync lag", |text| {
        sample(text, r#"safeport_sync_lag{agency="nl-hotline"}"#) == Some(0.0)
    })
    .await;

    // Both see their peer admitted and nothing else.
    for node in [&hotline, &police] {
        let text = scrape(&client, node).await;
        assert_eq!(
            sample(&text, r#"safeport_peers{state="admitted"}"#),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, r#"safeport_peers{state="refused"}"#),
            Some(0.0)
        );
        assert_eq!(sample(&text, "safeport_crawl_queue"), Some(0.0), "{text}");
    }

    // Requests are counted under their listener, route template and status class; paths
    // with ids or made up by clients never become labels.
    for path in ["/healthz", "/no/such/page-1", "/no/such/page-2"] {
        client
            .get(format!("http://{}{path}", hotline.http_addr()))
            .send()
            .await
            .unwrap();
    }
    let unauthorized = client
        .get(format!("http://{}/admin/status", hotline.admin_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), reqwest::StatusCode::UNAUTHORIZED);
    let text = scrape(&client, &hotline).await;
    let count = |listener, route, status| requests(&text, listener, route, status);
    assert_eq!(count("public", "/healthz", "2xx"), 1.0, "{text}");
    assert_eq!(count("public", "unmatched", "4xx"), 2.0);
    assert_eq!(count("admin", "/admin/status", "4xx"), 1.0);
    assert!(count("admin", "/admin/agreements/{id}/accept", "2xx") >= 1.0);
    assert!(!text.contains("/no/such"), "{text}");
    let text = scrape(&client, &police).await;
    assert!(
        requests(&text, "admin", "/admin/agreements", "2xx") >= 1.0,
        "{text}"
    );

    // The hotline's outbox for the police: once the police pulled after its last page,
    // nothing is pending.
    police.federation().pull(hotline_id.clone()).await;
    scrape_until(&client, &hotline, "the police's outbox drained", |text| {
        sample(text, r#"safeport_outbox_pending{agency="nl-police"}"#) == Some(0.0)
    })
    .await;

    // The police goes away; a report for it waits in the hotline's outbox.
    police.shutdown().await.unwrap();
    let (report, items) = numbered(REPORTS + 1);
    hotline.submit_report(report, items).await.unwrap();
    scrape_until(
        &client,
        &hotline,
        "one record pending, police gone",
        |text| {
            sample(text, r#"safeport_outbox_pending{agency="nl-police"}"#) == Some(1.0)
                && sample(text, r#"safeport_peers{state="admitted"}"#) == Some(0.0)
        },
    )
    .await;

    // Crawls: one page (the listed picture itself) fetched and classified by the list, one
    // that cannot be fetched at all.
    let mut keys = Vec::new();
    for url in [
        site.url("/img/one.png"),
        "http://127.0.0.1:1/gone".to_owned(),
    ] {
        let created = admin
            .call(
                &hotline,
                reqwest::Method::POST,
                "/admin/reports",
                Some(json!({ "url": url })),
            )
            .await
            .unwrap();
        keys.push(created["report_key"].as_str().unwrap().to_owned());
    }
    safeport_tests::wait_until(&hotline, WAIT, "both crawls over", |node| {
        website::crawl_state(node, &keys[0]) == Some("done")
            && website::crawl_state(node, &keys[1]) == Some("failed")
    })
    .await
    .unwrap();
    let text = scrape_until(&client, &hotline, "crawls counted", |text| {
        sample(text, r#"safeport_crawls_total{outcome="done"}"#) == Some(1.0)
            && sample(text, r#"safeport_crawls_total{outcome="failed"}"#) == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(
            &text,
            r#"safeport_hashlist_matches_total{classification="baseline"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "safeport_crawl_queue"), Some(0.0));
    assert_eq!(
        requests(&text, "admin", "/admin/reports", "2xx"),
        2.0,
        "{text}"
    );

    let addr = hotline.metrics_addr().unwrap();
    hotline.shutdown().await.unwrap();
    // Stopped with the node.
    assert!(
        client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .is_err()
    );
}
