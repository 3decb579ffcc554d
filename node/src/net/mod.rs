//! Federation networking: libp2p (TCP + Noise + Yamux, optionally QUIC) with Safeport's own
//! admission and sync protocols.
//!
//! One task owns the libp2p `Swarm` ([`spawn`] starts it). The rest of the node talks to it
//! only through a [`NetHandle`] (commands over a bounded channel, each answered on a oneshot)
//! and receives [`NetEvent`]s over a bounded channel.
//!
//! - `/safeport/admission/1`: right after a connection is established, the dialer sends its
//!   agency certificate; the listener verifies it against its federation roots and CRL (and
//!   that it certifies the key behind the dialer's `PeerId`) and answers with its own
//!   certificate or a refusal; the dialer verifies the answer the same way. Until both checks
//!   pass, nothing reaches the application: inbound sync requests get an error frame.
//! - `/safeport/sync/1`: opaque request and response bodies, encoded by the application,
//!   exchanged only with admitted peers.
//!
//! Module map: `codec` the frames (length-prefixed, refused over the limit before any
//! allocation), `admission` the certificate checks, `peers` the peer table and redial
//! schedule, `swarm` the task (its event loop and connections; `swarm::handshake` the
//! admission exchange, `swarm::requests` sync requests and event delivery, `swarm::timers`
//! deadlines and redials).

mod admission;
mod codec;
mod peers;
mod swarm;
#[cfg(test)]
mod tests;

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use safeport_protocol::pki::{AgencyIdentity, Crl, TrustAnchor};
use safeport_protocol::{AgencyId, Timestamp};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::identity::NodeIdentity;

/// The admission protocol's name.
pub const ADMISSION_PROTOCOL: &str = "/safeport/admission/1";
/// The sync protocol's name.
pub const SYNC_PROTOCOL: &str = "/safeport/sync/1";
/// Capacity of the command channel from [`NetHandle`]s to the swarm task.
pub const COMMAND_CHANNEL_CAPACITY: usize = 64;
/// Capacity of the event channel from the swarm task to the application.
pub const EVENT_CHANNEL_CAPACITY: usize = 256;
/// How long a [`NetHandle`] call other than [`NetHandle::request`] waits for the swarm task
/// (which answers at once unless it is stopped or overloaded).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`spawn`] waits for the first listen address.
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Most peers [`NetHandle::add_peer`] keeps dialling.
pub const MAX_CONFIGURED_PEERS: usize = 1024;

/// Network settings. Every size, count and wait is bounded here.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/4001` (and `/ip4/0.0.0.0/udp/4001/quic-v1`
    /// with QUIC). May be empty for a node that only dials.
    pub listen: Vec<Multiaddr>,
    /// Whether the QUIC transport is available (for listening and dialling).
    pub enable_quic: bool,
    /// Largest sync request or response frame, in bytes (at most `u32::MAX`).
    pub max_frame_bytes: usize,
    /// Time limit for one sync request (sending it, and the remote's answer).
    pub request_timeout: Duration,
    /// Most concurrent request-response streams per connection and protocol.
    pub max_concurrent_streams: usize,
    /// Most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Most established connections in total.
    pub max_established_total: u32,
    /// A connection without open streams is closed after this long. A peer added with
    /// [`NetHandle::add_peer`] is then dialled again (and re-admitted).
    pub idle_connection_timeout: Duration,
    /// How long a connected peer has to complete admission before it is disconnected.
    pub admission_timeout: Duration,
    /// First wait before redialling a configured peer.
    pub redial_backoff_min: Duration,
    /// Longest wait between redials (the wait doubles per failed attempt up to this).
    pub redial_backoff_max: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            enable_quic: false,
            max_frame_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_concurrent_streams: 64,
            max_connections_per_peer: 2,
            max_established_total: 256,
            idle_connection_timeout: Duration::from_secs(60),
            admission_timeout: Duration::from_secs(10),
            redial_backoff_min: Duration::from_secs(1),
            redial_backoff_max: Duration::from_secs(60),
        }
    }
}

impl NetConfig {
    /// Checks the settings are usable (non-zero limits, frame limit within the `u32` prefix,
    /// backoff bounds in order).
    pub fn validate(&self) -> Result<(), NetError> {
        let problem = if self.max_frame_bytes == 0 || u32::try_from(self.max_frame_bytes).is_err() {
            Some("max_frame_bytes must be between 1 and 4294967295")
        } else if self.request_timeout.is_zero() || self.admission_timeout.is_zero() {
            Some("request_timeout and admission_timeout must be positive")
        } else if self.max_concurrent_streams == 0
            || self.max_connections_per_peer == 0
            || self.max_established_total == 0
        {
            Some("connection and stream limits must be positive")
        } else if self.redial_backoff_min.is_zero()
            || self.redial_backoff_min > self.redial_backoff_max
        {
            Some("redial_backoff_min must be positive and at most redial_backoff_max")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(NetError::Config(problem.into())),
            None => Ok(()),
        }
    }
}

