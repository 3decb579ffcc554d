//! Media hash algorithms and validated hash values (MD5, SHA-1, SHA-256 and Meta's PDQ).
//!
//! A [`HashValue`] always has the right length for its algorithm, so no code downstream has to
//! check lengths again. Text form is `algorithm:lowerhex`, e.g. `sha256:9f86…`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a hash value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// Unknown algorithm name.
    #[error("unknown hash algorithm {0:?}: expected md5, sha1, sha256 or pdq")]
    Algorithm(String),
    /// Wrong number of hex digits, or not hex.
    #[error("invalid {algorithm} value: expected {expected} hex digits")]
    Value {
        /// The algorithm whose value was malformed.
        algorithm: HashAlgorithm,
        /// The number of hex digits that algorithm needs.
        expected: usize,
    },
    /// PDQ quality is a percentage.
    #[error("PDQ quality {0} is out of range 0..=100")]
    Quality(u8),
}

/// A hash algorithm Safeport computes and matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HashAlgorithm {
    /// MD5 (128 bits); still what many legacy lists use.
    Md5,
    /// SHA-1 (160 bits).
    Sha1,
    /// SHA-256 (256 bits); also the blob address of media bytes.
    Sha256,
    /// Meta's PDQ perceptual hash (256 bits), matched by Hamming distance.
    Pdq,
}

impl HashAlgorithm {
    /// All algorithms, in a fixed order.
    pub const ALL: [HashAlgorithm; 4] = [
        HashAlgorithm::Md5,
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Pdq,
    ];

    /// The lower-case name (also HMA's signal type name for `md5` and `pdq`).
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Pdq => "pdq",
        }
    }

    /// Length of a value in bytes.
    pub fn byte_len(self) -> usize {
        match self {
            HashAlgorithm::Md5 => 16,
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 | HashAlgorithm::Pdq => 32,
        }
    }
}

impl FromStr for HashAlgorithm {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, HashError> {
        let lower = s.to_ascii_lowercase();
        let name = match lower.as_str() {
            "sha-1" => "sha1",
            "sha-256" => "sha256",
            other => other,
        };
        HashAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| HashError::Algorithm(s.chars().take(40).collect()))
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hash value of a known algorithm, always of the right length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HashValue {
    /// MD5 digest.
    Md5([u8; 16]),
    /// SHA-1 digest.
    Sha1([u8; 20]),
    /// SHA-256 digest.
    Sha256([u8; 32]),
    /// PDQ hash bits in PDQ's own hex order.
    Pdq([u8; 32]),
}

impl HashValue {
    /// Parses hex digits (either case) for the given algorithm.
    pub fn from_hex(algorithm: HashAlgorithm, hex_digits: &str) -> Result<Self, HashError> {
        let bad = || HashError::Value {
            algorithm,
            expected: algorithm.byte_len() * 2,
        };
        let bytes = hex::decode(hex_digits).map_err(|_| bad())?;
        Self::from_bytes(algorithm, &bytes).ok_or_else(bad)
    }

    /// Wraps raw bytes; `None` when the length does not fit the algorithm.
    pub fn from_bytes(algorithm: HashAlgorithm, bytes: &[u8]) -> Option<Self> {
        Some(match algorithm {
            HashAlgorithm::Md5 => HashValue::Md5(bytes.try_into().ok()?),
            HashAlgorithm::Sha1 => HashValue::Sha1(bytes.try_into().ok()?),
            HashAlgorithm::Sha256 => HashValue::Sha256(bytes.try_into().ok()?),
            HashAlgorithm::Pdq => HashValue::Pdq(bytes.try_into().ok()?),
        })
    }

    /// The algorithm of this value.
    pub fn algorithm(&self) -> HashAlgorithm {
        match self {
            HashValue::Md5(_) => HashAlgorithm::Md5,
            HashValue::Sha1(_) => HashAlgorithm::Sha1,
            HashValue::Sha256(_) => HashAlgorithm::Sha256,
            HashValue::Pdq(_) => HashAlgorithm::Pdq,
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            HashValue::Md5(b) => b,
            HashValue::Sha1(b) => b,
            HashValue::Sha256(b) | HashValue::Pdq(b) => b,
        }
    }

    /// Lower-case hex digits of the value.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }
}

impl fmt::Display for HashValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm(), self.to_hex())
    }
}

impl FromStr for HashValue {
    type Err = HashError;
    /// Parses `algorithm:hex`.
    fn from_str(s: &str) -> Result<Self, HashError> {
        let (algorithm, digits) = s
            .split_once(':')
            .ok_or_else(|| HashError::Algorithm(s.chars().take(40).collect()))?;
        HashValue::from_hex(algorithm.parse()?, digits)
    }
}

/// A PDQ hash with its quality score (0..=100); low-quality hashes match unreliably.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "PdqWire", into = "PdqWire")]
pub struct PdqHash {
    bits: [u8; 32],
    quality: u8,
}

#[derive(Serialize, Deserialize)]
struct PdqWire {
    bits: [u8; 32],
    quality: u8,
}

impl PdqHash {
    /// A PDQ hash; quality above 100 is refused.
    pub fn new(bits: [u8; 32], quality: u8) -> Result<Self, HashError> {
        if quality > 100 {
            return Err(HashError::Quality(quality));
        }
        Ok(Self { bits, quality })
    }

    /// The 256 hash bits.
    pub fn bits(&self) -> &[u8; 32] {
        &self.bits
    }

    /// The quality score, 0..=100.
    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// Hamming distance to another PDQ hash (0..=256).
    pub fn distance(&self, other: &[u8; 32]) -> u32 {
        self.bits
            .iter()
            .zip(other)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }
}

impl TryFrom<PdqWire> for PdqHash {
    type Error = HashError;
    fn try_from(wire: PdqWire) -> Result<Self, HashError> {
        PdqHash::new(wire.bits, wire.quality)
    }
}

impl From<PdqHash> for PdqWire {
    fn from(hash: PdqHash) -> Self {
        PdqWire {
            bits: hash.bits,
            quality: hash.quality,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_the_right_length() {
        let md5 = HashValue::from_hex(HashAlgorithm::Md5, "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5.map(|v| v.algorithm()), Ok(HashAlgorithm::Md5));
        assert!(HashValue::from_hex(HashAlgorithm::Md5, "d41d").is_err());
        assert!(HashValue::from_hex(HashAlgorithm::Sha1, "zz").is_err());
        assert!(HashValue::from_bytes(HashAlgorithm::Sha256, &[0; 31]).is_none());
    }

    #[test]
    fn text_form_round_trips() {
        let v = HashValue::Sha1([0xab; 20]);
        assert_eq!(v.to_string().parse::<HashValue>(), Ok(v));
        assert_eq!(
            "SHA-256".parse::<HashAlgorithm>(),
            Ok(HashAlgorithm::Sha256)
        );
        assert!("crc32:00".parse::<HashValue>().is_err());
    }

    #[test]
    fn pdq_quality_and_distance() {
        assert!(PdqHash::new([0; 32], 101).is_err());
        let h = PdqHash::new([0; 32], 100).map(|h| h.distance(&[0xff; 32]));
        assert_eq!(h, Ok(256));
    }
}
