//! `safeport-admin package …`: compose an intelligence package on a node (its admin API signs
//! and audits it) and check one offline, with the federation's root. Composing shows the
//! time the node takes, then the package's bytes as they arrive.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use safeport_admin::files;
use safeport_admin::progress::Progress;

use crate::NodeArgs;

/// How long composing may take (content of a thousand reports is read and zipped).
const COMPOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(900);

#[derive(Subcommand)]
pub(crate) enum PackageCommand {
    /// Compose a package of reports this node holds and may show.
    Create {
        #[command(flatten)]
        node: NodeArgs,
        /// A report, as origin/report-key (repeat).
        #[arg(long = "report", required_unless_present = "saved_search")]
        reports: Vec<String>,
        /// Also every report this saved search finds now.
        #[arg(long = "saved-search")]
        saved_search: Option<String>,
        /// The investigation's case reference.
        #[arg(long = "case")]
        case_reference: String,
        /// Why the package is composed.
        #[arg(long)]
        purpose: String,
        /// Who it is for, if it leaves the agency.
        #[arg(long)]
        recipient: Option<String>,
        /// Include media content where an agreement grants it.
        #[arg(long)]
        content: bool,
        /// Where to write the zip.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a package: archive, checksums, signature, the signer's certificate chain.
    Verify {
        /// The package (zip).
        package: PathBuf,
        /// A federation root certificate; repeat for several.
        #[arg(long = "root", required = true)]
        roots: Vec<PathBuf>,
        /// A CRL to check the signer against; repeat for several.
        #[arg(long = "crl")]
        crls: Vec<PathBuf>,
    },
}

/// Runs a package command.
pub(crate) fn run(
    command: PackageCommand,
    now: safeport_protocol::Timestamp,
    progress: Progress,
) -> anyhow::Result<Value> {
    Ok(match command {
        PackageCommand::Create {
            node,
            reports,
            saved_search,
            case_reference,
            purpose,
            recipient,
            content,
            out,
        } => {
            let body = json!({
                "reports": reports,
                "saved_search": saved_search,
                "case_reference": case_reference,
                "purpose": purpose,
                "recipient": recipient,
                "content": content,
            });
            let bytes = {
                let transfer = progress.transfer("package");
                node.slow_client(COMPOSE_TIMEOUT)?
                    .observed_by(transfer.observer())
                    .post_for_bytes("/admin/packages", &body)?
            };
            files::write_bytes(&out, &bytes, files::SECRET_MODE)?;
            json!({ "written": out.display().to_string(), "bytes": bytes.len() })
        }
        PackageCommand::Verify {
            package,
            roots,
            crls,
        } => serde_json::to_value(safeport_admin::package::verify(
            &package, &roots, &crls, now,
        )?)?,
    })
}
