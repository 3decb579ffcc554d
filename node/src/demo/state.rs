//! The demo directory and the nodes' ports: `demo.json` (whether seeding finished, the ports
//! of the last run), readying the directory (create, reuse, or empty it, but only when it is a
//! demo's), and starting a node on the last run's ports when they are still free.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::setup::{self, AgencySpec};
use super::{DemoError, DemoOptions, STATE_FILE};
use crate::{ErrorChain, NodeError, RunningNode};

/// What `demo.json` records: that seeding finished, and the ports of the last run (reused
/// when free, so portal addresses stay the same across restarts).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DemoState {
    /// Seeding ran to the end; a directory with `false` was interrupted and starts over.
    pub(super) seeded: bool,
    /// Ports of the last run, by agency.
    #[serde(default)]
    pub(super) ports: std::collections::BTreeMap<String, Ports>,
    /// Ports of the demo websites of the last run, in the order of the demo's websites.
    #[serde(default)]
    pub(super) site_ports: Vec<u16>,
}

/// The ports a node listened on.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Ports {
    http: u16,
    admin: u16,
    portal: u16,
    net: u16,
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_owned(),
        source,
    }
}

fn read_state(dir: &Path) -> Result<Option<DemoState>, DemoError> {
    let path = dir.join(STATE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| DemoError::State {
                path,
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DemoError::Io { path, source }),
    }
}

/// Replaces `demo.json` (write, sync, rename: never half written).
pub(super) fn write_state(dir: &Path, state: &DemoState) -> Result<(), DemoError> {
    let path = dir.join(STATE_FILE);
    let temporary = dir.join(format!("{STATE_FILE}.tmp"));
    let text = serde_json::to_string_pretty(state).map_err(|e| DemoError::State {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut file = std::fs::File::create(&temporary).map_err(io(&temporary))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    std::fs::rename(&temporary, &path).map_err(io(&path))
}

/// Readies the directory: `Some(state)` of a seeded demo to reuse, `None` when the demo
/// starts from nothing (the directory is then empty). Blocking.
pub(super) fn prepare(options: &DemoOptions) -> Result<Option<DemoState>, DemoError> {
    let dir = &options.dir;
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io(dir))?;
        return Ok(None);
    }
    let state = read_state(dir)?;
    let empty = std::fs::read_dir(dir).map_err(io(dir))?.next().is_none();
    match state {
        None if empty => Ok(None),
        None => Err(DemoError::NotADemoDirectory { path: dir.clone() }),
        Some(state) if state.seeded && !options.fresh => Ok(Some(state)),
        Some(state) => {
            if state.seeded {
                tracing::info!(dir = %dir.display(), "--fresh: starting the demo over");
            } else {
                tracing::warn!(dir = %dir.display(), "the last start did not finish seeding; starting over");
            }
            for entry in std::fs::read_dir(dir).map_err(io(dir))? {
                let path = entry.map_err(io(dir))?.path();
                let removed = if path.is_dir() && !path.is_symlink() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.map_err(io(&path))?;
            }
            Ok(None)
        }
    }
}

/// The configuration of `spec`'s node, on the ports of the last run when there was one.
fn node_config(
    dir: &Path,
    spec: &AgencySpec,
    ports: Option<Ports>,
) -> Result<crate::config::NodeConfig, DemoError> {
    let mut config = setup::config(dir, spec.id)?;
    if let Some(ports) = ports {
        config.http.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, ports.http));
        config.admin.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, ports.admin));
        config.portal.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, ports.portal));
        config.net.listen = vec![
            libp2p::Multiaddr::empty()
                .with(libp2p::multiaddr::Protocol::Ip4(Ipv4Addr::LOCALHOST))
                .with(libp2p::multiaddr::Protocol::Tcp(ports.net)),
        ];
    }
    Ok(config)
}

/// Starts `spec`'s node: on the last run's ports if they are free, else on new ones.
pub(super) async fn start_node(
    dir: &Path,
    spec: &AgencySpec,
    ports: Option<Ports>,
) -> Result<RunningNode, DemoError> {
    let node_error = |source| DemoError::Node {
        agency: spec.id.to_owned(),
        source,
    };
    let config = {
        let dir = dir.to_owned();
        let spec = *spec;
        tokio::task::spawn_blocking(move || node_config(&dir, &spec, ports)).await??
    };
    match crate::start(config).await {
        Ok(node) => Ok(node),
        Err(error @ (NodeError::Bind { .. } | NodeError::Net(_))) if ports.is_some() => {
            tracing::warn!(agency = spec.id, error = %ErrorChain(&error), "last run's ports are taken; using new ones");
            let config = {
                let dir = dir.to_owned();
                let spec = *spec;
                tokio::task::spawn_blocking(move || node_config(&dir, &spec, None)).await??
            };
            crate::start(config).await.map_err(node_error)
        }
        Err(error) => Err(node_error(error)),
    }
}

/// The ports `node` listens on now.
pub(super) async fn ports_of(node: &RunningNode) -> Result<Ports, DemoError> {
    let net = node
        .federation()
        .net()
        .listen_addrs()
        .await
        .map_err(|source| DemoError::Net {
            agency: node.app().me().to_string(),
            source,
        })?
        .iter()
        .flat_map(|addr| addr.iter())
        .find_map(|protocol| match protocol {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap_or(0);
    Ok(Ports {
        http: node.http_addr().port(),
        admin: node.admin_addr().port(),
        portal: node.portal_addr().map_or(0, |a| a.port()),
        net,
    })
}
