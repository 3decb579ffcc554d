//! Portal accounts: local users with roles, Argon2id password hashes, an optional TOTP second
//! factor and a lockout after repeated failures. Accounts are managed by the node's operator
//! (`safeport-admin users add|disable|enable|reset|list`, through the admin API) and used by
//! the web portal's login. Every change and every login, refused or not, is audited.
//!
//! Passwords are never stored or logged: only their Argon2id hash (OWASP's parameters, the
//! `argon2` crate's defaults). A login for an unknown name still hashes, so the answer time does
//! not tell which names exist; every refusal looks the same to the person logging in.

use serde::{Deserialize, Serialize};

use super::audit::{Actor, AuditAction};
pub use super::credentials::totp_code_from_uri;
use super::credentials::{
    check_password, dummy_hash, generate_password, hash_password, password_matches, random_bytes,
    totp_for, totp_step,
};
use super::{App, AppError};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (bounds the hashing work an attacker can ask for).
pub const MAX_PASSWORD_BYTES: usize = 256;
/// Longest account name.
pub const MAX_NAME_CHARS: usize = 64;

/// What a user may do in the portal. A user holds one or more roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortalRole {
    /// Agreements, peers and sync status of the node.
    Admin,
    /// A hotline's analyst: the report queue, classification, IWOL suggestions.
    Analyst,
    /// A police investigator: searches, report details, packages.
    Investigator,
    /// INTERPOL's reviewer: IWOL review, the ICSE collection.
    Reviewer,
    /// Reads the audit trail, nothing else.
    Auditor,
}

impl PortalRole {
    /// Every role.
    pub const ALL: [PortalRole; 5] = [
        PortalRole::Admin,
        PortalRole::Analyst,
        PortalRole::Investigator,
        PortalRole::Reviewer,
        PortalRole::Auditor,
    ];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PortalRole::Admin => "admin",
            PortalRole::Analyst => "analyst",
            PortalRole::Investigator => "investigator",
            PortalRole::Reviewer => "reviewer",
            PortalRole::Auditor => "auditor",
        }
    }

    /// Parses a role name.
    pub fn parse(text: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == text.trim())
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "unknown role {text:?}; roles are admin, analyst, investigator, reviewer, auditor"
                ))
            })
    }
}

/// An account as stored (JSON in the `users` table).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredAccount {
    name: String,
    roles: Vec<PortalRole>,
    /// PHC string of the Argon2id hash.
    password_hash: String,
    /// The TOTP secret (raw bytes as hex), when the second factor is on.
    totp_secret: Option<String>,
    /// The last TOTP step accepted, so a code is used once.
    totp_last_step: u64,
    disabled: bool,
    failed_logins: u32,
    /// Milliseconds since the epoch until which logins are refused.
    locked_until: u64,
    created_at: u64,
    password_set_at: u64,
    last_login_at: Option<u64>,
}

/// An account as shown to the operator (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    /// Login name.
    pub name: String,
    /// Roles held.
    pub roles: Vec<PortalRole>,
    /// Whether a TOTP second factor is required.
    pub totp: bool,
    /// Whether logins are refused for good (until enabled again).
    pub disabled: bool,
    /// Until when logins are refused after repeated failures (ms since the epoch), if now.
    pub locked_until: Option<u64>,
    /// Failed logins since the last success or lockout.
    pub failed_logins: u32,
    /// Last successful login (ms since the epoch).
    pub last_login_at: Option<u64>,
}

/// A user logged in: who, with which roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalUser {
    /// Login name.
    pub name: String,
    /// Roles held.
    pub roles: Vec<PortalRole>,
}

impl PortalUser {
    /// Whether the user holds `role`.
    pub fn has(&self, role: PortalRole) -> bool {
        self.roles.contains(&role)
    }

    /// The actor named in audit entries.
    pub fn actor(&self) -> Result<Actor, AppError> {
        Actor::named(&format!("user:{}", self.name))
    }
}

/// Credentials handed out once, when an account is added or reset.
#[derive(Debug, Clone, Serialize)]
pub struct NewCredentials {
    /// Login name.
    pub name: String,
    /// The password (generated unless the operator gave one).
    pub password: String,
    /// The `otpauth://` URI to enrol an authenticator app, when TOTP is on.
    pub totp_uri: Option<String>,
}

/// The lockout rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock an account.
    pub max_failed_logins: u32,
    /// How long a locked account refuses logins, in milliseconds.
    pub lockout_ms: u64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failed_logins: 5,
            lockout_ms: 15 * 60 * 1000,
        }
    }
}

/// A login attempt.
#[derive(Debug, Clone, Copy)]
pub struct LoginAttempt<'a> {
    /// Login name as typed.
    pub name: &'a str,
    /// Password as typed.
    pub password: &'a str,
    /// The TOTP code, if one was typed.
    pub totp_code: Option<&'a str>,
}

