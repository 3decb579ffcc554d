//! The demo federation's files: a federation authority (root key and certificate, labelled as
//! a demo), and for each agency a node key, the agency certificate the authority issues for
//! it, the root, and a `node.toml` that the node loads like any operator's configuration.
//! Certificates are made with the protocol crate's PKI functions (the same ones
//! `safeport-admin ca` uses) and verified by each node at start like any other.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use safeport_protocol::pki::{self, AgencySubject, Contact, Validity};
use safeport_protocol::{AgencyId, Country, NodeKey, Role, Timestamp};

use super::DemoError;
use super::site::SiteSpec;
use crate::app::accounts::PortalRole;
use crate::config::NodeConfig;

/// The demo root's name: impossible to mistake for a real federation.
pub const DEMO_FEDERATION: &str = "Safeport DEMO federation - not for production";
/// The authority's directory inside the demo directory.
const AUTHORITY_DIR: &str = "authority";
/// The federation root certificate file (in the authority's and every agency's directory).
const ROOT_CERT: &str = "federation-root.pem";
/// The authority's signing key.
const ROOT_KEY: &str = "root.key";
/// The CIDR table that places the demo websites' loopback addresses in countries.
const GEO_TABLE: &str = "geo.csv";
/// Validity of the demo root and certificates, in days (a reused demo directory keeps working
/// for years; `--fresh` starts over).
const VALIDITY_DAYS: u32 = 3650;

/// One agency of the demo federation.
#[derive(Debug, Clone, Copy)]
pub struct AgencySpec {
    /// Its agency id (certificate CN).
    pub id: &'static str,
    /// Its role.
    pub role: Role,
    /// Its country.
    pub country: &'static str,
    /// Its display name (certificate O).
    pub organisation: &'static str,
    /// Its portal accounts: name and roles.
    pub users: &'static [(&'static str, &'static [PortalRole])],
}

/// INTERPOL.
pub const INTERPOL: &str = "interpol";
/// The Dutch hotline.
pub const NL_HOTLINE: &str = "nl-hotline";
/// The German hotline.
pub const DE_HOTLINE: &str = "de-hotline";
/// The Dutch police.
pub const NL_POLICE: &str = "nl-police";

/// The demo federation's agencies, in start order.
pub const AGENCIES: [AgencySpec; 4] = [
    AgencySpec {
        id: INTERPOL,
        role: Role::Interpol,
        country: "FR",
        organisation: "INTERPOL (demo)",
        users: &[
            ("admin", &[PortalRole::Admin]),
            ("auditor", &[PortalRole::Auditor]),
            ("reviewer", &[PortalRole::Reviewer]),
        ],
    },
    AgencySpec {
        id: NL_HOTLINE,
        role: Role::Hotline,
        country: "NL",
        organisation: "Demo hotline NL",
        users: &[
            ("admin", &[PortalRole::Admin]),
            ("auditor", &[PortalRole::Auditor]),
            ("analyst", &[PortalRole::Analyst]),
        ],
    },
    AgencySpec {
        id: DE_HOTLINE,
        role: Role::Hotline,
        country: "DE",
        organisation: "Demo hotline DE",
        users: &[
            ("admin", &[PortalRole::Admin]),
            ("auditor", &[PortalRole::Auditor]),
            ("analyst", &[PortalRole::Analyst]),
        ],
    },
    AgencySpec {
        id: NL_POLICE,
        role: Role::Lea,
        country: "NL",
        organisation: "Demo police NL",
        users: &[
            ("admin", &[PortalRole::Admin]),
            ("auditor", &[PortalRole::Auditor]),
            ("investigator", &[PortalRole::Investigator]),
        ],
    },
];

/// The fixed demo password of portal account `user` (printed with the portal addresses; the
/// demo runs on loopback with synthetic data only).
pub fn demo_password(user: &str) -> String {
    format!("{user}-demo-pass")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_owned(),
        source,
    }
}

fn pki_error(what: &'static str) -> impl FnOnce(pki::IssueError) -> DemoError {
    move |e| DemoError::Pki(format!("{what}: {e}"))
}

/// Writes a new file (never replaces one) with `mode`, synced.
fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), DemoError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    file.write_all(contents.as_bytes()).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn create_dir(path: &Path) -> Result<(), DemoError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(io(path))
}

