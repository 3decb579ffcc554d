//! What the CLI scenarios share: where a running node's admin API is, and running
//! `safeport-admin` against it as an operator would (`--json`, `--node`, `--token-file`), or
//! offline (the authority's and the node's files).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)] // test code

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use safeport_node::RunningNode;
use serde_json::Value;

pub(crate) const WAIT: Duration = Duration::from_secs(60);

pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) token_file: PathBuf,
}

pub(crate) fn target(node: &RunningNode, dir: &Path) -> Target {
    let token_file = dir.join("data").join("admin.token");
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap().trim(),
        node.admin_token()
    );
    Target {
        url: format!("http://{}", node.admin_addr()),
        token_file,
    }
}

/// The CLI's arguments for `target`: `--json` if asked, `args`, then where the node is.
pub(crate) fn with_node(target: &Target, json: bool, args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    if json {
        all.push("--json".into());
    }
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend([
        "--node".into(),
        target.url.clone(),
        "--token-file".into(),
        target.token_file.display().to_string(),
    ]);
    all
}

/// Runs the CLI off the async runtime (it blocks on HTTP), with `--json`.
pub(crate) async fn admin(target: &Target, args: &[&str]) -> Output {
    run(target, args, true).await
}

/// Runs the CLI off the async runtime, with `--json` or without (the readable output).
#[allow(dead_code)] // not every test binary that includes this module reads readable output
pub(crate) async fn run(target: &Target, args: &[&str], json: bool) -> Output {
    let all = with_node(target, json, args);
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_safeport-admin"))
            .args(&all)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

pub(crate) async fn ok(target: &Target, args: &[&str]) -> Value {
    let out = admin(target, args).await;
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs the CLI offline (no node) with `args` as given.
pub(crate) fn offline(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_safeport-admin"))
        .args(args)
        .output()
        .expect("safeport-admin runs")
}

/// Runs the CLI offline with `--json`, requires success and returns what it printed.
pub(crate) fn offline_json(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = offline(&all);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

/// Runs the CLI offline, requires a clear failure (non-zero exit, an `error` line, no panic)
/// and returns its standard error.
pub(crate) fn offline_failure(args: &[&str]) -> String {
    let out = offline(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(
        stderr.starts_with("error"),
        "{args:?}: unclear error {stderr:?}"
    );
    stderr
}
