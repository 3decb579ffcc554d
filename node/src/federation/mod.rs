//! The federation driver: the task that connects the network to the domain layer.
//!
//! It consumes [`NetEvent`]s (admissions, inbound sync requests), pulls pages from peers
//! (one pull at a time per peer; a nudge during a pull schedules one more), answers pulls from
//! its outboxes, and nudges peers whose outbox grew (one nudge in flight per peer, coalesced).
//! Blocking store work runs on `spawn_blocking`; the driver task itself never blocks.
//!
//! Topology: `net task --NetEvent--> driver --spawned pulls/nudges/answers--> NetHandle`;
//! HTTP handlers send [`FederationHandle::committed`] after local writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use safeport_protocol::sync::{SyncRequest, SyncResponse};
use safeport_protocol::{AgencyId, Timestamp};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod content;
mod pull;

use crate::app::App;
use crate::blobs::BlobStore;
use crate::metrics::Metrics;
use crate::net::{NetEvent, NetHandle};
use crate::store::Committed;

/// Capacity of the driver's command channel.
pub const DRIVER_CHANNEL_CAPACITY: usize = 256;

/// Sync progress with one peer, for status.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PeerSync {
    /// The last position the peer asked to read after in our outbox for it.
    pub served_after: u64,
    /// When it last pulled.
    pub last_pull_at: Option<Timestamp>,
    /// Records stored from the peer since start.
    pub received: u64,
    /// Records from the peer refused since start.
    pub refused: u64,
    /// The last sync error with the peer, if any.
    pub last_error: Option<String>,
    /// The newest head of the peer's outbox for this node that this node knows of (announced
    /// in its nudges, or reached by a pull), for the sync lag; unknown until either happens.
    pub peer_head: Option<u64>,
}

enum DriverCommand {
    Committed(Committed),
    Pull(AgencyId),
    PullDone(AgencyId),
    NudgeDone(AgencyId),
    Shutdown,
}

/// The rest of the node's handle on the driver. Cheap to clone.
#[derive(Clone)]
pub struct FederationHandle {
    commands: mpsc::Sender<DriverCommand>,
    net: NetHandle,
    /// Media content: served to and fetched from peers.
    blobs: BlobStore,
    progress: Arc<Mutex<BTreeMap<AgencyId, PeerSync>>>,
    /// Ingest results are counted here.
    metrics: Metrics,
}

impl FederationHandle {
    /// Tells the driver that a local write grew outboxes, so the recipients are nudged.
    pub async fn committed(&self, committed: Committed) {
        if committed.outbox_heads.is_empty() {
            return;
        }
        // Only fails when the driver stopped, in which case nobody is left to nudge.
        let _ = self
            .commands
            .send(DriverCommand::Committed(committed))
            .await;
    }

    /// Pulls from a peer now (e.g. after an admin asked).
    pub async fn pull(&self, agency: AgencyId) {
        let _ = self.commands.send(DriverCommand::Pull(agency)).await;
    }

    /// The network handle.
    pub fn net(&self) -> &NetHandle {
        &self.net
    }

    /// The node's metrics (ingest and crawl results are counted where they happen).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Sync progress per peer.
    pub fn progress(&self) -> BTreeMap<AgencyId, PeerSync> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops the driver (the network is shut down separately).
    pub async fn shutdown(&self) {
        let _ = self.commands.send(DriverCommand::Shutdown).await;
    }
}

#[derive(Default)]
struct Flight {
    running: bool,
    again: bool,
}

struct Driver {
    app: Arc<App>,
    handle: FederationHandle,
    admitted: BTreeSet<AgencyId>,
    pulls: HashMap<AgencyId, Flight>,
    /// Newest outbox head to announce per recipient, and whether a nudge is in flight.
    nudges: HashMap<AgencyId, (u64, Flight)>,
}

/// Starts the driver task over an already running network.
pub fn start(
    app: Arc<App>,
    net: NetHandle,
    events: mpsc::Receiver<NetEvent>,
    blobs: BlobStore,
    metrics: Metrics,
) -> (FederationHandle, JoinHandle<()>) {
    let (commands, command_rx) = mpsc::channel(DRIVER_CHANNEL_CAPACITY);
    let handle = FederationHandle {
        commands,
        net,
        blobs,
        progress: Arc::default(),
        metrics,
    };
    let driver = Driver {
        app,
        handle: handle.clone(),
        admitted: BTreeSet::new(),
        pulls: HashMap::new(),
        nudges: HashMap::new(),
    };
    let task = tokio::spawn(driver.run(events, command_rx));
    (handle, task)
}

