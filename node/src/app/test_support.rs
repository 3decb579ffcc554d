//! The harness of the domain-layer tests: agencies with real stores and certificates from a
//! test root, admission, pulling every page from one agency to another (`serve_pull` to
//! `ingest_page`, as the network does), the agreement handshake, synthetic reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use safeport_protocol::agreement::AgreementTerms;
use safeport_protocol::pki::{self, AgencySubject, TrustAnchor, Validity};
use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::{AgencyId, Classification, Country, NodeKey, Role, Timestamp};

use super::App;
use super::agreements::AgreementState;
use crate::identity::{NodeIdentity, NodeInfo};
use crate::store::Store;

/// A test federation root: its key (from `seed`) and certificate.
pub(crate) fn test_root(seed: u8) -> (NodeKey, String) {
    let root_key = NodeKey::from_seed([seed; 32]);
    let root_pem = pki::create_root(
        &root_key,
        "Test Federation",
        Validity::days_from(Timestamp::from_secs(1_780_000_000), 3650),
        [seed; 16],
    )
    .unwrap();
    (root_key, root_pem)
}

pub(crate) fn now() -> Timestamp {
    Timestamp::from_secs(1_800_000_000)
}

pub(crate) struct Agency {
    pub(crate) app: App,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) fn agency(
    root_key: &NodeKey,
    root_pem: &str,
    id: &str,
    role: Role,
    country: &str,
    seed: u8,
) -> Agency {
    agency_with_clock(root_key, root_pem, id, role, country, seed, now)
}

/// [`agency`] whose node reads the time from `clock`.
pub(crate) fn agency_with_clock(
    root_key: &NodeKey,
    root_pem: &str,
    id: &str,
    role: Role,
    country: &str,
    seed: u8,
    clock: fn() -> Timestamp,
) -> Agency {
    let key = NodeKey::from_seed([seed; 32]);
    let subject = AgencySubject {
        agency: AgencyId::new(id).unwrap(),
        role,
        country: Country::new(country).unwrap(),
        organisation: format!("Test {id}"),
    };
    let start = Timestamp::from_secs(1_790_000_000);
    let pem = pki::issue_agency_certificate(
        root_key,
        root_pem,
        &subject,
        &key.public(),
        Validity::days_from(start, 3650),
        [seed; 16],
    )
    .unwrap();
    let anchors = vec![TrustAnchor::from_pem(root_pem).unwrap()];
    let certificate =
        pki::verify_agency_certificate(&pem, &anchors, &[], now(), &Default::default()).unwrap();
    let identity = NodeIdentity {
        info: NodeInfo {
            agency_id: id.into(),
            role: role.to_string(),
            country: country.into(),
        },
        certificate,
        certificate_pem: pem,
        key: Arc::new(key),
        anchors,
        crl: None,
        development: false,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    Agency {
        app: App::new(store, Arc::new(identity), clock).unwrap(),
        _dir: dir,
    }
}

/// What admission does: each side learns the other's certificate.
pub(crate) fn admit(a: &Agency, b: &Agency) {
    a.app
        .peer_admitted(b.app.me(), &b.app.identity.certificate_pem)
        .unwrap();
    b.app
        .peer_admitted(a.app.me(), &a.app.identity.certificate_pem)
        .unwrap();
}

/// `to` pulls everything waiting for it at `from`.
pub(crate) fn pull(from: &Agency, to: &Agency) -> super::sync::Ingested {
    let mut total = super::sync::Ingested::default();
    loop {
        let cursor = to.app.store().cursor(from.app.me()).unwrap();
        let page = from.app.serve_pull(to.app.me(), cursor, 100).unwrap();
        let ingested = to.app.ingest_page(from.app.me(), &page).unwrap();
        total.stored += ingested.stored;
        total.duplicates += ingested.duplicates;
        total.rejected += ingested.rejected;
        if !page.more {
            return total;
        }
    }
}

pub(crate) fn agree(
    provider: &Agency,
    recipient: &Agency,
    scope: safeport_protocol::agreement::Scope,
    id: u8,
) {
    let terms = AgreementTerms {
        agreement_id: [id; 16],
        provider: provider.app.me().clone(),
        recipient: recipient.app.me().clone(),
        scope,
        valid_from: Timestamp::from_secs(1_790_000_000),
        valid_until: Timestamp::from_secs(1_900_000_000),
    };
    provider.app.propose_agreement(terms).unwrap();
    pull(provider, recipient);
    let pending = recipient
        .app
        .agreements()
        .get(&[id; 16])
        .unwrap()
        .state
        .clone();
    assert_eq!(
        pending,
        AgreementState::Pending {
            awaiting: recipient.app.me().clone()
        }
    );
    recipient.app.accept_agreement(&[id; 16]).unwrap();
    pull(recipient, provider);
    for side in [provider, recipient] {
        assert_eq!(
            side.app.agreements().get(&[id; 16]).unwrap().state,
            AgreementState::Active
        );
    }
}

pub(crate) fn item(n: u8, classification: Classification) -> MediaItem {
    safeport_tests::fixtures::media_item(u32::from(n), classification)
}

pub(crate) fn report(n: u8, country: &str, items: &[MediaItem]) -> Report {
    safeport_tests::fixtures::report(u32::from(n), country, items)
}
