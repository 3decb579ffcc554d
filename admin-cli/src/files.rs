//! File handling for the admin tool: bounded reads with errors that name the file, secret files
//! created with 0600 permissions, and no silent overwrites.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Largest text file (PEM, JSON state) the admin tool reads.
pub const MAX_TEXT_FILE: u64 = 1024 * 1024;

/// Why a file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Reading failed.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: std::io::Error,
    },
    /// The file is larger than any file the tool expects.
    #[error("{path} is {len} bytes; refusing files over {max} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Writing failed (including: the file exists and overwriting was not asked for).
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: std::io::Error,
    },
}

/// Reads a UTF-8 text file of at most [`MAX_TEXT_FILE`] bytes.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    read_text_within(path, MAX_TEXT_FILE)
}

/// Reads a UTF-8 text file of at most `max` bytes.
pub fn read_text_within(path: &Path, max: u64) -> Result<String, FileError> {
    String::from_utf8(read_bytes_within(path, max)?).map_err(|_| FileError::Read {
        path: path.to_owned(),
        reason: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

/// Reads a file of at most `max` bytes.
pub fn read_bytes_within(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let read_err = |reason| FileError::Read {
        path: path.to_owned(),
        reason,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > max {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            len,
            max,
        });
    }
    std::fs::read(path).map_err(read_err)
}

/// Whether a write may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse if the file exists (keys, certificates).
    Never,
    /// Replace it (state files the tool itself maintains, CRLs).
    Replace,
}

/// Writes a file with the given Unix mode; secret files use 0o600.
///
/// Replacement goes through a temporary file and a rename, so a crash never leaves a half
/// written file in place.
pub fn write_file(
    path: &Path,
    contents: &str,
    mode: u32,
    overwrite: Overwrite,
) -> Result<(), FileError> {
    write_contents(path, contents.as_bytes(), mode, overwrite)
}

/// Writes (or replaces, through a temporary file and a rename) a binary file.
pub fn write_bytes(path: &Path, contents: &[u8], mode: u32) -> Result<(), FileError> {
    write_contents(path, contents, mode, Overwrite::Replace)
}

fn write_contents(
    path: &Path,
    contents: &[u8],
    mode: u32,
    overwrite: Overwrite,
) -> Result<(), FileError> {
    let write_err = |reason| FileError::Write {
        path: path.to_owned(),
        reason,
    };
    let target = match overwrite {
        Overwrite::Never => path.to_owned(),
        Overwrite::Replace => path.with_extension("tmp-write"),
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(overwrite == Overwrite::Never)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&target)
        .map_err(write_err)?;
    file.write_all(contents).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    if overwrite == Overwrite::Replace {
        std::fs::rename(&target, path).map_err(write_err)?;
    }
    Ok(())
}

/// Makes the renames in `path`'s directory durable (after atomic replacements that must
/// survive a crash together).
pub fn sync_parent(path: &Path) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|reason| FileError::Write {
            path: dir.to_owned(),
            reason,
        })
}

/// Mode of files holding private keys.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of public files (certificates, public keys, CRLs, configs).
pub const PUBLIC_MODE: u32 = 0o644;

/// 16 or 32 random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_file(&path, "secret", SECRET_MODE, Overwrite::Never).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(write_file(&path, "other", SECRET_MODE, Overwrite::Never).is_err());
        assert_eq!(read_text(&path).unwrap(), "secret");
        write_file(&path, "replaced", SECRET_MODE, Overwrite::Replace).unwrap();
        assert_eq!(read_text(&path).unwrap(), "replaced");
    }

    #[test]
    fn missing_and_huge_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_text(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(missing.contains("nope"), "{missing}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; (MAX_TEXT_FILE + 1) as usize]).unwrap();
        assert!(matches!(read_text(&big), Err(FileError::TooLarge { .. })));
    }
}
