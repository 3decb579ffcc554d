//! A client of a running node's admin API (peers, agreements, status, CRL updates). The node's
//! own database is never opened here: RocksDB allows one process, and the node decides.
//!
//! A client can be observed ([`NodeClient::observed_by`]): it then reports how far each
//! transfer has come ([`TransferStep`]), for a progress display of large uploads and exports.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::AdminError;
use crate::files;

/// How long one admin API call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes read from an answer at a time (and so the finest step of download progress).
const READ_CHUNK: usize = 64 * 1024;
/// Most bytes reserved up front for an answer, whatever its Content-Length claims.
const MAX_RESERVED: u64 = 64 * 1024 * 1024;

/// How far one request to the node has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferStep {
    /// The request is sent, or its body fully handed on: the node is working on it and says
    /// nothing until it answers.
    Waiting,
    /// Bytes of the request's body handed to the connection so far.
    Sent {
        /// Bytes so far.
        bytes: u64,
        /// The body's size.
        total: u64,
    },
    /// Bytes of the node's answer read so far.
    Received {
        /// Bytes so far.
        bytes: u64,
        /// The answer's size, when the node gave its Content-Length.
        total: Option<u64>,
    },
}

/// Receives the steps of an observed client's requests, in order. Uploads report from the
/// HTTP client's sending side, so an observer must be `Send + Sync`.
pub trait TransferProgress: Send + Sync {
    /// Called at each step.
    fn step(&self, step: TransferStep);
}

impl<F: Fn(TransferStep) + Send + Sync> TransferProgress for F {
    fn step(&self, step: TransferStep) {
        self(step);
    }
}

/// A connection to one node's admin API.
pub struct NodeClient {
    base: String,
    token: String,
    actor: Option<String>,
    http: reqwest::blocking::Client,
    progress: Option<Arc<dyn TransferProgress>>,
}

impl NodeClient {
    /// A client for the admin API at `base` (e.g. `http://127.0.0.1:8471`) with the token read
    /// from `token_file`.
    pub fn new(base: &str, token_file: &Path) -> Result<Self, AdminError> {
        Self::with_timeout(base, token_file, CALL_TIMEOUT)
    }

    /// [`NodeClient::new`] with another limit per call (publishing a large hash list takes
    /// minutes).
    pub fn with_timeout(
        base: &str,
        token_file: &Path,
        timeout: Duration,
    ) -> Result<Self, AdminError> {
        let token = files::read_text(token_file)?.trim().to_owned();
        if token.is_empty() {
            return Err(AdminError::Invalid(format!(
                "{} is empty",
                token_file.display()
            )));
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(|e| AdminError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            actor: None,
            http,
            progress: None,
        })
    }

