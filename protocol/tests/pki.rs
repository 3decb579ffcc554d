//! Federation certificates: a valid chain is accepted, and each way a certificate can be wrong
//! is rejected with its own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use proptest::prelude::*;
use safeport_protocol::pki::{
    AgencySubject, CertError, CertPolicy, Contact, ContactError, Crl, IssueError, Revocation,
    RevocationReason, TrustAnchor, Validity, certificate_contact, create_crl, create_root,
    issue_agency_certificate, issue_agency_certificate_with_contact, verify_agency_certificate,
    verify_agency_certificate_with_contact,
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
            reason: RevocationReason::KeyCompromise,
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

// Contact fields: emails and a URL in subjectAltName, a phone as the subject's telephoneNumber.

fn contact() -> Contact {
    Contact {
        emails: vec![
            "hotline@nl-hotline.example".into(),
            "duty-officer@nl-hotline.example".into(),
        ],
        phone: Some("+31 20 555 0100".into()),
        url: Some("https://nl-hotline.example/contact".into()),
    }
}

fn issue_with(fed: &Federation, contact: &Contact) -> Result<String, IssueError> {
    issue_agency_certificate_with_contact(
        &fed.authority,
        &fed.root_pem,
        &subject(Role::Hotline),
        contact,
        &key(1).public(),
        year(),
        [5; 16],
    )
}

fn verify_contact(fed: &Federation, pem: &str) -> Result<Contact, CertError> {
    verify_agency_certificate_with_contact(
        pem,
        std::slice::from_ref(&fed.anchor),
        &[],
        now(),
        &CertPolicy::default(),
    )
    .map(|verified| verified.contact)
}

#[test]
fn contact_fields_round_trip_through_issue_and_verify() {
    let fed = federation(100, "Test Federation");
    let pem = issue_with(&fed, &contact()).unwrap();
    let verified = verify_agency_certificate_with_contact(
        &pem,
        std::slice::from_ref(&fed.anchor),
        &[],
        now(),
        &CertPolicy {
            allowed_roles: vec![Role::Hotline],
            expected_key: Some(key(1).public()),
        },
    )
    .unwrap();
    assert_eq!(verified.contact, contact());
    assert_eq!(verified.identity.subject, subject(Role::Hotline));
    // The identity-only verification sees the same certificate the same way.
    assert_eq!(
        verify_agency_certificate(
            &pem,
            std::slice::from_ref(&fed.anchor),
            &[],
            now(),
            &CertPolicy::default()
        )
        .unwrap(),
        verified.identity
    );
    assert_eq!(certificate_contact(&pem).unwrap(), contact());

    // Each field on its own.
    for only in [
        Contact {
            emails: vec!["hotline@nl-hotline.example".into()],
            ..Contact::default()
        },
        Contact {
            phone: Some("+31 20 555 0100".into()),
            ..Contact::default()
        },
        Contact {
            url: Some("https://nl-hotline.example/".into()),
            ..Contact::default()
        },
    ] {
        let pem = issue_with(&fed, &only).unwrap();
        assert_eq!(verify_contact(&fed, &pem).unwrap(), only);
    }
}

#[test]
fn a_certificate_without_contact_is_unchanged_and_still_verifies() {
    let fed = federation(100, "Test Federation");
    let plain = issue(&fed, &key(1), Role::Hotline, year(), 5);
    // Same inputs, no contact: byte for byte the certificate issued before contact fields.
    assert_eq!(issue_with(&fed, &Contact::default()).unwrap(), plain);
    assert_eq!(verify_contact(&fed, &plain).unwrap(), Contact::default());
    assert_eq!(certificate_contact(&plain).unwrap(), Contact::default());
    assert_eq!(
        verify(&fed, &plain, &[], &CertPolicy::default()),
        Ok(Role::Hotline)
    );
}

#[test]
fn bad_contact_values_are_refused_at_issue_time() {
    let fed = federation(100, "Test Federation");
    let cases = [
        Contact {
            emails: vec!["not-an-address".into()],
            ..Contact::default()
        },
        Contact {
            emails: vec!["hotline@bücher.example".into()],
            ..Contact::default()
        },
        Contact {
            emails: (0..5).map(|i| format!("desk{i}@nl.example")).collect(),
            ..Contact::default()
        },
        Contact {
            emails: vec!["a@nl.example".into(), "A@nl.example".into()],
            ..Contact::default()
        },
        Contact {
            phone: Some("call the front desk".into()),
            ..Contact::default()
        },
        Contact {
            phone: Some("+31 20 555 0100 / +31 20 555 0101 / +31".into()),
            ..Contact::default()
        },
        Contact {
            url: Some("http://nl-hotline.example/".into()),
            ..Contact::default()
        },
        Contact {
            url: Some(format!("https://nl-hotline.example/{}", "x".repeat(300))),
            ..Contact::default()
        },
    ];
    for bad in cases {
        let refused = issue_with(&fed, &bad);
        assert!(
            matches!(
                refused,
                Err(IssueError::Contact(
                    ContactError::Email { .. }
                        | ContactError::TooManyEmails { count: 5 }
                        | ContactError::DuplicateEmail(_)
                        | ContactError::Phone { .. }
                        | ContactError::Url { .. }
                ))
            ),
            "{bad:?}: {refused:?}"
        );
        assert!(!refused.unwrap_err().to_string().is_empty());
    }
}

/// Signs with the authority's key through rcgen, for certificates the issuing code would
/// never make (as a compromised or buggy authority might).
struct RawSigner<'a>(&'a NodeKey, [u8; 32]);

