//! Starting and stopping a node, in a fixed order.
//!
//! Start: identity (refuse to go on unless the certificate verifies) -> store -> domain layer
//! -> network task -> federation driver -> configured peers -> HTTP API, admin API and (when
//! configured) the metrics listener.
//! Stop: stop accepting HTTP, let in-flight requests finish (bounded), stop the driver and the
//! network task, then close the store.

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use safeport_protocol::Role;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::app::accounts::LockoutPolicy;
use crate::blobs::BlobStore;
use crate::config::NodeConfig;
use crate::crawler;
use crate::federation::{self, FederationHandle};
use crate::http::admin::{AdminState, admin_router};
use crate::http::{self, AppState, HttpLimits};
use crate::identity::{self, system_now};
use crate::metrics::{self, Listener, Metrics, MetricsState};
use crate::net::{self, NetConfig, NetHandle};
use crate::portal::session::{self, SessionPolicy, Sessions};
use crate::portal::{PortalState, portal_router, tls};
use crate::store::Store;
use crate::{DB_DIR, ErrorChain, NodeError};

/// How long the network task gets to stop.
const NET_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP server task with its stop signal.
#[derive(Debug)]
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn serve(addr: SocketAddr, router: axum::Router, what: &str) -> Result<Server, NodeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| NodeError::Bind { addr, source })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                // A dropped sender also means "stop".
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(addr = %bound, "{what} listening");
    Ok(Server {
        addr: bound,
        stop: Some(stop),
        task,
    })
}

/// Serves `router` over TLS (the portal with a configured certificate); stops like [`serve`].
async fn serve_tls(
    addr: SocketAddr,
    router: axum::Router,
    tls: axum_server::tls_rustls::RustlsConfig,
    drain: Duration,
    what: &str,
) -> Result<Server, NodeError> {
    let handle = axum_server::Handle::new();
    let server = axum_server::bind_rustls(addr, tls).handle(handle.clone());
    let mut task = tokio::spawn(async move { server.serve(router.into_make_service()).await });
    let bound = tokio::select! {
        bound = handle.listening() => bound,
        result = &mut task => {
            let source = match result {
                Ok(Err(e)) => e,
                Ok(Ok(())) => std::io::Error::other("server ended before listening"),
                Err(e) => std::io::Error::other(e.to_string()),
            };
            return Err(NodeError::Bind { addr, source });
        }
    };
    let bound = bound.ok_or_else(|| NodeError::Bind {
        addr,
        source: std::io::Error::other("server did not start listening"),
    })?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        // A dropped sender also means "stop".
        let _ = stopped.await;
        handle.graceful_shutdown(Some(drain));
    });
    tracing::info!(addr = %bound, "{what} listening (TLS)");
    Ok(Server {
        addr: bound,
        stop: Some(stop),
        task,
    })
}

impl Server {
    /// Stops accepting, waits up to `drain` for in-flight requests, then aborts.
    async fn stop(mut self, drain: Duration) -> Result<(), NodeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(drain, &mut self.task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(err))) => Err(NodeError::Serve(err)),
            Ok(Err(err)) => Err(NodeError::Task(err)),
            Err(_elapsed) => {
                tracing::warn!("connections still open after the drain timeout; closing them");
                self.task.abort();
                match (&mut self.task).await {
                    Err(err) if err.is_cancelled() => Ok(()),
                    Err(err) => Err(NodeError::Task(err)),
                    Ok(result) => result.map_err(NodeError::Serve),
                }
            }
        }
    }
}

/// A started node. Dropping it without [`RunningNode::shutdown`] stops accepting connections
/// but does not wait for in-flight requests.
pub struct RunningNode {
    http: Server,
    admin: Server,
    /// The web portal, unless `[portal] enabled = false`.
    portal: Option<Server>,
    /// The Prometheus scrape listener, when `[metrics] listen` is set.
    metrics_server: Option<Server>,
    metrics: Metrics,
    /// The crawler task of a hotline, with its stop signal.
    crawling: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    blobs: BlobStore,
    admin_token: String,
    app: Arc<App>,
    federation: FederationHandle,
    driver: JoinHandle<()>,
    net: NetHandle,
    net_task: JoinHandle<()>,
    store: Store,
    drain_timeout: Duration,
}

impl std::fmt::Debug for RunningNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningNode")
            .field("http", &self.http.addr)
            .field("admin", &self.admin.addr)
            .finish_non_exhaustive()
    }
}

