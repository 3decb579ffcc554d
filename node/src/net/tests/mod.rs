//! End-to-end tests of the network layer: real swarms on loopback (port 0), a test federation
//! made in memory, and waits on events (bounded by [`WAIT`]) instead of sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::*;

use std::time::Duration;

use safeport_protocol::pki::{
    Crl, Revocation, RevocationReason, Validity, create_crl, create_root,
};
use safeport_protocol::{NodeKey, Timestamp};

use super::*;
use crate::identity::NodeIdentity;

#[tokio::test]
async fn two_nodes_admit_each_other_and_exchange_requests() {
    let fed = federation(1, "Test Federation");
    let mut hotline = start(&honest(&fed, 10, "nl-hotline"), test_config()).await;
    let mut police = start(&honest(&fed, 11, "nl-police"), test_config()).await;
    police
        .handle
        .add_peer(hotline.addr.clone(), agency("nl-hotline"))
        .await
        .unwrap();
    hotline.admitted("nl-police").await;
    // The listener asks at once, possibly before the dialer has checked the listener's answer:
    // the dialer holds the request until then, and its application sees the admission first.
    let early = {
        let handle = hotline.handle.clone();
        tokio::spawn(async move {
            handle
                .request(&agency("nl-police"), b"early".to_vec())
                .await
        })
    };
    police.admitted("nl-hotline").await;
    let (from, request) = police.serve_one(b"pong").await;
    assert_eq!((from, request), (agency("nl-hotline"), b"early".to_vec()));
    assert_eq!(early.await.unwrap().unwrap(), b"pong");

    let response = round_trip(&police.handle, &mut hotline, "nl-hotline", b"ping").await;
    assert_eq!(response, b"pong");

    let peers = hotline.handle.peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].peer_id, police.handle.local_peer_id());
    assert_eq!(peers[0].agency, Some(agency("nl-police")));
    assert_eq!(peers[0].state, PeerState::Admitted);
    assert_eq!(peers[0].since, test_now());

    // An agency without an admitted peer cannot be asked.
    let error = police
        .handle
        .request(&agency("xx-nobody"), b"?".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(error, NetError::NotAdmitted(_)), "{error}");
    hotline.stop().await;
    police.stop().await;
}

#[tokio::test]
async fn bad_certificates_are_refused_and_their_requests_never_reach_the_application() {
    let fed = federation(1, "Test Federation");
    let other = federation(2, "Other Federation");
    let revoked_key = NodeKey::from_seed([24; 32]).public();
    let revoked_pem = certificate(&fed, "xx-revoked", &revoked_key, year(), 24);
    let crl_pem = create_crl(
        &fed.authority,
        &fed.root_pem,
        &[Revocation {
            serial: safeport_protocol::pki::certificate_serial(&revoked_pem).unwrap(),
            revoked_at: Timestamp::from_secs(START + 3600),
            reason: RevocationReason::KeyCompromise,
        }],
        1,
        Timestamp::from_secs(START + 3600),
        Timestamp::from_secs(START + 7 * 86_400),
    )
    .unwrap();
    let crl = Crl::from_pem(&crl_pem, std::slice::from_ref(&fed.anchor)).unwrap();
    let mut listener_identity = honest(&fed, 10, "nl-hotline");
    listener_identity.crl = Some(crl);
    let mut listener = start(&listener_identity, test_config()).await;
    let listener_id = listener.handle.local_peer_id();

    let key = |seed: u8| NodeKey::from_seed([seed; 32]).public();
    let expired = Validity::days_from(Timestamp::from_secs(START - 400 * 86_400), 10);
    let self_signed = create_root(
        &NodeKey::from_seed([22; 32]),
        "Self Signed",
        year(),
        [22; 16],
    );
    let cases: [(&str, NodeIdentity, &[&str]); 5] = [
        (
            "another root",
            node_identity(
                21,
                "xx-foreign",
                certificate(&other, "xx-foreign", &key(21), year(), 21),
                &fed,
                None,
            ),
            &["Other Federation", "is not a configured federation root"],
        ),
        (
            "self-signed",
            node_identity(22, "xx-self", self_signed.unwrap(), &fed, None),
            &["Self Signed", "is not a configured federation root"],
        ),
        (
            "expired",
            node_identity(
                23,
                "xx-expired",
                certificate(&fed, "xx-expired", &key(23), expired, 23),
                &fed,
                None,
            ),
            &["certificate expired"],
        ),
        (
            "revoked",
            node_identity(24, "xx-revoked", revoked_pem, &fed, None),
            &["was revoked"],
        ),
        (
            "another key",
            node_identity(
                25,
                "xx-stolen",
                certificate(&fed, "xx-stolen", &key(26), year(), 25),
                &fed,
                None,
            ),
            &["certifies key", "but the node's key is"],
        ),
    ];
    for (case, identity, problem) in cases {
        let mut intruder = start(&identity, test_config()).await;
        let intruder_id = intruder.handle.local_peer_id();
        // Straight to the sync protocol, without waiting for admission.
        let result = intruder
            .handle
            .raw_request(
                listener_id,
                listener.addr.clone(),
                b"records please".to_vec(),
            )
            .await;
        assert!(result.is_err(), "{case}: {result:?}");
        let reason = listener.refused(intruder_id).await;
        let names_problem = |text: &str| problem.iter().all(|part| text.contains(part));
        assert!(names_problem(&reason), "{case}: {reason}");
        // The intruder learns why.
        let told = intruder.refused(listener_id).await;
        assert!(
            told.contains("refused by the remote") && names_problem(&told),
            "{case}: {told}"
        );
        let status = listener.handle.peers().await.unwrap();
        let entry = status.iter().find(|p| p.peer_id == intruder_id).unwrap();
        assert!(
            matches!(&entry.state, PeerState::Refused { reason } if names_problem(reason)),
            "{case}: {entry:?}"
        );
        intruder.stop().await;
    }

    // An honest peer's request is the first the listener's application sees.
    let mut honest_node = start(&honest(&fed, 30, "nl-police"), test_config()).await;
    honest_node
        .handle
        .add_peer(listener.addr.clone(), agency("nl-hotline"))
        .await
        .unwrap();
    let before = listener.admitted("nl-police").await;
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, NetEvent::InboundRequest { .. })),
        "{before:?}"
    );
    honest_node.admitted("nl-hotline").await;
    let (from, request) = {
        let handle = honest_node.handle.clone();
        let request = tokio::spawn(async move {
            handle
                .request(&agency("nl-hotline"), b"honest".to_vec())
                .await
        });
        let served = listener.serve_one(b"ok").await;
        assert_eq!(request.await.unwrap().unwrap(), b"ok");
        served
    };
    assert_eq!(
        (from.as_str(), request.as_slice()),
        ("nl-police", &b"honest"[..])
    );
    listener.stop().await;
    honest_node.stop().await;
}

