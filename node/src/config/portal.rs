//! `[portal]`: the web portal's listener, TLS, session timeouts and login lockout. Without a
//! certificate and key the portal serves plain HTTP and must listen on loopback (a reverse
//! proxy or an SSH tunnel in front); an address reachable from elsewhere needs TLS.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// Default portal port.
pub const DEFAULT_PORTAL_PORT: u16 = 8472;
/// Longest idle timeout accepted (a working day).
const MAX_IDLE_MINUTES: u64 = 8 * 60;
/// Longest absolute session lifetime accepted.
const MAX_ABSOLUTE_HOURS: u64 = 24;
/// Most concurrent sessions accepted as a setting.
const MAX_SESSIONS_LIMIT: usize = 100_000;

/// `[portal]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSection {
    /// Serve the portal at all.
    pub enabled: bool,
    /// Listen address (port 0 picks a free port). Loopback unless TLS is configured.
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM); with `tls_key`, the portal serves HTTPS (and HSTS).
    pub tls_certificate: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// A session ends after this long without a request.
    pub idle_timeout_minutes: u64,
    /// A session ends this long after login, active or not.
    pub absolute_timeout_hours: u64,
    /// Consecutive failed logins that lock an account.
    pub max_failed_logins: u32,
    /// How long a locked account refuses logins.
    pub lockout_minutes: u64,
    /// Most sessions held at once (the oldest ends when a new one would exceed it).
    pub max_sessions: usize,
}

impl Default for PortalSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORTAL_PORT)),
            tls_certificate: None,
            tls_key: None,
            idle_timeout_minutes: 30,
            absolute_timeout_hours: 12,
            max_failed_logins: 5,
            lockout_minutes: 15,
            max_sessions: 10_000,
        }
    }
}

impl PortalSection {
    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_minutes * 60)
    }

    /// The absolute timeout.
    pub fn absolute_timeout(&self) -> Duration {
        Duration::from_secs(self.absolute_timeout_hours * 3600)
    }

    /// Whether the portal serves HTTPS.
    pub fn tls(&self) -> bool {
        self.tls_certificate.is_some()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPortal {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
    tls_certificate: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    idle_timeout_minutes: Option<u64>,
    absolute_timeout_hours: Option<u64>,
    max_failed_logins: Option<u32>,
    lockout_minutes: Option<u64>,
    max_sessions: Option<usize>,
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    value: Option<T>,
    key: &'static str,
    min: T,
    max: T,
    invalid: &dyn Fn(&'static str, &str) -> ConfigError,
) -> Result<Option<T>, ConfigError> {
    match value {
        Some(v) if v < min || v > max => {
            Err(invalid(key, &format!("must be between {min} and {max}")))
        }
        other => Ok(other),
    }
}

/// Applies `[portal]` over the defaults; `resolve` anchors paths.
pub(super) fn portal(
    raw: RawPortal,
    invalid: &dyn Fn(&'static str, &str) -> ConfigError,
    resolve: &dyn Fn(&'static str, PathBuf) -> Result<PathBuf, ConfigError>,
) -> Result<PortalSection, ConfigError> {
    let mut section = PortalSection::default();
    section.enabled = raw.enabled.unwrap_or(section.enabled);
    section.listen = raw.listen.unwrap_or(section.listen);
    section.tls_certificate = raw
        .tls_certificate
        .map(|p| resolve("portal.tls_certificate", p))
        .transpose()?;
    section.tls_key = raw
        .tls_key
        .map(|p| resolve("portal.tls_key", p))
        .transpose()?;
    if section.tls_certificate.is_some() != section.tls_key.is_some() {
        return Err(invalid(
            "portal.tls_key",
            "tls_certificate and tls_key are set together",
        ));
    }
    if section.enabled && !section.tls() && !section.listen.ip().is_loopback() {
        return Err(invalid(
            "portal.listen",
            "without tls_certificate and tls_key the portal listens on loopback only",
        ));
    }
    let idle = in_range(
        raw.idle_timeout_minutes,
        "portal.idle_timeout_minutes",
        1,
        MAX_IDLE_MINUTES,
        invalid,
    )?;
    section.idle_timeout_minutes = idle.unwrap_or(section.idle_timeout_minutes);
    let absolute = in_range(
        raw.absolute_timeout_hours,
        "portal.absolute_timeout_hours",
        1,
        MAX_ABSOLUTE_HOURS,
        invalid,
    )?;
    section.absolute_timeout_hours = absolute.unwrap_or(section.absolute_timeout_hours);
    let failures = in_range(
        raw.max_failed_logins,
        "portal.max_failed_logins",
        1,
        100,
        invalid,
    )?;
    section.max_failed_logins = failures.unwrap_or(section.max_failed_logins);
    let lockout = in_range(
        raw.lockout_minutes,
        "portal.lockout_minutes",
        1,
        24 * 60,
        invalid,
    )?;
    section.lockout_minutes = lockout.unwrap_or(section.lockout_minutes);
    let sessions = in_range(
        raw.max_sessions,
        "portal.max_sessions",
        1,
        MAX_SESSIONS_LIMIT,
        invalid,
    )?;
    section.max_sessions = sessions.unwrap_or(section.max_sessions);
    Ok(section)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::config::NodeConfig;

    fn load(text: &str) -> Result<NodeConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, text).unwrap();
        NodeConfig::load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn the_portal_needs_tls_off_loopback_and_bounded_timeouts() {
        let config = load("[portal]\nidle_timeout_minutes = 10\n").unwrap();
        assert_eq!(config.portal.idle_timeout_minutes, 10);
        assert!(config.portal.listen.ip().is_loopback());
        let tls = load(
            "[portal]\nlisten = \"0.0.0.0:8443\"\ntls_certificate = \"c.pem\"\ntls_key = \"k.pem\"\n",
        )
        .unwrap();
        assert!(tls.portal.tls());
        for (text, key) in [
            ("[portal]\nlisten = \"0.0.0.0:8443\"\n", "portal.listen"),
            ("[portal]\ntls_certificate = \"c.pem\"\n", "portal.tls_key"),
            (
                "[portal]\nidle_timeout_minutes = 0\n",
                "portal.idle_timeout_minutes",
            ),
            (
                "[portal]\nabsolute_timeout_hours = 25\n",
                "portal.absolute_timeout_hours",
            ),
            (
                "[portal]\nmax_failed_logins = 0\n",
                "portal.max_failed_logins",
            ),
            ("[portal]\nsession = 1\n", "session"),
        ] {
            let error = load(text).unwrap_err();
            assert!(error.contains(key), "{text}: {error}");
        }
        // Off, the loopback rule does not apply.
        assert!(load("[portal]\nenabled = false\nlisten = \"0.0.0.0:1\"\n").is_ok());
    }
}
