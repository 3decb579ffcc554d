//! The blob store's key, wrapped by the node key (envelope encryption), so a node key rotation
//! does not strand the media encrypted before it.
//!
//! Media is encrypted under one 256-bit blob key for the life of the data. Nodes before
//! wrapping derived it from the node key (HKDF, `safeport/blob-key/v1`); that derivation stays
//! the blob key of every existing store. The store's metadata keeps the blob key wrapped
//! (XChaCha20-Poly1305 under a key derived from a node key) for each node key that may open
//! it, named by that key's public key. A node opens the entry of its own key at start, and once
//! it has, drops the entries of other keys (a retired key loses access). A rotation
//! (`safeport-admin node install-key`, node stopped) adds the entry of the next key before the
//! key file is replaced, so the media key opens with whichever key the node starts with.
//! The wrapped key lives in the database, so backups carry it; a backup opens with the node
//! key of its time (`node rewrap-media-key` lets a later key open it too).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use safeport_protocol::pki;
use safeport_protocol::{AgencyId, NodeKey};
use sha2::Sha256;

use crate::store::{Store, StoreError};

/// The store metadata key of the wrapped blob keys.
pub const META_BLOB_KEYS: &str = "blob_keys";
/// HKDF info of the blob key as nodes derived it before wrapping.
const LEGACY_KEY_INFO: &[u8] = b"safeport/blob-key/v1";
/// HKDF info of the key that wraps the blob key for one node key.
const WRAP_KEY_INFO: &[u8] = b"safeport/blob-key-wrap/v1";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// The blob key encrypted: 32 bytes and a 16-byte tag.
const WRAPPED_LEN: usize = 48;
const ENTRY_LEN: usize = 32 + NONCE_LEN + WRAPPED_LEN;
/// Most wrappings kept (the current key and the next one during a rotation).
const MAX_ENTRIES: usize = 4;

/// Why the blob key could not be opened or wrapped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobKeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored value is not a list of wrapped keys.
    #[error("the stored blob key is corrupt")]
    Corrupt,
    /// No wrapping for this node key.
    #[error(
        "the media key is not wrapped for this node key: a key rotation must go through \
         `safeport-admin node install-key` (a backup opens with the node key of its time)"
    )]
    NotForThisKey,
    /// The wrapping of this node key does not open.
    #[error("the media key wrapped for this node key does not open (tampered or corrupt)")]
    DoesNotOpen,
    /// No randomness for a nonce.
    #[error("no randomness available: {0}")]
    Random(#[from] getrandom::Error),
}

/// The key media is encrypted under.
#[derive(Clone)]
pub struct BlobKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobKey(..)")
    }
}

impl BlobKey {
    /// The blob key a store got before wrapping: derived from the node key's seed.
    pub fn derive_legacy(node_key_seed: &[u8; 32]) -> Self {
        Self(hkdf_expand(node_key_seed, LEGACY_KEY_INFO))
    }
}

fn hkdf_expand(seed: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit: expansion cannot fail.
    let _ = hkdf::Hkdf::<Sha256>::new(None, seed).expand(info, &mut out);
    out
}

struct Entry {
    public_key: [u8; 32],
    nonce: [u8; NONCE_LEN],
    wrapped: [u8; WRAPPED_LEN],
}

fn wrapping_cipher(node_key: &NodeKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&hkdf_expand(&node_key.seed(), WRAP_KEY_INFO).into())
}

fn wrap(key: &BlobKey, node_key: &NodeKey) -> Result<Entry, BlobKeyError> {
    let public_key = node_key.public().0;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce)?;
    let sealed = wrapping_cipher(node_key)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &key.0,
                aad: &public_key,
            },
        )
        .map_err(|_| BlobKeyError::Corrupt)?;
    let wrapped = sealed.try_into().map_err(|_| BlobKeyError::Corrupt)?;
    Ok(Entry {
        public_key,
        nonce,
        wrapped,
    })
}

