//! PDQ index benchmark: queries at distance 31 against N random entries (10 million by
//! default) with planted near neighbours, median and p99 latency, against a brute-force
//! popcount scan of the same entries in the same run; build time and resident memory.
//!
//! Run: `cargo bench -p safeport-node --bench pdq_index` (`SAFEPORT_BENCH_PDQ_ENTRIES` sets N).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark driver

use std::time::Instant;

use safeport_tests::measure::{percentile, rss_mib};

use safeport_node::matching::pdq_index::{Bits, PdqIndex};

fn random(count: usize, seed: u64) -> Vec<Bits> {
    safeport_tests::fixtures::random_pdq_bits(seed, count)
}

fn main() {
    let count: usize = std::env::var("SAFEPORT_BENCH_PDQ_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let queries = 200;
    let before = rss_mib();
    let mut hashes = random(count, 7);
    let probes = random(queries, 11);
    // Half the queries have a planted neighbour at distance 20.
    for (i, probe) in probes.iter().enumerate().step_by(2) {
        let mut near = *probe;
        for bit in 0..20 {
            near[bit % 4] ^= 1 << (bit * 3);
        }
        hashes[i * (count / queries)] = near;
    }
    let started = Instant::now();
    let index = PdqIndex::build(hashes);
    let build = started.elapsed();
    let memory = rss_mib() - before;

    let mut index_times = Vec::with_capacity(queries);
    let mut found = 0;
    for probe in &probes {
        let started = Instant::now();
        found += index.query(probe, 31).len();
        index_times.push(started.elapsed());
    }
    let scan_queries = 20;
    let mut scan_times = Vec::with_capacity(scan_queries);
    let mut scanned = 0;
    for probe in probes.iter().take(scan_queries) {
        let started = Instant::now();
        scanned += index.scan(probe, 31).len();
        scan_times.push(started.elapsed());
    }
    // Same answers on the queries both ran.
    for probe in probes.iter().take(scan_queries) {
        assert_eq!(index.query(probe, 31), index.scan(probe, 31));
    }
    index_times.sort();
    scan_times.sort();
    let (median, p99) = (
        percentile(&index_times, 0.5),
        percentile(&index_times, 0.99),
    );
    let scan_median = percentile(&scan_times, 0.5);
    println!(
        "{count} PDQ entries, {queries} queries at distance 31 ({found} matches; scan: {scanned} in {scan_queries})"
    );
    println!("build: {build:.2?}, resident memory of the index and hashes: {memory:.0} MiB");
    println!("index query: median {median:.2?}, p99 {p99:.2?}");
    println!("brute-force popcount scan: median {scan_median:.2?}");
    println!(
        "speed-up (median scan / median index query): {:.0}x",
        scan_median.as_secs_f64() / median.as_secs_f64()
    );
}
