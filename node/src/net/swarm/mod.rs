//! The swarm task: the only owner of the libp2p `Swarm`. It builds the transport and
//! behaviours, then runs one event loop over handle commands, swarm events, the application's
//! answers to inbound requests, event delivery and a timer (admission deadlines, redials,
//! periodic re-verification of admitted peers).
//!
//! The loop never awaits anything but its `select!`: events go to the application through a
//! bounded backlog drained as the channel has room, so a slow application cannot stall the
//! network, and an inbound request that finds the backlog full is answered "busy".
//!
//! This file holds the task, its loop, commands and connection events; `handshake`,
//! `requests` and `timers` hold the rest of its methods.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::core::ConnectedPoint;
use libp2p::core::transport::OptionalTransport;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, connection_limits, identify, noise,
    ping, quic, tcp, yamux,
};
use safeport_protocol::pki::MAX_PEM_BYTES;
use safeport_protocol::{AgencyId, Timestamp};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::admission::{self, AdmissionError, Trust};
use super::codec::{FrameCodec, Reply};
use super::peers::{ConfiguredPeer, PeerTable};
use super::{
    ADMISSION_PROTOCOL, Command, MAX_CONFIGURED_PEERS, NetConfig, NetError, NetEvent, PeerState,
    SYNC_PROTOCOL,
};
use crate::identity::NodeIdentity;

mod handshake;
mod requests;
mod timers;

/// The identify protocol version: peers of other networks show up as such in logs.
const IDENTIFY_PROTOCOL_VERSION: &str = "/safeport/1";
/// Largest admission frame: a certificate PEM (bounded by the PKI) plus the reply tag.
const ADMISSION_FRAME_BYTES: usize = MAX_PEM_BYTES + 1;
/// Concurrent admission streams per connection: one each way is all the protocol uses.
const ADMISSION_STREAMS: usize = 4;
/// How long a refused dialer's connection stays open at most for our refusal (with its reason)
/// to reach it; it normally hangs up as soon as it has read it.
const REFUSAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Most events kept for the application beyond the channel's own capacity.
const EVENT_BACKLOG: usize = 1024;
/// Most inbound sync requests waiting for the application's answer.
const MAX_PENDING_INBOUND: usize = 1024;
/// Most outbound sync requests in flight.
const MAX_PENDING_OUTBOUND: usize = 1024;
/// How often admitted peers' certificates are checked again (they expire, CRLs go stale).
const REVERIFY_INTERVAL: Duration = Duration::from_secs(60);
/// The error frame sent to a peer that is not admitted.
const NOT_ADMITTED: &str = "not admitted";

/// The behaviours of a Safeport swarm.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    admission: request_response::Behaviour<FrameCodec>,
    sync: request_response::Behaviour<FrameCodec>,
}

/// When to drop a refused peer's connections.
#[derive(Debug, Clone, Copy)]
enum Disconnect {
    /// At once.
    Now,
    /// When the refused dialer, having read our refusal, hangs up; at the latest after
    /// [`REFUSAL_FLUSH_TIMEOUT`]. Meanwhile nothing flows: the peer is refused.
    AfterFlush,
}

type ReplyFuture = BoxFuture<'static, (u64, Option<Vec<u8>>)>;

/// The task's state. See the module documentation.
pub(crate) struct SwarmTask {
    swarm: Swarm<Behaviour>,
    config: NetConfig,
    clock: fn() -> Timestamp,
    own_pem: String,
    trust: Trust,
    peers: PeerTable,
    configured: HashMap<AgencyId, ConfiguredPeer>,
    listen_addrs: Vec<Multiaddr>,
    ready: Option<oneshot::Sender<Result<(), NetError>>>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    backlog: VecDeque<NetEvent>,
    events_open: bool,
    /// Sync requests in flight, with where their outcome goes.
    outbound: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, NetError>>>,
    /// Inbound sync requests handed to the application, by our id.
    inbound: HashMap<u64, ResponseChannel<Reply>>,
    next_inbound: u64,
    /// The application's answers (or `None` when it dropped the reply or ran out of time).
    replies: FuturesUnordered<ReplyFuture>,
    next_reverify: Instant,
}

