//! The file side of backups: reading and checking manifests against what a backup holds,
//! and bounded, hashing, synced copies.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use safeport_protocol::AgencyId;
use sha2::{Digest, Sha256};

use super::{
    BLOBS_DIR, BackupError, FORMAT, FORMAT_VERSION, FileEntry, MANIFEST_FILE, MAX_FILE_BYTES,
    MAX_FILES, MAX_MANIFEST_BYTES, Manifest,
};
use crate::DB_DIR;
use crate::store::CURRENT_SCHEMA_VERSION;

/// Longest relative path in a manifest.
const MAX_PATH_CHARS: usize = 256;

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

pub(super) fn push_file(
    files: &mut Vec<FileEntry>,
    path: String,
    size: u64,
    sha256: [u8; 32],
) -> Result<(), BackupError> {
    if files.len() >= MAX_FILES {
        return Err(BackupError::TooMany {
            what: "files",
            max: MAX_FILES,
        });
    }
    files.push(FileEntry {
        path,
        size,
        sha256: hex::encode(sha256),
    });
    Ok(())
}

pub(super) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, BackupError> {
    let file = fs::File::open(path).map_err(io(path))?;
    let size = file.metadata().map_err(io(path))?.len();
    if size > max {
        return Err(BackupError::TooLarge {
            path: path.to_owned(),
            size,
            max,
        });
    }
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).map_err(io(path))?;
    Ok(bytes)
}

/// Reads and checks the manifest of the backup in `from`.
pub fn read_manifest(from: &Path) -> Result<Manifest, BackupError> {
    let path = from.join(MANIFEST_FILE);
    let bad = |reason: String| BackupError::Manifest {
        path: from.to_owned(),
        reason,
    };
    if !path.is_file() {
        return Err(bad(format!(
            "{MANIFEST_FILE} is missing (an unfinished or interrupted backup?)"
        )));
    }
    let manifest: Manifest = serde_json::from_slice(&read_bounded(&path, MAX_MANIFEST_BYTES)?)
        .map_err(|e| bad(format!("{MANIFEST_FILE}: {e}")))?;
    if manifest.format != FORMAT {
        return Err(bad(format!("its format is {:?}", manifest.format)));
    }
    if manifest.version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} is not supported (this release reads {FORMAT_VERSION})",
            manifest.version
        )));
    }
    AgencyId::new(&manifest.agency).map_err(|e| bad(format!("agency: {e}")))?;
    if manifest.schema_version > CURRENT_SCHEMA_VERSION {
        return Err(BackupError::SchemaTooNew {
            found: manifest.schema_version,
            supported: CURRENT_SCHEMA_VERSION,
        });
    }
    if manifest.files.len() > MAX_FILES {
        return Err(BackupError::TooMany {
            what: "files",
            max: MAX_FILES,
        });
    }
    let mut seen = BTreeSet::new();
    let mut blobs = 0u64;
    for file in &manifest.files {
        let is_blob = listed_path_kind(&file.path)
            .ok_or_else(|| bad(format!("{:?} is not a path a backup holds", file.path)))?;
        blobs += u64::from(is_blob);
        if file.size > MAX_FILE_BYTES || !is_hex(&file.sha256, 64) || !seen.insert(&file.path) {
            return Err(bad(format!("the entry of {} is invalid", file.path)));
        }
    }
    if !seen.contains(&format!("{DB_DIR}/CURRENT")) {
        return Err(bad("it holds no database".into()));
    }
    if blobs != manifest.blob_count {
        return Err(BackupError::CountMismatch {
            what: "blobs",
            listed: manifest.blob_count,
            found: blobs,
        });
    }
    Ok(manifest)
}

/// `Some(true)` for a blob path, `Some(false)` for a database file, `None` for anything else
/// (so nothing outside the two parts, and no `..`, can be named).
fn listed_path_kind(path: &str) -> Option<bool> {
    if path.len() > MAX_PATH_CHARS {
        return None;
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [DB_DIR, name] => {
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
            (!name.is_empty() && !name.starts_with('.') && name.chars().all(plain)).then_some(false)
        }
        [BLOBS_DIR, prefix, name] => {
            (is_hex(prefix, 2) && is_hex(name, 64) && name.starts_with(prefix)).then_some(true)
        }
        _ => None,
    }
}

