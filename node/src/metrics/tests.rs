//! Unit tests of the metrics: what is encoded, what is counted, and that the HTTP labels stay
//! bounded whatever paths clients ask for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use safeport_protocol::report::{Assessment, PageMetadata};
use safeport_protocol::{AgencyId, Timestamp};
use tower::ServiceExt;

use super::scrape::{PeerOutbox, Snapshot};
use super::*;
use crate::app::hotline::CrawledItem;

/// The value of the sample line that starts with `series` (name and labels exactly).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

#[test]
fn every_family_is_encoded_from_the_start() {
    let metrics = Metrics::new();
    let text = metrics.encode().unwrap();
    for family in [
        "# TYPE safeport_peers gauge",
        "# TYPE safeport_crawl_queue gauge",
        "# TYPE safeport_records_ingested counter",
        "# TYPE safeport_crawls counter",
        "# TYPE safeport_hashlist_matches counter",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    // Families labelled by peer or route appear with their first series.
    assert!(!text.contains("safeport_outbox_pending"), "{text}");
    let snapshot = Snapshot {
        outboxes: vec![PeerOutbox {
            agency: AgencyId::new("nl-police").unwrap(),
            pending: 0,
            lag: Some(0),
        }],
        ..Snapshot::default()
    };
    metrics.observe_http(Listener::Public, "/healthz".into(), 200, Duration::ZERO);
    let text = metrics.encode_with(&snapshot).unwrap();
    for family in [
        "# TYPE safeport_outbox_pending gauge",
        "# TYPE safeport_sync_lag gauge",
        "# TYPE safeport_http_request_duration_seconds histogram",
        "# UNIT safeport_http_request_duration_seconds seconds",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    // Outcome and state series exist at zero before anything happened.
    for series in [
        r#"safeport_records_ingested_total{outcome="stored"}"#,
        r#"safeport_records_ingested_total{outcome="duplicate"}"#,
        r#"safeport_records_ingested_total{outcome="rejected"}"#,
        r#"safeport_crawls_total{outcome="failed"}"#,
        r#"safeport_hashlist_matches_total{classification="baseline"}"#,
        r#"safeport_peers{state="not-connected"}"#,
    ] {
        assert_eq!(sample(&text, series), Some(0.0), "{series} in:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn ingest_and_crawl_results_are_counted() {
    let metrics = Metrics::new();
    for (stored, duplicates, rejected) in [(3, 1, 0), (2, 0, 1)] {
        metrics.ingested(&Ingested {
            stored,
            duplicates,
            rejected,
            ..Ingested::default()
        });
    }
    let item = |automatic: Option<Classification>| CrawledItem {
        source_url: "https://example.org/a.png".into(),
        hashes: crate::media::hash_media(b"not an image"),
        automatic: automatic.map(|classification| Assessment {
            classification,
            assessor: None,
            assessed_at: None,
        }),
    };
    metrics.crawl_done(&CrawlOutcome {
        redirects: Vec::new(),
        page: PageMetadata {
            http_status: 200,
            headers: Vec::new(),
            title: None,
            fetched_at: Timestamp(0),
        },
        ip: None,
        country: None,
        media: vec![
            item(Some(Classification::Baseline)),
            item(None),
            item(Some(Classification::Baseline)),
            item(Some(Classification::NationallyIllegal)),
        ],
        problems: Vec::new(),
    });
    metrics.crawl_failed();
    let text = metrics.encode().unwrap();
    for (series, value) in [
        (r#"safeport_records_ingested_total{outcome="stored"}"#, 5.0),
        (
            r#"safeport_records_ingested_total{outcome="duplicate"}"#,
            1.0,
        ),
        (
            r#"safeport_records_ingested_total{outcome="rejected"}"#,
            1.0,
        ),
        (r#"safeport_crawls_total{outcome="done"}"#, 1.0),
        (r#"safeport_crawls_total{outcome="failed"}"#, 1.0),
        (
            r#"safeport_hashlist_matches_total{classification="baseline"}"#,
            2.0,
        ),
        (
            r#"safeport_hashlist_matches_total{classification="nationally-illegal"}"#,
            1.0,
        ),
        (
            r#"safeport_hashlist_matches_total{classification="not-illegal"}"#,
            0.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
}

#[test]
fn scrape_time_gauges_are_replaced_not_accumulated() {
    let metrics = Metrics::new();
    let agency = |name: &str| AgencyId::new(name).unwrap();
    let first = Snapshot {
        peers: [("admitted", 2), ("refused", 1)].into_iter().collect(),
        outboxes: vec![
            PeerOutbox {
                agency: agency("nl-police"),
                pending: 7,
                lag: Some(3),
            },
            PeerOutbox {
                agency: agency("de-hotline"),
                pending: 0,
                lag: None,
            },
        ],
        crawl_queue: 4,
    };
    let text = metrics.encode_with(&first).unwrap();
    for (series, value) in [
        (r#"safeport_peers{state="admitted"}"#, 2.0),
        (r#"safeport_peers{state="refused"}"#, 1.0),
        (r#"safeport_peers{state="connecting"}"#, 0.0),
        (r#"safeport_outbox_pending{agency="nl-police"}"#, 7.0),
        (r#"safeport_outbox_pending{agency="de-hotline"}"#, 0.0),
        (r#"safeport_sync_lag{agency="nl-police"}"#, 3.0),
        ("safeport_crawl_queue", 4.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    // An unknown head gives no lag series rather than a made-up zero.
    assert!(!text.contains(r#"safeport_sync_lag{agency="de-hotline"}"#));

    // The police peer was removed: its series go with it; states fall back to zero.
    let second = Snapshot {
        peers: [("admitted", 1)].into_iter().collect(),
        outboxes: vec![PeerOutbox {
            agency: agency("de-hotline"),
            pending: 2,
            lag: Some(0),
        }],
        crawl_queue: 0,
    };
    let text = metrics.encode_with(&second).unwrap();
    assert!(!text.contains("nl-police"), "{text}");
    assert_eq!(
        sample(&text, r#"safeport_peers{state="refused"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"safeport_outbox_pending{agency="de-hotline"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, r#"safeport_sync_lag{agency="de-hotline"}"#),
        Some(0.0)
    );
    assert_eq!(sample(&text, "safeport_crawl_queue"), Some(0.0));
}

#[tokio::test]
async fn http_labels_are_route_templates_whatever_the_path() {
    let metrics = Metrics::new();
    let router = Router::new()
        .route("/items/{id}", get(|| async { "ok" }))
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .fallback(|| async { StatusCode::NOT_FOUND });
    let app = metrics.instrument(router, Listener::Admin);
    for n in 0..25 {
        for path in [format!("/items/{n}"), format!("/no/such/path/{n}?q={n}")] {
            app.clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
        }
    }
    let response = app
        .oneshot(Request::get("/broken").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let text = metrics.encode().unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("safeport_http_request_duration_seconds_count{"))
        .collect();
    // 51 requests to 51 distinct paths: three series, one per route and status class.
    assert_eq!(series.len(), 3, "{text}");
    for (labels, count) in [
        (r#"listener="admin",route="/items/{id}",status="2xx""#, 25.0),
        (r#"listener="admin",route="unmatched",status="4xx""#, 25.0),
        (r#"listener="admin",route="/broken",status="5xx""#, 1.0),
    ] {
        let name = format!("safeport_http_request_duration_seconds_count{{{labels}}}");
        assert_eq!(sample(&text, &name), Some(count), "{name} in:\n{text}");
    }
    assert!(!text.contains("/no/such/path"), "{text}");
}
