//! The Safeport node: storage, HTTP API and (later) federation networking.
//!
//! [`start`] brings a node up in a fixed order (identity, store, HTTP listener) and returns a
//! [`RunningNode`] handle; [`run`] does the same and keeps the node up until a shutdown future
//! completes. The binary (`main.rs`) only parses the command line, sets up logging and calls
//! [`run`].

pub mod app;
pub mod backup;
pub mod blob_key;
pub mod blobs;
pub mod config;
pub mod crawler;
pub mod demo;
pub mod federation;
pub mod geo;
pub mod http;
pub mod identity;
pub mod matching;
pub mod media;
pub mod metrics;
pub mod net;
pub mod portal;
mod running;
pub mod search;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;

use thiserror::Error;

use crate::identity::IdentityError;
use crate::store::StoreError;

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
    /// The federation network could not start.
    #[error("cannot start the federation network")]
    Net(#[from] net::NetError),
    /// The domain layer could not start (store failure while loading agreements).
    #[error("cannot load the node's domain state")]
    App(#[from] app::AppError),
    /// A token file (admin API, IWOL feed) could not be read or created.
    #[error("token file {}", path.display())]
    AdminToken {
        /// The token file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The media store, geo source, local hash list or crawler could not be set up.
    #[error("cannot set up media handling: {0}")]
    Media(String),
    /// The portal's TLS certificate or key could not be loaded.
    #[error("cannot set up the portal's TLS")]
    PortalTls(#[from] portal::tls::TlsError),
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

pub use running::{RunningNode, run, start};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::config::NodeConfig;
    use crate::store::Store;

    fn dev_config(dir: &tempfile::TempDir) -> NodeConfig {
        let mut config = NodeConfig::defaults_for(dir.path().join("data")).on_loopback();
        config.federation.development = true;
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