#[tokio::test]
async fn a_peer_naming_another_agency_than_configured_is_refused() {
    let fed = federation(1, "Test Federation");
    let listener = start(&honest(&fed, 10, "nl-hotline"), test_config()).await;
    let mut dialer = start(&honest(&fed, 11, "nl-police"), test_config()).await;
    dialer
        .handle
        .add_peer(listener.addr.clone(), agency("de-hotline"))
        .await
        .unwrap();
    let reason = dialer.refused(listener.handle.local_peer_id()).await;
    assert!(
        reason.contains("names agency nl-hotline, but this peer was configured as de-hotline"),
        "{reason}"
    );
    listener.stop().await;
    dialer.stop().await;
}

#[tokio::test]
async fn an_oversized_frame_is_refused_and_the_listener_carries_on() {
    let fed = federation(1, "Test Federation");
    let config = NetConfig {
        max_frame_bytes: 1024,
        ..test_config()
    };
    let mut listener = start(&honest(&fed, 10, "nl-hotline"), config).await;
    let mut client = start(&honest(&fed, 11, "nl-police"), test_config()).await;
    client
        .handle
        .add_peer(listener.addr.clone(), agency("nl-hotline"))
        .await
        .unwrap();
    listener.admitted("nl-police").await;
    client.admitted("nl-hotline").await;

    let error = client
        .handle
        .request(&agency("nl-hotline"), vec![7; 4096])
        .await
        .unwrap_err();
    assert!(matches!(error, NetError::Failure(_)), "{error}");
    // The listener's application saw nothing of it and still serves.
    let response = round_trip(&client.handle, &mut listener, "nl-hotline", b"small").await;
    assert_eq!(response, b"pong");
    listener.stop().await;
    client.stop().await;
}

#[tokio::test]
async fn revoking_an_admitted_peer_disconnects_it() {
    let fed = federation(1, "Test Federation");
    let police_identity = honest(&fed, 11, "nl-police");
    let mut hotline = start(&honest(&fed, 10, "nl-hotline"), test_config()).await;
    let mut police = start(&police_identity, test_config()).await;
    police
        .handle
        .add_peer(hotline.addr.clone(), agency("nl-hotline"))
        .await
        .unwrap();
    hotline.admitted("nl-police").await;
    police.admitted("nl-hotline").await;

    let crl_pem = create_crl(
        &fed.authority,
        &fed.root_pem,
        &[Revocation {
            serial: safeport_protocol::pki::certificate_serial(&police_identity.certificate_pem)
                .unwrap(),
            revoked_at: Timestamp::from_secs(START + 3600),
            reason: RevocationReason::KeyCompromise,
        }],
        1,
        Timestamp::from_secs(START + 3600),
        Timestamp::from_secs(START + 7 * 86_400),
    )
    .unwrap();
    let crl = Crl::from_pem(&crl_pem, std::slice::from_ref(&fed.anchor)).unwrap();
    hotline
        .handle
        .update_trust(vec![fed.anchor.clone()], Some(crl))
        .await
        .unwrap();
    let reason = hotline.refused(police.handle.local_peer_id()).await;
    assert!(reason.contains("was revoked"), "{reason}");
    loop {
        if let NetEvent::PeerDisconnected { agency: gone } = police.next_event().await {
            assert_eq!(gone, agency("nl-hotline"));
            break;
        }
    }
    let error = hotline
        .handle
        .request(&agency("nl-police"), b"?".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(error, NetError::NotAdmitted(_)), "{error}");
    hotline.stop().await;
    police.stop().await;
}

