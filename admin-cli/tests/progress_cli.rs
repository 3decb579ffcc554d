//! Progress of long commands goes to a terminal on standard error and never to standard
//! output: run through a pseudo-terminal (util-linux `script`, standard output redirected to
//! a file), `hashes publish`, `hashes export`, `backup create` and `backup restore` draw on the
//! terminal and print the same standard output as when standard error is a pipe; with `--json`
//! or `--no-progress` nothing is drawn at all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{run, target, with_node};
use safeport_admin::client::NodeClient;
use safeport_protocol::Role;
use safeport_tests::TestFederation;

/// What a command printed when its standard error was a terminal.
struct OnTerminal {
    success: bool,
    stdout: Vec<u8>,
    /// What reached the terminal: standard error only.
    terminal: String,
}

/// Quotes `text` for `sh`.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Runs the CLI with standard error on a pseudo-terminal and standard output into a file.
async fn on_terminal(dir: &Path, args: Vec<String>) -> OnTerminal {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let stdout_file = dir.join(format!("stdout-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
    let mut line = format!("exec {}", quoted(env!("CARGO_BIN_EXE_safeport-admin")));
    for arg in &args {
        line.push(' ');
        line.push_str(&quoted(arg));
    }
    line.push_str(&format!(
        " > {}",
        quoted(&stdout_file.display().to_string())
    ));
    let output: Output = tokio::task::spawn_blocking(move || {
        Command::new("script")
            .args(["--quiet", "--return", "--command", &line, "/dev/null"])
            .env("TERM", "xterm")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    OnTerminal {
        success: output.status.success(),
        stdout: std::fs::read(&stdout_file).unwrap(),
        terminal: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// Whether the readable output has the field `name` with `value`.
fn has_line(stdout: &[u8], name: &str, value: &str) -> bool {
    text(stdout).lines().any(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.trim_start() == value)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_drawn_on_a_terminal_and_never_changes_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let interpol_dir = federation
        .add_agency("interpol", Role::Interpol, "FR")
        .unwrap();
    let node = safeport_node::start(interpol_dir.config().unwrap())
        .await
        .unwrap();
    let at = target(&node, &interpol_dir.dir);

    // A list large enough to be sent in many pieces.
    let csv = dir.path().join("baseline.csv");
    let mut list = String::from("algorithm,value,category\n");
    for n in 0..5000u64 {
        list.push_str(&format!("sha256,{:064x},baseline\n", n * 7919 + 1));
    }
    std::fs::write(&csv, &list).unwrap();
    let csv = csv.display().to_string();
    let publish = ["hashes", "publish", "--list", "baseline", "--format", "csv"];
    let mut args = publish.to_vec();
    args.push(&csv);
    let published = on_terminal(dir.path(), with_node(&at, false, &args)).await;
    assert!(published.success, "{}", published.terminal);
    assert!(
        has_line(&published.stdout, "entry count", "5000"),
        "{}",
        text(&published.stdout)
    );
    assert!(
        published.terminal.contains("reading and checking"),
        "{:?}",
        published.terminal
    );
    assert!(published.terminal.contains("version of baseline"));

    // The export as the API gives it; the CLI prints exactly that, however it runs.
    let reference = {
        let url = at.url.clone();
        let token = at.token_file.clone();
        tokio::task::spawn_blocking(move || {
            NodeClient::new(&url, &token)
                .unwrap()
                .get_text("/admin/hash-lists/interpol/baseline/export?format=csv")
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert_eq!(reference.lines().count(), 5001);
    let export = ["hashes", "export", "interpol/baseline", "--format", "csv"];
    for (json, extra) in [(false, None), (true, None), (false, Some("--no-progress"))] {
        let mut args = export.to_vec();
        args.extend(extra);
        let piped = run(&at, &args, json).await;
        assert!(piped.status.success());
        assert_eq!(text(&piped.stdout), reference, "json {json}, {extra:?}");
        // Standard error is a pipe, not a terminal: no progress, nothing at all.
        assert!(piped.stderr.is_empty(), "{:?}", piped.stderr);

        let drawn = on_terminal(dir.path(), with_node(&at, json, &args)).await;
        assert!(drawn.success, "{}", drawn.terminal);
        assert_eq!(text(&drawn.stdout), reference, "json {json}, {extra:?}");
        if json || extra.is_some() {
            assert_eq!(drawn.terminal, "", "json {json}, {extra:?}");
        } else {
            assert!(
                drawn
                    .terminal
                    .contains("export of interpol/baseline: waiting for the node"),
                "{:?}",
                drawn.terminal
            );
        }
    }

    // A backup through the admin API, then an offline restore of it.
    let backup = dir.path().join("backup").display().to_string();
    let created = on_terminal(
        dir.path(),
        with_node(&at, true, &["backup", "create", "--dir", &backup]),
    )
    .await;
    assert!(created.success, "{}", created.terminal);
    assert_eq!(created.terminal, "", "no progress with --json");
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let records = created["records"].as_u64().unwrap();
    assert!(records > 0);
    node.shutdown().await.unwrap();

    let root = interpol_dir.dir.join("federation-root.pem");
    let restore = |data_dir: &str| {
        [
            "backup",
            "restore",
            "--from",
            &backup,
            "--data-dir",
            &dir.path().join(data_dir).display().to_string(),
            "--root",
            &root.display().to_string(),
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let restored = on_terminal(dir.path(), restore("restored")).await;
    assert!(restored.success, "{}", restored.terminal);
    assert!(
        restored.terminal.contains("reading the backup"),
        "{:?}",
        restored.terminal
    );
    let again = restore("restored-again");
    let piped = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_safeport-admin"))
            .args(again)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(piped.status.success());
    assert!(piped.stderr.is_empty(), "{:?}", piped.stderr);
    // The same report but for the directory restored into.
    let readable = |stdout: &[u8]| -> Vec<String> {
        text(stdout)
            .lines()
            .filter(|line| !line.starts_with("data dir"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(readable(&restored.stdout), readable(&piped.stdout));
    assert!(has_line(
        &piped.stdout,
        "records verified",
        &records.to_string()
    ));
}
