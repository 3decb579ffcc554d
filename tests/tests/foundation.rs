//! Foundation scenarios across crates: nodes configured with exactly what `safeport-admin`
//! makes start, prove who they are over HTTP, and refuse to start when their certificate is
//! revoked, foreign, corrupted or not theirs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use safeport_node::ErrorChain;
use safeport_protocol::Role;
use safeport_tests::{TestFederation, loopback_client};

#[tokio::test]
async fn nodes_set_up_with_the_admin_tool_start_and_report_their_agency() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let client = loopback_client().unwrap();
    for (agency, role, country) in [
        ("nl-hotline", Role::Hotline, "NL"),
        ("nl-police", Role::Lea, "NL"),
        ("interpol", Role::Interpol, "FR"),
    ] {
        let node_dir = federation.add_agency(agency, role, country).unwrap();
        let node = safeport_node::start(node_dir.config().unwrap())
            .await
            .unwrap();
        let health: serde_json::Value = client
            .get(format!("http://{}/healthz", node.http_addr()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["status"], "ok");
        assert_eq!(health["agency"], agency);
        assert_eq!(health["role"], role.as_str());
        node.shutdown().await.unwrap();
    }
}

async fn start_error(config: safeport_node::config::NodeConfig) -> String {
    match safeport_node::start(config).await {
        Ok(node) => {
            node.shutdown().await.unwrap();
            panic!("the node started")
        }
        Err(error) => ErrorChain(&error).to_string(),
    }
}

#[tokio::test]
async fn a_revoked_node_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let node_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let crl = node_dir.dir.join("federation.crl.pem");
    federation
        .revoke_and_publish(&node_dir.serial, &crl)
        .unwrap();
    let mut config = node_dir.config().unwrap();
    config.federation.crl = Some(crl);
    let error = start_error(config).await;
    assert!(error.contains("revoked"), "{error}");
    assert!(error.contains(&node_dir.serial), "{error}");
}

#[tokio::test]
async fn a_certificate_from_another_federation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ours = TestFederation::create(dir.path(), "Our Federation").unwrap();
    let theirs = TestFederation::create(dir.path(), "Their Federation").unwrap();
    let node_dir = theirs
        .add_agency("de-hotline", Role::Hotline, "DE")
        .unwrap();
    // The operator configured our root, but holds a certificate from theirs.
    std::fs::copy(
        ours.root_certificate(),
        node_dir.dir.join("federation-root.pem"),
    )
    .unwrap();
    let error = start_error(node_dir.config().unwrap()).await;
    assert!(
        error.contains("not a configured federation root"),
        "{error}"
    );
    assert!(error.contains("node.pem"), "{error}");
}

#[tokio::test]
async fn a_corrupted_certificate_or_someone_elses_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let first = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let second = federation
        .add_agency("de-hotline", Role::Hotline, "DE")
        .unwrap();

    // Someone else's (valid) certificate: it does not certify this node's key.
    std::fs::copy(second.dir.join("node.pem"), first.dir.join("node.pem")).unwrap();
    let error = start_error(first.config().unwrap()).await;
    assert!(error.contains("certifies key"), "{error}");

    // A truncated certificate file.
    let pem = std::fs::read_to_string(second.dir.join("node.pem")).unwrap();
    std::fs::write(first.dir.join("node.pem"), &pem[..pem.len() / 3]).unwrap();
    let error = start_error(first.config().unwrap()).await;
    assert!(
        error.contains("node.pem") && error.contains("PEM"),
        "{error}"
    );
}

#[test]
fn the_config_node_init_writes_parses_with_the_node_config() {
    let dir = tempfile::tempdir().unwrap();
    safeport_admin::node_init::init(dir.path(), "127.0.0.1:8471").unwrap();
    let config = safeport_node::config::NodeConfig::load(dir.path().join("node.toml")).unwrap();
    assert_eq!(config.node.key_file, dir.path().join("node.key"));
    assert_eq!(config.node.certificate, dir.path().join("node.pem"));
    assert_eq!(
        config.federation.roots,
        vec![dir.path().join("federation-root.pem")]
    );
    assert!(!config.federation.development);
    assert_eq!(config.http.listen.port(), 8471);
}
