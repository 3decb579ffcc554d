//! Fixtures and proptest strategies shared by the protocol's integration tests. All data is
//! synthetic: made-up agencies, URLs under `.test`, hashes of nothing in particular.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use safeport_protocol::agreement::{
    Agreement, AgreementTerms, CountryScope, MediaAccess, Party, Scope,
};
use safeport_protocol::hashes::PdqHash;
use safeport_protocol::report::{
    Assessment, Assessor, Hosting, IntakeChannel, MediaItem, PageMetadata, Report,
};
use safeport_protocol::{AgencyId, Classification, Country, NodeKey, RecordType, Role, Timestamp};

pub fn key(n: u8) -> NodeKey {
    NodeKey::from_seed([n; 32])
}

pub fn agency(id: &str) -> AgencyId {
    AgencyId::new(id).unwrap()
}

pub fn country(code: &str) -> Country {
    Country::new(code).unwrap()
}

pub fn party(id: &str, role: Role, key: &NodeKey) -> Party {
    Party {
        agency: agency(id),
        role,
        key: key.public(),
    }
}

pub fn item(salt: u8, classification: Classification) -> MediaItem {
    MediaItem {
        salt: [salt; 16],
        md5: [salt.wrapping_add(1); 16],
        sha1: [salt.wrapping_add(2); 20],
        sha256: [salt.wrapping_add(3); 32],
        pdq: Some(PdqHash::new([salt.wrapping_add(4); 32], 90).unwrap()),
        mime_type: "image/png".into(),
        size: 1234 + u64::from(salt),
        dimensions: Some((64, 48)),
        source_url: format!("https://media.example.test/{salt}.png"),
        assessment: Assessment {
            classification,
            assessor: Some(Assessor::Analyst("analyst-7".into())),
            assessed_at: Some(Timestamp::from_secs(1_800_000_100)),
        },
    }
}

pub fn report(hosting_country: Option<&str>, items: &[MediaItem]) -> Report {
    Report {
        report_key: [0x5a; 16],
        revision: 1,
        reported_url: "https://reported.example.test/gallery?id=1".into(),
        intake: IntakeChannel::PublicForm,
        received_at: Timestamp::from_secs(1_800_000_000),
        redirects: vec!["https://final.example.test/g/1".into()],
        hosting: Hosting {
            ip: Some("192.0.2.10".parse().unwrap()),
            country: hosting_country.map(country),
        },
        page: Some(PageMetadata {
            http_status: 200,
            headers: vec![("server".into(), "nginx".into())],
            title: Some("A test page".into()),
            fetched_at: Timestamp::from_secs(1_800_000_050),
        }),
        media: items.iter().map(|i| i.commitment().unwrap()).collect(),
    }
}

pub fn scope(classifications: &[Classification], countries: Option<&[&str]>) -> Scope {
    let mut classifications = classifications.to_vec();
    classifications.sort();
    Scope {
        record_types: vec![RecordType::Report],
        classifications,
        hosting_countries: match countries {
            None => CountryScope::Any,
            Some(list) => {
                let mut list: Vec<Country> = list.iter().map(|c| country(c)).collect();
                list.sort();
                CountryScope::Only(list)
            }
        },
        media: MediaAccess::Hashes,
        include_context: false,
    }
}

pub fn terms(provider: &str, recipient: &str, scope: Scope) -> AgreementTerms {
    AgreementTerms {
        agreement_id: [0x11; 16],
        provider: agency(provider),
        recipient: agency(recipient),
        scope,
        valid_from: Timestamp::from_secs(1_700_000_000),
        valid_until: Timestamp::from_secs(1_900_000_000),
    }
}

pub fn signed_agreement(
    terms: AgreementTerms,
    provider: &NodeKey,
    recipient: &NodeKey,
) -> Agreement {
    Agreement {
        provider_signature: Some(terms.sign(provider).unwrap()),
        recipient_signature: Some(terms.sign(recipient).unwrap()),
        terms,
    }
}

fn arb_classification() -> impl Strategy<Value = Classification> {
    prop::sample::select(Classification::ALL.to_vec())
}

fn arb_url() -> impl Strategy<Value = String> {
    "[a-z]{1,12}".prop_map(|host| format!("https://{host}.example.test/p"))
}

fn arb_text() -> impl Strategy<Value = String> {
    "[ -~]{0,40}"
}

