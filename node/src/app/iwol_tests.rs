//! The IWOL between real stores through the domain layer: suggestions go from hotlines to
//! INTERPOL and on to the other subscribers, a second agency confirms, INTERPOL decides, and
//! every subscriber follows the list; what must be refused is refused with its reason (and,
//! between nodes, logged): bad suggestions, early acceptance, rollbacks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use safeport_protocol::agreement::templates;
use safeport_protocol::iwol::export::{ExportFormat, RpzAction, RpzOptions};
use safeport_protocol::iwol::{Criterion, Domain};
use safeport_protocol::report::MediaItem;
use safeport_protocol::sync::{SyncItem, SyncPage};
use safeport_protocol::{Classification, NodeKey, RecordId, Role, Timestamp};

use super::AppError;
use super::iwol::{Review, SuggestRequest, SuggestionStatus};
use super::test_support::{
    Agency, admit, agency, agency_with_clock, agree, item, now, pull, report, test_root,
};

struct World {
    interpol: Agency,
    nl: Agency,
    de: Agency,
    police: Agency,
    root_key: NodeKey,
    root_pem: String,
}

fn setup() -> World {
    let (root_key, root_pem) = test_root(202);
    let w = World {
        interpol: agency(&root_key, &root_pem, "interpol", Role::Interpol, "FR", 31),
        nl: agency(&root_key, &root_pem, "nl-hotline", Role::Hotline, "NL", 32),
        de: agency(&root_key, &root_pem, "de-hotline", Role::Hotline, "DE", 33),
        police: agency(&root_key, &root_pem, "nl-police", Role::Lea, "NL", 34),
        root_key,
        root_pem,
    };
    for (n, other) in [&w.nl, &w.de, &w.police].into_iter().enumerate() {
        let n = n as u8;
        admit(&w.interpol, other);
        agree(
            &w.interpol,
            other,
            templates::iwol_subscription().scope,
            40 + n,
        );
    }
    agree(&w.nl, &w.interpol, templates::iwol_contribution().scope, 50);
    agree(&w.de, &w.interpol, templates::iwol_contribution().scope, 51);
    w
}

/// A report of `agency` on `site-<n>.example.test` with a baseline item; its record id.
fn report_on_site(agency: &Agency, n: u8, classification: Classification) -> RecordId {
    let items: Vec<MediaItem> = vec![item(n, classification)];
    agency
        .app
        .submit_report(report(n, "DE", &items), &items)
        .unwrap()
        .0
}

fn request(domain: &str, reports: Vec<RecordId>) -> SuggestRequest {
    SuggestRequest {
        domain: Some(domain.into()),
        criteria: Criterion::ALL.to_vec(),
        reports,
        media: Vec::new(),
        note: Some("gallery of severe material".into()),
    }
}