fn unwrap(entry: &Entry, node_key: &NodeKey) -> Result<BlobKey, BlobKeyError> {
    let plain = wrapping_cipher(node_key)
        .decrypt(
            XNonce::from_slice(&entry.nonce),
            Payload {
                msg: &entry.wrapped,
                aad: &entry.public_key,
            },
        )
        .map_err(|_| BlobKeyError::DoesNotOpen)?;
    Ok(BlobKey(
        plain.try_into().map_err(|_| BlobKeyError::DoesNotOpen)?,
    ))
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = vec![VERSION];
    for entry in entries {
        out.extend_from_slice(&entry.public_key);
        out.extend_from_slice(&entry.nonce);
        out.extend_from_slice(&entry.wrapped);
    }
    out
}

fn decode(bytes: &[u8]) -> Result<Vec<Entry>, BlobKeyError> {
    let body = match bytes.split_first() {
        Some((&VERSION, body)) => body,
        _ => return Err(BlobKeyError::Corrupt),
    };
    if body.is_empty() || body.len() % ENTRY_LEN != 0 || body.len() / ENTRY_LEN > MAX_ENTRIES {
        return Err(BlobKeyError::Corrupt);
    }
    body.chunks_exact(ENTRY_LEN)
        .map(|chunk| {
            let (public_key, rest) = chunk.split_at(32);
            let (nonce, wrapped) = rest.split_at(NONCE_LEN);
            Ok(Entry {
                public_key: public_key.try_into().map_err(|_| BlobKeyError::Corrupt)?,
                nonce: nonce.try_into().map_err(|_| BlobKeyError::Corrupt)?,
                wrapped: wrapped.try_into().map_err(|_| BlobKeyError::Corrupt)?,
            })
        })
        .collect()
}

/// The blob key as `node_key` opens it, with the entries held.
fn open_entries(
    store: &Store,
    agency: &AgencyId,
    node_key: &NodeKey,
) -> Result<(BlobKey, Vec<Entry>), BlobKeyError> {
    let Some(bytes) = store.get_meta(META_BLOB_KEYS)? else {
        // A store from before wrapping: its blob key was derived from the one key its node
        // had. If the node's own certificates held here all certify another key (a backup
        // from before wrapping, restored after a key change), deriving from this key would
        // give a key that opens no media: refused.
        let own = store.agency_certificates(agency)?;
        let key = node_key.public();
        let certified = |pem: &String| pki::certificate_facts(pem).is_ok_and(|f| f.key == key);
        if !own.is_empty() && !own.iter().any(certified) {
            return Err(BlobKeyError::NotForThisKey);
        }
        return Ok((BlobKey::derive_legacy(&node_key.seed()), Vec::new()));
    };
    let entries = decode(&bytes)?;
    let own = node_key.public().0;
    let entry = entries
        .iter()
        .find(|entry| entry.public_key == own)
        .ok_or(BlobKeyError::NotForThisKey)?;
    Ok((unwrap(entry, node_key)?, entries))
}

/// Opens the blob key with the node's key at start: wraps it for the first time on a store
/// from before wrapping, and drops the wrappings of other (retired) keys.
pub fn open(store: &Store, agency: &AgencyId, node_key: &NodeKey) -> Result<BlobKey, BlobKeyError> {
    let (key, entries) = open_entries(store, agency, node_key)?;
    let own = node_key.public().0;
    if entries.len() != 1 || entries[0].public_key != own {
        store.put_meta(META_BLOB_KEYS, &encode(&[wrap(&key, node_key)?]))?;
    }
    Ok(key)
}

