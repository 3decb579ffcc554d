//! A search as users write it (the admin API's query string, a saved search's JSON): every
//! criterion as text, checked and turned into a [`Query`] here, so the API, saved searches and
//! the CLI accept exactly the same criteria with the same messages.

use safeport_protocol::hashes::{HashAlgorithm, HashValue};
use safeport_protocol::report::Report;
use safeport_protocol::status::TakedownStatus;
use safeport_protocol::{AgencyId, Classification, Country, Timestamp};
use serde::{Deserialize, Serialize};

use super::{HashQuery, ListQuery, MAX_QUERY_TEXT, MAX_RESULTS, Query, StatusQuery};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Default and widest PDQ distance of a hash search.
pub const DEFAULT_PDQ_DISTANCE: u32 = 31;
/// Widest PDQ distance accepted (beyond it, unrelated pictures match).
pub const MAX_PDQ_DISTANCE: u32 = 64;

/// Why a search was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SpecError(String);

fn bad(message: impl Into<String>) -> SpecError {
    SpecError(message.into())
}

/// The criteria of a search, as text; absent or blank criteria do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    /// Hosting country (ISO 3166-1 alpha-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Reporting hotline (agency id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotline: Option<String>,
    /// A (visible) item of this classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Received at or after (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Received before (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// On this domain or a subdomain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Text in the URLs or the page title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A media hash: `ALGORITHM:HEX` (md5, sha1, sha256, pdq) or bare hex whose length names
    /// the algorithm (32 md5, 40 sha1, 64 sha256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Largest PDQ distance for a `pdq:` hash (default 31).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<u32>,
    /// Items classified by a hash-list match: `any`, or a list id `publisher/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_list: Option<String>,
    /// Latest takedown status (`notice-sent`, …), or `none` for reports without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `newest` (default) or `oldest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Results skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Results per page (at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

fn text(what: &str, value: &Option<String>) -> Result<Option<String>, SpecError> {
    match value {
        Some(t) if t.len() > MAX_QUERY_TEXT => {
            Err(bad(format!("{what} is at most {MAX_QUERY_TEXT} bytes")))
        }
        Some(t) if t.trim().is_empty() => Ok(None),
        Some(t) => Ok(Some(t.trim().to_owned())),
        None => Ok(None),
    }
}

/// Parses an RFC 3339 time.
pub fn rfc3339(what: &str, value: &str) -> Result<Timestamp, SpecError> {
    let parsed = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad(format!("{what} is not an RFC 3339 time: {value:?}")))?;
    let ms = parsed.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms)
        .map(Timestamp)
        .map_err(|_| bad(format!("{what} is before 1970")))
}

fn hash_query(value: &str, distance: Option<u32>) -> Result<HashQuery, SpecError> {
    let (algorithm, digits) = match value.split_once(':') {
        Some((name, digits)) => (
            name.parse::<HashAlgorithm>().map_err(|_| {
                bad(format!(
                    "unknown hash algorithm {name:?}: md5, sha1, sha256 or pdq"
                ))
            })?,
            digits,
        ),
        None => (
            match value.len() {
                32 => HashAlgorithm::Md5,
                40 => HashAlgorithm::Sha1,
                64 => HashAlgorithm::Sha256,
                _ => {
                    return Err(bad(
                        "a hash is ALGORITHM:HEX, or 32, 40 or 64 hex digits (md5, sha1, sha256)",
                    ));
                }
            },
            value,
        ),
    };
    let parsed = HashValue::from_hex(algorithm, digits).map_err(|e| bad(format!("hash: {e}")))?;
    if distance.is_some() && algorithm != HashAlgorithm::Pdq {
        return Err(bad("a distance applies only to a pdq: hash"));
    }
    Ok(match algorithm {
        HashAlgorithm::Pdq => {
            let max_distance = distance.unwrap_or(DEFAULT_PDQ_DISTANCE);
            if max_distance > MAX_PDQ_DISTANCE {
                return Err(bad(format!(
                    "the PDQ distance is at most {MAX_PDQ_DISTANCE}"
                )));
            }
            let mut bits = [0u8; 32];
            bits.copy_from_slice(parsed.as_bytes());
            HashQuery::Pdq { bits, max_distance }
        }
        _ => HashQuery::exact(algorithm, parsed.as_bytes()),
    })
}