impl rcgen::PublicKeyData for RawSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.1
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for RawSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.0.sign(msg).0.to_vec())
    }
}

/// A certificate signed by the federation root with the agency fields and then whatever
/// `tamper` adds.
fn signed_raw(fed: &Federation, tamper: impl FnOnce(&mut rcgen::CertificateParams)) -> String {
    use rcgen::{DnType, IsCa, Issuer, KeyUsagePurpose};
    let issuer = Issuer::from_ca_cert_pem(
        &fed.root_pem,
        RawSigner(&fed.authority, fed.authority.public().0),
    )
    .unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "nl-hotline");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Test Hotline NL");
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, "hotline");
    params.distinguished_name.push(DnType::CountryName, "NL");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // rcgen is built without its own crypto here, so serial and key id are given.
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x41; 16]));
    params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(vec![0x42; 20]);
    params.not_before = time::OffsetDateTime::from_unix_timestamp(START as i64).unwrap();
    params.not_after = params.not_before + time::Duration::days(365);
    tamper(&mut params);
    let node = key(1);
    params
        .signed_by(&RawSigner(&node, node.public().0), &issuer)
        .unwrap()
        .pem()
}

#[test]
fn unexpected_or_malformed_contact_values_in_a_signed_certificate_are_refused() {
    use rcgen::{DnType, DnValue, SanType};
    let fed = federation(100, "Test Federation");
    let ia5 = |s: &str| rcgen::string::Ia5String::try_from(s).unwrap();
    let phone = || DnType::CustomDnType(vec![2, 5, 4, 20]);

    // The harness itself makes certificates that verify.
    let baseline = signed_raw(&fed, |p| {
        p.subject_alt_names = vec![SanType::Rfc822Name(ia5("hotline@nl-hotline.example"))];
    });
    assert_eq!(
        verify_contact(&fed, &baseline).unwrap().emails,
        vec!["hotline@nl-hotline.example".to_owned()]
    );

    let field_errors: Vec<(&str, String)> = vec![
        (
            "a DNS name",
            signed_raw(&fed, |p| {
                p.subject_alt_names = vec![SanType::DnsName(ia5("nl-hotline.example"))];
            }),
        ),
        (
            "an IP address",
            signed_raw(&fed, |p| {
                p.subject_alt_names = vec![SanType::IpAddress([192, 0, 2, 1].into())];
            }),
        ),
        (
            "two URIs",
            signed_raw(&fed, |p| {
                p.subject_alt_names = vec![
                    SanType::URI(ia5("https://nl-hotline.example/")),
                    SanType::URI(ia5("https://elsewhere.example/")),
                ];
            }),
        ),
        (
            "a repeated subjectAltName extension",
            signed_raw(&fed, |p| {
                p.subject_alt_names = vec![SanType::Rfc822Name(ia5("a@nl.example"))];
                // SEQUENCE { [1] IA5String "b@nl.example" }: a second SAN with another email.
                let mut san = vec![0x30, 14, 0x81, 12];
                san.extend_from_slice(b"b@nl.example");
                p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
                    &[2, 5, 29, 17],
                    san,
                )];
            }),
        ),
        (
            "a UTF8String phone",
            signed_raw(&fed, |p| {
                p.distinguished_name
                    .push(phone(), DnValue::Utf8String("+31 20 555 0100".into()));
            }),
        ),
    ];
    for (what, pem) in &field_errors {
        for result in [verify_contact(&fed, pem), certificate_contact(pem)] {
            assert!(
                matches!(result, Err(CertError::Field { .. })),
                "{what}: {result:?}"
            );
        }
    }

    let value_errors: Vec<(&str, String)> = vec![
        (
            "an implausible email",
            signed_raw(&fed, |p| {
                p.subject_alt_names = vec![SanType::Rfc822Name(ia5("root@localhost"))];
            }),
        ),
        (
            "an http URI",
            signed_raw(&fed, |p| {
                p.subject_alt_names = vec![SanType::URI(ia5("http://nl-hotline.example/"))];
            }),
        ),
        (
            "five emails",
            signed_raw(&fed, |p| {
                p.subject_alt_names = (0..5)
                    .map(|i| SanType::Rfc822Name(ia5(&format!("desk{i}@nl.example"))))
                    .collect();
            }),
        ),
        (
            "a phone with no digits",
            signed_raw(&fed, |p| {
                let value = rcgen::string::PrintableString::try_from("no phone").unwrap();
                p.distinguished_name
                    .push(phone(), DnValue::PrintableString(value));
            }),
        ),
        (
            "an overlong phone",
            signed_raw(&fed, |p| {
                let value = rcgen::string::PrintableString::try_from("1".repeat(33)).unwrap();
                p.distinguished_name
                    .push(phone(), DnValue::PrintableString(value));
            }),
        ),
    ];
    for (what, pem) in &value_errors {
        for result in [verify_contact(&fed, pem), certificate_contact(pem)] {
            assert!(
                matches!(result, Err(CertError::Contact(_))),
                "{what}: {result:?}"
            );
        }
        // The identity-only verification refuses it too: a node never trusts half of it.
        assert!(
            verify(&fed, pem, &[], &CertPolicy::default()).is_err(),
            "{what}"
        );
    }
}

