//! The admin client's transfer progress against a minimal HTTP server on loopback: an observed
//! client reports every byte it sends and receives, ending at the body's size, and sends and
//! reads exactly what an unobserved client does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use safeport_admin::client::{NodeClient, TransferProgress, TransferStep};

/// What the server received: the request's head (lower-cased) and body.
struct Received {
    head: String,
    body: Vec<u8>,
}

/// Serves one request with `answer` (and its Content-Length) on a new loopback port; returns
/// the base URL and what the server received.
fn serve_once(answer: Vec<u8>, content_type: &'static str) -> (String, JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse::<usize>().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n",
            answer.len()
        )
        .unwrap();
        stream.write_all(&answer).unwrap();
        Received { head, body }
    });
    (base, server)
}

/// Records every step.
#[derive(Default)]
struct Recorder(Mutex<Vec<TransferStep>>);

impl TransferProgress for Recorder {
    fn step(&self, step: TransferStep) {
        self.0.lock().unwrap().push(step);
    }
}

impl Recorder {
    fn steps(&self) -> Vec<TransferStep> {
        self.0.lock().unwrap().clone()
    }
}

fn client(base: &str, dir: &tempfile::TempDir, observer: Option<Arc<Recorder>>) -> NodeClient {
    let token = dir.path().join("admin.token");
    std::fs::write(&token, "secret-token\n").unwrap();
    NodeClient::new(base, &token)
        .unwrap()
        .observed_by(observer.map(|o| o as Arc<dyn TransferProgress>))
}

/// Bytes received so far at each `Received` step, and the totals they gave.
fn received(steps: &[TransferStep]) -> (Vec<u64>, Vec<Option<u64>>) {
    steps
        .iter()
        .filter_map(|step| match *step {
            TransferStep::Received { bytes, total } => Some((bytes, total)),
            _ => None,
        })
        .unzip()
}

/// An export of about 600 KB, several reads long, with a line of non-ASCII text.
fn export_text() -> String {
    let mut text = String::from("algorithm,value,category,note\n");
    for n in 0..9000u32 {
        text.push_str(&format!("sha256,{:064x},baseline,ü{n}\n", n));
    }
    text
}

#[test]
fn an_observed_download_reports_every_byte_up_to_the_content_length() {
    let dir = tempfile::tempdir().unwrap();
    let text = export_text();
    let (base, server) = serve_once(text.clone().into_bytes(), "text/csv; charset=utf-8");
    let recorder = Arc::new(Recorder::default());
    let got = client(&base, &dir, Some(Arc::clone(&recorder)))
        .get_text("/admin/hash-lists/x/export?format=csv")
        .unwrap();
    assert_eq!(got, text);
    let request = server.join().unwrap();
    assert!(request.head.starts_with("get /admin/hash-lists/x/export"));
    assert!(request.head.contains("authorization: bearer secret-token"));

    let steps = recorder.steps();
    assert_eq!(steps.first(), Some(&TransferStep::Waiting));
    let (bytes, totals) = received(&steps);
    assert!(bytes.len() > 2, "several reads: {bytes:?}");
    assert_eq!(bytes.first(), Some(&0));
    assert!(bytes.windows(2).all(|w| w[0] < w[1]), "{bytes:?}");
    assert_eq!(bytes.last(), Some(&(text.len() as u64)));
    assert!(totals.iter().all(|t| *t == Some(text.len() as u64)));
}

#[test]
fn an_observed_upload_reports_every_byte_then_waits_and_sends_what_an_unobserved_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let body = export_text();
    let answer = br#"{"version":3,"entry_count":9000}"#.to_vec();

    let (base, server) = serve_once(answer.clone(), "application/json");
    let recorder = Arc::new(Recorder::default());
    let observed = client(&base, &dir, Some(Arc::clone(&recorder)))
        .post_text("/admin/hash-lists/x/versions?format=csv", body.clone())
        .unwrap();
    let observed_request = server.join().unwrap();

    let (base, server) = serve_once(answer.clone(), "application/json");
    let plain = client(&base, &dir, None)
        .post_text("/admin/hash-lists/x/versions?format=csv", body.clone())
        .unwrap();
    let plain_request = server.join().unwrap();

    assert_eq!(observed, plain);
    assert_eq!(observed["version"], 3);
    // The same bytes arrive, with the same Content-Length, not chunked.
    assert_eq!(observed_request.body, body.as_bytes());
    assert_eq!(plain_request.body, body.as_bytes());
    let length = format!("content-length: {}", body.len());
    for request in [&observed_request, &plain_request] {
        assert!(request.head.contains(&length), "{}", request.head);
        assert!(!request.head.contains("transfer-encoding"));
    }

    let steps = recorder.steps();
    let total = body.len() as u64;
    let sent: Vec<u64> = steps
        .iter()
        .filter_map(|step| match *step {
            TransferStep::Sent { bytes, total: t } => {
                assert_eq!(t, total);
                Some(bytes)
            }
            _ => None,
        })
        .collect();
    assert!(sent.len() > 2, "several pieces: {sent:?}");
    assert!(sent.windows(2).all(|w| w[0] < w[1]), "{sent:?}");
    assert_eq!(sent.last(), Some(&total));
    // Once all is sent, the client waits for the node, then reads its answer.
    let all_sent = steps
        .iter()
        .position(|s| {
            *s == TransferStep::Sent {
                bytes: total,
                total,
            }
        })
        .unwrap();
    assert_eq!(steps[all_sent + 1], TransferStep::Waiting);
    let (bytes, _) = received(&steps[all_sent..]);
    assert_eq!(bytes.last(), Some(&(answer.len() as u64)));
}
