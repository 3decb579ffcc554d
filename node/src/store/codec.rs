//! The one order-preserving key codec for every table in the store.
//!
//! Keys are built from fields with [`KeyWriter`] and taken apart with [`KeyReader`]. The byte
//! order of encoded keys equals the order of the field tuples they encode, so RocksDB's
//! lexicographic iteration walks tuples in their natural order and a key prefix selects exactly
//! the tuples that start with the prefix's fields.
//!
//! - Unsigned integers are written big-endian in their full width.
//! - Fixed-size byte arrays (ids, digests) are written as-is: their length is known to the reader.
//! - Variable byte strings and UTF-8 strings are escaped, `0x00` becoming `0x00 0xFF`, and end
//!   with the terminator `0x00 0x01`. A shorter string therefore sorts before every string it is a
//!   prefix of, and the terminator can never be confused with content.

use thiserror::Error;

/// Escape byte: starts both an escaped zero byte and the terminator.
const ESCAPE: u8 = 0x00;
/// Follows [`ESCAPE`] for a zero byte in the content.
const ESCAPED_ZERO: u8 = 0xFF;
/// Follows [`ESCAPE`] to end a variable-length field.
const TERMINATOR: u8 = 0x01;

/// Why a key could not be decoded. A well-formed store never produces these; they mean the key
/// was written by something else or is damaged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The key ended inside a field.
    #[error("key ended at byte {offset} inside a field")]
    UnexpectedEnd {
        /// Offset at which more bytes were needed.
        offset: usize,
    },
    /// A `0x00` inside a variable-length field was followed by neither `0xFF` nor `0x01`.
    #[error("invalid escape sequence at byte {offset}")]
    BadEscape {
        /// Offset of the escape byte.
        offset: usize,
    },
    /// A string field does not hold UTF-8.
    #[error("string field ending at byte {offset} is not UTF-8")]
    NotUtf8 {
        /// Offset just past the field.
        offset: usize,
    },
    /// Bytes remain after the last expected field.
    #[error("{count} unexpected trailing bytes in key")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
}

/// Builds an encoded key field by field.
///
/// ```
/// use safeport_node::store::codec::{KeyReader, KeyWriter};
/// let key = KeyWriter::new().str("nl-hotline").u64(7).finish();
/// let mut reader = KeyReader::new(&key);
/// assert_eq!(reader.string().unwrap(), "nl-hotline");
/// assert_eq!(reader.u64().unwrap(), 7);
/// reader.finish().unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyWriter {
    buf: Vec<u8>,
}

impl KeyWriter {
    /// An empty key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a `u8`.
    pub fn u8(mut self, value: u8) -> Self {
        self.buf.push(value);
        self
    }

