//! Federation certificates: a valid chain is accepted, and each way a certificate can be wrong
//! is rejected with its own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use safeport_protocol::pki::{
    AgencySubject, CertError, CertPolicy, Crl, IssueError, Revocation, TrustAnchor, Validity,
    create_crl, create_root, issue_agency_certificate, verify_agency_certificate,
};
use safeport_protocol::{NodeKey, Role, Timestamp};

const START: u64 = 1_800_000_000;

fn now() -> Timestamp {
    Timestamp::from_secs(START + 86_400)
}

struct Federation {
    authority: NodeKey,
    root_pem: String,
    anchor: TrustAnchor,
}

fn federation(seed: u8, name: &str) -> Federation {
    let authority = key(seed);
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

fn subject(role: Role) -> AgencySubject {
    AgencySubject {
        agency: agency("nl-hotline"),
        role,
        country: country("NL"),
        organisation: "Test Hotline NL".into(),
    }
}

fn issue(fed: &Federation, node: &NodeKey, role: Role, validity: Validity, serial: u8) -> String {
    issue_agency_certificate(
        &fed.authority,
        &fed.root_pem,
        &subject(role),
        &node.public(),
        validity,
        [serial; 16],
    )
    .unwrap()
}

fn year() -> Validity {
    Validity::days_from(Timestamp::from_secs(START), 365)
}

fn verify(
    fed: &Federation,
    pem: &str,
    crls: &[Crl],
    policy: &CertPolicy,
) -> Result<Role, CertError> {
    verify_agency_certificate(pem, std::slice::from_ref(&fed.anchor), crls, now(), policy)
        .map(|identity| identity.subject.role)
}

#[test]
fn a_valid_chain_is_accepted_with_its_fields() {
    let fed = federation(100, "Test Federation");
    let node = key(1);
    let pem = issue(&fed, &node, Role::Hotline, year(), 7);
    let identity = verify_agency_certificate(
        &pem,
        std::slice::from_ref(&fed.anchor),
        &[],
        now(),
        &CertPolicy {
            allowed_roles: vec![Role::Hotline],
            expected_key: Some(node.public()),
        },
    )
    .unwrap();
    assert_eq!(identity.subject, subject(Role::Hotline));
    assert_eq!(identity.key, node.public());
    assert_eq!(identity.issuer, "Test Federation");
    assert_eq!(identity.serial.len(), 32);
}

#[test]
fn expired_and_not_yet_valid_are_rejected() {
    let fed = federation(100, "Test Federation");
    let past = Validity {
        not_before: Timestamp::from_secs(START - 1000),
        not_after: Timestamp::from_secs(START),
    };
    let future = Validity::days_from(Timestamp::from_secs(START + 10 * 86_400), 30);
    let expired = issue(&fed, &key(1), Role::Hotline, past, 1);
    let early = issue(&fed, &key(1), Role::Hotline, future, 2);
    assert!(matches!(
        verify(&fed, &expired, &[], &CertPolicy::default()),
        Err(CertError::Expired { .. })
    ));
    assert!(matches!(
        verify(&fed, &early, &[], &CertPolicy::default()),
        Err(CertError::NotYetValid { .. })
    ));
}

#[test]
fn another_root_and_self_signed_are_rejected() {
    let ours = federation(100, "Test Federation");
    let theirs = federation(101, "Other Federation");
    let foreign = issue(&theirs, &key(1), Role::Hotline, year(), 1);
    assert!(matches!(
        verify(&ours, &foreign, &[], &CertPolicy::default()),
        Err(CertError::UnknownIssuer { .. })
    ));
    // Same root name but another key: the name matches, the signature does not.
    let impostor = federation(102, "Test Federation");
    let forged = issue(&impostor, &key(1), Role::Hotline, year(), 1);
    assert_eq!(
        verify(&ours, &forged, &[], &CertPolicy::default()),
        Err(CertError::BadSignature("agency certificate"))
    );
    // A self-signed certificate (a root presented as an agency certificate).
    let self_signed = create_root(&key(1), "nl-hotline", year(), [1; 16]).unwrap();
    assert!(matches!(
        verify(&ours, &self_signed, &[], &CertPolicy::default()),
        Err(CertError::UnknownIssuer { .. })
    ));
}

#[test]
fn revoked_is_rejected_and_a_stale_crl_fails_closed() {
    let fed = federation(100, "Test Federation");
    let pem = issue(&fed, &key(1), Role::Hotline, year(), 9);
    let other = issue(&fed, &key(2), Role::Hotline, year(), 10);
    let serial = verify_agency_certificate(
        &pem,
        std::slice::from_ref(&fed.anchor),
        &[],
        now(),
        &CertPolicy::default(),
    )
    .unwrap()
    .serial;
    let crl_pem = create_crl(
        &fed.authority,
        &fed.root_pem,
        &[Revocation {
            serial: serial.clone(),
            revoked_at: Timestamp::from_secs(START + 3600),
        }],
        1,
        Timestamp::from_secs(START + 3600),
        Timestamp::from_secs(START + 7 * 86_400),
    )
    .unwrap();
    let crl = Crl::from_pem(&crl_pem, std::slice::from_ref(&fed.anchor)).unwrap();
    assert_eq!(crl.len(), 1);
    assert_eq!(crl.number(), Some("1"));
    assert!(matches!(
        verify(&fed, &pem, std::slice::from_ref(&crl), &CertPolicy::default()),
        Err(CertError::Revoked { serial: s, .. }) if s == serial
    ));
    assert_eq!(
        verify(
            &fed,
            &other,
            std::slice::from_ref(&crl),
            &CertPolicy::default()
        ),
        Ok(Role::Hotline)
    );

    let late = Timestamp::from_secs(START + 8 * 86_400);
    assert!(matches!(
        verify_agency_certificate(
            &other,
            std::slice::from_ref(&fed.anchor),
            &[crl],
            late,
            &CertPolicy::default()
        ),
        Err(CertError::CrlStale { .. })
    ));
}

#[test]
fn a_crl_from_another_root_or_tampered_is_refused() {
    let fed = federation(100, "Test Federation");
    let other = federation(101, "Other Federation");
    let crl_pem = create_crl(
        &other.authority,
        &other.root_pem,
        &[],
        1,
        Timestamp::from_secs(START),
        Timestamp::from_secs(START + 86_400 * 7),
    )
    .unwrap();
    assert!(matches!(
        Crl::from_pem(&crl_pem, std::slice::from_ref(&fed.anchor)),
        Err(CertError::UnknownIssuer { .. })
    ));
    assert!(matches!(
        Crl::from_pem(&fed.root_pem, std::slice::from_ref(&fed.anchor)),
        Err(CertError::Pem { .. })
    ));
}

#[test]
fn wrong_role_and_key_mismatch_are_rejected() {
    let fed = federation(100, "Test Federation");
    let node = key(1);
    let pem = issue(&fed, &node, Role::Lea, year(), 3);
    assert!(matches!(
        verify(
            &fed,
            &pem,
            &[],
            &CertPolicy {
                allowed_roles: vec![Role::Hotline, Role::Interpol],
                expected_key: None
            }
        ),
        Err(CertError::WrongRole {
            found: Role::Lea,
            ..
        })
    ));
    assert!(matches!(
        verify(
            &fed,
            &pem,
            &[],
            &CertPolicy {
                allowed_roles: vec![],
                expected_key: Some(key(2).public())
            }
        ),
        Err(CertError::KeyMismatch { .. })
    ));
    assert_eq!(
        issue_agency_certificate(
            &fed.authority,
            &fed.root_pem,
            &subject(Role::Authority),
            &node.public(),
            year(),
            [1; 16]
        ),
        Err(IssueError::AuthorityRole)
    );
}

#[test]
fn a_root_used_as_agency_certificate_and_garbage_are_rejected() {
    let fed = federation(100, "Test Federation");
    // A second root signed by nobody we trust, presented as a trust anchor, must be self-signed.
    let cert = issue(&fed, &key(1), Role::Hotline, year(), 1);
    assert!(matches!(
        TrustAnchor::from_pem(&cert),
        Err(CertError::BasicConstraints(_))
    ));
    let truncated = &cert[..cert.len() / 2];
    assert!(matches!(
        verify(&fed, truncated, &[], &CertPolicy::default()),
        Err(CertError::Pem { .. })
    ));
    let corrupted = cert.replacen("MII", "MIX", 1);
    assert!(verify(&fed, &corrupted, &[], &CertPolicy::default()).is_err());
    assert!(verify(&fed, "", &[], &CertPolicy::default()).is_err());
    let huge = "A".repeat(100_000);
    assert!(matches!(
        verify(&fed, &huge, &[], &CertPolicy::default()),
        Err(CertError::Pem { .. })
    ));
}
