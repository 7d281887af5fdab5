//! The non-INVITE client transaction (RFC 3261 §17.1.2, figure 6).
//!
//! ```text
//! Trying ──1xx──▶ Proceeding ──200-699──▶ Completed ──Timer K──▶ Terminated
//!    └───────────200-699─────────────────────▲
//! Trying, Proceeding ──Timer F / transport error──▶ Terminated
//! ```

use std::time::{Duration, Instant};

use crate::message::{Request, Response, SipMessage};
use crate::method::Method;

use super::action::{TransactionAction, TransactionState};
use super::config::TransactionConfig;
use super::core::{Core, Timer, impl_transaction};
use super::error::TransactionError;
use super::key::TransactionKey;

use TransactionState::{Completed, Proceeding, Terminated, Trying};

/// Sends one non-INVITE request (OPTIONS, BYE, REGISTER, CANCEL, …) and sees it through.
///
/// Creating it queues `Send(request)`. Timer E retransmits over unreliable transports: T1,
/// doubling up to T2 in Trying, every T2 in Proceeding. Timer F (64*T1) gives up in Trying or
/// Proceeding. After a final response the transaction lingers in Completed for timer K (T4;
/// zero on reliable transports) to absorb response retransmissions.
#[derive(Debug)]
pub struct NonInviteClientTransaction {
    core: Core,
    request: Request,
    interval: Duration,
}

impl NonInviteClientTransaction {
    /// Starts the transaction for `request` (neither INVITE nor ACK; its top Via has a
    /// branch) and queues its first transmission.
    pub fn new(
        request: Request,
        config: TransactionConfig,
        reliable: bool,
        now: Instant,
    ) -> Result<Self, TransactionError> {
        if matches!(request.method, Method::Invite | Method::Ack) {
            return Err(TransactionError::WrongMethod {
                method: request.method,
                kind: "a non-INVITE client transaction",
            });
        }
        let key = TransactionKey::for_client_request(&request)?;
        let mut core = Core::new(key, config, reliable, Trying);
        core.send(SipMessage::Request(request.clone()));
        if !reliable {
            core.start(Timer::E, now, config.t1);
        }
        core.start(Timer::F, now, config.timeout());
        Ok(NonInviteClientTransaction {
            core,
            request,
            interval: config.t1,
        })
    }

    /// The request this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// A response matched to this transaction (by [`TransactionKey::from_response`]).
    pub fn on_response(&mut self, response: Response, now: Instant) {
        match self.core.state {
            Trying | Proceeding if response.status < 200 => {
                self.core.deliver(SipMessage::Response(response));
                self.core.transition(Proceeding);
            }
            Trying | Proceeding => {
                self.core.cancel(Timer::E);
                self.core.cancel(Timer::F);
                self.core.deliver(SipMessage::Response(response));
                self.core.transition(Completed);
                let k = self.core.config.linger(self.core.reliable);
                if k.is_zero() {
                    self.core.transition(Terminated);
                } else {
                    self.core.start(Timer::K, now, k);
                }
            }
            // Completed absorbs retransmitted responses.
            _ => {}
        }
    }

    fn fire(&mut self, timer: Timer, now: Instant) {
        match (timer, self.core.state) {
            (Timer::E, Trying | Proceeding) => {
                self.core
                    .retransmit(SipMessage::Request(self.request.clone()));
                let t2 = self.core.config.t2;
                self.interval = if self.core.state == Proceeding {
                    t2
                } else {
                    self.interval.saturating_mul(2).min(t2)
                };
                self.core.start(Timer::E, now, self.interval);
            }
            (Timer::F, Trying | Proceeding) => self.core.fail(TransactionAction::Timeout),
            (Timer::K, Completed) => self.core.transition(Terminated),
            _ => {}
        }
    }

    fn transport_error(&mut self) {
        match self.core.state {
            Trying | Proceeding => self.core.fail(TransactionAction::TransportError),
            _ => self.core.push(TransactionAction::TransportError),
        }
    }
}

impl_transaction!(NonInviteClientTransaction);
