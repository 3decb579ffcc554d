//! Synthetic records for scenarios and benchmarks: made-up hosts under `.example.test`, hashes
//! of nothing. `n` makes each item and report distinct; its low byte is the first byte of an
//! item's SHA-256 and of a report's key, so tests can name what they expect to see.

use std::collections::BTreeSet;

use safeport_node::RunningNode;
use safeport_protocol::hashes::PdqHash;
use safeport_protocol::report::{Assessment, Assessor, Hosting, IntakeChannel, MediaItem, Report};
use safeport_protocol::{Classification, Country, RecordId, RecordType, Timestamp};

fn bytes<const N: usize>(n: u32) -> [u8; N] {
    let mut out = [n as u8; N];
    out[N - 4..].copy_from_slice(&n.to_be_bytes());
    out
}

/// A media item numbered `n`, classified by an analyst.
pub fn media_item(n: u32, classification: Classification) -> MediaItem {
    MediaItem {
        salt: bytes(n),
        md5: bytes(n.wrapping_add(1)),
        sha1: bytes(n.wrapping_add(2)),
        sha256: bytes(n),
        pdq: PdqHash::new(bytes(n.wrapping_add(3)), 90).ok(),
        mime_type: "image/jpeg".into(),
        size: 250_000,
        dimensions: Some((1000, 1000)),
        source_url: format!("https://media.example.test/{n}.jpg"),
        assessment: Assessment {
            classification,
            assessor: Some(Assessor::Analyst("analyst-1".into())),
            assessed_at: Some(Timestamp::from_secs(1_800_000_000)),
        },
    }
}

/// A crawled report numbered `n`, hosted in `country`, committing to `items`.
pub fn report(n: u32, country: &str, items: &[MediaItem]) -> Report {
    Report {
        report_key: bytes(n),
        revision: 1,
        reported_url: format!("https://site-{n}.example.test/gallery"),
        intake: IntakeChannel::PublicForm,
        received_at: Timestamp::from_secs(1_800_000_000),
        redirects: vec![],
        hosting: Hosting {
            ip: None,
            country: Country::new(country).ok(),
        },
        page: None,
        media: items.iter().filter_map(|i| i.commitment().ok()).collect(),
    }
}

/// The numbers `n` of the [`report`]s `node` holds (any revision).
pub fn report_numbers(node: &RunningNode) -> anyhow::Result<BTreeSet<u32>> {
    let store = node.store();
    let mut out = BTreeSet::new();
    let mut after: Option<RecordId> = None;
    loop {
        let page = store.records_of_type(RecordType::Report, after.as_ref(), 1000)?;
        for id in &page {
            let Some(report) = store.record(id)? else {
                continue;
            };
            let key = report.into_typed::<Report>()?.body().report_key;
            out.insert(u32::from_be_bytes(key[12..].try_into()?));
        }
        match page.last() {
            Some(last) => after = Some(*last),
            None => return Ok(out),
        }
    }
}

/// `count` pseudo-random 256-bit values (PDQ hashes as four words), the same for the same
/// seed (splitmix64): bulk data for index tests and benchmarks.
pub fn random_pdq_bits(seed: u64, count: usize) -> Vec<[u64; 4]> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..count)
        .map(|_| [next(), next(), next(), next()])
        .collect()
}

/// Every `(entry, distance)` of `hashes` within `radius` of `query`, by checking each entry
/// (a full scan, the reference an index must agree with). Branch-free per entry so the
/// compiler vectorises it; the tests crate is built optimised (see the workspace Cargo.toml),
/// so a million-entry scan stays about a millisecond in a debug test run.
pub fn scan_within(hashes: &[[u64; 4]], query: &[u64; 4], radius: u32) -> Vec<(u32, u32)> {
    let mut found = Vec::new();
    for (entry, bits) in hashes.iter().enumerate() {
        let distance = (bits[0] ^ query[0]).count_ones()
            + (bits[1] ^ query[1]).count_ones()
            + (bits[2] ^ query[2]).count_ones()
            + (bits[3] ^ query[3]).count_ones();
        if distance <= radius {
            found.push((entry as u32, distance));
        }
    }
    found.sort_unstable_by_key(|&(entry, d)| (d, entry));
    found
}
