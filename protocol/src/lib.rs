//! Safeport's protocol: everything two Safeport nodes must agree on to interoperate, and nothing
//! that touches the outside world (no I/O, no clock, no randomness source: callers pass time and
//! random bytes in).
//!
//! - [`ids`], [`hashes`]: validated identifiers and vocabulary.
//! - [`encoding`]: the canonical binary encoding every signature and id is computed over.
//! - [`keys`], [`signed`]: Ed25519 keys and signed record envelopes.
//! - [`report`], [`agreement`], [`withdrawal`], [`status`], [`hashlist`], [`iwol`]: the record
//!   types.
//! - [`authorize`](mod@authorize): the single default-deny gate for everything that leaves a node.
//! - [`pki`]: the federation's X.509 certificates and CRLs.
//! - [`sync`]: the messages peers exchange to pull records.
//! - [`package`]: intelligence packages' manifest, checksums and VICS hash set.

pub mod agreement;
pub mod authorize;
mod batch_equation;
pub mod encoding;
pub mod hashes;
pub mod hashlist;
pub mod ids;
pub mod iwol;
pub mod keys;
pub mod package;
pub mod pki;
pub mod report;
pub mod signed;
pub mod status;
pub mod sync;
pub mod withdrawal;

pub use authorize::{Decision, DenyReason, Request, Subject, authorize};
pub use ids::{AgencyId, Classification, Country, RecordId, Role, Timestamp};
pub use keys::{NodeKey, PublicKey, Signature};
pub use signed::{RawRecord, RecordBody, RecordHeader, RecordType, Signed};
