//! Test harness for Safeport scenarios: a federation set up with the same library calls as
//! `safeport-admin` (a root, node keys, agency certificates, CRLs), and nodes started in process
//! from the configuration files `node init` writes, listening on loopback port 0.

pub mod fixtures;
pub mod measure;
pub mod ops;
pub mod portal;
pub mod website;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use safeport_admin::{ca, node_init};
use safeport_node::config::NodeConfig;
use safeport_protocol::pki::{AgencySubject, Contact, RevocationReason};
use safeport_protocol::{AgencyId, Country, Role, Timestamp};

/// A federation authority's CA directory inside a test's temporary directory.
pub struct TestFederation {
    root: PathBuf,
    ca_dir: PathBuf,
    now: Timestamp,
}

/// One agency's node directory, as an operator would have it after `node init` and receiving
/// the certificate and root from the authority.
pub struct AgencyNode {
    /// The directory holding node.key, node.pem, node.toml and federation-root.pem.
    pub dir: PathBuf,
    /// The serial of the agency certificate.
    pub serial: String,
}

impl TestFederation {
    /// Creates a federation root named `name` under `root`.
    pub fn create(root: &Path, name: &str) -> anyhow::Result<Self> {
        let ca_dir = root.join(format!("ca-{}", name.replace(' ', "-")));
        // An hour ago: certificates a scenario issues later (a rotated key's) start later, as
        // they would in a real federation.
        let now = Timestamp::from_secs(safeport_admin::now().as_secs().saturating_sub(3600));
        ca::init(&ca_dir, name, 3650, now)?;
        Ok(Self {
            root: root.to_owned(),
            ca_dir,
            now,
        })
    }

    /// The authority's signing key (for tests that forge or backdate certificates).
    pub fn authority_key(&self) -> anyhow::Result<safeport_protocol::NodeKey> {
        let pem = std::fs::read_to_string(self.ca_dir.join(ca::ROOT_KEY))?;
        Ok(safeport_protocol::NodeKey::from_pkcs8_pem(&pem)?)
    }

    /// The root certificate file.
    pub fn root_certificate(&self) -> PathBuf {
        self.ca_dir.join(ca::ROOT_CERT)
    }

    /// Runs `node init` for an agency, issues its certificate (with [`test_contact`]'s contact
    /// fields) and installs certificate and root where the written node.toml expects them. The
    /// HTTP listener is on loopback port 0.
    pub fn add_agency(
        &self,
        agency: &str,
        role: Role,
        country: &str,
    ) -> anyhow::Result<AgencyNode> {
        let dir = self.root.join(agency);
        node_init::init(&dir, "127.0.0.1:0")?;
        let serial = self.issue(
            &dir.join(node_init::NODE_PUBLIC_KEY),
            agency,
            role,
            country,
            self.now,
            &dir.join("node.pem"),
        )?;
        std::fs::copy(self.root_certificate(), dir.join("federation-root.pem"))
            .context("installing the federation root")?;
        Ok(AgencyNode { dir, serial })
    }

    /// Issues a test agency's certificate (with [`test_contact`]'s contact fields) for the
    /// public key in `public_key_file`, valid for a year from `not_before`, into `out`; returns
    /// its serial.
    fn issue(
        &self,
        public_key_file: &Path,
        agency: &str,
        role: Role,
        country: &str,
        not_before: Timestamp,
        out: &Path,
    ) -> anyhow::Result<String> {
        let public_key = std::fs::read_to_string(public_key_file)?;
        let subject = AgencySubject {
            agency: AgencyId::new(agency)?,
            role,
            country: Country::new(country)?,
            organisation: format!("Test agency {agency}"),
        };
        let mut ca_dir = ca::CaDir::open(&self.ca_dir)?;
        let issued = ca::issue(
            &mut ca_dir,
            &subject,
            &test_contact(agency),
            &public_key,
            365,
            not_before,
            out,
        )?;
        Ok(issued.serial)
    }

    /// Revokes a certificate (as compromised) and publishes a CRL into `out`.
    pub fn revoke_and_publish(&self, serial: &str, out: &Path) -> anyhow::Result<()> {
        self.revoke_with_reason(serial, RevocationReason::KeyCompromise, self.now, out)
    }

    /// Revokes a certificate for `reason` at `at` and publishes a CRL into `out`.
    pub fn revoke_with_reason(
        &self,
        serial: &str,
        reason: RevocationReason,
        at: Timestamp,
        out: &Path,
    ) -> anyhow::Result<()> {
        let mut ca_dir = ca::CaDir::open(&self.ca_dir)?;
        ca::revoke(&mut ca_dir, serial, reason, at)?;
        ca::crl(&mut ca_dir, out, 7, at)?;
        Ok(())
    }

    /// Issues a certificate for the next key of an agency's node (made with `node new-key` in
    /// its directory), starting at `not_before`, into `out`; returns its serial.
    pub fn issue_next(
        &self,
        node: &AgencyNode,
        agency: &str,
        role: Role,
        country: &str,
        not_before: Timestamp,
        out: &Path,
    ) -> anyhow::Result<String> {
        self.issue(
            &node.dir.join(safeport_admin::rotate::NEXT_PUBLIC_KEY),
            agency,
            role,
            country,
            not_before,
            out,
        )
    }
}

impl AgencyNode {
    /// The node's configuration, loaded from the node.toml that `node init` wrote, with every
    /// listener moved to loopback port 0 so scenarios run side by side.
    pub fn config(&self) -> anyhow::Result<NodeConfig> {
        Ok(NodeConfig::load(self.dir.join(node_init::NODE_CONFIG))?.on_loopback())
    }
}

/// The synthetic contact fields every test agency's certificate carries, so every scenario
/// exercises certificates with contacts: `contact@<agency>.example`, a phone number and
/// `https://<agency>.example/contact`.
pub fn test_contact(agency: &str) -> Contact {
    Contact {
        emails: vec![format!("contact@{agency}.example")],
        phone: Some("+31 20 555 0100".into()),
        url: Some(format!("https://{agency}.example/contact")),
    }
}

/// An HTTP client for loopback only (ignores any proxy settings of the environment).
pub fn loopback_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().no_proxy().build()?)
}

/// Waits until `check` holds for `node`, woken by the node's change notifications (never by a
/// timer); fails after `limit` so a hung scenario ends.
pub async fn wait_until(
    node: &safeport_node::RunningNode,
    limit: Duration,
    what: &str,
    check: impl Fn(&safeport_node::RunningNode) -> bool,
) -> anyhow::Result<()> {
    let mut changes = node.app().subscribe();
    tokio::time::timeout(limit, async {
        while !check(node) {
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("timed out waiting for: {what}"))
}