/// Why a network operation failed.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum NetError {
    /// The configuration is unusable.
    #[error("invalid network configuration: {0}")]
    Config(String),
    /// The node key cannot be used as a libp2p identity.
    #[error("the node key cannot be used as network identity: {0}")]
    Identity(String),
    /// The transport could not be set up.
    #[error("cannot set up the network transport: {0}")]
    Transport(String),
    /// A listen address could not be used.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The agency has no admitted peer.
    #[error("agency {0} is not admitted")]
    NotAdmitted(AgencyId),
    /// The remote did not answer in time (or the swarm task did not).
    #[error("timed out")]
    Timeout,
    /// The request failed (connection, stream or remote error).
    #[error("request failed: {0}")]
    Failure(String),
    /// A limit was reached (e.g. too many configured peers or requests in flight).
    #[error("limit reached: {0}")]
    Limit(&'static str),
    /// The swarm task is not running.
    #[error("the network task has stopped")]
    Stopped,
}

/// Where a peer stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerState {
    /// Connected, admission in progress.
    Connecting,
    /// Admitted: sync requests flow.
    Admitted,
    /// Refused (or no longer admitted), with the reason.
    Refused {
        /// Why.
        reason: String,
    },
    /// Was connected, is not any more.
    Disconnected,
}

/// One peer in [`NetHandle::peers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's libp2p id.
    pub peer_id: PeerId,
    /// Its agency, once its certificate verified.
    pub agency: Option<AgencyId>,
    /// The address of its latest connection.
    pub addr: Option<Multiaddr>,
    /// Where it stands.
    pub state: PeerState,
    /// When it got into that state.
    pub since: Timestamp,
}

/// What the swarm task reports to the application.
///
/// A peer's admission ends with [`NetEvent::PeerDisconnected`] or [`NetEvent::PeerRefused`]
/// (e.g. its certificate was revoked by [`NetHandle::update_trust`]).
#[derive(Debug)]
pub enum NetEvent {
    /// A peer's certificate verified and it verified ours: sync requests may flow.
    PeerAdmitted {
        /// The peer.
        peer_id: PeerId,
        /// What its certificate certifies.
        identity: AgencyIdentity,
        /// Its certificate.
        certificate_pem: String,
    },
    /// A peer was refused or lost its admission, and is disconnected.
    PeerRefused {
        /// The peer.
        peer_id: PeerId,
        /// Why.
        reason: String,
    },
    /// The last connection to an admitted peer closed.
    PeerDisconnected {
        /// Its agency.
        agency: AgencyId,
    },
    /// An admitted peer sent a sync request. Answer by sending the response body on `reply`
    /// within the request timeout; dropping `reply` closes the stream without an answer.
    InboundRequest {
        /// The requesting agency.
        from: AgencyId,
        /// The request body.
        request: Vec<u8>,
        /// Where the response body goes.
        reply: oneshot::Sender<Vec<u8>>,
    },
}

/// A request to the swarm task.
#[derive(Debug)]
pub(crate) enum Command {
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    AddPeer {
        addr: Multiaddr,
        agency: AgencyId,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    RemovePeer {
        agency: AgencyId,
        reply: oneshot::Sender<()>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerStatus>>,
    },
    UpdateTrust {
        anchors: Vec<TrustAnchor>,
        crl: Option<Crl>,
        reply: oneshot::Sender<()>,
    },
    Request {
        agency: AgencyId,
        body: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    /// Tests only: a sync request to a peer whether admitted or not (dialling it if needed),
    /// as a misbehaving node would send.
    #[cfg(test)]
    RawRequest {
        peer_id: PeerId,
        addr: Multiaddr,
        body: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
}

/// The application's handle on the swarm task. Cheap to clone; the task stops on
/// [`NetHandle::shutdown`] or when every handle is dropped.
#[derive(Debug, Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    request_timeout: Duration,
}

impl NetHandle {
    /// This node's libp2p id (derived from its node key).
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Sends a command and waits for its answer, within `wait`.
    async fn call<T>(
        &self,
        wait: Duration,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, answer) = oneshot::channel();
        let exchange = async {
            self.commands
                .send(command(reply))
                .await
                .map_err(|_| NetError::Stopped)?;
            answer.await.map_err(|_| NetError::Stopped)
        };
        tokio::time::timeout(wait, exchange)
            .await
            .map_err(|_| NetError::Timeout)?
    }

    /// The addresses the node listens on (actual ports when port 0 was configured).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.call(COMMAND_TIMEOUT, |reply| Command::ListenAddrs { reply })
            .await
    }

