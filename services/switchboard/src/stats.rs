//! SIP traffic counters shared between the transports, the UA core and (later) the HTTP layer.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Lock-free counters of what the SIP layer received, answered and dropped.
#[derive(Debug, Default)]
pub struct SipCounters {
    /// Requests that parsed and were handled (answered or absorbed).
    pub requests_received: AtomicU64,
    /// Responses Switchboard sent.
    pub responses_sent: AtomicU64,
    /// Parsed responses dropped because no client transaction exists for them.
    pub stray_responses: AtomicU64,
    /// ACKs absorbed (an ACK is never answered).
    pub acks_absorbed: AtomicU64,
    /// Unparseable requests still answered (400 or 505) from their raw header lines.
    pub unparseable_answered: AtomicU64,
    /// Unparseable messages that could not be answered and were dropped.
    pub unparseable_dropped: AtomicU64,
    /// TCP streams closed because they could not be framed.
    pub framing_errors: AtomicU64,
    /// TCP keep-alive pings (CRLFCRLF) answered with a pong.
    pub keepalive_pings: AtomicU64,
    /// Messages whose handling panicked (a bug; the message was dropped).
    pub handler_panics: AtomicU64,
}

/// A point-in-time copy of [`SipCounters`], ready to serialize.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SipCountersSnapshot {
    /// See [`SipCounters::requests_received`].
    pub requests_received: u64,
    /// See [`SipCounters::responses_sent`].
    pub responses_sent: u64,
    /// See [`SipCounters::stray_responses`].
    pub stray_responses: u64,
    /// See [`SipCounters::acks_absorbed`].
    pub acks_absorbed: u64,
    /// See [`SipCounters::unparseable_answered`].
    pub unparseable_answered: u64,
    /// See [`SipCounters::unparseable_dropped`].
    pub unparseable_dropped: u64,
    /// See [`SipCounters::framing_errors`].
    pub framing_errors: u64,
    /// See [`SipCounters::keepalive_pings`].
    pub keepalive_pings: u64,
    /// See [`SipCounters::handler_panics`].
    pub handler_panics: u64,
}

impl SipCounters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> SipCountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SipCountersSnapshot {
            requests_received: get(&self.requests_received),
            responses_sent: get(&self.responses_sent),
            stray_responses: get(&self.stray_responses),
            acks_absorbed: get(&self.acks_absorbed),
            unparseable_answered: get(&self.unparseable_answered),
            unparseable_dropped: get(&self.unparseable_dropped),
            framing_errors: get(&self.framing_errors),
            keepalive_pings: get(&self.keepalive_pings),
            handler_panics: get(&self.handler_panics),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reads_bumped_counters() {
        let c = SipCounters::default();
        SipCounters::bump(&c.stray_responses);
        SipCounters::bump(&c.stray_responses);
        SipCounters::bump(&c.acks_absorbed);
        let s = c.snapshot();
        assert_eq!(s.stray_responses, 2);
        assert_eq!(s.acks_absorbed, 1);
        assert_eq!(s.responses_sent, 0);
    }
}
