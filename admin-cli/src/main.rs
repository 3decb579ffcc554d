//! `safeport-admin`: the federation authority's offline CA and a node operator's key tool.
//! Parses arguments, calls the library, prints a readable summary or `--json`, and exits
//! non-zero with a one-line reason on any error.

mod audit_cmd;
mod backup_cmd;
mod federation_cmd;
mod hashes_cmd;
mod iwol_cmd;
mod media_cmd;
mod package_cmd;
mod report_cmd;
mod search_cmd;
mod users_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use safeport_admin::progress::Progress;
use safeport_admin::{ca, cert, client, node_init};
use safeport_protocol::pki::AgencySubject;
use safeport_protocol::{AgencyId, Country, Role};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "safeport-admin",
    version,
    about = "Safeport administration: federation CA, node keys and certificates"
)]
struct Cli {
    /// Print results as JSON (for scripts) instead of a readable summary.
    #[arg(long, global = true)]
    json: bool,
    /// Draw no progress on standard error (there is none with --json, or when standard error
    /// is not a terminal, either).
    #[arg(long, global = true)]
    no_progress: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The federation authority's offline certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Node key operations.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Certificate checks.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Peers of a running node (admin API).
    #[command(subcommand)]
    Peers(federation_cmd::PeersCommand),
    /// Agreements of a running node (admin API).
    #[command(subcommand)]
    Agreement(federation_cmd::AgreementCommand),
    /// Withdraw one of this node's own records from every agency it reached (admin API).
    Withdraw {
        #[command(flatten)]
        node: NodeArgs,
        /// The record id (64 hex digits).
        id: String,
        /// Why, for the holders.
        #[arg(long)]
        reason: String,
    },
    /// Records this node refused from peers, newest first, with the reason (admin API).
    Rejections {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// A hotline's reports: intake, list, show, classify, country, re-crawl (admin API).
    #[command(subcommand)]
    Report(report_cmd::ReportCommand),
    /// Media files, hashed as a node hashes crawled media.
    #[command(subcommand)]
    Media(MediaCommand),
    /// Hash lists: publish, import, list, status, export, match (admin API); check offline.
    #[command(subcommand)]
    Hashes(hashes_cmd::HashesCommand),
    /// Intelligence packages: create on a node (admin API), verify offline.
    #[command(subcommand)]
    Package(package_cmd::PackageCommand),
    /// The node's audit trail: list, verify the hash chain, export (admin API).
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Online backup of a running node (admin API); restore into a new data directory with
    /// the node stopped, verifying every record.
    #[command(subcommand)]
    Backup(backup_cmd::BackupCommand),
    /// Search the reports held by hosting country, hotline, classification, dates, domain,
    /// text, media hash (PDQ within a distance), hash-list match and takedown status, or run
    /// a saved search (admin API; audited).
    Search(search_cmd::SearchArgs),
    /// Saved searches: list, show, delete (admin API).
    #[command(subcommand)]
    Searches(search_cmd::SearchesCommand),
    /// What the node holds: a report's detail, a media item's detail, an item's content, the
    /// agency behind a report (admin API; audited).
    #[command(subcommand)]
    Held(search_cmd::HeldCommand),
    /// Web portal accounts with roles: list, add, disable, enable, reset (admin API; audited).
    #[command(subcommand)]
    Users(users_cmd::UsersCommand),
    /// INTERPOL's Worst Of list: suggest, confirm, review, delist, status, export (admin API).
    #[command(subcommand)]
    Iwol(iwol_cmd::IwolCommand),
    /// A running node's peers, sync cursors, lag and outbox sizes (admin API).
    Status {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Give a running node the authority's new CRL; connections of newly revoked agencies
    /// are dropped at once (admin API).
    CrlPush {
        #[command(flatten)]
        node: NodeArgs,
        /// The CRL file (PEM) from `ca crl`.
        crl: PathBuf,
    },
}

#[derive(Subcommand)]
enum MediaCommand {
    /// MD5, SHA-1, SHA-256 and (for images) PDQ with its quality, of local files.
    Hash {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// How to reach a running node's admin API.
#[derive(Args)]
pub(crate) struct NodeArgs {
    /// The node's admin API.
    #[arg(
        long,
        env = "SAFEPORT_ADMIN_URL",
        default_value = "http://127.0.0.1:8471"
    )]
    node: String,
    /// The file holding the admin token (created by the node on first start).
    #[arg(
        long,
        env = "SAFEPORT_ADMIN_TOKEN_FILE",
        default_value = "safeport-data/admin.token"
    )]
    token_file: PathBuf,
    /// Who is acting (recorded in the node's audit trail; default: the token's holder).
    #[arg(long, env = "SAFEPORT_ACTOR")]
    actor: Option<String>,
}

