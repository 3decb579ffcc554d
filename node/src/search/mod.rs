//! The search index over the reports a node holds: one compact document per report (its
//! latest revision) in memory, so a filtered search is a pass over an array instead of a scan
//! that decodes every stored report. What a document may show is not decided here: the caller
//! gives a `Visibility` per (origin, hosting country, classes) combination, computed with
//! `authorize()` (see `app/search.rs`), and facets count only what is visible, so no count
//! reveals a report or an item the caller may not see.

pub mod spec;

use std::collections::HashMap;

use safeport_protocol::hashes::HashAlgorithm;
use safeport_protocol::status::TakedownStatus;
use safeport_protocol::{AgencyId, Classification, Country, RecordId, Timestamp};

/// Most results one page returns.
pub const MAX_RESULTS: usize = 500;
/// Longest text a query may search for.
pub const MAX_QUERY_TEXT: usize = 256;

/// A set of classifications as bits (`Classification::ALL` order).
pub type ClassSet = u8;

/// The bit of one classification.
pub fn class_bit(class: Classification) -> ClassSet {
    let index = Classification::ALL
        .iter()
        .position(|c| *c == class)
        .unwrap_or(0);
    1 << index
}

/// What the index keeps of an MD5, SHA-1 or SHA-256 value: a 64-bit SipHash of the whole
/// digest under a key drawn at random when the process starts. Not a prefix: digests with a
/// common prefix (structured test data, or content crafted to collide on a prefix) must not
/// match each other, and nobody outside the process can aim at a collision. Two different
/// digests collide with probability 2^-64, at a third of the memory of whole digests; the
/// media detail confirms on the whole digest.
pub fn digest_key(bytes: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    KEY.get_or_init(std::hash::RandomState::new).hash_one(bytes)
}

/// What the index keeps of one media item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocItem {
    /// Its classification's bit.
    pub class: ClassSet,
    /// [`digest_key`] of its MD5.
    pub md5: u64,
    /// [`digest_key`] of its SHA-1.
    pub sha1: u64,
    /// [`digest_key`] of its SHA-256.
    pub sha256: u64,
    /// Its PDQ hash, for images.
    pub pdq: Option<[u64; 4]>,
    /// The hash list that classified it: 1 + its index in the index's list table, 0 for none.
    pub list: u16,
}

/// What the report is, as the index keeps it.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Interned originator (index into [`SearchIndex::origins`]).
    pub origin: u16,
    /// Report key.
    pub report_key: [u8; 16],
    /// The latest revision's record.
    pub record_id: RecordId,
    /// Hosting country.
    pub country: Option<Country>,
    /// When the hotline received the report.
    pub received_at: Timestamp,
    /// Classifications of its items.
    pub classes: ClassSet,
    /// The reported URL, as reported.
    pub url: Box<str>,
    /// Reported URL, final URL and page title, lower-cased, for text search.
    pub text: Box<str>,
    /// Hosts of its URLs, lower-cased.
    pub hosts: Box<[Box<str>]>,
    /// Its media items.
    pub items: Box<[DocItem]>,
    /// Its latest takedown status.
    pub status: Option<TakedownStatus>,
}

/// A media hash to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashQuery {
    /// An MD5, SHA-1 or SHA-256 value (its [`digest_key`]).
    Exact {
        /// Which digest.
        algorithm: HashAlgorithm,
        /// Its [`digest_key`].
        key: u64,
        /// The digest in hex, as the audit trail records the search.
        hex: String,
    },
    /// A PDQ hash within a Hamming distance.
    Pdq {
        /// The hash.
        bits: [u8; 32],
        /// Largest distance that matches.
        max_distance: u32,
    },
}

impl HashQuery {
    /// An exact query for a digest.
    pub fn exact(algorithm: HashAlgorithm, bytes: &[u8]) -> Self {
        HashQuery::Exact {
            algorithm,
            key: digest_key(bytes),
            hex: hex::encode(bytes),
        }
    }

    fn matches(&self, item: &DocItem, pdq: &Option<[u64; 4]>) -> bool {
        match self {
            HashQuery::Exact { algorithm, key, .. } => match algorithm {
                HashAlgorithm::Md5 => item.md5 == *key,
                HashAlgorithm::Sha1 => item.sha1 == *key,
                HashAlgorithm::Sha256 => item.sha256 == *key,
                HashAlgorithm::Pdq => false,
            },
            HashQuery::Pdq { max_distance, .. } => match (item.pdq, pdq) {
                (Some(have), Some(want)) => {
                    crate::matching::pdq_index::distance(&have, want) <= *max_distance
                }
                _ => false,
            },
        }
    }
}

/// Items classified by a hash-list match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListQuery {
    /// By any list.
    Any,
    /// By this list (`publisher/name`).
    Named(String),
}

