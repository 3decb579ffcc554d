//! The index against a model: random documents, random visibility, random queries; totals,
//! pages and facets must equal a brute-force evaluation, and nothing hidden is ever counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::*;

const ORIGINS: [&str; 3] = ["nl-hotline", "de-hotline", "fr-hotline"];
const COUNTRIES: [&str; 3] = ["NL", "DE", "FR"];

fn doc(index: &mut SearchIndex, n: u8, origin: usize, country: usize, classes: u8, at: u64) -> Doc {
    let origin = index
        .intern(&AgencyId::new(ORIGINS[origin]).unwrap())
        .unwrap();
    Doc {
        origin,
        report_key: [n; 16],
        record_id: RecordId([n; 32]),
        country: Country::new(COUNTRIES[country]).ok(),
        received_at: Timestamp(at),
        classes,
        url: format!("https://site-{n}.example.test/gallery").into(),
        text: format!("https://site-{n}.example.test/gallery page {n}").into(),
        hosts: vec![format!("site-{n}.example.test").into()].into(),
    }
}

proptest! {
    #[test]
    fn searches_agree_with_a_brute_force_model(
        docs in proptest::collection::vec((0usize..3, 0usize..3, 1u8..16, 0u64..1000), 0..60),
        hidden in proptest::collection::vec(any::<bool>(), 9),
        masks in proptest::collection::vec(1u8..16, 9),
        country in proptest::option::of(0usize..3),
        hotline in proptest::option::of(0usize..3),
        class in proptest::option::of(0usize..4),
        since in proptest::option::of(0u64..1000),
        text in proptest::option::of(0u8..60),
        offset in 0usize..10,
        limit in 1usize..20,
    ) {
        let mut index = SearchIndex::default();
        let mut model = Vec::new();
        for (n, (o, c, classes, at)) in docs.iter().enumerate() {
            let d = doc(&mut index, n as u8, *o, *c, *classes, *at);
            model.push((n as u8, *o, *c, *classes, *at));
            index.upsert(d);
        }
        // Visibility per (origin, country): hidden, or a mask of visible classes.
        let visibility = |o: usize, c: usize, classes: u8| {
            let k = o * 3 + c;
            if hidden[k] || classes & masks[k] == 0 {
                Visibility::Hidden
            } else {
                Visibility::Shown(classes & masks[k])
            }
        };
        let query = Query {
            country: country.map(|c| Country::new(COUNTRIES[c]).unwrap()),
            hotline: hotline.map(|h| AgencyId::new(ORIGINS[h]).unwrap()),
            classification: class.map(|c| Classification::ALL[c]),
            since: since.map(Timestamp),
            text: text.map(|n| format!("site-{n}.example")),
            offset,
            limit,
            ..Query::default()
        };
        let results = index.search(&query, |d, origin| {
            let o = ORIGINS.iter().position(|x| *x == origin.as_str()).unwrap();
            let c = COUNTRIES.iter().position(|x| Some(Country::new(x).unwrap()) == d.country).unwrap();
            visibility(o, c, d.classes)
        });
        let mut expected: Vec<(u8, u64, u8)> = model
            .iter()
            .filter(|(n, o, c, classes, at)| {
                country.is_none_or(|x| x == *c)
                    && hotline.is_none_or(|x| x == *o)
                    && since.is_none_or(|s| *at >= s)
                    && text.is_none_or(|t| t == *n)
                    && match visibility(*o, *c, *classes) {
                        Visibility::Hidden => false,
                        Visibility::Shown(mask) => class.is_none_or(|k| mask & (1 << k) != 0),
                    }
            })
            .map(|(n, o, c, classes, at)| {
                let Visibility::Shown(mask) = visibility(*o, *c, *classes) else { unreachable!() };
                (*n, *at, mask)
            })
            .collect();
        prop_assert_eq!(results.total, expected.len() as u64);
        // Facets count visible classes only.
        for (i, class) in Classification::ALL.iter().enumerate() {
            let count = expected.iter().filter(|(_, _, m)| m & (1 << i) != 0).count() as u64;
            let shown = results.facets.classification.iter().find(|(c, _)| c == class.as_str()).map_or(0, |x| x.1);
            prop_assert_eq!(shown, count);
        }
        let by_country: u64 = results.facets.country.iter().map(|x| x.1).sum();
        prop_assert_eq!(by_country, expected.len() as u64);
        expected.sort_by_key(|(n, at, _)| (*at, [*n; 32]));
        expected.reverse();
        let page: Vec<(u8, ClassSet)> = results.page.iter().map(|h| (h.doc.report_key[0], h.visible)).collect();
        let expected_page: Vec<(u8, ClassSet)> = expected.iter().skip(offset).take(limit).map(|(n, _, m)| (*n, *m)).collect();
        prop_assert_eq!(page, expected_page);
    }
}

#[test]
fn documents_are_replaced_and_removed_by_their_report() {
    let mut index = SearchIndex::default();
    let first = doc(&mut index, 1, 0, 0, class_bit(Classification::Baseline), 5);
    let second = doc(
        &mut index,
        2,
        0,
        1,
        class_bit(Classification::NotIllegal),
        6,
    );
    index.upsert(first.clone());
    index.upsert(second);
    let mut revised = first;
    revised.received_at = Timestamp(9);
    index.upsert(revised);
    assert_eq!(index.len(), 2);
    let all = |index: &SearchIndex| {
        index
            .search(
                &Query {
                    limit: 10,
                    ..Query::default()
                },
                |d, _| Visibility::Shown(d.classes),
            )
            .page
            .iter()
            .map(|h| (h.doc.report_key[0], h.doc.received_at.0))
            .collect::<Vec<_>>()
    };
    assert_eq!(all(&index), vec![(1, 9), (2, 6)]);
    index.remove(&AgencyId::new("nl-hotline").unwrap(), &[1; 16]);
    assert_eq!(all(&index), vec![(2, 6)]);
    let domain = Query {
        domain: Some("Example.Test".into()),
        limit: 10,
        ..Query::default()
    };
    assert_eq!(
        index
            .search(&domain, |d, _| Visibility::Shown(d.classes))
            .total,
        1
    );
    let unknown = Query {
        hotline: Some(AgencyId::new("xx-hotline").unwrap()),
        limit: 10,
        ..Query::default()
    };
    assert_eq!(index.search(&unknown, |_, _| Visibility::Shown(1)).total, 0);
}
