//! The swarm task's peer bookkeeping: what it knows of every peer (state, agency, certificate,
//! connections, admission deadline) and the redial schedule of the peers it was told to keep
//! connected to. Plain data and decisions; the swarm task performs the I/O.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::request_response::ResponseChannel;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};
use safeport_protocol::pki::AgencyIdentity;
use safeport_protocol::{AgencyId, Timestamp};
use tokio::time::Instant;

use super::codec::Reply;
use super::{PeerState, PeerStatus};

/// Most peers remembered. Refused and disconnected peers stay listed (with their reason) until
/// room is needed; the oldest of those is forgotten first. Connected peers are bounded by the
/// connection limits, well below this.
pub(crate) const MAX_PEER_ENTRIES: usize = 4096;
/// Most sync requests held per peer while our half of its admission is still in flight.
pub(crate) const MAX_HELD_REQUESTS: usize = 16;

/// A sync request that arrived before its sender's admission completed on our side.
#[derive(Debug)]
pub(crate) struct HeldRequest {
    /// The request body.
    pub(crate) request: Vec<u8>,
    /// Where its answer goes.
    pub(crate) channel: ResponseChannel<Reply>,
}

/// What the task knows of one peer.
#[derive(Debug)]
pub(crate) struct PeerEntry {
    /// Where it stands.
    pub(crate) state: PeerState,
    /// Its agency, once known from a verified certificate.
    pub(crate) agency: Option<AgencyId>,
    /// The remote address of its latest connection.
    pub(crate) addr: Option<Multiaddr>,
    /// When `state` was entered.
    pub(crate) since: Timestamp,
    /// Its open connections (bounded by the per-peer connection limit).
    pub(crate) connections: HashSet<ConnectionId>,
    /// Its verified certificate, kept to re-verify it when the trust changes.
    pub(crate) certificate: Option<(AgencyIdentity, String)>,
    /// When admission must have completed.
    pub(crate) admission_deadline: Option<Instant>,
    /// Whether we sent our certificate and wait for the peer's answer. Sync requests arriving
    /// meanwhile are held: the peer admitted us before answering, so they are legitimate once
    /// its answer verifies.
    pub(crate) awaiting_answer: bool,
    /// Sync requests held while `awaiting_answer` (at most [`MAX_HELD_REQUESTS`]).
    pub(crate) held: Vec<HeldRequest>,
    /// When to disconnect a refused peer at the latest (its refusal is being sent).
    pub(crate) disconnect_at: Option<Instant>,
}

impl PeerEntry {
    fn new(now: Timestamp) -> Self {
        Self {
            state: PeerState::Disconnected,
            agency: None,
            addr: None,
            since: now,
            connections: HashSet::new(),
            certificate: None,
            admission_deadline: None,
            awaiting_answer: false,
            held: Vec::new(),
            disconnect_at: None,
        }
    }

    /// Whether the peer is admitted.
    pub(crate) fn is_admitted(&self) -> bool {
        self.state == PeerState::Admitted
    }

    /// Moves to `state`, restarting `since` only on a change.
    pub(crate) fn set_state(&mut self, state: PeerState, now: Timestamp) {
        if self.state != state {
            self.state = state;
            self.since = now;
        }
    }

