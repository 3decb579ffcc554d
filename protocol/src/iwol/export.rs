//! The IWOL in the forms ISPs load: a DNS Response Policy Zone (draft-vixie-dnsop-dns-rpz,
//! loaded by BIND and unbound), a plain domain list (one per line, for hosts-style blockers)
//! and CSV (domain, time added, reason codes).
//!
//! RPZ: each listed domain gets two QNAME triggers, the name itself and `*.name` (so every
//! subdomain is covered), with the policy `CNAME <stop page>.` (the resolver answers with the
//! stop page's name, whose address the ISP serves its stop page on) or `CNAME .` (NXDOMAIN).
//! Owner names are relative to the zone's origin; the SOA serial is the list version, so it
//! increases with every version and resolvers reload by serial.

use std::fmt::Write as _;
use std::str::FromStr;

use super::{Domain, IwolList};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// DNS RPZ zone file.
    Rpz,
    /// One domain per line.
    Plain,
    /// `domain,added_at,reasons` with a header.
    Csv,
}

impl ExportFormat {
    /// All formats.
    pub const ALL: [ExportFormat; 3] = [ExportFormat::Rpz, ExportFormat::Plain, ExportFormat::Csv];

    /// The name used in APIs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Rpz => "rpz",
            ExportFormat::Plain => "plain",
            ExportFormat::Csv => "csv",
        }
    }

    /// The HTTP media type of the export.
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Rpz | ExportFormat::Plain => "text/plain; charset=utf-8",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown IWOL export format {:?}: expected rpz, plain or csv",
                    s.chars().take(40).collect::<String>()
                )
            })
    }
}

/// What a resolver answers for a listed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpzAction {
    /// `CNAME` to the stop page's name.
    StopPage(Domain),
    /// NXDOMAIN (`CNAME .`).
    NxDomain,
}

/// How the RPZ zone is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpzOptions {
    /// The zone's origin (the name resolvers load the zone as), e.g. `iwol.rpz.example`.
    pub zone: Domain,
    /// The policy for listed names.
    pub action: RpzAction,
    /// TTL of the policy records, in seconds.
    pub ttl: u32,
}

/// Writes `list` in `format`.
pub fn export(list: &IwolList, format: ExportFormat, rpz: &RpzOptions) -> String {
    match format {
        ExportFormat::Rpz => rpz_zone(list, rpz),
        ExportFormat::Plain => plain(list),
        ExportFormat::Csv => csv(list),
    }
}

/// The RPZ zone file.
pub fn rpz_zone(list: &IwolList, options: &RpzOptions) -> String {
    let target = match &options.action {
        RpzAction::StopPage(name) => format!("{name}."),
        RpzAction::NxDomain => ".".to_owned(),
    };
    let zone = &options.zone;
    let ttl = options.ttl;
    let mut out = String::with_capacity(64 * list.entries.len() + 512);
    // `write!` into a String cannot fail.
    let _ = writeln!(
        out,
        "; INTERPOL Worst Of list (IWOL) version {}, published {}, expires {}.\n\
         ; {} domains; each and its subdomains answer {}.\n\
         $ORIGIN {zone}.\n\
         $TTL {ttl}\n\
         @ IN SOA localhost. hostmaster.{zone}. {} 3600 600 2419200 {ttl}\n\
         @ IN NS localhost.",
        list.version,
        list.published_at,
        list.expires_at,
        list.entries.len(),
        match &options.action {
            RpzAction::StopPage(name) => format!("the stop page {name}"),
            RpzAction::NxDomain => "NXDOMAIN".to_owned(),
        },
        list.version,
    );
    for entry in &list.entries {
        let name = entry.domain.as_str();
        let _ = writeln!(out, "{name} CNAME {target}\n*.{name} CNAME {target}");
    }
    out
}

/// One domain per line.
pub fn plain(list: &IwolList) -> String {
    let mut out = String::with_capacity(32 * list.entries.len());
    for entry in &list.entries {
        out.push_str(entry.domain.as_str());
        out.push('\n');
    }
    out
}

/// CSV with a header: `domain,added_at,reasons` (reason codes separated by `;`). Domains are
/// letters, digits, dots and hyphens only, so no field needs quoting.
pub fn csv(list: &IwolList) -> String {
    let mut out = String::from("domain,added_at,reasons\n");
    for entry in &list.entries {
        let reasons: Vec<&str> = entry.reasons.iter().map(|r| r.as_str()).collect();
        let _ = writeln!(
            out,
            "{},{},{}",
            entry.domain,
            entry.added_at,
            reasons.join(";")
        );
    }
    out
}
