//! Intruders against a real node: libp2p nodes with valid keys but a certificate from another
//! federation, a self-signed one, an expired one, a revoked one, or one retired as superseded
//! after a key rotation dial the NL hotline. Each is refused at admission, learns why, and can
//! never pull anything; the hotline records nothing from them. An honest police node with the same setup is admitted and served, which shows
//! the refusals are about the certificates and nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::time::Duration;

use safeport_node::identity::{NodeIdentity, NodeInfo};
use safeport_node::net::{self, NetConfig, NetEvent, NetHandle};
use safeport_protocol::pki::{
    self, AgencyIdentity, AgencySubject, RevocationReason, TrustAnchor, Validity, create_root,
    issue_agency_certificate,
};
use safeport_protocol::sync::{SyncRequest, SyncResponse};
use safeport_protocol::{AgencyId, Country, NodeKey, PublicKey, Role, Timestamp};
use safeport_tests::TestFederation;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(60);

fn now() -> Timestamp {
    safeport_node::identity::system_now()
}

fn subject(agency: &str) -> AgencySubject {
    AgencySubject {
        agency: AgencyId::new(agency).unwrap(),
        role: Role::Lea,
        country: Country::new("NL").unwrap(),
        organisation: "Intruder".into(),
    }
}

/// A network identity with whatever certificate it presents; the intruder trusts `anchors`.
fn identity(key: NodeKey, certificate_pem: String, anchors: Vec<TrustAnchor>) -> NodeIdentity {
    let public: PublicKey = key.public();
    let subject = subject("nl-police");
    NodeIdentity {
        info: NodeInfo {
            agency_id: subject.agency.to_string(),
            role: "lea".into(),
            country: "NL".into(),
        },
        certificate: AgencyIdentity {
            subject,
            key: public,
            serial: "0".into(),
            validity: Validity::days_from(now(), 1),
            issuer: "n/a".into(),
        },
        certificate_pem,
        key: Arc::new(key),
        anchors,
        crl: None,
        development: false,
    }
}

async fn dial(
    identity: &NodeIdentity,
    hotline_addr: &str,
) -> (NetHandle, mpsc::Receiver<NetEvent>) {
    let config = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        ..NetConfig::default()
    };
    let (handle, events, _task) = net::spawn(identity, config, now).await.unwrap();
    handle
        .add_peer(
            hotline_addr.parse().unwrap(),
            AgencyId::new("nl-hotline").unwrap(),
        )
        .await
        .unwrap();
    (handle, events)
}

/// Waits for the intruder's own view of the outcome: refused (with the reason) or admitted.
async fn outcome(events: &mut mpsc::Receiver<NetEvent>) -> Result<(), String> {
    let event = tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(NetEvent::PeerRefused { reason, .. }) => return Err(reason),
                Some(NetEvent::PeerAdmitted { .. }) => return Ok(()),
                Some(_) => continue,
                None => return Err("network stopped".into()),
            }
        }
    })
    .await;
    event.unwrap()
}

