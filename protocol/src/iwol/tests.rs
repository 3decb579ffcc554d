//! Tests of the IWOL record bodies, the review and version rules, and the exports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::export::{ExportFormat, RpzAction, RpzOptions, export};
use super::*;

fn domain(name: &str) -> Domain {
    Domain::normalise(name).unwrap()
}

fn agency(id: &str) -> AgencyId {
    AgencyId::new(id).unwrap()
}

pub(super) fn suggestion(name: &str) -> IwolSuggestion {
    IwolSuggestion {
        domain: domain(name),
        confirms: None,
        criteria: Criterion::ALL.to_vec(),
        evidence: Evidence {
            reports: vec![EvidenceReport {
                record: RecordId([3; 32]),
                url: format!("https://www.{name}/gallery/1"),
                hosting_country: Some(Country::new("DE").unwrap()),
                baseline_items: 2,
                nationally_illegal_items: 0,
            }],
            media: vec![EvidenceMedia {
                sha256: [9; 32],
                classification: Classification::Baseline,
            }],
        },
        note: Some("mirror of a known site".into()),
    }
}

#[test]
fn a_suggestion_needs_every_criterion_and_evidence_on_its_domain() {
    assert_eq!(suggestion("bad.example").validate(), Ok(()));

    let mut missing = suggestion("bad.example");
    missing.criteria.retain(|c| *c != Criterion::SevereAbuse);
    let error = missing.validate().unwrap_err();
    assert!(error.contains("severe-abuse"), "{error}");

    let mut elsewhere = suggestion("bad.example");
    elsewhere.evidence.reports[0].url = "https://other.example/x".into();
    assert!(
        elsewhere
            .validate()
            .unwrap_err()
            .contains("not on bad.example")
    );

    let mut lookalike = suggestion("bad.example");
    lookalike.evidence.reports[0].url = "https://notbad.example/x".into();
    assert!(lookalike.validate().is_err());

    let mut none = suggestion("bad.example");
    none.evidence.reports.clear();
    assert!(none.validate().is_err());

    let mut legal = suggestion("bad.example");
    legal.evidence.media[0].classification = Classification::NotIllegal;
    assert!(legal.validate().is_err());

    let mut long = suggestion("bad.example");
    long.note = Some("x".repeat(MAX_TEXT_LEN + 1));
    assert!(long.validate().is_err());
}

#[test]
fn acceptance_needs_two_distinct_agencies() {
    let nl = agency("nl-hotline");
    let de = agency("de-hotline");
    assert!(check_confirmations(std::slice::from_ref(&nl)).is_err());
    assert!(check_confirmations(&[nl.clone(), nl.clone()]).is_err());
    assert_eq!(
        check_confirmations(&[nl.clone(), de.clone(), nl.clone()]).unwrap(),
        vec![de.clone(), nl.clone()]
    );
    let mut decision = IwolDecision {
        suggestion: RecordId([1; 32]),
        domain: domain("bad.example"),
        outcome: Outcome::Accepted { list_version: 3 },
        reason: "criteria confirmed".into(),
        suggesters: vec![nl.clone()],
    };
    assert!(decision.validate().unwrap_err().contains("at least 2"));
    decision.suggesters = vec![de.clone(), nl.clone()];
    assert_eq!(decision.validate(), Ok(()));
    decision.outcome = Outcome::Rejected;
    decision.suggesters = vec![nl];
    assert_eq!(decision.validate(), Ok(()));
    decision.reason = "  ".into();
    assert!(
        decision.validate().is_err(),
        "a decision always has a reason"
    );
}

#[test]
fn the_list_moves_only_forward() {
    let a = RecordId([1; 32]);
    let b = RecordId([2; 32]);
    assert_eq!(plan_version(None, (1, a)), Ok(VersionPlan::Apply));
    assert_eq!(plan_version(Some((3, a)), (4, b)), Ok(VersionPlan::Apply));
    assert_eq!(
        plan_version(Some((3, a)), (3, a)),
        Ok(VersionPlan::AlreadyHeld)
    );
    assert_eq!(
        plan_version(Some((3, a)), (3, b)),
        Err(IwolError::Conflict(3))
    );
    assert_eq!(
        plan_version(Some((3, a)), (2, b)),
        Err(IwolError::Rollback {
            held: 3,
            offered: 2
        })
    );
}

#[test]
fn versions_add_and_delist_with_reasons() {
    let now = Timestamp::from_secs(1_800_000_000);
    let day = 24 * 3600 * 1000;
    let add = |name: &str| ListChange::Add {
        domain: domain(name),
        reasons: Criterion::ALL.to_vec(),
    };
    let v1 = next_version(None, &[add("b.example"), add("a.example")], now, day).unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.entries.len(), 2);
    assert_eq!(v1.entries[0].domain.as_str(), "a.example");
    assert_eq!(v1.validate(), Ok(()));
    assert!(!v1.is_stale(now));
    assert!(v1.is_stale(Timestamp(now.0 + day)));

    let later = Timestamp(now.0 + 1000);
    let delist = ListChange::Delist {
        domain: domain("a.example"),
        reason: "content removed".into(),
    };
    let v2 = next_version(Some(&v1), &[delist.clone(), add("b.example")], later, day).unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.entries.len(), 1);
    assert_eq!(
        v2.entries[0].added_at, now,
        "re-adding keeps the first time"
    );
    assert_eq!(v2.delisted.len(), 1);
    assert_eq!(v2.delisted[0].reason, "content removed");
    assert!(next_version(Some(&v2), &[delist], later, day).is_err());
    assert!(next_version(None, &[add("a.example")], now, 0).is_err());
    assert!(next_version(None, &[add("a.example")], now, MAX_VALID_MS + 1).is_err());
}

