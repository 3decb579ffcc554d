//! `safeport-admin hashes …`: hash lists through a node's admin API (publish or add to one of
//! the node's own lists from a file, list and inspect the lists held, export one, look a hash
//! or a file up), and `hashes check`, which validates or converts a list file offline.
//!
//! Files are validated here first with the same importer the node uses, so a bad file is
//! refused with its line numbers before anything is sent. Reading and checking a large file,
//! sending it, the node's work on it and exports show their progress on a terminal.

use std::path::PathBuf;

use clap::Subcommand;
use safeport_protocol::Timestamp;
use safeport_protocol::hashlist::HashCategory;
use safeport_protocol::hashlist::formats::{self, ImportOptions, ListFormat};
use serde_json::{Value, json};

use safeport_admin::files;
use safeport_admin::progress::Progress;

use crate::NodeArgs;

/// Largest list file read (a 10-million-entry CSV is about 800 MB).
pub(crate) const MAX_LIST_FILE: u64 = 2 * 1024 * 1024 * 1024;
/// How long publishing may take: a 10-million-entry version is signed, stored and applied in
/// a few minutes. The node's own `http.request_timeout_secs` must allow as much.
const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Subcommand)]
pub(crate) enum HashesCommand {
    /// Publish FILE as the whole next version of one of the node's own lists (entries not in
    /// the file are removed).
    Publish {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        file: ListFile,
        #[command(flatten)]
        version: VersionArgs,
    },
    /// Add FILE's entries to one of the node's own lists as its next version (entries
    /// already listed stay; a listed value with another category is updated).
    Import {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        file: ListFile,
        #[command(flatten)]
        version: VersionArgs,
    },
    /// The lists the node holds (own and subscribed), with version, size and staleness.
    List {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// One list: version, entries, digest, publication, expiry, staleness.
    Status {
        #[command(flatten)]
        node: NodeArgs,
        /// The list, as publisher/name (e.g. interpol/baseline).
        list: String,
    },
    /// Write a list the node holds in one of the formats.
    Export {
        #[command(flatten)]
        node: NodeArgs,
        /// The list, as publisher/name.
        list: String,
        /// csv, hma, vics, plain-md5, plain-sha1, plain-sha256 or plain-pdq.
        #[arg(long)]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Which lists hold a hash (`sha256:…`, `md5:…`, `sha1:…`, or `pdq:…` within a distance),
    /// or a file (its hashes, and PDQ in all eight orientations of a picture).
    Match {
        #[command(flatten)]
        node: NodeArgs,
        /// `algorithm:hex`.
        #[arg(required_unless_present = "file")]
        hash: Option<String>,
        /// A media file to look up instead.
        #[arg(long, conflicts_with = "hash")]
        file: Option<PathBuf>,
        /// Largest PDQ distance (default 31).
        #[arg(long)]
        distance: Option<u32>,
    },
    /// Validate a list file offline (line numbers of every error) and optionally convert it.
    Check {
        #[command(flatten)]
        file: ListFile,
        /// Write the list in this format to standard output.
        #[arg(long)]
        to: Option<String>,
    },
}

/// A list file and how to read it.
#[derive(clap::Args)]
pub(crate) struct ListFile {
    /// The file.
    path: PathBuf,
    /// csv, hma, vics, plain-md5, plain-sha1, plain-sha256 or plain-pdq.
    #[arg(long)]
    format: String,
    /// Category of entries in formats that have none (hma, plain): baseline,
    /// nationally-illegal or vics-N.
    #[arg(long, default_value = "baseline")]
    category: String,
}

/// The version to make.
#[derive(clap::Args)]
pub(crate) struct VersionArgs {
    /// The list's name (the publisher is the node).
    #[arg(long)]
    list: String,
    /// The country of a national list.
    #[arg(long)]
    national: Option<String>,
    /// Days subscribers treat the version as current.
    #[arg(long, default_value_t = 30)]
    valid_days: u64,
    /// Also publish a snapshot of this version.
    #[arg(long)]
    snapshot: bool,
}

/// Reads and validates a list file; returns its text and entry count.
fn read_checked(
    file: &ListFile,
    progress: Progress,
) -> anyhow::Result<(String, Vec<safeport_protocol::hashlist::HashEntry>)> {
    let format: ListFormat = file.format.parse()?;
    let category: HashCategory = file.category.parse().map_err(anyhow::Error::msg)?;
    let _spinner = progress.spinner(format!("reading and checking {}", file.path.display()));
    let text = files::read_text_within(&file.path, MAX_LIST_FILE)?;
    let options = ImportOptions {
        category,
        added_at: Timestamp(0),
    };
    let entries = formats::import(format, &text, &options).map_err(|errors| {
        anyhow::anyhow!(
            "{} is not a valid {} list:\n{errors}",
            file.path.display(),
            file.format
        )
    })?;
    Ok((text, entries))
}

fn version_path(file: &ListFile, version: &VersionArgs, mode: &str) -> String {
    let mut path = format!(
        "/admin/hash-lists/{}/versions?format={}&category={}&valid_days={}&mode={mode}",
        version.list, file.format, file.category, version.valid_days
    );
    if let Some(country) = &version.national {
        path.push_str(&format!("&national={country}"));
    }
    if version.snapshot {
        path.push_str("&snapshot=true");
    }
    path
}

/// Validates the file here, then has the node make the list's next version from it.
fn publish(
    node: &NodeArgs,
    file: &ListFile,
    version: &VersionArgs,
    mode: &str,
    progress: Progress,
) -> anyhow::Result<Value> {
    let (text, _) = read_checked(file, progress)?;
    let transfer = progress.transfer(format!("version of {}", version.list));
    Ok(node
        .slow_client(PUBLISH_TIMEOUT)?
        .observed_by(transfer.observer())
        .post_text(&version_path(file, version, mode), text)?)
}

/// Runs a hash-list command; `Value::Null` when the output went to standard output already.
pub(crate) fn run(command: HashesCommand, progress: Progress) -> anyhow::Result<Value> {
    Ok(match command {
        HashesCommand::Publish {
            node,
            file,
            version,
        } => publish(&node, &file, &version, "replace", progress)?,
        HashesCommand::Import {
            node,
            file,
            version,
        } => publish(&node, &file, &version, "add", progress)?,
        HashesCommand::List { node } => node.client()?.get("/admin/hash-lists")?,
        HashesCommand::Status { node, list } => {
            let lists = node.client()?.get("/admin/hash-lists")?;
            lists
                .as_array()
                .and_then(|all| all.iter().find(|l| l["list"] == json!(list)))
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("the node holds no list {list}"))?
        }
        HashesCommand::Export {
            node,
            list,
            format,
            out,
        } => {
            let text = {
                let transfer = progress.transfer(format!("export of {list}"));
                node.client()?
                    .observed_by(transfer.observer())
                    .get_text(&format!("/admin/hash-lists/{list}/export?format={format}"))?
            };
            crate::write_or_print(out, &text, files::PUBLIC_MODE)?
        }
        HashesCommand::Match {
            node,
            hash,
            file,
            distance,
        } => {
            let suffix = distance
                .map(|d| format!("distance={d}"))
                .unwrap_or_default();
            match (hash, file) {
                (Some(hash), _) => {
                    let sep = if suffix.is_empty() { "" } else { "&" };
                    node.client()?
                        .get(&format!("/admin/hash-lists/match?hash={hash}{sep}{suffix}"))?
                }
                (None, Some(path)) => {
                    let bytes = files::read_bytes_within(&path, MAX_LIST_FILE)?;
                    let transfer = progress.transfer(format!("lookup of {}", path.display()));
                    node.client()?
                        .observed_by(transfer.observer())
                        .post_bytes(&format!("/admin/hash-lists/match?{suffix}"), bytes)?
                }
                (None, None) => anyhow::bail!("give a hash or --file"),
            }
        }
        HashesCommand::Check { file, to } => {
            let (_, entries) = read_checked(&file, progress)?;
            match to {
                Some(target) => {
                    print!("{}", formats::export(target.parse()?, &entries)?);
                    Value::Null
                }
                None => {
                    json!({ "file": file.path.display().to_string(), "entries": entries.len() })
                }
            }
        }
    })
}
