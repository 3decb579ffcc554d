//! Sync benchmark: 100,000 reports (three media items each) go from a hotline node to a fresh
//! police node entitled to all of them, over libp2p on loopback. The receiver is a real
//! `safeport-node` process, so its peak memory (VmHWM) is its own.
//!
//! Reported, from one run: end-to-end records per second (pulled, verified, checked against
//! agreements, stored with synced batches, indexed) and, on the same records, the rate at which
//! one core merely verifies their signatures one by one with `verify_strict`.
//!
//! Run: `cargo bench -p safeport-node --bench sync` (`SAFEPORT_BENCH_REPORTS` changes the
//! count).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark driver

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use safeport_protocol::report::MediaItem;
use safeport_protocol::{AgencyId, Classification, RawRecord, RecordType, Role};
use safeport_tests::{TestFederation, fixtures};

/// Three media items per report: two baseline, one nationally illegal.
fn items(n: u32) -> Vec<MediaItem> {
    (0..3)
        .map(|i| {
            let class = if i == 2 {
                Classification::NationallyIllegal
            } else {
                Classification::Baseline
            };
            fixtures::media_item(n * 3 + i, class)
        })
        .collect()
}

fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The hotline runs in this process: same allocator as the `safeport-node` daemon.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: u32 = std::env::var("SAFEPORT_BENCH_REPORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Bench Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let police_dir = federation.add_agency("nl-police", Role::Lea, "NL").unwrap();
    let hotline = safeport_node::start(hotline_dir.config().unwrap())
        .await
        .unwrap();
    let hotline_addr = hotline.federation().net().listen_addrs().await.unwrap()[0].to_string();

    // The police node, as its own process, configured to dial the hotline.
    let config = police_dir.dir.join("bench.toml");
    std::fs::write(
        &config,
        "[node]\ndata_dir = \"data\"\nkey_file = \"node.key\"\ncertificate = \"node.pem\"\n\
         [federation]\nroots = [\"federation-root.pem\"]\n\
         [http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [net]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n[log]\nformat = \"json\"\nfilter = \"info\"\n",
    )
    .unwrap();

    // Agreement first, with the police node briefly online; then the police goes offline and
    // the hotline takes in every report, so the measured sync starts from a full outbox.
    let (mut child, lines) = spawn(&config);
    let admin_addr = tokio::task::block_in_place(|| {
        wait_for(&lines, |e| e["fields"]["message"] == "admin API listening")
    })["fields"]["addr"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = std::fs::read_to_string(police_dir.dir.join("data").join("admin.token")).unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("http://{admin_addr}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    post(
        "/admin/peers",
        serde_json::json!({ "address": hotline_addr, "agency": "nl-hotline" }),
    )
    .await
    .unwrap();
    let proposal: serde_json::Value = post(
        "/admin/agreements",
        serde_json::json!({ "template": "national-access", "provider": "nl-hotline",
            "recipient": "nl-police", "country": "NL", "days": 30 }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let mut id = [0u8; 16];
    hex::decode_to_slice(proposal["id"].as_str().unwrap(), &mut id).unwrap();
    let mut changes = hotline.app().subscribe();
    while hotline.app().agreements().get(&id).is_none() {
        changes.changed().await.unwrap();
    }
    let (_, committed) = hotline.app().accept_agreement(&id).unwrap();
    hotline.federation().committed(committed).await;
    tokio::task::block_in_place(|| {
        wait_for(&lines, |e| {
            e["fields"]["message"] == "ingested a page" && e["fields"]["cursor"] == 1
        })
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap();

    eprintln!("creating {count} reports at the hotline…");
    let created = Instant::now();
    for n in 0..count {
        let media = items(n);
        hotline
            .submit_report(fixtures::report(n, "NL", &media), media)
            .await
            .unwrap();
    }
    eprintln!("created in {:.1?}", created.elapsed());

    // Baseline, same run, same records: one core, verify_strict one by one.
    let origin = AgencyId::new("nl-hotline").unwrap();
    let key = hotline.app().identity().certificate.key;
    let mut records = Vec::with_capacity(count as usize);
    let mut after = None;
    loop {
        let ids = hotline
            .store()
            .records_of_type(RecordType::Report, after.as_ref(), 1000)
            .unwrap();
        let Some(last) = ids.last().copied() else {
            break;
        };
        for id in &ids {
            records.push(
                hotline
                    .store()
                    .record(id)
                    .unwrap()
                    .unwrap()
                    .bytes()
                    .to_vec(),
            );
        }
        after = Some(last);
    }
    // The key is decompressed once, as the receiver does per page: the baseline is the best
    // one core can do.
    let prepared = key.prepare().unwrap();
    let started = Instant::now();
    for bytes in &records {
        let record = RawRecord::decode(bytes).unwrap();
        assert_eq!(record.header().origin, origin);
        record.verify_prepared(&prepared).unwrap();
    }
    let verify_rate = records.len() as f64 / started.elapsed().as_secs_f64();

    // End to end: the police node comes back and pulls everything.
    let head = hotline
        .store()
        .outbox_head(&AgencyId::new("nl-police").unwrap())
        .unwrap();
    let started = Instant::now();
    let (mut child, lines) = spawn(&config);
    let pid = child.id();
    // Where the receiver's time went: waiting for pages, or ingesting them.
    let (mut wait_ms, mut ingest_ms, mut pages) = (0u64, 0u64, 0u64);
    let (mut check_ms, mut build_ms, mut write_ms) = (0u64, 0u64, 0u64);
    tokio::task::block_in_place(|| {
        wait_for(&lines, |e| {
            let page = e["fields"]["message"] == "ingested a page";
            if page {
                pages += 1;
                wait_ms += e["fields"]["wait_ms"].as_u64().unwrap_or(0);
                ingest_ms += e["fields"]["ingest_ms"].as_u64().unwrap_or(0);
                check_ms += e["fields"]["check_ms"].as_u64().unwrap_or(0);
                build_ms += e["fields"]["build_ms"].as_u64().unwrap_or(0);
                write_ms += e["fields"]["write_ms"].as_u64().unwrap_or(0);
            }
            page && e["fields"]["cursor"].as_u64() == Some(head)
        })
    });
    let elapsed = started.elapsed();
    let peak_kib = peak_memory_kib(pid);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    child.wait().unwrap();

    let e2e_rate = f64::from(count) / elapsed.as_secs_f64();
    println!("reports synced:            {count} (3 media items each)");
    println!("end-to-end sync:           {elapsed:.2?} = {e2e_rate:.0} records/s");
    println!("bare verify_strict, 1 core: {verify_rate:.0} records/s");
    println!("ratio end-to-end / verify:  {:.2}", e2e_rate / verify_rate);
    println!(
        "receiver peak memory:      {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    println!("receiver, {pages} pages: {wait_ms} ms waiting for pages, {ingest_ms} ms ingesting");
    println!(
        "  of which {check_ms} ms checking (parallel), {build_ms} ms building batches, \
         {write_ms} ms writing them (synced)"
    );
    hotline.shutdown().await.unwrap();
}

type Lines = std::sync::mpsc::Receiver<serde_json::Value>;

fn spawn(config: &std::path::Path) -> (std::process::Child, Lines) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_safeport-node"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && tx.send(event).is_err()
            {
                break;
            }
        }
    });
    (child, rx)
}

/// Blocks until the child logs an event matching `check` (bounded by ten minutes).
fn wait_for(lines: &Lines, mut check: impl FnMut(&serde_json::Value) -> bool) -> serde_json::Value {
    loop {
        let event = lines
            .recv_timeout(Duration::from_secs(600))
            .expect("the police node stopped logging");
        if check(&event) {
            return event;
        }
    }
}
