//! Hash-list benchmark at 10 million entries (`SAFEPORT_BENCH_LIST_ENTRIES` changes N).
//!
//! 1. Matching: N SHA-256 and N PDQ entries stored in a list; exact lookups per second of
//!    present and of absent values through the store's typed API, next to RocksDB's raw point
//!    gets on a plain database with the same number of keys, measured in the same run; the
//!    PDQ index's build time and, with the store open, the resident memory of both indexes;
//!    PDQ queries at distance 31 (median, p99) against a brute-force popcount scan of the same
//!    entries.
//! 2. Distribution: a real INTERPOL node publishes an N-entry SHA-256 list and a real hotline
//!    node subscribes afterwards (back-fill over libp2p on loopback): seconds until the hotline
//!    holds the version with the publisher's digest; then a 10,000-entry delta. Next to the
//!    raw RocksDB batched (synced) write rate measured in the same run.
//!
//! Run: `cargo bench -p safeport-node --bench hashlists`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark driver

use std::time::{Duration, Instant};

use safeport_tests::measure::{percentile, rss_mib};

use safeport_node::app::hashlists::{PublishMode, PublishRequest};
use safeport_node::matching::lists::{PdqList, PdqLists};
use safeport_node::matching::pdq_index::{Bits, PdqIndex};
use safeport_node::store::Store;
use safeport_protocol::hashes::{HashAlgorithm, HashValue};
use safeport_protocol::hashlist::{
    HashCategory, HashEntry, HashListId, HashListManifest, ListHasher,
};
use safeport_protocol::{Role, Timestamp};
use safeport_tests::ops::Admin;
use safeport_tests::{TestFederation, fixtures};
use serde_json::json;

const BATCH: usize = 20_000;

fn bytes_of(words: &Bits) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    bytes
}

/// The n-th synthetic SHA-256 value (distinct for every n).
fn sha(n: u64) -> [u8; 32] {
    let mut bytes = bytes_of(&fixtures::random_pdq_bits(n, 1)[0]);
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes
}

fn entry(value: HashValue) -> HashEntry {
    HashEntry {
        value,
        category: HashCategory::Baseline,
        added_at: Timestamp(1),
    }
}

/// Raw RocksDB: batched synced puts of `count` 36-byte keys, then point gets.
fn raw_rocksdb(count: usize) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = rocksdb::Options::default();
    options.create_if_missing(true);
    let mut block = rocksdb::BlockBasedOptions::default();
    block.set_bloom_filter(10.0, false);
    options.set_block_based_table_factory(&block);
    let db = rocksdb::DB::open(&options, dir.path()).unwrap();
    let mut sync = rocksdb::WriteOptions::default();
    sync.set_sync(true);
    let key = |n: u64| {
        let mut k = b"list".to_vec();
        k.extend_from_slice(&sha(n));
        k
    };
    let started = Instant::now();
    for start in (0..count as u64).step_by(BATCH) {
        let mut batch = rocksdb::WriteBatch::default();
        for n in start..(start + BATCH as u64).min(count as u64) {
            batch.put(key(n), [0u8; 10]);
        }
        db.write_opt(batch, &sync).unwrap();
    }
    let write_rate = count as f64 / started.elapsed().as_secs_f64();
    let gets = 200_000u64;
    let started = Instant::now();
    for i in 0..gets {
        let n = i.wrapping_mul(0x9e37_79b9) % count as u64;
        assert!(db.get(key(n)).unwrap().is_some());
    }
    let present = gets as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for i in 0..gets {
        assert!(db.get(key(count as u64 + i)).unwrap().is_none());
    }
    let absent = gets as f64 / started.elapsed().as_secs_f64();
    (write_rate, present, absent)
}

