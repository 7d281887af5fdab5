//! UAS 2xx reliability (RFC 3261 §13.3.1.4): resend the 2xx until the ACK comes.

use std::time::{Duration, Instant};

use crate::message::Response;

use super::types::DialogConfig;

/// What a due timer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwoXxTimeout {
    /// Send this 2xx again.
    Retransmit(Response),
    /// 64*T1 passed without ACK: stop, and end the dialog with a BYE.
    GiveUp,
}

/// The retransmission schedule of one 2xx to an INVITE.
///
/// The 2xx is first sent at `now` (by the caller). It is sent again after T1, then at intervals
/// doubling up to T2 (T1, 2T1, 4T1, …, T2, T2, …), until [`TwoXxRetransmitter::on_ack`]; if no
/// ACK comes within 64*T1 of the first send, [`TwoXxRetransmitter::on_timeout`] returns
/// [`TwoXxTimeout::GiveUp`] once and the schedule stops.
#[derive(Debug, Clone)]
pub struct TwoXxRetransmitter {
    response: Response,
    seq: Option<u32>,
    next_at: Instant,
    interval: Duration,
    give_up_at: Instant,
    t2: Duration,
    running: bool,
}

impl TwoXxRetransmitter {
    /// Starts the schedule for `response`, sent at `now`.
    pub fn new(response: Response, now: Instant, config: DialogConfig) -> Self {
        let seq = response.headers.cseq().map(|c| c.seq);
        TwoXxRetransmitter {
            response,
            seq,
            next_at: now + config.t1,
            interval: config.t1,
            give_up_at: now + config.ack_timeout(),
            t2: config.t2,
            running: true,
        }
    }

    /// The 2xx being retransmitted.
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// Whether retransmissions continue (no ACK and no give-up yet).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// When [`TwoXxRetransmitter::on_timeout`] should next be called: the next retransmission
    /// or the give-up time, whichever is first; `None` once stopped.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.running.then(|| self.next_at.min(self.give_up_at))
    }

    /// Runs the timer at `now`: `GiveUp` at or after 64*T1, else a retransmission when one is
    /// due (one per call, however late the call), else nothing.
    pub fn on_timeout(&mut self, now: Instant) -> Option<TwoXxTimeout> {
        if !self.running {
            return None;
        }
        if now >= self.give_up_at {
            self.running = false;
            return Some(TwoXxTimeout::GiveUp);
        }
        if now < self.next_at {
            return None;
        }
        self.interval = (self.interval * 2).min(self.t2);
        // Keep to the schedule; a caller that woke very late gets one send, not a burst.
        self.next_at += self.interval;
        if self.next_at <= now {
            self.next_at = now + self.interval;
        }
        Some(TwoXxTimeout::Retransmit(self.response.clone()))
    }

    /// An ACK with CSeq number `seq` arrived: stops the schedule when it acknowledges this 2xx.
    /// Returns whether it did.
    pub fn on_ack(&mut self, seq: u32) -> bool {
        let matched = self.running && self.seq == Some(seq);
        if matched {
            self.running = false;
        }
        matched
    }
}
