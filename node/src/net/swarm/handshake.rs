//! The admission exchange as the swarm task drives it: answering a dialer's certificate,
//! checking a listener's answer, admitting and refusing peers, and re-verifying admitted peers
//! when the trust changes or time passes. The checks themselves are in `net::admission`.

use libp2p::PeerId;
use libp2p::request_response::{self, Message, ResponseChannel};
use safeport_protocol::pki::AgencyIdentity;
use tokio::time::Instant;

use super::{Disconnect, NOT_ADMITTED, REFUSAL_FLUSH_TIMEOUT, SwarmTask};
use crate::net::admission::{self, AdmissionError};
use crate::net::codec::Reply;
use crate::net::{NetEvent, PeerState};

impl SwarmTask {
    pub(super) fn on_admission_event(&mut self, event: request_response::Event<Vec<u8>, Reply>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_admission_request(peer, &request, channel),
            request_response::Event::Message {
                peer,
                message: Message::Response { response, .. },
                ..
            } => self.on_admission_answer(peer, response),
            request_response::Event::OutboundFailure { peer, error, .. } => {
                if let Some(entry) = self.peers.get_mut(&peer) {
                    entry.awaiting_answer = false;
                    if entry.state == PeerState::Connecting {
                        let error = AdmissionError::Exchange(error.to_string());
                        self.refuse(peer, error, Disconnect::Now);
                    }
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound admission exchange failed");
                // A refusal that could not be sent need not be waited for.
                if let Some(entry) = self.peers.get_mut(&peer)
                    && entry.disconnect_at.take().is_some()
                {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
            }
            // Even once flushed, a refusal is lost if we close the connection before the
            // dialer has read it; the dialer hangs up when it has (or the deadline passes).
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    pub(super) fn on_admission_request(
        &mut self,
        peer: PeerId,
        pem: &[u8],
        channel: ResponseChannel<Reply>,
    ) {
        let expected = self.expected_agency(&peer);
        let verified =
            admission::verify_peer_bytes(pem, &peer, &self.trust, self.now(), expected.as_ref());
        match verified {
            Ok((identity, pem)) => {
                // Admit before answering: the dialer sends requests as soon as it has our answer.
                self.admit(peer, identity, pem);
                let answer = Reply::Ok(self.own_pem.clone().into_bytes());
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .admission
                    .send_response(channel, answer);
            }
            Err(error) => {
                let refusal = Reply::error(error.to_string());
                let sent = self
                    .swarm
                    .behaviour_mut()
                    .admission
                    .send_response(channel, refusal);
                // Tell the dialer why (so its operator can act), then drop it.
                let disconnect = match sent {
                    Ok(()) => Disconnect::AfterFlush,
                    Err(_) => Disconnect::Now,
                };
                self.refuse(peer, error, disconnect);
            }
        }
    }

    pub(super) fn on_admission_answer(&mut self, peer: PeerId, answer: Reply) {
        let expected = self.expected_agency(&peer);
        let now = self.now();
        let Some(entry) = self.peers.get_mut(&peer) else {
            return;
        };
        entry.awaiting_answer = false;
        // Refused or gone meanwhile (e.g. the admission deadline passed): too late.
        if !matches!(entry.state, PeerState::Connecting | PeerState::Admitted) {
            return;
        }
        let verified = match answer {
            Reply::Ok(pem) => {
                admission::verify_peer_bytes(&pem, &peer, &self.trust, now, expected.as_ref())
            }
            Reply::Error(reason) => Err(AdmissionError::RefusedByRemote(reason)),
        };
        match verified {
            Ok((identity, pem)) => self.admit(peer, identity, pem),
            Err(error) => self.refuse(peer, error, Disconnect::Now),
        }
    }

    pub(super) fn admit(&mut self, peer: PeerId, identity: AgencyIdentity, pem: String) {
        let now = self.now();
        let Some(entry) = self.peers.get_mut(&peer) else {
            return;
        };
        let agency = identity.subject.agency.clone();
        let newly = !entry.is_admitted() || entry.agency.as_ref() != Some(&agency);
        entry.set_state(PeerState::Admitted, now);
        entry.agency = Some(agency.clone());
        entry.admission_deadline = None;
        entry.disconnect_at = None;
        entry.certificate = Some((identity.clone(), pem.clone()));
        let held = std::mem::take(&mut entry.held);
        if let Some(configured) = self.configured.get_mut(&agency) {
            configured.admitted(self.config.redial_backoff_min);
        }
        if newly {
            tracing::info!(%peer, %agency, role = %identity.subject.role, serial = %identity.serial, "peer admitted");
            self.emit(NetEvent::PeerAdmitted {
                peer_id: peer,
                identity,
                certificate_pem: pem,
            });
        }
        for held in held {
            self.deliver(agency.clone(), held.request, held.channel);
        }
    }

    pub(super) fn refuse(&mut self, peer: PeerId, error: AdmissionError, disconnect: Disconnect) {
        let now = self.now();
        let reason = error.to_string();
        let Some(entry) = self.peers.get_mut(&peer) else {
            return;
        };
        entry.set_state(
            PeerState::Refused {
                reason: reason.clone(),
            },
            now,
        );
        entry.admission_deadline = None;
        entry.awaiting_answer = false;
        entry.certificate = None;
        let held = std::mem::take(&mut entry.held);
        match disconnect {
            Disconnect::Now => {
                entry.disconnect_at = None;
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Disconnect::AfterFlush => {
                entry.disconnect_at = Some(Instant::now() + REFUSAL_FLUSH_TIMEOUT);
            }
        }
        tracing::warn!(%peer, %reason, "peer refused");
        for held in held {
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(held.channel, Reply::error(NOT_ADMITTED));
        }
        self.emit(NetEvent::PeerRefused {
            peer_id: peer,
            reason,
        });
    }

    /// Checks every admitted peer's certificate again (new trust, time passing) and refuses
    /// those that no longer verify.
    pub(super) fn reverify_all(&mut self) {
        let now = self.now();
        for peer_id in self.peers.admitted() {
            let Some(entry) = self.peers.get(&peer_id) else {
                continue;
            };
            let Some((_, pem)) = &entry.certificate else {
                continue;
            };
            let verified =
                admission::verify_peer(pem, &peer_id, &self.trust, now, entry.agency.as_ref());
            if let Err(error) = verified {
                self.refuse(peer_id, error, Disconnect::Now);
            }
        }
    }
}
