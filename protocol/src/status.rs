//! Report status: what the hotline a report was forwarded to did about it (notice sent,
//! content removed, …). Signed by that hotline and sent back to the report's originator only,
//! under the forwarding agreement the report came by; the originator shows it with the report.

use serde::{Deserialize, Serialize};

use crate::ids::AgencyId;
use crate::signed::{RecordBody, RecordType};

/// Longest note on a status.
pub const MAX_NOTE_LEN: usize = 2048;

/// Where notice and takedown stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TakedownStatus {
    /// The hosting provider was notified.
    NoticeSent,
    /// The content is no longer online.
    ContentRemoved,
    /// The content is still online after the notice.
    ContentStillOnline,
    /// Passed to the police of the hosting country.
    PassedToPolice,
}

impl TakedownStatus {
    /// All statuses.
    pub const ALL: [TakedownStatus; 4] = [
        TakedownStatus::NoticeSent,
        TakedownStatus::ContentRemoved,
        TakedownStatus::ContentStillOnline,
        TakedownStatus::PassedToPolice,
    ];

    /// The name used in APIs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            TakedownStatus::NoticeSent => "notice-sent",
            TakedownStatus::ContentRemoved => "content-removed",
            TakedownStatus::ContentStillOnline => "content-still-online",
            TakedownStatus::PassedToPolice => "passed-to-police",
        }
    }

    /// Parses [`TakedownStatus::as_str`] names.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A status of a forwarded report, by the hotline that handles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportStatus {
    /// The report's originator (the only recipient of this record).
    pub report_origin: AgencyId,
    /// The report's key.
    pub report_key: [u8; 16],
    /// The status.
    pub status: TakedownStatus,
    /// A short note for the originating hotline.
    pub note: Option<String>,
}

impl RecordBody for ReportStatus {
    const RECORD_TYPE: RecordType = RecordType::ReportStatus;
    const SCHEMA_VERSION: u16 = 1;

    fn validate(&self) -> Result<(), String> {
        if let Some(note) = &self.note
            && (note.len() > MAX_NOTE_LEN || note.chars().any(|c| c.is_control() && c != '\n'))
        {
            return Err(format!(
                "a status note is at most {MAX_NOTE_LEN} bytes of text"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_notes_are_bounded() {
        for status in TakedownStatus::ALL {
            assert_eq!(TakedownStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TakedownStatus::parse("gone"), None);
        let mut status = ReportStatus {
            report_origin: AgencyId::new("nl-hotline").unwrap_or_else(|_| unreachable!()),
            report_key: [1; 16],
            status: TakedownStatus::NoticeSent,
            note: Some("sent to the host's abuse desk".into()),
        };
        assert_eq!(status.validate(), Ok(()));
        status.note = Some("x".repeat(MAX_NOTE_LEN + 1));
        assert!(status.validate().is_err());
    }
}
