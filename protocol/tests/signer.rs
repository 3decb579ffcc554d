//! Certificates as signers of records across a node key rotation: the validity window is
//! judged at the record's creation time, a certificate retired as superseded (or out of
//! operation) still signs what was made before its retirement, and one revoked for a
//! compromise (or without a reason) signs nothing; connections stay strict.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use safeport_protocol::pki::{
    AgencySigners, AgencySubject, CertError, CertPolicy, Crl, Revocation, RevocationReason,
    TrustAnchor, Validity, canonical_pem, certificate_facts, create_crl, create_root,
    issue_agency_certificate, verify_agency_certificate, verify_signer_certificate,
};
use safeport_protocol::{NodeKey, RawRecord, Role, Signed, Timestamp};

const START: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(START + secs)
}

struct Authority {
    key: NodeKey,
    root: String,
    anchor: TrustAnchor,
}

fn authority() -> Authority {
    let key = key(90);
    let root = create_root(
        &key,
        "Signer Federation",
        Validity::days_from(at(0), 3650),
        [90; 16],
    )
    .unwrap();
    let anchor = TrustAnchor::from_pem(&root).unwrap();
    Authority { key, root, anchor }
}

fn certificate(ca: &Authority, node: &NodeKey, validity: Validity, serial: u8) -> String {
    issue_agency_certificate(
        &ca.key,
        &ca.root,
        &AgencySubject {
            agency: agency("nl-hotline"),
            role: Role::Hotline,
            country: country("NL"),
            organisation: "Test Hotline NL".into(),
        },
        &node.public(),
        validity,
        [serial; 16],
    )
    .unwrap()
}

fn crl(ca: &Authority, pem: &str, reason: RevocationReason, revoked_at: Timestamp) -> Crl {
    let serial = certificate_facts(pem).unwrap().serial;
    let crl = create_crl(
        &ca.key,
        &ca.root,
        &[Revocation {
            serial,
            revoked_at,
            reason,
        }],
        1,
        revoked_at,
        Timestamp::from_secs(revoked_at.as_secs() + 365 * DAY),
    )
    .unwrap();
    Crl::from_pem(&crl, std::slice::from_ref(&ca.anchor)).unwrap()
}

fn record(node: &NodeKey, made: Timestamp) -> RawRecord {
    let report = report(
        Some("NL"),
        &[item(1, safeport_protocol::Classification::Baseline)],
    );
    Signed::sign(node, agency("nl-hotline"), 1, made, report)
        .unwrap()
        .raw()
        .clone()
}

/// Whether `signers` accept `record` as signed by its originator.
fn accepts(signers: &AgencySigners, record: &RawRecord) -> bool {
    signers
        .signing_at(record.header().created_at)
        .any(|signer| record.verify_prepared(&signer.key).is_ok())
}

#[test]
fn records_outlive_the_certificate_that_signed_them() {
    let ca = authority();
    let old_key = key(1);
    let new_key = key(2);
    // The first year's certificate, and the rotated key's from day 300.
    let old = certificate(&ca, &old_key, Validity::days_from(at(0), 365), 1);
    let new = certificate(&ca, &new_key, Validity::days_from(at(300 * DAY), 365), 2);
    // Day 400: the old certificate has expired.
    let now = at(400 * DAY);
    let anchors = std::slice::from_ref(&ca.anchor);
    let policy = CertPolicy::default();
    assert!(matches!(
        verify_agency_certificate(&old, anchors, &[], now, &policy),
        Err(CertError::Expired { .. })
    ));
    let old_signer = verify_signer_certificate(&old, anchors, &[], now, &policy).unwrap();
    let new_signer = verify_signer_certificate(&new, anchors, &[], now, &policy).unwrap();
    assert!(new_signer.is_newer_than(&certificate_facts(&old).unwrap()));
    assert!(!old_signer.is_newer_than(&certificate_facts(&new).unwrap()));
    let mut signers = AgencySigners::default();
    signers.add(&old_signer);
    signers.add(&new_signer);
    // The same certificate twice is one signer.
    signers.add(&old_signer);
    assert_eq!(signers.signing_at(at(310 * DAY)).count(), 2);

    // Made on day 10 under the old key: accepted although its certificate has expired.
    assert!(accepts(&signers, &record(&old_key, at(10 * DAY))));
    // Made on day 350 under either key: both certificates were valid then.
    assert!(accepts(&signers, &record(&old_key, at(350 * DAY))));
    assert!(accepts(&signers, &record(&new_key, at(350 * DAY))));
    // Made on day 390 under the old key: its certificate had already expired.
    assert!(!accepts(&signers, &record(&old_key, at(390 * DAY))));
    // Made on day 10 under the new key: its certificate did not exist yet.
    assert!(!accepts(&signers, &record(&new_key, at(10 * DAY))));
    // A key never certified signs nothing.
    assert!(!accepts(&signers, &record(&key(3), at(350 * DAY))));
}

