//! Online backup and offline restore of a node's data.
//!
//! A backup is a directory holding `db/` (a RocksDB checkpoint of the running store), `blobs/`
//! (the blob store's files, still encrypted under the node key's blob key) and `backup.json`,
//! the manifest: format, agency, time, schema version, counts, and the size and SHA-256 of
//! every file. The manifest is written last, so a directory without one is not a backup.
//! Blobs are content-addressed and never change, so copying them after the checkpoint is
//! enough: a blob the checkpoint refers to was stored before it, or is still queued in it to be
//! fetched again.
//!
//! A restore (node stopped) checks the manifest and the directory against each other, copies
//! every file into a staging directory beside the data directory while checking its digest,
//! opens the copy, verifies every record's signature against its originator's certificate held
//! in the store (each certificate against the federation roots), fences the outboxes
//! ([`Store::fence_outboxes`]), and only then renames the staging directory into place: a bad
//! backup changes nothing. Keys, certificates, configuration and tokens are not in a backup.
//! [`restore_with_progress`] reports how far it has come ([`RestoreStep`]) to its caller.

mod files;
mod progress;
mod restore;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};

use safeport_protocol::pki::{CertError, TrustAnchor};
use safeport_protocol::{AgencyId, Timestamp};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::DB_DIR;
use crate::app::App;
use crate::blobs::BlobStore;
use crate::store::{Store, StoreError};
pub use files::read_manifest;
use files::{entries, io, is_hex, make_dir, prepare_empty, push_file, resolve_target, stream};
use files::{sync_dir, write_new};
pub use progress::{NoProgress, RestoreProgress, RestoreStep};
pub use restore::{load_anchors, restore, restore_with_progress};

/// The manifest's format name.
pub const FORMAT: &str = "safeport-backup";
/// The manifest's format version.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's file name inside a backup.
pub const MANIFEST_FILE: &str = "backup.json";
/// The blob store's directory inside a backup and inside a restored data directory.
pub const BLOBS_DIR: &str = "blobs";
/// Most files one backup holds (database files and blobs).
pub const MAX_FILES: usize = 1_000_000;
/// Largest manifest read (about 170 bytes per file at [`MAX_FILES`]).
pub const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;
/// Largest single file (an SST file or a blob).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// Most failing records described in a restore report (all are counted).
pub const MAX_REPORTED_FAILURES: usize = 100;
/// How far a restore moves every outbox past its head ([`Store::fence_outboxes`]): more
/// records than a lost node could have queued for one peer after its backup.
pub const OUTBOX_FENCE_GAP: u64 = 1 << 32;
/// Media items looked at to find out where the running node's blob store is.
const MEDIA_PROBE_LIMIT: usize = 10_000;

