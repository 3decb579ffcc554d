//! Identifiers and vocabulary shared by every record: agencies, roles, countries, record ids,
//! timestamps and media classifications. Every constructor validates, so a value of one of these
//! types is always well formed, including one that came off the wire (decoding goes through the
//! same validation via `serde(try_from)`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest agency id accepted.
pub const MAX_AGENCY_ID_LEN: usize = 64;

/// Why an identifier or vocabulary value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Agency ids are 3..=64 characters of `a-z`, `0-9` and inner `-`.
    #[error(
        "invalid agency id {0:?}: use 3 to 64 characters a-z, 0-9 and '-', not starting or ending with '-'"
    )]
    AgencyId(String),
    /// Countries are ISO 3166-1 alpha-2 codes.
    #[error("invalid country {0:?}: expected an ISO 3166-1 alpha-2 code such as NL or DE")]
    Country(String),
    /// Roles are one of a fixed set.
    #[error("unknown role {0:?}: expected authority, hotline, lea or interpol")]
    Role(String),
    /// Classifications are one of a fixed set.
    #[error(
        "unknown classification {0:?}: expected baseline, nationally-illegal, not-illegal or unassessed"
    )]
    Classification(String),
    /// A record id is 32 bytes written as 64 hex digits.
    #[error("invalid record id {0:?}: expected 64 hex digits")]
    RecordId(String),
}

/// The stable identifier of an agency in the federation, e.g. `nl-hotline`.
///
/// It appears in certificates (subject common name), in every record's origin and in agreements.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgencyId(String);

impl AgencyId {
    /// Validates and wraps an agency id.
    pub fn new(value: &str) -> Result<Self, IdError> {
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let valid = (3..=MAX_AGENCY_ID_LEN).contains(&value.len())
            && valid_chars
            && !value.starts_with('-')
            && !value.ends_with('-');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdError::AgencyId(value.chars().take(80).collect()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AgencyId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::new(&value)
    }
}

impl From<AgencyId> for String {
    fn from(value: AgencyId) -> Self {
        value.0
    }
}

impl FromStr for AgencyId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl fmt::Display for AgencyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an agency is in the federation; certified in its X.509 certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// The federation authority (root CA); runs no node.
    Authority,
    /// An internet hotline that takes public reports.
    Hotline,
    /// A law-enforcement agency (national police).
    Lea,
    /// INTERPOL: collects ICSE contributions, curates IWOL and the baseline hash list.
    Interpol,
}

impl Role {
    /// All roles, in a fixed order.
    pub const ALL: [Role; 4] = [Role::Authority, Role::Hotline, Role::Lea, Role::Interpol];

    /// The lower-case name used in certificates, configs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Authority => "authority",
            Role::Hotline => "hotline",
            Role::Lea => "lea",
            Role::Interpol => "interpol",
        }
    }
}