/// Reads a bearer token (admin API, IWOL feed), creating it (0600, 32 random bytes as hex) on
/// first start.
fn admin_token(path: &Path) -> Result<String, NodeError> {
    let err = |source| NodeError::AdminToken {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let token = hex::encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    std::io::Write::write_all(&mut file, token.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    Ok(token)
}

/// Creates the data directory (owner-only: it holds keys and sensitive records) and opens the
/// database inside it. Blocking.
fn open_store(data_dir: PathBuf) -> Result<Store, NodeError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&data_dir)
        .map_err(|source| NodeError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
    Ok(Store::open(data_dir.join(DB_DIR))?)
}

/// Starts the web portal's listener (plain HTTP on loopback, or TLS), unless it is off.
async fn start_portal(
    config: &NodeConfig,
    app: &Arc<App>,
    blobs: &BlobStore,
    federation: &FederationHandle,
    limits: HttpLimits,
    metrics: &Metrics,
) -> Result<Option<Server>, NodeError> {
    let settings = &config.portal;
    if !settings.enabled {
        return Ok(None);
    }
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let state = PortalState {
        app: Arc::clone(app),
        blobs: blobs.clone(),
        federation: federation.clone(),
        sessions: Arc::new(Sessions::new(
            SessionPolicy {
                idle_ms: millis(settings.idle_timeout()),
                absolute_ms: millis(settings.absolute_timeout()),
                max_sessions: settings.max_sessions,
            },
            session::system_clock(),
        )),
        lockout: LockoutPolicy {
            max_failed_logins: settings.max_failed_logins,
            lockout_ms: settings.lockout_minutes * 60_000,
        },
        tls: settings.tls(),
        limits,
    };
    let router = metrics.instrument(portal_router(state), Listener::Portal);
    let server = match (&settings.tls_certificate, &settings.tls_key) {
        (Some(certificate), Some(key)) => {
            let (certificate, key) = (certificate.clone(), key.clone());
            let tls = tokio::task::spawn_blocking(move || tls::load(&certificate, &key)).await??;
            serve_tls(
                settings.listen,
                router,
                tls,
                limits.request_timeout,
                "portal",
            )
            .await?
        }
        _ => serve(settings.listen, router, "portal").await?,
    };
    Ok(Some(server))
}

/// Starts a node and returns once it accepts requests and peers.
pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
    let config = Arc::new(config);

    // Identity first: a node that cannot prove who it is must not touch its data.
    let identity = {
        let config = Arc::clone(&config);
        tokio::task::spawn_blocking(move || identity::load(&config)).await??
    };
    tracing::info!(
        agency = %identity.info.agency_id,
        role = %identity.info.role,
        country = %identity.info.country,
        development = config.federation.development,
        "identity loaded"
    );
    let identity = Arc::new(identity);

    let (store, app, token, peers, (blobs, crawler)) = {
        let config = Arc::clone(&config);
        let identity = Arc::clone(&identity);
        tokio::task::spawn_blocking(move || -> Result<_, NodeError> {
            let store = open_store(config.node.data_dir.clone())?;
            let token = admin_token(&config.admin.token_file)?;
            let feed_token = config
                .iwol
                .feed_token_file
                .as_deref()
                .map(admin_token)
                .transpose()?;
            let blob_key =
                crate::blob_key::open(&store, &identity.certificate.subject.agency, &identity.key)
                    .map_err(|e| NodeError::Media(e.to_string()))?;
            let media = crawler::setup(&config, &blob_key).map_err(NodeError::Media)?;
            let app = App::new(store.clone(), identity, system_now)?;
            let peers = store.peers()?;
            Ok((store, Arc::new(app), (token, feed_token), peers, media))
        })
        .await??
    };
    let (token, feed_token) = token;
    tracing::info!(path = %store.path().display(), "database opened");

    let net_config = NetConfig {
        listen: config.net.listen.clone(),
        enable_quic: config.net.enable_quic,
        ..NetConfig::default()
    };
    let (net, events, net_task) = net::spawn(&identity, net_config, system_now).await?;
    // Counted from the start whether or not a listener serves them.
    let metrics = Metrics::new();
    let (federation, driver) = federation::start(
        Arc::clone(&app),
        net.clone(),
        events,
        blobs.clone(),
        metrics.clone(),
    );
    for (agency, address) in peers {
        match address.parse() {
            Ok(addr) => net.add_peer(addr, agency).await?,
            Err(error) => {
                tracing::error!(%agency, %address, %error, "stored peer address is invalid")
            }
        }
    }

    // Only hotlines take in and crawl reports.
    let crawling = (identity.certificate.subject.role == Role::Hotline).then(|| {
        let (stop, stopped) = oneshot::channel();
        let crawler = crawler.also_matching(Arc::new(crawler::HeldLists(Arc::clone(&app))));
        let task = tokio::spawn(crawler::run(
            Arc::clone(&app),
            Arc::new(crawler),
            federation.clone(),
            stopped,
        ));
        (stop, task)
    });
    let limits = HttpLimits::from(&config.http);
    let http = serve(
        config.http.listen,
        metrics.instrument(
            http::router(AppState {
                store: store.clone(),
                info: Arc::new(identity.info.clone()),
                limits,
                iwol_feed: feed_token.map(|token| http::iwol::IwolFeed {
                    app: Arc::clone(&app),
                    token_digest: Sha256::digest(token.as_bytes()).into(),
                    rpz: config.iwol.rpz(),
                }),
            }),
            Listener::Public,
        ),
        "HTTP API",
    )
    .await?;
    let admin = serve(
        config.admin.listen,
        metrics.instrument(
            admin_router(AdminState {
                app: Arc::clone(&app),
                federation: federation.clone(),
                blobs: blobs.clone(),
                token_digest: Sha256::digest(token.as_bytes()).into(),
                limits,
                rpz: config.iwol.rpz(),
            }),
            Listener::Admin,
        ),
        "admin API",
    )
    .await?;
    let portal = start_portal(&config, &app, &blobs, &federation, limits, &metrics).await?;
    let metrics_server = match config.metrics.listen {
        None => None,
        Some(addr) => {
            if !addr.ip().is_loopback() {
                // Allowed (Prometheus often scrapes from elsewhere), but the endpoint has no
                // authentication: the operator should know it is reachable.
                tracing::warn!(%addr, "metrics served beyond loopback, without authentication");
            }
            let state = MetricsState {
                metrics: metrics.clone(),
                app: Arc::clone(&app),
                federation: federation.clone(),
                limits,
            };
            Some(serve(addr, metrics::router(state), "metrics").await?)
        }
    };
    Ok(RunningNode {
        http,
        admin,
        portal,
        metrics_server,
        metrics,
        crawling,
        blobs,
        admin_token: token,
        app,
        federation,
        driver,
        net,
        net_task,
        store,
        // In-flight requests end within the request timeout; allow that much to drain.
        drain_timeout: limits.request_timeout,
    })
}

