//! `safeport-node demo`: a complete local federation on loopback, in one process, for trying
//! Safeport out. A federation authority (a demo root), INTERPOL, the hotlines of NL and DE and
//! the NL police, each a real node started with [`crate::start`] from its own directory and
//! `node.toml`; two test websites of generated, harmless pictures; the standard agreements
//! proposed and countersigned; reports taken in, crawled and classified, a hash list published
//! and an IWOL suggestion confirmed and accepted. Everything goes through the domain calls the
//! admin API and portal use, so records are signed, authorised against agreements and synced
//! over libp2p like in any federation: nothing here shortcuts signatures, agreements or sync.
//!
//! The data lives in a directory the caller names; a second start reuses it (seeding ran
//! once, recorded in `demo.json`), `fresh` starts over. A directory is only ever emptied when
//! it holds a `demo.json`, so pointing the demo at an unrelated directory cannot destroy it.

mod seed;
pub mod setup;
mod site;
mod state;
mod workflow;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::app::{App, AppError};
use crate::{ErrorChain, NodeError, RunningNode};
use setup::{AGENCIES, AgencySpec, DE_HOTLINE, NL_HOTLINE};
use site::{Page, Site, SiteSpec};
use state::{io, ports_of, prepare, start_node, write_state};

pub use workflow::{HASH_LIST, IWOL_DOMAIN};

/// Upper bound of any single wait of the demo; waits end on change notifications, this only
/// stops a hung start.
pub const WAIT: Duration = Duration::from_secs(120);
/// The state file in the demo directory.
const STATE_FILE: &str = "demo.json";
/// How long stopping a demo website may take.
const SITE_DRAIN: Duration = Duration::from_secs(5);

/// The websites: one the demo's CIDR table places in NL, one in DE. Picture 1 appears on
/// both NL pages, so once INTERPOL lists it the DE hotline's crawl of `/album` classifies it
/// from the hash list.
const SITES: [SiteSpec; 2] = [
    SiteSpec {
        ip: Ipv4Addr::new(127, 0, 0, 2),
        country: "NL",
        pages: &[
            Page {
                path: "/gallery",
                title: "Demo gallery (NL)",
                pictures: &[1, 2, 3],
            },
            Page {
                path: "/album",
                title: "Demo album (NL)",
                pictures: &[1, 7],
            },
        ],
    },
    SiteSpec {
        ip: Ipv4Addr::new(127, 0, 0, 3),
        country: "DE",
        pages: &[Page {
            path: "/gallery",
            title: "Demo gallery (DE)",
            pictures: &[4, 5, 6],
        }],
    },
];

/// Why the demo could not start or stop.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A file or directory of the demo could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The directory holds something other than a demo; it is left alone.
    #[error(
        "{} is not empty and holds no {STATE_FILE}: not a demo directory, left alone (choose another --dir)",
        path.display()
    )]
    NotADemoDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// The state file could not be read.
    #[error("{}: {reason}", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Creating the demo root or a certificate failed.
    #[error("demo federation: {0}")]
    Pki(String),
    /// A node's configuration could not be loaded.
    #[error("configuration")]
    Config(#[from] crate::config::ConfigError),
    /// A node did not start or stop.
    #[error("node {agency}")]
    Node {
        /// The agency.
        agency: String,
        /// What failed.
        #[source]
        source: NodeError,
    },
    /// A domain operation at a node failed.
    #[error("{agency}: {what}")]
    App {
        /// The agency.
        agency: String,
        /// What the demo was doing.
        what: String,
        /// What failed.
        #[source]
        source: AppError,
    },
    /// A network operation at a node failed.
    #[error("{agency}: network")]
    Net {
        /// The agency.
        agency: String,
        /// What failed.
        #[source]
        source: crate::net::NetError,
    },
    /// A demo website could not be served.
    #[error("demo website: {0}")]
    Site(String),
    /// A crawl of a demo page failed.
    #[error("crawl of {url} failed: {reason}")]
    Crawl {
        /// The page.
        url: String,
        /// Why.
        reason: String,
    },
    /// Something the demo waits for did not happen in time.
    #[error("timed out after {} s waiting for {what}", WAIT.as_secs())]
    Timeout {
        /// What.
        what: String,
    },
    /// Something the demo set up is not as it must be.
    #[error("unexpected demo state: {0}")]
    Unexpected(String),
    /// A blocking task panicked or was cancelled.
    #[error("demo task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// How to start the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The directory holding the demo's data (created if missing, reused if seeded).
    pub dir: PathBuf,
    /// Start over: empty the directory (only if it is a demo directory) first.
    pub fresh: bool,
}