impl FromStr for Role {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| IdError::Role(s.chars().take(40).collect()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ISO 3166-1 alpha-2 officially assigned codes, sorted, for validation.
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// [`ISO_3166_ALPHA2`] as a bitmap built at compile time (row: first letter, bit: second
/// letter): every report names countries, and a lookup here replaces a scan of 249 codes.
const ASSIGNED: [u32; 26] = assigned_bitmap();

const fn assigned_bitmap() -> [u32; 26] {
    let codes = ISO_3166_ALPHA2.as_bytes();
    let mut map = [0u32; 26];
    let mut at = 0;
    while at + 1 < codes.len() {
        map[(codes[at] - b'A') as usize] |= 1 << (codes[at + 1] - b'A');
        at += 3;
    }
    map
}

/// A country as an ISO 3166-1 alpha-2 code (upper case), e.g. `NL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country([u8; 2]);

impl Country {
    /// Validates an ISO 3166-1 alpha-2 code; lower case input is accepted and upper-cased.
    pub fn new(code: &str) -> Result<Self, IdError> {
        if let [first, second] = code.as_bytes() {
            let (first, second) = (first.to_ascii_uppercase(), second.to_ascii_uppercase());
            if first.is_ascii_uppercase()
                && second.is_ascii_uppercase()
                && ASSIGNED[usize::from(first - b'A')] & (1 << (second - b'A')) != 0
            {
                return Ok(Self([first, second]));
            }
        }
        Err(IdError::Country(code.chars().take(16).collect()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only validated ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl TryFrom<String> for Country {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        // The wire form is the canonical upper-case code only.
        if value.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(IdError::Country(value));
        }
        Self::new(&value)
    }
}

impl From<Country> for String {
    fn from(value: Country) -> Self {
        value.as_str().to_owned()
    }
}

impl FromStr for Country {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point in time as whole milliseconds since the Unix epoch (UTC).
///
/// The protocol never reads the clock: callers pass the time in, so checks are testable and a
/// node's clock policy lives in one place.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From whole seconds since the epoch.
    pub fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Whole seconds since the epoch (truncated).
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This time plus `secs` seconds (saturating).
    pub fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = i64::try_from(self.as_secs()).unwrap_or(i64::MAX);
        match time::OffsetDateTime::from_unix_timestamp(secs) {
            Ok(t) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            Err(_) => write!(f, "{}ms", self.0),
        }
    }
}

/// The id of a record: SHA-256 of its complete signed encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordId(pub [u8; 32]);

impl RecordId {
    /// The id as 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for RecordId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes)
            .map_err(|_| IdError::RecordId(s.chars().take(80).collect()))?;
        Ok(Self(bytes))
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", self.to_hex())
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An analyst's (or a hash list's) verdict on one media item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Classification {
    /// Illegal everywhere by INTERPOL's baseline criteria.
    Baseline,
    /// Illegal under the assessing country's law.
    NationallyIllegal,
    /// Assessed and found not illegal.
    NotIllegal,
    /// Not assessed yet.
    Unassessed,
}

impl Classification {
    /// All classifications, in a fixed order.
    pub const ALL: [Classification; 4] = [
        Classification::Baseline,
        Classification::NationallyIllegal,
        Classification::NotIllegal,
        Classification::Unassessed,
    ];

    /// The kebab-case name used in APIs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Baseline => "baseline",
            Classification::NationallyIllegal => "nationally-illegal",
            Classification::NotIllegal => "not-illegal",
            Classification::Unassessed => "unassessed",
        }
    }

    /// Whether the item is illegal (baseline or nationally).
    pub fn is_illegal(self) -> bool {
        matches!(
            self,
            Classification::Baseline | Classification::NationallyIllegal
        )
    }
}

impl FromStr for Classification {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Classification::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| IdError::Classification(s.chars().take(40).collect()))
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_ids_are_validated() {
        assert!(AgencyId::new("nl-hotline").is_ok());
        assert!(AgencyId::new("interpol").is_ok());
        for bad in [
            "",
            "ab",
            "-nl",
            "nl-",
            "NL-hotline",
            "nl hotline",
            "nl_hotline",
            "nl.x",
        ] {
            assert!(AgencyId::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(AgencyId::new(&"a".repeat(65)).is_err());
        assert!(AgencyId::new(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn countries_are_iso_alpha2() {
        assert_eq!(Country::new("nl").map(|c| c.to_string()), Ok("NL".into()));
        assert!(Country::new("DE").is_ok());
        for bad in ["XX", "N", "NLD", "", "1A", "ÖS"] {
            assert!(Country::new(bad).is_err(), "{bad:?} accepted");
        }
        // The table holds the 249 officially assigned codes, sorted and unique.
        let codes: Vec<&str> = ISO_3166_ALPHA2.split(' ').collect();
        assert_eq!(codes.len(), 249);
        assert!(codes.windows(2).all(|pair| pair[0] < pair[1]));
        // The bitmap accepts exactly the table's codes, in either case.
        for first in b'A'..=b'Z' {
            for second in b'A'..=b'Z' {
                let code = String::from_utf8(vec![first, second]).unwrap();
                let listed = codes.contains(&code.as_str());
                assert_eq!(Country::new(&code).is_ok(), listed, "{code}");
                assert_eq!(Country::new(&code.to_lowercase()).is_ok(), listed, "{code}");
            }
        }
        // The wire form accepts only the canonical upper-case spelling.
        assert!(Country::try_from("nl".to_string()).is_err());
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        for c in Classification::ALL {
            assert_eq!(c.as_str().parse::<Classification>(), Ok(c));
        }
        assert!("police".parse::<Role>().is_err());
        let id = RecordId([7; 32]);
        assert_eq!(id.to_hex().parse::<RecordId>(), Ok(id));
        assert!("zz".parse::<RecordId>().is_err());
    }

    #[test]
    fn timestamps_display_as_utc() {
        assert_eq!(
            Timestamp::from_secs(1_700_000_000).to_string(),
            "2023-11-14T22:13:20Z"
        );
    }
}