fn matching(count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let list: HashListId = "interpol/baseline".parse().unwrap();
    let pdq_words = fixtures::random_pdq_bits(7, count);
    let started = Instant::now();
    let mut hasher = ListHasher::new();
    for start in (0..count).step_by(BATCH) {
        let mut batch = store.batch();
        let end = (start + BATCH).min(count);
        for (n, words) in pdq_words.iter().enumerate().take(end).skip(start) {
            for e in [
                entry(HashValue::Sha256(sha(n as u64))),
                entry(HashValue::Pdq(bytes_of(words))),
            ] {
                batch.put_list_entry(&list, 1, &e).unwrap();
                hasher.add(&e);
            }
        }
        batch.commit().unwrap();
    }
    let stored = started.elapsed();
    println!(
        "stored {} entries (SHA-256 and PDQ, with LtHash) in {:.1} s = {:.0} entries/s",
        2 * count,
        stored.as_secs_f64(),
        (2 * count) as f64 / stored.as_secs_f64()
    );
    let manifest = HashListManifest {
        list: list.clone(),
        national: None,
        version: 1,
        previous_version: 0,
        entry_count: 2 * count as u64,
        digest: hasher.digest(),
        published_at: Timestamp(1),
        expires_at: Timestamp(u64::MAX),
    };
    drop(pdq_words);
    let before = rss_mib();
    let started = Instant::now();
    let mut pdq = Vec::with_capacity(count);
    store
        .visit_list_entries(&list, 1, Some(HashAlgorithm::Pdq), |e| {
            if let HashValue::Pdq(bits) = e.value {
                pdq.push((bits, e.category, e.added_at));
            }
            true
        })
        .unwrap();
    let lists = PdqLists::default();
    lists.install(PdqList::build(manifest, pdq));
    let build = started.elapsed();

    let lookups = 200_000u64;
    let started = Instant::now();
    for i in 0..lookups {
        let n = i.wrapping_mul(0x9e37_79b9) % count as u64;
        let found = store
            .list_entry(&list, 1, &HashValue::Sha256(sha(n)))
            .unwrap();
        assert!(found.is_some());
    }
    let present = lookups as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for i in 0..lookups {
        let absent = HashValue::Sha256(sha(count as u64 + i));
        assert!(store.list_entry(&list, 1, &absent).unwrap().is_none());
    }
    let absent = lookups as f64 / started.elapsed().as_secs_f64();
    let memory = rss_mib() - before;
    // Closing the store stops its background compactions, which would otherwise share the
    // two cores with the PDQ timings below.
    drop(store);

    // PDQ queries: half near a listed entry (20 bits away), half random.
    let stored_words = fixtures::random_pdq_bits(7, count);
    let probes = fixtures::random_pdq_bits(11, 200);
    let queries: Vec<Bits> = probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 2 == 0 {
                let mut near = stored_words[(p[0] % count as u64) as usize];
                for bit in 0..20 {
                    near[bit % 4] ^= 1 << (bit * 3);
                }
                near
            } else {
                *p
            }
        })
        .collect();
    let mut times: Vec<Duration> = queries
        .iter()
        .map(|q| {
            let started = Instant::now();
            let hits = lists.query(q, 31);
            std::hint::black_box(hits);
            started.elapsed()
        })
        .collect();
    times.sort();
    let scan_index = PdqIndex::build(stored_words);
    let mut scans: Vec<Duration> = queries
        .iter()
        .take(20)
        .map(|q| {
            let started = Instant::now();
            std::hint::black_box(scan_index.scan(q, 31));
            started.elapsed()
        })
        .collect();
    scans.sort();
    let (raw_write, raw_present, raw_absent) = raw_rocksdb(count);
    let median = percentile(&times, 0.5);
    let scan_median = percentile(&scans, 0.5);
    println!(
        "PDQ index build from the store: {:.1} s",
        build.as_secs_f64()
    );
    println!("resident memory of both indexes (PDQ index, store open and read): {memory:.0} MiB");
    println!(
        "PDQ query at distance 31: median {:.2} ms, p99 {:.2} ms; brute-force scan median {:.2} ms: {:.1}x",
        median.as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        scan_median.as_secs_f64() * 1e3,
        scan_median.as_secs_f64() / median.as_secs_f64()
    );
    println!(
        "exact lookups: present {present:.0}/s, absent {absent:.0}/s; raw RocksDB point gets \
         (same key count): present {raw_present:.0}/s, absent {raw_absent:.0}/s \
         (ratios {:.2}, {:.2})",
        present / raw_present,
        absent / raw_absent
    );
    println!("raw RocksDB batched synced writes ({BATCH} per batch): {raw_write:.0} keys/s");
}

