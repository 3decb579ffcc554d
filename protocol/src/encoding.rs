//! Canonical binary encoding of everything Safeport signs or sends.
//!
//! The wire format is [postcard](https://postcard.jamesmunns.com/wire-format) (a stable,
//! specified, deterministic serde format). Postcard alone would accept some non-canonical inputs
//! (for example varints with redundant continuation bytes), so [`decode`] re-encodes every value
//! it decodes and refuses the input unless the bytes are identical: each value has exactly one
//! accepted encoding, which is what makes signatures over encodings and ids over bytes sound.
//! Types never use floats or hash maps, so encoding is a pure function of the value.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest encoded record accepted (4 MiB): reports carry many media items, but nothing more.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// Input is larger than the limit for its kind.
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    Oversize {
        /// Length of the input.
        len: usize,
        /// The limit that applied.
        max: usize,
    },
    /// The bytes are not a valid encoding of the expected type (includes validation failures
    /// of the decoded values, such as a malformed agency id).
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// A valid value followed by extra bytes.
    #[error("{0} trailing bytes after the encoded value")]
    TrailingBytes(usize),
    /// The value decodes, but these bytes are not its one canonical encoding.
    #[error("non-canonical encoding")]
    NonCanonical,
}

/// Encodes a value canonically.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodingError> {
    // Most values encoded on hot paths (media items, ids, headers) fit this, and starting
    // there saves the vector's doublings from 8 bytes (a tenth of encoding a media item).
    const INITIAL_CAPACITY: usize = 256;
    postcard::to_extend(value, Vec::with_capacity(INITIAL_CAPACITY))
        .map_err(|e| EncodingError::Malformed(e.to_string()))
}

/// Decodes exactly one canonically encoded value of at most `max_len` bytes.
pub fn decode<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    max_len: usize,
) -> Result<T, EncodingError> {
    let value: T = decode_envelope(bytes, max_len)?;
    if encode(&value)? != bytes {
        return Err(EncodingError::NonCanonical);
    }
    Ok(value)
}

/// Decodes exactly one value of at most `max_len` bytes, accepting any postcard encoding of it:
/// only for transport envelopes that nothing signs, hashes or stores (a sync page). What such
/// an envelope carries keeps its own guarantees: records are decoded canonically on their own,
/// and media items are re-encoded before they are hashed or stored. Skipping the re-encoding
/// of a whole page saves the receiver of a sync about 4% of its CPU.
pub fn decode_envelope<T: DeserializeOwned>(
    bytes: &[u8],
    max_len: usize,
) -> Result<T, EncodingError> {
    if bytes.len() > max_len {
        return Err(EncodingError::Oversize {
            len: bytes.len(),
            max: max_len,
        });
    }
    let (value, rest) = postcard::take_from_bytes::<T>(bytes)
        .map_err(|e| EncodingError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(EncodingError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

/// Serde helpers for fixed-size byte arrays: hex text in human-readable formats (JSON), a
/// length-prefixed byte string in binary ones (postcard), for arrays too long for serde's
/// built-in tuple form.
pub(crate) mod byte_array {
    use serde::de::Error as _;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(bytes))
        } else {
            serializer.serialize_bytes(bytes)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        if deserializer.is_human_readable() {
            let text: String = serde::Deserialize::deserialize(deserializer)?;
            let mut out = [0u8; N];
            hex::decode_to_slice(&text, &mut out).map_err(D::Error::custom)?;
            Ok(out)
        } else {
            let bytes: &[u8] = serde::Deserialize::deserialize(deserializer)?;
            bytes
                .try_into()
                .map_err(|_| D::Error::invalid_length(bytes.len(), &"a fixed-size byte string"))
        }
    }
}

/// Serde helper for variable byte strings: one length prefix and the raw bytes.
pub(crate) mod byte_vec {
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let bytes: &[u8] = serde::Deserialize::deserialize(deserializer)?;
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_minimal_varints_and_trailing_bytes() {
        let canonical = encode(&300u64).unwrap_or_default();
        assert_eq!(decode::<u64>(&canonical, 16), Ok(300));
        // 5 encoded as two bytes (continuation bit set, then zero) decodes in postcard but is
        // not canonical.
        assert_eq!(
            decode::<u64>(&[0x85, 0x00], 16),
            Err(EncodingError::NonCanonical)
        );
        assert_eq!(
            decode::<u64>(&[5, 0], 16),
            Err(EncodingError::TrailingBytes(1))
        );
        assert!(matches!(
            decode::<u64>(&[0; 17], 16),
            Err(EncodingError::Oversize { len: 17, max: 16 })
        ));
        assert!(matches!(
            decode::<bool>(&[2], 16),
            Err(EncodingError::Malformed(_))
        ));
    }

    #[test]
    fn envelopes_skip_only_the_canonical_check() {
        // An envelope accepts the redundant varint that `decode` refuses...
        assert_eq!(decode_envelope::<u64>(&[0x85, 0x00], 16), Ok(5));
        // ...and keeps every other check.
        assert_eq!(
            decode_envelope::<u64>(&[5, 0], 16),
            Err(EncodingError::TrailingBytes(1))
        );
        assert!(matches!(
            decode_envelope::<u64>(&[0; 17], 16),
            Err(EncodingError::Oversize { len: 17, max: 16 })
        ));
        assert!(matches!(
            decode_envelope::<bool>(&[2], 16),
            Err(EncodingError::Malformed(_))
        ));
    }

    proptest::proptest! {
        /// Every value has one accepted encoding: padding a varint with a redundant
        /// continuation byte always decodes to the same value in postcard, and is always refused.
        #[test]
        fn padded_varints_are_refused(value in 0u64..(1 << 56)) {
            let mut bytes = encode(&value).unwrap_or_default();
            if let Some(last) = bytes.last_mut() {
                *last |= 0x80;
            }
            bytes.push(0x00);
            proptest::prop_assert_eq!(decode::<u64>(&bytes, 16), Err(EncodingError::NonCanonical));
        }

        /// Strings and byte strings: a value followed by anything is refused.
        #[test]
        fn trailing_bytes_are_refused(text in ".{0,40}", extra in proptest::collection::vec(proptest::num::u8::ANY, 1..4)) {
            let mut bytes = encode(&text).unwrap_or_default();
            bytes.extend_from_slice(&extra);
            proptest::prop_assert!(decode::<String>(&bytes, 1024).is_err());
        }
    }

    #[test]
    fn a_huge_length_prefix_does_not_allocate_or_panic() {
        // A vector claiming u32::MAX elements in 6 bytes.
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f, 1];
        assert!(decode::<Vec<u64>>(&bytes, 64).is_err());
    }
}
