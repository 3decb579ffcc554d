//! `[crawler]` and `[hotline]`: how a hotline's node crawls reported pages and where it keeps
//! what it finds. Parsed like the rest of the config: every key optional, unknown keys refused,
//! every bound explicit and checked.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::crawler::CrawlerSettings;

/// Upper bounds an operator cannot exceed (protect the node from its own config).
const MAX_MEDIA_BYTES: u64 = 1024 * 1024 * 1024;
const MAX_PAGE_BYTES: u64 = 64 * 1024 * 1024;
const MAX_MEDIA_ITEMS: usize = 10_000;
const MAX_CONCURRENCY: usize = 64;
const MAX_REDIRECTS: usize = 20;
const MAX_TIMEOUT_SECS: u64 = 600;

/// `[hotline]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotlineSection {
    /// Directory of the encrypted media blob store.
    pub blob_dir: PathBuf,
    /// A MaxMind-format database for hosting countries (preferred when set).
    pub geo_maxmind_db: Option<PathBuf>,
    /// A CIDR table (`prefix,CC` per line) for hosting countries.
    pub geo_cidr_table: Option<PathBuf>,
    /// A local hash list (CSV `algorithm,value,category`) that classifies known items
    /// automatically.
    pub local_hash_list: Option<PathBuf>,
}

impl HotlineSection {
    /// Defaults under a data directory.
    pub fn defaults_for(data_dir: &std::path::Path) -> Self {
        Self {
            blob_dir: data_dir.join("blobs"),
            geo_maxmind_db: None,
            geo_cidr_table: None,
            local_hash_list: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCrawler {
    user_agent: Option<String>,
    max_page_bytes: Option<u64>,
    max_media_bytes: Option<u64>,
    max_media_items: Option<usize>,
    max_redirects: Option<usize>,
    fetch_timeout_secs: Option<u64>,
    connect_timeout_secs: Option<u64>,
    concurrent_crawls: Option<usize>,
    concurrent_fetches: Option<usize>,
    allow_private_addresses: Option<bool>,
    accept_invalid_certificates: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHotline {
    blob_dir: Option<PathBuf>,
    geo_maxmind_db: Option<PathBuf>,
    geo_cidr_table: Option<PathBuf>,
    local_hash_list: Option<PathBuf>,
}

/// `value` if it lies in `1..=max`, else the config error for `key`.
fn bounded<T: PartialOrd + Default + std::fmt::Display + Copy>(
    key: &'static str,
    value: T,
    max: T,
    invalid: &dyn Fn(&'static str, &str) -> ConfigError,
) -> Result<T, ConfigError> {
    if value <= T::default() || value > max {
        return Err(invalid(key, &format!("must be between 1 and {max}")));
    }
    Ok(value)
}

/// Applies `[crawler]` over the defaults.
pub(super) fn crawler(
    raw: RawCrawler,
    invalid: &dyn Fn(&'static str, &str) -> ConfigError,
) -> Result<CrawlerSettings, ConfigError> {
    let mut settings = CrawlerSettings::default();
    if let Some(agent) = raw.user_agent {
        if agent.is_empty() || agent.len() > 256 || agent.chars().any(char::is_control) {
            return Err(invalid(
                "crawler.user_agent",
                "must be 1 to 256 printable characters",
            ));
        }
        settings.user_agent = agent;
    }
    if let Some(v) = raw.max_page_bytes {
        settings.max_page_bytes = bounded("crawler.max_page_bytes", v, MAX_PAGE_BYTES, invalid)?;
    }
    if let Some(v) = raw.max_media_bytes {
        settings.max_media_bytes = bounded("crawler.max_media_bytes", v, MAX_MEDIA_BYTES, invalid)?;
    }
    if let Some(v) = raw.max_media_items {
        settings.max_media_items = bounded("crawler.max_media_items", v, MAX_MEDIA_ITEMS, invalid)?;
    }
    if let Some(v) = raw.max_redirects {
        if v > MAX_REDIRECTS {
            return Err(invalid(
                "crawler.max_redirects",
                &format!("at most {MAX_REDIRECTS}"),
            ));
        }
        settings.max_redirects = v;
    }
    if let Some(v) = raw.fetch_timeout_secs {
        let secs = bounded("crawler.fetch_timeout_secs", v, MAX_TIMEOUT_SECS, invalid)?;
        settings.fetch_timeout = Duration::from_secs(secs);
    }
    if let Some(v) = raw.connect_timeout_secs {
        let secs = bounded("crawler.connect_timeout_secs", v, MAX_TIMEOUT_SECS, invalid)?;
        settings.connect_timeout = Duration::from_secs(secs);
    }
    if let Some(v) = raw.concurrent_crawls {
        settings.concurrent_crawls =
            bounded("crawler.concurrent_crawls", v, MAX_CONCURRENCY, invalid)?;
    }
    if let Some(v) = raw.concurrent_fetches {
        settings.concurrent_fetches =
            bounded("crawler.concurrent_fetches", v, MAX_CONCURRENCY, invalid)?;
    }
    if let Some(v) = raw.allow_private_addresses {
        settings.allow_private_addresses = v;
    }
    if let Some(v) = raw.accept_invalid_certificates {
        settings.accept_invalid_certificates = v;
    }
    Ok(settings)
}

/// Applies `[hotline]` over the defaults; `resolve` anchors paths.
pub(super) fn hotline(
    raw: RawHotline,
    defaults: HotlineSection,
    resolve: &dyn Fn(&'static str, PathBuf) -> Result<PathBuf, ConfigError>,
) -> Result<HotlineSection, ConfigError> {
    let mut section = defaults;
    if let Some(p) = raw.blob_dir {
        section.blob_dir = resolve("hotline.blob_dir", p)?;
    }
    if let Some(p) = raw.geo_maxmind_db {
        section.geo_maxmind_db = Some(resolve("hotline.geo_maxmind_db", p)?);
    }
    if let Some(p) = raw.geo_cidr_table {
        section.geo_cidr_table = Some(resolve("hotline.geo_cidr_table", p)?);
    }
    if let Some(p) = raw.local_hash_list {
        section.local_hash_list = Some(resolve("hotline.local_hash_list", p)?);
    }
    Ok(section)
}

#[cfg(test)]
mod tests {
    use crate::config::NodeConfig;

    fn load(text: &str) -> Result<NodeConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, text).unwrap();
        NodeConfig::load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn crawler_bounds_are_checked_and_named() {
        let config =
            load("[crawler]\nmax_media_items = 5\nallow_private_addresses = true\n").unwrap();
        assert_eq!(config.crawler.max_media_items, 5);
        assert!(config.crawler.allow_private_addresses);
        for (text, key) in [
            (
                "[crawler]\nmax_media_items = 0\n",
                "crawler.max_media_items",
            ),
            (
                "[crawler]\nmax_media_bytes = 99999999999\n",
                "crawler.max_media_bytes",
            ),
            (
                "[crawler]\nfetch_timeout_secs = 0\n",
                "crawler.fetch_timeout_secs",
            ),
            ("[crawler]\nuser_agent = \"\"\n", "crawler.user_agent"),
            ("[crawler]\nmax_redirects = 50\n", "crawler.max_redirects"),
            ("[hotline]\nblob_dir = \"\"\n", "hotline.blob_dir"),
        ] {
            let error = load(text).unwrap_err();
            assert!(error.contains(key), "{text}: {error}");
        }
        assert!(
            load("[crawler]\nspeed = 3\n")
                .unwrap_err()
                .contains("speed")
        );
    }
}
