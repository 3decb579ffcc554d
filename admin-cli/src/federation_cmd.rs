//! `safeport-admin peers …` and `agreement …`: a running node's peers and the agreement
//! lifecycle (propose from a template, list, accept, revoke), through its admin API.

use clap::Subcommand;

use crate::NodeArgs;

#[derive(Subcommand)]
pub(crate) enum PeersCommand {
    /// Connect to a peer (and keep reconnecting): its address and the agency it must prove.
    Add {
        #[command(flatten)]
        node: NodeArgs,
        /// The peer's libp2p address, e.g. /ip4/192.0.2.7/tcp/4470.
        #[arg(long)]
        address: String,
        /// The agency id its certificate must name.
        #[arg(long)]
        agency: String,
    },
    /// List peers with their state (admitted, refused and why).
    List {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Stop connecting to a peer.
    Remove {
        #[command(flatten)]
        node: NodeArgs,
        /// The peer's agency id.
        agency: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum AgreementCommand {
    /// Propose an agreement from a template; the other party accepts it on its node.
    Propose {
        #[command(flatten)]
        node: NodeArgs,
        /// forwarding (hotline to the hosting country's hotline), icse-contribution (hotline to
        /// INTERPOL), national-access (hotline to its national police), hash-list-subscription
        /// or iwol-subscription (INTERPOL to a hotline or police), iwol-contribution (a hotline
        /// or police to INTERPOL: its IWOL suggestions).
        #[arg(long)]
        template: String,
        /// The providing agency (whose records flow).
        #[arg(long)]
        provider: String,
        /// The receiving agency.
        #[arg(long)]
        recipient: String,
        /// Hosting country (forwarding), jurisdiction (national-access), or the national hash
        /// list subscribed to besides the baseline list (hash-list-subscription).
        #[arg(long)]
        country: Option<String>,
        /// Classifications for national-access; repeat (default: baseline, nationally-illegal).
        #[arg(long = "classification")]
        classifications: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// List agreements (active, pending, revoked, invalid and why).
    List {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Countersign a pending agreement.
    Accept {
        #[command(flatten)]
        node: NodeArgs,
        /// The agreement id (32 hex digits).
        id: String,
    },
    /// End an agreement; the other party is told.
    Revoke {
        #[command(flatten)]
        node: NodeArgs,
        /// The agreement id (32 hex digits).
        id: String,
        /// Why, for the other party.
        #[arg(long)]
        reason: String,
    },
}

pub(crate) fn peers(command: PeersCommand) -> anyhow::Result<serde_json::Value> {
    Ok(match command {
        PeersCommand::Add {
            node,
            address,
            agency,
        } => node.client()?.post(
            "/admin/peers",
            &serde_json::json!({ "address": address, "agency": agency }),
        )?,
        PeersCommand::List { node } => node.client()?.get("/admin/peers")?,
        PeersCommand::Remove { node, agency } => {
            node.client()?.delete(&format!("/admin/peers/{agency}"))?
        }
    })
}

pub(crate) fn agreement(command: AgreementCommand) -> anyhow::Result<serde_json::Value> {
    Ok(match command {
        AgreementCommand::Propose {
            node,
            template,
            provider,
            recipient,
            country,
            classifications,
            days,
        } => {
            let mut body = serde_json::json!({
                "template": template, "provider": provider, "recipient": recipient,
                "country": country, "days": days,
            });
            if !classifications.is_empty() {
                body["classifications"] = serde_json::json!(classifications);
            }
            node.client()?.post("/admin/agreements", &body)?
        }
        AgreementCommand::List { node } => node.client()?.get("/admin/agreements")?,
        AgreementCommand::Accept { node, id } => node.client()?.post(
            &format!("/admin/agreements/{id}/accept"),
            &serde_json::json!({}),
        )?,
        AgreementCommand::Revoke { node, id, reason } => node.client()?.post(
            &format!("/admin/agreements/{id}/revoke"),
            &serde_json::json!({ "reason": reason }),
        )?,
    })
}
