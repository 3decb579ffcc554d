//! Server-side portal sessions: a random 256-bit id in a `__Host-` cookie, looked up by its
//! SHA-256 (the table never holds a usable id), with an idle and an absolute timeout, a CSRF
//! token per session, and at most one revealed media item. Sessions live in memory: a restart
//! logs everyone out, which is the safe direction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// The session cookie's name. `__Host-` makes the browser insist on Secure, Path=/ and no
/// Domain, so no other host or path can set or shadow it.
pub const SESSION_COOKIE: &str = "__Host-safeport-session";
/// The login form's double-submit cookie (CSRF protection before a session exists).
pub const LOGIN_COOKIE: &str = "__Host-safeport-login";
/// How long a reveal shows the unblurred picture, in milliseconds.
pub const REVEAL_MS: u64 = 5 * 60 * 1000;

/// The time in milliseconds since the epoch; injectable so tests move it.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| crate::identity::system_now().0)
}

/// One logged-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The account's name.
    pub user: String,
    /// The token every state-changing form must carry.
    pub csrf: String,
    /// When the session began.
    pub created_at: u64,
    /// The last request.
    pub last_seen: u64,
    /// The one media item revealed (SHA-256) and until when.
    pub revealed: Option<([u8; 32], u64)>,
}

/// The timeouts and bound of the session table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Idle timeout in milliseconds.
    pub idle_ms: u64,
    /// Absolute timeout in milliseconds.
    pub absolute_ms: u64,
    /// Most sessions held.
    pub max_sessions: usize,
}

/// The session table.
pub struct Sessions {
    table: Mutex<HashMap<[u8; 32], Session>>,
    policy: SessionPolicy,
    clock: Clock,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// 32 random bytes as hex.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two secrets without telling how much of them matched.
pub fn same_secret(a: &str, b: &str) -> bool {
    // Comparing digests makes the time independent of the lengths too.
    let (a, b) = (key(a), key(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl Sessions {
    /// An empty table.
    pub fn new(policy: SessionPolicy, clock: Clock) -> Self {
        Self {
            table: Mutex::new(HashMap::new()),
            policy,
            clock,
        }
    }

    /// The time now.
    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic while holding the lock leaves at worst a stale session, which the timeouts end.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn live(&self, session: &Session, now: u64) -> bool {
        now.saturating_sub(session.last_seen) < self.policy.idle_ms
            && now.saturating_sub(session.created_at) < self.policy.absolute_ms
    }

    /// Begins a session for `user` (always a new id: a session id is never carried over a
    /// login). Returns the cookie value and the session. When the table is full, expired
    /// sessions go first, then the oldest.
    pub fn create(&self, user: &str) -> Result<(String, Session), getrandom::Error> {
        let token = random_token()?;
        let now = self.now();
        let session = Session {
            user: user.to_owned(),
            csrf: random_token()?,
            created_at: now,
            last_seen: now,
            revealed: None,
        };
        let mut table = self.table();
        if table.len() >= self.policy.max_sessions {
            table.retain(|_, s| self.live(s, now));
        }
        while table.len() >= self.policy.max_sessions {
            let Some(oldest) = table
                .iter()
                .min_by_key(|(_, s)| s.created_at)
                .map(|(k, _)| *k)
            else {
                break;
            };
            table.remove(&oldest);
        }
        table.insert(key(&token), session.clone());
        Ok((token, session))
    }

    /// The live session with this cookie value, marked as used now; an expired one is removed.
    pub fn touch(&self, token: &str) -> Option<Session> {
        let now = self.now();
        let mut table = self.table();
        let k = key(token);
        let session = table.get_mut(&k)?;
        if !self.live(session, now) {
            table.remove(&k);
            return None;
        }
        session.last_seen = now;
        if session.revealed.is_some_and(|(_, until)| until <= now) {
            session.revealed = None;
        }
        Some(session.clone())
    }

    /// Ends a session (logout); `false` when there was none.
    pub fn end(&self, token: &str) -> bool {
        self.table().remove(&key(token)).is_some()
    }

    /// Ends every session of `user` (the account was disabled or reset).
    pub fn end_user(&self, user: &str) {
        self.table().retain(|_, s| s.user != user);
    }

    /// Reveals one media item in this session for [`REVEAL_MS`], hiding the one revealed
    /// before; `false` when the session is gone.
    pub fn reveal(&self, token: &str, sha256: [u8; 32]) -> bool {
        let until = self.now().saturating_add(REVEAL_MS);
        match self.table().get_mut(&key(token)) {
            Some(session) => {
                session.revealed = Some((sha256, until));
                true
            }
            None => false,
        }
    }

    /// Sessions held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn table(max: usize) -> (Sessions, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1_000_000));
        let clock = Arc::clone(&now);
        let sessions = Sessions::new(
            SessionPolicy {
                idle_ms: 1_000,
                absolute_ms: 5_000,
                max_sessions: max,
            },
            Arc::new(move || clock.load(Ordering::SeqCst)),
        );
        (sessions, now)
    }

    #[test]
    fn sessions_end_when_idle_too_long_or_too_old_and_at_logout() {
        let (sessions, now) = table(10);
        let (token, session) = sessions.create("ana").unwrap();
        assert_eq!(token.len(), 64);
        assert_ne!(session.csrf, token);
        for _ in 0..5 {
            now.fetch_add(900, Ordering::SeqCst);
            assert!(sessions.touch(&token).is_some(), "activity keeps it alive");
        }
        // Active (900 ms since the last request) but 5,400 ms old.
        now.fetch_add(900, Ordering::SeqCst);
        assert!(sessions.touch(&token).is_none(), "absolute timeout");
        let (token, _) = sessions.create("ana").unwrap();
        now.fetch_add(1_000, Ordering::SeqCst);
        assert!(sessions.touch(&token).is_none(), "idle timeout");
        assert!(sessions.is_empty(), "expired sessions are removed");
        let (token, _) = sessions.create("ana").unwrap();
        assert!(sessions.end(&token));
        assert!(sessions.touch(&token).is_none());
        assert!(sessions.touch("not-a-session").is_none());
    }

    #[test]
    fn the_table_is_bounded_and_reveals_are_one_at_a_time() {
        let (sessions, now) = table(2);
        let (first, _) = sessions.create("a").unwrap();
        now.fetch_add(1, Ordering::SeqCst);
        let (second, _) = sessions.create("b").unwrap();
        now.fetch_add(1, Ordering::SeqCst);
        let (third, _) = sessions.create("c").unwrap();
        assert_eq!(sessions.len(), 2);
        assert!(sessions.touch(&first).is_none(), "the oldest made room");
        assert!(sessions.reveal(&second, [1; 32]));
        assert!(sessions.reveal(&second, [2; 32]));
        assert_eq!(
            sessions.touch(&second).unwrap().revealed.unwrap().0,
            [2; 32]
        );
        sessions.end_user("c");
        assert!(sessions.touch(&third).is_none());
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd"));
    }
}
