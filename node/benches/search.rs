//! Search benchmark with 1 million reports held (`SAFEPORT_BENCH_SEARCH_REPORTS` changes N).
//!
//! A hotline node holds N signed reports of three hosting countries, with one to three items
//! of mixed classifications each (loaded in large batches through the store's typed API, as
//! ingest writes them). Measured in one run:
//! - building the search index (the first search) and the process's resident memory after it;
//! - median and p99 latency of typical filtered searches (with facets; also by a SHA-256 and by
//!   a PDQ hash within distance 31), each next to a plain
//!   full scan of the same data answering the same query: every report head read, its record
//!   decoded and its items loaded, the filter applied;
//! - composing a signed 1,000-report package.
//!
//! Run: `cargo bench -p safeport-node --bench search`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark driver

use std::time::Instant;

use safeport_tests::measure::{percentile, rss_mib};

use safeport_node::app::audit::Actor;
use safeport_node::app::packages::PackageRequest;
use safeport_node::search::{HashQuery, Query};
use safeport_protocol::hashes::HashAlgorithm;
use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::{AgencyId, Classification, Country, NodeKey, Role, Signed, Timestamp};
use safeport_tests::{TestFederation, fixtures};

const COUNTRIES: [&str; 3] = ["NL", "DE", "FR"];
const BATCH: usize = 10_000;
const RUNS: usize = 200;

const BASE: u64 = 1_790_000_000;

/// Report `n`: its items (1 to 3, classifications cycling) and the report.
fn report(n: u32) -> (Report, Vec<MediaItem>) {
    let classes = [
        Classification::Baseline,
        Classification::NationallyIllegal,
        Classification::NotIllegal,
        Classification::Unassessed,
    ];
    let count = 1 + (n % 3);
    let items: Vec<MediaItem> = (0..count)
        .map(|i| fixtures::media_item(n * 4 + i, classes[((n / 3 + i) % 4) as usize]))
        .collect();
    let mut report = fixtures::report(n, COUNTRIES[(n % 3) as usize], &items);
    report.received_at = Timestamp::from_secs(BASE + u64::from(n) * 10);
    report.reported_url = format!("https://site-{}.example.test/gallery-{n}", n % 5000);
    (report, items)
}

