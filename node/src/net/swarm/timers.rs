//! The swarm task's timer: admission and refusal deadlines, redialling configured peers with
//! backoff, and the periodic re-verification of admitted peers.

use std::collections::HashSet;

use libp2p::swarm::dial_opts::DialOpts;
use safeport_protocol::AgencyId;
use tokio::time::Instant;

use super::{Disconnect, REVERIFY_INTERVAL, SwarmTask};
use crate::net::PeerState;
use crate::net::admission::AdmissionError;
use crate::net::peers::ConfiguredPeer;

impl SwarmTask {
    /// Whether a configured agency should be dialled (no admitted peer, no dial or connection
    /// in progress).
    pub(super) fn wants_dial(
        &self,
        agency: &AgencyId,
        peer: &ConfiguredPeer,
        admitted: &HashSet<AgencyId>,
    ) -> bool {
        peer.dial.is_none()
            && !admitted.contains(agency)
            && !peer
                .peer_id
                .is_some_and(|peer_id| self.swarm.is_connected(&peer_id))
    }

    pub(super) fn admitted_agencies(&self) -> HashSet<AgencyId> {
        self.peers
            .admitted()
            .iter()
            .filter_map(|peer_id| self.peers.get(peer_id).and_then(|e| e.agency.clone()))
            .collect()
    }

    /// When the timer must fire next. Computed from the peer table each loop turn (both are
    /// bounded: `MAX_PEER_ENTRIES`, `MAX_CONFIGURED_PEERS`).
    pub(super) fn next_deadline(&self) -> Instant {
        let mut next = self.next_reverify;
        if let Some(deadline) = self.peers.next_deadline() {
            next = next.min(deadline);
        }
        let admitted = self.admitted_agencies();
        for (agency, peer) in &self.configured {
            if self.wants_dial(agency, peer, &admitted) {
                next = next.min(peer.next_dial);
            }
        }
        next
    }

    pub(super) fn on_tick(&mut self) {
        let now = Instant::now();
        for peer_id in self.peers.due(now) {
            let Some(entry) = self.peers.get_mut(&peer_id) else {
                continue;
            };
            if entry.disconnect_at.is_some_and(|at| at <= now) {
                entry.disconnect_at = None;
                let _ = self.swarm.disconnect_peer_id(peer_id);
            }
            if entry.admission_deadline.is_some_and(|at| at <= now) {
                entry.admission_deadline = None;
                if entry.state == PeerState::Connecting {
                    let error = AdmissionError::Timeout(self.config.admission_timeout);
                    self.refuse(peer_id, error, Disconnect::Now);
                }
            }
        }
        self.redial(now);
        if self.next_reverify <= now {
            self.next_reverify = now + REVERIFY_INTERVAL;
            self.reverify_all();
        }
    }

    pub(super) fn redial(&mut self, now: Instant) {
        let admitted = self.admitted_agencies();
        let due: Vec<AgencyId> = self
            .configured
            .iter()
            .filter(|(agency, peer)| {
                peer.next_dial <= now && self.wants_dial(agency, peer, &admitted)
            })
            .map(|(agency, _)| agency.clone())
            .collect();
        for agency in due {
            let Some(peer) = self.configured.get_mut(&agency) else {
                continue;
            };
            let opts = match peer.peer_id.filter(|_| peer.pinned) {
                Some(peer_id) => DialOpts::peer_id(peer_id)
                    .addresses(vec![peer.addr.clone()])
                    .build(),
                None => DialOpts::unknown_peer_id()
                    .address(peer.addr.clone())
                    .build(),
            };
            peer.dialled(opts.connection_id(), now, self.config.redial_backoff_max);
            tracing::debug!(%agency, addr = %peer.addr, "dialling");
            if let Err(error) = self.swarm.dial(opts) {
                peer.dial = None;
                tracing::debug!(%agency, error = %crate::ErrorChain(&error), "dial failed");
            }
        }
    }
}
