//! `safeport-admin users …`: the web portal's local accounts through a node's admin API —
//! list, add, disable, enable and reset, each account with one or more roles (admin, analyst,
//! investigator, reviewer, auditor) and optionally a TOTP second factor. The node checks,
//! hashes and audits every change; this side reads passwords from files and prints.
//!
//! Passwords never appear on the command line (where `ps` and shell history would show them):
//! they come from a file given with `--password-file`, or the node generates one. A new
//! password and the `otpauth://` URI of a new second factor are printed once; the node keeps
//! only the password's hash and cannot show them again.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use safeport_admin::files;
use safeport_protocol::Timestamp;

use crate::{NodeArgs, query_value};

/// Largest password file read (a password is at most 256 bytes; the node checks the rule, this
/// only bounds what is read).
const MAX_PASSWORD_FILE: u64 = 4096;

#[derive(Subcommand)]
pub(crate) enum UsersCommand {
    /// Accounts with their roles, second factor and state (no secrets).
    List {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Add an account; prints its password (generated unless --password-file) and, with
    /// --totp, the otpauth:// URI to enrol an authenticator app. Shown only this once.
    Add {
        #[command(flatten)]
        node: NodeArgs,
        /// Login name: 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit.
        name: String,
        /// A role: admin, analyst, investigator, reviewer or auditor; repeat for several.
        #[arg(long = "role", value_name = "ROLE", required = true)]
        roles: Vec<String>,
        /// Require a TOTP second factor.
        #[arg(long)]
        totp: bool,
        /// Read the password from this file (one line; at least 12 characters) instead of
        /// having the node generate one.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Refuse the account's logins (its portal sessions end at their next request).
    Disable {
        #[command(flatten)]
        node: NodeArgs,
        /// Login name.
        name: String,
    },
    /// Allow a disabled account's logins again.
    Enable {
        #[command(flatten)]
        node: NodeArgs,
        /// Login name.
        name: String,
    },
    /// Set a new password (generated unless --password-file) and clear a lockout; with
    /// --totp enrol a new second factor, with --no-totp remove it.
    Reset {
        #[command(flatten)]
        node: NodeArgs,
        /// Login name.
        name: String,
        /// Read the new password from this file (one line) instead of generating one.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Enrol a new TOTP second factor (the old one stops working).
        #[arg(long, conflicts_with = "no_totp")]
        totp: bool,
        /// Remove the TOTP second factor.
        #[arg(long)]
        no_totp: bool,
    },
}

/// Reads a password from `path`: bounded, UTF-8, without its line ending.
fn read_password(path: &Path) -> anyhow::Result<String> {
    let text = files::read_text_within(path, MAX_PASSWORD_FILE)?;
    // Only the line ending an editor or `echo` adds; other spaces may be part of the password.
    let line = text
        .strip_suffix('\n')
        .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
        .unwrap_or(&text);
    if line.contains(['\n', '\r']) {
        anyhow::bail!(
            "{}: a password file holds one line (the password)",
            path.display()
        );
    }
    if line.is_empty() {
        anyhow::bail!("{}: the password file is empty", path.display());
    }
    Ok(line.to_owned())
}

fn user_path(name: &str, action: &str) -> String {
    format!("/admin/users/{}/{action}", query_value(name))
}

/// Runs a `users` command and prints its result (JSON with `--json`).
pub(crate) fn run(command: UsersCommand, json: bool) -> anyhow::Result<()> {
    match command {
        UsersCommand::List { node } => {
            let answer = node.client()?.get("/admin/users")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_accounts(&answer["users"]);
            }
        }
        UsersCommand::Add {
            node,
            name,
            roles,
            totp,
            password_file,
        } => {
            let mut body = json!({ "name": name, "roles": roles, "totp": totp });
            if let Some(path) = password_file {
                body["password"] = json!(read_password(&path)?);
            }
            let credentials = node
                .client()?
                .post("/admin/users", &body)
                .with_context(|| format!("adding account {name:?}"))?;
            print_credentials(&credentials, json)?;
        }
        UsersCommand::Disable { node, name } => set_enabled(&node, &name, false, json)?,
        UsersCommand::Enable { node, name } => set_enabled(&node, &name, true, json)?,
        UsersCommand::Reset {
            node,
            name,
            password_file,
            totp,
            no_totp,
        } => {
            let mut body = json!({});
            if let Some(path) = password_file {
                body["password"] = json!(read_password(&path)?);
            }
            if totp || no_totp {
                body["totp"] = json!(totp);
            }
            let credentials = node
                .client()?
                .post(&user_path(&name, "reset"), &body)
                .with_context(|| format!("resetting account {name:?}"))?;
            print_credentials(&credentials, json)?;
        }
    }
    Ok(())
}

fn set_enabled(node: &NodeArgs, name: &str, enabled: bool, json: bool) -> anyhow::Result<()> {
    let action = if enabled { "enable" } else { "disable" };
    // The node answers 204 without a body, so this asks for bytes rather than JSON.
    node.client()?
        .post_for_bytes(&user_path(name, action), &json!({}))
        .with_context(|| format!("{action} account {name:?}"))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "name": name, "disabled": !enabled }))?
        );
    } else {
        println!("account {name} {action}d");
    }
    Ok(())
}

