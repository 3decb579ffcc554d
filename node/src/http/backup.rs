//! `POST /admin/backup` with `{"dir": "/absolute/path"}`: an online backup of this node into a
//! directory on the node's own machine (the admin API is loopback and token-protected), while
//! the node keeps serving and syncing. See `crate::backup` for what a backup holds.
//!
//! Audited: a backup holds everything the node holds, so writing one is recorded (after it is
//! complete; if the record cannot be written the caller is told so).
//!
//! The request is bounded by the admin API's request timeout like every other; the backup
//! itself runs on a blocking thread and finishes even if the caller stops waiting, and writes
//! its manifest last, so a directory with `backup.json` holds a complete backup.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiError;
use super::admin::AdminState;
use crate::ErrorChain;
use crate::app::audit::AuditAction;
use crate::backup::{self, BackupError, BackupSummary};

/// Longest directory path accepted.
pub const MAX_DIR_BYTES: usize = 4096;

/// The backup routes.
pub fn routes() -> Router<AdminState> {
    Router::new().route("/admin/backup", post(create))
}

/// Body of `POST /admin/backup`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBackup {
    /// Where to write the backup: an absolute path on the node's machine, new or an empty
    /// directory, whose parent exists.
    pub dir: String,
}

async fn create(
    State(state): State<AdminState>,
    headers: axum::http::HeaderMap,
    body: Result<Json<CreateBackup>, JsonRejection>,
) -> Result<Json<BackupSummary>, ApiError> {
    let actor = super::actor(&headers)?;
    let Json(body) = body?;
    if body.dir.len() > MAX_DIR_BYTES || body.dir.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "dir must be a path of at most {MAX_DIR_BYTES} bytes"
        )));
    }
    let dir = PathBuf::from(body.dir);
    if !dir.is_absolute() {
        // A relative path would be resolved against the node's working directory.
        return Err(ApiError::BadRequest(
            "dir must be an absolute path on the node's machine".into(),
        ));
    }
    let app = Arc::clone(&state.app);
    let blobs = state.blobs.clone();
    let summary =
        tokio::task::spawn_blocking(move || backup::create_for_node(&app, &blobs, &dir)).await?;
    match summary {
        Ok(summary) => {
            tracing::info!(
                dir = %summary.dir.display(),
                records = summary.records,
                blobs = summary.blobs,
                "backup written"
            );
            let target = format!("backup to {}", summary.dir.display());
            super::admin::blocking(&state.app, move |app| {
                app.audit(&actor, AuditAction::Backup, &target, None, None)
            })
            .await?;
            Ok(Json(summary))
        }
        Err(BackupError::Store(error)) => Err(ApiError::Internal(Box::new(error))),
        // The rest concerns the target directory or the blob store's place: the operator
        // holding the admin token needs the reason to fix it.
        Err(error) => Err(ApiError::Conflict(ErrorChain(&error).to_string())),
    }
}
