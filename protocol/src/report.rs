//! Report records: what a hotline learned about one reported URL, and its media items.
//!
//! Media items are *committed to*, not embedded: the signed [`Report`] lists one salted SHA-256
//! commitment per item, and the items travel beside the record. This lets a node disclose to each
//! recipient exactly the items `authorize()` grants (an LEA may see only the baseline items of a
//! report) while the originator's signature still covers every disclosed item. The per-item salt
//! stops a recipient from testing a withheld commitment against hashes of known material.
//! A new revision of a report (same `report_key`, higher `revision`) supersedes the earlier one.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::{self, EncodingError};
use crate::hashes::PdqHash;
use crate::ids::{Classification, Country, Timestamp};
use crate::signed::{RecordBody, RecordType};

/// Longest URL accepted in a report.
pub const MAX_URL_LEN: usize = 8 * 1024;
/// Most media items in one report.
pub const MAX_MEDIA_ITEMS: usize = 10_000;
/// Most redirects recorded for one report.
pub const MAX_REDIRECTS: usize = 20;
/// Most page headers recorded.
pub const MAX_HEADERS: usize = 64;
/// Longest short text field (title, header value, MIME type, analyst reference).
pub const MAX_TEXT_LEN: usize = 2 * 1024;

/// Domain-separation string of media item commitments.
pub const MEDIA_COMMITMENT_DOMAIN: &str = "safeport/media-item/v1";

/// How a report reached the hotline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntakeChannel {
    /// The hotline's public reporting form.
    PublicForm,
    /// Forwarded by another hotline.
    Hotline,
    /// Referred by an industry partner.
    Industry,
    /// Found by the hotline's own analysts.
    Proactive,
}

/// Where the reported content was hosted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hosting {
    /// The server's IP address at crawl time.
    pub ip: Option<IpAddr>,
    /// The hosting country (from the IP, or corrected by an analyst).
    pub country: Option<Country>,
}

/// What the crawler saw of the page itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMetadata {
    /// HTTP status of the final response.
    pub http_status: u16,
    /// Selected response headers as (lower-case name, value), in response order.
    pub headers: Vec<(String, String)>,
    /// The page title, if any.
    pub title: Option<String>,
    /// When the page was fetched.
    pub fetched_at: Timestamp,
}

/// A report about one reported URL. Signed as a record of type [`RecordType::Report`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Stable key of the report across revisions, chosen at intake (random).
    pub report_key: [u8; 16],
    /// Revision number; a higher revision of the same key supersedes lower ones.
    pub revision: u32,
    /// The URL as reported.
    pub reported_url: String,
    /// How and when the report came in.
    pub intake: IntakeChannel,
    /// When the hotline received the report.
    pub received_at: Timestamp,
    /// Redirects followed, in order, ending at the final URL.
    pub redirects: Vec<String>,
    /// Hosting IP and country, once known.
    pub hosting: Hosting,
    /// Page metadata, once crawled.
    pub page: Option<PageMetadata>,
    /// One commitment per media item, see [`MediaItem::commitment`].
    pub media: Vec<[u8; 32]>,
}

impl Report {
    /// The final URL after redirects (the reported URL when there were none).
    pub fn final_url(&self) -> &str {
        self.redirects.last().unwrap_or(&self.reported_url)
    }

    /// Checks that `item` is one of this report's committed items.
    pub fn commits_to(&self, item: &MediaItem) -> Result<bool, EncodingError> {
        let commitment = item.commitment()?;
        Ok(self.media.contains(&commitment))
    }

    /// Checks that `item` is one of this report's committed items, with the commitment the
    /// item already carries.
    pub fn lists(&self, item: &CommittedItem) -> bool {
        self.media.contains(&item.commitment)
    }
}

/// A media item with its canonical encoding and commitment, computed once: judging an item
/// (for each agreement), storing it and queueing its content all need the commitment, and
/// hashing the item again each time cost a receiving node 8% of its sync CPU. The fields are
/// private, so a `CommittedItem` always carries the commitment of its own item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedItem {
    item: MediaItem,
    encoded: Vec<u8>,
    commitment: [u8; 32],
}

impl CommittedItem {
    /// Encodes `item` and computes its commitment.
    pub fn new(item: MediaItem) -> Result<Self, EncodingError> {
        let (encoded, commitment) = item.encode_with_commitment()?;
        Ok(Self {
            item,
            encoded,
            commitment,
        })
    }

    /// The item.
    pub fn item(&self) -> &MediaItem {
        &self.item
    }

    /// Its canonical encoding (how it is stored).
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// Its commitment, as a report lists it.
    pub fn commitment(&self) -> &[u8; 32] {
        &self.commitment
    }