    /// The earliest moment something must happen to this peer.
    fn deadline(&self) -> Option<Instant> {
        match (self.admission_deadline, self.disconnect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Every peer the task knows of, bounded by [`MAX_PEER_ENTRIES`].
#[derive(Debug, Default)]
pub(crate) struct PeerTable {
    entries: HashMap<PeerId, PeerEntry>,
}

impl PeerTable {
    /// The entry of `peer_id`, created (forgetting the oldest unconnected peer when full) if
    /// new.
    pub(crate) fn entry(&mut self, peer_id: PeerId, now: Timestamp) -> &mut PeerEntry {
        if !self.entries.contains_key(&peer_id) && self.entries.len() >= MAX_PEER_ENTRIES {
            let oldest = self
                .entries
                .iter()
                .filter(|(_, entry)| entry.connections.is_empty())
                .min_by_key(|(_, entry)| entry.since)
                .map(|(peer_id, _)| *peer_id);
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries
            .entry(peer_id)
            .or_insert_with(|| PeerEntry::new(now))
    }

    /// The entry of `peer_id`, if known.
    pub(crate) fn get_mut(&mut self, peer_id: &PeerId) -> Option<&mut PeerEntry> {
        self.entries.get_mut(peer_id)
    }

    /// The entry of `peer_id`, if known.
    pub(crate) fn get(&self, peer_id: &PeerId) -> Option<&PeerEntry> {
        self.entries.get(peer_id)
    }

    /// The most recently admitted peer of `agency` (an agency may run a new key beside the
    /// old one while it rotates).
    pub(crate) fn admitted_peer(&self, agency: &AgencyId) -> Option<PeerId> {
        self.entries
            .iter()
            .filter(|(_, entry)| entry.is_admitted() && entry.agency.as_ref() == Some(agency))
            .max_by_key(|(_, entry)| entry.since)
            .map(|(peer_id, _)| *peer_id)
    }

    /// The admitted peers.
    pub(crate) fn admitted(&self) -> Vec<PeerId> {
        self.entries
            .iter()
            .filter(|(_, entry)| entry.is_admitted())
            .map(|(peer_id, _)| *peer_id)
            .collect()
    }

    /// Peers whose admission or refusal deadline is at or before `now`.
    pub(crate) fn due(&self, now: Instant) -> Vec<PeerId> {
        self.entries
            .iter()
            .filter(|(_, entry)| entry.deadline().is_some_and(|deadline| deadline <= now))
            .map(|(peer_id, _)| *peer_id)
            .collect()
    }

    /// The earliest deadline of any peer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries.values().filter_map(PeerEntry::deadline).min()
    }

    /// The public view of every peer.
    pub(crate) fn statuses(&self) -> Vec<PeerStatus> {
        self.entries
            .iter()
            .map(|(peer_id, entry)| PeerStatus {
                peer_id: *peer_id,
                agency: entry.agency.clone(),
                addr: entry.addr.clone(),
                state: entry.state.clone(),
                since: entry.since,
            })
            .collect()
    }
}

/// A peer the task keeps dialling (added with `NetHandle::add_peer`).
#[derive(Debug)]
pub(crate) struct ConfiguredPeer {
    /// Where to dial.
    pub(crate) addr: Multiaddr,
    /// The peer id: pinned by a `/p2p/` suffix of the address, else learned at each
    /// successful dial.
    pub(crate) peer_id: Option<PeerId>,
    /// Whether the address pins the peer id.
    pub(crate) pinned: bool,
    /// The dial in progress.
    pub(crate) dial: Option<ConnectionId>,
    /// The wait after the next attempt.
    pub(crate) backoff: Duration,
    /// No attempt before this.
    pub(crate) next_dial: Instant,
}

impl ConfiguredPeer {
    /// A peer to dial at once.
    pub(crate) fn new(addr: Multiaddr, backoff_min: Duration, now: Instant) -> Self {
        let pinned = match addr.iter().last() {
            Some(Protocol::P2p(peer_id)) => Some(peer_id),
            _ => None,
        };
        Self {
            addr,
            peer_id: pinned,
            pinned: pinned.is_some(),
            dial: None,
            backoff: backoff_min,
            next_dial: now,
        }
    }

    /// Records a dial attempt at `now`: the next may not start before the current backoff has
    /// passed, and the backoff doubles (up to `max`) until an admission resets it.
    pub(crate) fn dialled(&mut self, dial: ConnectionId, now: Instant, max: Duration) {
        self.dial = Some(dial);
        self.next_dial = now + self.backoff;
        self.backoff = self.backoff.saturating_mul(2).min(max);
    }

    /// Records a successful admission: the next outage starts again at the shortest backoff.
    pub(crate) fn admitted(&mut self, min: Duration) {
        self.backoff = min;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_and_resets_on_admission() {
        let now = Instant::now();
        let min = Duration::from_secs(1);
        let max = Duration::from_secs(5);
        let mut peer = ConfiguredPeer::new("/ip4/127.0.0.1/tcp/1".parse().unwrap(), min, now);
        assert_eq!(peer.next_dial, now);
        let waits: Vec<u64> = (0..5)
            .map(|_| {
                peer.dialled(ConnectionId::new_unchecked(0), now, max);
                (peer.next_dial - now).as_secs()
            })
            .collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        peer.admitted(min);
        assert_eq!(peer.backoff, min);
    }

    #[test]
    fn a_p2p_suffix_pins_the_peer_id() {
        let peer_id = PeerId::from_public_key(
            &libp2p::identity::Keypair::ed25519_from_bytes([1u8; 32])
                .unwrap()
                .public(),
        );
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{peer_id}")
            .parse()
            .unwrap();
        let peer = ConfiguredPeer::new(addr, Duration::from_secs(1), Instant::now());
        assert_eq!(peer.peer_id, Some(peer_id));
        assert!(peer.pinned);
    }

    #[test]
    fn the_table_forgets_the_oldest_unconnected_peer_when_full() {
        let mut table = PeerTable::default();
        let ids: Vec<PeerId> = (0..=MAX_PEER_ENTRIES)
            .map(|n| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&(n as u64).to_be_bytes());
                libp2p::identity::Keypair::ed25519_from_bytes(seed)
                    .unwrap()
                    .public()
                    .to_peer_id()
            })
            .collect();
        for (n, peer_id) in ids.iter().enumerate() {
            table.entry(*peer_id, Timestamp(n as u64 + 1));
        }
        assert_eq!(table.entries.len(), MAX_PEER_ENTRIES);
        assert!(table.get(&ids[0]).is_none());
        assert!(table.get(&ids[MAX_PEER_ENTRIES]).is_some());
    }
}
