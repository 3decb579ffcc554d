//! `safeport-admin search`, `searches …`, `held …` and `agency show`: police access through a
//! node's admin API. Searches over the reports held (criteria, or a saved search), saved
//! searches, a held report's detail, a media item's detail, a held item's content, and the
//! agency behind a report. The node decides what may be seen and records every consultation
//! in its audit trail; this side only asks and prints.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use safeport_admin::files;
use safeport_admin::progress::Progress;

use crate::{NodeArgs, query_value};

/// The criteria of a search (each optional; all given must hold).
#[derive(Args, Default)]
pub(crate) struct Criteria {
    /// Hosting country (ISO 3166-1 alpha-2).
    #[arg(long)]
    country: Option<String>,
    /// Reporting hotline (agency id).
    #[arg(long)]
    hotline: Option<String>,
    /// With an item of this classification (baseline, nationally-illegal, not-illegal,
    /// unassessed).
    #[arg(long)]
    classification: Option<String>,
    /// Received at or after (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Received before (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// On this domain or a subdomain.
    #[arg(long)]
    domain: Option<String>,
    /// Text in the URLs or the page title.
    #[arg(long)]
    text: Option<String>,
    /// A media hash: ALGORITHM:HEX (md5, sha1, sha256, pdq) or 32/40/64 hex digits.
    #[arg(long)]
    hash: Option<String>,
    /// Largest PDQ distance for a pdq: hash (default 31).
    #[arg(long)]
    distance: Option<u32>,
    /// Items classified by a hash-list match: any, or a list id publisher/name.
    #[arg(long = "hash-list")]
    hash_list: Option<String>,
    /// Latest takedown status (notice-sent, content-removed, content-still-online,
    /// passed-to-police), or none.
    #[arg(long)]
    status: Option<String>,
    /// newest (default) or oldest first.
    #[arg(long)]
    order: Option<String>,
    /// Results skipped.
    #[arg(long)]
    offset: Option<usize>,
    /// Results per page (at most 500).
    #[arg(long)]
    limit: Option<usize>,
}

impl Criteria {
    /// The criteria given, by the names the node's API uses.
    fn fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        let texts = [
            ("country", &self.country),
            ("hotline", &self.hotline),
            ("classification", &self.classification),
            ("since", &self.since),
            ("until", &self.until),
            ("domain", &self.domain),
            ("text", &self.text),
            ("hash", &self.hash),
            ("hash_list", &self.hash_list),
            ("status", &self.status),
            ("order", &self.order),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                fields.insert(name.into(), json!(value));
            }
        }
        if let Some(distance) = self.distance {
            fields.insert("distance".into(), json!(distance));
        }
        if let Some(offset) = self.offset {
            fields.insert("offset".into(), json!(offset));
        }
        if let Some(limit) = self.limit {
            fields.insert("limit".into(), json!(limit));
        }
        fields
    }
}

/// `safeport-admin search`.
#[derive(Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    criteria: Criteria,
    /// Run this saved search (with the paging options given here).
    #[arg(long, conflicts_with = "save")]
    saved: Option<String>,
    /// Save these criteria under this name, then run them.
    #[arg(long)]
    save: Option<String>,
    /// Why the search is made (recorded in the audit trail).
    #[arg(long)]
    purpose: Option<String>,
}

/// `safeport-admin searches …`.
#[derive(Subcommand)]
pub(crate) enum SearchesCommand {
    /// Saved searches.
    List {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// One saved search's criteria.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// Its name.
        name: String,
    },
    /// Delete a saved search.
    Delete {
        #[command(flatten)]
        node: NodeArgs,
        /// Its name.
        name: String,
    },
}

/// `safeport-admin held …`.
#[derive(Subcommand)]
pub(crate) enum HeldCommand {
    /// A held report's detail: revisions, crawl metadata, items with hashes and who classified
    /// them, statuses (as far as this node may show them).
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// The report, as origin/report-key.
        report: String,
    },
    /// Where a media item occurs among the reports held, and which hash lists match it.
    Media {
        #[command(flatten)]
        node: NodeArgs,
        /// Its SHA-256.
        sha256: String,
    },
    /// A held item's content, where an agreement grants content (recorded with the purpose).
    Content {
        #[command(flatten)]
        node: NodeArgs,
        /// The report, as origin/report-key.
        report: String,
        /// The item's SHA-256.
        sha256: String,
        /// Why the content is viewed.
        #[arg(long)]
        purpose: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// The agency behind a report, as its certificate names it.
    Agency {
        #[command(flatten)]
        node: NodeArgs,
        /// The agency id.
        agency: String,
    },
}

fn query_string(fields: &Map<String, Value>) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{name}={}", query_value(&text))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `origin/key` checked for shape before it goes into a path.
fn report_path(report: &str) -> anyhow::Result<String> {
    let (origin, key) = report
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("a report is origin/report-key, e.g. nl-hotline/0a1b…"))?;
    Ok(format!("{}/{}", query_value(origin), query_value(key)))
}

/// Runs `search`.
pub(crate) fn search(args: SearchArgs) -> anyhow::Result<Value> {
    let client = args.node.client()?;
    let mut fields = args.criteria.fields();
    if let Some(name) = &args.save {
        client.put(
            &format!("/admin/searches/{}", query_value(name)),
            &Value::Object(fields.clone()),
        )?;
        fields = ["offset", "limit", "order"]
            .iter()
            .filter_map(|k| fields.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect();
        fields.insert("saved".into(), json!(name));
    }
    if let Some(name) = &args.saved {
        fields.insert("saved".into(), json!(name));
    }
    if let Some(purpose) = &args.purpose {
        fields.insert("purpose".into(), json!(purpose));
    }
    Ok(client.get(&format!("/admin/search?{}", query_string(&fields)))?)
}

/// Runs a `searches` command.
pub(crate) fn searches(command: SearchesCommand) -> anyhow::Result<Value> {
    Ok(match command {
        SearchesCommand::List { node } => node.client()?.get("/admin/searches")?,
        SearchesCommand::Show { node, name } => node
            .client()?
            .get(&format!("/admin/searches/{}", query_value(&name)))?,
        SearchesCommand::Delete { node, name } => node
            .client()?
            .delete(&format!("/admin/searches/{}", query_value(&name)))?,
    })
}

/// Runs a `held` command; fetching content shows its progress on a terminal.
pub(crate) fn held(command: HeldCommand, progress: Progress) -> anyhow::Result<Value> {
    Ok(match command {
        HeldCommand::Show { node, report } => node
            .client()?
            .get(&format!("/admin/held/{}", report_path(&report)?))?,
        HeldCommand::Media { node, sha256 } => node
            .client()?
            .get(&format!("/admin/media/{}", query_value(&sha256)))?,
        HeldCommand::Content {
            node,
            report,
            sha256,
            purpose,
            out,
        } => {
            let path = format!(
                "/admin/held/{}/media/{}?purpose={}",
                report_path(&report)?,
                query_value(&sha256),
                query_value(&purpose)
            );
            let bytes = {
                let transfer = progress.transfer("content");
                node.client()?
                    .observed_by(transfer.observer())
                    .get_bytes(&path)?
            };
            files::write_bytes(&out, &bytes, files::SECRET_MODE)?;
            json!({ "written": out.display().to_string(), "bytes": bytes.len() })
        }
        HeldCommand::Agency { node, agency } => node
            .client()?
            .get(&format!("/admin/agencies/{}", query_value(&agency)))?,
    })
}
