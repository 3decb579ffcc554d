//! Signed record envelopes: the only form in which a record crosses a node boundary.
//!
//! Wire form (canonical, see [`crate::encoding`]):
//! `Envelope { format, header { record_type, schema_version, origin, sequence, created_at },
//! body: bytes, signature }`. The signature is Ed25519 by the origin's node key over the
//! canonical encoding of `(DOMAIN, format, header, body)`, so it binds a domain-separation
//! string and the record type: a signature lifted from one record type never verifies as
//! another, nor as any other Safeport signature (agreement terms, certificates). The record id
//! is the SHA-256 of the complete signed encoding.
//!
//! [`RawRecord`] handles any record without decoding its body (relaying, storage);
//! [`Signed<T>`] is a raw record whose body decoded canonically as `T`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::{self, EncodingError, MAX_RECORD_BYTES, byte_vec};
use crate::ids::{AgencyId, RecordId, Timestamp};
use crate::keys::{
    BatchItem, KeyError, NodeKey, PreparedKey, PublicKey, Signature, verify_batch_strict,
};

/// Domain-separation string of record signatures.
pub const RECORD_SIGNATURE_DOMAIN: &str = "safeport/record-signature/v1";

/// The envelope format this code writes and the only one it reads.
pub const ENVELOPE_FORMAT: u8 = 1;

/// The type tag of a record. Encoded by position: new types are only ever appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RecordType {
    /// A hotline report with its media items (see [`crate::report`]).
    Report,
    /// An agreement between two agencies (see [`crate::agreement`]).
    Agreement,
    /// One party ends an agreement (see [`crate::agreement::AgreementRevocation`]).
    AgreementRevocation,
    /// The originator retracts one of its records (see [`crate::withdrawal::Withdrawal`]).
    Withdrawal,
    /// A version of a hash list (baseline or national) that INTERPOL publishes to subscribers.
    HashList,
    /// A version of INTERPOL's "Worst Of" domain list (IWOL) published to subscribers.
    Iwol,
    /// What the hotline a report was forwarded to did about it (see [`crate::status`]).
    ReportStatus,
    /// A domain suggested for the IWOL, or a confirmation of one (see [`crate::iwol`]).
    IwolSuggestion,
    /// INTERPOL's decision on an IWOL suggestion (see [`crate::iwol`]).
    IwolDecision,
}

impl RecordType {
    /// All record types, in tag order.
    pub const ALL: [RecordType; 9] = [
        RecordType::Report,
        RecordType::Agreement,
        RecordType::AgreementRevocation,
        RecordType::Withdrawal,
        RecordType::HashList,
        RecordType::Iwol,
        RecordType::ReportStatus,
        RecordType::IwolSuggestion,
        RecordType::IwolDecision,
    ];

    /// The lower-case name used in APIs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Report => "report",
            RecordType::Agreement => "agreement",
            RecordType::AgreementRevocation => "agreement-revocation",
            RecordType::Withdrawal => "withdrawal",
            RecordType::HashList => "hash-list",
            RecordType::Iwol => "iwol",
            RecordType::ReportStatus => "report-status",
            RecordType::IwolSuggestion => "iwol-suggestion",
            RecordType::IwolDecision => "iwol-decision",
        }
    }
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The envelope or body is not canonical, is truncated, oversize or malformed.
    #[error("record encoding: {0}")]
    Encoding(#[from] EncodingError),
    /// An envelope format this node does not know.
    #[error("unknown envelope format {0} (this node reads format {ENVELOPE_FORMAT})")]
    UnknownFormat(u8),
    /// A schema version of the body this node does not know.
    #[error("unknown schema version {found} for {record_type:?} records (supported: {supported})")]
    UnknownSchemaVersion {
        /// The record's type.
        record_type: RecordType,
        /// The version found in the header.
        found: u16,
        /// The version this code reads.
        supported: u16,
    },
    /// The header names another type than the one expected.
    #[error("expected a {expected:?} record, found {found:?}")]
    WrongType {
        /// The type the caller asked for.
        expected: RecordType,
        /// The type in the header.
        found: RecordType,
    },
    /// The body decoded but breaks a rule of its type.
    #[error("invalid record body: {0}")]
    Invalid(String),
    /// The signature does not verify under the origin's key.
    #[error("record signature does not verify under the origin's key")]
    BadSignature,
}

