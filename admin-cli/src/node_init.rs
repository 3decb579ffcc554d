//! `node init`: a node's Ed25519 key (0600), its public key for the federation authority, and a
//! documented starting configuration.

use std::path::{Path, PathBuf};

use safeport_protocol::NodeKey;
use serde::Serialize;

use crate::AdminError;
use crate::files::{self, Overwrite, PUBLIC_MODE, SECRET_MODE};

/// Node key file name.
pub const NODE_KEY: &str = "node.key";
/// Node public key file name (sent to the federation authority).
pub const NODE_PUBLIC_KEY: &str = "node.pub.pem";
/// Node configuration file name.
pub const NODE_CONFIG: &str = "node.toml";

/// The configuration `node init` writes. Every option and its default is documented in
/// `deploy/node.example.toml`; a test in `tests/` parses this template with the node's own
/// config type, so the two cannot drift apart.
pub fn config_template(listen: &str) -> String {
    format!(
        r#"# Safeport node configuration, written by `safeport-admin node init`.
# Every option is documented in deploy/node.example.toml.
# Relative paths are resolved against the directory of this file.

[node]
# Where the node keeps its database and blobs.
data_dir = "data"
# The node's Ed25519 key (keep it 0600; it is also the node's network identity).
key_file = "{NODE_KEY}"
# The agency certificate the federation authority issues for {NODE_PUBLIC_KEY}.
certificate = "node.pem"

[federation]
# The federation root certificate(s) this node trusts.
roots = ["federation-root.pem"]
# The authority's current CRL; uncomment once you have one.
# crl = "federation.crl.pem"

[http]
# The node's HTTP API and portal; loopback only unless you add TLS in front.
listen = "{listen}"

[net]
# Where the other nodes of the federation connect to this one (libp2p multiaddrs).
listen = ["/ip4/0.0.0.0/tcp/4470"]

[admin]
# The admin API that safeport-admin uses; its token is created in data/admin.token.
listen = "127.0.0.1:8471"
"#
    )
}

/// What `node init` made.
#[derive(Debug, Serialize)]
pub struct NodeInitOutput {
    /// The private key file (0600).
    pub key_file: PathBuf,
    /// The public key file to send to the federation authority.
    pub public_key_file: PathBuf,
    /// The public key (hex).
    pub public_key: String,
    /// The configuration file.
    pub config_file: PathBuf,
}

/// Creates a node key, its public key file and a configuration in `dir`.
pub fn init(dir: &Path, listen: &str) -> Result<NodeInitOutput, AdminError> {
    std::fs::create_dir_all(dir).map_err(|reason| files::FileError::Write {
        path: dir.to_owned(),
        reason,
    })?;
    let key_file = dir.join(NODE_KEY);
    let public_key_file = dir.join(NODE_PUBLIC_KEY);
    let config_file = dir.join(NODE_CONFIG);
    let key = write_new_key(&key_file, &public_key_file)?;
    files::write_file(
        &config_file,
        &config_template(listen),
        PUBLIC_MODE,
        Overwrite::Never,
    )?;
    Ok(NodeInitOutput {
        key_file,
        public_key_file,
        public_key: key.public().to_hex(),
        config_file,
    })
}

/// Creates a node key and writes it (0600) and its public key file; refuses to replace either.
pub(crate) fn write_new_key(
    key_file: &Path,
    public_key_file: &Path,
) -> Result<NodeKey, AdminError> {
    let key = NodeKey::from_seed(files::random_bytes()?);
    files::write_file(
        key_file,
        &key.to_pkcs8_pem()?,
        SECRET_MODE,
        Overwrite::Never,
    )?;
    files::write_file(
        public_key_file,
        &key.public().to_pem()?,
        PUBLIC_MODE,
        Overwrite::Never,
    )?;
    Ok(key)
}
