//! Report and media details, searches by status and hash-list match, and saved searches, on
//! real stores with reports that travelled between agencies (`serve_pull` -> `ingest_page`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use safeport_protocol::agreement::{CountryScope, MediaAccess, Scope};
use safeport_protocol::report::Assessor;
use safeport_protocol::status::TakedownStatus;
use safeport_protocol::{Classification, Country, RecordType, Role};

use super::AppError;
use super::audit::Actor;
use super::packages::PackageRequest;
use super::test_support::{admit, agency, agree, item, pull, report, test_root};
use crate::search::spec::SearchSpec;
use crate::search::{ListQuery, Query, StatusQuery};

fn scope(country: &str, classifications: &[Classification]) -> Scope {
    let mut classifications = classifications.to_vec();
    classifications.sort();
    Scope {
        record_types: vec![RecordType::Report],
        classifications,
        hosting_countries: CountryScope::Only(vec![Country::new(country).unwrap()]),
        media: MediaAccess::Hashes,
        include_context: false,
    }
}

#[test]
fn detail_shows_every_revision_as_far_as_each_may_be_shown_and_who_classified() {
    let (root_key, root_pem) = test_root(211);
    let nl = agency(&root_key, &root_pem, "nl-hotline", Role::Hotline, "NL", 71);
    let police = agency(&root_key, &root_pem, "nl-police", Role::Lea, "NL", 72);
    admit(&nl, &police);
    agree(&nl, &police, scope("NL", &[Classification::Baseline]), 81);

    let first = [
        item(1, Classification::Baseline),
        item(2, Classification::NotIllegal),
    ];
    let original = report(9, "NL", &first);
    nl.app.submit_report(original.clone(), &first).unwrap();
    // Revision 2: the second item turned out to be on INTERPOL's baseline list.
    let mut listed = item(2, Classification::Baseline);
    listed.assessment.assessor = Some(Assessor::HashList {
        list_id: "interpol/baseline".into(),
        version: 3,
    });
    let second = [item(1, Classification::Baseline), listed];
    let mut revised = report(9, "NL", &second);
    revised.revision = 2;
    nl.app.submit_report(revised, &second).unwrap();
    pull(&nl, &police);

    let actor = Actor::admin();
    let detail = police
        .app
        .report_detail(&actor, nl.app.me(), &original.report_key)
        .unwrap();
    assert_eq!(detail["revision"], 2);
    let items = detail["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["classified_by"], "hash-list:interpol/baseline@3");
    assert_eq!(items[0]["classified_by"], "analyst:analyst-1");
    assert_eq!(items[0]["md5"], hex::encode(first[0].md5));
    let revisions = detail["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2);
    // Revision 1's second item was not illegal: outside the agreement, so not shown.
    assert_eq!(revisions[0]["revision"], 1);
    assert_eq!(revisions[0]["items"].as_array().unwrap().len(), 1);
    assert_eq!(revisions[1]["items"].as_array().unwrap().len(), 2);
    // The hotline itself sees both revisions whole.
    let own = nl
        .app
        .report_detail(&actor, nl.app.me(), &original.report_key)
        .unwrap();
    assert_eq!(own["revisions"][0]["items"].as_array().unwrap().len(), 2);

    // The listed item is found by its list, and its detail names where it occurs.
    let by_list = Query {
        hash_list: Some(ListQuery::Named("interpol/baseline".into())),
        limit: 10,
        ..Query::default()
    };
    assert_eq!(
        police
            .app
            .search_reports(&actor, &by_list, None)
            .unwrap()
            .total,
        1
    );
    let media = police.app.media_detail(&actor, &second[1].sha256).unwrap();
    assert_eq!(
        media["occurrences"][0]["classified_by"],
        "hash-list:interpol/baseline@3"
    );
    assert_eq!(media["sha1"], hex::encode(second[1].sha1));
    // Nothing unknown is found, and a hash never held is "not found".
    assert!(matches!(
        police.app.media_detail(&actor, &[0xee; 32]),
        Err(AppError::NotFound)
    ));
    let entries = police.app.audit_entries(0, 100).unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.record.action.as_str()).collect();
    assert!(actions.contains(&"view-report") && actions.contains(&"view-media"));
}

#[test]
fn searches_by_status_and_saved_searches_run_and_package() {
    let (root_key, root_pem) = test_root(212);
    let nl = agency(&root_key, &root_pem, "nl-hotline", Role::Hotline, "NL", 73);
    let de = agency(&root_key, &root_pem, "de-hotline", Role::Hotline, "DE", 74);
    admit(&nl, &de);
    agree(&nl, &de, scope("DE", &Classification::ALL), 82);
    let mut keys = Vec::new();
    for n in 0..3u8 {
        let items = [item(20 + n, Classification::Baseline)];
        let report = report(30 + n, "DE", &items);
        keys.push(report.report_key);
        nl.app.submit_report(report, &items).unwrap();
    }
    pull(&nl, &de);
    let actor = Actor::named("investigator-7").unwrap();
    let status = |wanted| {
        let query = Query {
            status: Some(wanted),
            limit: 10,
            ..Query::default()
        };
        de.app.search_reports(&actor, &query, None).unwrap().total
    };
    // The index is built before the status exists: the status must still reach it.
    assert_eq!(status(StatusQuery::None), 3);
    de.app
        .send_status(nl.app.me(), &keys[0], TakedownStatus::NoticeSent, None)
        .unwrap();
    de.app
        .send_status(nl.app.me(), &keys[1], TakedownStatus::NoticeSent, None)
        .unwrap();
    de.app
        .send_status(nl.app.me(), &keys[1], TakedownStatus::ContentRemoved, None)
        .unwrap();
    assert_eq!(status(StatusQuery::None), 1);
    assert_eq!(status(StatusQuery::Is(TakedownStatus::ContentRemoved)), 1);
    assert_eq!(status(StatusQuery::Is(TakedownStatus::NoticeSent)), 1);

    // Saved searches: checked when saved, run with their own criteria, packaged whole.
    let criteria = SearchSpec {
        status: Some("notice-sent".into()),
        ..SearchSpec::default()
    };
    de.app.save_search(&actor, "noticed", criteria).unwrap();
    for (bad, why) in [
        (SearchSpec::default(), "at least one criterion"),
        (
            SearchSpec {
                status: Some("gone".into()),
                ..SearchSpec::default()
            },
            "unknown status",
        ),
    ] {
        match de.app.save_search(&actor, "bad", bad) {
            Err(AppError::Invalid(message)) => assert!(message.contains(why), "{message}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        de.app
            .save_search(&actor, "a/b", criteria_of("DE"))
            .is_err()
    );
    let saved = de.app.saved_searches().unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].saved_by, "investigator-7");
    let run = de
        .app
        .run_saved_search(&actor, "noticed", &SearchSpec::default(), Some("case 12"))
        .unwrap();
    assert_eq!(run.total, 1);
    assert_eq!(run.page[0].doc.report_key, keys[0]);
    let request = PackageRequest {
        reports: Vec::new(),
        saved_search: Some("noticed".into()),
        case_reference: "case-12".into(),
        purpose: "takedown follow-up".into(),
        recipient: None,
        include_content: false,
    };
    let blobs_dir = tempfile::tempdir().unwrap();
    let blobs = crate::blobs::BlobStore::open(blobs_dir.path(), &[7; 32], 1 << 20).unwrap();
    let package = de.app.compose_package(&actor, &request, &blobs).unwrap();
    assert_eq!(package.manifest.reports.len(), 1);
    assert_eq!(package.manifest.reports[0].report_key, hex::encode(keys[0]));
    let entries = de.app.audit_entries(0, 100).unwrap();
    assert!(entries.iter().any(|e| e.record.action == "search"
        && e.record.target.contains("saved search \"noticed\"")
        && e.record.purpose.as_deref() == Some("case 12")));
    assert!(
        entries.iter().any(|e| e.record.action == "package"
            && e.record.target.contains("saved search \"noticed\""))
    );
    de.app.delete_saved_search("noticed").unwrap();
    assert!(matches!(
        de.app
            .run_saved_search(&actor, "noticed", &SearchSpec::default(), None),
        Err(AppError::NotFound)
    ));
}

fn criteria_of(country: &str) -> SearchSpec {
    SearchSpec {
        country: Some(country.into()),
        ..SearchSpec::default()
    }
}
