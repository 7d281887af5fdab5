//! Failed-authentication counting and temporary lockout of sources.
//!
//! CONTRACT SKELETON: bodies to be written; signatures are what the switchboard shell uses.

use std::net::IpAddr;

use crate::UnixTime;

/// The lockout rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures allowed within `window_ms` (per source address, and per user); the next one
    /// locks the source out.
    pub max_failures: u32,
    /// The window failures are counted in, in milliseconds.
    pub window_ms: u64,
    /// How long a locked-out source is refused, in milliseconds.
    pub lockout_ms: u64,
}

/// What counting a failure led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureVerdict {
    /// Counted; not locked.
    Counted {
        /// Failures from this source in the window.
        source_failures: u32,
        /// Failures for this user in the window (0 without a user).
        user_failures: u32,
    },
    /// The source is now locked out until `until` (a security event to log and count).
    LockedOut {
        /// End of the lockout.
        until: UnixTime,
        /// Which limit was passed.
        limit: LockoutCause,
    },
}

/// Which count passed its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockoutCause {
    /// Too many failures from the source address.
    Source,
    /// Too many failures for the user (from any source).
    User,
}

/// Failure counts per source address and per user, and the sources locked out.
#[derive(Debug)]
pub struct AuthFailureTracker {
    policy: LockoutPolicy,
}

impl AuthFailureTracker {
    /// A tracker with `policy`.
    pub fn new(policy: LockoutPolicy) -> Self {
        AuthFailureTracker { policy }
    }

    /// When `source` is locked out at `now`, the end of its lockout.
    pub fn locked_until(&self, source: IpAddr, now: UnixTime) -> Option<UnixTime> {
        let _ = (source, now, self.policy);
        todo!()
    }

    /// Counts a failed attempt from `source` for `user` at `now`.
    pub fn record_failure(
        &mut self,
        source: IpAddr,
        user: Option<&str>,
        now: UnixTime,
    ) -> FailureVerdict {
        let _ = (source, user, now);
        todo!()
    }

    /// A success from `source` for `user` clears their counts.
    pub fn record_success(&mut self, source: IpAddr, user: &str) {
        let _ = (source, user);
        todo!()
    }

    /// Forgets counts and lockouts that ended before `now` (keeps memory bounded).
    pub fn purge(&mut self, now: UnixTime) {
        let _ = now;
        todo!()
    }

    /// Sources locked out at `now`.
    pub fn locked_sources(&self, now: UnixTime) -> usize {
        let _ = now;
        todo!()
    }
}
