//! Ed25519 keys of nodes and of the federation authority: generation from caller-supplied
//! randomness, PKCS#8 / SubjectPublicKeyInfo PEM files that openssl reads, and signatures that
//! are always checked with `verify_strict` (no malleable or small-order-key signatures).

use std::fmt;

use curve25519_dalek::scalar::Scalar;
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
    ///
    /// A key with a torsion component is refused: no key pair made as Ed25519 prescribes has
    /// one, and the batch equation sums each signer's coefficients, which is exact only for
    /// torsion-free keys.
    pub fn prepare(&self) -> Result<PreparedKey, KeyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::PublicKey)?;
        if !key.to_edwards().is_torsion_free() {
            return Err(KeyError::PublicKey);
        }
        Ok(PreparedKey(key))
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

/// One signature of a batch for [`verify_batch_strict`].
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// The signer's prepared key.
    pub key: &'a PreparedKey,
    /// The signed message.
    pub message: &'a [u8],
    /// The signature to check.
    pub signature: &'a Signature,
}

/// Verifies many signatures at once, several times faster per signature than one by one
/// (each signer's key enters the equation once, see `batch_equation`).
///
/// Every signature must first pass the checks that make `verify_strict` strict: the key is not
/// of small order, `s` is canonical, and `R` is a canonical encoding of a point that is not of
/// small order. The batch equation then holds for every set that `verify_strict` accepts. The
/// one difference left: a signer could craft `R` with a torsion component that passes the
/// batch with some probability; that needs the signing key, so it forges nothing, and the
/// result is only another valid encoding of the signer's own statement. `Err` means at least
/// one signature is bad; verify them one by one to find which.
pub fn verify_batch_strict(items: &[BatchItem<'_>]) -> Result<(), KeyError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut terms = Vec::with_capacity(items.len());
    for item in items {
        if item.key.0.is_weak() || !strict_r(&item.signature.0) {
            return Err(KeyError::BadSignature);
        }
        let signature = ed25519_dalek::Signature::from_bytes(&item.signature.0);
        // A non-canonical `s` (s + l) is refused, as `verify_strict` refuses it.
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes()))
        else {
            return Err(KeyError::BadSignature);
        };
        terms.push(crate::batch_equation::Term {
            key: &item.key.0,
            message: item.message,
            r: *signature.r_bytes(),
            s,
        });
    }
    if crate::batch_equation::holds(&terms) {
        Ok(())
    } else {
        Err(KeyError::BadSignature)
    }
}

/// Whether a signature's `R` could pass `verify_strict`: its y coordinate is canonical (below
/// p) and it is not one of the eight small-order points (whichever sign bit). Byte checks only:
/// whether `R` is on the curve at all is left to the batch equation, which fails otherwise.
fn strict_r(signature: &[u8; 64]) -> bool {
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    canonical_y(&r) && !small_order_encoding(&r)
}

/// Whether the low 255 bits of `encoding` are below p = 2^255 - 19.
fn canonical_y(encoding: &[u8; 32]) -> bool {
    let top = encoding[31] & 0x7f;
    !(top == 0x7f && encoding[1..31].iter().all(|&b| b == 0xff) && encoding[0] >= 0xed)
}

