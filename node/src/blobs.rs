//! The blob store: media bytes, content-addressed by SHA-256 and encrypted at rest.
//!
//! Each blob is one file `blobs/ab/abcdef…` holding `MAGIC ‖ nonce[24] ‖ XChaCha20-Poly1305
//! ciphertext`, with the SHA-256 as associated data, so a file swapped for another blob's file
//! fails to decrypt. The key is wrapped by the node key (`blob_key.rs`); a stolen disk without
//! the node key reveals nothing of the media. Writes go to a temporary file that is synced and then
//! renamed, so a crash leaves either the whole blob or none.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// File format tag, versioned.
const MAGIC: &[u8; 4] = b"SPB1";
const NONCE_LEN: usize = 24;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The file system failed.
    #[error("blob store I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A blob larger than the store accepts.
    #[error("blob of {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A stored file does not decrypt to the blob its name promises (tampered or corrupted).
    #[error("blob {0} is corrupt or was tampered with")]
    Corrupt(String),
    /// No randomness for a nonce.
    #[error("no randomness available: {0}")]
    Random(#[from] getrandom::Error),
}

/// Encrypted, content-addressed media storage under one directory.
#[derive(Clone)]
pub struct BlobStore {
    dir: PathBuf,
    cipher: XChaCha20Poly1305,
    max_blob_bytes: u64,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("dir", &self.dir)
            .field("max_blob_bytes", &self.max_blob_bytes)
            .finish_non_exhaustive()
    }
}

impl BlobStore {
    /// Opens (creating) the store in `dir`, with the blob key derived from the node key's
    /// seed as stores before wrapping had it (tests, and stores that never rotated).
    pub fn open(
        dir: &Path,
        node_key_seed: &[u8; 32],
        max_blob_bytes: u64,
    ) -> Result<Self, BlobError> {
        Self::open_with_key(
            dir,
            &crate::blob_key::BlobKey::derive_legacy(node_key_seed),
            max_blob_bytes,
        )
    }

    /// Opens (creating) the store in `dir` with its blob key (see `blob_key.rs`).
    pub fn open_with_key(
        dir: &Path,
        key: &crate::blob_key::BlobKey,
        max_blob_bytes: u64,
    ) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir).map_err(|source| BlobError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            cipher: XChaCha20Poly1305::new(&key.0.into()),
            max_blob_bytes,
        })
    }

    fn path_of(&self, sha256: &[u8; 32]) -> PathBuf {
        let name = hex::encode(sha256);
        self.dir.join(&name[..2]).join(name)
    }

    /// The largest blob accepted.
    pub fn max_blob_bytes(&self) -> u64 {
        self.max_blob_bytes
    }

    /// Whether the blob is stored.
    pub fn contains(&self, sha256: &[u8; 32]) -> bool {
        self.path_of(sha256).is_file()
    }

    /// Stores `bytes` under their SHA-256 and returns it. Storing a blob twice is a no-op.
    pub fn put(&self, bytes: &[u8]) -> Result<[u8; 32], BlobError> {
        let size = bytes.len() as u64;
        if size > self.max_blob_bytes {
            return Err(BlobError::TooLarge {
                size,
                max: self.max_blob_bytes,
            });
        }
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        let path = self.path_of(&sha256);
        if path.is_file() {
            return Ok(sha256);
        }
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)?;
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: bytes,
                    aad: &sha256,
                },
            )
            .map_err(|_| BlobError::Corrupt(hex::encode(sha256)))?;
        let parent = path.parent().unwrap_or(&self.dir).to_owned();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| BlobError::Io { path, source }
        };
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let mut temp = tempfile::NamedTempFile::new_in(&parent).map_err(io(&parent))?;
        temp.write_all(MAGIC).map_err(io(&path))?;
        temp.write_all(&nonce).map_err(io(&path))?;
        temp.write_all(&ciphertext).map_err(io(&path))?;
        temp.as_file().sync_all().map_err(io(&path))?;
        temp.persist(&path).map_err(|e| BlobError::Io {
            path: path.clone(),
            source: e.error,
        })?;
        std::fs::File::open(&parent)
            .and_then(|dir| dir.sync_all())
            .map_err(io(&parent))?;
        Ok(sha256)
    }

    /// Reads and decrypts a blob; `None` when it is not stored. The content is checked
    /// against its address.
    pub fn get(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path_of(sha256);
        let stored = match std::fs::read(&path) {
            Ok(stored) => stored,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(BlobError::Io { path, source }),
        };
        let corrupt = || BlobError::Corrupt(hex::encode(sha256));
        let body = stored.strip_prefix(MAGIC.as_slice()).ok_or_else(corrupt)?;
        if body.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: sha256,
                },
            )
            .map_err(|_| corrupt())?;
        if Sha256::digest(&plain).as_slice() != sha256 {
            return Err(corrupt());
        }
        Ok(Some(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_encrypted_at_rest_and_tamper_evident() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), &[7; 32], 1024).unwrap();
        let content = b"synthetic media bytes, not an image".repeat(10);
        let id = store.put(&content).unwrap();
        assert_eq!(id, <[u8; 32]>::from(Sha256::digest(&content)));
        assert_eq!(store.put(&content).unwrap(), id);
        assert_eq!(store.get(&id).unwrap().unwrap(), content);
        assert!(store.contains(&id));
        assert_eq!(store.get(&[0; 32]).unwrap(), None);

        // On disk there is no plaintext.
        let on_disk = std::fs::read(store.path_of(&id)).unwrap();
        assert!(
            !on_disk
                .windows(16)
                .any(|w| content.windows(16).any(|c| c == w))
        );

        // Another node key cannot read it.
        let other = BlobStore::open(dir.path(), &[8; 32], 1024).unwrap();
        assert!(matches!(other.get(&id), Err(BlobError::Corrupt(_))));

        // A flipped byte is detected.
        let mut tampered = on_disk.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        std::fs::write(store.path_of(&id), &tampered).unwrap();
        assert!(matches!(store.get(&id), Err(BlobError::Corrupt(_))));

        // A blob moved under another blob's name is detected too.
        let second = store.put(b"second blob").unwrap();
        std::fs::copy(store.path_of(&second), store.path_of(&id)).unwrap();
        assert!(matches!(store.get(&id), Err(BlobError::Corrupt(_))));

        assert!(matches!(
            store.put(&[0; 2000]),
            Err(BlobError::TooLarge {
                size: 2000,
                max: 1024
            })
        ));
    }
}
