//! Signed records: golden vectors (any change of the wire encoding fails here), round trips,
//! single-byte mutations and non-canonical encodings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use proptest::prelude::*;
use safeport_protocol::agreement::Agreement;
use safeport_protocol::encoding::{self, EncodingError};
use safeport_protocol::report::Report;
use safeport_protocol::signed::{RecordError, record_id};
use safeport_protocol::{Classification, RawRecord, RecordBody, Signed, Timestamp};

const VECTORS: &str = "tests/vectors/records.txt";

fn golden_records() -> Vec<(&'static str, Vec<u8>)> {
    let origin_key = key(42);
    let items = [
        item(1, Classification::Baseline),
        item(2, Classification::NotIllegal),
    ];
    let report = Signed::sign(
        &origin_key,
        agency("nl-hotline"),
        7,
        Timestamp::from_secs(1_800_000_000),
        report(Some("DE"), &items),
    )
    .unwrap();
    let agreement = Signed::sign(
        &origin_key,
        agency("nl-hotline"),
        8,
        Timestamp::from_secs(1_800_000_001),
        signed_agreement(
            terms(
                "nl-hotline",
                "nl-police",
                scope(&[Classification::Baseline], Some(&["NL"])),
            ),
            &key(42),
            &key(43),
        ),
    )
    .unwrap();
    let revocation = Signed::sign(
        &origin_key,
        agency("nl-hotline"),
        9,
        Timestamp::from_secs(1_800_000_002),
        safeport_protocol::agreement::AgreementRevocation {
            agreement_id: [0x11; 16],
            reason: "case closed".into(),
        },
    )
    .unwrap();
    let withdrawal = Signed::sign(
        &origin_key,
        agency("nl-hotline"),
        10,
        Timestamp::from_secs(1_800_000_003),
        safeport_protocol::withdrawal::Withdrawal {
            record: report.id(),
            reason: "reported in error".into(),
        },
    )
    .unwrap();
    let iwol = iwol_records(&origin_key, report.id());
    let mut records = vec![
        ("report", report.bytes().to_vec()),
        (
            "report-item-1-commitment",
            items[0].commitment().unwrap().to_vec(),
        ),
        ("agreement", agreement.bytes().to_vec()),
        ("agreement-revocation", revocation.bytes().to_vec()),
        ("withdrawal", withdrawal.bytes().to_vec()),
    ];
    records.extend(iwol);
    records
}

/// An IWOL suggestion (citing `report`), a decision on it and a list version, each signed with
/// `origin_key` (the vectors fix the encoding, not who may sign what).
fn iwol_records(
    origin_key: &safeport_protocol::NodeKey,
    report: safeport_protocol::RecordId,
) -> Vec<(&'static str, Vec<u8>)> {
    use safeport_protocol::iwol::*;
    let domain = Domain::normalise("bad.example.test").unwrap();
    let at = Timestamp::from_secs(1_800_000_010);
    let suggestion = IwolSuggestion {
        domain: domain.clone(),
        confirms: None,
        criteria: Criterion::ALL.to_vec(),
        evidence: Evidence {
            reports: vec![EvidenceReport {
                record: report,
                url: "https://www.bad.example.test/g/1".into(),
                hosting_country: Some(safeport_protocol::Country::new("DE").unwrap()),
                baseline_items: 1,
                nationally_illegal_items: 0,
            }],
            media: vec![EvidenceMedia {
                sha256: [0x5a; 32],
                classification: Classification::Baseline,
            }],
        },
        note: None,
    };
    let suggestion = Signed::sign(origin_key, agency("nl-hotline"), 11, at, suggestion).unwrap();
    let decision = IwolDecision {
        suggestion: suggestion.id(),
        domain: domain.clone(),
        outcome: Outcome::Accepted { list_version: 1 },
        reason: "confirmed by two agencies".into(),
        suggesters: vec![agency("de-hotline"), agency("nl-hotline")],
    };
    let decision = Signed::sign(origin_key, agency("nl-hotline"), 12, at, decision).unwrap();
    let change = ListChange::Add {
        domain,
        reasons: Criterion::ALL.to_vec(),
    };
    let list = next_version(None, &[change], at, 86_400_000).unwrap();
    let list = Signed::sign(origin_key, agency("nl-hotline"), 13, at, list).unwrap();
    vec![
        ("iwol-suggestion", suggestion.bytes().to_vec()),
        ("iwol-decision", decision.bytes().to_vec()),
        ("iwol-list", list.bytes().to_vec()),
    ]
}

