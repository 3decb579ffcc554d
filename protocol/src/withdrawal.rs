//! Withdrawals: the originator of a record retracts it. Every holder that received the record
//! deletes it (with its media items) and keeps the withdrawal as a tombstone, so a late or
//! replayed copy of the record is refused. A withdrawal goes to exactly the agencies the
//! withdrawn record went to.

use serde::{Deserialize, Serialize};

use crate::ids::RecordId;
use crate::signed::{RecordBody, RecordType};

/// Longest withdrawal reason.
pub const MAX_WITHDRAWAL_REASON_LEN: usize = 1024;

/// The originator retracts `record`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// The withdrawn record (one of the originator's own).
    pub record: RecordId,
    /// Why, in words for the holders.
    pub reason: String,
}

impl RecordBody for Withdrawal {
    const RECORD_TYPE: RecordType = RecordType::Withdrawal;
    const SCHEMA_VERSION: u16 = 1;

    fn validate(&self) -> Result<(), String> {
        if self.reason.len() > MAX_WITHDRAWAL_REASON_LEN
            || self.reason.chars().any(char::is_control)
        {
            return Err(format!(
                "a withdrawal reason is at most {MAX_WITHDRAWAL_REASON_LEN} bytes of text"
            ));
        }
        Ok(())
    }
}