impl From<KeyError> for RecordError {
    fn from(_: KeyError) -> Self {
        RecordError::BadSignature
    }
}

/// A record body type: fixes its type tag and schema version, and validates itself.
pub trait RecordBody: Serialize + DeserializeOwned + Clone {
    /// The type tag written in the header.
    const RECORD_TYPE: RecordType;
    /// The body schema version this code writes and reads.
    const SCHEMA_VERSION: u16;
    /// Checks rules that the type system does not (bounds, ordering, consistency).
    fn validate(&self) -> Result<(), String>;
}

/// The signed header of every record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordHeader {
    /// What the body is.
    pub record_type: RecordType,
    /// Which schema version of that type the body follows.
    pub schema_version: u16,
    /// The agency whose node created and signed the record.
    pub origin: AgencyId,
    /// Per-origin sequence number, strictly increasing on the origin node.
    pub sequence: u64,
    /// When the origin created the record.
    pub created_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: u8,
    header: RecordHeader,
    #[serde(with = "byte_vec")]
    body: Vec<u8>,
    signature: Signature,
}

#[derive(Serialize)]
struct SignedPart<'a> {
    domain: &'a str,
    format: u8,
    header: &'a RecordHeader,
    #[serde(with = "byte_vec")]
    body: &'a [u8],
}

fn signing_preimage(header: &RecordHeader, body: &[u8]) -> Result<Vec<u8>, EncodingError> {
    encoding::encode(&SignedPart {
        domain: RECORD_SIGNATURE_DOMAIN,
        format: ENVELOPE_FORMAT,
        header,
        body,
    })
}

/// A signed record whose body has not been decoded: enough to verify, store and relay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    header: RecordHeader,
    body: Vec<u8>,
    signature: Signature,
    bytes: Vec<u8>,
    id: RecordId,
}

impl RawRecord {
    /// Decodes an envelope canonically (at most [`MAX_RECORD_BYTES`]). Does not verify the
    /// signature: the origin's key comes from its certificate, which the caller looks up.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        // Read the format byte first so an unknown format gets its own error.
        if let Some(&format) = bytes.first()
            && format != ENVELOPE_FORMAT
        {
            return Err(RecordError::UnknownFormat(format));
        }
        let envelope: Envelope = encoding::decode(bytes, MAX_RECORD_BYTES)?;
        Ok(Self {
            header: envelope.header,
            body: envelope.body,
            signature: envelope.signature,
            id: record_id(bytes),
            bytes: bytes.to_vec(),
        })
    }

    /// Verifies the origin's signature strictly.
    pub fn verify(&self, origin_key: &PublicKey) -> Result<(), RecordError> {
        self.verify_prepared(&origin_key.prepare()?)
    }

    /// [`RawRecord::verify`] with a key prepared once for many records of one origin.
    pub fn verify_prepared(&self, origin_key: &PreparedKey) -> Result<(), RecordError> {
        let preimage = signing_preimage(&self.header, &self.body)?;
        origin_key.verify(&preimage, &self.signature)?;
        Ok(())
    }

    /// The signed header.
    pub fn header(&self) -> &RecordHeader {
        &self.header
    }

    /// The encoded body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The complete signed encoding.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The record id (SHA-256 of [`RawRecord::bytes`]).
    pub fn id(&self) -> RecordId {
        self.id
    }

    /// Decodes the body as `T` after checking type tag and schema version.
    pub fn into_typed<T: RecordBody>(self) -> Result<Signed<T>, RecordError> {
        if self.header.record_type != T::RECORD_TYPE {
            return Err(RecordError::WrongType {
                expected: T::RECORD_TYPE,
                found: self.header.record_type,
            });
        }
        if self.header.schema_version != T::SCHEMA_VERSION {
            return Err(RecordError::UnknownSchemaVersion {
                record_type: T::RECORD_TYPE,
                found: self.header.schema_version,
                supported: T::SCHEMA_VERSION,
            });
        }
        let body: T = encoding::decode(&self.body, MAX_RECORD_BYTES)?;
        body.validate().map_err(RecordError::Invalid)?;
        Ok(Signed { raw: self, body })
    }
}

