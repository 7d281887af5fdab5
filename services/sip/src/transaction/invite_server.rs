//! The INVITE server transaction (RFC 3261 §17.2.1, figure 7, with RFC 6026's Accepted state).
//!
//! ```text
//! Proceeding ──300-699 from core──▶ Completed ──ACK──▶ Confirmed ──Timer I──▶ Terminated
//!    │                                 └──Timer H / transport error──▶ Terminated
//!    ├──2xx from core──▶ Accepted ──Timer L──▶ Terminated
//!    └──transport error──▶ Terminated
//! ```

use std::time::{Duration, Instant};

use crate::message::{Request, Response, SipMessage};
use crate::method::Method;

use super::action::{TransactionAction, TransactionState};
use super::config::TransactionConfig;
use super::core::{Core, Timer, impl_transaction};
use super::error::TransactionError;
use super::key::TransactionKey;

use TransactionState::{Accepted, Completed, Confirmed, Proceeding, Terminated};

/// Answers one received INVITE (figure 7, RFC 6026).
///
/// Creating it queues `Deliver(INVITE)` for the core. Unless the core sends a response within
/// `trying_delay`, the transaction sends 100 Trying itself. A retransmitted INVITE gets the
/// latest provisional response again in Proceeding and the final response in Completed. After
/// a 300-699 response, timer G retransmits it over unreliable transports (T1 doubling to T2)
/// until the ACK (then Confirmed for timer I) or timer H (64*T1). After a 2xx the transaction
/// is Accepted for timer L (64*T1): INVITE retransmissions are absorbed, 2xx retransmissions
/// from the core are sent, and an ACK matching this transaction goes up to the core.
#[derive(Debug)]
pub struct InviteServerTransaction {
    core: Core,
    request: Request,
    last_provisional: Option<Response>,
    final_response: Option<Response>,
    interval: Duration,
}

impl InviteServerTransaction {
    /// Starts the transaction for a received INVITE and queues its delivery to the core.
    pub fn new(
        request: Request,
        config: TransactionConfig,
        reliable: bool,
        now: Instant,
    ) -> Result<Self, TransactionError> {
        if request.method != Method::Invite {
            return Err(TransactionError::WrongMethod {
                method: request.method,
                kind: "an INVITE server transaction",
            });
        }
        let key = TransactionKey::from_request(&request)?;
        let mut tx = InviteServerTransaction {
            core: Core::new(key, config, reliable, Proceeding),
            request,
            last_provisional: None,
            final_response: None,
            interval: config.t1,
        };
        tx.core.deliver(SipMessage::Request(tx.request.clone()));
        if config.trying_delay.is_zero() {
            tx.send_trying();
        } else {
            tx.core.start(Timer::Trying, now, config.trying_delay);
        }
        Ok(tx)
    }

    /// The INVITE this transaction answers.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The key an ACK for this transaction's final response is filed under: [`Self::key`],
    /// except for an RFC 2543 INVITE without a To tag, where the ACK carries the tag of the
    /// final response sent (so register this key too once a final response is sent).
    pub fn ack_key(&self) -> TransactionKey {
        let tag = self
            .final_response
            .as_ref()
            .and_then(|r| r.headers.to())
            .and_then(|to| to.tag());
        self.core.key.with_response_to_tag(tag)
    }

    /// A response from the core. In Proceeding any response is sent; in Accepted only 2xx
    /// retransmissions are. Anything else is refused with
    /// [`TransactionError::ResponseNotAllowed`] and nothing is sent.
    pub fn send_response(
        &mut self,
        response: Response,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let status = response.status;
        match self.core.state {
            Proceeding => {
                self.core.cancel(Timer::Trying);
                self.core.send(SipMessage::Response(response.clone()));
                if status < 200 {
                    self.last_provisional = Some(response);
                } else if status < 300 {
                    self.final_response = Some(response);
                    self.core.transition(Accepted);
                    let l = self.core.config.timeout();
                    self.core.start(Timer::L, now, l);
                } else {
                    self.final_response = Some(response);
                    self.core.transition(Completed);
                    if !self.core.reliable {
                        self.core.start(Timer::G, now, self.interval);
                    }
                    let h = self.core.config.timeout();
                    self.core.start(Timer::H, now, h);
                }
                Ok(())
            }
            // RFC 6026 §8.5: the core retransmits its 2xx through the Accepted state.
            Accepted if (200..300).contains(&status) => {
                self.core.retransmit(SipMessage::Response(response));
                Ok(())
            }
            state => Err(TransactionError::ResponseNotAllowed { status, state }),
        }
    }

    /// A request matched to this transaction: a retransmitted INVITE or an ACK.
    pub fn on_request(&mut self, request: Request, now: Instant) {
        match (&request.method, self.core.state) {
            (Method::Invite, Proceeding) => {
                if let Some(p) = &self.last_provisional {
                    self.core.retransmit(SipMessage::Response(p.clone()));
                }
            }
            (Method::Invite, Completed) => {
                if let Some(f) = &self.final_response {
                    self.core.retransmit(SipMessage::Response(f.clone()));
                }
            }
            (Method::Ack, Completed) => {
                self.core.cancel(Timer::G);
                self.core.cancel(Timer::H);
                self.core.transition(Confirmed);
                let i = self.core.config.linger(self.core.reliable);
                if i.is_zero() {
                    self.core.transition(Terminated);
                } else {
                    self.core.start(Timer::I, now, i);
                }
            }
            // RFC 6026 §8.7: an ACK matching the transaction in Accepted goes to the core.
            (Method::Ack, Accepted) => self.core.deliver(SipMessage::Request(request)),
            // INVITE in Accepted or Confirmed, ACK in Confirmed: absorbed.
            _ => {}
        }
    }

    fn send_trying(&mut self) {
        let trying = Response::from_request(&self.request, 100, None);
        self.core.send(SipMessage::Response(trying.clone()));
        self.last_provisional = Some(trying);
    }

    fn fire(&mut self, timer: Timer, now: Instant) {
        match (timer, self.core.state) {
            (Timer::Trying, Proceeding) if self.last_provisional.is_none() => self.send_trying(),
            (Timer::G, Completed) => {
                if let Some(f) = &self.final_response {
                    self.core.retransmit(SipMessage::Response(f.clone()));
                }
                self.interval = self.interval.saturating_mul(2).min(self.core.config.t2);
                self.core.start(Timer::G, now, self.interval);
            }
            (Timer::H, Completed) => self.core.fail(TransactionAction::Timeout),
            (Timer::I, Confirmed) | (Timer::L, Accepted) => self.core.transition(Terminated),
            _ => {}
        }
    }

    fn transport_error(&mut self) {
        match self.core.state {
            Proceeding | Completed => self.core.fail(TransactionAction::TransportError),
            _ => self.core.push(TransactionAction::TransportError),
        }
    }
}

impl_transaction!(InviteServerTransaction);
