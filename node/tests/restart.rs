//! Crash safety of sync: a police node (a real `safeport-node` process) is killed with SIGKILL
//! in the middle of pulling 10,000 reports from a hotline. Every page it acknowledged (its
//! logged cursor) must be in its database after the crash; restarted, it catches up with
//! everything, including reports made while it was down, without refusing or duplicating any.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use safeport_node::RunningNode;
use safeport_node::store::Store;
use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::{AgencyId, Classification, RecordType, Role};
use safeport_tests::{TestFederation, fixtures};
use serde_json::Value;
use tokio::sync::mpsc;

/// Upper bound for any single wait; waits end on events (log lines, store changes).
const WAIT: Duration = Duration::from_secs(300);
const REPORTS_BEFORE_CRASH: u32 = 10_000;
const REPORTS_WHILE_DOWN: u32 = 100;
/// Kill the receiver once it has acknowledged at least this many outbox positions.
const KILL_AFTER_CURSOR: u64 = 2_000;

struct NodeProcess {
    child: Child,
    lines: mpsc::UnboundedReceiver<Value>,
}

fn child_config(dir: &Path) -> PathBuf {
    let path = dir.join("child.toml");
    std::fs::write(
        &path,
        "[node]\ndata_dir = \"data\"\nkey_file = \"node.key\"\ncertificate = \"node.pem\"\n\
         [federation]\nroots = [\"federation-root.pem\"]\n\
         [http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [net]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n[log]\nformat = \"json\"\n",
    )
    .unwrap();
    path
}

fn spawn_child(config: &Path) -> NodeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_safeport-node"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG")
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && tx.send(event).is_err()
            {
                break;
            }
        }
    });
    NodeProcess { child, lines }
}

impl NodeProcess {
    /// Waits for the next log event whose message is `message` and that satisfies `check`.
    async fn wait_for(&mut self, message: &str, check: impl Fn(&Value) -> bool) -> Value {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(event) = self.lines.recv().await {
                if event["fields"]["message"] == message && check(&event) {
                    return Some(event);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(event)) => event,
            _ => {
                let _ = self.child.kill();
                panic!("child never logged {message:?}");
            }
        }
    }
}

fn report(n: u32) -> (Report, Vec<MediaItem>) {
    let items = vec![fixtures::media_item(n, Classification::Baseline)];
    (fixtures::report(n, "NL", &items), items)
}

async fn submit(hotline: &RunningNode, range: std::ops::Range<u32>) {
    for n in range {
        let (report, items) = report(n);
        hotline.submit_report(report, items).await.unwrap();
    }
}

