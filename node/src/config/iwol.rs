//! `[iwol]`: how this node writes the IWOL for its country's ISPs: the RPZ zone's name, what a
//! listed name answers (a stop page's name, or NXDOMAIN), the TTL, and the token file that
//! lets ISPs' resolvers fetch the exports from the public listener.

use std::path::PathBuf;

use safeport_protocol::iwol::Domain;
use safeport_protocol::iwol::export::{RpzAction, RpzOptions};
use serde::Deserialize;

use super::ConfigError;

/// Longest TTL of the policy records (a day): ISPs pick up a delisting within it.
const MAX_TTL: u32 = 86_400;

/// `[iwol]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IwolSection {
    /// The RPZ zone's origin.
    pub rpz_zone: Domain,
    /// The stop page's name; `None` answers NXDOMAIN.
    pub stop_page: Option<Domain>,
    /// TTL of the policy records, in seconds.
    pub rpz_ttl: u32,
    /// File holding the bearer token ISPs use for `GET /iwol/{format}` on the public
    /// listener; without it that feed is off.
    pub feed_token_file: Option<PathBuf>,
}

impl Default for IwolSection {
    fn default() -> Self {
        Self {
            rpz_zone: Domain::normalise("iwol.rpz").unwrap_or_else(|_| unreachable!()),
            stop_page: None,
            rpz_ttl: 300,
            feed_token_file: None,
        }
    }
}

impl IwolSection {
    /// The RPZ options these settings give.
    pub fn rpz(&self) -> RpzOptions {
        RpzOptions {
            zone: self.rpz_zone.clone(),
            action: match &self.stop_page {
                Some(name) => RpzAction::StopPage(name.clone()),
                None => RpzAction::NxDomain,
            },
            ttl: self.rpz_ttl,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIwol {
    rpz_zone: Option<String>,
    stop_page: Option<String>,
    rpz_ttl: Option<u32>,
    feed_token_file: Option<PathBuf>,
}

/// Applies `[iwol]` over the defaults; `resolve` anchors paths.
pub(super) fn iwol(
    raw: RawIwol,
    invalid: &dyn Fn(&'static str, &str) -> ConfigError,
    resolve: &dyn Fn(&'static str, PathBuf) -> Result<PathBuf, ConfigError>,
) -> Result<IwolSection, ConfigError> {
    let mut section = IwolSection::default();
    if let Some(zone) = raw.rpz_zone {
        section.rpz_zone =
            Domain::normalise(&zone).map_err(|e| invalid("iwol.rpz_zone", &e.to_string()))?;
    }
    if let Some(name) = raw.stop_page {
        section.stop_page =
            Some(Domain::normalise(&name).map_err(|e| invalid("iwol.stop_page", &e.to_string()))?);
    }
    if let Some(ttl) = raw.rpz_ttl {
        if ttl == 0 || ttl > MAX_TTL {
            return Err(invalid(
                "iwol.rpz_ttl",
                &format!("must be between 1 and {MAX_TTL}"),
            ));
        }
        section.rpz_ttl = ttl;
    }
    if let Some(path) = raw.feed_token_file {
        section.feed_token_file = Some(resolve("iwol.feed_token_file", path)?);
    }
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
    fn iwol_settings_are_normalised_and_checked() {
        let config =
            load("[iwol]\nrpz_zone = \"IWOL.rpz.Example.\"\nstop_page = \"stop.example\"\n")
                .unwrap();
        assert_eq!(config.iwol.rpz_zone.as_str(), "iwol.rpz.example");
        assert_eq!(config.iwol.stop_page.unwrap().as_str(), "stop.example");
        for (text, key) in [
            ("[iwol]\nrpz_zone = \"*.rpz\"\n", "iwol.rpz_zone"),
            ("[iwol]\nstop_page = \"192.0.2.1\"\n", "iwol.stop_page"),
            ("[iwol]\nrpz_ttl = 0\n", "iwol.rpz_ttl"),
        ] {
            let error = load(text).unwrap_err();
            assert!(error.contains(key), "{text}: {error}");
        }
        assert!(load("[iwol]\nserial = 3\n").unwrap_err().contains("serial"));
    }
}
