//! Ed25519 keys of nodes and of the federation authority: generation from caller-supplied
//! randomness, PKCS#8 / SubjectPublicKeyInfo PEM files that openssl reads, and signatures that
//! are always checked with `verify_strict` (no malleable or small-order-key signatures).

use std::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::encoding::byte_array;

/// Why a key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The private key file is not an Ed25519 PKCS#8 PEM.
    #[error("not an Ed25519 private key in PKCS#8 PEM form ({0})")]
    PrivateKeyPem(String),
    /// The public key file is not an Ed25519 SubjectPublicKeyInfo PEM.
    #[error("not an Ed25519 public key in PEM form ({0})")]
    PublicKeyPem(String),
    /// 32 bytes that are not a valid Ed25519 point.
    #[error("invalid Ed25519 public key")]
    PublicKey,
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
}

/// A node's (or the authority's) Ed25519 signing key.
///
/// The same key is the node's libp2p identity and the subject key of its agency certificate.
pub struct NodeKey(SigningKey);

impl NodeKey {
    /// A key from 32 bytes of secret seed; callers take these from the OS random source.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(Self)
            .map_err(|e| KeyError::PrivateKeyPem(e.to_string()))
    }

    /// The key as PKCS#8 PEM, readable by `openssl pkey`.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        self.0
            .to_pkcs8_pem(Default::default())
            .map(|pem| pem.to_string())
            .map_err(|e| KeyError::PrivateKeyPem(e.to_string()))
    }

    /// The 32-byte secret seed (for handing the same key to libp2p).
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs a message that the caller has already domain-separated.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secret material.
        write!(f, "NodeKey(public: {})", self.public())
    }
}

/// An Ed25519 public key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        VerifyingKey::from_public_key_pem(pem)
            .map(|key| Self(key.to_bytes()))
            .map_err(|e| KeyError::PublicKeyPem(e.to_string()))
    }

    /// The key as SubjectPublicKeyInfo PEM, readable by `openssl pkey -pubin`.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::PublicKey)?;
        key.to_public_key_pem(Default::default())
            .map_err(|e| KeyError::PublicKeyPem(e.to_string()))
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Verifies a signature strictly (RFC 8032 plus rejection of small-order keys and
    /// non-canonical signature encodings).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        self.prepare()?.verify(message, signature)
    }

    /// Decompresses the key once, for verifying many signatures by the same signer (the
    /// decompression costs about a third of a verification).
    pub fn prepare(&self) -> Result<PreparedKey, KeyError> {
        VerifyingKey::from_bytes(&self.0)
            .map(PreparedKey)
            .map_err(|_| KeyError::PublicKey)
    }
}

/// A public key ready for verification (see [`PublicKey::prepare`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreparedKey(VerifyingKey);

impl PreparedKey {
    /// Verifies a signature strictly, as [`PublicKey::verify`] does.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| KeyError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An Ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "byte_array")] pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_and_strict_verification() {
        let key = NodeKey::from_seed([9; 32]);
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = NodeKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(again.public(), key.public());
        let public = PublicKey::from_pem(&key.public().to_pem().unwrap()).unwrap();
        assert_eq!(public, key.public());

        let signature = key.sign(b"message");
        assert_eq!(public.verify(b"message", &signature), Ok(()));
        assert_eq!(
            public.verify(b"messagf", &signature),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn garbage_pem_is_an_error() {
        assert!(NodeKey::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n").is_err());
        assert!(PublicKey::from_pem("not a pem").is_err());
        assert!(!format!("{:?}", NodeKey::from_seed([1; 32])).contains("0101"));
    }
}