/// Wraps the blob key for `next` as well, opened with `current` (a rotation, node stopped).
pub fn add_next_key(
    store: &Store,
    agency: &AgencyId,
    current: &NodeKey,
    next: &NodeKey,
) -> Result<(), BlobKeyError> {
    let (key, _) = open_entries(store, agency, current)?;
    let entries = [wrap(&key, current)?, wrap(&key, next)?];
    store.put_meta(META_BLOB_KEYS, &encode(&entries))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::BlobStore;

    fn agency() -> AgencyId {
        AgencyId::new("nl-hotline").unwrap()
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        (dir, store)
    }

    #[test]
    fn media_stays_readable_across_a_key_rotation() {
        let (dir, store) = store();
        let first = NodeKey::from_seed([1; 32]);
        let next = NodeKey::from_seed([2; 32]);
        // A blob written before wrapping existed, under the derived key.
        let blobs = BlobStore::open(&dir.path().join("blobs"), &first.seed(), 1024).unwrap();
        let sha256 = blobs.put(b"synthetic media").unwrap();

        let key = open(&store, &agency(), &first).unwrap();
        let reopened = BlobStore::open_with_key(&dir.path().join("blobs"), &key, 1024).unwrap();
        assert_eq!(reopened.get(&sha256).unwrap().unwrap(), b"synthetic media");

        add_next_key(&store, &agency(), &first, &next).unwrap();
        // Until the node starts with the next key, either key opens it.
        assert_eq!(open_entries(&store, &agency(), &first).unwrap().0.0, key.0);
        let key = open(&store, &agency(), &next).unwrap();
        let rotated = BlobStore::open_with_key(&dir.path().join("blobs"), &key, 1024).unwrap();
        assert_eq!(rotated.get(&sha256).unwrap().unwrap(), b"synthetic media");
        // Once it has, the retired key no longer does, and neither does a stranger's.
        assert!(matches!(
            open(&store, &agency(), &first),
            Err(BlobKeyError::NotForThisKey)
        ));
        assert!(matches!(
            open(&store, &agency(), &NodeKey::from_seed([3; 32])),
            Err(BlobKeyError::NotForThisKey)
        ));
    }

    #[test]
    fn tampered_or_corrupt_wrappings_are_refused() {
        let (_dir, store) = store();
        let key = NodeKey::from_seed([1; 32]);
        open(&store, &agency(), &key).unwrap();
        let mut bytes = store.get_meta(META_BLOB_KEYS).unwrap().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        store.put_meta(META_BLOB_KEYS, &bytes).unwrap();
        assert!(matches!(
            open(&store, &agency(), &key),
            Err(BlobKeyError::DoesNotOpen)
        ));
        store.put_meta(META_BLOB_KEYS, &bytes[..40]).unwrap();
        assert!(matches!(
            open(&store, &agency(), &key),
            Err(BlobKeyError::Corrupt)
        ));
        store.put_meta(META_BLOB_KEYS, &[]).unwrap();
        assert!(matches!(
            open(&store, &agency(), &key),
            Err(BlobKeyError::Corrupt)
        ));
    }

    #[test]
    fn an_unwrapped_store_of_another_key_is_refused_not_misread() {
        let (_dir, store) = store();
        let earlier = NodeKey::from_seed([1; 32]);
        // The node's certificate of its earlier key, as a store from before wrapping holds it.
        let pem =
            crate::store::certificates::tests::certificate(&agency(), &earlier, 1_700_000_000);
        let mut batch = store.batch();
        batch.put_certificate(&agency(), &pem).unwrap();
        batch.commit().unwrap();
        assert!(matches!(
            open(&store, &agency(), &NodeKey::from_seed([2; 32])),
            Err(BlobKeyError::NotForThisKey)
        ));
        assert!(store.get_meta(META_BLOB_KEYS).unwrap().is_none());
        // The key that store had derives its media key as before, and wraps it.
        let key = open(&store, &agency(), &earlier).unwrap();
        assert_eq!(key.0, BlobKey::derive_legacy(&earlier.seed()).0);
        assert!(store.get_meta(META_BLOB_KEYS).unwrap().is_some());
    }
}