#[test]
fn a_list_with_unsorted_overlapping_or_empty_fields_is_invalid() {
    let now = Timestamp::from_secs(1_800_000_000);
    let entry = |name: &str| IwolEntry {
        domain: domain(name),
        added_at: now,
        reasons: vec![Criterion::RealChildren],
    };
    let mut list = IwolList {
        version: 1,
        published_at: now,
        expires_at: now.plus_secs(60),
        entries: vec![entry("b.example"), entry("a.example")],
        delisted: Vec::new(),
    };
    assert!(list.validate().is_err());
    list.entries.reverse();
    assert_eq!(list.validate(), Ok(()));
    list.delisted.push(Delisting {
        domain: domain("a.example"),
        delisted_at: now,
        reason: "gone".into(),
    });
    assert!(list.validate().is_err());
    list.delisted.clear();
    list.entries[0].reasons.clear();
    assert!(list.validate().is_err());
    list.entries[0].reasons.push(Criterion::RealChildren);
    list.version = MAX_VERSION + 1;
    assert!(list.validate().is_err());
}

fn sample_list() -> IwolList {
    let now = Timestamp::from_secs(1_800_000_000);
    let changes = [
        ListChange::Add {
            domain: domain("bad.example"),
            reasons: Criterion::ALL.to_vec(),
        },
        ListChange::Add {
            domain: domain("xn--bcher-kva.example"),
            reasons: vec![Criterion::RealChildren, Criterion::SevereAbuse],
        },
    ];
    let mut list = next_version(None, &changes, now, 86_400_000).unwrap();
    list.version = 7;
    list
}

#[test]
fn exports_write_every_domain_in_each_format() {
    let list = sample_list();
    let options = RpzOptions {
        zone: domain("iwol.rpz.example"),
        action: RpzAction::StopPage(domain("stop.iwol.example")),
        ttl: 300,
    };
    let zone = export(&list, ExportFormat::Rpz, &options);
    assert!(zone.contains("$ORIGIN iwol.rpz.example.\n"), "{zone}");
    assert!(zone.contains("@ IN SOA localhost. hostmaster.iwol.rpz.example. 7 "));
    assert!(zone.contains("\nbad.example CNAME stop.iwol.example.\n"));
    assert!(zone.contains("\n*.bad.example CNAME stop.iwol.example.\n"));
    assert!(zone.contains("\n*.xn--bcher-kva.example CNAME stop.iwol.example.\n"));

    let nx = RpzOptions {
        action: RpzAction::NxDomain,
        ..options
    };
    let zone = export(&list, ExportFormat::Rpz, &nx);
    assert!(zone.contains("\nbad.example CNAME .\n"));
    assert!(zone.contains("\n*.bad.example CNAME .\n"));

    assert_eq!(
        export(&list, ExportFormat::Plain, &nx),
        "bad.example\nxn--bcher-kva.example\n"
    );
    assert_eq!(
        export(&list, ExportFormat::Csv, &nx),
        "domain,added_at,reasons\n\
         bad.example,2027-01-15T08:00:00Z,real-children;under-13;severe-abuse;online-3-months\n\
         xn--bcher-kva.example,2027-01-15T08:00:00Z,real-children;severe-abuse\n"
    );
    for format in ExportFormat::ALL {
        assert_eq!(format.as_str().parse::<ExportFormat>(), Ok(format));
    }
    assert!("bind".parse::<ExportFormat>().is_err());
}

#[test]
fn criteria_codes_round_trip() {
    for criterion in Criterion::ALL {
        assert_eq!(Criterion::parse(criterion.as_str()), Some(criterion));
    }
    assert_eq!(Criterion::parse("nice"), None);
}

proptest! {
    /// Any sequence of additions and delistings yields valid versions whose entries are exactly
    /// the model set, and every export names each listed domain once (plain) or twice (RPZ).
    #[test]
    fn versions_follow_a_set_model(ops in proptest::collection::vec((0u8..12, any::<bool>()), 1..40)) {
        let now = Timestamp::from_secs(1_800_000_000);
        let mut model = std::collections::BTreeSet::new();
        let mut list: Option<IwolList> = None;
        for (n, add) in ops {
            let name = domain(&format!("d{n}.example"));
            let change = if add {
                ListChange::Add { domain: name.clone(), reasons: vec![Criterion::SevereAbuse] }
            } else {
                ListChange::Delist { domain: name.clone(), reason: "clean".into() }
            };
            match next_version(list.as_ref(), &[change], now, 1000) {
                Ok(next) => {
                    if add { model.insert(name); } else { model.remove(&name); }
                    prop_assert_eq!(next.validate(), Ok(()));
                    prop_assert_eq!(next.version, list.as_ref().map_or(1, |l| l.version + 1));
                    list = Some(next);
                }
                Err(_) => prop_assert!(!add && !model.contains(&name)),
            }
        }
        if let Some(list) = list {
            let listed: Vec<Domain> = list.entries.iter().map(|e| e.domain.clone()).collect();
            prop_assert_eq!(listed, model.iter().cloned().collect::<Vec<_>>());
            let options = RpzOptions { zone: domain("iwol.rpz"), action: RpzAction::NxDomain, ttl: 60 };
            let zone = export(&list, ExportFormat::Rpz, &options);
            prop_assert_eq!(zone.matches(" CNAME .\n").count(), 2 * model.len());
            prop_assert_eq!(export(&list, ExportFormat::Plain, &options).lines().count(), model.len());
        }
    }
}
