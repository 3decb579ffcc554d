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
        items: (0..4u8)
            .filter(|k| classes & (1 << k) != 0)
            .map(|k| item(n, k))
            .collect(),
        status: STATUSES[usize::from(n) % 3],
    }
}

const STATUSES: [Option<TakedownStatus>; 3] = [
    None,
    Some(TakedownStatus::NoticeSent),
    Some(TakedownStatus::ContentRemoved),
];

/// Item of class `k` of document `n`: its SHA-256 (8 bytes here) names both; every third is
/// listed.
fn item(n: u8, k: u8) -> DocItem {
    DocItem {
        class: 1 << k,
        md5: 0,
        sha1: 0,
        sha256: digest_key(&((u64::from(n) << 8) | u64::from(k)).to_be_bytes()),
        pdq: None,
        list: u16::from((n + k).is_multiple_of(3)),
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
        hash in proptest::option::of((0u8..60, 0u8..4)),
        listed in any::<bool>(),
        status in proptest::option::of(0usize..3),
    ) {
        let mut index = SearchIndex::default();
        prop_assert_eq!(index.intern_list("interpol/baseline"), 1);
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
            hash: hash.map(|(n, k)| HashQuery::exact(
                HashAlgorithm::Sha256,
                &((u64::from(n) << 8) | u64::from(k)).to_be_bytes(),
            )),
            hash_list: listed.then_some(ListQuery::Any),
            status: status.map(|s| match STATUSES[s] {
                None => StatusQuery::None,
                Some(status) => StatusQuery::Is(status),
            }),
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
                    && status.is_none_or(|s| STATUSES[s] == STATUSES[usize::from(*n) % 3])
                    && match visibility(*o, *c, *classes) {
                        Visibility::Hidden => false,
                        Visibility::Shown(mask) => {
                            let item_matches = (0..4u8).any(|k| {
                                mask & (1 << k) != 0
                                    && hash.is_none_or(|(hn, hk)| hn == *n && hk == k)
                                    && (!listed || (n + k).is_multiple_of(3))
                            });
                            class.is_none_or(|k| mask & (1 << k) != 0)
                                && (!(hash.is_some() || listed) || item_matches)
                        }
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
fn pdq_searches_find_items_within_the_distance_and_only_visible_ones() {
    let mut index = SearchIndex::default();
    let mut near = doc(&mut index, 1, 0, 0, class_bit(Classification::Baseline), 5);
    let mut far = doc(
        &mut index,
        2,
        0,
        0,
        class_bit(Classification::NotIllegal),
        6,
    );
    let base = [0x5au8; 32];
    let mut flipped = base;
    flipped[0] ^= 0b0000_0111; // three bits away
    near.items[0].pdq = Some(crate::matching::pdq_index::bits_of(&flipped));
    let mut distant = base;
    for byte in distant.iter_mut().take(5) {
        *byte ^= 0xff; // forty bits away
    }
    far.items[0].pdq = Some(crate::matching::pdq_index::bits_of(&distant));
    index.upsert(near);
    index.upsert(far);
    let run = |max_distance, visible: ClassSet| {
        let query = Query {
            hash: Some(HashQuery::Pdq {
                bits: base,
                max_distance,
            }),
            limit: 10,
            ..Query::default()
        };
        let results = index.search(&query, |d, _| Visibility::Shown(d.classes & visible));
        let mut keys: Vec<u8> = results.page.iter().map(|h| h.doc.report_key[0]).collect();
        keys.sort_unstable();
        keys
    };
    assert_eq!(run(2, 0xff), Vec::<u8>::new());
    assert_eq!(run(3, 0xff), vec![1]);
    assert_eq!(run(40, 0xff), vec![1, 2]);
    // The near item is baseline: a caller who sees only not-illegal items does not find it.
    assert_eq!(run(40, class_bit(Classification::NotIllegal)), vec![2]);
    // A named list nobody interned matches nothing.
    let unknown = Query {
        hash_list: Some(ListQuery::Named("interpol/none".into())),
        limit: 10,
        ..Query::default()
    };
    assert_eq!(
        index
            .search(&unknown, |d, _| Visibility::Shown(d.classes))
            .total,
        0
    );
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