    /// The item, without its encoding.
    pub fn into_item(self) -> MediaItem {
        self.item
    }
}

fn check_text(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!(
            "{what} is {} bytes; the limit is {max}",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

fn check_url(what: &str, url: &str) -> Result<(), String> {
    check_text(what, url, MAX_URL_LEN)?;
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("{what} is not an http(s) URL"));
    }
    Ok(())
}

impl RecordBody for Report {
    const RECORD_TYPE: RecordType = RecordType::Report;
    const SCHEMA_VERSION: u16 = 1;

    fn validate(&self) -> Result<(), String> {
        check_url("reported URL", &self.reported_url)?;
        if self.redirects.len() > MAX_REDIRECTS {
            return Err(format!("more than {MAX_REDIRECTS} redirects"));
        }
        for url in &self.redirects {
            check_url("redirect URL", url)?;
        }
        if let Some(page) = &self.page {
            if page.headers.len() > MAX_HEADERS {
                return Err(format!("more than {MAX_HEADERS} headers"));
            }
            for (name, value) in &page.headers {
                check_text("header name", name, MAX_TEXT_LEN)?;
                check_text("header value", value, MAX_TEXT_LEN)?;
            }
            if let Some(title) = &page.title {
                check_text("page title", title, MAX_TEXT_LEN)?;
            }
        }
        if self.media.len() > MAX_MEDIA_ITEMS {
            return Err(format!("more than {MAX_MEDIA_ITEMS} media items"));
        }
        let mut sorted = self.media.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.media.len() {
            return Err("a media item is listed twice".into());
        }
        Ok(())
    }
}

/// Who or what classified a media item. Never a person's name: shared records carry only an
/// analyst reference that the hotline can resolve internally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Assessor {
    /// An analyst of the originating agency, by internal reference.
    Analyst(String),
    /// A hash-list entry matched the item.
    HashList {
        /// The list that matched.
        list_id: String,
        /// The list version that held the entry.
        version: u64,
    },
}

/// The verdict on one media item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// The classification.
    pub classification: Classification,
    /// Who classified it (none while unassessed).
    pub assessor: Option<Assessor>,
    /// When it was classified.
    pub assessed_at: Option<Timestamp>,
}

impl Assessment {
    /// An item nobody has assessed yet.
    pub fn unassessed() -> Self {
        Self {
            classification: Classification::Unassessed,
            assessor: None,
            assessed_at: None,
        }
    }
}

/// One image or video found on a reported page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaItem {
    /// Random salt that makes the commitment unguessable from the hashes.
    pub salt: [u8; 16],
    /// MD5 of the bytes.
    pub md5: [u8; 16],
    /// SHA-1 of the bytes.
    pub sha1: [u8; 20],
    /// SHA-256 of the bytes; also the blob address of the content.
    pub sha256: [u8; 32],
    /// PDQ hash with quality, for images.
    pub pdq: Option<PdqHash>,
    /// MIME type as detected.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Width and height in pixels, when known.
    pub dimensions: Option<(u32, u32)>,
    /// Where the item was fetched from.
    pub source_url: String,
    /// The current assessment.
    pub assessment: Assessment,
}

impl MediaItem {
    /// Checks the item's bounds.
    pub fn validate(&self) -> Result<(), String> {
        check_url("media source URL", &self.source_url)?;
        check_text("MIME type", &self.mime_type, MAX_TEXT_LEN)?;
        if let Some(Assessor::Analyst(reference)) = &self.assessment.assessor {
            check_text("analyst reference", reference, MAX_TEXT_LEN)?;
        }
        if let Some(Assessor::HashList { list_id, .. }) = &self.assessment.assessor {
            check_text("hash list id", list_id, MAX_TEXT_LEN)?;
        }
        Ok(())
    }

    /// The commitment listed in the report: SHA-256 over the domain string and the item's
    /// canonical encoding.
    pub fn commitment(&self) -> Result<[u8; 32], EncodingError> {
        Ok(self.encode_with_commitment()?.1)
    }

    /// The item's canonical encoding (how it is stored) and its commitment, from one encoding:
    /// the encoding of the pair `(domain, item)` is the domain's encoding followed by the
    /// item's, so the hash runs over both without encoding the item twice.
    pub fn encode_with_commitment(&self) -> Result<(Vec<u8>, [u8; 32]), EncodingError> {
        let encoded = encoding::encode(self)?;
        let commitment = Sha256::new()
            .chain_update(encoding::encode(MEDIA_COMMITMENT_DOMAIN)?)
            .chain_update(&encoded)
            .finalize()
            .into();
        Ok((encoded, commitment))
    }

    /// The item's classification.
    pub fn classification(&self) -> Classification {
        self.assessment.classification
    }
}
