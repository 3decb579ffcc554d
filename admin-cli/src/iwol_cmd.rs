//! `safeport-admin iwol …`: INTERPOL's Worst Of list through a node's admin API. Hotlines and
//! police suggest domains and confirm other agencies' suggestions; INTERPOL accepts, rejects,
//! delists and refreshes; every node shows suggestions and the list it holds, and exports it
//! for ISPs (`export --format rpz|plain|csv`).

use std::path::PathBuf;

use clap::Subcommand;
use safeport_protocol::iwol::{Criterion, Domain};
use serde_json::{Value, json};

use safeport_admin::progress::Progress;

use crate::{NodeArgs, query_value};

#[derive(Subcommand)]
pub(crate) enum IwolCommand {
    /// Suggest a domain for the IWOL, citing reports this node holds.
    Suggest {
        #[command(flatten)]
        node: NodeArgs,
        /// The domain (its subdomains are covered; no wildcards, no IP addresses).
        domain: String,
        #[command(flatten)]
        evidence: EvidenceArgs,
    },
    /// Confirm another agency's suggestion with this agency's own evidence.
    Confirm {
        #[command(flatten)]
        node: NodeArgs,
        /// The suggestion's id.
        id: String,
        #[command(flatten)]
        evidence: EvidenceArgs,
    },
    /// The suggestions the node holds, with confirmations and decisions.
    Suggestions {
        #[command(flatten)]
        node: NodeArgs,
        /// Only open, accepted or rejected ones.
        #[arg(long)]
        status: Option<String>,
    },
    /// One suggestion with its evidence, confirmations and decision.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// The suggestion's id.
        id: String,
    },
    /// INTERPOL: list the domain of a suggestion confirmed by at least two agencies.
    Accept {
        #[command(flatten)]
        node: NodeArgs,
        /// The suggestion's id.
        id: String,
        #[command(flatten)]
        decision: DecisionArgs,
    },
    /// INTERPOL: reject a suggestion; the reason goes back to the suggesters.
    Reject {
        #[command(flatten)]
        node: NodeArgs,
        /// The suggestion's id.
        id: String,
        #[command(flatten)]
        decision: DecisionArgs,
    },
    /// INTERPOL: take a clean domain off the list (publishes a new version).
    Delist {
        #[command(flatten)]
        node: NodeArgs,
        /// The domain.
        domain: String,
        #[command(flatten)]
        decision: DecisionArgs,
    },
    /// INTERPOL: republish the list unchanged with a new expiry.
    Refresh {
        #[command(flatten)]
        node: NodeArgs,
        /// Days subscribers treat the version as current (default 30).
        #[arg(long)]
        valid_days: Option<u64>,
    },
    /// The list the node holds: version, expiry, staleness and domains.
    Status {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Write the list the node holds for ISPs.
    Export {
        #[command(flatten)]
        node: NodeArgs,
        /// rpz (a DNS response policy zone), plain (one domain per line) or csv.
        #[arg(long)]
        format: String,
        /// The stop page's name for this export (default: the node's `iwol.stop_page`).
        #[arg(long, conflicts_with = "nxdomain")]
        stop_page: Option<String>,
        /// Answer NXDOMAIN for listed names in this export.
        #[arg(long)]
        nxdomain: bool,
        /// The RPZ zone's name for this export (default: the node's `iwol.rpz_zone`).
        #[arg(long)]
        zone: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// What a suggestion or confirmation rests on.
#[derive(clap::Args)]
pub(crate) struct EvidenceArgs {
    /// A report record id held by the node (repeat for more).
    #[arg(long = "report", required = true)]
    reports: Vec<String>,
    /// The SHA-256 of an illegal item of those reports (repeat; default: all of them).
    #[arg(long = "media")]
    media: Vec<String>,
    /// An INTERPOL criterion the analyst checked: real-children, under-13, severe-abuse,
    /// online-3-months (repeat; every one is required).
    #[arg(long = "criterion", required = true)]
    criteria: Vec<String>,
    /// A note for INTERPOL's reviewer.
    #[arg(long)]
    note: Option<String>,
}

/// A reviewer's reason and the validity of the version it publishes.
#[derive(clap::Args)]
pub(crate) struct DecisionArgs {
    /// Why (sent with the decision or the delisting).
    #[arg(long)]
    reason: String,
    /// Days the published version is current (default 30).
    #[arg(long)]
    valid_days: Option<u64>,
}

impl EvidenceArgs {
    /// The request body, after checking what can be checked here.
    fn body(&self, domain: Option<&str>) -> anyhow::Result<Value> {
        for code in &self.criteria {
            if Criterion::parse(code).is_none() {
                anyhow::bail!(
                    "unknown criterion {code:?}: expected {}",
                    Criterion::ALL.map(|c| c.as_str()).join(", ")
                );
            }
        }
        let domain = domain
            .map(|d| Domain::normalise(d).map(|d| d.to_string()))
            .transpose()?;
        Ok(json!({
            "domain": domain,
            "criteria": self.criteria,
            "reports": self.reports,
            "media": self.media,
            "note": self.note,
        }))
    }
}

/// Runs an IWOL command; `Value::Null` when the output went to standard output already.
/// Exports show their progress on a terminal.
pub(crate) fn run(command: IwolCommand, progress: Progress) -> anyhow::Result<Value> {
    Ok(match command {
        IwolCommand::Suggest {
            node,
            domain,
            evidence,
        } => node
            .client()?
            .post("/admin/iwol/suggestions", &evidence.body(Some(&domain))?)?,
        IwolCommand::Confirm { node, id, evidence } => node.client()?.post(
            &format!("/admin/iwol/suggestions/{}/confirm", query_value(&id)),
            &evidence.body(None)?,
        )?,
        IwolCommand::Suggestions { node, status } => {
            let path = match status {
                Some(status) => format!("/admin/iwol/suggestions?status={}", query_value(&status)),
                None => "/admin/iwol/suggestions".into(),
            };
            node.client()?.get(&path)?
        }
        IwolCommand::Show { node, id } => node
            .client()?
            .get(&format!("/admin/iwol/suggestions/{}", query_value(&id)))?,
        IwolCommand::Accept { node, id, decision } => node.client()?.post(
            &format!("/admin/iwol/suggestions/{}/accept", query_value(&id)),
            &json!({ "reason": decision.reason, "valid_days": decision.valid_days }),
        )?,
        IwolCommand::Reject { node, id, decision } => node.client()?.post(
            &format!("/admin/iwol/suggestions/{}/reject", query_value(&id)),
            &json!({ "reason": decision.reason }),
        )?,
        IwolCommand::Delist {
            node,
            domain,
            decision,
        } => node.client()?.post(
            "/admin/iwol/delist",
            &json!({
                "domain": Domain::normalise(&domain)?.to_string(),
                "reason": decision.reason,
                "valid_days": decision.valid_days,
            }),
        )?,
        IwolCommand::Refresh { node, valid_days } => node
            .client()?
            .post("/admin/iwol/refresh", &json!({ "valid_days": valid_days }))?,
        IwolCommand::Status { node } => node.client()?.get("/admin/iwol")?,
        IwolCommand::Export {
            node,
            format,
            stop_page,
            nxdomain,
            zone,
            out,
        } => {
            let mut path = format!("/admin/iwol/export?format={}", query_value(&format));
            if let Some(name) = stop_page {
                path.push_str(&format!(
                    "&stop_page={}",
                    query_value(Domain::normalise(&name)?.as_str())
                ));
            }
            if nxdomain {
                path.push_str("&nxdomain=true");
            }
            if let Some(zone) = zone {
                path.push_str(&format!(
                    "&zone={}",
                    query_value(Domain::normalise(&zone)?.as_str())
                ));
            }
            let text = {
                let transfer = progress.transfer("export of the IWOL");
                node.client()?
                    .observed_by(transfer.observer())
                    .get_text(&path)?
            };
            // The list names abuse sites: readable by the owner and its group (the
            // resolver's), not by everyone.
            crate::write_or_print(out, &text, 0o640)?
        }
    })
}