pub(super) fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks that the backup's `db/` and `blobs/` hold exactly the files the manifest lists.
pub(super) fn check_listing(from: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let mut found = BTreeSet::new();
    let mut add = |path: String, kind: fs::FileType| {
        if !kind.is_file() {
            return Err(BackupError::File {
                path,
                problem: "is not a regular file",
            });
        }
        if found.len() >= MAX_FILES {
            return Err(BackupError::TooMany {
                what: "files",
                max: MAX_FILES,
            });
        }
        found.insert(path);
        Ok(())
    };
    for (name, _, kind) in entries(&from.join(DB_DIR))? {
        add(format!("{DB_DIR}/{name}"), kind)?;
    }
    if fs::symlink_metadata(from.join(BLOBS_DIR)).is_ok() {
        for (prefix, path, kind) in entries(&from.join(BLOBS_DIR))? {
            if !kind.is_dir() {
                add(format!("{BLOBS_DIR}/{prefix}"), kind)?;
                continue;
            }
            for (name, _, kind) in entries(&path)? {
                add(format!("{BLOBS_DIR}/{prefix}/{name}"), kind)?;
            }
        }
    }
    let listed: BTreeSet<&String> = manifest.files.iter().map(|f| &f.path).collect();
    if let Some(extra) = found.iter().find(|path| !listed.contains(path)) {
        return Err(BackupError::File {
            path: extra.clone(),
            problem: "is not listed in the manifest",
        });
    }
    if let Some(missing) = listed.iter().find(|path| !found.contains(**path)) {
        return Err(BackupError::File {
            path: (*missing).clone(),
            problem: "is missing",
        });
    }
    Ok(())
}

/// The entries of a directory, sorted by name, at most [`MAX_FILES`]; names that are not
/// UTF-8 are reported with their lossy form (a backup never writes them).
pub(super) fn entries(dir: &Path) -> Result<Vec<(String, PathBuf, fs::FileType)>, BackupError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if out.len() >= MAX_FILES {
            return Err(BackupError::TooMany {
                what: "directory entries",
                max: MAX_FILES,
            });
        }
        let kind = entry.file_type().map_err(io(&entry.path()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, entry.path(), kind));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Reads `from` (at most `max` bytes; one more is an error), writing it to a new file `to`
/// (0600, synced) when given; returns its size and SHA-256.
pub(super) fn stream(
    from: &Path,
    to: Option<&Path>,
    max: u64,
) -> Result<(u64, [u8; 32]), BackupError> {
    stream_observed(from, to, max, &mut |_| {})
}

/// [`stream`], telling `observe` after each chunk how many bytes of `from` were read and
/// written so far (never more than `max`: a larger file fails before it is reported).
pub(super) fn stream_observed(
    from: &Path,
    to: Option<&Path>,
    max: u64,
    observe: &mut dyn FnMut(u64),
) -> Result<(u64, [u8; 32]), BackupError> {
    let limit = max.min(MAX_FILE_BYTES);
    let mut input = fs::File::open(from).map_err(io(from))?.take(limit + 1);
    let mut output = to
        .map(|to| {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(to)
                .map_err(io(to))
        })
        .transpose()?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1024 * 1024];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buffer).map_err(io(from))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > limit {
            return Err(BackupError::TooLarge {
                path: from.to_owned(),
                size,
                max: limit,
            });
        }
        hasher.update(&buffer[..n]);
        if let (Some(file), Some(to)) = (output.as_mut(), to) {
            file.write_all(&buffer[..n]).map_err(io(to))?;
        }
        observe(size);
    }
    if let (Some(file), Some(to)) = (output, to) {
        file.sync_all().map_err(io(to))?;
    }
    Ok((size, hasher.finalize().into()))
}

pub(super) fn write_new(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Creates a directory only its owner can enter (backups hold sensitive records); an
/// existing one is fine.
pub(super) fn make_dir(path: &Path) -> Result<(), BackupError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder.create(path).map_err(io(path))
}

pub(super) fn sync_dir(path: &Path) -> Result<(), BackupError> {
    fs::File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io(path))
}

/// The absolute form of `dir`, whose parent must exist.
pub(super) fn resolve_target(dir: &Path) -> Result<PathBuf, BackupError> {
    let name = dir.file_name().ok_or(BackupError::Target {
        path: dir.to_owned(),
        reason: "it names no directory",
    })?;
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    Ok(fs::canonicalize(parent).map_err(io(parent))?.join(name))
}

/// Makes sure `dir` is an empty directory; `true` when this call created it.
pub(super) fn prepare_empty(dir: &Path, what: &'static str) -> Result<bool, BackupError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
                return Err(BackupError::NotEmpty {
                    path: dir.to_owned(),
                    what,
                });
            }
            Ok(false)
        }
        Ok(_) => Err(BackupError::Target {
            path: dir.to_owned(),
            reason: "it is not a directory",
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(io(dir))?;
            Ok(true)
        }
        Err(source) => Err(BackupError::Io {
            path: dir.to_owned(),
            source,
        }),
    }
}
