//! Tests of the real `safeport-node` binary as a child process: exit status and the one-line
//! error for bad configurations, and graceful shutdown on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Upper bound for any child to finish; generous because the machine may be busy compiling.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

fn node() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_safeport-node"));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG");
    command
}

/// Waits for `child` by polling, killing it if it outlives [`CHILD_TIMEOUT`].
fn wait_bounded(child: &mut Child) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("safeport-node did not exit within {CHILD_TIMEOUT:?}");
        }
        // Polling interval for the child's exit, not a synchronisation sleep.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the node with `args` to completion; returns its status and stderr.
fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let mut child = node().args(args).spawn().unwrap();
    // Reading stderr concurrently keeps a chatty child from blocking on a full pipe.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let status = wait_bounded(&mut child);
    (status, reader.join().unwrap())
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("node.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn unknown_config_key_fails_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[http]\nverification = \"off\"\n");
    let (status, stderr) = run_to_exit(&["run", "--config", &config]);
    assert!(!status.success());
    assert!(stderr.contains("`verification`"), "{stderr}");
    assert!(stderr.contains(&config), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_config_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("missing.toml");
    let config = config.to_str().unwrap();
    let (status, stderr) = run_to_exit(&["run", "--config", config]);
    assert!(!status.success());
    assert!(stderr.contains("cannot read config file"), "{stderr}");
    assert!(stderr.contains(config), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn help_explains_the_config_option() {
    let mut child = node().args(["run", "--help"]).spawn().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(wait_bounded(&mut child).success());
    assert!(stdout.contains("--config <FILE>"), "{stdout}");
    assert!(stdout.contains("development federation"), "{stdout}");
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_node_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[federation]\ndevelopment = true\n[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[net]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n[log]\nformat = \"json\"\n",
    );
    let mut child = node().args(["run", "--config", &config]).spawn().unwrap();

    // Forward stderr lines through a channel so waiting for the "listening" line is bounded.
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let mut log = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(remaining) {
            Ok(line) => {
                let listening = line.contains("HTTP API listening");
                log.push(line);
                if listening {
                    break;
                }
            }
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node did not start ({err}): {log:#?}");
            }
        }
    }
    let line = log.last().unwrap();
    let event: serde_json::Value = serde_json::from_str(line).unwrap();
    assert!(event["fields"]["addr"].as_str().is_some(), "{line}");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_bounded(&mut child);
    assert!(status.success(), "exit status {status}");
    // The database was closed: another process (this one) can open it.
    safeport_node::store::Store::open(dir.path().join("safeport-data").join("db")).unwrap();
}