    /// Names the person acting in every call (the node's audit trail records it).
    pub fn acting_as(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    /// Reports every transfer's steps to `progress` (none: not observed). An observed client
    /// streams request bodies from memory, so that it can count them as they are sent.
    pub fn observed_by(mut self, progress: Option<Arc<dyn TransferProgress>>) -> Self {
        self.progress = progress;
        self
    }

    fn report(&self, step: TransferStep) {
        if let Some(progress) = &self.progress {
            progress.step(step);
        }
    }

    /// The token and the actor on a request.
    fn authorised(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        let request = request.bearer_auth(&self.token);
        match &self.actor {
            Some(actor) => request.header("x-safeport-actor", actor),
            None => request,
        }
    }

    /// Sends a request and reads the whole answer, reporting both to the observer.
    fn exchange(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), AdminError> {
        self.report(TransferStep::Waiting);
        let mut response = self.authorised(request).send().map_err(|e| {
            AdminError::Invalid(format!("cannot reach the node at {}: {e}", self.base))
        })?;
        let status = response.status();
        let total = response.content_length();
        let reserve = total.unwrap_or(0).min(MAX_RESERVED);
        let mut body = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
        let mut chunk = vec![0u8; READ_CHUNK];
        self.report(TransferStep::Received { bytes: 0, total });
        loop {
            let n = response
                .read(&mut chunk)
                .map_err(|e| AdminError::Invalid(format!("reading the node's answer: {e}")))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
            self.report(TransferStep::Received {
                bytes: body.len() as u64,
                total,
            });
        }
        Ok((status, body))
    }

    /// A body from memory: counted as it is sent when observed, handed over whole otherwise
    /// (so an unobserved client sends exactly as before progress existed).
    fn body(&self, bytes: Vec<u8>) -> reqwest::blocking::Body {
        match &self.progress {
            Some(progress) => {
                let total = bytes.len() as u64;
                let counted = CountedBody {
                    bytes: std::io::Cursor::new(bytes),
                    total,
                    progress: Arc::clone(progress),
                };
                reqwest::blocking::Body::sized(counted, total)
            }
            None => bytes.into(),
        }
    }

    fn send(&self, request: reqwest::blocking::RequestBuilder) -> Result<Value, AdminError> {
        let (status, body) = self.exchange(request)?;
        let body: Value = serde_json::from_slice(&body).map_err(|e| {
            AdminError::Invalid(format!("the node answered {status} without JSON: {e}"))
        })?;
        if !status.is_success() {
            let message = body["error"].as_str().unwrap_or("no reason given");
            return Err(AdminError::Invalid(format!(
                "the node refused ({status}): {message}"
            )));
        }
        Ok(body)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Value, AdminError> {
        self.send(self.http.get(format!("{}{path}", self.base)))
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, AdminError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
    }

    /// `POST path` with a text body.
    pub fn post_text(&self, path: &str, body: String) -> Result<Value, AdminError> {
        let body = self.body(body.into_bytes());
        self.send(self.http.post(format!("{}{path}", self.base)).body(body))
    }

    /// `POST path` with a binary body (a file to look up).
    pub fn post_bytes(&self, path: &str, body: Vec<u8>) -> Result<Value, AdminError> {
        let body = self.body(body);
        self.send(self.http.post(format!("{}{path}", self.base)).body(body))
    }

    /// `GET path` answered with text (exports), not JSON. Invalid UTF-8 is replaced, as
    /// reqwest's `text()` without its charset feature does.
    pub fn get_text(&self, path: &str) -> Result<String, AdminError> {
        let bytes = self.bytes_of(self.http.get(format!("{}{path}", self.base)))?;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(invalid) => String::from_utf8_lossy(invalid.as_bytes()).into_owned(),
        })
    }

    /// `POST path` with a JSON body, answered with bytes (a package).
    pub fn post_for_bytes(&self, path: &str, body: &Value) -> Result<Vec<u8>, AdminError> {
        self.bytes_of(self.http.post(format!("{}{path}", self.base)).json(body))
    }

    /// `GET path` answered with bytes (media content).
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, AdminError> {
        self.bytes_of(self.http.get(format!("{}{path}", self.base)))
    }

    fn bytes_of(&self, request: reqwest::blocking::RequestBuilder) -> Result<Vec<u8>, AdminError> {
        let (status, bytes) = self.exchange(request)?;
        if !status.is_success() {
            return Err(refused(status, &bytes));
        }
        Ok(bytes)
    }

    /// `PUT path` with a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> Result<Value, AdminError> {
        self.send(self.http.put(format!("{}{path}", self.base)).json(body))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Value, AdminError> {
        self.send(self.http.delete(format!("{}{path}", self.base)))
    }
}

/// A request body read from memory that reports each piece the HTTP client takes from it,
/// and [`TransferStep::Waiting`] once it has taken all.
struct CountedBody {
    bytes: std::io::Cursor<Vec<u8>>,
    total: u64,
    progress: Arc<dyn TransferProgress>,
}

impl Read for CountedBody {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.bytes.read(buffer)?;
        if n > 0 {
            let sent = self.bytes.position();
            self.progress.step(TransferStep::Sent {
                bytes: sent,
                total: self.total,
            });
            if sent == self.total {
                self.progress.step(TransferStep::Waiting);
            }
        }
        Ok(n)
    }
}

/// The error for a refusal: the node's `{"error": …}` message when it gave one.
fn refused(status: reqwest::StatusCode, body: &[u8]) -> AdminError {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "no reason given".into());
    AdminError::Invalid(format!("the node refused ({status}): {message}"))
}
