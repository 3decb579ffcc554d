//! Domain names on the IWOL: validated and normalised once, at the edge, so every list, record
//! and export holds one spelling of each name.
//!
//! Normalisation: surrounding whitespace and one trailing dot are dropped, the name is mapped
//! and converted to ASCII by IDNA (UTS #46, the `idna` crate, STD3 rules and DNS lengths), so
//! `Bad.EXAMPLE`, `bad.example.` and `bad.example` are one name, and `bücher.example` becomes
//! `xn--bcher-kva.example`. Refused with a clear reason: URLs, wildcards (a listed domain always
//! covers its subdomains, so input never needs one), IP addresses, single labels (a top-level
//! domain would block a whole country's web) and names whose last label is numeric.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest domain name (RFC 1035, without the trailing dot).
pub const MAX_DOMAIN_LEN: usize = 253;
/// Longest input considered at all (before IDNA mapping).
const MAX_INPUT_LEN: usize = 1024;

/// Why a domain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// Nothing was given.
    #[error("empty domain name")]
    Empty,
    /// The input is longer than anything that could be a domain.
    #[error("the domain name is longer than {MAX_DOMAIN_LEN} characters")]
    TooLong,
    /// A URL instead of a domain.
    #[error("{0:?} is a URL; give the domain name only (the host part)")]
    Url(String),
    /// A wildcard: a listed domain already covers its subdomains.
    #[error("{0:?} has a wildcard; list the domain itself, its subdomains are covered")]
    Wildcard(String),
    /// An IP address: the IWOL lists names, which DNS blocking can act on.
    #[error("{0:?} is an IP address, not a domain name")]
    IpAddress(String),
    /// A single label such as a top-level domain.
    #[error("{0:?} is a single label; a listed domain needs at least two (e.g. name.example)")]
    SingleLabel(String),
    /// The last label is numeric.
    #[error("{0:?} ends in a numeric label, which no top-level domain is")]
    NumericTld(String),
    /// IDNA processing or a DNS syntax rule refused it.
    #[error("{0:?} is not a valid domain name (IDNA or DNS syntax)")]
    Syntax(String),
    /// A decoded value is not in normal form (another encoder, or an altered record).
    #[error("{0:?} is not in normal form (expected {1:?})")]
    NotNormal(String, String),
}

/// A domain name in normal form: lower-case ASCII (IDNA A-labels), no trailing dot, at least
/// two labels. Decoding checks the normal form, so a record cannot smuggle in another spelling.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

/// Shortens user input for error messages.
fn shown(input: &str) -> String {
    input.chars().take(80).collect()
}

impl Domain {
    /// Validates and normalises a domain name typed by a person or read from a file.
    pub fn normalise(input: &str) -> Result<Self, DomainError> {
        if input.len() > MAX_INPUT_LEN {
            return Err(DomainError::TooLong);
        }
        let trimmed = input.trim();
        let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if name.is_empty() {
            return Err(DomainError::Empty);
        }
        if name.contains("://") || name.contains('/') || name.contains('?') {
            return Err(DomainError::Url(shown(trimmed)));
        }
        if name.contains('*') {
            return Err(DomainError::Wildcard(shown(trimmed)));
        }
        let unbracketed = name.trim_start_matches('[').trim_end_matches(']');
        if unbracketed.parse::<IpAddr>().is_ok() || name.contains(':') {
            return Err(DomainError::IpAddress(shown(trimmed)));
        }
        let ascii =
            idna::domain_to_ascii_strict(name).map_err(|_| DomainError::Syntax(shown(trimmed)))?;
        if ascii.len() > MAX_DOMAIN_LEN {
            return Err(DomainError::TooLong);
        }
        if ascii.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(DomainError::IpAddress(shown(trimmed)));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        let valid_labels = labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        if !valid_labels {
            return Err(DomainError::Syntax(shown(trimmed)));
        }
        if labels.len() < 2 {
            return Err(DomainError::SingleLabel(shown(trimmed)));
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(DomainError::NumericTld(shown(trimmed)));
        }
        Ok(Self(ascii))
    }

    /// The name in normal form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `host` (any spelling) is this domain or one of its subdomains.
    pub fn covers_host(&self, host: &str) -> bool {
        let Ok(host) = Domain::normalise(host) else {
            return false;
        };
        host.0 == self.0
            || host
                .0
                .strip_suffix(&self.0)
                .is_some_and(|prefix| prefix.ends_with('.'))
    }
}