impl NodeArgs {
    fn client(&self) -> anyhow::Result<client::NodeClient> {
        Ok(client::NodeClient::new(&self.node, &self.token_file)?.acting_as(self.actor.clone()))
    }

    /// A client for calls that may take long (publishing a large list).
    fn slow_client(&self, timeout: std::time::Duration) -> anyhow::Result<client::NodeClient> {
        Ok(
            client::NodeClient::with_timeout(&self.node, &self.token_file, timeout)?
                .acting_as(self.actor.clone()),
        )
    }
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create the federation root: a key (0600), a self-signed root certificate and a ledger.
    Init {
        /// Directory for root.key, root.pem and ca.json (created; must not hold a root yet).
        #[arg(long)]
        dir: PathBuf,
        /// The federation's name, used as the root certificate's common name.
        #[arg(long)]
        name: String,
        /// Validity of the root certificate in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Issue an agency certificate for a node's public key.
    Issue {
        #[command(flatten)]
        ca: CaDirArg,
        /// The node's public key file (node.pub.pem from `node init`).
        #[arg(long)]
        public_key: PathBuf,
        /// The agency id, e.g. nl-hotline (a-z, 0-9 and '-').
        #[arg(long)]
        agency_id: String,
        /// The agency's role: hotline, lea or interpol.
        #[arg(long)]
        role: String,
        /// The agency's country as ISO 3166-1 alpha-2, e.g. NL.
        #[arg(long)]
        country: String,
        /// The agency's display name.
        #[arg(long)]
        organisation: String,
        /// A contact email address, e.g. hotline@agency.example (repeatable, at most 4; in the
        /// certificate's subjectAltName).
        #[arg(long = "contact-email", value_name = "ADDRESS")]
        contact_emails: Vec<String>,
        /// A contact phone number, e.g. "+31 20 555 0100" (the subject's telephoneNumber).
        #[arg(long, value_name = "NUMBER")]
        contact_phone: Option<String>,
        /// A website or contact page, https:// only (in the certificate's subjectAltName).
        #[arg(long, value_name = "URL")]
        contact_url: Option<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Where to write the certificate (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a certificate (by serial or file); publish the change with `ca crl`.
    Revoke {
        #[command(flatten)]
        ca: CaDirArg,
        /// Serial number in hex, as `cert verify` prints it.
        #[arg(long, conflicts_with = "cert", required_unless_present = "cert")]
        serial: Option<String>,
        /// The certificate file to revoke.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// Why: `superseded` after a node key rotation or `cessation-of-operation` keep what the
        /// key signed before counting; `key-compromise` (or the default, `unspecified`) makes
        /// nothing it ever signed count.
        #[arg(long, default_value = "unspecified", value_parser = parse_revocation_reason)]
        reason: safeport_protocol::pki::RevocationReason,
    },
    /// Publish a signed CRL of every revoked certificate.
    Crl {
        #[command(flatten)]
        ca: CaDirArg,
        /// Where to write the CRL (replaced if it exists).
        #[arg(long)]
        out: PathBuf,
        /// Days until the next CRL is due; nodes refuse a CRL past that date.
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
}

#[derive(Args)]
struct CaDirArg {
    /// The CA directory made by `ca init`.
    #[arg(long)]
    ca_dir: PathBuf,
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Create a node key (0600), its public key file for the authority, and a node.toml.
    Init {
        /// Directory for node.key, node.pub.pem and node.toml (created).
        #[arg(long)]
        dir: PathBuf,
        /// Address for the node's HTTP API in the written config.
        #[arg(long, default_value = "127.0.0.1:8470")]
        listen: String,
    },
    /// Key rotation, step 1: create the next node key (node.next.key, 0600) and its public key
    /// file (node.next.pub.pem) for the federation authority's `ca issue`.
    NewKey {
        /// The node's directory (where node.key is).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Key rotation, step 2: check the new certificate against the node's configuration and
    /// install key and certificate in place of the current ones (kept as *.retired); restart
    /// the node afterwards.
    InstallKey {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The new key (from `node new-key`).
        #[arg(long)]
        key: PathBuf,
        /// The certificate the authority issued for it.
        #[arg(long)]
        cert: PathBuf,
    },
    /// Let the node's current key open its media key too, opened with an earlier key: for a
    /// backup from before a key rotation restored under the current key (node stopped).
    RewrapMediaKey {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The earlier key (e.g. node.key.<serial>.retired).
        #[arg(long)]
        from_key: PathBuf,
    },
}

#[derive(Subcommand)]
enum CertCommand {
    /// Verify an agency certificate: chain to a root, validity, CRL, and optionally role and key.
    Verify {
        /// The agency certificate (PEM).
        certificate: PathBuf,
        /// A federation root certificate; repeat for several.
        #[arg(long = "root", required = true)]
        roots: Vec<PathBuf>,
        /// A CRL to check revocation against; repeat for several.
        #[arg(long = "crl")]
        crls: Vec<PathBuf>,
        /// Check at this RFC 3339 time instead of now, e.g. 2027-01-31T12:00:00Z.
        #[arg(long)]
        at: Option<String>,
        /// Accept only these roles (hotline, lea, interpol); repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A public key file (PEM) the certificate must certify.
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

fn print(output: &impl Serialize, json: bool) -> anyhow::Result<()> {
    let value = serde_json::to_value(output)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if let serde_json::Value::Object(fields) = value {
        let width = fields.keys().map(String::len).max().unwrap_or(0);
        for (name, value) in fields {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            println!("{:width$}  {text}", name.replace('_', " "));
        }
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let now = safeport_admin::now();
    let progress = Progress::new(!cli.json && !cli.no_progress);
    match cli.command {
        Command::Peers(command) => print_value(&federation_cmd::peers(command)?, cli.json),
        Command::Agreement(command) => print_value(&federation_cmd::agreement(command)?, cli.json),
        Command::Status { node } => print_value(&node.client()?.get("/admin/status")?, cli.json),
        Command::Withdraw { node, id, reason } => print_value(
            &node.client()?.post(
                &format!("/admin/records/{id}/withdraw"),
                &serde_json::json!({ "reason": reason }),
            )?,
            cli.json,
        ),
        Command::Report(command) => print_value(&report_cmd::run(command)?, cli.json),
        Command::Hashes(command) => match hashes_cmd::run(command, progress)? {
            // Exports and conversions went to standard output already.
            serde_json::Value::Null => Ok(()),
            value => print_value(&value, cli.json),
        },
        Command::Package(command) => {
            print_value(&package_cmd::run(command, now, progress)?, cli.json)
        }
        Command::Backup(command) => print_value(&backup_cmd::run(command, progress)?, cli.json),
        Command::Audit(command) => match audit_cmd::run(command, progress)? {
            serde_json::Value::Null => Ok(()),
            value => print_value(&value, cli.json),
        },
        Command::Search(args) => print_value(&search_cmd::search(args)?, cli.json),
        Command::Searches(command) => print_value(&search_cmd::searches(command)?, cli.json),
        Command::Held(command) => print_value(&search_cmd::held(command, progress)?, cli.json),
        Command::Users(command) => users_cmd::run(command, cli.json),
        Command::Iwol(command) => match iwol_cmd::run(command, progress)? {
            serde_json::Value::Null => Ok(()),
            value => print_value(&value, cli.json),
        },
        Command::Media(MediaCommand::Hash { files }) => media_cmd::hash(&files, cli.json, progress),
        Command::Rejections { node } => {
            print_value(&node.client()?.get("/admin/rejections")?, cli.json)
        }
        Command::CrlPush { node, crl } => {
            let pem = safeport_admin::files::read_text(&crl)?;
            print_value(&node.client()?.post_text("/admin/crl", pem)?, cli.json)
        }
        Command::Ca(CaCommand::Init { dir, name, days }) => {
            print(&ca::init(&dir, &name, days, now)?, cli.json)
        }
        Command::Ca(CaCommand::Issue {
            ca: CaDirArg { ca_dir },
            public_key,
            agency_id,
            role,
            country,
            organisation,
            contact_emails,
            contact_phone,
            contact_url,
            days,
            out,
        }) => {
            let subject = AgencySubject {
                agency: AgencyId::new(&agency_id)?,
                role: role.parse::<Role>()?,
                country: Country::new(&country)?,
                organisation,
            };
            let contact = safeport_protocol::pki::Contact {
                emails: contact_emails,
                phone: contact_phone,
                url: contact_url,
            };
            let public_key_pem = safeport_admin::files::read_text(&public_key)?;
            let mut ca_dir = ca::CaDir::open(&ca_dir)?;
            print(
                &ca::issue(
                    &mut ca_dir,
                    &subject,
                    &contact,
                    &public_key_pem,
                    days,
                    now,
                    &out,
                )?,
                cli.json,
            )
        }
        Command::Ca(CaCommand::Revoke {
            ca: CaDirArg { ca_dir },
            serial,
            cert,
            reason,
        }) => {
            let serial = match (serial, cert) {
                (Some(serial), _) => serial,
                (None, Some(path)) => {
                    let pem = safeport_admin::files::read_text(&path)?;
                    safeport_protocol::pki::certificate_serial(&pem)
                        .with_context(|| format!("{}", path.display()))?
                }
                (None, None) => anyhow::bail!("give --serial or --cert"),
            };
            let mut ca_dir = ca::CaDir::open(&ca_dir)?;
            print(&ca::revoke(&mut ca_dir, &serial, reason, now)?, cli.json)
        }
        Command::Ca(CaCommand::Crl {
            ca: CaDirArg { ca_dir },
            out,
            days,
        }) => {
            let mut ca_dir = ca::CaDir::open(&ca_dir)?;
            print(&ca::crl(&mut ca_dir, &out, days, now)?, cli.json)
        }
        Command::Node(NodeCommand::Init { dir, listen }) => {
            listen.parse::<std::net::SocketAddr>().with_context(|| {
                format!("--listen {listen:?} is not an address like 127.0.0.1:8470")
            })?;
            print(&node_init::init(&dir, &listen)?, cli.json)
        }
        Command::Node(NodeCommand::NewKey { dir }) => {
            print(&safeport_admin::rotate::new_key(&dir)?, cli.json)
        }
        Command::Node(NodeCommand::RewrapMediaKey { config, from_key }) => print(
            &safeport_admin::rotate::rewrap_media_key_from(&config, &from_key)?,
            cli.json,
        ),
        Command::Node(NodeCommand::InstallKey { config, key, cert }) => print(
            &safeport_admin::rotate::install_key(&config, &key, &cert, now)?,
            cli.json,
        ),
        Command::Cert(CertCommand::Verify {
            certificate,
            roots,
            crls,
            at,
            roles,
            key,
        }) => {
            let at = match at {
                Some(text) => safeport_admin::parse_time(&text)?,
                None => now,
            };
            let roles = roles
                .iter()
                .map(|r| r.parse::<Role>())
                .collect::<Result<Vec<_>, _>>()?;
            let request = cert::VerifyRequest {
                certificate: &certificate,
                roots: &roots,
                crls: &crls,
                at,
                roles,
                key: key.as_deref(),
            };
            match cert::verify(&request) {
                Ok(output) => print(&output, cli.json),
                Err(error) => {
                    if cli.json {
                        println!(
                            "{}",
                            serde_json::json!({ "valid": false, "error": error.to_string() })
                        );
                    }
                    Err(error.into())
                }
            }
        }
    }
}

/// Writes an export to `out` (replacing it atomically, with `mode`) and describes what was
/// written, or prints it to standard output and answers `Value::Null`.
pub(crate) fn write_or_print(
    out: Option<PathBuf>,
    text: &str,
    mode: u32,
) -> anyhow::Result<serde_json::Value> {
    match out {
        Some(path) => {
            safeport_admin::files::write_file(
                &path,
                text,
                mode,
                safeport_admin::files::Overwrite::Replace,
            )?;
            Ok(serde_json::json!({ "written": path.display().to_string(), "bytes": text.len() }))
        }
        None => {
            print!("{text}");
            Ok(serde_json::Value::Null)
        }
    }
}

/// Percent-encodes a query value (letters, digits, `.`, `-` and `_` stay as they are).
pub(crate) fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Prints an API answer: JSON as is with `--json`, otherwise one readable line per field
/// (and per element of a list).
fn print_value(value: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
        return Ok(());
    }
    match value {
        serde_json::Value::Array(items) if items.is_empty() => println!("(none)"),
        serde_json::Value::Array(items) => {
            for item in items {
                print(item, false)?;
                println!();
            }
        }
        other => print(other, false)?,
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads a `ca revoke --reason` value.
fn parse_revocation_reason(name: &str) -> Result<safeport_protocol::pki::RevocationReason, String> {
    use safeport_protocol::pki::RevocationReason;
    RevocationReason::parse(name).ok_or_else(|| {
        let names: Vec<&str> = RevocationReason::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown reason {name:?}; one of {}", names.join(", "))
    })
}
