//! Timer values (RFC 3261 §17.1.1.1 and the table in appendix A).

use std::time::Duration;

/// The base timer values every transaction derives its timers from.
///
/// Whether the transport is reliable is chosen per transaction, not here: the same
/// configuration serves UDP and TCP flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionConfig {
    /// T1, the round-trip time estimate: the first retransmission interval (default 500 ms).
    /// Timers B, F, H, J, L and M are 64*T1.
    pub t1: Duration,
    /// T2, the cap on non-INVITE request and INVITE response retransmission intervals (4 s).
    pub t2: Duration,
    /// T4, how long a message may linger in the network: timers I and K (5 s).
    pub t4: Duration,
    /// How long an INVITE server transaction waits for the core's first response before
    /// sending 100 Trying itself (RFC 3261 §17.2.1: 200 ms).
    pub trying_delay: Duration,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying_delay: Duration::from_millis(200),
        }
    }
}

impl TransactionConfig {
    /// 64*T1: timers B, F, H, J (unreliable), L and M.
    pub fn timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D: at least 32 s on unreliable transports (64*T1 when that is longer), zero on
    /// reliable ones.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.timeout().max(Duration::from_secs(32))
        }
    }

    /// Timers I and K: T4 on unreliable transports, zero on reliable ones.
    pub fn linger(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }

    /// Timer J: 64*T1 on unreliable transports, zero on reliable ones.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.timeout()
        }
    }
}