/// Whether `encoding` (sign bit ignored) is the y of a point of small order. Points sharing a
/// y are P and -P, which have the same order, so ignoring the sign bit is exact.
fn small_order_encoding(encoding: &[u8; 32]) -> bool {
    static SMALL_ORDER: std::sync::LazyLock<[[u8; 32]; 8]> = std::sync::LazyLock::new(|| {
        curve25519_dalek::constants::EIGHT_TORSION.map(|point| {
            let mut y = point.compress().to_bytes();
            y[31] &= 0x7f;
            y
        })
    });
    let mut y = *encoding;
    y[31] &= 0x7f;
    SMALL_ORDER.contains(&y)
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

    fn batch<'a>(
        keys: &'a [PreparedKey],
        messages: &'a [Vec<u8>],
        signatures: &'a [Signature],
    ) -> Vec<BatchItem<'a>> {
        (0..messages.len())
            .map(|i| BatchItem {
                key: &keys[i % keys.len()],
                message: &messages[i],
                signature: &signatures[i],
            })
            .collect()
    }

    /// The signature a signer with seed `seed` makes on `message` when it uses `r_point` as
    /// its commitment but the honest `s = k·a` for it: valid under the cofactored equation only.
    fn small_order_r_signature(seed: [u8; 32], message: &[u8], r_point: [u8; 32]) -> Signature {
        use curve25519_dalek::scalar::{Scalar, clamp_integer};
        use sha2::{Digest, Sha512};
        let expanded = Sha512::digest(seed);
        let mut low = [0u8; 32];
        low.copy_from_slice(&expanded[..32]);
        let secret = Scalar::from_bytes_mod_order(clamp_integer(low));
        let public = NodeKey::from_seed(seed).public();
        let mut hasher = Sha512::new();
        hasher.update(r_point);
        hasher.update(public.0);
        hasher.update(message);
        let mut wide = [0u8; 64];
        wide.copy_from_slice(&hasher.finalize());
        let s = Scalar::from_bytes_mod_order_wide(&wide) * secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r_point);
        signature[32..].copy_from_slice(s.as_bytes());
        Signature(signature)
    }

    #[test]
    fn batch_accepts_exactly_when_every_signature_verifies() {
        let signers = [NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32])];
        let keys: Vec<PreparedKey> = signers
            .iter()
            .map(|k| k.public().prepare().unwrap())
            .collect();
        let messages: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let mut signatures: Vec<Signature> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| signers[i % 2].sign(m))
            .collect();
        assert_eq!(
            verify_batch_strict(&batch(&keys, &messages, &signatures)),
            Ok(())
        );
        assert_eq!(verify_batch_strict(&[]), Ok(()));

        // One signature by the wrong signer spoils the batch.
        signatures[7] = signers[0].sign(&messages[7]);
        assert_eq!(
            verify_batch_strict(&batch(&keys, &messages, &signatures)),
            Err(KeyError::BadSignature)
        );
        // So does a non-canonical s (s + l), which verify_strict refuses too.
        signatures[7] = signers[1].sign(&messages[7]);
        let mut malleated = signatures[3];
        // The group order l, little-endian.
        let mut l = [0u8; 32];
        l[..16].copy_from_slice(&[
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14,
        ]);
        l[31] = 0x10;
        let mut carry = 0u16;
        for (byte, add) in malleated.0[32..].iter_mut().zip(l) {
            let sum = u16::from(*byte) + u16::from(add) + carry;
            *byte = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        assert!(keys[1].verify(&messages[3], &malleated).is_err());
        signatures[3] = malleated;
        assert_eq!(
            verify_batch_strict(&batch(&keys, &messages, &signatures)),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn batch_refuses_small_order_commitments_that_plain_batching_lets_through() {
        // (0, -1): the point of order 2.
        let mut order_two = [0u8; 32];
        order_two[0] = 0xec;
        order_two[1..31].fill(0xff);
        order_two[31] = 0x7f;
        let key = NodeKey::from_seed([5; 32]).public().prepare().unwrap();
        let mut plain_accepted = 0;
        for i in 0..16u8 {
            let message = [i; 8];
            let forged = small_order_r_signature([5; 32], &message, order_two);
            assert!(key.verify(&message, &forged).is_err());
            let item = BatchItem {
                key: &key,
                message: &message,
                signature: &forged,
            };
            assert_eq!(verify_batch_strict(&[item]), Err(KeyError::BadSignature));
            let plain = ed25519_dalek::verify_batch(
                &[&message[..]],
                &[ed25519_dalek::Signature::from_bytes(&forged.0)],
                &[key.0],
            );
            plain_accepted += usize::from(plain.is_ok());
        }
        // Without the strict pre-checks about half of these would pass.
        assert!(plain_accepted > 0, "the pre-checks guard nothing here");
    }

    #[test]
    fn keys_with_a_torsion_component_are_refused() {
        let honest = NodeKey::from_seed([6; 32]).public();
        assert!(honest.prepare().is_ok());
        let point = curve25519_dalek::edwards::CompressedEdwardsY(honest.0)
            .decompress()
            .unwrap();
        for torsion in &curve25519_dalek::constants::EIGHT_TORSION[1..] {
            let mixed = PublicKey((point + torsion).compress().to_bytes());
            assert_eq!(mixed.prepare(), Err(KeyError::PublicKey));
            assert_eq!(
                mixed.verify(b"message", &NodeKey::from_seed([6; 32]).sign(b"message")),
                Err(KeyError::PublicKey)
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Random batches by up to three signers, each signature possibly spoiled (another
        /// message, another signer, a flipped bit of R or s): the batch passes exactly when
        /// every signature passes `verify_strict` on its own.
        #[test]
        fn the_batch_agrees_with_verifying_one_by_one(
            spoils in proptest::collection::vec((0u8..3, 0u8..12, 0usize..64), 1..40),
        ) {
            let signers: Vec<NodeKey> = (1..=3u8).map(|n| NodeKey::from_seed([n; 32])).collect();
            let keys: Vec<PreparedKey> =
                signers.iter().map(|k| k.public().prepare().unwrap()).collect();
            let messages: Vec<Vec<u8>> =
                (0..spoils.len()).map(|i| format!("record {i}").into_bytes()).collect();
            let signatures: Vec<Signature> = spoils
                .iter()
                .zip(&messages)
                .map(|(&(signer, spoil, bit), message)| {
                    let signer = usize::from(signer);
                    match spoil {
                        0 => signers[signer].sign(b"another message"),
                        1 => signers[(signer + 1) % 3].sign(message),
                        2 => {
                            let mut signature = signers[signer].sign(message);
                            signature.0[bit] ^= 1 << (bit % 8);
                            signature
                        }
                        _ => signers[signer].sign(message),
                    }
                })
                .collect();
            let items: Vec<BatchItem<'_>> = spoils
                .iter()
                .zip(&messages)
                .zip(&signatures)
                .map(|((&(signer, ..), message), signature)| BatchItem {
                    key: &keys[usize::from(signer)],
                    message,
                    signature,
                })
                .collect();
            let one_by_one = items
                .iter()
                .all(|item| item.key.verify(item.message, item.signature).is_ok());
            proptest::prop_assert_eq!(verify_batch_strict(&items).is_ok(), one_by_one);
        }
    }

    /// The definition the byte checks replace: decompress, not small order, re-encodes equal.
    fn strict_r_by_decompression(r: [u8; 32]) -> Option<bool> {
        let compressed = curve25519_dalek::edwards::CompressedEdwardsY(r);
        let point = compressed.decompress()?;
        Some(!point.is_small_order() && point.compress() == compressed)
    }

    #[test]
    fn byte_checks_of_r_match_decompression_on_edge_encodings() {
        let mut cases: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|p| p.compress().to_bytes())
            .collect();
        for case in cases.clone() {
            let mut flipped = case;
            flipped[31] ^= 0x80;
            cases.push(flipped);
        }
        // Non-canonical encodings y + p of small y, and p - 1 .. p + 18 in general.
        for low in 0xecu8..=0xff {
            let mut y = [0xff; 32];
            y[0] = low;
            y[31] = 0x7f;
            cases.push(y);
            y[31] = 0xff;
            cases.push(y);
        }
        for n in 0..=18u8 {
            let mut y = [0u8; 32];
            y[0] = n;
            cases.push(y);
        }
        cases.push(
            NodeKey::from_seed([1; 32]).sign(b"x").0[..32]
                .try_into()
                .unwrap(),
        );
        for r in cases {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&r);
            if let Some(expected) = strict_r_by_decompression(r) {
                assert_eq!(strict_r(&signature), expected, "{}", hex::encode(r));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn byte_checks_of_r_match_decompression(r in proptest::prelude::any::<[u8; 32]>()) {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&r);
            if let Some(expected) = strict_r_by_decompression(r) {
                proptest::prop_assert_eq!(strict_r(&signature), expected);
            }
        }

        #[test]
        fn batch_agrees_with_verify_strict(
            corrupt in proptest::collection::vec(proptest::prelude::any::<bool>(), 1..24),
        ) {
            let signer = NodeKey::from_seed([3; 32]);
            let keys = [signer.public().prepare().unwrap()];
            let messages: Vec<Vec<u8>> =
                (0..corrupt.len()).map(|i| vec![i as u8; 5]).collect();
            let signatures: Vec<Signature> = messages
                .iter()
                .zip(&corrupt)
                .map(|(m, &bad)| {
                    let mut s = signer.sign(m);
                    if bad {
                        s.0[40] ^= 1;
                    }
                    s
                })
                .collect();
            let one_by_one = messages
                .iter()
                .zip(&signatures)
                .all(|(m, s)| keys[0].verify(m, s).is_ok());
            proptest::prop_assert_eq!(
                verify_batch_strict(&batch(&keys, &messages, &signatures)).is_ok(),
                one_by_one
            );
        }
    }
}