impl SearchSpec {
    /// The query these criteria describe, or why they are refused.
    pub fn to_query(&self) -> Result<Query, SpecError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_RESULTS {
            return Err(bad(format!("limit is 1 to {MAX_RESULTS}")));
        }
        Ok(Query {
            country: text("country", &self.country)?
                .map(|c| Country::new(&c))
                .transpose()
                .map_err(|e| bad(e.to_string()))?,
            hotline: text("hotline", &self.hotline)?
                .map(|h| AgencyId::new(&h))
                .transpose()
                .map_err(|e| bad(e.to_string()))?,
            classification: text("classification", &self.classification)?
                .map(|c| c.parse::<Classification>())
                .transpose()
                .map_err(|e| bad(e.to_string()))?,
            since: text("since", &self.since)?
                .map(|t| rfc3339("since", &t))
                .transpose()?,
            until: text("until", &self.until)?
                .map(|t| rfc3339("until", &t))
                .transpose()?,
            domain: text("domain", &self.domain)?.map(|d| d.to_lowercase()),
            text: text("text", &self.text)?,
            hash: match text("hash", &self.hash)? {
                Some(h) => Some(hash_query(&h.to_lowercase(), self.distance)?),
                None if self.distance.is_some() => {
                    return Err(bad("a distance needs a pdq: hash"));
                }
                None => None,
            },
            hash_list: text("hash_list", &self.hash_list)?.map(|l| match l.as_str() {
                "any" => ListQuery::Any,
                _ => ListQuery::Named(l),
            }),
            status: match text("status", &self.status)? {
                None => None,
                Some(s) if s == "none" => Some(StatusQuery::None),
                Some(s) => Some(StatusQuery::Is(TakedownStatus::parse(&s).ok_or_else(
                    || {
                        bad(format!(
                            "unknown status {s:?}: none, {}",
                            TakedownStatus::ALL.map(TakedownStatus::as_str).join(", ")
                        ))
                    },
                )?)),
            },
            oldest_first: match self.order.as_deref().map(str::trim) {
                None | Some("" | "newest") => false,
                Some("oldest") => true,
                Some(other) => {
                    return Err(bad(format!("unknown order {other:?}: newest or oldest")));
                }
            },
            offset: self.offset.unwrap_or(0),
            limit,
        })
    }

    /// Whether no criterion is given (paging and order aside).
    pub fn is_empty(&self) -> bool {
        let criteria = SearchSpec {
            order: None,
            offset: None,
            limit: None,
            ..self.clone()
        };
        criteria == SearchSpec::default()
    }

    /// The criteria of `self` with the paging of `paging`, where given.
    pub fn with_paging(&self, paging: &SearchSpec) -> SearchSpec {
        SearchSpec {
            order: paging.order.clone().or_else(|| self.order.clone()),
            offset: paging.offset.or(self.offset),
            limit: paging.limit.or(self.limit),
            ..self.clone()
        }
    }
}

/// The text a `text` criterion searches in: reported URL, final URL and page title, lower-cased.
pub fn report_text(report: &Report) -> String {
    let title = report
        .page
        .as_ref()
        .and_then(|p| p.title.clone())
        .unwrap_or_default();
    format!("{} {} {}", report.reported_url, report.final_url(), title).to_lowercase()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn spec(pairs: &[(&str, &str)]) -> Result<Query, SpecError> {
        let text = serde_urlencoded::to_string(pairs).unwrap();
        let spec: SearchSpec = serde_urlencoded::from_str(&text).map_err(|e| bad(e.to_string()))?;
        spec.to_query()
    }

    #[test]
    fn hashes_name_their_algorithm_by_prefix_or_length() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let q = spec(&[("hash", md5)]).unwrap();
        assert!(matches!(
            q.hash,
            Some(HashQuery::Exact {
                algorithm: HashAlgorithm::Md5,
                ..
            })
        ));
        let upper = format!("MD5:{}", md5.to_uppercase());
        let q = spec(&[("hash", upper.as_str())]).unwrap();
        assert!(matches!(
            q.hash,
            Some(HashQuery::Exact {
                algorithm: HashAlgorithm::Md5,
                ..
            })
        ));
        let pdq = format!("pdq:{}", "ab".repeat(32));
        let q = spec(&[("hash", pdq.as_str()), ("distance", "12")]).unwrap();
        assert!(matches!(
            q.hash,
            Some(HashQuery::Pdq {
                max_distance: 12,
                ..
            })
        ));
        let q = spec(&[("hash", pdq.as_str())]).unwrap();
        assert!(matches!(
            q.hash,
            Some(HashQuery::Pdq {
                max_distance: DEFAULT_PDQ_DISTANCE,
                ..
            })
        ));
    }

    #[test]
    fn bad_criteria_are_refused_with_their_reason() {
        let bad_hex = "zz".repeat(16);
        let md5 = format!("md5:{}", "00".repeat(16));
        let pdq = format!("pdq:{}", "00".repeat(32));
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("hash", "abc")], "32, 40 or 64 hex digits"),
            (vec![("hash", "crc32:00")], "unknown hash algorithm"),
            (vec![("hash", bad_hex.as_str())], "hash:"),
            (
                vec![("hash", md5.as_str()), ("distance", "3")],
                "only to a pdq",
            ),
            (vec![("distance", "3")], "needs a pdq"),
            (
                vec![("hash", pdq.as_str()), ("distance", "65")],
                "at most 64",
            ),
            (vec![("status", "deleted")], "unknown status"),
            (vec![("order", "random")], "unknown order"),
            (vec![("limit", "501")], "limit is 1 to 500"),
        ];
        for (pairs, expected) in cases {
            let err = spec(&pairs).unwrap_err();
            assert!(err.to_string().contains(expected), "{pairs:?}: {err}");
        }
        assert!(
            serde_urlencoded::from_str::<SearchSpec>("colour=red").is_err(),
            "unknown criteria are refused"
        );
    }

    #[test]
    fn status_and_lists_parse() {
        let q = spec(&[("status", "none"), ("hash_list", "any")]).unwrap();
        assert_eq!(q.status, Some(StatusQuery::None));
        assert_eq!(q.hash_list, Some(ListQuery::Any));
        let q = spec(&[
            ("status", "content-removed"),
            ("hash_list", "interpol/baseline"),
        ])
        .unwrap();
        assert_eq!(
            q.status,
            Some(StatusQuery::Is(TakedownStatus::ContentRemoved))
        );
        assert_eq!(
            q.hash_list,
            Some(ListQuery::Named("interpol/baseline".into()))
        );
    }

    #[test]
    fn saved_criteria_take_new_paging_only() {
        let saved = SearchSpec {
            country: Some("NL".into()),
            limit: Some(10),
            ..SearchSpec::default()
        };
        let paging = SearchSpec {
            offset: Some(20),
            ..SearchSpec::default()
        };
        let run = saved.with_paging(&paging);
        assert_eq!(run.country.as_deref(), Some("NL"));
        assert_eq!((run.offset, run.limit), (Some(20), Some(10)));
        assert!(!saved.is_empty());
        assert!(paging.is_empty());
    }
}
