//! Node configuration: one TOML file with safe defaults.
//!
//! The file is parsed into private `Raw*` structs that mirror it exactly (every field optional,
//! unknown keys rejected) and then resolved into [`NodeConfig`], in which every path is final:
//! relative paths are anchored at the config file's directory and unset paths derive from
//! `node.data_dir`. The documented example lives in `deploy/node.example.toml`.
//!
//! There is intentionally no setting that disables verification.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

mod hotline;
mod iwol;
mod portal;
pub use hotline::HotlineSection;
pub use iwol::IwolSection;
pub use portal::{DEFAULT_PORTAL_PORT, PortalSection};

use crate::crawler::CrawlerSettings;
use crate::metrics::MetricsSection;

/// Default data directory name.
pub const DEFAULT_DATA_DIR: &str = "safeport-data";
/// Default HTTP listen port.
pub const DEFAULT_HTTP_PORT: u16 = 8470;
/// Default request body limit (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default request timeout in seconds.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
/// Default admin API port.
pub const DEFAULT_ADMIN_PORT: u16 = 8471;
/// Default federation (libp2p) TCP port.
pub const DEFAULT_NET_PORT: u16 = 4470;
/// Most listen addresses accepted in `[net] listen`.
pub const MAX_NET_LISTEN: usize = 16;

fn default_net_listen() -> libp2p::Multiaddr {
    libp2p::Multiaddr::empty()
        .with(libp2p::multiaddr::Protocol::Ip4(Ipv4Addr::UNSPECIFIED))
        .with(libp2p::multiaddr::Protocol::Tcp(DEFAULT_NET_PORT))
}

/// Default log filter.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// A configuration that could not be loaded. Messages name the file and, for syntax errors and
/// unknown keys, the position and the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema (unknown key, wrong type).
    #[error("invalid config file {}{}: {message}", path.display(), position(*line, *column))]
    Parse {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
        /// The parser's message (names the offending key).
        message: String,
    },
    /// A value is well-formed but not acceptable.
    #[error("invalid config file {}: {key}: {message}", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The offending option, as `section.key`.
        key: &'static str,
        /// Why it is not acceptable.
        message: String,
    },
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
        _ => String::new(),
    }
}

/// The complete, resolved node configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// `[node]`: storage and key material.
    pub node: NodeSection,
    /// `[federation]`: trust anchors.
    pub federation: FederationSection,
    /// `[http]`: the HTTP API listener.
    pub http: HttpSection,
    /// `[log]`: logging.
    pub log: LogSection,
    /// `[net]`: the federation network.
    pub net: NetSection,
    /// `[admin]`: the token-protected admin API.
    pub admin: AdminSection,
    /// `[crawler]`: how reported pages are fetched.
    pub crawler: CrawlerSettings,
    /// `[hotline]`: blob store, geo source, local hash list.
    pub hotline: HotlineSection,
    /// `[iwol]`: the IWOL exports for ISPs.
    pub iwol: IwolSection,
    /// `[metrics]`: the Prometheus scrape endpoint (off unless set).
    pub metrics: MetricsSection,
    /// `[portal]`: the web portal.
    pub portal: PortalSection,
}

/// `[net]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSection {
    /// libp2p listen addresses (multiaddrs), e.g. `/ip4/0.0.0.0/tcp/4470`.
    pub listen: Vec<libp2p::Multiaddr>,
    /// Whether the QUIC transport is enabled besides TCP.
    pub enable_quic: bool,
}

/// `[admin]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSection {
    /// Listen address of the admin API (loopback unless you know why not).
    pub listen: SocketAddr,
    /// File holding the admin API's bearer token; created (0600) on first start.
    pub token_file: PathBuf,
}

/// `[node]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSection {
    /// Directory for the database and key material.
    pub data_dir: PathBuf,
    /// The node's private key file.
    pub key_file: PathBuf,
    /// The node's certificate file.
    pub certificate: PathBuf,
}

/// `[federation]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationSection {
    /// Trusted federation root certificates.
    pub roots: Vec<PathBuf>,
    /// Certificate revocation list, if configured.
    pub crl: Option<PathBuf>,
    /// Run with a local development federation instead of issued certificates.
    pub development: bool,
}

/// `[http]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSection {
    /// Listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Maximum time to handle one request, in seconds.
    pub request_timeout_secs: u64,
}

