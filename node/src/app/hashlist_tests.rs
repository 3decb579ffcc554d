//! Hash lists between real stores through the domain layer: INTERPOL publishes, subscribers
//! pull pages (`serve_pull` to `ingest_page`, as the network does), and every rule of a
//! subscriber is exercised on the real path: versions follow, a late subscriber catches up,
//! rollbacks, lists signed by a non-publisher and deltas that miss their digest are refused
//! and logged, an expired list is flagged stale.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use safeport_protocol::agreement::templates;
use safeport_protocol::hashes::HashValue;
use safeport_protocol::hashlist::{
    HashCategory, HashEntry, HashListId, HashListManifest, HashListPart, ListDigest, PartKind,
};
use safeport_protocol::sync::{SyncItem, SyncPage};
use safeport_protocol::{RecordType, Role, Timestamp};

use super::App;
use super::hashlists::{PublishMode, PublishRequest, SNAPSHOT_EVERY};
use super::test_support::{Agency, admit, agency, agree, now, pull};
use safeport_protocol::NodeKey;
use safeport_protocol::pki::{self, Validity};

struct Lists {
    interpol: Agency,
    nl: Agency,
    de: Agency,
    root_key: NodeKey,
    root_pem: String,
}

fn setup() -> Lists {
    let root_key = NodeKey::from_seed([201; 32]);
    let root_pem = pki::create_root(
        &root_key,
        "Test Federation",
        Validity::days_from(Timestamp::from_secs(1_780_000_000), 3650),
        [201; 16],
    )
    .unwrap();
    let w = Lists {
        interpol: agency(&root_key, &root_pem, "interpol", Role::Interpol, "FR", 11),
        nl: agency(&root_key, &root_pem, "nl-hotline", Role::Hotline, "NL", 12),
        de: agency(&root_key, &root_pem, "de-hotline", Role::Hotline, "DE", 13),
        root_key,
        root_pem,
    };
    admit(&w.interpol, &w.nl);
    admit(&w.interpol, &w.de);
    agree(
        &w.interpol,
        &w.nl,
        templates::hash_list_subscription(Vec::new()).scope,
        20,
    );
    w
}