impl Driver {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<NetEvent>,
        mut commands: mpsc::Receiver<DriverCommand>,
    ) {
        loop {
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    None | Some(DriverCommand::Shutdown) => break,
                    Some(command) => self.on_command(command),
                },
                event = events.recv() => match event {
                    None => break,
                    Some(event) => self.on_event(event),
                },
            }
        }
        tracing::debug!("federation driver stopped");
    }

    fn on_command(&mut self, command: DriverCommand) {
        match command {
            DriverCommand::Committed(committed) => {
                for (recipient, head) in committed.outbox_heads {
                    self.nudge(recipient, head);
                }
            }
            DriverCommand::Pull(agency) => self.schedule_pull(agency),
            DriverCommand::PullDone(agency) => {
                let again = self.pulls.get_mut(&agency).is_some_and(|flight| {
                    flight.running = false;
                    std::mem::take(&mut flight.again)
                });
                if again {
                    self.schedule_pull(agency);
                }
            }
            DriverCommand::NudgeDone(agency) => {
                if let Some((head, flight)) = self.nudges.get_mut(&agency) {
                    flight.running = false;
                    if std::mem::take(&mut flight.again) {
                        let head = *head;
                        self.nudge(agency, head);
                    }
                }
            }
            DriverCommand::Shutdown => {}
        }
    }

    fn on_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::PeerAdmitted {
                identity,
                certificate_pem,
                ..
            } => {
                let agency = identity.subject.agency.clone();
                tracing::info!(peer = %agency, "peer admitted");
                self.admitted.insert(agency.clone());
                let app = Arc::clone(&self.app);
                let handle = self.handle.clone();
                tokio::spawn(async move {
                    let peer = agency.clone();
                    let result = tokio::task::spawn_blocking(move || {
                        app.peer_admitted(&peer, &certificate_pem)
                    })
                    .await;
                    match result {
                        Ok(Ok(committed)) => handle.committed(committed).await,
                        Ok(Err(error)) => tracing::error!(%error, "recording an admitted peer"),
                        Err(error) => tracing::error!(%error, "recording an admitted peer"),
                    }
                    handle.pull(agency).await;
                });
            }
            NetEvent::PeerRefused { peer_id, reason } => {
                tracing::warn!(%peer_id, %reason, "peer refused");
            }
            NetEvent::PeerDisconnected { agency } => {
                self.admitted.remove(&agency);
            }
            NetEvent::InboundRequest {
                from,
                request,
                reply,
            } => {
                let app = Arc::clone(&self.app);
                let handle = self.handle.clone();
                tokio::spawn(async move {
                    let response = answer(&app, &handle, &from, &request).await;
                    let bytes = response.encode().unwrap_or_default();
                    let _ = reply.send(bytes);
                });
            }
        }
    }

    fn schedule_pull(&mut self, agency: AgencyId) {
        if !self.admitted.contains(&agency) {
            return;
        }
        let flight = self.pulls.entry(agency.clone()).or_default();
        if flight.running {
            flight.again = true;
            return;
        }
        flight.running = true;
        let app = Arc::clone(&self.app);
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let pulled = pull::pull_from(&app, &handle, &agency).await;
            // Content follows the records that grant it (queued by their ingest).
            let fetched = match pulled {
                Ok(()) => content::fetch_all(&app, &handle, &agency)
                    .await
                    .map(|stored| {
                        if stored > 0 {
                            tracing::info!(peer = %agency, stored, "media content fetched");
                            app.changed();
                        }
                    }),
                Err(error) => Err(error),
            };
            if let Err(error) = fetched {
                tracing::warn!(peer = %agency, %error, "pull failed");
                handle.record(&agency, |p| p.last_error = Some(error));
            }
            let _ = handle.commands.send(DriverCommand::PullDone(agency)).await;
        });
    }

    fn nudge(&mut self, recipient: AgencyId, head: u64) {
        if !self.admitted.contains(&recipient) {
            return;
        }
        let (latest, flight) = self.nudges.entry(recipient.clone()).or_default();
        *latest = (*latest).max(head);
        if flight.running {
            flight.again = true;
            return;
        }
        flight.running = true;
        let head = *latest;
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let nudge = SyncRequest::Nudge {
                recipient: recipient.clone(),
                head,
            };
            if let Ok(body) = nudge.encode()
                && let Err(error) = handle.net.request(&recipient, body).await
            {
                tracing::debug!(peer = %recipient, %error, "nudge not delivered");
            }
            let _ = handle
                .commands
                .send(DriverCommand::NudgeDone(recipient))
                .await;
        });
    }
}

impl FederationHandle {
    fn record(&self, agency: &AgencyId, update: impl FnOnce(&mut PeerSync)) {
        let mut progress = self
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        update(progress.entry(agency.clone()).or_default());
    }
}

/// Answers one inbound sync request from an admitted peer.
async fn answer(
    app: &Arc<App>,
    handle: &FederationHandle,
    from: &AgencyId,
    request: &[u8],
) -> SyncResponse {
    let request = match SyncRequest::decode(request) {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(peer = %from, %error, "malformed sync request");
            return SyncResponse::Refused(format!("malformed request: {error}"));
        }
    };
    match request {
        // The request must be for the very agency that sent it: a page is never served to, or
        // replayed for, anyone else.
        SyncRequest::Pull { recipient, .. } if &recipient != from => {
            SyncResponse::Refused("a pull must name the pulling agency".into())
        }
        SyncRequest::Nudge { recipient, .. } if &recipient != app.me() => {
            SyncResponse::Refused("this nudge is for another agency".into())
        }
        SyncRequest::Pull { after, limit, .. } => {
            handle.record(from, |p| {
                p.served_after = after;
                p.last_pull_at = Some(app.now());
            });
            let app = Arc::clone(app);
            let peer = from.clone();
            match tokio::task::spawn_blocking(move || app.serve_pull(&peer, after, limit)).await {
                Ok(Ok(page)) => SyncResponse::Page(page),
                Ok(Err(error)) => {
                    tracing::error!(peer = %from, %error, "serving a pull");
                    SyncResponse::Refused("internal error".into())
                }
                Err(error) => {
                    tracing::error!(peer = %from, %error, "serving a pull");
                    SyncResponse::Refused("internal error".into())
                }
            }
        }
        SyncRequest::Nudge { head, .. } => {
            handle.record(from, |p| p.peer_head = p.peer_head.max(Some(head)));
            handle.pull(from.clone()).await;
            SyncResponse::Ack
        }
        SyncRequest::Blob {
            record,
            commitment,
            offset,
        } => content::serve(app, handle, from, record, commitment, offset).await,
    }
}