#[tokio::test]
async fn a_configured_peer_is_redialled_after_a_restart() {
    let fed = federation(1, "Test Federation");
    let hotline_identity = honest(&fed, 10, "nl-hotline");
    let hotline = start(&hotline_identity, test_config()).await;
    let mut police = start(&honest(&fed, 11, "nl-police"), test_config()).await;
    police
        .handle
        .add_peer(hotline.addr.clone(), agency("nl-hotline"))
        .await
        .unwrap();
    police.admitted("nl-hotline").await;

    let addr = hotline.addr.clone();
    hotline.stop().await;
    loop {
        if let NetEvent::PeerDisconnected { agency: gone } = police.next_event().await {
            assert_eq!(gone, agency("nl-hotline"));
            break;
        }
    }
    let config = NetConfig {
        listen: vec![addr.clone()],
        ..test_config()
    };
    let mut hotline = start(&hotline_identity, config).await;
    assert_eq!(hotline.addr, addr);
    police.admitted("nl-hotline").await;
    hotline.admitted("nl-police").await;
    let response = round_trip(&police.handle, &mut hotline, "nl-hotline", b"again").await;
    assert_eq!(response, b"pong");
    hotline.stop().await;
    police.stop().await;
}

#[tokio::test]
async fn peers_added_on_both_sides_are_admitted_once() {
    let fed = federation(1, "Test Federation");
    let mut hotline = start(&honest(&fed, 10, "nl-hotline"), test_config()).await;
    let mut police = start(&honest(&fed, 11, "nl-police"), test_config()).await;
    let (hotline_addr, police_addr) = (hotline.addr.clone(), police.addr.clone());
    let (a, b) = tokio::join!(
        police.handle.add_peer(hotline_addr, agency("nl-hotline")),
        hotline.handle.add_peer(police_addr, agency("nl-police")),
    );
    a.unwrap();
    b.unwrap();
    hotline.admitted("nl-police").await;
    police.admitted("nl-hotline").await;
    // A request is the next event: no second admission was reported in between.
    let response = round_trip(&police.handle, &mut hotline, "nl-hotline", b"both").await;
    assert_eq!(response, b"pong");
    let response = round_trip(&hotline.handle, &mut police, "nl-police", b"ways").await;
    assert_eq!(response, b"pong");
    hotline.stop().await;
    police.stop().await;
}

#[tokio::test]
async fn invalid_configurations_are_refused() {
    let fed = federation(1, "Test Federation");
    let identity = honest(&fed, 10, "nl-hotline");
    for config in [
        NetConfig {
            max_frame_bytes: 0,
            ..test_config()
        },
        NetConfig {
            redial_backoff_min: Duration::from_secs(2),
            redial_backoff_max: Duration::from_secs(1),
            ..test_config()
        },
    ] {
        let error = spawn(&identity, config, test_now).await.unwrap_err();
        assert!(matches!(error, NetError::Config(_)), "{error}");
    }
    // QUIC addresses need QUIC.
    let config = NetConfig {
        listen: vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()],
        ..test_config()
    };
    let error = spawn(&identity, config, test_now).await.unwrap_err();
    assert!(matches!(error, NetError::Listen { .. }), "{error}");
}

#[tokio::test]
async fn shutdown_ends_the_task_and_later_calls_fail() {
    let fed = federation(1, "Test Federation");
    let node = start(&honest(&fed, 10, "nl-hotline"), test_config()).await;
    let handle = node.handle.clone();
    node.stop().await;
    assert!(matches!(handle.peers().await, Err(NetError::Stopped)));
    // Shutting down twice is fine.
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn quic_carries_admission_and_requests_when_enabled() {
    let fed = federation(1, "Test Federation");
    let quic = || NetConfig {
        listen: vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()],
        enable_quic: true,
        ..test_config()
    };
    let mut hotline = start(&honest(&fed, 10, "nl-hotline"), quic()).await;
    let mut police = start(&honest(&fed, 11, "nl-police"), quic()).await;
    police
        .handle
        .add_peer(hotline.addr.clone(), agency("nl-hotline"))
        .await
        .unwrap();
    hotline.admitted("nl-police").await;
    police.admitted("nl-hotline").await;
    let response = round_trip(&police.handle, &mut hotline, "nl-hotline", b"quic").await;
    assert_eq!(response, b"pong");
    hotline.stop().await;
    police.stop().await;
}
