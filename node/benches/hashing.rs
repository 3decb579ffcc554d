//! Media hashing benchmark: MD5 + SHA-1 + SHA-256 + PDQ (decode, downsample, hash) over
//! generated 1-megapixel JPEG images, against the bare SHA-256 rate over the same bytes,
//! measured in the same run. Also the rate with both cores hashing (the crawler hashes items
//! of a page concurrently).
//!
//! Run: `cargo bench -p safeport-node --bench hashing` (`SAFEPORT_BENCH_IMAGES` sets the count).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark driver

use std::io::Cursor;
use std::time::Instant;

use image::{ImageFormat, Rgb, RgbImage};
use safeport_node::media::hash_media;
use sha2::{Digest, Sha256};

/// A generated 1000x1000 picture (gradients and a pattern), distinct per seed, as JPEG.
fn picture(seed: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(1000, 1000, |x, y| {
        let v = (x * (seed % 7 + 1) + y * (seed % 5 + 2)) ^ (x * y / (seed % 11 + 3));
        Rgb([
            (v % 256) as u8,
            ((x + seed) % 256) as u8,
            ((y * 2 + seed) % 256) as u8,
        ])
    });
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
        .unwrap();
    bytes
}

fn main() {
    let count: usize = std::env::var("SAFEPORT_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let images: Vec<Vec<u8>> = (0..count as u32).map(picture).collect();
    let total_bytes: usize = images.iter().map(Vec::len).sum();
    let mb = total_bytes as f64 / 1e6;
    println!("{count} generated 1000x1000 JPEG images, {mb:.1} MB in all");

    // Baseline: bare SHA-256 of the same bytes, one core. Repeated so the timing is not
    // dominated by noise (SHA-256 is far faster than the full set).
    let rounds = 20;
    let started = Instant::now();
    let mut sink = 0u8;
    for _ in 0..rounds {
        for image in &images {
            sink ^= Sha256::digest(image)[0];
        }
    }
    let sha_secs = started.elapsed().as_secs_f64() / f64::from(rounds);

    let started = Instant::now();
    let mut with_pdq = 0;
    for image in &images {
        let hashes = hash_media(image);
        with_pdq += usize::from(hashes.pdq.is_some());
        sink ^= hashes.sha256[0];
    }
    let full_secs = started.elapsed().as_secs_f64();
    assert_eq!(with_pdq, count, "every generated image gets a PDQ hash");

    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in images.chunks(count.div_ceil(threads)) {
            scope.spawn(move || {
                part.iter()
                    .map(|i| hash_media(i).sha256[0])
                    .fold(0, |a, b| a ^ b)
            });
        }
    });
    let parallel_secs = started.elapsed().as_secs_f64();

    println!(
        "bare SHA-256, 1 core:        {:8.1} MB/s  {:8.1} images/s",
        mb / sha_secs,
        count as f64 / sha_secs
    );
    println!(
        "MD5+SHA-1+SHA-256+PDQ, 1 core: {:6.1} MB/s  {:8.1} images/s  ({:.4} of bare SHA-256)",
        mb / full_secs,
        count as f64 / full_secs,
        sha_secs / full_secs
    );
    println!(
        "MD5+SHA-1+SHA-256+PDQ, {threads} threads: {:4.1} MB/s  {:8.1} images/s",
        mb / parallel_secs,
        count as f64 / parallel_secs
    );
    println!("(checksum {sink})");
}