async fn try_pull(handle: &NetHandle) -> Result<SyncResponse, String> {
    let pull = SyncRequest::Pull {
        recipient: AgencyId::new("nl-police").unwrap(),
        after: 0,
        limit: 10,
    };
    let bytes = handle
        .request(
            &AgencyId::new("nl-hotline").unwrap(),
            pull.encode().unwrap(),
        )
        .await
        .map_err(|e| e.to_string())?;
    SyncResponse::decode(&bytes).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intruders_are_refused_before_any_record_flows() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    // A legitimate police certificate, revoked before the hotline starts.
    let revoked_dir = federation.add_agency("nl-police", Role::Lea, "NL").unwrap();
    let crl = dir.path().join("federation.crl.pem");
    federation
        .revoke_and_publish(&revoked_dir.serial, &crl)
        .unwrap();
    // Another, retired after a key rotation: what it signed before still counts, but it can
    // no longer connect.
    let retired_dir = federation
        .add_agency("nl-customs", Role::Lea, "NL")
        .unwrap();
    federation
        .revoke_with_reason(
            &retired_dir.serial,
            RevocationReason::Superseded,
            now(),
            &crl,
        )
        .unwrap();
    let mut config = hotline_dir.config().unwrap();
    config.federation.crl = Some(crl);
    let hotline = safeport_node::start(config).await.unwrap();
    let hotline_addr = hotline.federation().net().listen_addrs().await.unwrap()[0].to_string();
    let ours =
        TrustAnchor::from_pem(&std::fs::read_to_string(federation.root_certificate()).unwrap())
            .unwrap();

    let start = Timestamp::from_secs(now().as_secs() - 86_400);
    let other_root_key = NodeKey::from_seed([77; 32]);
    let other_root = create_root(
        &other_root_key,
        "Other Federation",
        Validity::days_from(start, 30),
        [7; 16],
    )
    .unwrap();
    let ca_key =
        std::fs::read_to_string(dir.path().join("ca-Test-Federation").join("root.key")).unwrap();
    let our_authority = NodeKey::from_pkcs8_pem(&ca_key).unwrap();
    let our_root = std::fs::read_to_string(federation.root_certificate()).unwrap();

    let mut intruders = Vec::new();
    // 1. A certificate from another federation's root.
    let key = NodeKey::from_seed([81; 32]);
    let pem = issue_agency_certificate(
        &other_root_key,
        &other_root,
        &subject("nl-police"),
        &key.public(),
        Validity::days_from(start, 30),
        [81; 16],
    )
    .unwrap();
    intruders.push((
        "another root",
        identity(key, pem, vec![ours.clone()]),
        "not a configured federation root",
    ));
    // 2. A self-signed certificate.
    let key = NodeKey::from_seed([82; 32]);
    let pem = create_root(&key, "nl-police", Validity::days_from(start, 30), [82; 16]).unwrap();
    intruders.push((
        "self-signed",
        identity(key, pem, vec![ours.clone()]),
        "not a configured federation root",
    ));
    // 3. An expired certificate from our own root.
    let key = NodeKey::from_seed([83; 32]);
    let expired = Validity {
        not_before: Timestamp::from_secs(start.as_secs() - 86_400 * 10),
        not_after: start,
    };
    let pem = issue_agency_certificate(
        &our_authority,
        &our_root,
        &subject("nl-police"),
        &key.public(),
        expired,
        [83; 16],
    )
    .unwrap();
    intruders.push(("expired", identity(key, pem, vec![ours.clone()]), "expired"));
    // 4. The revoked police certificate, with its own (valid) key.
    let key = NodeKey::from_pkcs8_pem(
        &std::fs::read_to_string(revoked_dir.dir.join("node.key")).unwrap(),
    )
    .unwrap();
    let pem = std::fs::read_to_string(revoked_dir.dir.join("node.pem")).unwrap();
    intruders.push(("revoked", identity(key, pem, vec![ours.clone()]), "revoked"));
    // 5. The retired (superseded) certificate, with its own key.
    let key = NodeKey::from_pkcs8_pem(
        &std::fs::read_to_string(retired_dir.dir.join("node.key")).unwrap(),
    )
    .unwrap();
    let pem = std::fs::read_to_string(retired_dir.dir.join("node.pem")).unwrap();
    intruders.push(("retired", identity(key, pem, vec![ours.clone()]), "revoked"));

    for (what, identity, expected) in &intruders {
        let (handle, mut events) = dial(identity, &hotline_addr).await;
        let refusal = outcome(&mut events).await.expect_err(what);
        assert!(refusal.contains(expected), "{what}: {refusal}");
        let pulled = try_pull(&handle).await;
        assert!(pulled.is_err(), "{what}: pulled {pulled:?}");
        handle.shutdown().await.unwrap();
    }

    // Nothing from them reached the hotline's domain layer.
    let police = AgencyId::new("nl-police").unwrap();
    assert!(hotline.store().certificate(&police).unwrap().is_none());
    assert!(hotline.federation().progress().is_empty());
    assert!(hotline.store().rejections(10).unwrap().is_empty());

    // Control: a correctly certified agency with the same setup is admitted and served.
    let honest_dir = federation.add_agency("be-police", Role::Lea, "BE").unwrap();
    let key =
        NodeKey::from_pkcs8_pem(&std::fs::read_to_string(honest_dir.dir.join("node.key")).unwrap())
            .unwrap();
    let pem = std::fs::read_to_string(honest_dir.dir.join("node.pem")).unwrap();
    let mut honest = identity(key, pem.clone(), vec![ours.clone()]);
    honest.certificate =
        pki::verify_agency_certificate(&pem, &[ours], &[], now(), &Default::default()).unwrap();
    let (handle, mut events) = dial(&honest, &hotline_addr).await;
    outcome(&mut events).await.unwrap();
    let pull = SyncRequest::Pull {
        recipient: AgencyId::new("be-police").unwrap(),
        after: 0,
        limit: 10,
    };
    let answer = handle
        .request(
            &AgencyId::new("nl-hotline").unwrap(),
            pull.encode().unwrap(),
        )
        .await
        .unwrap();
    assert!(
        matches!(SyncResponse::decode(&answer).unwrap(), SyncResponse::Page(page) if page.items.is_empty())
    );
    handle.shutdown().await.unwrap();
    hotline.shutdown().await.unwrap();
}
