//! The IWOL as this node holds it: which version of the list is current (the list itself is
//! its signed record, in the records table), and an index that groups every suggestion with
//! its confirmations and INTERPOL's decision, so a suggestion's whole story is one prefix scan.
//!
//! The index is keyed by the first suggestion's record id, so a confirmation (or decision) that
//! arrives before the suggestion it names is indexed all the same and joins it when it comes.

use safeport_protocol::{RecordId, Timestamp, encoding};
use serde::{Deserialize, Serialize};

use super::batch::StoreBatch;
use super::codec::{KeyReader, KeyWriter};
use super::{MAX_PAGE, Store, StoreError, Table};

/// The single key of the held list's state.
const HELD_KEY: &[u8] = b"list";
/// Largest stored state.
const MAX_STATE_BYTES: usize = 256;

/// The version of the IWOL this node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldIwol {
    /// The version.
    pub version: u64,
    /// Its record.
    pub record: RecordId,
    /// When it was published.
    pub published_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
    /// How many domains it lists.
    pub domains: u32,
}

/// What an index entry of a suggestion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SuggestionPart {
    /// The suggestion itself.
    Suggestion,
    /// Another agency's confirmation.
    Confirmation,
    /// INTERPOL's decision.
    Decision,
}

impl SuggestionPart {
    fn tag(self) -> u8 {
        match self {
            SuggestionPart::Suggestion => 0,
            SuggestionPart::Confirmation => 1,
            SuggestionPart::Decision => 2,
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        [
            SuggestionPart::Suggestion,
            SuggestionPart::Confirmation,
            SuggestionPart::Decision,
        ]
        .into_iter()
        .find(|p| p.tag() == tag)
    }
}

fn index_key(suggestion: &RecordId, part: SuggestionPart, record: &RecordId) -> Vec<u8> {
    KeyWriter::new()
        .array(&suggestion.0)
        .u8(part.tag())
        .array(&record.0)
        .finish()
}

fn corrupt_key(source: super::codec::CodecError) -> StoreError {
    StoreError::CorruptKey {
        table: Table::IwolSuggestions.name(),
        source,
    }
}

impl StoreBatch<'_> {
    /// Makes `held` the version of the IWOL this node holds.
    pub fn set_iwol(&mut self, held: &HeldIwol) -> Result<(), StoreError> {
        let value = encoding::encode(held)
            .map_err(|_| StoreError::InvalidArgument("IWOL state does not encode"))?;
        self.batch
            .put_cf(self.store.cf(Table::IwolState)?, HELD_KEY, value);
        Ok(())
    }

    /// Indexes `record` as `part` of the story of `suggestion`.
    pub fn index_iwol(
        &mut self,
        suggestion: &RecordId,
        part: SuggestionPart,
        record: &RecordId,
    ) -> Result<(), StoreError> {
        self.batch.put_cf(
            self.store.cf(Table::IwolSuggestions)?,
            index_key(suggestion, part, record),
            [],
        );
        Ok(())
    }
}

impl Store {
    /// The version of the IWOL held, if any.
    pub fn held_iwol(&self) -> Result<Option<HeldIwol>, StoreError> {
        self.get(Table::IwolState, HELD_KEY)?
            .map(|bytes| {
                encoding::decode(&bytes, MAX_STATE_BYTES).map_err(|_| StoreError::CorruptValue {
                    table: Table::IwolState.name(),
                    what: "IWOL state does not decode",
                })
            })
            .transpose()
    }

    /// The records indexed under `suggestion`, in part order (suggestion, confirmations,
    /// decisions), at most [`MAX_PAGE`].
    pub fn iwol_story(
        &self,
        suggestion: &RecordId,
    ) -> Result<Vec<(SuggestionPart, RecordId)>, StoreError> {
        let prefix = KeyWriter::new().array(&suggestion.0).finish();
        let mut out = Vec::new();
        for item in self.scan_prefix(Table::IwolSuggestions, &prefix, None, false)? {
            let (key, _) = item.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key);
            reader.array::<32>().map_err(corrupt_key)?;
            let part = SuggestionPart::from_tag(reader.u8().map_err(corrupt_key)?).ok_or(
                StoreError::CorruptValue {
                    table: Table::IwolSuggestions.name(),
                    what: "unknown part tag",
                },
            )?;
            let record = RecordId(reader.array::<32>().map_err(corrupt_key)?);
            reader.finish().map_err(corrupt_key)?;
            out.push((part, record));
            if out.len() == MAX_PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// The ids of suggestions indexed (each once, in id order), after `after`, at most
    /// `limit` (capped at [`MAX_PAGE`]).
    pub fn iwol_suggestion_ids(
        &self,
        after: Option<&RecordId>,
        limit: usize,
    ) -> Result<Vec<RecordId>, StoreError> {
        let limit = limit.min(MAX_PAGE);
        let start = after.map(|id| {
            // Past every part of `after`: its id followed by a tag above every part's.
            KeyWriter::new().array(&id.0).u8(u8::MAX).finish()
        });
        let mut out: Vec<RecordId> = Vec::new();
        for item in self.scan_prefix(Table::IwolSuggestions, &[], start.as_deref(), false)? {
            let (key, _) = item.map_err(|e| self.db_err(e))?;
            let mut reader = KeyReader::new(&key);
            let id = RecordId(reader.array::<32>().map_err(corrupt_key)?);
            if out.last() != Some(&id) {
                if out.len() == limit {
                    break;
                }
                out.push(id);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stories_group_by_suggestion_and_state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.held_iwol().unwrap(), None);
        let (a, b, c) = (RecordId([1; 32]), RecordId([2; 32]), RecordId([3; 32]));
        let mut batch = store.batch();
        batch
            .index_iwol(&b, SuggestionPart::Confirmation, &c)
            .unwrap();
        batch
            .index_iwol(&a, SuggestionPart::Suggestion, &a)
            .unwrap();
        batch
            .index_iwol(&b, SuggestionPart::Suggestion, &b)
            .unwrap();
        batch.index_iwol(&b, SuggestionPart::Decision, &a).unwrap();
        let held = HeldIwol {
            version: 3,
            record: c,
            published_at: Timestamp(5),
            expires_at: Timestamp(9),
            domains: 2,
        };
        batch.set_iwol(&held).unwrap();
        batch.commit().unwrap();
        assert_eq!(store.held_iwol().unwrap(), Some(held));
        assert_eq!(
            store.iwol_story(&b).unwrap(),
            vec![
                (SuggestionPart::Suggestion, b),
                (SuggestionPart::Confirmation, c),
                (SuggestionPart::Decision, a),
            ]
        );
        assert_eq!(store.iwol_suggestion_ids(None, 10).unwrap(), vec![a, b]);
        assert_eq!(store.iwol_suggestion_ids(Some(&a), 10).unwrap(), vec![b]);
        assert_eq!(store.iwol_suggestion_ids(None, 1).unwrap(), vec![a]);
    }
}
