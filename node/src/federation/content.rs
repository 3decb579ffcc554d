//! Media content between peers. The holder serves a piece of an item's content only when its
//! own `authorize()` grants the requesting peer that item's content now (`App::content_for`);
//! the receiver fetches what its ingest queued, piece by piece within bounds, checks the
//! SHA-256 the originator signed, and only then stores it (encrypted) in its blob store.

use std::sync::Arc;

use safeport_protocol::sync::{BLOB_CHUNK_BYTES, BlobChunk, SyncRequest, SyncResponse};
use safeport_protocol::{AgencyId, RecordId};
use sha2::{Digest, Sha256};

use super::FederationHandle;
use crate::app::{App, AppError};
use crate::store::media::PendingBlob;

/// Items fetched per round before the queue is read again.
const ROUND: usize = 32;

/// Answers a content request from an admitted peer.
pub(super) async fn serve(
    app: &Arc<App>,
    handle: &FederationHandle,
    from: &AgencyId,
    record: RecordId,
    commitment: [u8; 32],
    offset: u64,
) -> SyncResponse {
    let app = Arc::clone(app);
    let blobs = handle.blobs.clone();
    let peer = from.clone();
    let served = tokio::task::spawn_blocking(move || -> Result<Option<BlobChunk>, AppError> {
        let sha256 = app.content_for(&peer, &record, &commitment)?;
        let Some(bytes) = blobs
            .get(&sha256)
            .map_err(|e| AppError::Invalid(e.to_string()))?
        else {
            return Ok(None);
        };
        let total = bytes.len() as u64;
        let start = usize::try_from(offset).ok().filter(|&s| s <= bytes.len());
        let Some(start) = start else {
            return Ok(None);
        };
        let end = bytes.len().min(start + BLOB_CHUNK_BYTES);
        Ok(Some(BlobChunk {
            total,
            offset,
            bytes: bytes[start..end].to_vec(),
        }))
    })
    .await;
    match served {
        Ok(Ok(Some(chunk))) => SyncResponse::Blob(chunk),
        Ok(Ok(None)) | Ok(Err(AppError::NotFound)) => {
            SyncResponse::Refused("content not available".into())
        }
        Ok(Err(error)) => {
            tracing::error!(peer = %from, %error, "serving content");
            SyncResponse::Refused("internal error".into())
        }
        Err(error) => {
            tracing::error!(peer = %from, %error, "serving content");
            SyncResponse::Refused("internal error".into())
        }
    }
}

/// Fetches the content queued for `peer`: returns how many items were stored.
pub(super) async fn fetch_all(
    app: &Arc<App>,
    handle: &FederationHandle,
    peer: &AgencyId,
) -> Result<usize, String> {
    let mut stored = 0;
    loop {
        let pending = {
            let app = Arc::clone(app);
            let peer = peer.clone();
            tokio::task::spawn_blocking(move || app.store().pending_blobs(&peer, ROUND))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
        };
        if pending.is_empty() {
            return Ok(stored);
        }
        let mut progressed = false;
        for blob in pending {
            match fetch_one(handle, peer, &blob).await {
                Ok(bytes) => {
                    let blobs = handle.blobs.clone();
                    let put = tokio::task::spawn_blocking(move || blobs.put(&bytes))
                        .await
                        .map_err(|e| e.to_string())?;
                    put.map_err(|e| e.to_string())?;
                    stored += 1;
                }
                Err(Fetch::Retry(reason)) => {
                    // The holder may not have caught up (its agreements or its own copy):
                    // the item stays queued for the next pull.
                    tracing::info!(%peer, %reason, "content not fetched yet");
                    continue;
                }
                Err(Fetch::Drop(reason)) => {
                    tracing::warn!(%peer, %reason, "content refused for good");
                }
            }
            progressed = true;
            let app = Arc::clone(app);
            let peer = peer.clone();
            tokio::task::spawn_blocking(move || app.store().done_blob(&peer, &blob))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
        if !progressed {
            return Ok(stored);
        }
    }
}

enum Fetch {
    /// Try again later.
    Retry(String),
    /// Never store this (wrong content, out of bounds).
    Drop(String),
}

async fn fetch_one(
    handle: &FederationHandle,
    peer: &AgencyId,
    blob: &PendingBlob,
) -> Result<Vec<u8>, Fetch> {
    if handle.blobs.contains(&blob.sha256) {
        return Err(Fetch::Drop("already stored".into()));
    }
    let limit = handle.blobs.max_blob_bytes();
    let mut bytes: Vec<u8> = Vec::new();
    let mut total = None;
    loop {
        let request = SyncRequest::Blob {
            record: blob.record,
            commitment: blob.commitment,
            offset: bytes.len() as u64,
        };
        let body = request.encode().map_err(|e| Fetch::Drop(e.to_string()))?;
        let answer = handle
            .net
            .request(peer, body)
            .await
            .map_err(|e| Fetch::Retry(e.to_string()))?;
        let chunk = match SyncResponse::decode(&answer) {
            Ok(SyncResponse::Blob(chunk)) => chunk,
            Ok(SyncResponse::Refused(reason)) => return Err(Fetch::Retry(reason)),
            Ok(_) => return Err(Fetch::Drop("unexpected answer to a content request".into())),
            Err(error) => return Err(Fetch::Drop(format!("bad answer: {error}"))),
        };
        if chunk.total > limit {
            return Err(Fetch::Drop(format!(
                "{} bytes exceed the limit of {limit}",
                chunk.total
            )));
        }
        if *total.get_or_insert(chunk.total) != chunk.total || chunk.offset != bytes.len() as u64 {
            return Err(Fetch::Drop("inconsistent content pieces".into()));
        }
        if chunk.bytes.is_empty() && (bytes.len() as u64) < chunk.total {
            return Err(Fetch::Drop("content piece without progress".into()));
        }
        bytes.extend_from_slice(&chunk.bytes);
        if bytes.len() as u64 == chunk.total {
            break;
        }
    }
    if <[u8; 32]>::from(Sha256::digest(&bytes)) != blob.sha256 {
        return Err(Fetch::Drop(
            "content does not match the signed SHA-256".into(),
        ));
    }
    Ok(bytes)
}
