//! Prometheus metrics, served as `GET /metrics` on the `[metrics]` listener (off by default).
//!
//! Counters and the HTTP latency histogram are updated where things happen: ingest results in
//! the federation driver, crawl outcomes in the crawler, every request in a middleware layer.
//! Gauges (peers, outboxes, sync lag, crawl queue) are recomputed from the store and the
//! federation driver when Prometheus scrapes ([`scrape`]), with bounded work.
//!
//! Label values come from fixed sets, from route templates, or from the agencies this node
//! peers with, so the number of series stays bounded however clients and peers behave.
//! Metrics hold counts and agency ids only: no report content, URLs, hashes or tokens.

mod http;
pub mod scrape;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use safeport_protocol::Classification;
use serde::Deserialize;

use crate::app::hotline::CrawlOutcome;
use crate::app::sync::Ingested;

pub use http::Listener;
pub use scrape::{MetricsState, ScrapeError, router};

/// The content type of the OpenMetrics text exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Peer states counted by `safeport_peers` (the admin API's names), always all present.
pub const PEER_STATES: [&str; 5] = [
    "admitted",
    "connecting",
    "refused",
    "disconnected",
    "not-connected",
];

/// `[metrics]` section: where Prometheus scrapes. Nothing to resolve, so the file's table is
/// read straight into it (unknown keys refused like everywhere else).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Listen address of `GET /metrics`; `None` (the default) serves no metrics.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgencyLabel {
    agency: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassificationLabel {
    classification: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    listener: &'static str,
    /// The route template (`/admin/agreements/{id}/accept`), never the requested path.
    route: String,
    status: &'static str,
}

type LatencyFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// Request latencies from 5 ms doubling to about 20 s (the default request timeout is 30 s;
/// slower answers land in `+Inf`).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

struct Inner {
    registry: Registry,
    peers: Family<StateLabel, Gauge>,
    outbox_pending: Family<AgencyLabel, Gauge>,
    sync_lag: Family<AgencyLabel, Gauge>,
    crawl_queue: Gauge,
    ingested: Family<OutcomeLabel, Counter>,
    crawls: Family<OutcomeLabel, Counter>,
    hashlist_matches: Family<ClassificationLabel, Counter>,
    http: LatencyFamily,
    /// Held while scrape-time gauges are replaced and the registry encoded, so two scrapes
    /// never interleave one's clearing with the other's encoding.
    scrape: Mutex<()>,
}