fn random<const N: usize>() -> Result<[u8; N], DemoError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| DemoError::Pki(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// A fresh random key, written as PKCS#8 PEM with mode 0600.
fn new_key(path: &Path) -> Result<NodeKey, DemoError> {
    let key = NodeKey::from_seed(random()?);
    let pem = key
        .to_pkcs8_pem()
        .map_err(|e| DemoError::Pki(format!("encoding a key: {e}")))?;
    write_new(path, &pem, 0o600)?;
    Ok(key)
}

/// The directory of `agency` inside the demo directory.
pub fn agency_dir(dir: &Path, agency: &str) -> PathBuf {
    dir.join(agency)
}

/// The configuration a demo node runs with: every listener on loopback with a port the
/// system picks (the demo prints them), hotlines allowed to crawl the loopback websites and
/// placing them by the demo's CIDR table.
fn config_toml(spec: &AgencySpec) -> String {
    let mut text = format!(
        r#"# Safeport DEMO node {id}, written by `safeport-node demo`: synthetic data only.
# Every option is documented in deploy/node.example.toml. Relative paths are resolved against
# the directory of this file.

[node]
data_dir = "data"
key_file = "node.key"
certificate = "node.pem"

[federation]
roots = ["{ROOT_CERT}"]

[http]
listen = "127.0.0.1:0"

[net]
listen = ["/ip4/127.0.0.1/tcp/0"]

[admin]
listen = "127.0.0.1:0"

[portal]
listen = "127.0.0.1:0"
"#,
        id = spec.id
    );
    if spec.role == Role::Hotline {
        text.push_str(&format!(
            r#"
[crawler]
# The demo websites are on loopback, which a real crawler never visits.
allow_private_addresses = true
fetch_timeout_secs = 10

[hotline]
geo_cidr_table = "../{GEO_TABLE}"
"#
        ));
    }
    text
}

/// Creates the demo federation in the (empty) directory `dir`: the authority, the CIDR table
/// for `sites`, and every agency's key, certificate, root and configuration.
pub(crate) fn create(dir: &Path, sites: &[SiteSpec], now: Timestamp) -> Result<(), DemoError> {
    let authority_dir = dir.join(AUTHORITY_DIR);
    create_dir(&authority_dir)?;
    let authority = new_key(&authority_dir.join(ROOT_KEY))?;
    let validity = Validity::days_from(now, VALIDITY_DAYS);
    let root_pem = pki::create_root(&authority, DEMO_FEDERATION, validity, random()?)
        .map_err(pki_error("creating the root"))?;
    write_new(&authority_dir.join(ROOT_CERT), &root_pem, 0o644)?;

    let geo: String = sites
        .iter()
        .map(|site| format!("{}/32,{}\n", site.ip, site.country))
        .collect();
    write_new(
        &dir.join(GEO_TABLE),
        &format!("# The demo websites' loopback addresses, placed in countries.\n{geo}"),
        0o644,
    )?;

    for spec in &AGENCIES {
        let node_dir = agency_dir(dir, spec.id);
        create_dir(&node_dir)?;
        let key = new_key(&node_dir.join("node.key"))?;
        let subject = AgencySubject {
            agency: AgencyId::new(spec.id).map_err(|e| DemoError::Pki(e.to_string()))?,
            role: spec.role,
            country: Country::new(spec.country).map_err(|e| DemoError::Pki(e.to_string()))?,
            organisation: spec.organisation.to_owned(),
        };
        // Synthetic contact fields, so the demo shows certificates as the federation issues them.
        let contact = Contact {
            emails: vec![format!("contact@{}.example", spec.id)],
            phone: Some("+31 20 555 0100".into()),
            url: Some(format!("https://{}.example/contact", spec.id)),
        };
        let certificate = pki::issue_agency_certificate_with_contact(
            &authority,
            &root_pem,
            &subject,
            &contact,
            &key.public(),
            validity,
            random()?,
        )
        .map_err(pki_error("issuing an agency certificate"))?;
        write_new(&node_dir.join("node.pem"), &certificate, 0o644)?;
        write_new(&node_dir.join(ROOT_CERT), &root_pem, 0o644)?;
        write_new(&node_dir.join("node.toml"), &config_toml(spec), 0o644)?;
    }
    Ok(())
}

/// Loads the configuration of `agency` from its `node.toml`. Blocking (reads one file).
pub(crate) fn config(dir: &Path, agency: &str) -> Result<NodeConfig, DemoError> {
    Ok(NodeConfig::load(agency_dir(dir, agency).join("node.toml"))?)
}