/// Why a backup or restore failed. A failed restore has changed nothing.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The file system failed.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A backup is written, and a restore goes, only into a new or empty directory.
    #[error("{} is not empty: {what} goes only into a new or empty directory", path.display())]
    NotEmpty {
        /// The directory.
        path: PathBuf,
        /// "a backup" or "a restore".
        what: &'static str,
    },
    /// The directory cannot be used.
    #[error("{} cannot be used: {reason}", path.display())]
    Target {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// The running node keeps its blobs outside `<data_dir>/blobs` (`hotline.blob_dir`).
    #[error(
        "the node's blob store is not {}: back up a separate hotline.blob_dir with the node stopped",
        path.display()
    )]
    BlobDirElsewhere {
        /// Where the backup looked.
        path: PathBuf,
    },
    /// The database failed.
    #[error("the database")]
    Store(#[from] StoreError),
    /// Too many files.
    #[error("more than {max} {what}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A file is larger than accepted.
    #[error("{}: {size} bytes, more than {max}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The manifest is missing or not one this release reads.
    #[error("{} is not a Safeport backup: {reason}", path.display())]
    Manifest {
        /// The backup directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file of the backup does not match the manifest.
    #[error("{path} {problem}: the backup is damaged or was altered")]
    File {
        /// The file, relative to the backup.
        path: String,
        /// What does not match.
        problem: &'static str,
    },
    /// The backup was made by a newer release.
    #[error("the backup has database schema version {found}; this release reads up to {supported}")]
    SchemaTooNew {
        /// Its schema version.
        found: u64,
        /// The newest this release reads.
        supported: u64,
    },
    /// The manifest's counts differ from what the backup holds.
    #[error("the manifest lists {listed} {what}, the backup holds {found}")]
    CountMismatch {
        /// What was counted.
        what: &'static str,
        /// The manifest's count.
        listed: u64,
        /// The count found.
        found: u64,
    },
    /// Records of the backup do not verify.
    #[error("{failed} of {total} records do not verify (first: {first}); nothing was restored")]
    Unverified {
        /// Records that failed.
        failed: u64,
        /// Records in the backup.
        total: u64,
        /// The first failure.
        first: String,
    },
    /// No federation root was given for the restore's verification.
    #[error("no federation root given: records are verified against the federation's roots")]
    NoRoots,
    /// A federation root certificate is not usable.
    #[error("{}", path.display())]
    Root {
        /// The root certificate file.
        path: PathBuf,
        /// Why.
        #[source]
        source: CertError,
    },
    /// No randomness for the staging directory's name.
    #[error("no randomness available: {0}")]
    Random(#[from] getrandom::Error),
}

/// The manifest, `backup.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// The agency whose node was backed up.
    pub agency: String,
    /// When the checkpoint was taken (ms since the epoch).
    pub created_at: u64,
    /// The database's schema version.
    pub schema_version: u64,
    /// Records in the database.
    pub record_count: u64,
    /// Blobs copied.
    pub blob_count: u64,
    /// Every file, by path relative to the backup (`db/…`, `blobs/ab/ab…`).
    pub files: Vec<FileEntry>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative path, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    /// The backup directory.
    pub dir: PathBuf,
    /// The agency backed up.
    pub agency: String,
    /// When the checkpoint was taken.
    pub created_at: String,
    /// The database's schema version.
    pub schema_version: u64,
    /// Records in the backup.
    pub records: u64,
    /// Blobs in the backup.
    pub blobs: u64,
    /// Files in the backup.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// How a restore verifies.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The federation roots the stored certificates must chain to.
    pub anchors: Vec<TrustAnchor>,
    /// Restore even when records fail verification (they are reported).
    pub accept_unverified: bool,
}

/// What a restore did and found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// The restored data directory.
    pub data_dir: PathBuf,
    /// The agency of the backup.
    pub agency: String,
    /// When the backup's checkpoint was taken.
    pub backup_created_at: String,
    /// The backup's schema version.
    pub schema_version: u64,
    /// Files restored.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Blobs restored.
    pub blobs: u64,
    /// Records whose signature verified against their originator's certificate.
    pub records_verified: u64,
    /// Records that did not.
    pub records_failed: u64,
    /// The first [`MAX_REPORTED_FAILURES`] of them.
    pub failures: Vec<RecordFailure>,
    /// Outboxes moved past their heads ([`Store::fence_outboxes`]).
    pub outboxes_fenced: usize,
}

/// A record that did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordFailure {
    /// Its key in the store (the record id, hex).
    pub record: String,
    /// Its originator, when it decoded.
    pub origin: Option<String>,
    /// Why it failed.
    pub reason: String,
}

/// Backs up a running node into `dir` (new, or an empty directory): the store's checkpoint,
/// and the blob store from `<data_dir>/blobs` after checking that the node's blobs are there.
pub fn create_for_node(
    app: &App,
    blobs: &BlobStore,
    dir: &Path,
) -> Result<BackupSummary, BackupError> {
    let store = app.store();
    let data_dir = store.path().parent().ok_or(BackupError::Target {
        path: store.path().to_owned(),
        reason: "the database has no parent directory",
    })?;
    let blob_dir = data_dir.join(BLOBS_DIR);
    check_blob_dir(store, blobs, &blob_dir)?;
    create(store, &blob_dir, dir, app.me(), app.now())
}

/// The blob store's path of a blob (its layout: `ab/abcdef…`).
fn blob_path(dir: &Path, sha256: &[u8; 32]) -> PathBuf {
    let name = hex::encode(sha256);
    dir.join(&name[..2]).join(name)
}

/// Whether the node's blobs are in `blob_dir`: a blob the node holds must be there. (The blob
/// store does not say where it is; a node without any blob loses nothing either way.)
fn check_blob_dir(store: &Store, blobs: &BlobStore, blob_dir: &Path) -> Result<(), BackupError> {
    for sha256 in store.media_sha256s(MEDIA_PROBE_LIMIT)? {
        if blobs.contains(&sha256) {
            // Blobs are never removed: held now, the file is there now if the dirs agree.
            if blob_path(blob_dir, &sha256).is_file() {
                return Ok(());
            }
            return Err(BackupError::BlobDirElsewhere {
                path: blob_dir.to_owned(),
            });
        }
    }
    Ok(())
}