/// The full-scan answer to a query: the number of matching reports.
type Filter = Box<dyn Fn(&Report, &[MediaItem]) -> bool>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: u32 = std::env::var("SAFEPORT_BENCH_SEARCH_REPORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Bench Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let key = NodeKey::from_pkcs8_pem(
        &std::fs::read_to_string(hotline_dir.dir.join("node.key")).unwrap(),
    )
    .unwrap();
    let mut config = hotline_dir.config().unwrap();
    config.crawler.concurrent_crawls = 1;
    let node = safeport_node::start(config).await.unwrap();
    let me = AgencyId::new("nl-hotline").unwrap();

    let started = Instant::now();
    let store = node.store().clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let mut refs = Vec::new();
        for chunk in (0..count).collect::<Vec<_>>().chunks(BATCH) {
            let mut batch = store.batch();
            for &n in chunk {
                let (report, items) = report(n);
                let key_bytes = report.report_key;
                let revision = report.revision;
                let signed = Signed::sign(
                    &key,
                    me.clone(),
                    u64::from(n) + 1_000,
                    report.received_at,
                    report,
                )
                .unwrap();
                batch.insert_record(signed.raw()).unwrap();
                for item in &items {
                    batch.put_media_item(&signed.id(), item).unwrap();
                }
                batch
                    .set_report_head(&me, &key_bytes, revision, &signed.id())
                    .unwrap();
                if refs.len() < 1000 && n % 7 == 0 {
                    refs.push((me.clone(), key_bytes));
                }
            }
            batch.commit().unwrap();
        }
        refs
    })
    .await
    .unwrap();
    println!(
        "loaded {count} reports in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let app = node.app().clone();
    let actor = Actor::named("bench").unwrap();
    let rss_before = rss_mib();
    let started = Instant::now();
    let all = app
        .search_reports(
            &actor,
            &Query {
                limit: 10,
                ..Query::default()
            },
            None,
        )
        .unwrap();
    println!(
        "index built (first search, {} reports) in {:.2} s; RSS {:.0} MiB before, {:.0} MiB after",
        all.total,
        started.elapsed().as_secs_f64(),
        rss_before,
        rss_mib()
    );

    let de = Country::new("DE").unwrap();
    let probe = fixtures::media_item(count / 2 * 4, Classification::Baseline);
    let wanted_sha256 = probe.sha256;
    let wanted_pdq = *probe.pdq.as_ref().unwrap().bits();
    let since = Timestamp::from_secs(BASE + u64::from(count) * 10 * 9 / 10);
    let cases: Vec<(&str, Query, Filter)> = vec![
        (
            "country=DE",
            Query {
                country: Some(de),
                limit: 50,
                ..Query::default()
            },
            Box::new(move |r, _| r.hosting.country == Some(de)),
        ),
        (
            "classification=nationally-illegal, last 10%",
            Query {
                classification: Some(Classification::NationallyIllegal),
                since: Some(since),
                limit: 50,
                ..Query::default()
            },
            Box::new(move |r, items| {
                r.received_at >= since
                    && items
                        .iter()
                        .any(|i| i.classification() == Classification::NationallyIllegal)
            }),
        ),
        (
            "domain=site-123.example.test",
            Query {
                domain: Some("site-123.example.test".into()),
                limit: 50,
                ..Query::default()
            },
            Box::new(|r, _| r.reported_url.contains("//site-123.example.test/")),
        ),
        (
            "text=gallery-77 + country=DE + baseline",
            Query {
                text: Some("gallery-77".into()),
                country: Some(de),
                classification: Some(Classification::Baseline),
                limit: 50,
                ..Query::default()
            },
            Box::new(move |r, items| {
                r.reported_url.contains("gallery-77")
                    && r.hosting.country == Some(de)
                    && items
                        .iter()
                        .any(|i| i.classification() == Classification::Baseline)
            }),
        ),
        (
            "hash=sha256 of one item",
            Query {
                hash: Some(HashQuery::exact(HashAlgorithm::Sha256, &wanted_sha256)),
                limit: 50,
                ..Query::default()
            },
            Box::new(move |_, items| items.iter().any(|i| i.sha256 == wanted_sha256)),
        ),
        (
            "hash=pdq within 31",
            Query {
                hash: Some(HashQuery::Pdq {
                    bits: wanted_pdq,
                    max_distance: 31,
                }),
                limit: 50,
                ..Query::default()
            },
            Box::new(move |_, items| {
                items.iter().any(|i| {
                    i.pdq
                        .as_ref()
                        .is_some_and(|p| p.distance(&wanted_pdq) <= 31)
                })
            }),
        ),
    ];
    for (name, query, filter) in cases {
        let mut times = Vec::with_capacity(RUNS);
        let mut total = 0;
        for _ in 0..RUNS {
            let started = Instant::now();
            total = app.search_reports(&actor, &query, None).unwrap().total;
            times.push(started.elapsed());
        }
        times.sort();
        // The plain full scan of the same data, answering the same query.
        let started = Instant::now();
        let mut scanned = 0u64;
        let mut heads = Vec::new();
        app.store()
            .visit_report_heads(None, |h| {
                heads.push(h.record_id);
                true
            })
            .unwrap();
        for id in heads {
            let raw = app.store().record(&id).unwrap().unwrap();
            let report = raw.into_typed::<Report>().unwrap().body().clone();
            let mut items = Vec::with_capacity(report.media.len());
            for commitment in &report.media {
                if let Some(item) = app.store().media_item(&id, commitment).unwrap() {
                    items.push(item);
                }
            }
            if filter(&report, &items) {
                scanned += 1;
            }
        }
        let scan = started.elapsed();
        assert_eq!(scanned, total, "{name}: the index and the scan disagree");
        let (median, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        println!(
            "{name}: {total} matches; median {:.2} ms, p99 {:.2} ms; full scan {:.0} ms; \
             scan / p99 = {:.0}x",
            median.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            scan.as_secs_f64() * 1e3,
            scan.as_secs_f64() / p99.as_secs_f64()
        );
    }

    let request = PackageRequest {
        reports: loaded,
        saved_search: None,
        case_reference: "BENCH-1".into(),
        purpose: "benchmark".into(),
        recipient: None,
        include_content: false,
    };
    let started = Instant::now();
    let package = app.compose_package(&actor, &request, node.blobs()).unwrap();
    println!(
        "package of {} reports: {:.2} s, {} bytes",
        package.manifest.reports.len(),
        started.elapsed().as_secs_f64(),
        package.bytes.len()
    );
    node.shutdown().await.unwrap();
}
