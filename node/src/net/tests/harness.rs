//! The network tests' harness: an in-memory test federation (root, CRL, agency certificates),
//! node identities honest and otherwise, and swarms started on loopback with helpers that wait
//! for their events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use safeport_protocol::pki::{
    AgencyIdentity, AgencySubject, Crl, TrustAnchor, Validity, create_root,
    issue_agency_certificate,
};
use safeport_protocol::{AgencyId, Country, NodeKey, PublicKey, Role, Timestamp};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::identity::{NodeIdentity, NodeInfo};
use crate::net::*;

/// Safety bound on every wait for an event.
pub(super) const WAIT: Duration = Duration::from_secs(30);
pub(super) const START: u64 = 1_800_000_000;

/// The tests' clock: one day into the federation's life.
pub(super) fn test_now() -> Timestamp {
    Timestamp::from_secs(START + 86_400)
}

pub(super) fn year() -> Validity {
    Validity::days_from(Timestamp::from_secs(START), 365)
}

pub(super) struct Federation {
    pub(super) authority: NodeKey,
    pub(super) root_pem: String,
    pub(super) anchor: TrustAnchor,
}

pub(super) fn federation(seed: u8, name: &str) -> Federation {
    let authority = NodeKey::from_seed([seed; 32]);
    let root_pem = create_root(
        &authority,
        name,
        Validity::days_from(Timestamp::from_secs(START), 3650),
        [seed; 16],
    )
    .unwrap();
    let anchor = TrustAnchor::from_pem(&root_pem).unwrap();
    Federation {
        authority,
        root_pem,
        anchor,
    }
}

pub(super) fn agency(id: &str) -> AgencyId {
    AgencyId::new(id).unwrap()
}

pub(super) fn subject(id: &str, role: Role) -> AgencySubject {
    AgencySubject {
        agency: agency(id),
        role,
        country: Country::new("NL").unwrap(),
        organisation: format!("Test agency {id}"),
    }
}

/// A certificate from `fed` for `key` (serial derived from `serial`).
pub(super) fn certificate(
    fed: &Federation,
    id: &str,
    key: &PublicKey,
    validity: Validity,
    serial: u8,
) -> String {
    issue_agency_certificate(
        &fed.authority,
        &fed.root_pem,
        &subject(id, Role::Hotline),
        key,
        validity,
        [serial; 16],
    )
    .unwrap()
}

/// A node identity trusting `trust` (and `crl`), presenting `certificate_pem`. The verified
/// `certificate` field is made up: the network layer only presents the PEM.
pub(super) fn node_identity(
    seed: u8,
    id: &str,
    certificate_pem: String,
    trust: &Federation,
    crl: Option<Crl>,
) -> NodeIdentity {
    let key = NodeKey::from_seed([seed; 32]);
    NodeIdentity {
        info: NodeInfo {
            agency_id: id.into(),
            role: "hotline".into(),
            country: "NL".into(),
        },
        certificate: AgencyIdentity {
            subject: subject(id, Role::Hotline),
            key: key.public(),
            serial: "0".into(),
            validity: year(),
            issuer: "test".into(),
        },
        certificate_pem,
        key: Arc::new(key),
        anchors: vec![trust.anchor.clone()],
        crl,
        development: false,
    }
}

/// An honest node of `fed`.
pub(super) fn honest(fed: &Federation, seed: u8, id: &str) -> NodeIdentity {
    let key = NodeKey::from_seed([seed; 32]).public();
    node_identity(
        seed,
        id,
        certificate(fed, id, &key, year(), seed),
        fed,
        None,
    )
}

pub(super) fn loopback() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().unwrap()
}

pub(super) fn test_config() -> NetConfig {
    NetConfig {
        listen: vec![loopback()],
        redial_backoff_min: Duration::from_millis(50),
        redial_backoff_max: Duration::from_millis(500),
        ..NetConfig::default()
    }
}

pub(super) struct Node {
    pub(super) handle: NetHandle,
    pub(super) events: mpsc::Receiver<NetEvent>,
    pub(super) task: JoinHandle<()>,
    pub(super) addr: Multiaddr,
}

pub(super) async fn start(identity: &NodeIdentity, config: NetConfig) -> Node {
    let (handle, events, task) = spawn(identity, config, test_now).await.unwrap();
    let addr = handle.listen_addrs().await.unwrap().remove(0);
    Node {
        handle,
        events,
        task,
        addr,
    }
}

impl Node {
    pub(super) async fn next_event(&mut self) -> NetEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("timed out waiting for a network event")
            .expect("the event channel closed")
    }

    /// Waits for `agency` to be admitted, returning the events seen before.
    pub(super) async fn admitted(&mut self, id: &str) -> Vec<NetEvent> {
        let mut before = Vec::new();
        loop {
            match self.next_event().await {
                NetEvent::PeerAdmitted { identity, .. }
                    if identity.subject.agency.as_str() == id =>
                {
                    return before;
                }
                other => before.push(other),
            }
        }
    }

    /// Waits for a refusal of `peer_id`, returning its reason.
    pub(super) async fn refused(&mut self, peer_id: PeerId) -> String {
        loop {
            match self.next_event().await {
                NetEvent::PeerRefused { peer_id: p, reason } if p == peer_id => return reason,
                NetEvent::InboundRequest { from, .. } => panic!("unexpected request from {from}"),
                _ => {}
            }
        }
    }

    /// Answers the next inbound request with `response`, returning who sent what. Any other
    /// event before it fails the test.
    pub(super) async fn serve_one(&mut self, response: &[u8]) -> (AgencyId, Vec<u8>) {
        match self.next_event().await {
            NetEvent::InboundRequest {
                from,
                request,
                reply,
            } => {
                reply.send(response.to_vec()).unwrap();
                (from, request)
            }
            other => panic!("expected a request, got {other:?}"),
        }
    }

    pub(super) async fn stop(self) {
        self.handle.shutdown().await.unwrap();
        tokio::time::timeout(WAIT, self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

impl NetHandle {
    /// Sends a sync request to `peer_id` at `addr` without checking admission (dialling if
    /// needed), as a misbehaving node would.
    pub(super) async fn raw_request(
        &self,
        peer_id: PeerId,
        addr: Multiaddr,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        self.call(WAIT, |reply| Command::RawRequest {
            peer_id,
            addr,
            body,
            reply,
        })
        .await?
    }
}

/// `requester` asks `agency` while `server` answers; returns the response.
pub(super) async fn round_trip(
    requester: &NetHandle,
    server: &mut Node,
    id: &str,
    body: &[u8],
) -> Vec<u8> {
    let request = {
        let requester = requester.clone();
        let body = body.to_vec();
        let agency = agency(id);
        tokio::spawn(async move { requester.request(&agency, body).await })
    };
    let (_, received) = server.serve_one(b"pong").await;
    assert_eq!(received, body);
    request.await.unwrap().unwrap()
}
