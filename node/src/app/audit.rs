//! Who consulted or disclosed what, when and why: every audited operation appends an entry to
//! the hash-chained log (`store::audit`) before its result is returned, and fails when the
//! entry cannot be written. Operations that need a purpose or case reference refuse to run
//! without one.

use super::{App, AppError};
use crate::store::audit::{AuditEntry, AuditRecord, AuditVerification};

/// Longest actor name, purpose or target text kept in an entry.
pub const MAX_AUDIT_TEXT: usize = 512;

/// Who acts: a user of the node (the web portal's accounts), or the holder of the admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// The admin API's token holder, when no user name is given.
    pub fn admin() -> Self {
        Self("admin-token".into())
    }

    /// A named actor: 1 to 128 printable characters.
    pub fn named(name: &str) -> Result<Self, AppError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(AppError::Invalid(
                "an actor name is 1 to 128 printable characters".into(),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A search over the reports held.
    Search,
    /// A report's details.
    ViewReport,
    /// A media item's details (hashes, where else it occurs).
    ViewMedia,
    /// A media item's content.
    MediaContent,
    /// An agency's details.
    ViewAgency,
    /// An intelligence package composed and handed out.
    Package,
    /// An agreement proposed.
    AgreementPropose,
    /// An agreement accepted.
    AgreementAccept,
    /// An agreement revoked.
    AgreementRevoke,
    /// A user logged in.
    Login,
    /// The audit log itself exported.
    AuditExport,
    /// A backup of the node's data written (it holds everything the node holds).
    Backup,
    /// A portal login refused (wrong password or second factor, disabled or locked account).
    LoginFailed,
    /// A user logged out.
    Logout,
    /// A portal account added, disabled, enabled or reset.
    AccountChange,
    /// A media item's picture revealed in the portal (unblurred, for classification or review).
    RevealMedia,
}

impl AuditAction {
    /// The name stored in entries.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Search => "search",
            AuditAction::ViewReport => "view-report",
            AuditAction::ViewMedia => "view-media",
            AuditAction::MediaContent => "media-content",
            AuditAction::ViewAgency => "view-agency",
            AuditAction::Package => "package",
            AuditAction::AgreementPropose => "agreement-propose",
            AuditAction::AgreementAccept => "agreement-accept",
            AuditAction::AgreementRevoke => "agreement-revoke",
            AuditAction::Login => "login",
            AuditAction::AuditExport => "audit-export",
            AuditAction::Backup => "backup",
            AuditAction::LoginFailed => "login-failed",
            AuditAction::Logout => "logout",
            AuditAction::AccountChange => "account-change",
            AuditAction::RevealMedia => "reveal-media",
        }
    }

    /// Whether the action is refused without a stated purpose or case reference (disclosures
    /// of content and packages leave the analyst's screen).
    pub fn needs_purpose(self) -> bool {
        matches!(self, AuditAction::MediaContent | AuditAction::Package)
    }
}

fn bounded(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > MAX_AUDIT_TEXT {
        let mut end = MAX_AUDIT_TEXT;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

impl App {
    /// Records an operation; the caller goes on only if this succeeded.
    pub fn audit(
        &self,
        actor: &Actor,
        action: AuditAction,
        target: &str,
        purpose: Option<&str>,
        recipient: Option<&str>,
    ) -> Result<AuditEntry, AppError> {
        let purpose = purpose.map(str::trim).filter(|p| !p.is_empty());
        if action.needs_purpose() && purpose.is_none() {
            return Err(AppError::Invalid(format!(
                "{} needs a stated purpose or case reference",
                action.as_str()
            )));
        }
        Ok(self.store.append_audit(AuditRecord {
            at: self.now(),
            actor: bounded(actor.as_str()),
            action: action.as_str().to_owned(),
            target: bounded(target),
            purpose: purpose.map(bounded),
            recipient: recipient.map(bounded),
        })?)
    }

    /// Entries after sequence `after`, oldest first.
    pub fn audit_entries(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, AppError> {
        Ok(self.store.audit_entries(after, limit)?)
    }

    /// Checks the whole chain.
    pub fn verify_audit(&self) -> Result<AuditVerification, AppError> {
        Ok(self.store.verify_audit()?)
    }
}

/// An entry as the API shows and exports it.
pub fn entry_json(entry: &AuditEntry) -> serde_json::Value {
    let record = &entry.record;
    serde_json::json!({
        "seq": entry.seq,
        "at": record.at.to_string(),
        "at_ms": record.at.0,
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "purpose": record.purpose,
        "recipient": record.recipient,
        "prev": hex::encode(entry.prev),
        "hash": hex::encode(entry.hash),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use safeport_protocol::Role;

    use super::*;
    use crate::app::test_support::{agency, test_root};

    #[test]
    fn disclosures_need_a_purpose_and_every_entry_names_its_actor() {
        let (root_key, root_pem) = test_root(203);
        let police = agency(&root_key, &root_pem, "nl-police", Role::Lea, "NL", 41);
        let app = &police.app;
        let actor = Actor::named(" investigator-7 ").unwrap();
        assert!(Actor::named("").is_err());
        assert!(Actor::named("a\nb").is_err());
        for action in [AuditAction::MediaContent, AuditAction::Package] {
            let refused = app.audit(&actor, action, "item", Some("  "), None);
            assert!(matches!(refused, Err(AppError::Invalid(m)) if m.contains("purpose")));
        }
        assert!(
            app.audit_entries(0, 10).unwrap().is_empty(),
            "a refusal writes nothing"
        );
        app.audit(&actor, AuditAction::Search, "country=NL", None, None)
            .unwrap();
        let long = "x".repeat(MAX_AUDIT_TEXT * 2);
        app.audit(
            &Actor::admin(),
            AuditAction::Package,
            &long,
            Some("case 7"),
            Some("court"),
        )
        .unwrap();
        let entries = app.audit_entries(0, 10).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].record.actor, "investigator-7");
        assert_eq!(entries[0].record.action, "search");
        assert_eq!(entries[1].record.actor, "admin-token");
        assert_eq!(entries[1].record.target.len(), MAX_AUDIT_TEXT);
        assert_eq!(entry_json(&entries[1])["recipient"], "court");
        assert_eq!(app.verify_audit().unwrap().entries, 2);
    }
}
