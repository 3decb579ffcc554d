//! The crawler: fetches a reported page, finds its media, fetches, hashes and stores each item
//! (encrypted, content-addressed), and hands the findings to the domain layer as a report
//! revision. Runs in the background with a bounded number of crawls at once; the queue lives
//! in the store, so a crawl interrupted by a crash or restart runs again, and a failure is
//! recorded on the report, never lost.

pub mod extract;
pub mod fetch;
pub mod local_list;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::Url;
use safeport_protocol::Timestamp;
use safeport_protocol::report::{Assessment, PageMetadata};
use tokio::task::JoinSet;

use crate::app::hotline::{CrawlOutcome, CrawledItem};
use crate::app::{App, AppError};
use crate::blobs::BlobStore;
use crate::federation::FederationHandle;
use crate::geo::GeoSource;
use crate::media::{MediaHashes, hash_media};
use crate::store::hotline::CrawlProblem;
use fetch::{FetchError, Fetched};

/// Classifies an item automatically when a hash list knows it (the hook the hash-list
/// matching engine plugs into).
pub trait HashMatcher: Send + Sync {
    /// The assessment for an item whose hashes match a list entry, if any.
    fn assess(&self, hashes: &MediaHashes, now: Timestamp) -> Option<Assessment>;
}

/// The hash lists this node holds (its own and those it subscribes to), through the App.
pub struct HeldLists(pub Arc<App>);

impl HashMatcher for HeldLists {
    fn assess(&self, hashes: &MediaHashes, now: Timestamp) -> Option<Assessment> {
        self.0.assess_by_lists(hashes, now)
    }
}

/// Asks each matcher in turn; the first assessment wins (a local list before the
/// federation's lists).
pub struct Matchers(pub Vec<Arc<dyn HashMatcher>>);

impl HashMatcher for Matchers {
    fn assess(&self, hashes: &MediaHashes, now: Timestamp) -> Option<Assessment> {
        self.0.iter().find_map(|m| m.assess(hashes, now))
    }
}

/// No hash lists: nothing is classified automatically.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHashLists;

impl HashMatcher for NoHashLists {
    fn assess(&self, _: &MediaHashes, _: Timestamp) -> Option<Assessment> {
        None
    }
}

/// The crawler's bounds and identity (from `[crawler]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlerSettings {
    /// The User-Agent header sent.
    pub user_agent: String,
    /// Largest page body read.
    pub max_page_bytes: u64,
    /// Largest media item read.
    pub max_media_bytes: u64,
    /// Most media items fetched per page.
    pub max_media_items: usize,
    /// Most redirects followed per fetch.
    pub max_redirects: usize,
    /// Deadline of one fetch (page or media item), body included.
    pub fetch_timeout: Duration,
    /// Deadline of connecting.
    pub connect_timeout: Duration,
    /// Reports crawled at once.
    pub concurrent_crawls: usize,
    /// Media items fetched at once within one crawl.
    pub concurrent_fetches: usize,
    /// Whether private and loopback addresses may be crawled (tests, lab setups).
    pub allow_private_addresses: bool,
    /// Whether TLS certificates need not be valid.
    pub accept_invalid_certificates: bool,
}

impl Default for CrawlerSettings {
    fn default() -> Self {
        Self {
            user_agent: concat!("Safeport-crawler/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_page_bytes: 5 * 1024 * 1024,
            max_media_bytes: 64 * 1024 * 1024,
            max_media_items: 200,
            max_redirects: 10,
            fetch_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            concurrent_crawls: 2,
            concurrent_fetches: 4,
            allow_private_addresses: false,
            accept_invalid_certificates: true,
        }
    }
}

/// Fetches and hashes; holds the HTTP client, the blob store, the geo source and the matcher.
pub struct Crawler {
    client: reqwest::Client,
    settings: CrawlerSettings,
    blobs: BlobStore,
    geo: Arc<GeoSource>,
    matcher: Arc<dyn HashMatcher>,
}

impl std::fmt::Debug for Crawler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crawler")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Whether fetched bytes are themselves a media item rather than a page to parse.
fn is_media(fetched: &Fetched) -> bool {
    infer::get(&fetched.body).is_some_and(|kind| {
        matches!(
            kind.matcher_type(),
            infer::MatcherType::Image | infer::MatcherType::Video
        )
    })
}

impl Crawler {
    /// The same crawler, asking `more` after its own matcher.
    pub fn also_matching(mut self, more: Arc<dyn HashMatcher>) -> Self {
        self.matcher = Arc::new(Matchers(vec![self.matcher, more]));
        self
    }