pub fn arb_item() -> impl Strategy<Value = MediaItem> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 32]>(),
        proptest::option::of((any::<[u8; 32]>(), 0u8..=100)),
        any::<u64>(),
        proptest::option::of((any::<u32>(), any::<u32>())),
        arb_url(),
        arb_classification(),
        proptest::option::of(arb_text()),
    )
        .prop_map(
            |(salt, sha256, pdq, size, dims, url, class, analyst)| MediaItem {
                salt,
                md5: salt,
                sha1: [salt[0]; 20],
                sha256,
                pdq: pdq.map(|(bits, q)| PdqHash::new(bits, q).unwrap()),
                mime_type: "image/jpeg".into(),
                size,
                dimensions: dims,
                source_url: url,
                assessment: Assessment {
                    classification: class,
                    assessed_at: analyst.as_ref().map(|_| Timestamp(size / 3)),
                    assessor: analyst.map(Assessor::Analyst),
                },
            },
        )
}

pub fn arb_report() -> impl Strategy<Value = Report> {
    (
        any::<[u8; 16]>(),
        any::<u32>(),
        arb_url(),
        prop::collection::vec(arb_url(), 0..4),
        proptest::option::of(prop::sample::select(vec!["NL", "DE", "FR", "US"])),
        proptest::option::of((100u16..600, arb_text(), any::<u64>())),
        prop::collection::btree_set(any::<[u8; 32]>(), 0..6),
        any::<Option<[u8; 4]>>(),
    )
        .prop_map(
            |(key, revision, url, redirects, ctry, page, media, ip)| Report {
                report_key: key,
                revision,
                reported_url: url,
                intake: IntakeChannel::Hotline,
                received_at: Timestamp(u64::from(revision)),
                redirects,
                hosting: Hosting {
                    ip: ip.map(std::net::IpAddr::from),
                    country: ctry.map(country),
                },
                page: page.map(|(status, title, at)| PageMetadata {
                    http_status: status,
                    headers: vec![("content-type".into(), "text/html".into())],
                    title: Some(title),
                    fetched_at: Timestamp(at),
                }),
                media: media.into_iter().collect(),
            },
        )
}

pub fn arb_agreement() -> impl Strategy<Value = Agreement> {
    (
        any::<[u8; 16]>(),
        prop::collection::btree_set(arb_classification(), 0..4),
        proptest::option::of(prop::collection::btree_set(
            prop::sample::select(vec!["NL", "DE", "FR", "BE"]),
            0..4,
        )),
        prop::sample::select(vec![
            MediaAccess::Nothing,
            MediaAccess::Hashes,
            MediaAccess::Content,
        ]),
        any::<bool>(),
        1u64..1_000_000,
        any::<bool>(),
    )
        .prop_map(|(id, classes, countries, media, context, len, both)| {
            let terms = AgreementTerms {
                agreement_id: id,
                provider: agency("nl-hotline"),
                recipient: agency("nl-police"),
                scope: Scope {
                    record_types: vec![RecordType::Report],
                    classifications: classes.into_iter().collect(),
                    hosting_countries: match countries {
                        None => CountryScope::Any,
                        Some(set) => CountryScope::Only(set.into_iter().map(country).collect()),
                    },
                    media,
                    include_context: context,
                },
                valid_from: Timestamp::from_secs(1_700_000_000),
                valid_until: Timestamp::from_secs(1_700_000_000 + len),
            };
            let provider_signature = Some(terms.sign(&key(1)).unwrap());
            let recipient_signature = both.then(|| terms.sign(&key(2)).unwrap());
            Agreement {
                terms,
                provider_signature,
                recipient_signature,
            }
        })
}

pub fn arb_revocation() -> impl Strategy<Value = safeport_protocol::agreement::AgreementRevocation>
{
    (any::<[u8; 16]>(), "[ -~]{0,60}").prop_map(|(agreement_id, reason)| {
        safeport_protocol::agreement::AgreementRevocation {
            agreement_id,
            reason,
        }
    })
}

pub fn arb_withdrawal() -> impl Strategy<Value = safeport_protocol::withdrawal::Withdrawal> {
    (any::<[u8; 32]>(), "[ -~]{0,60}").prop_map(|(record, reason)| {
        safeport_protocol::withdrawal::Withdrawal {
            record: safeport_protocol::RecordId(record),
            reason,
        }
    })
}

/// Runs `openssl` with `input` on its standard input; requires success.
pub fn openssl_with_input(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed (scripts/bootstrap.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