/// One portal account of the demo, with its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The account name.
    pub user: String,
    /// The demo password.
    pub password: String,
    /// The roles, by name.
    pub roles: Vec<&'static str>,
}

/// A running demo node.
#[derive(Debug)]
pub struct DemoNode {
    /// Which agency it is.
    pub spec: AgencySpec,
    /// The node.
    pub node: RunningNode,
}

impl DemoNode {
    /// The node's portal accounts and their demo passwords.
    pub fn logins(&self) -> Vec<Login> {
        self.spec
            .users
            .iter()
            .map(|(user, roles)| Login {
                user: (*user).to_owned(),
                password: setup::demo_password(user),
                roles: roles.iter().map(|r| r.as_str()).collect(),
            })
            .collect()
    }

    /// `http://<portal>/login`, when the portal runs.
    pub fn portal_url(&self) -> Option<String> {
        self.node
            .portal_addr()
            .map(|addr| format!("http://{addr}/login"))
    }
}

/// The running demo federation.
#[derive(Debug)]
pub struct Demo {
    dir: PathBuf,
    nodes: Vec<DemoNode>,
    sites: Vec<Site>,
    reused: bool,
}

impl Demo {
    /// The demo directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this start reused a seeded directory (and seeded nothing).
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Every node, in start order (INTERPOL, NL hotline, DE hotline, NL police).
    pub fn nodes(&self) -> &[DemoNode] {
        &self.nodes
    }

    /// The node of `agency`.
    pub fn node(&self, agency: &str) -> Option<&RunningNode> {
        self.nodes
            .iter()
            .find(|n| n.spec.id == agency)
            .map(|n| &n.node)
    }

    /// The demo websites' addresses, with the country each is placed in.
    pub fn websites(&self) -> Vec<(SocketAddr, &'static str)> {
        self.sites
            .iter()
            .zip(SITES.iter())
            .map(|(site, spec)| (site.addr(), spec.country))
            .collect()
    }

    /// What to print for the person who started the demo: each node's portal with its demo
    /// logins, its APIs, and the websites.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "Safeport demo federation ({}; synthetic data only), data in {}\n",
            setup::DEMO_FEDERATION,
            self.dir.display()
        );
        for demo_node in &self.nodes {
            let spec = &demo_node.spec;
            let node = &demo_node.node;
            out.push_str(&format!(
                "\n{} ({}, {} {})\n",
                spec.id, spec.organisation, spec.role, spec.country
            ));
            match demo_node.portal_url() {
                Some(url) => out.push_str(&format!("  portal     {url}\n")),
                None => out.push_str("  portal     (disabled)\n"),
            }
            for login in demo_node.logins() {
                out.push_str(&format!(
                    "    login    {:<13} password {:<24} ({})\n",
                    login.user,
                    login.password,
                    login.roles.join(", ")
                ));
            }
            out.push_str(&format!(
                "  API        http://{}   admin API http://{} (token in {})\n",
                node.http_addr(),
                node.admin_addr(),
                setup::agency_dir(&self.dir, spec.id)
                    .join("data")
                    .join("admin.token")
                    .display()
            ));
        }
        out.push_str("\nTest websites (generated pictures):");
        for (addr, country) in self.websites() {
            out.push_str(&format!(" http://{addr}/ ({country})"));
        }
        out.push_str(
            "\n\nPress Ctrl-C to stop; the next start reuses the data (--fresh starts over).\n",
        );
        out
    }

    /// Stops every node (each in its fixed order) and the websites; the first error is
    /// returned after everything was asked to stop.
    pub async fn shutdown(self) -> Result<(), DemoError> {
        let mut result = Ok(());
        for demo_node in self.nodes.into_iter().rev() {
            let agency = demo_node.spec.id;
            if let Err(source) = demo_node.node.shutdown().await {
                tracing::error!(agency, error = %ErrorChain(&source), "demo node did not stop cleanly");
                if result.is_ok() {
                    result = Err(DemoError::Node {
                        agency: agency.to_owned(),
                        source,
                    });
                }
            }
        }
        for site in self.sites {
            site.stop(SITE_DRAIN).await;
        }
        if result.is_ok() {
            tracing::info!("demo federation stopped");
        }
        result
    }
}