/// The host of an http(s) URL, without port or user information (for evidence checks).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .or_else(|| {
            let lower = url.get(..8)?.to_ascii_lowercase();
            if lower.starts_with("https://") {
                url.get(8..)
            } else if lower.starts_with("http://") {
                url.get(7..)
            } else {
                None
            }
        })?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if host_port.starts_with('[') {
        host_port.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Domain {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        Domain::normalise(s)
    }
}

impl TryFrom<String> for Domain {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        let normal = Domain::normalise(&s)?;
        if normal.0 != s {
            return Err(DomainError::NotNormal(shown(&s), normal.0));
        }
        Ok(normal)
    }
}

impl From<Domain> for String {
    fn from(domain: Domain) -> Self {
        domain.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spellings_of_one_name_normalise_to_one() {
        for input in [
            "Bad.EXAMPLE",
            "bad.example.",
            "  bad.example  ",
            "bad.example",
        ] {
            assert_eq!(Domain::normalise(input).unwrap().as_str(), "bad.example");
        }
        assert_eq!(
            Domain::normalise("Bücher.Example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            Domain::normalise("xn--bcher-kva.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn malformed_names_are_refused_with_their_reason() {
        type Expected = fn(&DomainError) -> bool;
        let cases: [(&str, Expected); 12] = [
            ("", |e| matches!(e, DomainError::Empty)),
            (".", |e| matches!(e, DomainError::Empty)),
            ("*.bad.example", |e| matches!(e, DomainError::Wildcard(_))),
            ("http://bad.example/x", |e| matches!(e, DomainError::Url(_))),
            ("192.0.2.7", |e| matches!(e, DomainError::IpAddress(_))),
            ("[2001:db8::1]", |e| matches!(e, DomainError::IpAddress(_))),
            ("2001:db8::1", |e| matches!(e, DomainError::IpAddress(_))),
            ("example", |e| matches!(e, DomainError::SingleLabel(_))),
            ("bad.123", |e| matches!(e, DomainError::NumericTld(_))),
            ("bad..example", |e| matches!(e, DomainError::Syntax(_))),
            ("-bad.example", |e| matches!(e, DomainError::Syntax(_))),
            ("bad_name.example", |e| matches!(e, DomainError::Syntax(_))),
        ];
        for (input, expected) in cases {
            let error = Domain::normalise(input).unwrap_err();
            assert!(expected(&error), "{input:?}: {error}");
        }
        let long = format!("{}.example", vec!["a".repeat(63); 4].join("."));
        assert!(Domain::normalise(&long).is_err());
        assert!(Domain::normalise(&format!("{}.example", "a".repeat(64))).is_err());
    }

    #[test]
    fn decoding_accepts_only_the_normal_form() {
        let ok: Domain = serde_json::from_str("\"bad.example\"").unwrap();
        assert_eq!(ok.as_str(), "bad.example");
        assert!(serde_json::from_str::<Domain>("\"Bad.example\"").is_err());
        assert!(serde_json::from_str::<Domain>("\"bad.example.\"").is_err());
    }

    #[test]
    fn a_domain_covers_itself_and_its_subdomains_only() {
        let domain = Domain::normalise("bad.example").unwrap();
        assert!(domain.covers_host("bad.example"));
        assert!(domain.covers_host("WWW.Bad.Example"));
        assert!(!domain.covers_host("notbad.example"));
        assert!(!domain.covers_host("bad.example.other"));
        assert_eq!(
            url_host("https://user@www.bad.example:8443/a?b"),
            Some("www.bad.example")
        );
        assert_eq!(url_host("HTTP://Bad.Example/x"), Some("Bad.Example"));
        assert_eq!(url_host("ftp://bad.example"), None);
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(input in "[A-Za-z0-9.-]{1,40}") {
            if let Ok(domain) = Domain::normalise(&input) {
                prop_assert_eq!(Domain::normalise(domain.as_str()).unwrap(), domain.clone());
                let decoded: Domain = serde_json::from_value(serde_json::json!(domain.as_str())).unwrap();
                prop_assert_eq!(decoded, domain);
            }
        }
    }
}
