//! Restoring a backup: every file copied into a staging directory and checked against the
//! manifest's digest, every record verified, the outboxes fenced, then one rename into place.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use safeport_protocol::pki::{AgencySigners, CertError, TrustAnchor};
use safeport_protocol::{AgencyId, RawRecord, Timestamp};

use super::files::{
    check_listing, io, make_dir, read_bounded, resolve_target, stream_observed, sync_dir,
};
use super::{
    BLOBS_DIR, BackupError, MAX_REPORTED_FAILURES, Manifest, NoProgress, OUTBOX_FENCE_GAP,
    RecordFailure, RestoreOptions, RestoreProgress, RestoreReport, RestoreStep, read_manifest,
};
use crate::DB_DIR;
use crate::store::Store;

/// Largest federation root certificate file read.
const MAX_ROOT_BYTES: u64 = 1024 * 1024;

/// Restores the backup in `from` into `data_dir` (new, or an empty directory) after checking
/// every file's digest and verifying every record. Nothing changes unless all of it passes.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    options: &RestoreOptions,
) -> Result<RestoreReport, BackupError> {
    restore_with_progress(from, data_dir, options, &NoProgress)
}

/// [`restore`], telling `progress` how far it has come: the plan from the manifest, bytes
/// copied, records checked, then the final steps.
pub fn restore_with_progress(
    from: &Path,
    data_dir: &Path,
    options: &RestoreOptions,
    progress: &dyn RestoreProgress,
) -> Result<RestoreReport, BackupError> {
    if options.anchors.is_empty() {
        return Err(BackupError::NoRoots);
    }
    let manifest = read_manifest(from)?;
    check_listing(from, &manifest)?;
    let target = resolve_target(data_dir)?;
    match fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_dir() => {
            if fs::read_dir(&target).map_err(io(&target))?.next().is_some() {
                return Err(BackupError::NotEmpty {
                    path: target,
                    what: "a restore",
                });
            }
        }
        Ok(_) => {
            return Err(BackupError::Target {
                path: target,
                reason: "it is not a directory",
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(BackupError::Io {
                path: target,
                source,
            });
        }
    }
    // Beside the target, so the final rename stays on one file system.
    let parent = target.parent().unwrap_or(Path::new("/")).to_owned();
    let mut random = [0u8; 8];
    getrandom::fill(&mut random)?;
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let staging = parent.join(format!(".{name}.restore-{}", hex::encode(random)));
    make_dir(&staging)?;
    progress.step(RestoreStep::Planned {
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        records: manifest.record_count,
    });
    let report = restore_into(from, &staging, &manifest, options, progress).and_then(|report| {
        // Renaming onto an empty directory replaces it; onto a non-empty one it fails.
        fs::rename(&staging, &target).map_err(io(&target))?;
        sync_dir(&parent)?;
        Ok(report)
    });
    if report.is_err()
        && let Err(error) = fs::remove_dir_all(&staging)
    {
        tracing::warn!(%error, dir = %staging.display(), "could not remove the staging directory");
    }
    Ok(RestoreReport {
        data_dir: target,
        ..report?
    })
}

fn restore_into(
    from: &Path,
    staging: &Path,
    manifest: &Manifest,
    options: &RestoreOptions,
    progress: &dyn RestoreProgress,
) -> Result<RestoreReport, BackupError> {
    let mut bytes = 0u64;
    let mut dirs = BTreeSet::from([staging.join(DB_DIR), staging.join(BLOBS_DIR)]);
    for dir in &dirs {
        make_dir(dir)?;
    }
    for (copied, entry) in manifest.files.iter().enumerate() {
        let destination = staging.join(&entry.path);
        if let Some(parent) = destination.parent()
            && dirs.insert(parent.to_owned())
        {
            make_dir(parent)?;
        }
        let before = bytes;
        let (size, sha256) = stream_observed(
            &from.join(&entry.path),
            Some(&destination),
            entry.size,
            &mut |in_file| {
                progress.step(RestoreStep::Copied {
                    files: copied,
                    bytes: before + in_file,
                })
            },
        )?;
        let problem = if size != entry.size {
            "does not have the size the manifest lists"
        } else if hex::encode(sha256) != entry.sha256 {
            "does not match the SHA-256 the manifest lists"
        } else {
            bytes += size;
            progress.step(RestoreStep::Copied {
                files: copied + 1,
                bytes,
            });
            continue;
        };
        return Err(BackupError::File {
            path: entry.path.clone(),
            problem,
        });
    }
    for dir in dirs.iter().rev().chain([&staging.to_owned()]) {
        sync_dir(dir)?;
    }
    let store = Store::open(staging.join(DB_DIR))?;
    let checked = verify_records(
        &store,
        &options.anchors,
        Timestamp(manifest.created_at),
        progress,
    )?;
    let total = checked.verified + checked.failed;
    if total != manifest.record_count {
        return Err(BackupError::CountMismatch {
            what: "records",
            listed: manifest.record_count,
            found: total,
        });
    }
    if let Some(first) = checked.failures.first()
        && !options.accept_unverified
    {
        return Err(BackupError::Unverified {
            failed: checked.failed,
            total,
            first: format!("record {}: {}", first.record, first.reason),
        });
    }
    progress.step(RestoreStep::Finishing);
    let outboxes_fenced = store.fence_outboxes(&manifest.agency, OUTBOX_FENCE_GAP)?;
    drop(store);
    Ok(RestoreReport {
        data_dir: staging.to_owned(),
        agency: manifest.agency.clone(),
        backup_created_at: Timestamp(manifest.created_at).to_string(),
        schema_version: manifest.schema_version,
        files: manifest.files.len(),
        bytes,
        blobs: manifest.blob_count,
        records_verified: checked.verified,
        records_failed: checked.failed,
        failures: checked.failures,
        outboxes_fenced,
    })
}

#[derive(Default)]
struct Checked {
    verified: u64,
    failed: u64,
    failures: Vec<RecordFailure>,
}

/// Verifies every record of `store`: it decodes, is stored under its id, and its originator's
/// signature verifies under one of the originator's certificates held in the store (all of
/// them, across key rotations) that chains to `anchors` (the roots checked at `at`, the
/// backup's time) and was valid when the record was made. Revocation is not checked: no CRL is
/// at hand offline. (A running node judges what it serves and receives against its CRL, but
/// does not re-check records it already holds: a key revoked as compromised after the backup
/// is the authority's and the agencies' matter, as for a running node.)
fn verify_records(
    store: &Store,
    anchors: &[TrustAnchor],
    at: Timestamp,
    progress: &dyn RestoreProgress,
) -> Result<Checked, BackupError> {
    let mut keys: BTreeMap<AgencyId, Result<AgencySigners, String>> = BTreeMap::new();
    let mut checked = Checked::default();
    store.visit_record_bytes(|key, bytes| {
        let (origin, outcome) = match RawRecord::decode(bytes) {
            Err(e) => (None, Err(format!("does not decode: {e}"))),
            Ok(raw) if raw.id().0.as_slice() != key => (
                Some(raw.header().origin.to_string()),
                Err("is stored under another id".into()),
            ),
            Ok(raw) => {
                let origin = &raw.header().origin;
                if !keys.contains_key(origin) {
                    keys.insert(origin.clone(), origin_signers(store, anchors, at, origin)?);
                }
                let made = raw.header().created_at;
                let outcome = match keys.get(origin) {
                    Some(Ok(signers)) => signers
                        .signing_at(made)
                        .any(|signer| raw.verify_prepared(&signer.key).is_ok())
                        .then_some(())
                        .ok_or_else(|| {
                            format!(
                                "signature of {origin}: no certificate valid when the record \
                                 was made ({made}) verifies it"
                            )
                        }),
                    Some(Err(reason)) => Err(reason.clone()),
                    None => Err(format!("no certificate of {origin} is held")),
                };
                (Some(origin.to_string()), outcome)
            }
        };
        match outcome {
            Ok(()) => checked.verified += 1,
            Err(reason) => {
                checked.failed += 1;
                if checked.failures.len() < MAX_REPORTED_FAILURES {
                    checked.failures.push(RecordFailure {
                        record: hex::encode(key),
                        origin,
                        reason,
                    });
                }
            }
        }
        progress.step(RestoreStep::Checked {
            records: checked.verified + checked.failed,
            failed: checked.failed,
        });
        Ok::<(), BackupError>(())
    })?;
    Ok(checked)
}

/// The signer keys of every certificate of `origin` held in the store, verified against the
/// roots at `at` (no CRL offline), or why there are none.
fn origin_signers(
    store: &Store,
    anchors: &[TrustAnchor],
    at: Timestamp,
    origin: &AgencyId,
) -> Result<Result<AgencySigners, String>, BackupError> {
    let (verified, refused) =
        crate::app::certificates::stored_signer_certificates(store, anchors, &[], at, origin)?;
    let signers = crate::app::certificates::signers_by_agency(&verified)
        .remove(origin)
        .unwrap_or_default();
    Ok(if !signers.is_empty() {
        Ok(signers)
    } else if let Some(reason) = refused.first() {
        Err(format!("certificate of {origin}: {reason}"))
    } else {
        Err(format!("no certificate of {origin} is held"))
    })
}

/// Reads federation root certificates (PEM files) for [`RestoreOptions::anchors`].
pub fn load_anchors(paths: &[PathBuf]) -> Result<Vec<TrustAnchor>, BackupError> {
    paths
        .iter()
        .map(|path| {
            let text = read_bounded(path, MAX_ROOT_BYTES)?;
            let text = String::from_utf8(text).map_err(|_| BackupError::Root {
                path: path.clone(),
                source: CertError::Malformed("not text".into()),
            })?;
            TrustAnchor::from_pem(&text).map_err(|source| BackupError::Root {
                path: path.clone(),
                source,
            })
        })
        .collect()
}