impl HttpSection {
    /// [`HttpSection::request_timeout_secs`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// `[log]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSection {
    /// Output format.
    pub format: LogFormat,
    /// Filter in `tracing_subscriber::EnvFilter` syntax.
    pub filter: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    node: RawNode,
    #[serde(default)]
    federation: RawFederation,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    net: RawNet,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    crawler: hotline::RawCrawler,
    #[serde(default)]
    hotline: hotline::RawHotline,
    #[serde(default)]
    iwol: iwol::RawIwol,
    #[serde(default)]
    metrics: MetricsSection,
    #[serde(default)]
    portal: portal::RawPortal,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNet {
    listen: Option<Vec<String>>,
    enable_quic: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Option<SocketAddr>,
    token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    data_dir: Option<PathBuf>,
    key_file: Option<PathBuf>,
    certificate: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFederation {
    roots: Option<Vec<PathBuf>>,
    crl: Option<PathBuf>,
    development: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<SocketAddr>,
    max_body_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<LogFormat>,
    filter: Option<String>,
}

impl NodeConfig {
    /// The defaults for a given data directory, as a config file that sets only `data_dir` would
    /// give them (development mode off).
    pub fn defaults_for(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            node: NodeSection {
                key_file: data_dir.join("node.key"),
                certificate: data_dir.join("node.pem"),
                data_dir: data_dir.clone(),
            },
            federation: FederationSection {
                roots: vec![data_dir.join("federation-root.pem")],
                crl: None,
                development: false,
            },
            http: HttpSection {
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_HTTP_PORT)),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            },
            log: LogSection {
                format: LogFormat::Text,
                filter: DEFAULT_LOG_FILTER.to_owned(),
            },
            net: NetSection {
                listen: vec![default_net_listen()],
                enable_quic: false,
            },
            admin: AdminSection {
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_ADMIN_PORT)),
                token_file: data_dir.join("admin.token"),
            },
            crawler: CrawlerSettings::default(),
            hotline: HotlineSection::defaults_for(&data_dir),
            iwol: IwolSection::default(),
            metrics: MetricsSection::default(),
            portal: PortalSection::default(),
        }
    }

    /// The same configuration with every listener on loopback and an ephemeral port (tests,
    /// the local demo federation).
    pub fn on_loopback(mut self) -> Self {
        self.http.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        self.admin.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        if self.metrics.listen.is_some() {
            self.metrics.listen = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        }
        self.portal.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        self.net.listen = vec![
            libp2p::Multiaddr::empty()
                .with(libp2p::multiaddr::Protocol::Ip4(Ipv4Addr::LOCALHOST))
                .with(libp2p::multiaddr::Protocol::Tcp(0)),
        ];
        self
    }

    /// The configuration of a node started without a config file: data in `./safeport-data`
    /// and the development federation.
    pub fn embedded_default() -> Self {
        let mut config = Self::defaults_for(Path::new(".").join(DEFAULT_DATA_DIR));
        config.federation.development = true;
        config
    }

    /// The documented example configuration (every option, commented out, at its default).
    pub fn example_toml() -> &'static str {
        include_str!("../../../deploy/node.example.toml")
    }

    /// Reads and resolves the config file at `path`. Blocking (reads one small file).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // Anchor relative paths at the file's directory, made absolute so that they do not
        // change meaning if the process later changes its working directory.
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = std::path::absolute(&dir).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &dir, path)
    }

    /// Parses config text; `base_dir` anchors relative paths and `file` names the source in
    /// errors.
    fn parse(text: &str, base_dir: &Path, file: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|err| {
            let (line, column) = match err.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span.start);
                    (Some(line), Some(column))
                }
                None => (None, None),
            };
            ConfigError::Parse {
                path: file.to_path_buf(),
                line,
                column,
                // Some parser messages span lines; errors are reported on one line.
                message: err
                    .message()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })?;
        let invalid = |key, message: &str| ConfigError::Invalid {
            path: file.to_path_buf(),
            key,
            message: message.to_owned(),
        };
        let resolve = |key, p: PathBuf| {
            if p.as_os_str().is_empty() {
                Err(invalid(key, "must not be empty"))
            } else {
                Ok(base_dir.join(p))
            }
        };

        let data_dir = resolve(
            "node.data_dir",
            raw.node.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
        )?;
        let mut config = Self::defaults_for(data_dir);
        if let Some(p) = raw.node.key_file {
            config.node.key_file = resolve("node.key_file", p)?;
        }
        if let Some(p) = raw.node.certificate {
            config.node.certificate = resolve("node.certificate", p)?;
        }
        if let Some(roots) = raw.federation.roots {
            if roots.is_empty() {
                return Err(invalid(
                    "federation.roots",
                    "must name at least one root certificate",
                ));
            }
            config.federation.roots = roots
                .into_iter()
                .map(|p| resolve("federation.roots", p))
                .collect::<Result<_, _>>()?;
        }
        if let Some(p) = raw.federation.crl {
            config.federation.crl = Some(resolve("federation.crl", p)?);
        }
        if let Some(development) = raw.federation.development {
            config.federation.development = development;
        }
        if let Some(listen) = raw.http.listen {
            config.http.listen = listen;
        }
        if let Some(max) = raw.http.max_body_bytes {
            if max == 0 {
                return Err(invalid("http.max_body_bytes", "must be greater than 0"));
            }
            config.http.max_body_bytes = max;
        }
        if let Some(secs) = raw.http.request_timeout_secs {
            if secs == 0 {
                return Err(invalid(
                    "http.request_timeout_secs",
                    "must be greater than 0",
                ));
            }
            config.http.request_timeout_secs = secs;
        }
        if let Some(listen) = raw.net.listen {
            if listen.len() > MAX_NET_LISTEN {
                return Err(invalid("net.listen", "too many addresses"));
            }
            config.net.listen = listen
                .iter()
                .map(|addr| {
                    addr.parse()
                        .map_err(|e| invalid("net.listen", &format!("{addr:?}: {e}")))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(quic) = raw.net.enable_quic {
            config.net.enable_quic = quic;
        }
        if let Some(listen) = raw.admin.listen {
            config.admin.listen = listen;
        }
        if let Some(p) = raw.admin.token_file {
            config.admin.token_file = resolve("admin.token_file", p)?;
        }
        if let Some(format) = raw.log.format {
            config.log.format = format;
        }
        if let Some(filter) = raw.log.filter {
            // Checked here so a typo is a config error at startup, not a silent default.
            if let Err(err) = tracing_subscriber::EnvFilter::try_new(&filter) {
                return Err(invalid("log.filter", &err.to_string()));
            }
            config.log.filter = filter;
        }
        config.crawler = hotline::crawler(raw.crawler, &invalid)?;
        config.hotline = hotline::hotline(raw.hotline, config.hotline, &resolve)?;
        config.iwol = iwol::iwol(raw.iwol, &invalid, &resolve)?;
        config.metrics = raw.metrics;
        config.portal = portal::portal(raw.portal, &invalid, &resolve)?;
        Ok(config)
    }
}

/// 1-based line and column (in characters) of byte offset `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn write_config(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("node.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn example_parses_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), NodeConfig::example_toml());
        let config = NodeConfig::load(&path).unwrap();
        assert_eq!(
            config,
            NodeConfig::defaults_for(dir.path().join(DEFAULT_DATA_DIR))
        );
    }

    #[test]
    fn example_documents_every_option_with_its_default() {
        // Uncommenting every option line must still give the defaults (except the optional crl,
        // which has no default): the documented values cannot drift from the code.
        let uncommented: String = NodeConfig::example_toml()
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
                {
                    rest
                }
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let config = NodeConfig::load(write_config(dir.path(), &uncommented)).unwrap();
        let data_dir = dir.path().join(DEFAULT_DATA_DIR);
        let mut expected = NodeConfig::defaults_for(&data_dir);
        expected.federation.crl = Some(data_dir.join("federation.crl"));
        // Optional files without a default, given as examples.
        expected.hotline.geo_maxmind_db = Some("/var/lib/GeoIP/GeoLite2-Country.mmdb".into());
        expected.hotline.geo_cidr_table = Some(dir.path().join("geo.csv"));
        expected.hotline.local_hash_list = Some(dir.path().join("known-hashes.csv"));
        expected.iwol.stop_page = Some("stop.iwol.example".parse().unwrap());
        expected.iwol.feed_token_file = Some(dir.path().join("iwol-feed.token"));
        expected.metrics.listen = Some("127.0.0.1:9470".parse().unwrap());
        expected.portal.tls_certificate = Some(dir.path().join("portal-cert.pem"));
        expected.portal.tls_key = Some(dir.path().join("portal-key.pem"));
        assert_eq!(config, expected);
        for key in [
            "data_dir",
            "key_file",
            "certificate",
            "roots",
            "crl",
            "development",
            "listen",
            "max_body_bytes",
            "request_timeout_secs",
            "format",
            "filter",
            "enable_quic",
            "token_file",
            "user_agent",
            "max_page_bytes",
            "max_media_bytes",
            "max_media_items",
            "max_redirects",
            "fetch_timeout_secs",
            "connect_timeout_secs",
            "concurrent_crawls",
            "concurrent_fetches",
            "allow_private_addresses",
            "accept_invalid_certificates",
            "blob_dir",
            "geo_maxmind_db",
            "geo_cidr_table",
            "local_hash_list",
            "rpz_zone",
            "stop_page",
            "rpz_ttl",
            "feed_token_file",
            "enabled",
            "tls_certificate",
            "tls_key",
            "idle_timeout_minutes",
            "absolute_timeout_hours",
            "max_failed_logins",
            "lockout_minutes",
            "max_sessions",
        ] {
            assert!(
                uncommented.contains(&format!("\n{key} = ")),
                "{key} not documented"
            );
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(
            dir.path(),
            r#"
            [node]
            data_dir = "data"
            certificate = "/etc/safeport/node.pem"
            [federation]
            crl = "fed.crl"
            development = true
            [http]
            listen = "0.0.0.0:9000"
            max_body_bytes = 10
            request_timeout_secs = 2
            [log]
            format = "json"
            filter = "debug"
            "#,
        );
        let config = NodeConfig::load(&path).unwrap();
        let data_dir = dir.path().join("data");
        assert_eq!(config.node.data_dir, data_dir);
        assert_eq!(config.node.key_file, data_dir.join("node.key"));
        assert_eq!(config.node.certificate, Path::new("/etc/safeport/node.pem"));
        assert_eq!(
            config.federation.roots,
            vec![data_dir.join("federation-root.pem")]
        );
        assert_eq!(config.federation.crl, Some(dir.path().join("fed.crl")));
        assert!(config.federation.development);
        assert_eq!(config.http.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.http.max_body_bytes, 10);
        assert_eq!(config.http.request_timeout(), Duration::from_secs(2));
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.log.filter, "debug");
    }

    #[test]
    fn development_is_off_in_a_file_and_on_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let config = NodeConfig::load(write_config(dir.path(), "")).unwrap();
        assert!(!config.federation.development);
        let embedded = NodeConfig::embedded_default();
        assert!(embedded.federation.development);
        assert_eq!(embedded.node.data_dir, Path::new("./safeport-data"));
    }

    #[test]
    fn unknown_keys_are_named_with_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(
            dir.path(),
            "[http]\nlisten = \"127.0.0.1:1\"\nverify = false\n",
        );
        let err = NodeConfig::load(&path).unwrap_err();
        let message = err.to_string();
        assert!(matches!(
            err,
            ConfigError::Parse {
                line: Some(3),
                column: Some(1),
                ..
            }
        ));
        assert!(message.contains("`verify`"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(!message.contains('\n'), "error is one line: {message}");

        let err = NodeConfig::load(write_config(dir.path(), "[telemetry]\n")).unwrap_err();
        assert!(err.to_string().contains("`telemetry`"), "{err}");
        let err =
            NodeConfig::load(write_config(dir.path(), "[metrics]\nport = 9470\n")).unwrap_err();
        assert!(err.to_string().contains("`port`"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        for (text, needle) in [
            ("[http]\nlisten = \"localhost\"\n", "line 2"),
            ("[log]\nformat = \"xml\"\n", "xml"),
            ("[log]\nfilter = \"[[[\"\n", "log.filter"),
            ("[http]\nmax_body_bytes = 0\n", "http.max_body_bytes"),
            (
                "[http]\nrequest_timeout_secs = 0\n",
                "http.request_timeout_secs",
            ),
            ("[federation]\nroots = []\n", "federation.roots"),
            ("[node]\ndata_dir = \"\"\n", "node.data_dir"),
            ("[node\n", "line 1"),
        ] {
            let err = NodeConfig::load(write_config(dir.path(), text)).unwrap_err();
            assert!(err.to_string().contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn metrics_are_off_unless_a_listener_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let off = NodeConfig::load(write_config(dir.path(), "")).unwrap();
        assert_eq!(off.metrics.listen, None);
        assert_eq!(off.on_loopback().metrics.listen, None);
        let text = "[metrics]\nlisten = \"0.0.0.0:9100\"\n";
        let on = NodeConfig::load(write_config(dir.path(), text)).unwrap();
        assert_eq!(on.metrics.listen, Some("0.0.0.0:9100".parse().unwrap()));
        let loopback = on.on_loopback().metrics.listen;
        assert_eq!(loopback, Some("127.0.0.1:0".parse().unwrap()));
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        let err = NodeConfig::load(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("absent.toml"));
    }
}
