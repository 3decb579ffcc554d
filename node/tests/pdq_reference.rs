//! PDQ against Meta's published reference hashes (`../shared/testdata/pdq/`): every image hashes
//! within distance 16 of its published value (Meta's own tolerance for a correct port), and
//! every edit of the bridge photo still matches the original (distance <= 31).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use safeport_node::matching::pdq_index::{PdqIndex, bits_of};
use safeport_node::media::{hash_media, pdq, pdq_dihedral};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/pdq")
}

struct Expected {
    file: String,
    bits: [u8; 32],
    quality: Option<u8>,
}

fn expected() -> Vec<Expected> {
    let csv = std::fs::read_to_string(testdata().join("expected.csv")).unwrap();
    csv.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let mut bits = [0u8; 32];
            hex::decode_to_slice(fields[1], &mut bits).unwrap();
            Expected {
                file: fields[0].to_owned(),
                bits,
                quality: fields[2].parse().ok(),
            }
        })
        .collect()
}

#[test]
fn every_reference_image_hashes_within_distance_16_of_its_published_hash() {
    let cases = expected();
    assert_eq!(cases.len(), 20, "the reference set has 20 images");
    for case in &cases {
        let bytes = std::fs::read(testdata().join(&case.file)).unwrap();
        let hashes = hash_media(&bytes);
        let pdq = hashes
            .pdq
            .unwrap_or_else(|| panic!("{}: no PDQ ({:?})", case.file, hashes.pdq_error));
        let distance = pdq.distance(&case.bits);
        assert!(distance <= 16, "{}: distance {distance}", case.file);
        if let Some(quality) = case.quality {
            assert!(
                pdq.quality().abs_diff(quality) <= 10,
                "{}: quality {} vs {quality}",
                case.file,
                pdq.quality()
            );
        }
        assert_eq!(hashes.mime_type, "image/jpeg");
    }
}

#[test]
fn every_bridge_edit_matches_the_original() {
    let original = hash_media(&std::fs::read(testdata().join("bridge-mods/aaa-orig.jpg")).unwrap())
        .pdq
        .unwrap();
    let edits: Vec<Expected> = expected()
        .into_iter()
        .filter(|e| e.file.starts_with("bridge-mods/"))
        .collect();
    assert_eq!(edits.len(), 12);
    for edit in edits {
        let bytes = std::fs::read(testdata().join(&edit.file)).unwrap();
        let pdq_hash = hash_media(&bytes).pdq.unwrap();
        let distance = pdq_hash.distance(original.bits());
        assert!(
            distance <= pdq::MATCH_DISTANCE,
            "{}: distance {distance}",
            edit.file
        );
    }
    // And the rotations are different hashes (a dihedral-unaware matcher would miss them).
    let rotated =
        hash_media(&std::fs::read(testdata().join("dih/bridge-2-rotate-90.jpg")).unwrap())
            .pdq
            .unwrap();
    assert!(rotated.distance(original.bits()) > pdq::MATCH_DISTANCE);
}

#[test]
fn the_dihedral_hashes_of_the_original_are_the_hashes_of_its_eight_forms() {
    let original = std::fs::read(testdata().join("dih/bridge-1-original.jpg")).unwrap();
    let forms = pdq_dihedral(&original).unwrap().unwrap();
    let dih: Vec<Expected> = expected()
        .into_iter()
        .filter(|e| e.file.starts_with("dih/"))
        .collect();
    assert_eq!(dih.len(), 8);
    // Derived from the original's DCT, each form matches the published hash of the actually
    // transformed file (resampling makes them differ by a few bits, as in the reference).
    let distances: Vec<u32> = forms
        .iter()
        .zip(&dih)
        .map(|(form, published)| form.distance(&published.bits))
        .collect();
    assert_eq!(distances[0], 0);
    assert!(
        distances.iter().all(|&d| d <= pdq::MATCH_DISTANCE),
        "distances to the published forms: {distances:?}"
    );
    // And each transformed file, hashed directly, is found among the original's eight forms.
    for published in &dih {
        let bytes = std::fs::read(testdata().join(&published.file)).unwrap();
        let direct = hash_media(&bytes).pdq.unwrap();
        assert!(
            forms
                .iter()
                .any(|f| f.distance(direct.bits()) <= pdq::MATCH_DISTANCE),
            "{} not found among the dihedral forms",
            published.file
        );
    }
}

#[test]
fn the_index_finds_every_edit_and_every_dihedral_form_among_unrelated_hashes() {
    // The reference images' published hashes, among 20,000 unrelated ones.
    let cases = expected();
    let mut hashes: Vec<[u64; 4]> = (0..20_000u64)
        .map(|i| {
            let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            [x, x.rotate_left(17) ^ i, x.rotate_left(31), !x]
        })
        .collect();
    let first = hashes.len() as u32;
    hashes.extend(cases.iter().map(|c| bits_of(&c.bits)));
    let index = PdqIndex::build(hashes);
    let original = std::fs::read(testdata().join("bridge-mods/aaa-orig.jpg")).unwrap();
    let hash = bits_of(hash_media(&original).pdq.unwrap().bits());
    let found: Vec<u32> = index
        .query(&hash, pdq::MATCH_DISTANCE)
        .into_iter()
        .map(|(entry, _)| entry)
        .collect();
    for (offset, case) in cases.iter().enumerate() {
        let entry = first + offset as u32;
        if case.file.starts_with("bridge-mods/") || case.file == "dih/bridge-1-original.jpg" {
            assert!(found.contains(&entry), "{} not found", case.file);
        }
    }
    assert!(
        found.iter().all(|&e| e >= first),
        "an unrelated hash matched"
    );
    // A dihedral-aware lookup (the original's eight forms) finds every dih/ form.
    let forms = pdq_dihedral(&original).unwrap().unwrap();
    for (offset, case) in cases
        .iter()
        .enumerate()
        .filter(|(_, c)| c.file.starts_with("dih/"))
    {
        let entry = first + offset as u32;
        assert!(
            forms.iter().any(|form| index
                .query(&bits_of(form.bits()), pdq::MATCH_DISTANCE)
                .iter()
                .any(|&(e, _)| e == entry)),
            "{} not found by a dihedral lookup",
            case.file
        );
    }
}