fn print_credentials(credentials: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(credentials)?);
        return Ok(());
    }
    let text = |field: &str| credentials[field].as_str().unwrap_or("-").to_owned();
    println!("account   {}", text("name"));
    println!("password  {}", text("password"));
    if let Some(uri) = credentials["totp_uri"].as_str() {
        println!("totp uri  {uri}");
    }
    println!(
        "These credentials are shown only now: the node keeps only the password's hash. \
         Hand them to the user over a secure channel."
    );
    Ok(())
}

/// One line per account: name, roles, second factor, state, last login.
fn print_accounts(users: &Value) {
    let Some(users) = users.as_array().filter(|list| !list.is_empty()) else {
        println!("(no accounts)");
        return;
    };
    let rows: Vec<[String; 5]> = users.iter().map(account_row).collect();
    let header = ["NAME", "ROLES", "TOTP", "STATE", "LAST LOGIN"].map(str::to_owned);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

fn account_row(user: &Value) -> [String; 5] {
    let roles: Vec<&str> = user["roles"]
        .as_array()
        .map(|roles| roles.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let state = if user["disabled"].as_bool() == Some(true) {
        "disabled".to_owned()
    } else if let Some(until) = user["locked_until"].as_u64() {
        format!("locked until {}", Timestamp(until))
    } else {
        "enabled".to_owned()
    };
    let last_login = user["last_login_at"]
        .as_u64()
        .map_or_else(|| "-".to_owned(), |at| Timestamp(at).to_string());
    [
        user["name"].as_str().unwrap_or("?").to_owned(),
        roles.join(","),
        if user["totp"].as_bool() == Some(true) {
            "yes"
        } else {
            "no"
        }
        .to_owned(),
        state,
        last_login,
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_password_file_loses_only_its_line_ending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        for (content, expected) in [
            ("correct horse battery\n", Some("correct horse battery")),
            (
                "  spaced out password  \r\n",
                Some("  spaced out password  "),
            ),
            ("no newline at all", Some("no newline at all")),
            ("two\nlines\n", None),
            ("\n", None),
            ("", None),
        ] {
            std::fs::write(&path, content).unwrap();
            assert_eq!(
                read_password(&path).ok().as_deref(),
                expected,
                "{content:?}"
            );
        }
        std::fs::write(&path, vec![b'a'; 5000]).unwrap();
        assert!(read_password(&path).is_err());
    }

    #[test]
    fn account_rows_show_roles_and_state_without_secrets() {
        let row = account_row(&json!({
            "name": "ana", "roles": ["analyst", "auditor"], "totp": true, "disabled": false,
            "locked_until": null, "failed_logins": 0, "last_login_at": null
        }));
        assert_eq!(
            row,
            ["ana", "analyst,auditor", "yes", "enabled", "-"].map(String::from)
        );
        let row = account_row(&json!({
            "name": "bo", "roles": ["admin"], "totp": false, "disabled": true,
            "locked_until": null, "failed_logins": 0, "last_login_at": 0
        }));
        assert_eq!(row[3], "disabled");
        assert_eq!(row[4], "1970-01-01T00:00:00Z");
        assert!(user_path("a b", "reset").ends_with("/a%20b/reset"));
    }
}
