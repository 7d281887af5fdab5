//! The INVITE client transaction (RFC 3261 §17.1.1, figure 5, with RFC 6026's Accepted state).
//!
//! ```text
//! Calling ──1xx──▶ Proceeding ──300-699 (send ACK)──▶ Completed ──Timer D──▶ Terminated
//!    │  └────────────300-699 (send ACK)──────────────────▲
//!    ├──2xx──▶ Accepted ◀──2xx── Proceeding      Accepted ──Timer M──▶ Terminated
//!    └──Timer B / transport error──▶ Terminated
//! ```

use std::time::{Duration, Instant};

use crate::header::{CSeq, Header, Headers};
use crate::message::{Request, Response, SipMessage};
use crate::method::Method;

use super::action::{TransactionAction, TransactionState};
use super::config::TransactionConfig;
use super::core::{Core, Timer, impl_transaction};
use super::error::TransactionError;
use super::key::TransactionKey;

use TransactionState::{Accepted, Calling, Completed, Proceeding, Terminated};

/// Sends one INVITE and sees it through to its final response (figure 5, RFC 6026).
///
/// Creating it queues `Send(INVITE)`. Timer A retransmits the INVITE over unreliable
/// transports (T1, doubling) until a response arrives; timer B (64*T1) gives up in Calling.
/// A 300-699 response is acknowledged by the transaction itself (the ACK is kept and re-sent
/// for each retransmitted final response until timer D). A 2xx moves to Accepted for
/// timer M (64*T1): every 2xx, including retransmissions and other forks' 2xx, goes up to the
/// core, which sends the ACK for it.
#[derive(Debug)]
pub struct InviteClientTransaction {
    core: Core,
    request: Request,
    interval: Duration,
    ack: Option<Request>,
}

impl InviteClientTransaction {
    /// Starts the transaction for `request` (an INVITE whose top Via has a branch) and
    /// queues its first transmission.
    pub fn new(
        request: Request,
        config: TransactionConfig,
        reliable: bool,
        now: Instant,
    ) -> Result<Self, TransactionError> {
        if request.method != Method::Invite {
            return Err(TransactionError::WrongMethod {
                method: request.method,
                kind: "an INVITE client transaction",
            });
        }
        let key = TransactionKey::for_client_request(&request)?;
        let mut core = Core::new(key, config, reliable, Calling);
        core.send(SipMessage::Request(request.clone()));
        if !reliable {
            core.start(Timer::A, now, config.t1);
        }
        core.start(Timer::B, now, config.timeout());
        Ok(InviteClientTransaction {
            core,
            request,
            interval: config.t1,
            ack: None,
        })
    }

    /// The INVITE this transaction sends (for building a CANCEL, §9.1).
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The ACK the transaction built for a 300-699 response, once there is one.
    pub fn ack(&self) -> Option<&Request> {
        self.ack.as_ref()
    }

    /// A response matched to this transaction (by [`TransactionKey::from_response`]).
    pub fn on_response(&mut self, response: Response, now: Instant) {
        let status = response.status;
        match self.core.state {
            Calling | Proceeding if status < 200 => {
                self.core.cancel(Timer::A);
                self.core.cancel(Timer::B);
                self.core.deliver(SipMessage::Response(response));
                self.core.transition(Proceeding);
            }
            Calling | Proceeding if status < 300 => {
                self.core.cancel(Timer::A);
                self.core.cancel(Timer::B);
                self.core.deliver(SipMessage::Response(response));
                self.core.transition(Accepted);
                let m = self.core.config.timeout();
                self.core.start(Timer::M, now, m);
            }
            Calling | Proceeding => {
                self.core.cancel(Timer::A);
                self.core.cancel(Timer::B);
                let ack = build_ack(&self.request, &response);
                self.core.send(SipMessage::Request(ack.clone()));
                self.ack = Some(ack);
                self.core.deliver(SipMessage::Response(response));
                self.core.transition(Completed);
                let d = self.core.config.timer_d(self.core.reliable);
                if d.is_zero() {
                    self.core.transition(Terminated);
                } else {
                    self.core.start(Timer::D, now, d);
                }
            }
            // RFC 6026 §8.4: further 2xx responses go up to the core, which ACKs each.
            Accepted if (200..300).contains(&status) => {
                self.core.deliver(SipMessage::Response(response));
            }
            // §17.1.1.2: a retransmitted final response gets the ACK again, not the core.
            Completed if status >= 300 => {
                if let Some(ack) = &self.ack {
                    self.core.retransmit(SipMessage::Request(ack.clone()));
                }
            }
            _ => {}
        }
    }

    fn fire(&mut self, timer: Timer, now: Instant) {
        match (timer, self.core.state) {
            (Timer::A, Calling) => {
                self.core
                    .retransmit(SipMessage::Request(self.request.clone()));
                self.interval = self.interval.saturating_mul(2);
                self.core.start(Timer::A, now, self.interval);
            }
            (Timer::B, Calling) => self.core.fail(TransactionAction::Timeout),
            (Timer::D, Completed) | (Timer::M, Accepted) => self.core.transition(Terminated),
            _ => {}
        }
    }

    fn transport_error(&mut self) {
        match self.core.state {
            Calling | Completed => self.core.fail(TransactionAction::TransportError),
            _ => self.core.push(TransactionAction::TransportError),
        }
    }
}

impl_transaction!(InviteClientTransaction);

/// The ACK for a non-2xx final response (§17.1.1.3): Request-URI, Call-ID, From, Route and
/// Max-Forwards of the INVITE, its top Via only, To from the response (with the tag), and the
/// INVITE's CSeq number with method ACK.
pub(super) fn build_ack(invite: &Request, response: &Response) -> Request {
    let mut headers = Headers::with_capacity(8);
    let mut via_done = false;
    let mut max_forwards = false;
    for h in invite.headers.iter() {
        match h {
            Header::Via(_) if !via_done => {
                via_done = true;
                if let Some(top) = invite.headers.top_via() {
                    headers.push(Header::Via(vec![top.clone()]));
                }
            }
            Header::MaxForwards(_) => {
                max_forwards = true;
                headers.push(h.clone());
            }
            Header::From(_) | Header::CallId(_) | Header::Route(_) => headers.push(h.clone()),
            Header::To(to) => {
                let to = response.headers.to().unwrap_or(to);
                headers.push(Header::To(to.clone()));
            }
            Header::CSeq(c) => headers.push(Header::CSeq(CSeq {
                seq: c.seq,
                method: Method::Ack,
            })),
            _ => {}
        }
    }
    if !max_forwards {
        headers
            .as_mut_vec()
            .insert(usize::from(via_done), Header::MaxForwards(70));
    }
    headers.push(Header::ContentLength(0));
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        headers,
        body: bytes::Bytes::new(),
    }
}
