//! The search index over the reports a node holds: one compact document per report (its
//! latest revision) in memory, so a filtered search is a pass over an array instead of a scan
//! that decodes every stored report. What a document may show is not decided here: the caller
//! gives a `Visibility` per (origin, hosting country, classes) combination, computed with
//! `authorize()` (see `app/search.rs`), and facets count only what is visible, so no count
//! reveals a report or an item the caller may not see.

use std::collections::HashMap;

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

/// What a report is, as the index keeps it.
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
#[derive(Debug, Clone)]
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

    /// Runs `query`; `visibility` says what may be seen of each document.
    pub fn search(
        &self,
        query: &Query,
        mut visibility: impl FnMut(&Doc, &AgencyId) -> Visibility,
    ) -> Results {
        let hotline = query
            .hotline
            .as_ref()
            .and_then(|h| self.origins.iter().position(|o| o == h));
        if query.hotline.is_some() && hotline.is_none() {
            return Results {
                total: 0,
                page: Vec::new(),
                facets: Facets::default(),
            };
        }
        let wanted_class = query.classification.map(class_bit);
        let text = query.text.as_ref().map(|t| t.to_lowercase());
        let domain = query.domain.as_ref().map(|d| d.to_lowercase());
        let mut matches: Vec<(usize, ClassSet)> = Vec::new();
        for (index, doc) in self.docs.iter().enumerate() {
            if hotline.is_some_and(|h| usize::from(doc.origin) != h)
                || query.country.is_some_and(|c| doc.country != Some(c))
                || query.since.is_some_and(|t| doc.received_at < t)
                || query.until.is_some_and(|t| doc.received_at >= t)
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
            matches.push((index, visible));
        }
        let facets = self.facets(&matches);
        let total = matches.len() as u64;
        let limit = query.limit.clamp(1, MAX_RESULTS);
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
