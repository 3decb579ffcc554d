//! `safeport-admin audit …`: the node's audit trail through its admin API. `verify` checks the
//! hash chain and fails (exit status 1) when an entry was edited or removed; `export` writes
//! the log as JSON lines (and is itself recorded in it).

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;

use safeport_admin::files;
use safeport_admin::progress::Progress;

use crate::NodeArgs;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Entries, oldest first.
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// Entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Check the hash chain: every entry unaltered, none missing.
    Verify {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Write the log as JSON lines.
    Export {
        #[command(flatten)]
        node: NodeArgs,
        /// Entries after this sequence number.
        #[arg(long)]
        after: Option<u64>,
        /// Why the log is exported (recorded).
        #[arg(long)]
        purpose: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Runs an audit command; `Value::Null` when the output went to standard output already.
/// The export shows its progress on a terminal.
pub(crate) fn run(command: AuditCommand, progress: Progress) -> anyhow::Result<Value> {
    Ok(match command {
        AuditCommand::List { node, after, limit } => node
            .client()?
            .get(&format!("/admin/audit?after={after}&limit={limit}"))?,
        AuditCommand::Verify { node } => {
            let verified = node.client()?.get("/admin/audit/verify")?;
            if !verified["broken"].is_null() {
                anyhow::bail!(
                    "the audit trail is broken at entry {}: {} ({} entries before it verify)",
                    verified["broken"]["seq"],
                    verified["broken"]["reason"].as_str().unwrap_or("?"),
                    verified["entries"]
                );
            }
            verified
        }
        AuditCommand::Export {
            node,
            after,
            purpose,
            out,
        } => {
            let mut path = format!("/admin/audit/export?after={}", after.unwrap_or(0));
            if let Some(purpose) = purpose {
                path.push_str("&purpose=");
                path.push_str(&crate::query_value(&purpose));
            }
            let text = {
                let transfer = progress.transfer("export of the audit trail");
                node.client()?
                    .observed_by(transfer.observer())
                    .get_text(&path)?
            };
            let mut written = crate::write_or_print(out, &text, files::SECRET_MODE)?;
            if let Some(fields) = written.as_object_mut() {
                fields.insert("entries".into(), text.lines().count().into());
            }
            written
        }
    })
}