#[test]
fn a_retired_certificate_signs_only_what_came_before_its_retirement() {
    let ca = authority();
    let old_key = key(1);
    let old = certificate(&ca, &old_key, Validity::days_from(at(0), 365), 1);
    let anchors = std::slice::from_ref(&ca.anchor);
    let policy = CertPolicy::default();
    let now = at(200 * DAY);
    for reason in [
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
    ] {
        let crls = [crl(&ca, &old, reason, at(100 * DAY))];
        // It can no longer connect.
        assert!(matches!(
            verify_agency_certificate(&old, anchors, &crls, now, &policy),
            Err(CertError::Revoked { .. })
        ));
        // It still signs what was made before day 100.
        let signer = verify_signer_certificate(&old, anchors, &crls, now, &policy).unwrap();
        assert_eq!(signer.retired_at, Some(at(100 * DAY)));
        assert!(signer.signs_at(at(99 * DAY)));
        assert!(!signer.signs_at(at(100 * DAY)));
        let mut signers = AgencySigners::default();
        signers.add(&signer);
        assert!(accepts(&signers, &record(&old_key, at(50 * DAY))));
        assert!(!accepts(&signers, &record(&old_key, at(150 * DAY))));
    }
}

#[test]
fn a_compromised_certificate_signs_nothing() {
    let ca = authority();
    let old_key = key(1);
    let old = certificate(&ca, &old_key, Validity::days_from(at(0), 365), 1);
    let anchors = std::slice::from_ref(&ca.anchor);
    for reason in [
        RevocationReason::KeyCompromise,
        RevocationReason::Unspecified,
    ] {
        let crls = [crl(&ca, &old, reason, at(100 * DAY))];
        assert!(matches!(
            verify_signer_certificate(&old, anchors, &crls, at(200 * DAY), &CertPolicy::default()),
            Err(CertError::Revoked { .. })
        ));
    }
}

#[test]
fn revocation_reasons_survive_the_crl_and_openssl_reads_them() {
    let ca = authority();
    let pem = certificate(&ca, &key(1), Validity::days_from(at(0), 365), 1);
    for reason in RevocationReason::ALL {
        assert_eq!(RevocationReason::parse(reason.as_str()), Some(reason));
        assert_eq!(RevocationReason::from_code(reason.code()), reason);
    }
    // Codes Safeport does not tell apart read strictly.
    assert_eq!(
        RevocationReason::from_code(Some(2)),
        RevocationReason::Unspecified
    );
    // What the authority issues is already canonical; padding and line breaks are not kept.
    assert_eq!(canonical_pem(&pem).unwrap(), pem);
    assert_eq!(
        canonical_pem(&format!("\n{}\n\n", pem.replace('\n', "\r\n"))).unwrap(),
        pem
    );
    let serial = certificate_facts(&pem).unwrap().serial;
    let crl_pem = create_crl(
        &ca.key,
        &ca.root,
        &[Revocation {
            serial,
            revoked_at: at(DAY),
            reason: RevocationReason::Superseded,
        }],
        7,
        at(DAY),
        at(30 * DAY),
    )
    .unwrap();
    let out = openssl_with_input(&["crl", "-noout", "-text"], &crl_pem);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Superseded"), "{text}");
}
