//! The holder's side of a pull: the next page of a recipient's outbox, every record
//! re-authorized now with `authorize()`, each report with exactly the media items the
//! recipient may see, and the originators' certificates. Reading and judging the records is
//! spread over the cores; the page is then assembled in outbox order within its bounds.

use std::collections::BTreeMap;

use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::sync::{
    MAX_PAGE_CERTIFICATES, MAX_PAGE_ITEMS, PAGE_SOFT_LIMIT_BYTES, SyncItem, SyncPage,
};
use safeport_protocol::{AgencyId, RawRecord, RecordId, RecordType};

use super::{App, AppError};

/// Pages smaller than this are served on the calling thread.
const PARALLEL_SERVE_MIN_ITEMS: usize = 64;

/// One outbox entry, read and judged.
enum Served {
    /// The record is gone (withdrawn): skipped, the cursor moves past it.
    Gone,
    /// No longer authorized for the recipient: skipped, the cursor moves past it.
    Withheld,
    /// To be sent, with the media items disclosed (boxed: most entries of a page are these,
    /// and the enum stays small for the skipped ones).
    Disclosed(Box<(RawRecord, Vec<MediaItem>)>),
}

impl App {
    /// Reads and judges one outbox entry for `recipient`.
    fn serve_one(&self, recipient: &AgencyId, id: &RecordId) -> Result<Served, AppError> {
        let Some(raw) = self.store.record(id)? else {
            return Ok(Served::Gone);
        };
        let report = match raw.header().record_type {
            RecordType::Report => Some(raw.clone().into_typed::<Report>()?),
            _ => None,
        };
        let report_items = match &report {
            Some(report) => self.report_items(id, report.body())?,
            None => Vec::new(),
        };
        let context = report.as_ref().map(|r| (r.body(), report_items.as_slice()));
        Ok(match self.disclosure(&raw, recipient, context)? {
            Some(media) => Served::Disclosed(Box::new((raw, media))),
            None => Served::Withheld,
        })
    }

    /// Serves a pull from `recipient` (an admitted peer): the next page of its outbox after
    /// `after`, at most `limit` items and about [`PAGE_SOFT_LIMIT_BYTES`] of records.
    pub fn serve_pull(
        &self,
        recipient: &AgencyId,
        after: u64,
        limit: u32,
    ) -> Result<SyncPage, AppError> {
        let limit = limit.clamp(1, MAX_PAGE_ITEMS) as usize;
        let entries = self.store.outbox_page(recipient, after, limit)?;
        let head = self.store.outbox_head(recipient)?;
        let served = super::parallel::map_chunks(
            &entries,
            PARALLEL_SERVE_MIN_ITEMS,
            |part| {
                part.iter()
                    .map(|(_, id)| self.serve_one(recipient, id))
                    .collect()
            },
            || Err(AppError::Invalid("serving a page failed".into())),
        );
        let mut items = Vec::new();
        // Every certificate held of each originator: the receiver picks the one that signed
        // each record (after a key rotation, older records carry the earlier key).
        let mut certificates: BTreeMap<AgencyId, Vec<String>> = BTreeMap::new();
        let mut certificate_count = 0usize;
        let mut next_cursor = after;
        let mut bytes = 0usize;
        for ((position, _), served) in entries.iter().zip(served) {
            if bytes >= PAGE_SOFT_LIMIT_BYTES {
                break;
            }
            let (raw, media) = match served? {
                Served::Gone | Served::Withheld => {
                    // Skipped entries still advance the cursor.
                    next_cursor = *position;
                    continue;
                }
                Served::Disclosed(disclosed) => *disclosed,
            };
            let origin = raw.header().origin.clone();
            if let std::collections::btree_map::Entry::Vacant(entry) = certificates.entry(origin) {
                let held = self.store.agency_certificates(entry.key())?;
                if certificate_count + held.len() > MAX_PAGE_CERTIFICATES {
                    break;
                }
                certificate_count += held.len();
                // Certificates count towards the page's size like its records.
                bytes += held.iter().map(String::len).sum::<usize>();
                entry.insert(held);
            }
            next_cursor = *position;
            bytes += raw.bytes().len();
            items.push(SyncItem {
                position: *position,
                record: raw.bytes().to_vec(),
                media,
            });
        }
        Ok(SyncPage {
            items,
            certificates: certificates.into_values().flatten().collect(),
            next_cursor,
            more: next_cursor < head,
        })
    }
}
