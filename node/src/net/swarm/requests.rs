//! Sync requests as the swarm task handles them: delivering admitted peers' requests to the
//! application and sending its answers back, answering everyone else with an error frame,
//! completing the application's own requests, and queueing events for the application.

use futures::FutureExt;
use libp2p::PeerId;
use libp2p::request_response::{self, InboundFailure, Message, OutboundFailure, ResponseChannel};
use safeport_protocol::AgencyId;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::oneshot;

use super::{EVENT_BACKLOG, MAX_PENDING_INBOUND, NOT_ADMITTED, SwarmTask};
use crate::net::codec::Reply;
use crate::net::peers::{HeldRequest, MAX_HELD_REQUESTS};
use crate::net::{NetError, NetEvent, PeerState};

impl SwarmTask {
    pub(super) fn on_sync_event(&mut self, event: request_response::Event<Vec<u8>, Reply>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_sync_request(peer, request, channel),
            request_response::Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let result = match response {
                        Reply::Ok(body) => Ok(body),
                        Reply::Error(reason) => Err(NetError::Failure(format!(
                            "the remote refused the request: {reason}"
                        ))),
                    };
                    let _ = reply.send(result);
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let error = match error {
                        OutboundFailure::Timeout => NetError::Timeout,
                        other => NetError::Failure(other.to_string()),
                    };
                    let _ = reply.send(Err(error));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => match error {
                // Oversized or malformed frames land here: the stream is dropped, the
                // connection and the node carry on.
                InboundFailure::Io(error) => {
                    tracing::warn!(%peer, %error, "inbound sync request refused");
                }
                other => tracing::debug!(%peer, error = %other, "inbound sync request failed"),
            },
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    pub(super) fn on_sync_request(
        &mut self,
        peer: PeerId,
        request: Vec<u8>,
        channel: ResponseChannel<Reply>,
    ) {
        if let Some(entry) = self.peers.get_mut(&peer) {
            if entry.is_admitted()
                && let Some(agency) = entry.agency.clone()
            {
                self.deliver(agency, request, channel);
                return;
            }
            if entry.state == PeerState::Connecting
                && entry.awaiting_answer
                && entry.held.len() < MAX_HELD_REQUESTS
            {
                entry.held.push(HeldRequest { request, channel });
                return;
            }
        }
        tracing::debug!(%peer, "sync request from a peer that is not admitted refused");
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, Reply::error(NOT_ADMITTED));
    }

    /// Hands an admitted peer's request to the application, or answers "busy".
    pub(super) fn deliver(
        &mut self,
        from: AgencyId,
        request: Vec<u8>,
        channel: ResponseChannel<Reply>,
    ) {
        if !self.events_open
            || self.backlog.len() >= EVENT_BACKLOG
            || self.inbound.len() >= MAX_PENDING_INBOUND
        {
            tracing::warn!(agency = %from, "application busy; sync request refused");
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, Reply::error("busy"));
            return;
        }
        let id = self.next_inbound;
        self.next_inbound = self.next_inbound.wrapping_add(1);
        self.inbound.insert(id, channel);
        let (reply, answer) = oneshot::channel();
        let wait = self.config.request_timeout;
        self.replies.push(
            async move {
                let body = tokio::time::timeout(wait, answer)
                    .await
                    .ok()
                    .and_then(Result::ok);
                (id, body)
            }
            .boxed(),
        );
        self.backlog.push_back(NetEvent::InboundRequest {
            from,
            request,
            reply,
        });
    }

    pub(super) fn on_reply(&mut self, id: u64, body: Option<Vec<u8>>) {
        let Some(channel) = self.inbound.remove(&id) else {
            return;
        };
        let reply = match body {
            // The response frame also holds a tag byte.
            Some(body) if body.len() < self.config.max_frame_bytes => Reply::Ok(body),
            Some(body) => {
                tracing::warn!(bytes = body.len(), "response over the frame limit not sent");
                Reply::error("response too large")
            }
            // No answer: dropping the channel closes the stream.
            None => return,
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, reply);
    }

    /// Queues a peer event; drops it (with a warning) only when the backlog is full.
    pub(super) fn emit(&mut self, event: NetEvent) {
        if !self.events_open {
            return;
        }
        if self.backlog.len() >= EVENT_BACKLOG {
            tracing::warn!(?event, "event backlog full; event dropped");
            return;
        }
        self.backlog.push_back(event);
    }

    /// Moves queued events into the channel while it has room.
    pub(super) fn flush_events(&mut self) {
        while let Some(event) = self.backlog.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => {
                    self.backlog.push_front(event);
                    return;
                }
                Err(TrySendError::Closed(_)) => {
                    self.events_closed();
                    return;
                }
            }
        }
    }

    pub(super) fn events_closed(&mut self) {
        if self.events_open {
            tracing::warn!("the application stopped receiving network events");
        }
        self.events_open = false;
        // Dropping queued inbound requests drops their reply senders: their streams close.
        self.backlog.clear();
    }
}
