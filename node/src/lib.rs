//! The Safeport node: storage, HTTP API and (later) federation networking.
//!
//! [`start`] brings a node up in a fixed order (identity, store, HTTP listener) and returns a
//! [`RunningNode`] handle; [`run`] does the same and keeps the node up until a shutdown future
//! completes. The binary (`main.rs`) only parses the command line, sets up logging and calls
//! [`run`].

pub mod config;
pub mod http;
pub mod identity;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::NodeConfig;
use crate::http::{AppState, HttpLimits};
use crate::identity::IdentityError;
use crate::store::{Store, StoreError};

/// Name of the database directory inside the data directory.
pub const DB_DIR: &str = "db";

/// Why the node could not start or stopped abnormally.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The node identity (key and certificate) could not be loaded.
    #[error("cannot load the node identity")]
    Identity(#[from] IdentityError),
    /// The data directory could not be created.
    #[error("cannot create data directory {}", path.display())]
    DataDir {
        /// The data directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open the database")]
    Store(#[from] StoreError),
    /// The HTTP listener could not be bound.
    #[error("cannot listen for HTTP on {addr}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed while running.
    #[error("HTTP server failed")]
    Serve(#[source] std::io::Error),
    /// A startup or server task panicked or was cancelled.
    #[error("node task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// Displays an error with its whole `source()` chain on one line (`outer: inner: root`).
/// Error types in this crate do not repeat their source in their own message, so the chain
/// is the complete description.
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

/// A started node. Dropping it without [`RunningNode::shutdown`] stops accepting connections
/// but does not wait for in-flight requests.
#[derive(Debug)]
pub struct RunningNode {
    http_addr: SocketAddr,
    shutdown_tx: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    store: Store,
    drain_timeout: std::time::Duration,
}

/// Starts a node: loads its identity, opens its store and binds its HTTP listener, then serves
/// in the background. Returns once the node accepts requests.
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

    let store = {
        let data_dir = config.node.data_dir.clone();
        tokio::task::spawn_blocking(move || open_store(data_dir)).await??
    };
    tracing::info!(path = %store.path().display(), "database opened");

    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| NodeError::Bind {
            addr: config.http.listen,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(|source| NodeError::Bind {
        addr: config.http.listen,
        source,
    })?;

    let limits = HttpLimits::from(&config.http);
    let app = http::router(AppState {
        store: store.clone(),
        info: Arc::new(identity.info),
        limits,
    });
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped sender also means "stop".
                let _ = shutdown_rx.await;
            })
            .await
    });
    tracing::info!(addr = %http_addr, "HTTP API listening");

    Ok(RunningNode {
        http_addr,
        shutdown_tx: Some(shutdown_tx),
        server,
        store,
        // In-flight requests end within the request timeout; allow that much to drain.
        drain_timeout: limits.request_timeout,
    })
}

/// Creates the data directory (owner-only on Unix: it holds keys and sensitive records) and
/// opens the database inside it. Blocking.
fn open_store(data_dir: PathBuf) -> Result<Store, NodeError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&data_dir)
        .map_err(|source| NodeError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
    Ok(Store::open(data_dir.join(DB_DIR))?)
}

/// Starts a node and runs it until `shutdown` completes (then shuts down gracefully) or the
/// server fails.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let mut node = start(config).await?;
    tokio::select! {
        () = shutdown => {
            tracing::info!("shutdown requested");
            node.shutdown().await
        }
        result = &mut node.server => {
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
        self.http_addr
    }

    /// The node's database handle.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops gracefully: stops accepting connections, lets in-flight requests finish (bounded by
    /// the request timeout), then closes the store.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        let result = match tokio::time::timeout(self.drain_timeout, &mut self.server).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(err))) => Err(NodeError::Serve(err)),
            Ok(Err(err)) => Err(NodeError::Task(err)),
            Err(_elapsed) => {
                tracing::warn!("connections still open after the drain timeout; closing them");
                self.server.abort();
                // Wait for the aborted task so its clone of the store is dropped before ours.
                match (&mut self.server).await {
                    Err(err) if err.is_cancelled() => Ok(()),
                    Err(err) => Err(NodeError::Task(err)),
                    Ok(result) => result.map_err(NodeError::Serve),
                }
            }
        };
        // Dropping the last handle closes RocksDB (all writes were synced already).
        drop(self.store);
        tracing::info!("node stopped");
        result
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn dev_config(dir: &tempfile::TempDir) -> NodeConfig {
        let mut config = NodeConfig::defaults_for(dir.path().join("data"));
        config.federation.development = true;
        config.http.listen = "127.0.0.1:0".parse().unwrap();
        config
    }

    #[tokio::test]
    async fn shutdown_closes_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let node = start(dev_config(&dir)).await.unwrap();
        assert_ne!(node.http_addr().port(), 0);
        node.shutdown().await.unwrap();
        // RocksDB holds a lock while open: reopening proves the store was closed.
        Store::open(dir.path().join("data").join(DB_DIR)).unwrap();
    }

    #[tokio::test]
    async fn run_returns_after_the_shutdown_future() {
        let dir = tempfile::tempdir().unwrap();
        run(dev_config(&dir), async {}).await.unwrap();
    }

    #[tokio::test]
    async fn startup_fails_without_an_identity() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = dev_config(&dir);
        config.federation.development = false;
        let err = start(config).await.unwrap_err();
        assert!(matches!(err, NodeError::Identity(_)));
        // Identity is checked before anything is written.
        assert!(!dir.path().join("data").exists());
    }

    #[tokio::test]
    async fn startup_fails_when_the_port_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = dev_config(&dir);
        config.http.listen = taken.local_addr().unwrap();
        let err = start(config).await.unwrap_err();
        assert!(matches!(err, NodeError::Bind { .. }));
        assert!(
            ErrorChain(&err)
                .to_string()
                .starts_with("cannot listen for HTTP on")
        );
    }

    #[tokio::test]
    async fn startup_fails_when_the_data_dir_is_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = dev_config(&dir);
        // Key material stays where it was; only the database directory is unusable.
        config.node.data_dir = dir.path().join("file");
        std::fs::write(&config.node.data_dir, b"").unwrap();
        assert!(matches!(
            start(config).await.unwrap_err(),
            NodeError::DataDir { .. }
        ));
    }
}