fn render(records: &[(&str, Vec<u8>)]) -> String {
    let mut out = String::from(
        "# Safeport golden vectors: signing key seed = 32 bytes of 0x2a; name, then hex.\n",
    );
    for (name, bytes) in records {
        out.push_str(&format!("{name} {}\n", hex::encode(bytes)));
    }
    out
}

#[test]
fn golden_vectors_match_the_committed_file() {
    let rendered = render(&golden_records());
    if std::env::var_os("SAFEPORT_UPDATE_VECTORS").is_some() {
        std::fs::write(VECTORS, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(VECTORS).expect("golden vector file is committed");
    assert_eq!(
        committed, rendered,
        "the wire encoding changed: if intended, bump the schema version and regenerate with \
         SAFEPORT_UPDATE_VECTORS=1"
    );
    // The committed bytes also decode and verify on their own, with the exact signature.
    for line in committed.lines().filter(|l| !l.starts_with('#')) {
        let (name, hex_bytes) = line.split_once(' ').unwrap();
        let bytes = hex::decode(hex_bytes).unwrap();
        match name {
            "report" => {
                let record = Signed::<Report>::decode_verified(&bytes, &key(42).public()).unwrap();
                assert_eq!(record.header().sequence, 7);
                assert_eq!(record.id(), record_id(&bytes));
            }
            "agreement" => {
                Signed::<Agreement>::decode_verified(&bytes, &key(42).public()).unwrap();
            }
            "agreement-revocation" => {
                Signed::<safeport_protocol::agreement::AgreementRevocation>::decode_verified(
                    &bytes,
                    &key(42).public(),
                )
                .unwrap();
            }
            "withdrawal" => {
                Signed::<safeport_protocol::withdrawal::Withdrawal>::decode_verified(
                    &bytes,
                    &key(42).public(),
                )
                .unwrap();
            }
            "iwol-suggestion" => {
                Signed::<safeport_protocol::iwol::IwolSuggestion>::decode_verified(
                    &bytes,
                    &key(42).public(),
                )
                .unwrap();
            }
            "iwol-decision" => {
                Signed::<safeport_protocol::iwol::IwolDecision>::decode_verified(
                    &bytes,
                    &key(42).public(),
                )
                .unwrap();
            }
            "iwol-list" => {
                let list = Signed::<safeport_protocol::iwol::IwolList>::decode_verified(
                    &bytes,
                    &key(42).public(),
                )
                .unwrap();
                assert_eq!(list.body().entries.len(), 1);
            }
            _ => {}
        }
    }
}

fn sign<T: RecordBody>(body: T) -> Signed<T> {
    Signed::sign(&key(42), agency("nl-hotline"), 1, Timestamp(5), body).unwrap()
}

fn check_round_trip<T: RecordBody + PartialEq + std::fmt::Debug>(body: T) {
    let record = sign(body.clone());
    let decoded = Signed::<T>::decode_verified(record.bytes(), &key(42).public()).unwrap();
    assert_eq!(decoded.body(), &body);
    assert_eq!(decoded.id(), record.id());
    assert_eq!(
        encoding::decode::<T>(&encoding::encode(&body).unwrap(), 1 << 22).unwrap(),
        body
    );
}

fn check_every_mutation_fails<T: RecordBody>(record: &Signed<T>) {
    let public = key(42).public();
    let bytes = record.bytes();
    for index in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut mutated = bytes.to_vec();
            mutated[index] ^= flip;
            assert!(
                Signed::<T>::decode_verified(&mutated, &public).is_err(),
                "mutation at byte {index} (xor {flip:#x}) was accepted"
            );
        }
    }
    // Truncation at every length fails too.
    for len in 0..bytes.len() {
        assert!(Signed::<T>::decode(&bytes[..len]).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn reports_round_trip(report in arb_report()) {
        check_round_trip(report);
    }

    #[test]
    fn agreements_round_trip(agreement in arb_agreement()) {
        check_round_trip(agreement);
    }

    #[test]
    fn media_items_round_trip(item in arb_item()) {
        let bytes = encoding::encode(&item).unwrap();
        prop_assert_eq!(encoding::decode::<safeport_protocol::report::MediaItem>(&bytes, 1 << 16).unwrap(), item);
    }

    #[test]
    fn media_item_commitment_hashes_the_domain_and_the_item(item in arb_item()) {
        // The definition: SHA-256 of the encoded pair (domain, item). The shortcut that hashes
        // the stored encoding must give exactly that.
        use sha2::{Digest, Sha256};
        use safeport_protocol::report::MEDIA_COMMITMENT_DOMAIN;
        let pair = encoding::encode(&(MEDIA_COMMITMENT_DOMAIN, &item)).unwrap();
        let expected: [u8; 32] = Sha256::digest(pair).into();
        let (encoded, commitment) = item.encode_with_commitment().unwrap();
        prop_assert_eq!(encoded, encoding::encode(&item).unwrap());
        prop_assert_eq!(commitment, expected);
        prop_assert_eq!(item.commitment().unwrap(), expected);
        // A committed item carries the same, computed once.
        let committed = safeport_protocol::report::CommittedItem::new(item.clone()).unwrap();
        prop_assert_eq!(committed.commitment(), &expected);
        let encoded = encoding::encode(&item).unwrap();
        prop_assert_eq!(committed.encoded(), encoded.as_slice());
        prop_assert_eq!(committed.into_item(), item);
    }

    #[test]
    fn revocations_round_trip(revocation in arb_revocation()) {
        check_round_trip(revocation);
    }

    #[test]
    fn withdrawals_round_trip(withdrawal in arb_withdrawal()) {
        check_round_trip(withdrawal);
    }

    #[test]
    fn revocation_and_withdrawal_mutations_fail(revocation in arb_revocation(), withdrawal in arb_withdrawal()) {
        check_every_mutation_fails(&sign(revocation));
        check_every_mutation_fails(&sign(withdrawal));
    }

    #[test]
    fn report_mutations_fail(report in arb_report()) {
        check_every_mutation_fails(&sign(report));
    }

    #[test]
    fn agreement_mutations_fail(agreement in arb_agreement()) {
        check_every_mutation_fails(&sign(agreement));
    }

    #[test]
    fn trailing_bytes_are_refused(report in arb_report(), extra in 1u8..=255) {
        let mut bytes = sign(report).bytes().to_vec();
        bytes.push(extra);
        prop_assert!(Signed::<Report>::decode(&bytes).is_err());
    }
}

#[test]
fn non_canonical_envelopes_are_refused() {
    let record = sign(report(Some("NL"), &[item(1, Classification::Baseline)]));
    let bytes = record.bytes();
    // The sequence number 1 is one varint byte; re-encode it with a redundant continuation byte.
    // Header layout: format(1) record_type(1) schema_version(1) origin(len 10 + 10) sequence.
    let sequence_at = 1 + 1 + 1 + 1 + "nl-hotline".len();
    assert_eq!(bytes[sequence_at], 1);
    let mut padded = bytes[..sequence_at].to_vec();
    padded.extend_from_slice(&[0x81, 0x00]);
    padded.extend_from_slice(&bytes[sequence_at + 1..]);
    assert!(matches!(
        RawRecord::decode(&padded),
        Err(RecordError::Encoding(EncodingError::NonCanonical))
    ));
}

#[test]
fn unknown_versions_and_types_are_refused() {
    let record = sign(report(Some("NL"), &[]));
    let mut bytes = record.bytes().to_vec();
    bytes[0] = 2;
    assert_eq!(
        RawRecord::decode(&bytes),
        Err(RecordError::UnknownFormat(2))
    );

    let mut bytes = record.bytes().to_vec();
    bytes[2] = 9; // schema version
    assert!(matches!(
        Signed::<Report>::decode(&bytes),
        Err(RecordError::UnknownSchemaVersion { found: 9, .. })
    ));

    assert!(matches!(
        Signed::<Agreement>::decode(record.bytes()),
        Err(RecordError::WrongType { .. })
    ));
}

#[test]
fn oversize_input_is_refused_before_decoding() {
    let huge = vec![1u8; safeport_protocol::encoding::MAX_RECORD_BYTES + 1];
    assert!(matches!(
        RawRecord::decode(&huge),
        Err(RecordError::Encoding(EncodingError::Oversize { .. }))
    ));
}

#[test]
fn a_signature_under_another_key_fails() {
    let record = sign(report(Some("NL"), &[]));
    assert_eq!(
        record.verify(&key(1).public()),
        Err(RecordError::BadSignature)
    );
}

#[test]
fn invalid_bodies_are_refused_when_signing() {
    let mut bad = report(Some("NL"), &[]);
    bad.reported_url = "ftp://files.example.test/x".into();
    assert!(matches!(
        Signed::sign(&key(1), agency("nl-hotline"), 1, Timestamp(0), bad),
        Err(RecordError::Invalid(_))
    ));
    let mut duplicate = report(Some("NL"), &[item(1, Classification::Baseline)]);
    duplicate.media.push(duplicate.media[0]);
    assert!(Signed::sign(&key(1), agency("nl-hotline"), 1, Timestamp(0), duplicate).is_err());
}