async fn admin_post(child: &Value, token: &str, path: &str, body: Value) -> Value {
    let addr = child["fields"]["addr"].as_str().unwrap();
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

fn count_reports(store: &Store) -> usize {
    let mut total = 0;
    let mut after = None;
    loop {
        let ids = store
            .records_of_type(RecordType::Report, after.as_ref(), 1000)
            .unwrap();
        let Some(last) = ids.last().copied() else {
            return total;
        };
        total += ids.len();
        after = Some(last);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_receiver_keeps_every_acknowledged_record_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let hotline_dir = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let police_dir = federation.add_agency("nl-police", Role::Lea, "NL").unwrap();
    let hotline = safeport_node::start(hotline_dir.config().unwrap())
        .await
        .unwrap();
    let hotline_addr = hotline.federation().net().listen_addrs().await.unwrap()[0].to_string();
    let police_config = child_config(&police_dir.dir);

    let mut police = spawn_child(&police_config);
    let admin = police.wait_for("admin API listening", |_| true).await;
    let token = std::fs::read_to_string(police_dir.dir.join("data").join("admin.token")).unwrap();
    // The police dials the hotline (its peer entry survives the crash).
    admin_post(
        &admin,
        &token,
        "/admin/peers",
        serde_json::json!({
        "address": hotline_addr, "agency": "nl-hotline" }),
    )
    .await;
    let proposal = admin_post(
        &admin,
        &token,
        "/admin/agreements",
        serde_json::json!({
        "template": "national-access", "provider": "nl-hotline", "recipient": "nl-police",
        "country": "NL", "classifications": ["baseline"], "days": 30 }),
    )
    .await;
    let mut id = [0u8; 16];
    hex::decode_to_slice(proposal["id"].as_str().unwrap(), &mut id).unwrap();

    safeport_tests::wait_until(&hotline, WAIT, "the proposal", |n| {
        n.app().agreements().get(&id).is_some()
    })
    .await
    .unwrap();
    let (_, committed) = hotline.app().accept_agreement(&id).unwrap();
    hotline.federation().committed(committed).await;

    // Reports flow while they are being made; kill the police as soon as it has acknowledged
    // KILL_AFTER_CURSOR positions, while the hotline goes on producing.
    let last_ack = {
        let producer = submit(&hotline, 0..REPORTS_BEFORE_CRASH);
        tokio::pin!(producer);
        let reached = |e: &Value| e["fields"]["cursor"].as_u64() >= Some(KILL_AFTER_CURSOR);
        let last_ack = tokio::select! {
            ack = police.wait_for("ingested a page", reached) => ack,
            () = &mut producer => police.wait_for("ingested a page", reached).await,
        };
        police.child.kill().unwrap(); // SIGKILL
        police.child.wait().unwrap();
        producer.await;
        last_ack
    };
    // Drain what it logged before dying: the last acknowledged cursor counts.
    let mut cursor = last_ack["fields"]["cursor"].as_u64().unwrap();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_secs(5), police.lines.recv()).await
    {
        if event["fields"]["message"] == "ingested a page" {
            cursor = cursor.max(event["fields"]["cursor"].as_u64().unwrap());
        }
    }

    // The crash happened mid-sync, not after it.
    assert!(
        cursor < u64::from(REPORTS_BEFORE_CRASH),
        "the police had finished: {cursor}"
    );
    // Every acknowledged position is durable: the crashed database holds all of it.
    {
        let store = Store::open(police_dir.dir.join("data").join("db")).unwrap();
        let hotline_agency = AgencyId::new("nl-hotline").unwrap();
        let stored_cursor = store.cursor(&hotline_agency).unwrap();
        assert!(
            stored_cursor >= cursor,
            "cursor {stored_cursor} < acknowledged {cursor}"
        );
        // Outbox positions 1..=cursor hold the agreement record and then reports.
        let reports = count_reports(&store);
        assert!(
            reports as u64 + 1 >= stored_cursor,
            "{reports} reports for cursor {stored_cursor}"
        );
        assert!(store.rejections(10).unwrap().is_empty());
    }

    // While it is down the hotline keeps working; the restarted node catches up on all of it.
    submit(
        &hotline,
        REPORTS_BEFORE_CRASH..REPORTS_BEFORE_CRASH + REPORTS_WHILE_DOWN,
    )
    .await;
    let total = u64::from(REPORTS_BEFORE_CRASH + REPORTS_WHILE_DOWN);
    let head = hotline
        .store()
        .outbox_head(&AgencyId::new("nl-police").unwrap())
        .unwrap();
    assert_eq!(
        head,
        total + 1,
        "agreement acceptance plus one entry per report"
    );
    let mut police = spawn_child(&police_config);
    police
        .wait_for("ingested a page", |e| {
            e["fields"]["cursor"].as_u64() == Some(head) && e["fields"]["more"] == false
        })
        .await;
    let _ = Command::new("kill")
        .args(["-TERM", &police.child.id().to_string()])
        .status();
    police.child.wait().unwrap();

    let store = Store::open(police_dir.dir.join("data").join("db")).unwrap();
    assert_eq!(count_reports(&store) as u64, total);
    assert!(store.rejections(10).unwrap().is_empty());
    hotline.shutdown().await.unwrap();
}