    /// Keeps a connection to the agency at `addr`: dials it now and again (with exponential
    /// backoff) whenever it is not connected, until [`NetHandle::remove_peer`]. Its certificate
    /// must name `expected_agency`. An address ending in `/p2p/<peer id>` also pins the key.
    pub async fn add_peer(
        &self,
        addr: Multiaddr,
        expected_agency: AgencyId,
    ) -> Result<(), NetError> {
        self.call(COMMAND_TIMEOUT, |reply| Command::AddPeer {
            addr,
            agency: expected_agency,
            reply,
        })
        .await?
    }

    /// Stops redialling the agency. Open connections stay until they close or idle out.
    pub async fn remove_peer(&self, agency: &AgencyId) -> Result<(), NetError> {
        let agency = agency.clone();
        self.call(COMMAND_TIMEOUT, |reply| Command::RemovePeer {
            agency,
            reply,
        })
        .await
    }

    /// Every peer the node knows of, with its state.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>, NetError> {
        self.call(COMMAND_TIMEOUT, |reply| Command::Peers { reply })
            .await
    }

    /// Replaces the federation roots and CRL, then re-verifies every admitted peer and
    /// disconnects (with [`NetEvent::PeerRefused`]) those whose certificate no longer verifies.
    pub async fn update_trust(
        &self,
        anchors: Vec<TrustAnchor>,
        crl: Option<Crl>,
    ) -> Result<(), NetError> {
        self.call(COMMAND_TIMEOUT, |reply| Command::UpdateTrust {
            anchors,
            crl,
            reply,
        })
        .await
    }

    /// Sends a sync request to an admitted peer of `agency` and returns its response body.
    pub async fn request(&self, agency: &AgencyId, body: Vec<u8>) -> Result<Vec<u8>, NetError> {
        let agency = agency.clone();
        // The swarm task enforces the request timeout; this bound only covers a stalled task.
        let wait = self.request_timeout.saturating_add(COMMAND_TIMEOUT);
        self.call(wait, |reply| Command::Request {
            agency,
            body,
            reply,
        })
        .await?
    }

    /// Stops the swarm task (closing every connection). Returns once it has stopped accepting
    /// commands; the `JoinHandle` from [`spawn`] completes right after.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        match self
            .call(COMMAND_TIMEOUT, |reply| Command::Shutdown { reply })
            .await
        {
            Ok(()) | Err(NetError::Stopped) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// Starts the network: builds the Swarm for `identity`, listens on `config.listen` and moves
/// the Swarm into its own task. Returns once the first listen address is known (so
/// [`NetHandle::listen_addrs`] can be given to peers at once), with the handle, the event
/// receiver and the task's handle. `clock` gives the time certificates are checked at.
///
/// The event channel holds [`EVENT_CHANNEL_CAPACITY`] events; behind it the task keeps a
/// bounded backlog so it never blocks on a slow application. When that backlog is full too,
/// inbound requests are answered with a "busy" error frame (never silently dropped) and peer
/// events are dropped with a warning ([`NetHandle::peers`] still tells the truth).
pub async fn spawn(
    identity: &NodeIdentity,
    config: NetConfig,
    clock: fn() -> Timestamp,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>, JoinHandle<()>), NetError> {
    config.validate()?;
    let request_timeout = config.request_timeout;
    let (commands, command_rx) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
    let (event_tx, events) = mpsc::channel(EVENT_CHANNEL_CAPACITY);
    let (ready_tx, ready) = oneshot::channel();
    let task = swarm::SwarmTask::new(identity, config, clock, command_rx, event_tx, ready_tx)?;
    let handle = NetHandle {
        commands,
        local_peer_id: task.local_peer_id(),
        request_timeout,
    };
    let join = tokio::spawn(task.run());
    match tokio::time::timeout(LISTEN_TIMEOUT, ready).await {
        Ok(Ok(Ok(()))) => Ok((handle, events, join)),
        failed => {
            let error = match failed {
                Ok(Ok(Err(error))) => error,
                Ok(Err(_)) => NetError::Stopped,
                Err(_) | Ok(Ok(Ok(()))) => NetError::Timeout,
            };
            // The task may still be running (timeout): stop it before reporting.
            let _ = handle.shutdown().await;
            let _ = join.await;
            Err(error)
        }
    }
}