#[test]
fn openssl_shows_the_contact_fields() {
    let fed = federation(100, "Test Federation");
    let pem = issue_with(&fed, &contact()).unwrap();
    let out = openssl_with_input(&["x509", "-noout", "-text"], &pem);
    let text = String::from_utf8_lossy(&out.stdout);
    // The phone is an attribute of the subject name (openssl quotes it: it starts with '+').
    let subject_line = text
        .lines()
        .find(|line| line.trim_start().starts_with("Subject:"))
        .unwrap_or_default();
    assert!(
        subject_line.contains("telephoneNumber = ") && subject_line.contains("+31 20 555 0100"),
        "{subject_line}"
    );
    for shown in [
        "X509v3 Subject Alternative Name",
        "email:hotline@nl-hotline.example",
        "email:duty-officer@nl-hotline.example",
        "URI:https://nl-hotline.example/contact",
        "CN = nl-hotline",
    ] {
        assert!(
            text.contains(shown),
            "openssl x509 -text lacks {shown:?}:\n{text}"
        );
    }
}

fn arb_contact() -> impl Strategy<Value = Contact> {
    let email =
        "[a-z0-9]{1,12}([._+-][a-z0-9]{1,8})?@[a-z0-9]{1,12}(-[a-z0-9]{1,6})?\\.(example|test)";
    (
        proptest::collection::btree_set(email, 0..=4),
        proptest::option::of("\\+[1-9][0-9]{1,3}( [0-9]{2,4}){1,4}"),
        proptest::option::of("https://[a-z0-9]{1,12}\\.example(/[a-zA-Z0-9._~-]{1,16}){0,3}"),
    )
        .prop_map(|(emails, phone, url)| Contact {
            emails: emails.into_iter().collect(),
            phone,
            url,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any valid contact comes back from verification exactly as issued, and the rest of the
    /// identity is what it is without contact fields.
    #[test]
    fn any_valid_contact_round_trips(contact in arb_contact()) {
        let fed = federation(100, "Test Federation");
        let pem = issue_with(&fed, &contact).unwrap();
        let verified = verify_agency_certificate_with_contact(
            &pem,
            std::slice::from_ref(&fed.anchor),
            &[],
            now(),
            &CertPolicy::default(),
        )
        .unwrap();
        prop_assert_eq!(verified.contact, contact);
        prop_assert_eq!(verified.identity.subject, subject(Role::Hotline));
    }
}
