//! The non-INVITE server transaction (RFC 3261 §17.2.2, figure 8).
//!
//! ```text
//! Trying ──1xx from core──▶ Proceeding ──200-699 from core──▶ Completed ──Timer J──▶ Terminated
//!    └──────────200-699 from core───────────────────────────────▲
//! Proceeding, Completed ──transport error──▶ Terminated
//! ```

use std::time::Instant;

use crate::message::{Request, Response, SipMessage};
use crate::method::Method;

use super::action::{TransactionAction, TransactionState};
use super::config::TransactionConfig;
use super::core::{Core, Timer, impl_transaction};
use super::error::TransactionError;
use super::key::TransactionKey;

use TransactionState::{Completed, Proceeding, Terminated, Trying};

/// Answers one received non-INVITE request (figure 8).
///
/// Creating it queues `Deliver(request)` for the core. Retransmitted requests are absorbed in
/// Trying and answered with the last response sent in Proceeding and Completed. After the
/// final response the transaction lingers in Completed for timer J (64*T1; zero on reliable
/// transports).
#[derive(Debug)]
pub struct NonInviteServerTransaction {
    core: Core,
    request: Request,
    last_response: Option<Response>,
}

impl NonInviteServerTransaction {
    /// Starts the transaction for a received request (neither INVITE nor ACK) and queues
    /// its delivery to the core.
    pub fn new(
        request: Request,
        config: TransactionConfig,
        reliable: bool,
        _now: Instant,
    ) -> Result<Self, TransactionError> {
        if matches!(request.method, Method::Invite | Method::Ack) {
            return Err(TransactionError::WrongMethod {
                method: request.method,
                kind: "a non-INVITE server transaction",
            });
        }
        let key = TransactionKey::from_request(&request)?;
        let mut core = Core::new(key, config, reliable, Trying);
        core.deliver(SipMessage::Request(request.clone()));
        Ok(NonInviteServerTransaction {
            core,
            request,
            last_response: None,
        })
    }

    /// The request this transaction answers.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The last response sent (the final one once Completed): what a retransmitted request
    /// gets again.
    pub fn last_response(&self) -> Option<&Response> {
        self.last_response.as_ref()
    }

    /// A response from the core: sent in Trying and Proceeding; refused with
    /// [`TransactionError::ResponseNotAllowed`] after the final response.
    pub fn send_response(
        &mut self,
        response: Response,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let status = response.status;
        match self.core.state {
            Trying | Proceeding => {
                self.core.send(SipMessage::Response(response.clone()));
                self.last_response = Some(response);
                if status < 200 {
                    self.core.transition(Proceeding);
                } else {
                    self.core.transition(Completed);
                    let j = self.core.config.timer_j(self.core.reliable);
                    if j.is_zero() {
                        self.core.transition(Terminated);
                    } else {
                        self.core.start(Timer::J, now, j);
                    }
                }
                Ok(())
            }
            state => Err(TransactionError::ResponseNotAllowed { status, state }),
        }
    }

    /// A retransmission of the request: answered with the last response sent, if any.
    pub fn on_request(&mut self, _request: Request, _now: Instant) {
        if let (Proceeding | Completed, Some(r)) = (self.core.state, &self.last_response) {
            self.core.retransmit(SipMessage::Response(r.clone()));
        }
    }

    fn fire(&mut self, timer: Timer, _now: Instant) {
        if let (Timer::J, Completed) = (timer, self.core.state) {
            self.core.transition(Terminated);
        }
    }

    fn transport_error(&mut self) {
        match self.core.state {
            Proceeding | Completed => self.core.fail(TransactionAction::TransportError),
            _ => self.core.push(TransactionAction::TransportError),
        }
    }
}

impl_transaction!(NonInviteServerTransaction);
