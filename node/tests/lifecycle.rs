//! In-process node lifecycle: start with a development config on an ephemeral port, answer
//! `/healthz` over real HTTP, shut down gracefully.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use safeport_node::config::NodeConfig;

#[tokio::test]
async fn healthz_over_http_then_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::defaults_for(dir.path().join("data")).on_loopback();
    config.federation.development = true;

    let node = safeport_node::start(config).await.unwrap();
    let addr = node.http_addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);

    // No proxy: the environment may configure one that cannot reach loopback.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["agency"], safeport_node::identity::DEVELOPMENT_AGENCY);
    assert_eq!(body["role"], "hotline");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));

    node.shutdown().await.unwrap();
    // The listener is closed after shutdown.
    assert!(
        client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err()
    );
}
