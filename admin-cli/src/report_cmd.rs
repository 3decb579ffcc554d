//! `safeport-admin report …`: a hotline's reports through its node's admin API: intake for
//! scripts, the queue, one report, classification, country correction and re-crawl.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::NodeArgs;

#[derive(Subcommand)]
pub(crate) enum ReportCommand {
    /// Take in a reported URL; the node crawls it in the background.
    Add {
        #[command(flatten)]
        node: NodeArgs,
        /// The reported URL (http or https).
        #[arg(long)]
        url: String,
        /// How the tip came in: public-form, hotline, industry or proactive.
        #[arg(long, default_value = "public-form")]
        channel: String,
        /// When it came in (RFC 3339); default now.
        #[arg(long)]
        received_at: Option<String>,
        /// The reporter's remarks (kept internal, never shared).
        #[arg(long)]
        remarks: Option<String>,
    },
    /// The hotline's reports, newest first, with their crawl state.
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One report: page, hosting, media items and their classification, crawl problems.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// The report key (32 hex digits).
        key: String,
    },
    /// Classify one media item (by its SHA-256): a new signed revision.
    Classify {
        #[command(flatten)]
        node: NodeArgs,
        /// The report key.
        key: String,
        /// The item's SHA-256 (64 hex digits).
        sha256: String,
        /// baseline, nationally-illegal or not-illegal.
        #[arg(long = "as")]
        classification: String,
        /// The analyst's reference (not a name: it travels with the assessment).
        #[arg(long)]
        analyst: String,
    },
    /// Correct the hosting country.
    Country {
        #[command(flatten)]
        node: NodeArgs,
        /// The report key.
        key: String,
        /// ISO 3166-1 alpha-2 code.
        country: String,
        /// The analyst's reference.
        #[arg(long)]
        analyst: String,
    },
    /// Crawl the reported URL again.
    Recrawl {
        #[command(flatten)]
        node: NodeArgs,
        /// The report key.
        key: String,
    },
}

pub(crate) fn run(command: ReportCommand) -> anyhow::Result<Value> {
    Ok(match command {
        ReportCommand::Add {
            node,
            url,
            channel,
            received_at,
            remarks,
        } => {
            let mut body = json!({ "url": url, "channel": channel });
            if let Some(at) = received_at {
                body["received_at"] = json!(at);
            }
            if let Some(remarks) = remarks {
                body["remarks"] = json!(remarks);
            }
            node.client()?.post("/admin/reports", &body)?
        }
        ReportCommand::List { node, limit } => node
            .client()?
            .get(&format!("/admin/reports?limit={limit}"))?,
        ReportCommand::Show { node, key } => node
            .client()?
            .get(&format!("/admin/reports/{}", hex_arg(&key)?))?,
        ReportCommand::Classify {
            node,
            key,
            sha256,
            classification,
            analyst,
        } => node.client()?.post(
            &format!(
                "/admin/reports/{}/items/{}/classification",
                hex_arg(&key)?,
                hex_arg(&sha256)?
            ),
            &json!({ "classification": classification, "analyst": analyst }),
        )?,
        ReportCommand::Country {
            node,
            key,
            country,
            analyst,
        } => node.client()?.post(
            &format!("/admin/reports/{}/country", hex_arg(&key)?),
            &json!({ "country": country, "analyst": analyst }),
        )?,
        ReportCommand::Recrawl { node, key } => node.client()?.post(
            &format!("/admin/reports/{}/recrawl", hex_arg(&key)?),
            &json!({}),
        )?,
    })
}

/// Keeps path segments to hex digits, so an argument cannot reach another API path.
fn hex_arg(text: &str) -> anyhow::Result<&str> {
    anyhow::ensure!(
        !text.is_empty() && text.chars().all(|c| c.is_ascii_hexdigit()),
        "{text:?} is not a hex key"
    );
    Ok(text)
}
