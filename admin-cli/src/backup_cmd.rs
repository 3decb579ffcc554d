//! `safeport-admin backup …`: `create` asks a running node for an online backup into a
//! directory on its machine (admin API); `restore` puts a backup into a new data directory with
//! the node stopped, checking every file's digest and verifying every record against the
//! federation roots, and prints what it verified. Keys, certificates and the node's config are
//! not in a backup: back them up separately.
//!
//! Progress: `create` shows a spinner with the time elapsed (the node says nothing until it is
//! done); `restore` shows the bytes copied and checked, then the records verified.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

use safeport_admin::progress::Progress;
use safeport_node::backup::{self, RestoreOptions};

use crate::NodeArgs;

/// How long `backup create` waits for the node (the node's own request timeout still
/// applies; a large blob store needs `http.request_timeout_secs` raised).
const CREATE_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Subcommand)]
pub(crate) enum BackupCommand {
    /// Back up a running node: its database (a consistent checkpoint taken while it runs) and
    /// its encrypted media, into a new or empty directory on the node's machine.
    Create {
        #[command(flatten)]
        node: NodeArgs,
        /// The backup directory (new, or empty; its parent must exist).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Restore a backup into a new or empty data directory, with the node stopped: every
    /// file's digest is checked and every record verified before anything is put in place.
    Restore {
        /// The backup directory (holding backup.json).
        #[arg(long)]
        from: PathBuf,
        /// The node's data directory to restore into (new, or empty).
        #[arg(long)]
        data_dir: PathBuf,
        /// A federation root certificate the records' certificates chain to; repeat for
        /// several (the node config's federation.roots).
        #[arg(long = "root", required = true)]
        roots: Vec<PathBuf>,
        /// Restore even if some records do not verify (they are listed).
        #[arg(long)]
        accept_unverified: bool,
    },
}

/// Runs a backup command.
pub(crate) fn run(command: BackupCommand, progress: Progress) -> anyhow::Result<Value> {
    match command {
        BackupCommand::Create { node, dir } => {
            // The node resolves the path on its machine; the admin API is local, so make it
            // absolute here, against the operator's working directory.
            let dir =
                std::path::absolute(&dir).with_context(|| format!("--dir {}", dir.display()))?;
            let _spinner = progress.spinner(format!("the node backs up into {}", dir.display()));
            Ok(node.slow_client(CREATE_TIMEOUT)?.post(
                "/admin/backup",
                &serde_json::json!({ "dir": dir.display().to_string() }),
            )?)
        }
        BackupCommand::Restore {
            from,
            data_dir,
            roots,
            accept_unverified,
        } => {
            let options = RestoreOptions {
                anchors: backup::load_anchors(&roots)?,
                accept_unverified,
            };
            let bar = progress.restore();
            let report = backup::restore_with_progress(&from, &data_dir, &options, &bar)?;
            Ok(serde_json::to_value(report)?)
        }
    }
}
