//! A client of a running node's admin API (peers, agreements, status, CRL updates). The node's
//! own database is never opened here: RocksDB allows one process, and the node decides.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::AdminError;
use crate::files;

/// How long one admin API call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to one node's admin API.
pub struct NodeClient {
    base: String,
    token: String,
    actor: Option<String>,
    http: reqwest::blocking::Client,
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
        })
    }

    /// Names the person acting in every call (the node's audit trail records it).
    pub fn acting_as(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
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

    fn send(&self, request: reqwest::blocking::RequestBuilder) -> Result<Value, AdminError> {
        let response = self.authorised(request).send().map_err(|e| {
            AdminError::Invalid(format!("cannot reach the node at {}: {e}", self.base))
        })?;
        let status = response.status();
        let body: Value = response.json().map_err(|e| {
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
        self.send(self.http.post(format!("{}{path}", self.base)).body(body))
    }

    /// `POST path` with a binary body (a file to look up).
    pub fn post_bytes(&self, path: &str, body: Vec<u8>) -> Result<Value, AdminError> {
        self.send(self.http.post(format!("{}{path}", self.base)).body(body))
    }

    /// `GET path` answered with text (exports), not JSON.
    pub fn get_text(&self, path: &str) -> Result<String, AdminError> {
        let response = self
            .authorised(self.http.get(format!("{}{path}", self.base)))
            .send()
            .map_err(|e| {
                AdminError::Invalid(format!("cannot reach the node at {}: {e}", self.base))
            })?;
        let status = response.status();
        let text = response
            .text()
            .map_err(|e| AdminError::Invalid(format!("reading the node's answer: {e}")))?;
        if !status.is_success() {
            return Err(refused(status, text.as_bytes()));
        }
        Ok(text)
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
        let response = self.authorised(request).send().map_err(|e| {
            AdminError::Invalid(format!("cannot reach the node at {}: {e}", self.base))
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .map_err(|e| AdminError::Invalid(format!("reading the node's answer: {e}")))?;
        if !status.is_success() {
            return Err(refused(status, &bytes));
        }
        Ok(bytes.to_vec())
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

/// The error for a refusal: the node's `{"error": …}` message when it gave one.
fn refused(status: reqwest::StatusCode, body: &[u8]) -> AdminError {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "no reason given".into());
    AdminError::Invalid(format!("the node refused ({status}): {message}"))
}