fn sha(n: u32) -> HashValue {
    let mut bytes = [0x5a; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    HashValue::Sha256(bytes)
}

fn entries(range: std::ops::Range<u32>, category: HashCategory) -> Vec<HashEntry> {
    range
        .map(|n| HashEntry {
            value: sha(n),
            category,
            added_at: Timestamp(0),
        })
        .collect()
}

fn publish(publisher: &Agency, entries: Vec<HashEntry>) -> super::hashlists::Published {
    publisher
        .app
        .publish_hash_list(PublishRequest {
            name: "baseline".parse().unwrap(),
            national: None,
            entries,
            valid_for_secs: 30 * 24 * 3600,
            snapshot: false,
            mode: PublishMode::Replace,
        })
        .unwrap()
}

fn baseline() -> HashListId {
    "interpol/baseline".parse().unwrap()
}

fn held(agency: &Agency) -> Option<(u64, u64, String)> {
    agency
        .app
        .hash_lists()
        .unwrap()
        .into_iter()
        .find(|l| l.list == "interpol/baseline")
        .map(|l| (l.version, l.entry_count, l.digest))
}

/// Hands `to` a page with one record signed by `from`'s key, as if `from` had served it.
fn offer(from: &Agency, to: &Agency, body: HashListPart) -> super::sync::Ingested {
    let (record, _guard) = from.app.sign_own(body).unwrap();
    let cursor = to.app.store().cursor(from.app.me()).unwrap();
    // The cursor stays where it is: the offered record is not part of `from`'s outbox.
    let page = SyncPage {
        items: vec![SyncItem {
            position: cursor,
            record: record.raw().bytes().to_vec(),
            media: Vec::new(),
        }],
        certificates: vec![from.app.identity().certificate_pem.clone()],
        next_cursor: cursor,
        more: false,
    };
    to.app.ingest_page(from.app.me(), &page).unwrap()
}

fn last_rejection(agency: &Agency) -> String {
    agency
        .app
        .store()
        .rejections(1)
        .unwrap()
        .first()
        .map(|r| r.reason.clone())
        .unwrap_or_default()
}

#[test]
fn subscribers_follow_each_version_and_a_late_one_catches_up() {
    let w = setup();
    let v1 = publish(&w.interpol, entries(0..30, HashCategory::Baseline));
    assert_eq!((v1.version, v1.snapshot_parts, v1.delta_parts), (1, 1, 0));
    assert_eq!(held(&w.interpol).map(|h| h.1), Some(30));
    pull(&w.interpol, &w.nl);
    assert_eq!(held(&w.nl), held(&w.interpol));
    let found = w.nl.app.match_exact(&sha(7)).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].list, "interpol/baseline");
    assert!(w.nl.app.match_exact(&sha(999)).unwrap().is_empty());

    // v2: five removed, ten added, one category changed; v3: more added. One pull takes both.
    let mut next = entries(5..40, HashCategory::Baseline);
    next[0].category = HashCategory::NationallyIllegal;
    let v2 = publish(&w.interpol, next.clone());
    assert_eq!((v2.added, v2.removed), (11, 6));
    next.extend(entries(40..45, HashCategory::Vics(2)));
    publish(&w.interpol, next);
    pull(&w.interpol, &w.nl);
    assert_eq!(held(&w.nl).map(|h| (h.0, h.1)), Some((3, 40)));
    assert_eq!(held(&w.nl), held(&w.interpol));
    assert_eq!(
        w.nl.app.hash_list_entries(&baseline()).unwrap(),
        w.interpol.app.hash_list_entries(&baseline()).unwrap()
    );
    assert!(w.nl.app.match_exact(&sha(2)).unwrap().is_empty(), "removed");

    // Up to past the next snapshot, then a new subscriber is back-filled and catches up.
    let mut content = entries(5..45, HashCategory::Baseline);
    for v in 4..=SNAPSHOT_EVERY + 2 {
        content.extend(entries(
            100 * v as u32..100 * v as u32 + 3,
            HashCategory::Baseline,
        ));
        let published = publish(&w.interpol, content.clone());
        assert_eq!(published.snapshot_parts > 0, v == SNAPSHOT_EVERY);
    }
    agree(
        &w.interpol,
        &w.de,
        templates::hash_list_subscription(Vec::new()).scope,
        21,
    );
    pull(&w.interpol, &w.de);
    pull(&w.interpol, &w.nl);
    let publisher = held(&w.interpol);
    assert_eq!(publisher.as_ref().map(|h| h.0), Some(SNAPSHOT_EVERY + 2));
    assert_eq!(held(&w.de), publisher);
    assert_eq!(held(&w.nl), publisher);
    // The new subscriber got the latest snapshot and the deltas after it, nothing older;
    // the one that followed along got every delta and no later snapshot.
    let list_records = |a: &Agency| {
        a.app
            .store()
            .records_of_type(RecordType::HashList, None, 1000)
            .unwrap()
            .len()
    };
    assert_eq!(list_records(&w.de), 3);
    assert_eq!(list_records(&w.nl), SNAPSHOT_EVERY as usize + 2);
}

#[test]
fn an_older_version_is_refused_and_logged_and_the_held_one_kept() {
    let w = setup();
    publish(&w.interpol, entries(0..10, HashCategory::Baseline));
    publish(&w.interpol, entries(0..12, HashCategory::Baseline));
    pull(&w.interpol, &w.nl);
    let before = held(&w.nl);
    assert_eq!(before.as_ref().map(|h| h.0), Some(2));
    // The publisher (or someone replaying its key's output) offers another version 1.
    let old = entries(0..3, HashCategory::Baseline);
    let manifest = manifest_for(1, &old, now());
    let part = HashListPart::split(&manifest, PartKind::Snapshot, &old, &[]).remove(0);
    let outcome = offer(&w.interpol, &w.nl, part);
    assert_eq!(outcome.rejected, 1);
    assert!(
        last_rejection(&w.nl).contains("rollback"),
        "{}",
        last_rejection(&w.nl)
    );
    assert_eq!(held(&w.nl), before);
}

fn manifest_for(version: u64, entries: &[HashEntry], at: Timestamp) -> HashListManifest {
    let mut hasher = safeport_protocol::hashlist::ListHasher::new();
    entries.iter().for_each(|e| hasher.add(e));
    HashListManifest {
        list: baseline(),
        national: None,
        version,
        previous_version: version - 1,
        entry_count: entries.len() as u64,
        digest: hasher.digest(),
        published_at: at,
        expires_at: at.plus_secs(3600),
    }
}

