//! The four sans-IO transaction machines behind one type, so one actor drives any of them.

use std::time::Instant;

use sip::transaction::{
    InviteClientTransaction, InviteServerTransaction, NonInviteClientTransaction,
    NonInviteServerTransaction, Transaction, TransactionError, TransactionKey, TransactionState,
};
use sip::{Request, Response};

use crate::metrics::TransactionKind;

/// One of the four RFC 3261 §17 machines.
#[derive(Debug)]
pub(crate) enum Machine {
    InviteServer(InviteServerTransaction),
    NonInviteServer(NonInviteServerTransaction),
    InviteClient(InviteClientTransaction),
    NonInviteClient(NonInviteClientTransaction),
}

impl Machine {
    pub(super) fn kind(&self) -> TransactionKind {
        match self {
            Machine::InviteServer(_) => TransactionKind::InviteServer,
            Machine::NonInviteServer(_) => TransactionKind::NonInviteServer,
            Machine::InviteClient(_) => TransactionKind::InviteClient,
            Machine::NonInviteClient(_) => TransactionKind::NonInviteClient,
        }
    }

    /// The common interface of the machine.
    pub(super) fn common(&mut self) -> &mut dyn Transaction {
        match self {
            Machine::InviteServer(t) => t,
            Machine::NonInviteServer(t) => t,
            Machine::InviteClient(t) => t,
            Machine::NonInviteClient(t) => t,
        }
    }

    pub(super) fn key(&self) -> &TransactionKey {
        match self {
            Machine::InviteServer(t) => t.key(),
            Machine::NonInviteServer(t) => t.key(),
            Machine::InviteClient(t) => t.key(),
            Machine::NonInviteClient(t) => t.key(),
        }
    }

    pub(super) fn state(&self) -> TransactionState {
        match self {
            Machine::InviteServer(t) => t.state(),
            Machine::NonInviteServer(t) => t.state(),
            Machine::InviteClient(t) => t.state(),
            Machine::NonInviteClient(t) => t.state(),
        }
    }

    pub(super) fn retransmissions(&self) -> u32 {
        match self {
            Machine::InviteServer(t) => t.retransmissions(),
            Machine::NonInviteServer(t) => t.retransmissions(),
            Machine::InviteClient(t) => t.retransmissions(),
            Machine::NonInviteClient(t) => t.retransmissions(),
        }
    }

    /// The request the transaction was created for (received or sent).
    pub(super) fn request(&self) -> &Request {
        match self {
            Machine::InviteServer(t) => t.request(),
            Machine::NonInviteServer(t) => t.request(),
            Machine::InviteClient(t) => t.request(),
            Machine::NonInviteClient(t) => t.request(),
        }
    }

    /// A request matched to a server transaction (retransmission or ACK); ignored by clients.
    pub(super) fn on_request(&mut self, request: Request, now: Instant) {
        match self {
            Machine::InviteServer(t) => t.on_request(request, now),
            Machine::NonInviteServer(t) => t.on_request(request, now),
            Machine::InviteClient(_) | Machine::NonInviteClient(_) => {}
        }
    }

    /// A response matched to a client transaction; ignored by servers.
    pub(super) fn on_response(&mut self, response: Response, now: Instant) {
        match self {
            Machine::InviteClient(t) => t.on_response(response, now),
            Machine::NonInviteClient(t) => t.on_response(response, now),
            Machine::InviteServer(_) | Machine::NonInviteServer(_) => {}
        }
    }

    /// A response from the transaction user, for a server transaction.
    pub(super) fn send_response(
        &mut self,
        response: Response,
        now: Instant,
    ) -> Result<(), TransactionError> {
        match self {
            Machine::InviteServer(t) => t.send_response(response, now),
            Machine::NonInviteServer(t) => t.send_response(response, now),
            Machine::InviteClient(_) | Machine::NonInviteClient(_) => {
                Err(TransactionError::ResponseNotAllowed {
                    status: response.status,
                    state: self.state(),
                })
            }
        }
    }

    /// For an INVITE server transaction, the key its ACK is filed under when it differs from
    /// its own key (an RFC 2543 INVITE answered with a To tag).
    pub(super) fn ack_alias(&self) -> Option<TransactionKey> {
        match self {
            Machine::InviteServer(t) => Some(t.ack_key()).filter(|k| k != t.key()),
            _ => None,
        }
    }
}