/// The node's metrics. Cheap to clone (one shared registry).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every family registered; outcome and state series start at zero so
    /// `rate()` and alerts see them before the first event.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("safeport");
        let peers = Family::<StateLabel, Gauge>::default();
        registry.register(
            "peers",
            "Peers by state (configured, connected or known from sync), at scrape time",
            peers.clone(),
        );
        let outbox_pending = Family::<AgencyLabel, Gauge>::default();
        registry.register(
            "outbox_pending",
            "Records in this node's outbox for a peer after the position the peer last pulled \
             from (head minus served-after; served-after is 0 until it pulls after a restart)",
            outbox_pending.clone(),
        );
        let sync_lag = Family::<AgencyLabel, Gauge>::default();
        registry.register(
            "sync_lag",
            "Positions of a peer's outbox for this node not yet pulled (the newest head the \
             peer announced or served, minus this node's cursor); absent until a head is known",
            sync_lag.clone(),
        );
        let crawl_queue = Gauge::default();
        registry.register(
            "crawl_queue",
            format!(
                "Reports waiting for a crawl (counted up to {})",
                scrape::MAX_QUEUE_COUNTED
            ),
            crawl_queue.clone(),
        );
        let ingested = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "records_ingested",
            "Records received from peers, by outcome (stored, duplicate, rejected)",
            ingested.clone(),
        );
        let crawls = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "crawls",
            "Crawls finished, by outcome (done: the page was fetched; failed: it was not)",
            crawls.clone(),
        );
        let hashlist_matches = Family::<ClassificationLabel, Counter>::default();
        registry.register(
            "hashlist_matches",
            "Crawled media items classified automatically by a hash-list match, by the \
             classification the list gave (an analyst's earlier classification still wins)",
            hashlist_matches.clone(),
        );
        let http: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request (to the response head), by listener, route \
             template and status class",
            Unit::Seconds,
            http.clone(),
        );
        // Creating a series is enough to have it encoded (at zero); the guard is not needed.
        for state in PEER_STATES {
            let _ = peers.get_or_create(&StateLabel { state });
        }
        for outcome in ["stored", "duplicate", "rejected"] {
            let _ = ingested.get_or_create(&OutcomeLabel { outcome });
        }
        for outcome in ["done", "failed"] {
            let _ = crawls.get_or_create(&OutcomeLabel { outcome });
        }
        for class in Classification::ALL {
            let _ = hashlist_matches.get_or_create(&ClassificationLabel {
                classification: class.as_str(),
            });
        }
        Self {
            inner: Arc::new(Inner {
                registry,
                peers,
                outbox_pending,
                sync_lag,
                crawl_queue,
                ingested,
                crawls,
                hashlist_matches,
                http,
                scrape: Mutex::new(()),
            }),
        }
    }

    /// Counts one ingested page's records by outcome.
    pub fn ingested(&self, ingested: &Ingested) {
        for (outcome, n) in [
            ("stored", ingested.stored),
            ("duplicate", ingested.duplicates),
            ("rejected", ingested.rejected),
        ] {
            self.inner
                .ingested
                .get_or_create(&OutcomeLabel { outcome })
                .inc_by(n as u64);
        }
    }

    /// Counts a crawl whose page was fetched, and the items a hash list classified in it.
    pub fn crawl_done(&self, outcome: &CrawlOutcome) {
        self.inner
            .crawls
            .get_or_create(&OutcomeLabel { outcome: "done" })
            .inc();
        for assessment in outcome
            .media
            .iter()
            .filter_map(|item| item.automatic.as_ref())
        {
            self.inner
                .hashlist_matches
                .get_or_create(&ClassificationLabel {
                    classification: assessment.classification.as_str(),
                })
                .inc();
        }
    }

    /// Counts a crawl whose page could not be fetched.
    pub fn crawl_failed(&self) {
        self.inner
            .crawls
            .get_or_create(&OutcomeLabel { outcome: "failed" })
            .inc();
    }

    /// Records one answered request. `route` is a route template or [`http::UNMATCHED`].
    fn observe_http(&self, listener: Listener, route: String, status: u16, took: Duration) {
        let status = match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        self.inner
            .http
            .get_or_create(&HttpLabels {
                listener: listener.as_str(),
                route,
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// Replaces the scrape-time gauges with `snapshot` and encodes every family (OpenMetrics
    /// text, ending in `# EOF`).
    fn encode_with(&self, snapshot: &scrape::Snapshot) -> Result<String, fmt::Error> {
        let _scrape = self
            .inner
            .scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for state in PEER_STATES {
            let count = snapshot.peers.get(state).copied().unwrap_or(0);
            self.inner
                .peers
                .get_or_create(&StateLabel { state })
                .set(gauge_value(count));
        }
        // Cleared first: a peer that was removed must not keep reporting its last values.
        self.inner.outbox_pending.clear();
        self.inner.sync_lag.clear();
        for peer in &snapshot.outboxes {
            let label = AgencyLabel {
                agency: peer.agency.to_string(),
            };
            self.inner
                .outbox_pending
                .get_or_create(&label)
                .set(gauge_value(peer.pending));
            if let Some(lag) = peer.lag {
                self.inner
                    .sync_lag
                    .get_or_create(&label)
                    .set(gauge_value(lag));
            }
        }
        self.inner
            .crawl_queue
            .set(gauge_value(snapshot.crawl_queue as u64));
        self.encode()
    }

    /// Encodes every family as it stands (OpenMetrics text, ending in `# EOF`).
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)?;
        Ok(text)
    }
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