fn invalid(result: Result<impl std::fmt::Debug, AppError>) -> String {
    match result {
        Err(AppError::Invalid(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn listed(agency: &Agency) -> Vec<String> {
    agency
        .app
        .iwol_list()
        .unwrap()
        .map(|l| l.entries.iter().map(|e| e.domain.to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn a_confirmed_suggestion_is_listed_and_every_subscriber_follows_the_list() {
    let w = setup();
    let evidence = report_on_site(&w.nl, 1, Classification::Baseline);
    let (suggestion, _) =
        w.nl.app
            .suggest_iwol(request("SITE-1.example.test.", vec![evidence]), None)
            .unwrap();
    pull(&w.nl, &w.interpol);
    let at_interpol = w.interpol.app.iwol_suggestion(&suggestion).unwrap();
    assert_eq!(at_interpol.domain, "site-1.example.test");
    assert_eq!(at_interpol.agencies, vec!["nl-hotline"]);
    assert!(!at_interpol.acceptable);
    let part = at_interpol.suggestion.as_ref().unwrap();
    assert_eq!(part.criteria.len(), 4);
    assert_eq!(part.reports[0].baseline_items, 1);
    assert!(
        !part.reports[0].held_here,
        "INTERPOL has no agreement for the report"
    );
    assert!(
        invalid(
            w.interpol
                .app
                .review_iwol(&suggestion, Review::Accept, "ok", None)
        )
        .contains("at least 2 agencies")
    );

    // INTERPOL passes the suggestion on; the DE hotline confirms it with its own evidence.
    pull(&w.interpol, &w.de);
    let at_de = w.de.app.iwol_suggestion(&suggestion).unwrap();
    assert!(
        !w.de
            .app
            .store()
            .outbox_contains(w.interpol.app.me(), &suggestion)
            .unwrap(),
        "a relayed suggestion does not echo back to INTERPOL"
    );
    assert_eq!(at_de.status, SuggestionStatus::Open);
    let own = report_on_site(&w.de, 1, Classification::NationallyIllegal);
    let mut confirmation = request("site-1.example.test", vec![own]);
    confirmation.domain = None;
    w.de.app
        .suggest_iwol(confirmation, Some(suggestion))
        .unwrap();
    pull(&w.de, &w.interpol);
    let at_interpol = w.interpol.app.iwol_suggestion(&suggestion).unwrap();
    assert_eq!(at_interpol.agencies, vec!["de-hotline", "nl-hotline"]);
    assert!(at_interpol.acceptable);
    w.interpol
        .app
        .review_iwol(&suggestion, Review::Accept, "criteria confirmed", Some(30))
        .unwrap();
    assert!(
        invalid(
            w.interpol
                .app
                .review_iwol(&suggestion, Review::Reject, "again", None)
        )
        .contains("decided already")
    );

    for subscriber in [&w.nl, &w.de, &w.police] {
        pull(&w.interpol, subscriber);
        assert_eq!(listed(subscriber), vec!["site-1.example.test"]);
        let status = subscriber.app.iwol_status().unwrap().unwrap();
        assert_eq!(
            (status.version, status.domains, status.stale),
            (1, 1, false)
        );
    }
    for suggester in [&w.nl, &w.de] {
        let view = suggester.app.iwol_suggestion(&suggestion).unwrap();
        assert_eq!(view.status, SuggestionStatus::Accepted);
        let decision = view.decision.unwrap();
        assert_eq!(decision.list_version, Some(1));
        assert_eq!(decision.reason, "criteria confirmed");
    }
    let zone = w
        .police
        .app
        .iwol_export(
            ExportFormat::Rpz,
            &RpzOptions {
                zone: Domain::normalise("iwol.rpz.example").unwrap(),
                action: RpzAction::NxDomain,
                ttl: 60,
            },
        )
        .unwrap();
    assert!(zone.text.contains("\n*.site-1.example.test CNAME .\n"));
    assert_eq!(zone.version, 1);

    // Delisting makes version 2 everywhere.
    w.interpol
        .app
        .delist_iwol("site-1.example.test", "content removed", None)
        .unwrap();
    for subscriber in [&w.nl, &w.de, &w.police] {
        pull(&w.interpol, subscriber);
        assert!(listed(subscriber).is_empty());
        let list = subscriber.app.iwol_list().unwrap().unwrap();
        assert_eq!(list.version, 2);
        assert_eq!(list.delisted[0].reason, "content removed");
    }
}

#[test]
fn a_rejection_and_its_reason_reach_the_suggester() {
    let w = setup();
    let evidence = report_on_site(&w.nl, 2, Classification::Baseline);
    let (suggestion, _) =
        w.nl.app
            .suggest_iwol(request("site-2.example.test", vec![evidence]), None)
            .unwrap();
    pull(&w.nl, &w.interpol);
    assert!(
        invalid(
            w.interpol
                .app
                .review_iwol(&suggestion, Review::Reject, " ", None)
        )
        .contains("reason is required")
    );
    w.interpol
        .app
        .review_iwol(
            &suggestion,
            Review::Reject,
            "drawn material, not real children",
            None,
        )
        .unwrap();
    pull(&w.interpol, &w.nl);
    let view = w.nl.app.iwol_suggestion(&suggestion).unwrap();
    assert_eq!(view.status, SuggestionStatus::Rejected);
    assert_eq!(
        view.decision.unwrap().reason,
        "drawn material, not real children"
    );
    assert!(w.nl.app.iwol_list().unwrap().is_none(), "nothing listed");
    // A decided suggestion can no longer be confirmed.
    pull(&w.interpol, &w.de);
    let own = report_on_site(&w.de, 2, Classification::Baseline);
    assert!(
        invalid(
            w.de.app
                .suggest_iwol(request("site-2.example.test", vec![own]), Some(suggestion))
        )
        .contains("decided already")
    );
}

#[test]
fn bad_suggestions_are_refused_with_their_reason() {
    let w = setup();
    let evidence = report_on_site(&w.nl, 3, Classification::Baseline);
    let legal = report_on_site(&w.nl, 4, Classification::NotIllegal);
    let app = &w.nl.app;
    let mut unchecked = request("site-3.example.test", vec![evidence]);
    unchecked
        .criteria
        .retain(|c| *c != Criterion::ApparentlyUnder13);
    assert!(invalid(app.suggest_iwol(unchecked, None)).contains("under-13"));
    assert!(
        invalid(app.suggest_iwol(request("site-9.example.test", vec![evidence]), None))
            .contains("is not on site-9.example.test")
    );
    assert!(
        invalid(app.suggest_iwol(request("site-3.example.test", vec![]), None))
            .contains("at least one report")
    );
    assert!(
        invalid(app.suggest_iwol(request("site-4.example.test", vec![legal]), None))
            .contains("no item classified")
    );
    assert!(
        invalid(app.suggest_iwol(
            request("site-3.example.test", vec![RecordId([9; 32])]),
            None
        ))
        .contains("not held here")
    );
    assert!(
        invalid(app.suggest_iwol(request("*.site-3.example.test", vec![evidence]), None))
            .contains("wildcard")
    );
    assert!(
        invalid(app.suggest_iwol(request("192.0.2.1", vec![evidence]), None))
            .contains("IP address")
    );
    let mut wrong_media = request("site-3.example.test", vec![evidence]);
    wrong_media.media = vec![[7; 32]];
    assert!(invalid(app.suggest_iwol(wrong_media, None)).contains("is not a baseline"));

    let (suggestion, _) = app
        .suggest_iwol(request("site-3.example.test", vec![evidence]), None)
        .unwrap();
    assert!(
        invalid(app.suggest_iwol(request("site-3.example.test", vec![evidence]), None))
            .contains("confirm that suggestion instead")
    );
    assert!(
        invalid(app.suggest_iwol(
            request("site-3.example.test", vec![evidence]),
            Some(suggestion)
        ))
        .contains("its own suggestion")
    );
    assert!(matches!(
        app.suggest_iwol(
            request("site-3.example.test", vec![evidence]),
            Some(RecordId([8; 32]))
        ),
        Err(AppError::NotFound)
    ));
    assert!(
        invalid(
            w.interpol
                .app
                .suggest_iwol(request("site-3.example.test", vec![]), None)
        )
        .contains("only hotlines and police")
    );
    assert!(
        invalid(app.review_iwol(&suggestion, Review::Accept, "mine", None))
            .contains("only INTERPOL")
    );
    assert!(invalid(app.refresh_iwol(None)).contains("only INTERPOL"));
    assert!(invalid(w.interpol.app.refresh_iwol(Some(400))).contains("1 to 366 days"));
    assert!(
        invalid(
            w.interpol
                .app
                .delist_iwol("site-3.example.test", "clean", None)
        )
        .contains("not on the list")
    );
}

fn later() -> Timestamp {
    now().plus_secs(40 * 24 * 3600)
}

#[test]
fn the_list_moves_only_forward_and_an_expired_version_is_stale() {
    let w = setup();
    let interpol = &w.interpol.app;
    interpol.refresh_iwol(Some(30)).unwrap();
    let v1 = w.interpol.app.store().held_iwol().unwrap().unwrap().record;
    interpol.refresh_iwol(Some(30)).unwrap();
    let v2 = interpol.store().held_iwol().unwrap().unwrap().record;
    pull(&w.interpol, &w.police);
    let held = w.police.app.store().held_iwol().unwrap().unwrap();
    assert_eq!(
        (held.version, held.record),
        (2, v2),
        "only the newest version goes out"
    );

    let page = |records: &[RecordId]| SyncPage {
        items: records
            .iter()
            .enumerate()
            .map(|(n, id)| SyncItem {
                position: 1_000 + n as u64,
                record: interpol
                    .store()
                    .record(id)
                    .unwrap()
                    .unwrap()
                    .bytes()
                    .to_vec(),
                media: Vec::new(),
            })
            .collect(),
        certificates: Vec::new(),
        next_cursor: 1_000 + records.len() as u64,
        more: false,
    };
    // An older version offered again (a replay by a compromised link) is refused and logged.
    let rejected_before = w.police.app.store().rejections(100).unwrap().len();
    let ingested = w
        .police
        .app
        .ingest_page(w.interpol.app.me(), &page(&[v1]))
        .unwrap();
    assert_eq!(ingested.rejected, 1);
    assert_eq!(
        w.police.app.store().held_iwol().unwrap().unwrap().version,
        2
    );
    let rejections = w.police.app.store().rejections(100).unwrap();
    assert_eq!(rejections.len(), rejected_before + 1);
    assert!(
        rejections
            .iter()
            .any(|r| r.reason.contains("older than version 2"))
    );
    // Replaying the version held changes nothing.
    let ingested = w
        .police
        .app
        .ingest_page(w.interpol.app.me(), &page(&[v2]))
        .unwrap();
    assert_eq!((ingested.duplicates, ingested.rejected), (1, 0));

    // Newer then older within one page: the newer is held, the older refused.
    interpol.refresh_iwol(Some(30)).unwrap();
    let v3 = interpol.store().held_iwol().unwrap().unwrap().record;
    let late = agency_with_clock(
        &w.root_key,
        &w.root_pem,
        "de-police",
        Role::Lea,
        "DE",
        35,
        later,
    );
    admit(&w.interpol, &late);
    agree(&w.interpol, &late, templates::iwol_subscription().scope, 60);
    let ingested = late
        .app
        .ingest_page(w.interpol.app.me(), &page(&[v3, v1]))
        .unwrap();
    assert_eq!((ingested.stored, ingested.rejected), (1, 1));
    let status = late.app.iwol_status().unwrap().unwrap();
    assert_eq!(status.version, 3);
    assert!(status.stale, "valid for 30 days, seen 40 days later");
    let export = late
        .app
        .iwol_export(
            ExportFormat::Plain,
            &RpzOptions {
                zone: Domain::normalise("iwol.rpz").unwrap(),
                action: RpzAction::NxDomain,
                ttl: 60,
            },
        )
        .unwrap();
    assert!(export.stale, "exports say the list is stale");
}

#[test]
fn iwol_records_from_the_wrong_agency_or_without_agreement_are_refused() {
    let w = setup();
    // A hotline cannot pass the IWOL on: it signs nothing INTERPOL would accept as a list,
    // and a list version signed by a hotline is refused by every subscriber.
    let evidence = report_on_site(&w.nl, 5, Classification::Baseline);
    let (suggestion, _) =
        w.nl.app
            .suggest_iwol(request("site-5.example.test", vec![evidence]), None)
            .unwrap();
    // The police has no contribution agreement with INTERPOL and INTERPOL none from NL to
    // the police: a suggestion from NL sent straight to the police is refused and logged.
    let raw = w.nl.app.store().record(&suggestion).unwrap().unwrap();
    let page = SyncPage {
        items: vec![SyncItem {
            position: 1,
            record: raw.bytes().to_vec(),
            media: Vec::new(),
        }],
        certificates: vec![w.nl.app.identity().certificate_pem.clone()],
        next_cursor: 1,
        more: false,
    };
    let ingested = w.police.app.ingest_page(w.nl.app.me(), &page).unwrap();
    assert_eq!(ingested.rejected, 1);
    let rejections = w.police.app.store().rejections(100).unwrap();
    assert!(
        rejections.iter().any(|r| r
            .reason
            .contains("no agreement covers this IWOL suggestion")),
        "{rejections:?}"
    );
}