#[test]
fn a_list_signed_by_another_agency_than_its_publisher_is_refused() {
    let w = setup();
    // INTERPOL's node signs a version of a list that names the NL hotline as publisher.
    let list: HashListId = "nl-hotline/national".parse().unwrap();
    let content = entries(0..3, HashCategory::NationallyIllegal);
    let mut manifest = manifest_for(1, &content, now());
    manifest.list = list.clone();
    let part = HashListPart::split(&manifest, PartKind::Snapshot, &content, &[]).remove(0);
    let outcome = offer(&w.interpol, &w.nl, part);
    assert_eq!(outcome.rejected, 1);
    assert!(last_rejection(&w.nl).contains("published by nl-hotline"));
    assert!(w.nl.app.store().list_state(&list).unwrap().is_none());
}

#[test]
fn a_delta_that_misses_the_manifest_digest_is_refused_and_the_list_kept() {
    let w = setup();
    publish(&w.interpol, entries(0..10, HashCategory::Baseline));
    pull(&w.interpol, &w.nl);
    let before = held(&w.nl);
    // Version 2 claims to add one entry, but its digest is of another list.
    let added = entries(10..11, HashCategory::Baseline);
    let mut manifest = manifest_for(2, &entries(0..11, HashCategory::Baseline), now());
    manifest.digest = ListDigest([7; 32]);
    let part = HashListPart::split(&manifest, PartKind::Delta, &added, &[]).remove(0);
    let outcome = offer(&w.interpol, &w.nl, part);
    assert_eq!(
        outcome.stored, 1,
        "the part itself is well-formed and covered"
    );
    assert_eq!(held(&w.nl), before);
    assert!(
        last_rejection(&w.nl).contains("digest"),
        "{}",
        last_rejection(&w.nl)
    );
    assert!(w.nl.app.match_exact(&sha(10)).unwrap().is_empty());
    // The publisher's real next version still applies.
    publish(&w.interpol, entries(0..11, HashCategory::Baseline));
    pull(&w.interpol, &w.nl);
    assert_eq!(held(&w.nl), held(&w.interpol));
}

fn a_year_later() -> Timestamp {
    now().plus_secs(366 * 24 * 3600)
}

#[test]
fn an_expired_list_is_flagged_stale_and_still_matches() {
    let w = setup();
    publish(&w.interpol, entries(0..5, HashCategory::Baseline));
    pull(&w.interpol, &w.nl);
    let fresh = w.nl.app.hash_lists().unwrap();
    assert!(!fresh[0].stale);
    // The same store seen by a node whose clock is past the version's expiry.
    let identity = Arc::new(w.nl.app.identity().clone());
    let later = App::new(w.nl.app.store().clone(), identity, a_year_later).unwrap();
    let lists = later.hash_lists().unwrap();
    assert!(lists[0].stale);
    let found = later.match_exact(&sha(1)).unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].stale);
}

#[test]
fn a_hash_list_without_a_subscription_is_refused() {
    let w = setup();
    // DE has no subscription yet.
    let content = entries(0..3, HashCategory::Baseline);
    let manifest = manifest_for(1, &content, now());
    let part = HashListPart::split(&manifest, PartKind::Snapshot, &content, &[]).remove(0);
    let outcome = offer(&w.interpol, &w.de, part);
    assert_eq!(outcome.rejected, 1);
    assert!(last_rejection(&w.de).contains("no subscription"));
}

#[test]
fn a_publisher_rotates_its_key_only_through_a_certificate_of_the_root() {
    let w = setup();
    publish(&w.interpol, entries(0..5, HashCategory::Baseline));
    pull(&w.interpol, &w.nl);
    // A key with no certificate from the root: its parts do not verify and are refused.
    let impostor = agency(
        &NodeKey::from_seed([99; 32]),
        &pki::create_root(
            &NodeKey::from_seed([99; 32]),
            "Another Federation",
            Validity::days_from(Timestamp::from_secs(1_780_000_000), 3650),
            [99; 16],
        )
        .unwrap(),
        "interpol",
        Role::Interpol,
        "FR",
        31,
    );
    let content = entries(0..9, HashCategory::Baseline);
    let manifest = manifest_for(2, &content, now());
    let forged = HashListPart::split(&manifest, PartKind::Snapshot, &content, &[]).remove(0);
    let outcome = offer(&impostor, &w.nl, forged.clone());
    assert_eq!(outcome.rejected, 1);
    assert_eq!(held(&w.nl).map(|h| h.0), Some(1));
    // INTERPOL's new key, certified by the federation root: its versions are accepted and the
    // list goes on.
    let rotated = agency(
        &w.root_key,
        &w.root_pem,
        "interpol",
        Role::Interpol,
        "FR",
        32,
    );
    let outcome = offer(&rotated, &w.nl, forged);
    assert_eq!(outcome.stored, 1, "{}", last_rejection(&w.nl));
    assert_eq!(held(&w.nl).map(|h| (h.0, h.1)), Some((2, 9)));
}