/// A report's latest takedown status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusQuery {
    /// No status yet.
    None,
    /// This one.
    Is(TakedownStatus),
}

/// What the caller may see of a document: nothing, or the report with the items of these
/// classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Not shown, not counted.
    Hidden,
    /// Shown with items of these classes.
    Shown(ClassSet),
}

/// A search; every given criterion must hold.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Hosted in this country.
    pub country: Option<Country>,
    /// From this hotline.
    pub hotline: Option<AgencyId>,
    /// With a (visible) item of this classification.
    pub classification: Option<Classification>,
    /// Received at or after.
    pub since: Option<Timestamp>,
    /// Received before.
    pub until: Option<Timestamp>,
    /// On this domain or a subdomain.
    pub domain: Option<String>,
    /// Text in the URLs or title (case-insensitive substring).
    pub text: Option<String>,
    /// With a (visible) item of this hash.
    pub hash: Option<HashQuery>,
    /// With a (visible) item classified by a hash-list match.
    pub hash_list: Option<ListQuery>,
    /// With this latest takedown status.
    pub status: Option<StatusQuery>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
    /// Results skipped.
    pub offset: usize,
    /// Results returned (capped at [`MAX_RESULTS`]).
    pub limit: usize,
}

/// Counts over every visible match (not just the page).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Facets {
    /// Reports with a visible item of each classification.
    pub classification: Vec<(String, u64)>,
    /// Reports per hosting country (`unknown` when none).
    pub country: Vec<(String, u64)>,
    /// Reports per hotline.
    pub hotline: Vec<(String, u64)>,
}

/// One result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The report's document.
    pub doc: Doc,
    /// Its originator.
    pub origin: AgencyId,
    /// The classes of its items that may be seen.
    pub visible: ClassSet,
}

/// A page of results.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Visible matches in all.
    pub total: u64,
    /// This page.
    pub page: Vec<Hit>,
    /// Counts over all visible matches.
    pub facets: Facets,
}

/// The index.
#[derive(Debug, Default)]
pub struct SearchIndex {
    docs: Vec<Doc>,
    by_ref: HashMap<(u16, [u8; 16]), usize>,
    origins: Vec<AgencyId>,
    lists: Vec<Box<str>>,
}