/// Runs a blocking domain operation of `node` off the async threads.
async fn blocking<T: Send + 'static>(
    node: &RunningNode,
    what: &str,
    work: impl FnOnce(&App) -> Result<T, AppError> + Send + 'static,
) -> Result<T, DemoError> {
    let app = Arc::clone(node.app());
    tokio::task::spawn_blocking(move || work(&app))
        .await?
        .map_err(|source| DemoError::App {
            agency: node.app().me().to_string(),
            what: what.to_owned(),
            source,
        })
}

/// Waits until `check` holds at `node`, woken by the node's change notifications; fails after
/// [`WAIT`].
async fn wait_for(
    node: &RunningNode,
    what: &str,
    check: impl Fn(&App) -> Result<bool, DemoError>,
) -> Result<(), DemoError> {
    let app = node.app();
    let mut changes = app.subscribe();
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            if check(app)? {
                return Ok(());
            }
            if changes.changed().await.is_err() {
                return Err(DemoError::Unexpected(format!(
                    "the node stopped while waiting for {what}"
                )));
            }
        }
    })
    .await;
    waited.unwrap_or_else(|_| {
        Err(DemoError::Timeout {
            what: format!("{what} at {}", app.me()),
        })
    })
}

/// Wraps a domain error of `node`'s agency for [`DemoError::App`].
fn app_error(app: &App, what: &str) -> impl FnOnce(AppError) -> DemoError {
    let agency = app.me().to_string();
    let what = what.to_owned();
    move |source| DemoError::App {
        agency,
        what,
        source,
    }
}

/// Starts the demo (see the module documentation) and returns once every node is up and
/// peered and, on a first start, once everything seeded has arrived where it should.
pub async fn start(options: DemoOptions) -> Result<Demo, DemoError> {
    let dir = std::path::absolute(&options.dir).map_err(io(&options.dir))?;
    let options = DemoOptions {
        dir: dir.clone(),
        fresh: options.fresh,
    };
    let reused = tokio::task::spawn_blocking(move || prepare(&options)).await??;
    let mut state = reused.clone().unwrap_or_default();

    let mut sites = Vec::with_capacity(SITES.len());
    for (index, spec) in SITES.iter().enumerate() {
        let port = state.site_ports.get(index).copied();
        sites.push(Site::serve(spec, port).await?);
    }
    state.site_ports = sites.iter().map(|s| s.addr().port()).collect();
    if reused.is_none() {
        // The marker first: from here on the directory is the demo's to empty on --fresh.
        state.seeded = false;
        let dir = dir.clone();
        let marker = state.clone();
        tokio::task::spawn_blocking(move || {
            write_state(&dir, &marker)?;
            setup::create(&dir, &SITES, crate::identity::system_now())
        })
        .await??;
    }

    let mut demo = Demo {
        dir: dir.clone(),
        nodes: Vec::with_capacity(AGENCIES.len()),
        sites,
        reused: reused.is_some(),
    };
    let started = async {
        for spec in &AGENCIES {
            let ports = state.ports.get(spec.id).copied();
            let node = start_node(&dir, spec, ports).await?;
            state
                .ports
                .insert(spec.id.to_owned(), ports_of(&node).await?);
            demo.nodes.push(DemoNode { spec: *spec, node });
        }
        seed::connect(&demo).await?;
        if reused.is_none() {
            seed::agreements(&demo).await?;
            // Accounts (Argon2id hashing, slow in debug builds) while the casework runs.
            tokio::try_join!(workflow::run(&demo), seed::users(&demo))?;
            state.seeded = true;
        }
        let dir = dir.clone();
        let state = state.clone();
        tokio::task::spawn_blocking(move || write_state(&dir, &state)).await?
    }
    .await;
    match started {
        Ok(()) => {
            tracing::info!(dir = %dir.display(), reused = demo.reused, "demo federation ready");
            Ok(demo)
        }
        Err(error) => {
            // Leave nothing running behind a failed start.
            if let Err(stop) = demo.shutdown().await {
                tracing::error!(error = %ErrorChain(&stop), "stopping the demo after a failed start");
            }
            Err(error)
        }
    }
}

/// The two hotlines, NL first.
fn hotlines(demo: &Demo) -> Result<(&RunningNode, &RunningNode), DemoError> {
    Ok((node(demo, NL_HOTLINE)?, node(demo, DE_HOTLINE)?))
}

/// The node of `agency`, which the demo always starts.
fn node<'a>(demo: &'a Demo, agency: &str) -> Result<&'a RunningNode, DemoError> {
    demo.node(agency)
        .ok_or_else(|| DemoError::Unexpected(format!("the demo has no node {agency}")))
}