/// Writes a backup of `store` and the blobs in `blob_dir` into `dir` (new, or an empty
/// directory whose parent exists). On failure, what was written is removed again.
pub fn create(
    store: &Store,
    blob_dir: &Path,
    dir: &Path,
    agency: &AgencyId,
    now: Timestamp,
) -> Result<BackupSummary, BackupError> {
    let target = resolve_target(dir)?;
    for data in [store.path(), blob_dir] {
        if let Ok(data) = fs::canonicalize(data)
            && target.starts_with(&data)
        {
            return Err(BackupError::Target {
                path: dir.to_owned(),
                reason: "it lies inside the node's data",
            });
        }
    }
    let created = prepare_empty(&target, "a backup")?;
    let result = write_backup(store, blob_dir, &target, agency, now);
    if result.is_err() {
        // Only what this call wrote: the directory was empty (or absent) before it.
        let cleanup = if created {
            fs::remove_dir_all(&target)
        } else {
            [DB_DIR, BLOBS_DIR, MANIFEST_FILE, PARTIAL_MANIFEST]
                .iter()
                .map(|name| target.join(name))
                .filter(|path| fs::symlink_metadata(path).is_ok())
                .try_for_each(|path| match path.is_dir() {
                    true => fs::remove_dir_all(path),
                    false => fs::remove_file(path),
                })
        };
        if let Err(error) = cleanup {
            tracing::warn!(%error, dir = %target.display(), "could not remove a failed backup");
        }
    }
    result
}

const PARTIAL_MANIFEST: &str = "backup.json.partial";

fn write_backup(
    store: &Store,
    blob_dir: &Path,
    dir: &Path,
    agency: &AgencyId,
    now: Timestamp,
) -> Result<BackupSummary, BackupError> {
    let info = store.checkpoint(dir.join(DB_DIR))?;
    let mut files = Vec::new();
    for (name, path, kind) in entries(&dir.join(DB_DIR))? {
        if !kind.is_file() {
            return Err(BackupError::File {
                path: format!("{DB_DIR}/{name}"),
                problem: "is not a regular file",
            });
        }
        let (size, sha256) = stream(&path, None, MAX_FILE_BYTES)?;
        push_file(&mut files, format!("{DB_DIR}/{name}"), size, sha256)?;
    }
    let blob_count = copy_blobs(blob_dir, &dir.join(BLOBS_DIR), &mut files)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        agency: agency.to_string(),
        created_at: now.0,
        schema_version: info.schema_version,
        record_count: info.record_count,
        blob_count,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Manifest {
        path: dir.to_owned(),
        reason: e.to_string(),
    })?;
    let partial = dir.join(PARTIAL_MANIFEST);
    write_new(&partial, &json)?;
    fs::rename(&partial, dir.join(MANIFEST_FILE)).map_err(io(&partial))?;
    sync_dir(dir)?;
    Ok(BackupSummary {
        dir: dir.to_owned(),
        agency: manifest.agency,
        created_at: now.to_string(),
        schema_version: manifest.schema_version,
        records: manifest.record_count,
        blobs: blob_count,
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.size).sum(),
    })
}

/// Copies the blob files (`ab/ab…`, 64 hex digits) of `from` into `to`; other names (the
/// temporary files of writes in progress) are left out. Returns how many were copied.
fn copy_blobs(from: &Path, to: &Path, files: &mut Vec<FileEntry>) -> Result<u64, BackupError> {
    make_dir(to)?;
    if fs::symlink_metadata(from).is_err() {
        return Ok(0);
    }
    let mut count = 0u64;
    for (prefix, prefix_path, kind) in entries(from)? {
        if !kind.is_dir() || !is_hex(&prefix, 2) {
            continue;
        }
        for (name, path, kind) in entries(&prefix_path)? {
            if !kind.is_file() || !is_hex(&name, 64) || !name.starts_with(&prefix) {
                continue;
            }
            make_dir(&to.join(&prefix))?;
            let (size, sha256) = stream(&path, Some(&to.join(&prefix).join(&name)), u64::MAX)?;
            push_file(files, format!("{BLOBS_DIR}/{prefix}/{name}"), size, sha256)?;
            count += 1;
        }
        sync_dir(&to.join(&prefix)).or_else(|e| match e {
            // No blob in this prefix directory was copied.
            BackupError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(())
            }
            other => Err(other),
        })?;
    }
    sync_dir(to)?;
    Ok(count)
}
