//! What a police node shows of what it holds, against a model, with random agreements: the
//! hotline holds random reports (hosting country, item classifications); the police receives
//! them under a first random national-access agreement, which then ends and is replaced by a
//! second random one (nothing more is pulled). Every search total (also by each media hash),
//! facet count, report and media detail, and package must show exactly what the second
//! agreement grants of what the first let in: nothing hidden is returned or counted, and a
//! hidden report or item is "not found".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use safeport_protocol::agreement::{CountryScope, MediaAccess, Scope};
use safeport_protocol::{Classification, Country, RecordType, Role};

use super::AppError;
use super::audit::Actor;
use super::packages::PackageRequest;
use super::test_support::{admit, agency, agree, item, pull, report, test_root};
use crate::search::{HashQuery, Query};
use safeport_protocol::hashes::HashAlgorithm;

const COUNTRIES: [&str; 3] = ["NL", "DE", "BE"];
const CLASSES: [Classification; 4] = Classification::ALL;

fn scope(countries: u8, classes: u8) -> Scope {
    let mut hosting: Vec<Country> = (0..3)
        .filter(|i| countries & (1 << i) != 0)
        .map(|i| Country::new(COUNTRIES[i]).unwrap())
        .collect();
    hosting.sort();
    let mut classifications: Vec<Classification> = (0..4)
        .filter(|i| classes & (1 << i) != 0)
        .map(|i| CLASSES[i])
        .collect();
    classifications.sort();
    Scope {
        record_types: vec![RecordType::Report],
        classifications,
        hosting_countries: CountryScope::Only(hosting),
        media: MediaAccess::Hashes,
        include_context: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn police_sees_exactly_what_the_agreement_in_force_grants(
        reports in proptest::collection::vec((0usize..3, 1u8..16), 1..12),
        first in (1u8..8, 1u8..16),
        second in (1u8..8, 1u8..16),
        query_country in proptest::option::of(0usize..3),
        query_class in proptest::option::of(0usize..4),
    ) {
        let (root_key, root_pem) = test_root(204);
        let nl = agency(&root_key, &root_pem, "nl-hotline", Role::Hotline, "NL", 51);
        let police = agency(&root_key, &root_pem, "nl-police", Role::Lea, "NL", 52);
        admit(&nl, &police);
        agree(&nl, &police, scope(first.0, first.1), 61);
        // The model: what the police holds (items by class) and what it may show now.
        let mut model = Vec::new();
        for (r, (country, classes)) in reports.iter().enumerate() {
            let items: Vec<_> = (0..4)
                .filter(|i| classes & (1 << i) != 0)
                .map(|i| item((r * 4 + i) as u8, CLASSES[i]))
                .collect();
            let report = report(100 + r as u8, COUNTRIES[*country], &items);
            nl.app.submit_report(report.clone(), &items).unwrap();
            let in_first = first.0 & (1 << country) != 0 && classes & first.1 != 0;
            let held = if in_first { classes & first.1 } else { 0 };
            let shown = if second.0 & (1 << country) != 0 { held & second.1 } else { 0 };
            model.push((report.report_key, *country, shown));
        }
        pull(&nl, &police);
        police.app.revoke_agreement(&[61; 16], "replaced".into()).unwrap();
        agree(&nl, &police, scope(second.0, second.1), 62);

        let actor = Actor::admin();
        let nl_id = nl.app.me().clone();
        for (key, _, shown) in &model {
            match police.app.visible_report(&nl_id, key) {
                Ok(visible) => {
                    prop_assert!(*shown != 0);
                    let classes = visible.items.iter().fold(0u8, |set, v| {
                        set | (1 << CLASSES.iter().position(|c| *c == v.item.classification()).unwrap())
                    });
                    prop_assert_eq!(classes, *shown);
                }
                Err(AppError::NotFound) => prop_assert_eq!(*shown, 0),
                Err(other) => panic!("{other}"),
            }
            match police.app.report_detail(&actor, &nl_id, key) {
                Ok(detail) => {
                    prop_assert_eq!(detail["items"].as_array().unwrap().len() as u32, shown.count_ones());
                    prop_assert_eq!(detail["revisions"].as_array().unwrap().len(), 1);
                }
                Err(AppError::NotFound) => prop_assert_eq!(*shown, 0),
                Err(other) => panic!("{other}"),
            }
            let package = PackageRequest {
                saved_search: None,
                reports: vec![(nl_id.clone(), *key)],
                case_reference: "case-1".into(),
                purpose: "test".into(),
                recipient: None,
                include_content: false,
            };
            let blobs_dir = tempfile::tempdir().unwrap();
            let blobs = crate::blobs::BlobStore::open(blobs_dir.path(), &[7; 32], 1 << 20).unwrap();
            let composed = police.app.compose_package(&actor, &package, &blobs);
            prop_assert_eq!(composed.is_ok(), *shown != 0);
        }
        let query = Query {
            country: query_country.map(|c| Country::new(COUNTRIES[c]).unwrap()),
            classification: query_class.map(|c| CLASSES[c]),
            limit: 100,
            ..Query::default()
        };
        let results = police.app.search_reports(&actor, &query, None).unwrap();
        let expected: Vec<_> = model
            .iter()
            .filter(|(_, country, shown)| {
                *shown != 0
                    && query_country.is_none_or(|c| c == *country)
                    && query_class.is_none_or(|k| shown & (1 << k) != 0)
            })
            .collect();
        prop_assert_eq!(results.total, expected.len() as u64);
        // Media: each item is found by any of its hashes, and has a detail, only if shown.
        for (r, (_, classes)) in reports.iter().enumerate() {
            let shown = model[r].2;
            for i in (0..4).filter(|i| classes & (1 << i) != 0) {
                let media = item((r * 4 + i) as u8, CLASSES[i]);
                let visible = shown & (1 << i) != 0;
                match police.app.media_detail(&actor, &media.sha256) {
                    Ok(detail) => {
                        prop_assert!(visible);
                        prop_assert_eq!(detail["occurrences"].as_array().unwrap().len(), 1);
                    }
                    Err(AppError::NotFound) => prop_assert!(!visible),
                    Err(other) => panic!("{other}"),
                }
                let pdq = media.pdq.as_ref().unwrap();
                for hash in [
                    HashQuery::exact(HashAlgorithm::Md5, &media.md5),
                    HashQuery::exact(HashAlgorithm::Sha1, &media.sha1),
                    HashQuery::exact(HashAlgorithm::Sha256, &media.sha256),
                    HashQuery::Pdq { bits: *pdq.bits(), max_distance: 0 },
                ] {
                    let by_hash = Query { hash: Some(hash), limit: 10, ..Query::default() };
                    let found = police.app.search_reports(&actor, &by_hash, None).unwrap();
                    prop_assert_eq!(found.total, u64::from(visible));
                    prop_assert_eq!(found.facets.classification.iter().map(|f| f.1).sum::<u64>() > 0, visible);
                }
            }
        }
        for (i, class) in CLASSES.iter().enumerate() {
            let count = expected.iter().filter(|(_, _, shown)| shown & (1 << i) != 0).count() as u64;
            let faceted = results
                .facets
                .classification
                .iter()
                .find(|(c, _)| c == class.as_str())
                .map_or(0, |f| f.1);
            prop_assert_eq!(faceted, count, "facet {}", class.as_str());
        }
    }
}
