//! A local hash list: known items from a CSV file (`algorithm,value,category` with a header,
//! the CSV hash-list format of `../shared/design/formats.md`), matched exactly on MD5, SHA-1
//! and SHA-256 and by PDQ distance. The hook for automatic classification until subscribed
//! INTERPOL lists arrive; a match is marked as such on the item.

use std::collections::HashSet;
use std::path::Path;

use safeport_protocol::hashes::{HashAlgorithm, HashValue};
use safeport_protocol::report::{Assessment, Assessor};
use safeport_protocol::{Classification, Timestamp};

use super::HashMatcher;
use crate::media::{MediaHashes, pdq};

/// Most entries in a local list.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Largest list file.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Why a list could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("hash list {path}: {reason}")]
pub struct ListError {
    /// The file.
    pub path: String,
    /// What is wrong (with the line number for bad lines).
    pub reason: String,
}

/// Known hashes with their classification.
#[derive(Debug, Default)]
pub struct LocalHashList {
    list_id: String,
    exact: std::collections::HashMap<HashValue, Classification>,
    pdq: Vec<([u8; 32], Classification)>,
}

impl LocalHashList {
    /// Loads a list file; its name (without extension) becomes the list id `local:<name>`.
    pub fn load(path: &Path) -> Result<Self, ListError> {
        let err = |reason: String| ListError {
            path: path.display().to_string(),
            reason,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| err(e.to_string()))?
            .len();
        if len > MAX_FILE_BYTES {
            return Err(err(format!("{len} bytes; the limit is {MAX_FILE_BYTES}")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "list".into());
        Self::parse(&format!("local:{name}"), &text).map_err(err)
    }

    /// Parses list text.
    pub fn parse(list_id: &str, text: &str) -> Result<Self, String> {
        let mut list = LocalHashList {
            list_id: list_id.to_owned(),
            ..Self::default()
        };
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, header)) if header.trim() == "algorithm,value,category" => {}
            _ => return Err("the first line must be the header algorithm,value,category".into()),
        }
        let mut seen = HashSet::new();
        for (index, line) in lines {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason: &str| format!("line {}: {reason}", index + 1);
            if seen.len() == MAX_ENTRIES {
                return Err(bad(&format!("more than {MAX_ENTRIES} entries")));
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [algorithm, value, category] = fields[..] else {
                return Err(bad("expected algorithm,value,category"));
            };
            let algorithm: HashAlgorithm = algorithm.parse().map_err(|e| bad(&format!("{e}")))?;
            let value = HashValue::from_hex(algorithm, value).map_err(|e| bad(&format!("{e}")))?;
            let category: Classification = category.parse().map_err(|e| bad(&format!("{e}")))?;
            if !category.is_illegal() {
                return Err(bad("category must be baseline or nationally-illegal"));
            }
            if !seen.insert(value) {
                continue;
            }
            match algorithm {
                HashAlgorithm::Pdq => {
                    let mut bits = [0u8; 32];
                    bits.copy_from_slice(value.as_bytes());
                    list.pdq.push((bits, category));
                }
                _ => {
                    list.exact.insert(value, category);
                }
            }
        }
        Ok(list)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.exact.len() + self.pdq.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(&self, hashes: &MediaHashes) -> Option<Classification> {
        let exact = [
            HashValue::from_bytes(HashAlgorithm::Sha256, &hashes.sha256),
            HashValue::from_bytes(HashAlgorithm::Sha1, &hashes.sha1),
            HashValue::from_bytes(HashAlgorithm::Md5, &hashes.md5),
        ];
        if let Some(found) = exact.iter().flatten().find_map(|v| self.exact.get(v)) {
            return Some(*found);
        }
        let item = hashes
            .pdq
            .filter(|p| p.quality() >= pdq::MIN_MATCH_QUALITY)?;
        // Nearest entry within the match distance; brute force is fine for a local list
        // (the hash-list engine indexes large lists).
        self.pdq
            .iter()
            .map(|(bits, class)| (item.distance(bits), *class))
            .filter(|(distance, _)| *distance <= pdq::MATCH_DISTANCE)
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, class)| class)
    }
}

impl HashMatcher for LocalHashList {
    fn assess(&self, hashes: &MediaHashes, now: Timestamp) -> Option<Assessment> {
        self.lookup(hashes).map(|classification| Assessment {
            classification,
            assessor: Some(Assessor::HashList {
                list_id: self.list_id.clone(),
                version: 1,
            }),
            assessed_at: Some(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::hash_media;

    #[test]
    fn exact_and_perceptual_matches_classify_and_name_the_list() {
        let known = hash_media(b"known synthetic bytes");
        let text = format!(
            "algorithm,value,category\nsha256,{},baseline\nmd5,{},nationally-illegal\n",
            hex::encode(known.sha256),
            hex::encode([7u8; 16]),
        );
        let list = LocalHashList::parse("local:test", &text).unwrap();
        assert_eq!(list.len(), 2);
        let assessment = list.assess(&known, Timestamp(5)).unwrap();
        assert_eq!(assessment.classification, Classification::Baseline);
        assert_eq!(
            assessment.assessor,
            Some(Assessor::HashList {
                list_id: "local:test".into(),
                version: 1
            })
        );
        assert!(list.assess(&hash_media(b"other"), Timestamp(5)).is_none());

        // PDQ: a near hash with good quality matches; with low quality it does not.
        let mut near = [0u8; 32];
        near[0] = 0b111; // distance 3 from all-zero bits
        let text = format!(
            "algorithm,value,category\npdq,{},baseline\n",
            hex::encode([0u8; 32])
        );
        let list = LocalHashList::parse("local:pdq", &text).unwrap();
        let mut item = hash_media(b"x");
        item.pdq = Some(safeport_protocol::hashes::PdqHash::new(near, 90).unwrap());
        assert!(list.assess(&item, Timestamp(1)).is_some());
        item.pdq = Some(safeport_protocol::hashes::PdqHash::new(near, 20).unwrap());
        assert!(list.assess(&item, Timestamp(1)).is_none());
    }

    #[test]
    fn malformed_lists_are_refused_with_the_line() {
        for (text, fragment) in [
            ("md5,abc,baseline\n", "header"),
            ("algorithm,value,category\nmd5,xyz,baseline\n", "line 2"),
            ("algorithm,value,category\nsha1,,baseline\n", "line 2"),
            (
                "algorithm,value,category\nmd5,00000000000000000000000000000000,not-illegal\n",
                "line 2",
            ),
            ("algorithm,value,category\nmd5\n", "line 2"),
        ] {
            let error = LocalHashList::parse("t", text).unwrap_err();
            assert!(error.contains(fragment), "{text:?}: {error}");
        }
    }
}