fn build_swarm(
    keypair: libp2p::identity::Keypair,
    config: &NetConfig,
) -> Result<Swarm<Behaviour>, NetError> {
    let transport = |e: &dyn std::fmt::Display| NetError::Transport(e.to_string());
    let enable_quic = config.enable_quic;
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established_per_peer(Some(config.max_connections_per_peer))
        .with_max_established(Some(config.max_established_total))
        .with_max_pending_incoming(Some(config.max_established_total))
        .with_max_pending_outgoing(Some(config.max_established_total));
    let sync_config = request_response::Config::default()
        .with_request_timeout(config.request_timeout)
        .with_max_concurrent_streams(config.max_concurrent_streams);
    let admission_config = request_response::Config::default()
        .with_request_timeout(config.admission_timeout)
        .with_max_concurrent_streams(ADMISSION_STREAMS);
    let max_frame_bytes = config.max_frame_bytes;
    let idle = config.idle_connection_timeout;
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| transport(&e))?
        // QUIC is chosen at run time; an absent transport refuses QUIC addresses.
        .with_other_transport(|key| {
            if enable_quic {
                OptionalTransport::some(quic::tokio::Transport::new(quic::Config::new(key)))
            } else {
                OptionalTransport::none()
            }
        })
        .map_err(|e| transport(&e))?
        .with_behaviour(|key| Behaviour {
            limits: connection_limits::Behaviour::new(limits),
            identify: identify::Behaviour::new(identify::Config::new(
                IDENTIFY_PROTOCOL_VERSION.into(),
                key.public(),
            )),
            ping: ping::Behaviour::new(ping::Config::new()),
            admission: request_response::Behaviour::with_codec(
                FrameCodec::new(ADMISSION_FRAME_BYTES),
                [(
                    StreamProtocol::new(ADMISSION_PROTOCOL),
                    ProtocolSupport::Full,
                )],
                admission_config,
            ),
            sync: request_response::Behaviour::with_codec(
                FrameCodec::new(max_frame_bytes),
                [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
                sync_config,
            ),
        })
        .map_err(|e| transport(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();
    Ok(swarm)
}

impl SwarmTask {
    /// Builds the swarm and starts listening; the task runs with [`SwarmTask::run`].
    pub(crate) fn new(
        identity: &NodeIdentity,
        config: NetConfig,
        clock: fn() -> Timestamp,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetEvent>,
        ready: oneshot::Sender<Result<(), NetError>>,
    ) -> Result<Self, NetError> {
        // The node key is the network identity, so the certificate that certifies the node key
        // certifies the PeerId too. libp2p zeroes this copy of the seed.
        let mut seed = identity.key.seed();
        let keypair = libp2p::identity::Keypair::ed25519_from_bytes(&mut seed)
            .map_err(|e| NetError::Identity(e.to_string()))?;
        let local_key = admission::peer_public_key(&keypair.public().to_peer_id())
            .map_err(|e| NetError::Identity(e.to_string()))?;
        if local_key != identity.key.public() {
            return Err(NetError::Identity(
                "the libp2p key differs from the node key".into(),
            ));
        }
        let mut swarm = build_swarm(keypair, &config)?;
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen {
                    addr: addr.clone(),
                    reason: crate::ErrorChain(&e).to_string(),
                })?;
        }
        let mut ready = Some(ready);
        if config.listen.is_empty()
            && let Some(ready) = ready.take()
        {
            let _ = ready.send(Ok(()));
        }
        Ok(Self {
            swarm,
            clock,
            own_pem: identity.certificate_pem.clone(),
            trust: Trust {
                anchors: identity.anchors.clone(),
                crl: identity.crl.clone(),
            },
            peers: PeerTable::default(),
            configured: HashMap::new(),
            listen_addrs: Vec::new(),
            ready,
            commands,
            events,
            backlog: VecDeque::new(),
            events_open: true,
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            next_inbound: 0,
            replies: FuturesUnordered::new(),
            next_reverify: Instant::now() + REVERIFY_INTERVAL,
            config,
        })
    }

    /// This node's libp2p id.
    pub(crate) fn local_peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Runs until [`Command::Shutdown`] or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        let timer = tokio::time::sleep_until(self.next_reverify);
        tokio::pin!(timer);
        let mut shutdown_reply = None;
        loop {
            self.flush_events();
            timer.as_mut().reset(self.next_deadline());
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        shutdown_reply = Some(reply);
                        break;
                    }
                    Some(command) => self.on_command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some((id, body)) = self.replies.next(), if !self.replies.is_empty() => {
                    self.on_reply(id, body);
                }
                // An owned permit: a borrowed one would hold `self` across the handlers.
                permit = self.events.clone().reserve_owned(), if !self.backlog.is_empty() => {
                    match permit {
                        Ok(permit) => {
                            if let Some(event) = self.backlog.pop_front() {
                                permit.send(event);
                            }
                        }
                        Err(_) => self.events_closed(),
                    }
                }
                () = &mut timer => self.on_tick(),
            }
        }
        // Dropping the swarm closes every listener and connection.
        drop(self);
        tracing::info!("network stopped");
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.listen_addrs.clone());
            }
            Command::AddPeer {
                addr,
                agency,
                reply,
            } => {
                let result = if !self.configured.contains_key(&agency)
                    && self.configured.len() >= MAX_CONFIGURED_PEERS
                {
                    Err(NetError::Limit("too many configured peers"))
                } else {
                    tracing::info!(%agency, %addr, "peer added");
                    let peer =
                        ConfiguredPeer::new(addr, self.config.redial_backoff_min, Instant::now());
                    self.configured.insert(agency, peer);
                    Ok(())
                };
                let _ = reply.send(result);
            }
            Command::RemovePeer { agency, reply } => {
                if self.configured.remove(&agency).is_some() {
                    tracing::info!(%agency, "peer removed");
                }
                let _ = reply.send(());
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peers.statuses());
            }
            Command::UpdateTrust {
                anchors,
                crl,
                reply,
            } => {
                self.trust = Trust { anchors, crl };
                tracing::info!("federation trust updated; re-verifying admitted peers");
                self.reverify_all();
                let _ = reply.send(());
            }
            Command::Request {
                agency,
                body,
                reply,
            } => {
                let result = match self.peers.admitted_peer(&agency) {
                    None => Err(NetError::NotAdmitted(agency)),
                    Some(_) if self.outbound.len() >= MAX_PENDING_OUTBOUND => {
                        Err(NetError::Limit("too many sync requests in flight"))
                    }
                    Some(peer_id) => {
                        let id = self.swarm.behaviour_mut().sync.send_request(&peer_id, body);
                        self.outbound.insert(id, reply);
                        return;
                    }
                };
                let _ = reply.send(result);
            }
            #[cfg(test)]
            Command::RawRequest {
                peer_id,
                addr,
                body,
                reply,
            } => {
                let sync = &mut self.swarm.behaviour_mut().sync;
                let id = sync.send_request_with_addresses(&peer_id, body, vec![addr]);
                self.outbound.insert(id, reply);
            }
            // Handled by the loop.
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Admission(event)) => {
                self.on_admission_event(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Limits(never)) => match never {},
            SwarmEvent::Behaviour(BehaviourEvent::Identify(_) | BehaviourEvent::Ping(_)) => {}
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => self.on_connection_established(peer_id, connection_id, &endpoint),
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => self.on_connection_closed(peer_id, connection_id, num_established),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                for (agency, peer) in &mut self.configured {
                    if peer.dial == Some(connection_id) {
                        peer.dial = None;
                        tracing::debug!(%agency, error = %crate::ErrorChain(&error), "dial failed");
                    }
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listen_addrs.push(address);
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(Ok(()));
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| *a != address);
            }
            SwarmEvent::ListenerClosed {
                addresses, reason, ..
            } => {
                self.listen_addrs.retain(|a| !addresses.contains(a));
                let reason = match reason {
                    Ok(()) => "closed".to_owned(),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(?addresses, %reason, "listener closed");
                if let (Some(ready), Some(addr)) = (self.ready.take(), self.config.listen.first()) {
                    let addr = addr.clone();
                    let _ = ready.send(Err(NetError::Listen { addr, reason }));
                }
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "listener error");
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::debug!(%send_back_addr, error = %crate::ErrorChain(&error), "incoming connection failed");
            }
            _ => {}
        }
    }

    /// The agency a peer was added as, if it was (its certificate must then name it).
    fn expected_agency(&self, peer_id: &PeerId) -> Option<AgencyId> {
        self.configured
            .iter()
            .find(|(_, peer)| peer.peer_id == Some(*peer_id))
            .map(|(agency, _)| agency.clone())
    }

    fn on_connection_established(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        endpoint: &ConnectedPoint,
    ) {
        let now = self.now();
        tracing::debug!(%peer_id, addr = %endpoint.get_remote_address(), "connection established");
        for peer in self.configured.values_mut() {
            if peer.dial == Some(connection_id) {
                peer.dial = None;
                // Learned at each dial, so a peer that changed keys is followed (its new
                // certificate must still name the configured agency).
                peer.peer_id = Some(peer_id);
            }
        }
        let entry = self.peers.entry(peer_id, now);
        entry.connections.insert(connection_id);
        entry.addr = Some(endpoint.get_remote_address().clone());
        match entry.state {
            PeerState::Admitted | PeerState::Connecting => {}
            PeerState::Refused { .. } if entry.disconnect_at.is_some() => {
                self.swarm.close_connection(connection_id);
                return;
            }
            PeerState::Refused { .. } | PeerState::Disconnected => {
                entry.set_state(PeerState::Connecting, now);
                entry.certificate = None;
                entry.admission_deadline = Some(Instant::now() + self.config.admission_timeout);
            }
        }
        // The dialer presents its certificate first; the listener waits for it.
        if !endpoint.is_dialer() || entry.awaiting_answer || entry.is_admitted() {
            return;
        }
        if let Err(error) = admission::peer_public_key(&peer_id) {
            self.refuse(peer_id, error, Disconnect::Now);
            return;
        }
        entry.awaiting_answer = true;
        let certificate = self.own_pem.clone().into_bytes();
        // The answer (or failure) comes back as an admission event naming the peer.
        let _ = self
            .swarm
            .behaviour_mut()
            .admission
            .send_request(&peer_id, certificate);
    }

    fn on_connection_closed(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        remaining: u32,
    ) {
        let now = self.now();
        let Some(entry) = self.peers.get_mut(&peer_id) else {
            return;
        };
        entry.connections.remove(&connection_id);
        if remaining > 0 {
            return;
        }
        entry.admission_deadline = None;
        entry.disconnect_at = None;
        // Their streams died with the connection; dropping the channels is all there is to do.
        entry.held.clear();
        if entry.state == PeerState::Connecting && entry.awaiting_answer {
            // The listener hung up before answering our certificate (e.g. it refused it).
            let error = AdmissionError::Exchange("connection closed before the answer".into());
            self.refuse(peer_id, error, Disconnect::Now);
            return;
        }
        entry.awaiting_answer = false;
        match entry.state {
            PeerState::Admitted => {
                entry.set_state(PeerState::Disconnected, now);
                if let Some(agency) = entry.agency.clone() {
                    tracing::info!(%peer_id, %agency, "peer disconnected");
                    self.emit(NetEvent::PeerDisconnected { agency });
                }
            }
            PeerState::Connecting => entry.set_state(PeerState::Disconnected, now),
            PeerState::Refused { .. } | PeerState::Disconnected => {}
        }
    }
}
