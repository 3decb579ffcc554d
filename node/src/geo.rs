//! Hosting country from a server's IP address: a MaxMind-format database (GeoIP2/GeoLite2
//! Country or City, or any database with `country.iso_code`) when one is configured, or a CIDR
//! table (`prefix,CC` per line). The analyst can always correct the result; this is a first
//! guess, never a verdict.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use safeport_protocol::Country;

/// Largest geo file read (GeoLite2-City is about 70 MB).
pub const MAX_GEO_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// Most prefixes in a CIDR table.
pub const MAX_CIDR_ENTRIES: usize = 2_000_000;

/// Why a geo source could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeoError {
    /// The file could not be read or is too large.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A CIDR table line is malformed.
    #[error("{path} line {line}: {reason}")]
    CidrLine {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The MaxMind database is malformed.
    #[error("{path} is not a MaxMind database: {reason}")]
    MaxMind {
        /// The file.
        path: String,
        /// The reader's error.
        reason: String,
    },
}

/// Where country guesses come from.
pub enum GeoSource {
    /// No source configured: the country stays unknown until an analyst sets it.
    None,
    /// Prefixes, longest first, so the first hit is the most specific.
    Cidr(Vec<(IpNet, Country)>),
    /// A MaxMind database held in memory.
    MaxMind(Box<maxminddb::Reader<Vec<u8>>>),
}

impl std::fmt::Debug for GeoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GeoSource::None => f.write_str("GeoSource::None"),
            GeoSource::Cidr(table) => write!(f, "GeoSource::Cidr({} prefixes)", table.len()),
            GeoSource::MaxMind(_) => f.write_str("GeoSource::MaxMind"),
        }
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, GeoError> {
    let err = |reason: String| GeoError::Read {
        path: path.display().to_string(),
        reason,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| err(e.to_string()))?
        .len();
    if len > MAX_GEO_FILE_BYTES {
        return Err(err(format!(
            "{len} bytes; the limit is {MAX_GEO_FILE_BYTES}"
        )));
    }
    std::fs::read(path).map_err(|e| err(e.to_string()))
}

impl GeoSource {
    /// Loads a MaxMind database file.
    pub fn maxmind(path: &Path) -> Result<Self, GeoError> {
        let bytes = read_bounded(path)?;
        let reader = maxminddb::Reader::from_source(bytes).map_err(|e| GeoError::MaxMind {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(GeoSource::MaxMind(Box::new(reader)))
    }

    /// Loads a CIDR table: one `prefix,CC` per line; blank lines and `#` comments are skipped.
    pub fn cidr_table(path: &Path) -> Result<Self, GeoError> {
        let bytes = read_bounded(path)?;
        let text = String::from_utf8(bytes).map_err(|_| GeoError::Read {
            path: path.display().to_string(),
            reason: "not UTF-8 text".into(),
        })?;
        Self::parse_cidr(&text, &path.display().to_string())
    }

    /// Parses CIDR table text (see [`GeoSource::cidr_table`]).
    pub fn parse_cidr(text: &str, origin: &str) -> Result<Self, GeoError> {
        let mut table = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: String| GeoError::CidrLine {
                path: origin.to_owned(),
                line: index + 1,
                reason,
            };
            if table.len() == MAX_CIDR_ENTRIES {
                return Err(bad(format!("more than {MAX_CIDR_ENTRIES} prefixes")));
            }
            let (prefix, country) = line
                .split_once(',')
                .ok_or_else(|| bad("expected `prefix,CC`".into()))?;
            let prefix: IpNet = prefix
                .trim()
                .parse()
                .map_err(|e| bad(format!("bad prefix: {e}")))?;
            let country = Country::new(country.trim()).map_err(|e| bad(e.to_string()))?;
            table.push((prefix.trunc(), country));
        }
        table.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.prefix_len()));
        Ok(GeoSource::Cidr(table))
    }

    /// The country of `ip`, if the source knows it.
    pub fn country(&self, ip: IpAddr) -> Option<Country> {
        match self {
            GeoSource::None => None,
            GeoSource::Cidr(table) => table
                .iter()
                .find(|(prefix, _)| prefix.contains(&ip))
                .map(|(_, country)| *country),
            GeoSource::MaxMind(reader) => {
                let result = reader.lookup(ip).ok()?;
                let record: maxminddb::geoip2::Country<'_> = result.decode().ok()??;
                Country::new(record.country.iso_code?).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_table_prefers_the_most_specific_prefix() {
        let geo = GeoSource::parse_cidr(
            "# test table\n192.0.2.0/24,NL\n192.0.2.128/25, DE\n\n2001:db8::/32,FR\n",
            "test",
        )
        .unwrap();
        let country = |ip: &str| geo.country(ip.parse().unwrap()).map(|c| c.to_string());
        assert_eq!(country("192.0.2.1").as_deref(), Some("NL"));
        assert_eq!(country("192.0.2.200").as_deref(), Some("DE"));
        assert_eq!(country("2001:db8::1").as_deref(), Some("FR"));
        assert_eq!(country("198.51.100.1"), None);
        assert_eq!(GeoSource::None.country("192.0.2.1".parse().unwrap()), None);
    }

    #[test]
    fn malformed_tables_name_the_line() {
        for (text, fragment) in [
            ("192.0.2.0/24\n", "line 1"),
            ("192.0.2.0/24,NL\nnot-a-prefix,DE\n", "line 2"),
            ("192.0.2.0/24,Netherlands\n", "line 1"),
        ] {
            let error = GeoSource::parse_cidr(text, "t.csv")
                .unwrap_err()
                .to_string();
            assert!(error.contains(fragment), "{error}");
        }
    }

    #[test]
    fn maxmind_database_country_lookup() {
        use maxminddb_writer::Database;
        use maxminddb_writer::paths::IpAddrWithMask;
        #[derive(serde::Serialize)]
        struct Record {
            country: Inner,
        }
        #[derive(serde::Serialize)]
        struct Inner {
            iso_code: &'static str,
        }
        let mut db = Database::default();
        db.metadata.database_type = "Safeport-Test-Country".into();
        db.metadata.binary_format_major_version = 2;
        let de = db
            .insert_value(Record {
                country: Inner { iso_code: "DE" },
            })
            .unwrap();
        db.insert_node(IpAddrWithMask::new("203.0.113.0".parse().unwrap(), 24), de);
        let mut bytes = Vec::new();
        db.write_to(&mut bytes).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.mmdb");
        std::fs::write(&path, &bytes).unwrap();
        let geo = GeoSource::maxmind(&path).unwrap();
        assert_eq!(
            geo.country("203.0.113.9".parse().unwrap())
                .map(|c| c.to_string())
                .as_deref(),
            Some("DE")
        );
        assert_eq!(geo.country("198.51.100.1".parse().unwrap()), None);

        std::fs::write(&path, b"not a database").unwrap();
        assert!(matches!(
            GeoSource::maxmind(&path),
            Err(GeoError::MaxMind { .. })
        ));
    }
}