/// Why a login was refused. The portal shows every refusal the same way; the reason goes to
/// the log and the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// No such account (or the name is not a valid name).
    UnknownName,
    /// The password does not match.
    WrongPassword,
    /// The account has a second factor and the code is missing, wrong or already used.
    WrongSecondFactor,
    /// The operator disabled the account.
    Disabled,
    /// Too many failures; refused until the lockout ends.
    Locked,
}

impl LoginRefusal {
    /// A short name for logs and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginRefusal::UnknownName => "unknown-name",
            LoginRefusal::WrongPassword => "wrong-password",
            LoginRefusal::WrongSecondFactor => "wrong-second-factor",
            LoginRefusal::Disabled => "disabled",
            LoginRefusal::Locked => "locked",
        }
    }
}

/// The result of a login attempt that the store could record.
pub type LoginResult = Result<PortalUser, LoginRefusal>;

/// A valid account name: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "an account name is 1 to {MAX_NAME_CHARS} of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )))
    }
}

impl StoredAccount {
    fn view(&self, now: u64) -> AccountView {
        AccountView {
            name: self.name.clone(),
            roles: self.roles.clone(),
            totp: self.totp_secret.is_some(),
            disabled: self.disabled,
            locked_until: Some(self.locked_until).filter(|until| *until > now),
            failed_logins: self.failed_logins,
            last_login_at: self.last_login_at,
        }
    }

    fn credentials(&self, password: String) -> Result<NewCredentials, AppError> {
        let totp_uri = match &self.totp_secret {
            Some(secret) => Some(totp_for(&self.name, secret)?.get_url()),
            None => None,
        };
        Ok(NewCredentials {
            name: self.name.clone(),
            password,
            totp_uri,
        })
    }
}

fn check_roles(roles: &[PortalRole]) -> Result<Vec<PortalRole>, AppError> {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err(AppError::Invalid(
            "an account needs at least one role".into(),
        ));
    }
    Ok(roles)
}