/// Starts a node and runs it until `shutdown` completes (then shuts down gracefully) or the
/// HTTP server fails.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let mut node = start(config).await?;
    tokio::select! {
        () = shutdown => {
            tracing::info!("shutdown requested");
            node.shutdown().await
        }
        result = &mut node.http.task => {
            // The server only ends on its own when it failed.
            let result = match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => Err(NodeError::Serve(err)),
                Err(err) => Err(NodeError::Task(err)),
            };
            if let Err(err) = &result {
                tracing::error!(error = %ErrorChain(err), "HTTP server stopped");
            }
            result
        }
    }
}

impl RunningNode {
    /// The address the HTTP API is bound to (the actual port when the config asked for port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http.addr
    }

    /// The address of the admin API.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.addr
    }

    /// The address of the web portal, when it is enabled.
    pub fn portal_addr(&self) -> Option<SocketAddr> {
        self.portal.as_ref().map(|server| server.addr)
    }

    /// The address of the Prometheus scrape endpoint, when `[metrics] listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server.as_ref().map(|server| server.addr)
    }

    /// The node's metrics (the same ones `GET /metrics` encodes).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The admin API's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The domain layer (the same one the APIs call).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Stores and shares a report of this node, and nudges the recipients. (Report intake
    /// proper, with crawling, comes with the hotline workflow; this is its storage path.)
    pub async fn submit_report(
        &self,
        report: safeport_protocol::report::Report,
        items: Vec<safeport_protocol::report::MediaItem>,
    ) -> Result<safeport_protocol::RecordId, crate::app::AppError> {
        let app = Arc::clone(&self.app);
        let (id, committed) =
            tokio::task::spawn_blocking(move || app.submit_report(report, &items))
                .await
                .map_err(|e| crate::app::AppError::Invalid(e.to_string()))??;
        self.federation.committed(committed).await;
        Ok(id)
    }

    /// The encrypted media store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The federation driver.
    pub fn federation(&self) -> &FederationHandle {
        &self.federation
    }

    /// The node's database handle.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops gracefully (see the module documentation for the order).
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let http = self.http.stop(self.drain_timeout).await;
        let admin = self.admin.stop(self.drain_timeout).await;
        let portal = match self.portal {
            Some(server) => server.stop(self.drain_timeout).await,
            None => Ok(()),
        };
        let scrape = match self.metrics_server {
            Some(server) => server.stop(self.drain_timeout).await,
            None => Ok(()),
        };
        if let Some((stop, task)) = self.crawling {
            let _ = stop.send(());
            // Crawls are bounded by their fetch timeouts; an unfinished one stays queued.
            if tokio::time::timeout(self.drain_timeout, task)
                .await
                .is_err()
            {
                tracing::warn!("crawler did not stop in time");
            }
        }
        self.federation.shutdown().await;
        let _ = self.driver.await;
        if let Err(error) = self.net.shutdown().await {
            tracing::warn!(%error, "network did not stop cleanly");
        }
        if tokio::time::timeout(NET_STOP_TIMEOUT, self.net_task)
            .await
            .is_err()
        {
            tracing::warn!("network task did not stop in time");
        }
        // Dropping the last handles closes RocksDB (all writes were synced already).
        drop(self.app);
        drop(self.store);
        tracing::info!("node stopped");
        http.and(admin).and(portal).and(scrape)
    }
}
