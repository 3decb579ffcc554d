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

use safeport_protocol::sync::{MAX_PAGE_ITEMS, SyncPage, SyncRequest, SyncResponse};
use safeport_protocol::{AgencyId, Timestamp};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod content;

use crate::app::App;
use crate::blobs::BlobStore;
use crate::metrics::Metrics;
use crate::net::{NetEvent, NetHandle};
use crate::store::Committed;

/// Capacity of the driver's command channel.
pub const DRIVER_CHANNEL_CAPACITY: usize = 256;
/// Most pages pulled from one peer in one pull before yielding to other work.
const MAX_PAGES_PER_PULL: usize = 10_000;

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
            let pulled = pull_from(&app, &handle, &agency).await;
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

/// Requests one page of this node's outbox at `peer`, after `after`.
async fn fetch_page(
    net: NetHandle,
    me: AgencyId,
    peer: AgencyId,
    after: u64,
) -> Result<SyncPage, String> {
    let request = SyncRequest::Pull {
        recipient: me,
        after,
        limit: MAX_PAGE_ITEMS,
    };
    let body = request.encode().map_err(|e| e.to_string())?;
    let bytes = net.request(&peer, body).await.map_err(|e| e.to_string())?;
    let page = match SyncResponse::decode(&bytes).map_err(|e| format!("bad response: {e}"))? {
        SyncResponse::Page(page) => page,
        SyncResponse::Refused(reason) => return Err(format!("peer refused the pull: {reason}")),
        SyncResponse::Ack | SyncResponse::Blob(_) => {
            return Err("peer answered a pull with something else".into());
        }
    };
    if page.next_cursor < after || page.items.iter().any(|item| item.position <= after) {
        return Err("peer sent a page behind our cursor".into());
    }
    Ok(page)
}

/// Pulls every page waiting for this node at `peer`, storing each in one synced batch. Three
/// things overlap: the next page is requested while the current one is checked, and the
/// current one is checked (signatures, on all cores) while the previous one is written. Pages
/// are written strictly in order, one after the other; the cursor only ever advances with
/// what was stored.
async fn pull_from(
    app: &Arc<App>,
    handle: &FederationHandle,
    peer: &AgencyId,
) -> Result<(), String> {
    let cursor = {
        let app = Arc::clone(app);
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || app.store().cursor(&peer))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    let fetch = |after| {
        tokio::spawn(fetch_page(
            handle.net.clone(),
            app.me().clone(),
            peer.clone(),
            after,
        ))
    };
    let mut requested_after = cursor;
    let mut next = fetch(requested_after);
    let mut writing: Option<tokio::task::JoinHandle<Result<(), String>>> = None;
    let mut pages = 0;
    loop {
        let waited = std::time::Instant::now();
        let page = match next.await.map_err(|e| e.to_string()) {
            Ok(Ok(page)) => page,
            Ok(Err(error)) | Err(error) => {
                finish(writing).await?;
                return Err(error);
            }
        };
        let wait_ms = waited.elapsed().as_millis() as u64;
        pages += 1;
        // Only a page that advanced may lead to another (no endless "more" without progress).
        let more = page.more && page.next_cursor > requested_after && pages < MAX_PAGES_PER_PULL;
        if more {
            requested_after = page.next_cursor;
            next = fetch(requested_after);
        } else {
            next = tokio::spawn(async { Err(String::new()) });
        }
        let page = Arc::new(page);
        let checked = {
            let (app, peer, page) = (Arc::clone(app), peer.clone(), Arc::clone(&page));
            tokio::task::spawn_blocking(move || app.check_page(&peer, &page))
        };
        let checked = checked.await.map_err(|e| e.to_string());
        // The previous page must be stored before this one is.
        let previous = finish(writing.take()).await;
        let checked = match (previous, checked) {
            (Ok(()), Ok(checked)) => checked,
            (Err(error), _) | (_, Err(error)) => {
                // The prefetched page is beyond what was stored: drop it, the next pull starts
                // again from the stored cursor.
                next.abort();
                return Err(error);
            }
        };
        let (app, handle, peer) = (Arc::clone(app), handle.clone(), peer.clone());
        writing = Some(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let stored = {
                let (app, peer, page) = (Arc::clone(&app), peer.clone(), Arc::clone(&page));
                tokio::task::spawn_blocking(move || app.store_page(&peer, &page, checked)).await
            };
            let ingested = match stored {
                Ok(Ok(ingested)) => ingested,
                Ok(Err(error)) => return Err(error.to_string()),
                Err(error) => return Err(error.to_string()),
            };
            tracing::info!(
                peer = %peer,
                stored = ingested.stored,
                duplicates = ingested.duplicates,
                rejected = ingested.rejected,
                cursor = ingested.cursor,
                more,
                wait_ms,
                ingest_ms = ingested.check_ms + started.elapsed().as_millis() as u64,
                check_ms = ingested.check_ms,
                build_ms = ingested.build_ms,
                write_ms = ingested.write_ms,
                "ingested a page"
            );
            handle.metrics.ingested(&ingested);
            handle.record(&peer, |p| {
                p.received += ingested.stored as u64;
                p.refused += ingested.rejected as u64;
                p.last_error = None;
                // The holder serves nothing beyond its head: the cursor is a head it had.
                p.peer_head = p.peer_head.max(Some(ingested.cursor));
            });
            handle.committed(ingested.committed).await;
            Ok(())
        }));
        if !more {
            next.abort();
            return finish(writing).await;
        }
    }
}

/// Waits for a page being written, if any.
async fn finish(
    writing: Option<tokio::task::JoinHandle<Result<(), String>>>,
) -> Result<(), String> {
    match writing {
        Some(task) => task.await.map_err(|e| e.to_string())?,
        None => Ok(()),
    }
}
