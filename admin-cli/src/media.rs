//! `safeport-admin media hash`: the hashes a node records for a media item, computed for local
//! files with the node's own code, so an analyst can check a file without a node.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::files::FileError;

/// Largest file hashed (the crawler's own per-item bound is lower).
pub const MAX_MEDIA_FILE: u64 = 1024 * 1024 * 1024;

/// The hashes of one file, as `--json` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileHashes {
    /// The file as given.
    pub file: PathBuf,
    /// MD5, hex.
    pub md5: String,
    /// SHA-1, hex.
    pub sha1: String,
    /// SHA-256, hex.
    pub sha256: String,
    /// PDQ, hex in PDQ's own order; `None` for non-images and undecodable images.
    pub pdq: Option<String>,
    /// PDQ quality, 0..=100.
    pub pdq_quality: Option<u8>,
    /// Size in bytes.
    pub size: u64,
    /// The media type sniffed from the bytes.
    pub mime_type: String,
    /// Why an image has no PDQ.
    pub note: Option<String>,
}

/// Hashes one file of at most [`MAX_MEDIA_FILE`] bytes.
pub fn hash_file(path: &Path) -> Result<FileHashes, FileError> {
    let read_err = |reason| FileError::Read {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let len = file.metadata().map_err(read_err)?.len();
    if len > MAX_MEDIA_FILE {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            len,
            max: MAX_MEDIA_FILE,
        });
    }
    let mut bytes = Vec::new();
    // `take` keeps the bound even if the file grows while it is read.
    file.take(MAX_MEDIA_FILE)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let hashes = safeport_node::media::hash_media(&bytes);
    Ok(FileHashes {
        file: path.to_owned(),
        md5: hex::encode(hashes.md5),
        sha1: hex::encode(hashes.sha1),
        sha256: hex::encode(hashes.sha256),
        pdq: hashes.pdq.map(|p| hex::encode(p.bits())),
        pdq_quality: hashes.pdq.map(|p| p.quality()),
        size: hashes.size,
        mime_type: hashes.mime_type,
        note: hashes.pdq_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_a_file_and_refuses_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.bin");
        std::fs::write(&path, b"abc").unwrap();
        let hashes = hash_file(&path).unwrap();
        assert_eq!(hashes.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(hashes.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hashes.pdq, None);
        assert!(matches!(
            hash_file(&dir.path().join("missing")),
            Err(FileError::Read { .. })
        ));
    }
}