fn testdata() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/pdq")
}

#[test]
fn pdq_lookups_find_meta_s_edits_and_rotations_of_a_listed_picture_and_nothing_unrelated() {
    let w = setup();
    let original = std::fs::read(testdata().join("bridge-mods/aaa-orig.jpg")).unwrap();
    let listed = crate::media::hash_media(&original).pdq.unwrap();
    // The original's PDQ hash among 20,000 unrelated ones.
    let mut content: Vec<HashEntry> = safeport_tests::fixtures::random_pdq_bits(5, 20_000)
        .into_iter()
        .map(|words| {
            let mut bytes = [0u8; 32];
            for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
            HashEntry {
                value: HashValue::Pdq(bytes),
                category: HashCategory::Baseline,
                added_at: Timestamp(0),
            }
        })
        .collect();
    content.push(HashEntry {
        value: HashValue::Pdq(*listed.bits()),
        category: HashCategory::Baseline,
        added_at: Timestamp(0),
    });
    publish(&w.interpol, content);
    pull(&w.interpol, &w.nl);
    let hits_original = |matches: &[super::hashlists::ListMatch]| {
        matches.len() == 1 && matches[0].list == "interpol/baseline"
    };
    for dir in ["bridge-mods", "dih"] {
        for file in std::fs::read_dir(testdata().join(dir)).unwrap() {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let found =
                w.nl.app
                    .match_file(&bytes, crate::media::pdq::MATCH_DISTANCE)
                    .unwrap();
            assert!(hits_original(&found), "{}: {found:?}", path.display());
        }
    }
    // Without the dihedral forms, a rotated copy is too far from the listed hash.
    let rotated = std::fs::read(testdata().join("dih/bridge-2-rotate-90.jpg")).unwrap();
    let plain = crate::media::hash_media(&rotated).pdq.unwrap();
    assert!(w.nl.app.match_pdq(&[*plain.bits()], 31).is_empty());
    // Random hashes match nothing.
    for words in safeport_tests::fixtures::random_pdq_bits(77, 1_000) {
        let mut bytes = [0u8; 32];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        assert!(w.nl.app.match_pdq(&[bytes], 31).is_empty());
    }
}

#[test]
fn a_hotline_publishes_its_national_list_to_its_police_and_no_other_list() {
    let w = setup();
    let police = agency(&w.root_key, &w.root_pem, "nl-police", Role::Lea, "NL", 14);
    admit(&w.nl, &police);
    agree(
        &w.nl,
        &police,
        templates::hash_list_subscription(vec![safeport_protocol::Country::new("NL").unwrap()])
            .scope,
        23,
    );
    let request = |national: Option<&str>| PublishRequest {
        name: "national".parse().unwrap(),
        national: national.map(|c| c.parse().unwrap()),
        entries: entries(0..4, HashCategory::NationallyIllegal),
        valid_for_secs: 3600,
        snapshot: false,
        mode: PublishMode::Replace,
    };
    let refused = w.nl.app.publish_hash_list(request(None)).unwrap_err();
    assert!(refused.to_string().contains("only INTERPOL"), "{refused}");
    assert!(w.nl.app.publish_hash_list(request(Some("DE"))).is_err());
    w.nl.app.publish_hash_list(request(Some("NL"))).unwrap();
    pull(&w.nl, &police);
    let held: Vec<String> = police
        .app
        .hash_lists()
        .unwrap()
        .into_iter()
        .map(|l| format!("{}@{}", l.list, l.version))
        .collect();
    assert_eq!(held, ["nl-hotline/national@1"]);
    // Signed by the hotline, but as a baseline list: refused at the police node.
    let content = entries(0..2, HashCategory::Baseline);
    let mut manifest = manifest_for(1, &content, now());
    manifest.list = "nl-hotline/baseline".parse().unwrap();
    let part = HashListPart::split(&manifest, PartKind::Snapshot, &content, &[]).remove(0);
    let outcome = offer(&w.nl, &police, part);
    assert_eq!(outcome.rejected, 1);
    assert!(last_rejection(&police).contains("only INTERPOL"));
}