impl App {
    fn read_account(&self, name: &str) -> Result<Option<StoredAccount>, AppError> {
        let Some(bytes) = self.store.user(name)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AppError::Invalid(format!("stored account {name:?} is unreadable: {e}")))
    }

    fn write_account(&self, account: &StoredAccount, create: bool) -> Result<(), AppError> {
        let bytes = serde_json::to_vec(account)
            .map_err(|e| AppError::Invalid(format!("account encoding: {e}")))?;
        if self.store.put_user(&account.name, &bytes, create)? {
            Ok(())
        } else if create {
            Err(AppError::Invalid(format!(
                "account {:?} exists",
                account.name
            )))
        } else {
            Err(AppError::NotFound)
        }
    }

    /// Adds an account; the password is generated unless given. Audited.
    pub fn add_user(
        &self,
        by: &Actor,
        name: &str,
        roles: &[PortalRole],
        with_totp: bool,
        password: Option<&str>,
    ) -> Result<NewCredentials, AppError> {
        check_name(name)?;
        let roles = check_roles(roles)?;
        let password = match password {
            Some(given) => given.to_owned(),
            None => generate_password()?,
        };
        check_password(&password)?;
        let now = self.now().0;
        let account = StoredAccount {
            name: name.to_owned(),
            roles,
            password_hash: hash_password(&password)?,
            totp_secret: if with_totp {
                Some(hex::encode(random_bytes::<20>()?))
            } else {
                None
            },
            totp_last_step: 0,
            disabled: false,
            failed_logins: 0,
            locked_until: 0,
            created_at: now,
            password_set_at: now,
            last_login_at: None,
        };
        let credentials = account.credentials(password)?;
        let _serial = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if self.store.user(name)?.is_some() {
            return Err(AppError::Invalid(format!("account {name:?} exists")));
        }
        let roles: Vec<&str> = account.roles.iter().map(|r| r.as_str()).collect();
        self.audit(
            by,
            AuditAction::AccountChange,
            &format!("add {name} roles={} totp={with_totp}", roles.join(",")),
            None,
            None,
        )?;
        self.write_account(&account, true)?;
        Ok(credentials)
    }

    /// Disables (`enabled = false`) or enables an account. Audited. A disabled account's
    /// sessions end at their next request (the portal re-reads the account every time).
    pub fn set_user_enabled(&self, by: &Actor, name: &str, enabled: bool) -> Result<(), AppError> {
        let _serial = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let mut account = self.read_account(name)?.ok_or(AppError::NotFound)?;
        account.disabled = !enabled;
        let what = if enabled { "enable" } else { "disable" };
        self.audit(
            by,
            AuditAction::AccountChange,
            &format!("{what} {name}"),
            None,
            None,
        )?;
        self.write_account(&account, false)
    }

    /// Sets a new password (generated unless given), clears the lockout and, with
    /// `new_totp`, enrols a new second factor (`Some(false)` removes it). Audited.
    pub fn reset_user(
        &self,
        by: &Actor,
        name: &str,
        password: Option<&str>,
        new_totp: Option<bool>,
    ) -> Result<NewCredentials, AppError> {
        let password = match password {
            Some(given) => given.to_owned(),
            None => generate_password()?,
        };
        check_password(&password)?;
        let hash = hash_password(&password)?;
        let _serial = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let mut account = self.read_account(name)?.ok_or(AppError::NotFound)?;
        account.password_hash = hash;
        account.password_set_at = self.now().0;
        account.failed_logins = 0;
        account.locked_until = 0;
        match new_totp {
            Some(true) => {
                account.totp_secret = Some(hex::encode(random_bytes::<20>()?));
                account.totp_last_step = 0;
            }
            Some(false) => account.totp_secret = None,
            None => {}
        }
        self.audit(
            by,
            AuditAction::AccountChange,
            &format!("reset {name} totp={}", account.totp_secret.is_some()),
            None,
            None,
        )?;
        self.write_account(&account, false)?;
        account.credentials(password)
    }

    /// Every account, without secrets.
    pub fn users(&self) -> Result<Vec<AccountView>, AppError> {
        let now = self.now().0;
        let mut out = Vec::new();
        for (name, _) in self.store.users()? {
            if let Some(account) = self.read_account(&name)? {
                out.push(account.view(now));
            }
        }
        Ok(out)
    }

    /// The account behind a session, if it still exists and is enabled (the portal asks at
    /// every request, so disabling or changing roles takes effect at once).
    pub fn portal_user(&self, name: &str) -> Result<Option<PortalUser>, AppError> {
        Ok(self
            .read_account(name)?
            .filter(|account| !account.disabled)
            .map(|account| PortalUser {
                name: account.name,
                roles: account.roles,
            }))
    }

    /// Checks a login. Success and every refusal of an existing account are audited;
    /// failures count towards the lockout, success resets the count.
    pub fn login(
        &self,
        attempt: LoginAttempt<'_>,
        policy: LockoutPolicy,
    ) -> Result<LoginResult, AppError> {
        let name = attempt.name.trim();
        let stored = if check_name(name).is_ok() && attempt.password.len() <= MAX_PASSWORD_BYTES {
            self.read_account(name)?
        } else {
            None
        };
        let Some(stored) = stored else {
            // Same work as for a real account, so timing does not tell names apart.
            let _ = password_matches(dummy_hash(), attempt.password);
            tracing::info!(reason = "unknown-name", "portal login refused");
            return Ok(Err(LoginRefusal::UnknownName));
        };
        // The expensive check runs without the lock; the bookkeeping below re-reads.
        let password_ok = password_matches(&stored.password_hash, attempt.password);
        let now = self.now().0;
        let _serial = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let mut account = self.read_account(name)?.ok_or(AppError::NotFound)?;
        let refusal = if account.disabled {
            Some(LoginRefusal::Disabled)
        } else if account.locked_until > now {
            Some(LoginRefusal::Locked)
        } else if !password_ok || account.password_hash != stored.password_hash {
            Some(LoginRefusal::WrongPassword)
        } else if let Some(secret) = &account.totp_secret {
            let totp = totp_for(name, secret)?;
            match attempt
                .totp_code
                .and_then(|code| totp_step(&totp, code, now / 1000, account.totp_last_step))
            {
                Some(step) => {
                    account.totp_last_step = step;
                    None
                }
                None => Some(LoginRefusal::WrongSecondFactor),
            }
        } else {
            None
        };
        let actor = Actor::named(&format!("user:{name}"))?;
        match refusal {
            None => {
                account.failed_logins = 0;
                account.locked_until = 0;
                account.last_login_at = Some(now);
                self.audit(&actor, AuditAction::Login, "portal", None, None)?;
                self.write_account(&account, false)?;
                tracing::info!(user = name, "portal login");
                Ok(Ok(PortalUser {
                    name: account.name,
                    roles: account.roles,
                }))
            }
            Some(refusal) => {
                let mut target = format!("portal: {}", refusal.as_str());
                if matches!(
                    refusal,
                    LoginRefusal::WrongPassword | LoginRefusal::WrongSecondFactor
                ) {
                    account.failed_logins = account.failed_logins.saturating_add(1);
                    if account.failed_logins >= policy.max_failed_logins.max(1) {
                        account.failed_logins = 0;
                        account.locked_until = now.saturating_add(policy.lockout_ms);
                        target.push_str("; account locked");
                    }
                    self.write_account(&account, false)?;
                }
                self.audit(&actor, AuditAction::LoginFailed, &target, None, None)?;
                tracing::warn!(
                    user = name,
                    reason = refusal.as_str(),
                    "portal login refused"
                );
                Ok(Err(refusal))
            }
        }
    }
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