fn host_matches(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

impl SearchIndex {
    /// The interned originator of documents.
    pub fn origin(&self, doc: &Doc) -> &AgencyId {
        &self.origins[usize::from(doc.origin)]
    }

    /// Interns `origin`; `None` when the table is full (65,535 agencies).
    pub fn intern(&mut self, origin: &AgencyId) -> Option<u16> {
        if let Some(i) = self.origins.iter().position(|o| o == origin) {
            return u16::try_from(i).ok();
        }
        let index = u16::try_from(self.origins.len()).ok()?;
        self.origins.push(origin.clone());
        Some(index)
    }

    /// Interns a hash list id for [`DocItem::list`] (1-based; 0 when the table is full).
    pub fn intern_list(&mut self, list: &str) -> u16 {
        let index = match self.lists.iter().position(|l| &**l == list) {
            Some(i) => i,
            None => {
                self.lists.push(list.into());
                self.lists.len() - 1
            }
        };
        u16::try_from(index + 1).unwrap_or(0)
    }

    /// Documents held.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether no document is held.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Adds or replaces the document of its report.
    pub fn upsert(&mut self, doc: Doc) {
        match self.by_ref.get(&(doc.origin, doc.report_key)) {
            Some(&index) => self.docs[index] = doc,
            None => {
                self.by_ref
                    .insert((doc.origin, doc.report_key), self.docs.len());
                self.docs.push(doc);
            }
        }
    }

    /// Removes the document of a report (withdrawn).
    pub fn remove(&mut self, origin: &AgencyId, report_key: &[u8; 16]) {
        let Some(o) = self.origins.iter().position(|x| x == origin) else {
            return;
        };
        let Ok(o) = u16::try_from(o) else { return };
        let Some(index) = self.by_ref.remove(&(o, *report_key)) else {
            return;
        };
        self.docs.swap_remove(index);
        if let Some(moved) = self.docs.get(index) {
            self.by_ref.insert((moved.origin, moved.report_key), index);
        }
    }

    /// Runs `query`; `visibility` says what may be seen of each document. Pages hold at most
    /// [`MAX_RESULTS`].
    pub fn search(
        &self,
        query: &Query,
        visibility: impl FnMut(&Doc, &AgencyId) -> Visibility,
    ) -> Results {
        self.search_up_to(query, MAX_RESULTS, visibility)
    }

    /// [`SearchIndex::search`] with pages of up to `cap` results (packages of a saved search
    /// take all its matches at once).
    pub fn search_up_to(
        &self,
        query: &Query,
        cap: usize,
        mut visibility: impl FnMut(&Doc, &AgencyId) -> Visibility,
    ) -> Results {
        let hotline = query
            .hotline
            .as_ref()
            .and_then(|h| self.origins.iter().position(|o| o == h));
        if query.hotline.is_some() && hotline.is_none() {
            return Results::default();
        }
        let wanted_list = match &query.hash_list {
            None => None,
            Some(ListQuery::Any) => Some(None),
            Some(ListQuery::Named(name)) => match self
                .lists
                .iter()
                .position(|l| **l == **name)
                .and_then(|i| u16::try_from(i + 1).ok())
            {
                Some(list) => Some(Some(list)),
                None => return Results::default(),
            },
        };
        let wanted_pdq = match &query.hash {
            Some(HashQuery::Pdq { bits, .. }) => Some(crate::matching::pdq_index::bits_of(bits)),
            _ => None,
        };
        let wanted_class = query.classification.map(class_bit);
        let text = query.text.as_ref().map(|t| t.to_lowercase());
        let domain = query.domain.as_ref().map(|d| d.to_lowercase());
        let mut matches: Vec<(usize, ClassSet)> = Vec::new();
        for (index, doc) in self.docs.iter().enumerate() {
            if hotline.is_some_and(|h| usize::from(doc.origin) != h)
                || query.country.is_some_and(|c| doc.country != Some(c))
                || query.since.is_some_and(|t| doc.received_at < t)
                || query.until.is_some_and(|t| doc.received_at >= t)
                || query.status.is_some_and(|s| match s {
                    StatusQuery::None => doc.status.is_some(),
                    StatusQuery::Is(status) => doc.status != Some(status),
                })
            {
                continue;
            }
            if let Some(domain) = &domain
                && !doc.hosts.iter().any(|h| host_matches(h, domain))
            {
                continue;
            }
            if let Some(text) = &text
                && !doc.text.contains(text.as_str())
            {
                continue;
            }
            let Visibility::Shown(visible) = visibility(doc, self.origin(doc)) else {
                continue;
            };
            if wanted_class.is_some_and(|bit| visible & bit == 0) {
                continue;
            }
            // Item criteria hold only for items the caller may see.
            let item_wanted = |item: &DocItem| {
                visible & item.class != 0
                    && query
                        .hash
                        .as_ref()
                        .is_none_or(|h| h.matches(item, &wanted_pdq))
                    && wanted_list.is_none_or(|list| match list {
                        None => item.list != 0,
                        Some(list) => item.list == list,
                    })
            };
            if (query.hash.is_some() || wanted_list.is_some()) && !doc.items.iter().any(item_wanted)
            {
                continue;
            }
            matches.push((index, visible));
        }
        let facets = self.facets(&matches);
        let total = matches.len() as u64;
        let limit = query.limit.clamp(1, cap.max(1));
        // Only the first `offset + limit` in order are needed: select them, then sort those.
        let order = |a: &(usize, ClassSet), b: &(usize, ClassSet)| {
            let key = |(index, _): &(usize, ClassSet)| {
                let doc = &self.docs[*index];
                (doc.received_at, doc.record_id.0)
            };
            if query.oldest_first {
                key(a).cmp(&key(b))
            } else {
                key(b).cmp(&key(a))
            }
        };
        let wanted = query.offset.saturating_add(limit);
        if wanted < matches.len() {
            matches.select_nth_unstable_by(wanted, order);
            matches.truncate(wanted);
        }
        matches.sort_unstable_by(order);
        let page = matches
            .iter()
            .skip(query.offset)
            .take(limit)
            .map(|(index, visible)| {
                let doc = self.docs[*index].clone();
                Hit {
                    origin: self.origin(&doc).clone(),
                    doc,
                    visible: *visible,
                }
            })
            .collect();
        Results {
            total,
            page,
            facets,
        }
    }

    fn facets(&self, matches: &[(usize, ClassSet)]) -> Facets {
        let mut classes = [0u64; 4];
        let mut countries: HashMap<Option<Country>, u64> = HashMap::new();
        let mut hotlines: HashMap<u16, u64> = HashMap::new();
        for (index, visible) in matches {
            let doc = &self.docs[*index];
            for (i, count) in classes.iter_mut().enumerate() {
                if visible & (1 << i) != 0 {
                    *count += 1;
                }
            }
            *countries.entry(doc.country).or_default() += 1;
            *hotlines.entry(doc.origin).or_default() += 1;
        }
        let sorted = |mut v: Vec<(String, u64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            v
        };
        Facets {
            classification: Classification::ALL
                .iter()
                .zip(classes)
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| (c.as_str().to_owned(), n))
                .collect(),
            country: sorted(
                countries
                    .into_iter()
                    .map(|(c, n)| (c.map_or("unknown".into(), |c| c.to_string()), n))
                    .collect(),
            ),
            hotline: sorted(
                hotlines
                    .into_iter()
                    .map(|(o, n)| (self.origins[usize::from(o)].to_string(), n))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests;
