//! Matching media against the hash lists a node holds: exact lookups in the stored lists,
//! PDQ lookups in the in-memory index of each list (rebuilt when a list moves forward), and
//! the automatic assessment the crawler asks for.

use std::collections::BTreeMap;

use safeport_protocol::hashes::{HashAlgorithm, HashValue};
use safeport_protocol::hashlist::HashListId;
use safeport_protocol::report::{Assessment, Assessor};
use safeport_protocol::{Classification, Timestamp};

use super::hashlists::ListMatch;
use super::{App, AppError};
use crate::matching::lists::{PdqList, classification_for};
use crate::matching::pdq_index::bits_of;
use crate::media::{MediaHashes, pdq};

impl App {
    /// Which lists hold `value` exactly.
    pub fn match_exact(&self, value: &HashValue) -> Result<Vec<ListMatch>, AppError> {
        let now = self.now();
        let mut out = Vec::new();
        for state in self.store.list_states()? {
            let list = &state.manifest.list;
            if let Some(entry) = self.store.list_entry(list, state.generation, value)? {
                out.push(ListMatch {
                    list: list.to_string(),
                    version: state.manifest.version,
                    category: entry.category.to_text(),
                    added_at: entry.added_at.0,
                    stale: state.manifest.is_expired_at(now),
                    distance: 0,
                    national: state.manifest.national,
                });
            }
        }
        Ok(out)
    }

    /// (Re)builds the in-memory PDQ index of one list from its stored entries.
    pub(crate) fn index_pdq_entries(&self, list: &HashListId) -> Result<(), AppError> {
        let Some(state) = self.store.list_state(list)? else {
            return Ok(());
        };
        let mut pdq = Vec::new();
        self.store.visit_list_entries(
            list,
            state.generation,
            Some(HashAlgorithm::Pdq),
            |entry| {
                if let HashValue::Pdq(bits) = entry.value {
                    pdq.push((bits, entry.category, entry.added_at));
                }
                true
            },
        )?;
        self.pdq_lists.install(PdqList::build(state.manifest, pdq));
        Ok(())
    }

    /// PDQ lookups: entries within `radius` of any of `hashes` (an image's PDQ hash, or its
    /// eight dihedral forms), nearest first, one match per list entry.
    pub fn match_pdq(&self, hashes: &[[u8; 32]], radius: u32) -> Vec<ListMatch> {
        let now = self.now();
        let mut best: BTreeMap<(String, [u64; 4]), ListMatch> = BTreeMap::new();
        for query in hashes {
            for hit in self.pdq_lists.query(&bits_of(query), radius) {
                let key = (hit.manifest.list.to_string(), hit.bits);
                let candidate = ListMatch {
                    list: key.0.clone(),
                    version: hit.manifest.version,
                    category: hit.category.to_text(),
                    added_at: hit.added_at.0,
                    stale: hit.manifest.is_expired_at(now),
                    distance: hit.distance,
                    national: hit.manifest.national,
                };
                match best.get(&key) {
                    Some(found) if found.distance <= candidate.distance => {}
                    _ => {
                        best.insert(key, candidate);
                    }
                }
            }
        }
        let mut out: Vec<ListMatch> = best.into_values().collect();
        out.sort_by(|a, b| {
            a.distance
                .cmp(&b.distance)
                .then_with(|| a.list.cmp(&b.list))
        });
        out
    }

    /// Exact matches of a media item's SHA-256, MD5 and SHA-1.
    pub(crate) fn match_digests(
        &self,
        sha256: [u8; 32],
        md5: [u8; 16],
        sha1: [u8; 20],
    ) -> Result<Vec<ListMatch>, AppError> {
        let mut out = Vec::new();
        for value in [
            HashValue::Sha256(sha256),
            HashValue::Md5(md5),
            HashValue::Sha1(sha1),
        ] {
            out.extend(self.match_exact(&value)?);
        }
        Ok(out)
    }

    /// Every list match of a media item: exact by MD5, SHA-1 and SHA-256, and PDQ within
    /// [`pdq::MATCH_DISTANCE`] when its PDQ hash is of usable quality.
    pub fn match_media(&self, hashes: &MediaHashes) -> Result<Vec<ListMatch>, AppError> {
        let mut out = self.match_digests(hashes.sha256, hashes.md5, hashes.sha1)?;
        if let Some(pdq_hash) = hashes.pdq
            && pdq_hash.quality() >= pdq::MIN_MATCH_QUALITY
        {
            out.extend(self.match_pdq(&[*pdq_hash.bits()], pdq::MATCH_DISTANCE));
        }
        Ok(out)
    }

    /// Every list match of an uploaded file: its exact hashes, and PDQ within `radius` of any
    /// of its eight rotations and mirror images (so a flipped copy of a listed picture is
    /// found too).
    pub fn match_file(&self, bytes: &[u8], radius: u32) -> Result<Vec<ListMatch>, AppError> {
        let hashes = crate::media::hash_media(bytes);
        let mut out = self.match_digests(hashes.sha256, hashes.md5, hashes.sha1)?;
        if hashes.is_image()
            && let Ok(Some(forms)) = crate::media::pdq_dihedral(bytes)
        {
            let usable: Vec<[u8; 32]> = forms
                .iter()
                .filter(|h| h.quality() >= pdq::MIN_MATCH_QUALITY)
                .map(|h| *h.bits())
                .collect();
            out.extend(self.match_pdq(&usable, radius));
        }
        Ok(out)
    }

    /// The automatic assessment of a media item by the lists held: the most severe
    /// classification any matching entry gives here (see [`classification_for`]).
    pub fn assess_by_lists(&self, hashes: &MediaHashes, now: Timestamp) -> Option<Assessment> {
        let here = Some(self.identity.certificate.subject.country);
        let matches = match self.match_media(hashes) {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "hash-list lookup failed; item left for an analyst");
                return None;
            }
        };
        matches
            .into_iter()
            .filter_map(|m| {
                let category = m.category.parse().ok()?;
                let class = classification_for(category, m.national, here)?;
                Some((class, m))
            })
            .min_by_key(|(class, m)| (*class != Classification::Baseline, m.distance))
            .map(|(classification, m)| Assessment {
                classification,
                assessor: Some(Assessor::HashList {
                    list_id: m.list,
                    version: m.version,
                }),
                assessed_at: Some(now),
            })
    }
}