    /// A crawler with its own HTTP client.
    pub fn new(
        settings: CrawlerSettings,
        blobs: BlobStore,
        geo: Arc<GeoSource>,
        matcher: Arc<dyn HashMatcher>,
    ) -> Result<Self, FetchError> {
        let client = fetch::client(
            &settings.user_agent,
            settings.connect_timeout,
            settings.allow_private_addresses,
            settings.accept_invalid_certificates,
        )?;
        Ok(Self {
            client,
            settings,
            blobs,
            geo,
            matcher,
        })
    }

    async fn get(&self, url: &Url, max_bytes: u64) -> Result<Fetched, FetchError> {
        fetch::fetch(
            &self.client,
            url,
            self.settings.max_redirects,
            max_bytes,
            self.settings.fetch_timeout,
            self.settings.allow_private_addresses,
        )
        .await
    }

    /// Crawls one reported URL. `Err` when the page itself cannot be fetched; problems with
    /// single media items are recorded in the outcome instead.
    pub async fn crawl(&self, url: &str, now: Timestamp) -> Result<CrawlOutcome, FetchError> {
        let url = Url::parse(url).map_err(|e| FetchError::Url(e.to_string()))?;
        let page = self.get(&url, self.settings.max_page_bytes).await?;
        let mut problems = Vec::new();
        let mut title = None;
        let mut media = Vec::new();
        if is_media(&page) {
            media.push(
                self.store_item(page.final_url.as_str(), page.body.clone(), now)
                    .await,
            );
        } else {
            let links = extract::extract(
                &String::from_utf8_lossy(&page.body),
                &page.final_url,
                self.settings.max_media_items,
            );
            title = links.title;
            if links.dropped > 0 {
                problems.push(CrawlProblem {
                    url: page.final_url.to_string(),
                    reason: format!(
                        "{} more media links beyond the limit of {} were not fetched",
                        links.dropped, self.settings.max_media_items
                    ),
                });
            }
            let fetched: Vec<(usize, Result<CrawledItem, CrawlProblem>)> =
                futures::stream::iter(links.media.into_iter().enumerate())
                    .map(|(index, link)| async move { (index, self.media_item(link, now).await) })
                    .buffer_unordered(self.settings.concurrent_fetches.max(1))
                    .collect()
                    .await;
            let mut fetched = fetched;
            fetched.sort_by_key(|(index, _)| *index);
            for (_, result) in fetched {
                match result {
                    Ok(item) => media.push(Ok(item)),
                    Err(problem) => problems.push(problem),
                }
            }
        }
        let mut items = Vec::with_capacity(media.len());
        for item in media {
            match item {
                Ok(item) => items.push(item),
                Err(problem) => problems.push(problem),
            }
        }
        Ok(CrawlOutcome {
            redirects: page.redirects.iter().map(Url::to_string).collect(),
            page: PageMetadata {
                http_status: page.status,
                headers: page.headers,
                title,
                fetched_at: now,
            },
            ip: page.remote_ip,
            country: page.remote_ip.and_then(|ip| self.geo.country(ip)),
            media: items,
            problems,
        })
    }

    async fn media_item(&self, url: Url, now: Timestamp) -> Result<CrawledItem, CrawlProblem> {
        let problem = |reason: String| CrawlProblem {
            url: url.to_string(),
            reason,
        };
        let fetched = self
            .get(&url, self.settings.max_media_bytes)
            .await
            .map_err(|e| problem(e.to_string()))?;
        if !(200..300).contains(&fetched.status) {
            return Err(problem(format!("HTTP status {}", fetched.status)));
        }
        self.store_item(url.as_str(), fetched.body, now).await
    }