async fn distribution(count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Bench Federation").unwrap();
    let interpol = safeport_node::start(
        federation
            .add_agency("interpol", Role::Interpol, "FR")
            .unwrap()
            .config()
            .unwrap(),
    )
    .await
    .unwrap();
    let mut hotline_config = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap()
        .config()
        .unwrap();
    // The publisher's upload limit is not what is measured: entries go in through the App.
    hotline_config.http.max_body_bytes = 1024 * 1024;
    let hotline = safeport_node::start(hotline_config).await.unwrap();
    let admin = Admin::new().unwrap();
    admin.peer(&hotline, &interpol, "interpol").await.unwrap();

    let content: Vec<HashEntry> = (0..count as u64)
        .map(|n| entry(HashValue::Sha256(sha(n))))
        .collect();
    let request = |entries: Vec<HashEntry>| PublishRequest {
        name: "baseline".parse().unwrap(),
        national: None,
        entries,
        valid_for_secs: 30 * 24 * 3600,
        snapshot: false,
        mode: PublishMode::Replace,
    };
    let app = interpol.app().clone();
    let started = Instant::now();
    let first = content.clone();
    let (published, committed) = tokio::task::spawn_blocking(move || {
        app.publish_hash_list_committed(request(first)).unwrap()
    })
    .await
    .unwrap();
    interpol.federation().committed(committed).await;
    println!(
        "published {count} entries ({} snapshot parts) in {:.1} s",
        published.snapshot_parts,
        started.elapsed().as_secs_f64()
    );

    let held = |node: &safeport_node::RunningNode| {
        node.app()
            .hash_lists()
            .unwrap()
            .into_iter()
            .find(|l| l.list == "interpol/baseline")
            .map(|l| (l.version, l.digest))
    };
    let started = Instant::now();
    admin
        .agree(
            &interpol,
            &hotline,
            json!({ "template": "hash-list-subscription", "provider": "interpol",
                    "recipient": "nl-hotline", "days": 30 }),
        )
        .await
        .unwrap();
    let wait = Duration::from_secs(3600);
    safeport_tests::wait_until(&hotline, wait, "version 1", |n| {
        held(n).map(|h| h.0) == Some(1)
    })
    .await
    .unwrap();
    let full = started.elapsed();
    assert_eq!(held(&hotline), held(&interpol));
    println!(
        "full sync of {count} entries to a new subscriber: {:.1} s = {:.0} entries/s",
        full.as_secs_f64(),
        count as f64 / full.as_secs_f64()
    );

    let mut next = content;
    next.drain(..5_000);
    next.extend((0..5_000u64).map(|n| entry(HashValue::Sha256(sha(u64::MAX / 2 + n)))));
    let app = interpol.app().clone();
    let started = Instant::now();
    let (published, committed) = tokio::task::spawn_blocking(move || {
        app.publish_hash_list_committed(request(next)).unwrap()
    })
    .await
    .unwrap();
    let publish_time = started.elapsed();
    interpol.federation().committed(committed).await;
    safeport_tests::wait_until(&hotline, wait, "version 2", |n| {
        held(n).map(|h| h.0) == Some(2)
    })
    .await
    .unwrap();
    assert_eq!(held(&hotline), held(&interpol));
    println!(
        "10,000-entry delta ({} added, {} removed): published in {:.2} s, at the subscriber {:.2} s after the start",
        published.added,
        published.removed,
        publish_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    hotline.shutdown().await.unwrap();
    interpol.shutdown().await.unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = std::env::var("SAFEPORT_BENCH_LIST_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    tokio::task::block_in_place(|| matching(count));
    distribution(count).await;
}
