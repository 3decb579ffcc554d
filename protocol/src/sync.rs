//! Sync messages exchanged between admitted peers on `/safeport/sync/1`.
//!
//! Sync is pull with a push hint: the holder keeps an outbox per recipient (positions 1, 2, …);
//! the recipient pulls pages after its cursor, and the holder sends a [`SyncRequest::Nudge`]
//! when new records enter the recipient's outbox. Every request names the recipient it is for,
//! so a request (or a replayed one) can never be answered for another agency. Pages carry the
//! certificates of the records' originators, so a receiver can verify records it did not get
//! from their originator.

use serde::{Deserialize, Serialize};

use crate::encoding::{self, EncodingError, byte_vec};
use crate::ids::{AgencyId, RecordId};
use crate::report::MediaItem;

/// Largest encoded sync message (request or response) accepted: 8 MiB.
pub const MAX_SYNC_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Most items one page may carry.
pub const MAX_PAGE_ITEMS: u32 = 500;
/// A holder stops adding items to a page once its records reach this many bytes, so a page
/// stays well inside [`MAX_SYNC_MESSAGE_BYTES`] (one record may be up to 4 MiB on its own).
pub const PAGE_SOFT_LIMIT_BYTES: usize = 2 * 1024 * 1024;
/// Most certificates one page may carry.
pub const MAX_PAGE_CERTIFICATES: usize = 64;
/// Largest piece of media content in one [`SyncResponse::Blob`]: 4 MiB.
pub const BLOB_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// A request from one admitted peer to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// "Send me the records of my outbox after position `after`."
    Pull {
        /// The agency pulling; must be the admitted peer that sends the request.
        recipient: AgencyId,
        /// The last outbox position the recipient has stored.
        after: u64,
        /// How many items at most (capped at [`MAX_PAGE_ITEMS`]).
        limit: u32,
    },
    /// "Your outbox at my node has grown to `head`; pull when you can."
    Nudge {
        /// The agency whose outbox grew (the receiver of this message).
        recipient: AgencyId,
        /// The newest outbox position.
        head: u64,
    },
    /// "Send me the content of this media item of this report, from `offset`." Answered only
    /// when an agreement grants the sender the item's content.
    Blob {
        /// The report record the item belongs to.
        record: RecordId,
        /// The item's commitment in that report.
        commitment: [u8; 32],
        /// Where the requested piece starts.
        offset: u64,
    },
}

/// A piece of a media item's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobChunk {
    /// The content's whole size.
    pub total: u64,
    /// Where this piece starts.
    pub offset: u64,
    /// The piece, at most [`BLOB_CHUNK_BYTES`].
    #[serde(with = "byte_vec")]
    pub bytes: Vec<u8>,
}

/// One record in a page, with the media items disclosed to this recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncItem {
    /// The item's outbox position.
    pub position: u64,
    /// The signed record, exactly as its originator signed it.
    #[serde(with = "byte_vec")]
    pub record: Vec<u8>,
    /// Media items of a report that the recipient may see (each committed in the report).
    pub media: Vec<MediaItem>,
}

/// A page of a recipient's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPage {
    /// The items, in position order.
    pub items: Vec<SyncItem>,
    /// Certificates (PEM) of the originators of the page's records.
    pub certificates: Vec<String>,
    /// The position the recipient's cursor moves to once it stored this page (covers items
    /// the holder skipped because they are no longer authorized).
    pub next_cursor: u64,
    /// Whether more items follow.
    pub more: bool,
}

/// A response to a [`SyncRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// A page, for [`SyncRequest::Pull`].
    Page(SyncPage),
    /// Acknowledged, for [`SyncRequest::Nudge`].
    Ack,
    /// The request was refused, with a reason safe to show the peer.
    Refused(String),
    /// A piece of media content, for [`SyncRequest::Blob`].
    Blob(BlobChunk),
}

impl SyncRequest {
    /// Canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>, EncodingError> {
        encoding::encode(self)
    }

    /// Canonical decoding, bounded by [`MAX_SYNC_MESSAGE_BYTES`].
    pub fn decode(bytes: &[u8]) -> Result<Self, EncodingError> {
        encoding::decode(bytes, MAX_SYNC_MESSAGE_BYTES)
    }
}

impl SyncResponse {
    /// Canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>, EncodingError> {
        encoding::encode(self)
    }

    /// Decoding bounded by [`MAX_SYNC_MESSAGE_BYTES`]; also checks the page bounds. A response
    /// is an envelope ([`encoding::decode_envelope`]): the records in a page are decoded
    /// canonically one by one, and its media items are re-encoded before they are hashed or
    /// stored, so the page itself is not re-encoded.
    pub fn decode(bytes: &[u8]) -> Result<Self, EncodingError> {
        let response: Self = encoding::decode_envelope(bytes, MAX_SYNC_MESSAGE_BYTES)?;
        if let SyncResponse::Page(page) = &response {
            let too_many = page.items.len() > MAX_PAGE_ITEMS as usize
                || page.certificates.len() > MAX_PAGE_CERTIFICATES;
            let unordered = page
                .items
                .windows(2)
                .any(|pair| pair[0].position >= pair[1].position);
            let cursor_behind = page
                .items
                .last()
                .is_some_and(|last| page.next_cursor < last.position);
            if too_many || unordered || cursor_behind {
                return Err(EncodingError::Malformed(
                    "sync page out of bounds or out of order".into(),
                ));
            }
        }
        if let SyncResponse::Blob(chunk) = &response {
            let end = chunk.offset.checked_add(chunk.bytes.len() as u64);
            if chunk.bytes.len() > BLOB_CHUNK_BYTES || end.is_none_or(|end| end > chunk.total) {
                return Err(EncodingError::Malformed("blob chunk out of bounds".into()));
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agency() -> AgencyId {
        AgencyId::new("nl-police").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn messages_round_trip_and_pages_are_checked() {
        let request = SyncRequest::Pull {
            recipient: agency(),
            after: 7,
            limit: 100,
        };
        assert_eq!(
            SyncRequest::decode(&request.encode().unwrap_or_default()),
            Ok(request)
        );
        let item = |position| SyncItem {
            position,
            record: vec![1, 2, 3],
            media: vec![],
        };
        let good = SyncResponse::Page(SyncPage {
            items: vec![item(1), item(2)],
            certificates: vec![],
            next_cursor: 5,
            more: false,
        });
        assert_eq!(
            SyncResponse::decode(&good.encode().unwrap_or_default()),
            Ok(good)
        );
        let unordered = SyncResponse::Page(SyncPage {
            items: vec![item(2), item(1)],
            certificates: vec![],
            next_cursor: 5,
            more: false,
        });
        assert!(SyncResponse::decode(&unordered.encode().unwrap_or_default()).is_err());
        let behind = SyncResponse::Page(SyncPage {
            items: vec![item(4)],
            certificates: vec![],
            next_cursor: 3,
            more: false,
        });
        assert!(SyncResponse::decode(&behind.encode().unwrap_or_default()).is_err());

        let chunk = |total, offset, len| {
            SyncResponse::Blob(BlobChunk {
                total,
                offset,
                bytes: vec![7; len],
            })
        };
        let fine = chunk(10, 4, 6);
        assert_eq!(
            SyncResponse::decode(&fine.encode().unwrap_or_default()),
            Ok(fine)
        );
        for bad in [chunk(10, 5, 6), chunk(u64::MAX, u64::MAX, 1)] {
            assert!(SyncResponse::decode(&bad.encode().unwrap_or_default()).is_err());
        }
    }
}