    /// Hashes and stores one item's bytes off the async threads.
    async fn store_item(
        &self,
        source_url: &str,
        bytes: Vec<u8>,
        now: Timestamp,
    ) -> Result<CrawledItem, CrawlProblem> {
        let problem = |reason: String| CrawlProblem {
            url: source_url.to_owned(),
            reason,
        };
        if bytes.is_empty() {
            return Err(problem("empty response".into()));
        }
        let blobs = self.blobs.clone();
        let matcher = Arc::clone(&self.matcher);
        // Lookups in the stored lists block on the store: off the async runtime too.
        let (hashes, automatic) = tokio::task::spawn_blocking(move || {
            let hashes = hash_media(&bytes);
            let automatic = matcher.assess(&hashes, now);
            blobs.put(&bytes).map(|_| (hashes, automatic))
        })
        .await
        .map_err(|e| problem(format!("hashing failed: {e}")))?
        .map_err(|e| problem(format!("storing failed: {e}")))?;
        Ok(CrawledItem {
            source_url: source_url.to_owned(),
            hashes,
            automatic,
        })
    }
}

/// Builds the blob store and the crawler from the configuration (blocking: reads the geo
/// database and the local hash list).
pub fn setup(
    config: &crate::config::NodeConfig,
    blob_key: &crate::blob_key::BlobKey,
) -> Result<(BlobStore, Crawler), String> {
    let blobs = BlobStore::open_with_key(
        &config.hotline.blob_dir,
        blob_key,
        config.crawler.max_media_bytes,
    )
    .map_err(|e| e.to_string())?;
    let geo = match (
        &config.hotline.geo_maxmind_db,
        &config.hotline.geo_cidr_table,
    ) {
        (Some(db), _) => GeoSource::maxmind(db),
        (None, Some(table)) => GeoSource::cidr_table(table),
        (None, None) => Ok(GeoSource::None),
    }
    .map_err(|e| e.to_string())?;
    let matcher: Arc<dyn HashMatcher> = match &config.hotline.local_hash_list {
        Some(path) => Arc::new(local_list::LocalHashList::load(path).map_err(|e| e.to_string())?),
        None => Arc::new(NoHashLists),
    };
    let crawler = Crawler::new(
        config.crawler.clone(),
        blobs.clone(),
        Arc::new(geo),
        matcher,
    )
    .map_err(|e| e.to_string())?;
    Ok((blobs, crawler))
}

/// Runs queued crawls until `stop` fires: at most `concurrent_crawls` at once, picking up the
/// queue from the store whenever stored state changes (an intake, a finished crawl).
pub async fn run(
    app: Arc<App>,
    crawler: Arc<Crawler>,
    federation: FederationHandle,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let slots = crawler.settings.concurrent_crawls.max(1);
    let mut changes = app.subscribe();
    let mut running: HashSet<[u8; 16]> = HashSet::new();
    // Reports whose crawl could not even be recorded (store trouble): not retried until the
    // next start, so a broken store does not turn into a busy loop.
    let mut parked: HashSet<[u8; 16]> = HashSet::new();
    let mut tasks: JoinSet<([u8; 16], bool)> = JoinSet::new();
    loop {
        if running.len() < slots {
            match on_store(&app, |app| Ok(app.store().crawl_queue(64)?)).await {
                Ok(queued) => {
                    for key in queued {
                        if running.len() >= slots {
                            break;
                        }
                        if running.contains(&key) || parked.contains(&key) {
                            continue;
                        }
                        running.insert(key);
                        let (app, crawler, federation) =
                            (Arc::clone(&app), Arc::clone(&crawler), federation.clone());
                        tasks.spawn(async move {
                            let recorded = crawl_one(&app, &crawler, &federation, key).await;
                            (key, recorded)
                        });
                    }
                }
                Err(error) => tracing::error!(%error, "cannot read the crawl queue"),
            }
        }
        tokio::select! {
            _ = &mut stop => break,
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok((key, recorded)) = done {
                    running.remove(&key);
                    if !recorded {
                        parked.insert(key);
                    }
                }
            }
        }
    }
    tasks.shutdown().await;
}

/// Runs a store operation of the domain layer off the async threads.
async fn on_store<T: Send + 'static>(
    app: &Arc<App>,
    operation: impl FnOnce(&App) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || operation(&app))
        .await
        .map_err(|e| AppError::Invalid(format!("store task failed: {e}")))?
}

/// Crawls one report and records the outcome; `false` when not even that could be stored.
async fn crawl_one(
    app: &Arc<App>,
    crawler: &Crawler,
    federation: &FederationHandle,
    key: [u8; 16],
) -> bool {
    let report = hex::encode(key);
    let started = on_store(app, move |app| {
        app.crawl_started(&key)?;
        Ok(app.store().local_report(&key)?)
    })
    .await;
    let url = match started {
        Ok(Some(local)) => local.reported_url,
        Ok(None) => return false,
        Err(error) => {
            tracing::error!(%report, %error, "cannot start a crawl");
            return false;
        }
    };
    let recorded = match crawler.crawl(&url, app.now()).await {
        Ok(outcome) => {
            let items = outcome.media.len();
            tracing::info!(%report, items, "crawl done");
            federation.metrics().crawl_done(&outcome);
            on_store(app, move |app| app.crawl_done(&key, outcome).map(Some)).await
        }
        Err(error) => {
            tracing::info!(%report, %error, "crawl failed");
            federation.metrics().crawl_failed();
            let reason = error.to_string();
            on_store(app, move |app| {
                app.crawl_failed(&key, &reason).map(|()| None)
            })
            .await
        }
    };
    match recorded {
        Ok(Some(committed)) => {
            federation.committed(committed).await;
            true
        }
        Ok(None) => true,
        Err(error) => {
            tracing::error!(%report, %error, "cannot record the crawl");
            false
        }
    }
}