/// Verifies the origin signatures of many records at once (see
/// [`verify_batch_strict`](crate::keys::verify_batch_strict)). `Err` means at least one does
/// not verify; [`RawRecord::verify_prepared`] tells which.
pub fn verify_records_batch(records: &[(&RawRecord, &PreparedKey)]) -> Result<(), RecordError> {
    let preimages = records
        .iter()
        .map(|(raw, _)| signing_preimage(&raw.header, &raw.body))
        .collect::<Result<Vec<_>, _>>()?;
    let items: Vec<BatchItem<'_>> = records
        .iter()
        .zip(&preimages)
        .map(|((raw, key), preimage)| BatchItem {
            key,
            message: preimage,
            signature: &raw.signature,
        })
        .collect();
    verify_batch_strict(&items)?;
    Ok(())
}

/// The record id of a signed encoding.
pub fn record_id(signed_bytes: &[u8]) -> RecordId {
    RecordId(Sha256::digest(signed_bytes).into())
}

/// A signed record with a decoded, validated body of type `T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    raw: RawRecord,
    body: T,
}

impl<T: RecordBody> Signed<T> {
    /// Validates and signs a body as a record of `origin`.
    pub fn sign(
        key: &NodeKey,
        origin: AgencyId,
        sequence: u64,
        created_at: Timestamp,
        body: T,
    ) -> Result<Self, RecordError> {
        body.validate().map_err(RecordError::Invalid)?;
        let header = RecordHeader {
            record_type: T::RECORD_TYPE,
            schema_version: T::SCHEMA_VERSION,
            origin,
            sequence,
            created_at,
        };
        let body_bytes = encoding::encode(&body)?;
        let signature = key.sign(&signing_preimage(&header, &body_bytes)?);
        let envelope = Envelope {
            format: ENVELOPE_FORMAT,
            header,
            body: body_bytes,
            signature,
        };
        let bytes = encoding::encode(&envelope)?;
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(EncodingError::Oversize {
                len: bytes.len(),
                max: MAX_RECORD_BYTES,
            }
            .into());
        }
        Ok(Self {
            raw: RawRecord {
                header: envelope.header,
                body: envelope.body,
                signature,
                id: record_id(&bytes),
                bytes,
            },
            body,
        })
    }

    /// Decodes a record of type `T` (see [`RawRecord::decode`]); the signature is not checked.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        RawRecord::decode(bytes)?.into_typed()
    }

    /// Decodes and verifies against the origin's key in one step.
    pub fn decode_verified(bytes: &[u8], origin_key: &PublicKey) -> Result<Self, RecordError> {
        let record = Self::decode(bytes)?;
        record.verify(origin_key)?;
        Ok(record)
    }

    /// Verifies the origin's signature strictly.
    pub fn verify(&self, origin_key: &PublicKey) -> Result<(), RecordError> {
        self.raw.verify(origin_key)
    }

    /// The decoded body.
    pub fn body(&self) -> &T {
        &self.body
    }

    /// The signed header.
    pub fn header(&self) -> &RecordHeader {
        &self.raw.header
    }

    /// The complete signed encoding.
    pub fn bytes(&self) -> &[u8] {
        &self.raw.bytes
    }

    /// The record id.
    pub fn id(&self) -> RecordId {
        self.raw.id
    }

    /// The undecoded form, for storage and relaying.
    pub fn raw(&self) -> &RawRecord {
        &self.raw
    }
}