    /// Appends a `u16`, big-endian.
    pub fn u16(mut self, value: u16) -> Self {
        self.buf.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a `u32`, big-endian.
    pub fn u32(mut self, value: u32) -> Self {
        self.buf.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a `u64`, big-endian.
    pub fn u64(mut self, value: u64) -> Self {
        self.buf.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a fixed-size byte array as-is (the reader knows its length).
    pub fn array<const N: usize>(mut self, value: &[u8; N]) -> Self {
        self.buf.extend_from_slice(value);
        self
    }

    /// Appends a variable-length byte string, escaped and terminated.
    pub fn bytes(mut self, value: &[u8]) -> Self {
        for &byte in value {
            if byte == ESCAPE {
                self.buf.extend_from_slice(&[ESCAPE, ESCAPED_ZERO]);
            } else {
                self.buf.push(byte);
            }
        }
        self.buf.extend_from_slice(&[ESCAPE, TERMINATOR]);
        self
    }

    /// Appends a string, escaped and terminated like [`KeyWriter::bytes`].
    pub fn str(self, value: &str) -> Self {
        self.bytes(value.as_bytes())
    }

    /// The encoded key.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads the fields of an encoded key in the order they were written.
#[derive(Debug, Clone)]
pub struct KeyReader<'a> {
    key: &'a [u8],
    pos: usize,
}

impl<'a> KeyReader<'a> {
    /// Starts reading `key` from its first byte.
    pub fn new(key: &'a [u8]) -> Self {
        Self { key, pos: 0 }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let end = self.pos.checked_add(N).filter(|end| *end <= self.key.len());
        let Some(end) = end else {
            return Err(CodecError::UnexpectedEnd {
                offset: self.key.len(),
            });
        };
        let mut out = [0u8; N];
        out.copy_from_slice(&self.key[self.pos..end]);
        self.pos = end;
        Ok(out)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        self.take::<1>().map(|b| b[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, CodecError> {
        self.take().map(u16::from_be_bytes)
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, CodecError> {
        self.take().map(u32::from_be_bytes)
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, CodecError> {
        self.take().map(u64::from_be_bytes)
    }

    /// Reads a fixed-size byte array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        self.take()
    }

    /// Reads an escaped, terminated byte string.
    pub fn bytes(&mut self) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        loop {
            let Some(&byte) = self.key.get(self.pos) else {
                return Err(CodecError::UnexpectedEnd { offset: self.pos });
            };
            if byte != ESCAPE {
                out.push(byte);
                self.pos += 1;
                continue;
            }
            match self.key.get(self.pos + 1) {
                Some(&ESCAPED_ZERO) => out.push(ESCAPE),
                Some(&TERMINATOR) => {
                    self.pos += 2;
                    return Ok(out);
                }
                Some(_) => return Err(CodecError::BadEscape { offset: self.pos }),
                None => {
                    return Err(CodecError::UnexpectedEnd {
                        offset: self.pos + 1,
                    });
                }
            }
            self.pos += 2;
        }
    }

    /// Reads an escaped, terminated UTF-8 string.
    pub fn string(&mut self) -> Result<String, CodecError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes).map_err(|_| CodecError::NotUtf8 { offset: self.pos })
    }

    /// Checks that every byte of the key was read.
    pub fn finish(self) -> Result<(), CodecError> {
        match self.key.len() - self.pos {
            0 => Ok(()),
            count => Err(CodecError::TrailingBytes { count }),
        }
    }
}

/// The smallest byte string greater than every key starting with `prefix`, for use as an
/// exclusive upper bound of a prefix scan; `None` when no such bound exists (all bytes `0xFF`).
pub fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut bound = prefix[..=last].to_vec();
    bound[last] += 1;
    Some(bound)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use proptest::prelude::*;

    fn string_u64(s: &str, n: u64) -> Vec<u8> {
        KeyWriter::new().str(s).u64(n).finish()
    }

    fn bytes_u64(b: &[u8], n: u64) -> Vec<u8> {
        KeyWriter::new().bytes(b).u64(n).finish()
    }

    #[test]
    fn integers_are_big_endian_full_width() {
        let key = KeyWriter::new().u8(1).u16(2).u32(3).u64(4).finish();
        assert_eq!(key, [1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4]);
    }

    #[test]
    fn zero_bytes_are_escaped_and_terminated() {
        let key = KeyWriter::new().bytes(&[0, 7, 0]).finish();
        assert_eq!(key, [0, 0xFF, 7, 0, 0xFF, 0, 1]);
        assert_eq!(KeyWriter::new().str("").finish(), [0, 1]);
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert_eq!(
            KeyReader::new(&[1, 2]).u32(),
            Err(CodecError::UnexpectedEnd { offset: 2 })
        );
        assert_eq!(
            KeyReader::new(b"ab").bytes(),
            Err(CodecError::UnexpectedEnd { offset: 2 })
        );
        assert_eq!(
            KeyReader::new(&[b'a', 0]).bytes(),
            Err(CodecError::UnexpectedEnd { offset: 2 })
        );
        assert_eq!(
            KeyReader::new(&[b'a', 0, 2]).bytes(),
            Err(CodecError::BadEscape { offset: 1 })
        );
        assert_eq!(
            KeyReader::new(&[0xC3, 0x28, 0, 1]).string(),
            Err(CodecError::NotUtf8 { offset: 4 })
        );
        let mut reader = KeyReader::new(&[5, 6]);
        reader.u8().unwrap();
        assert_eq!(reader.finish(), Err(CodecError::TrailingBytes { count: 1 }));
    }

    #[test]
    fn prefix_upper_bound_skips_trailing_ff() {
        assert_eq!(prefix_upper_bound(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_upper_bound(&[1, 0xFF, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_upper_bound(&[0xFF]), None);
        assert_eq!(prefix_upper_bound(&[]), None);
    }

    proptest! {
        #[test]
        fn roundtrip_all_field_kinds(
            a in any::<u8>(), b in any::<u16>(), c in any::<u32>(), d in any::<u64>(),
            id in any::<[u8; 32]>(), raw in proptest::collection::vec(any::<u8>(), 0..40),
            s in ".{0,20}",
        ) {
            let key = KeyWriter::new()
                .u8(a).u16(b).u32(c).u64(d).array(&id).bytes(&raw).str(&s).finish();
            let mut r = KeyReader::new(&key);
            prop_assert_eq!(r.u8().unwrap(), a);
            prop_assert_eq!(r.u16().unwrap(), b);
            prop_assert_eq!(r.u32().unwrap(), c);
            prop_assert_eq!(r.u64().unwrap(), d);
            prop_assert_eq!(r.array::<32>().unwrap(), id);
            prop_assert_eq!(r.bytes().unwrap(), raw);
            prop_assert_eq!(r.string().unwrap(), s);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn string_u64_order_is_preserved(
            a in "[\\x00-\\x02a-c\u{e9}]{0,6}", x in any::<u64>(),
            b in "[\\x00-\\x02a-c\u{e9}]{0,6}", y in any::<u64>(),
        ) {
            prop_assert_eq!(string_u64(&a, x).cmp(&string_u64(&b, y)), (&a, x).cmp(&(&b, y)));
        }

        #[test]
        fn bytes_u64_order_is_preserved(
            // Few distinct byte values, including 0x00, 0x01 and 0xFF, so prefixes and the
            // escape bytes collide often.
            a in proptest::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0xFE, 0xFF]), 0..6),
            x in 0u64..4,
            b in proptest::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0xFE, 0xFF]), 0..6),
            y in 0u64..4,
        ) {
            prop_assert_eq!(bytes_u64(&a, x).cmp(&bytes_u64(&b, y)), (&a, x).cmp(&(&b, y)));
        }

        #[test]
        fn arbitrary_input_never_panics_the_reader(key in proptest::collection::vec(any::<u8>(), 0..24)) {
            let mut r = KeyReader::new(&key);
            let _ = r.string();
            let _ = r.u64();
            let _ = r.array::<4>();
            let _ = r.finish();
        }

        #[test]
        fn encoded_prefix_bounds_its_extensions(s in ".{0,8}", n in any::<u64>()) {
            let prefix = KeyWriter::new().str(&s).finish();
            let key = KeyWriter::new().str(&s).u64(n).finish();
            let bound = prefix_upper_bound(&prefix).unwrap();
            prop_assert!(key.starts_with(&prefix));
            prop_assert!(key < bound);
        }
    }
}
