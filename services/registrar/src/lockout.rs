//! Failed-authentication counting and temporary lockout of sources.
//!
//! Failures are counted in a sliding window of `window_ms`, per source address and per user.
//! Passing either limit locks out the *source* that made the failure, never the user: an
//! attacker guessing one user's password from many addresses gets each address locked, while
//! the real user, from an address that has not failed, keeps registering.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::UnixTime;

/// Sources and users tracked at most each. Past it, [`AuthFailureTracker::record_failure`]
/// purges (at most once per [`FULL_PURGE_INTERVAL_MS`], as a purge walks the whole table); if
/// the table is still full a new source's failures are not counted per source (its user's
/// still are, and existing lockouts hold), so a flood of addresses cannot exhaust memory.
const MAX_TRACKED: usize = 1_000_000;

/// Least time between two purges forced by a full table.
const FULL_PURGE_INTERVAL_MS: u64 = 1_000;

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

/// The times of the latest failures of one source or user, oldest first.
///
/// Only the newest `max_failures + 1` are kept: the limit is passed exactly when that many
/// fall within the window, so older ones can never matter.
#[derive(Debug, Default)]
struct FailureWindow {
    times: VecDeque<UnixTime>,
}

impl FailureWindow {
    /// Drops failures that left the window ending at `now`.
    fn slide(&mut self, now: UnixTime, window_ms: u64) {
        while let Some(&oldest) = self.times.front() {
            if now.ms_since(oldest) < window_ms {
                break;
            }
            self.times.pop_front();
        }
    }

    /// Adds a failure at `now`; the number of failures in the window.
    fn add(&mut self, now: UnixTime, policy: &LockoutPolicy) -> u32 {
        self.slide(now, policy.window_ms);
        self.times.push_back(now);
        let keep = usize::try_from(policy.max_failures)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        while self.times.len() > keep {
            self.times.pop_front();
        }
        self.count()
    }

    fn count(&self) -> u32 {
        u32::try_from(self.times.len()).unwrap_or(u32::MAX)
    }

    fn is_empty_at(&self, now: UnixTime, window_ms: u64) -> bool {
        self.times
            .back()
            .is_none_or(|&newest| now.ms_since(newest) >= window_ms)
    }
}

/// One source address: its recent failures and its lockout, if any.
#[derive(Debug, Default)]
struct SourceState {
    failures: FailureWindow,
    lockout: Option<(UnixTime, LockoutCause)>,
}

impl SourceState {
    fn locked_at(&self, now: UnixTime) -> Option<(UnixTime, LockoutCause)> {
        self.lockout.filter(|&(until, _)| now < until)
    }
}

/// Failure counts per source address and per user, and the sources locked out.
#[derive(Debug)]
pub struct AuthFailureTracker {
    policy: LockoutPolicy,
    sources: HashMap<IpAddr, SourceState>,
    users: HashMap<String, FailureWindow>,
    /// [`MAX_TRACKED`], smaller in tests.
    max_tracked: usize,
    /// When [`purge`](Self::purge) last ran.
    last_purge: Option<UnixTime>,
}

impl AuthFailureTracker {
    /// A tracker with `policy`.
    pub fn new(policy: LockoutPolicy) -> Self {
        AuthFailureTracker {
            policy,
            sources: HashMap::new(),
            users: HashMap::new(),
            max_tracked: MAX_TRACKED,
            last_purge: None,
        }
    }

    /// When `source` is locked out at `now`, the end of its lockout.
    pub fn locked_until(&self, source: IpAddr, now: UnixTime) -> Option<UnixTime> {
        self.sources
            .get(&source)
            .and_then(|s| s.locked_at(now))
            .map(|(until, _)| until)
    }

    /// Counts a failed attempt from `source` for `user` at `now`.
    ///
    /// A source already locked out is not counted again (its requests should not have been
    /// checked at all): the verdict repeats its lockout, which is not extended.
    pub fn record_failure(
        &mut self,
        source: IpAddr,
        user: Option<&str>,
        now: UnixTime,
    ) -> FailureVerdict {
        if let Some((until, limit)) = self.sources.get(&source).and_then(|s| s.locked_at(now)) {
            return FailureVerdict::LockedOut { until, limit };
        }
        let policy = self.policy;
        let user_failures = match user {
            Some(user) => self
                .user_window(user, now)
                .map_or(0, |w| w.add(now, &policy)),
            None => 0,
        };
        let Some(state) = self.source_state(source, now) else {
            return FailureVerdict::Counted {
                source_failures: 0,
                user_failures,
            };
        };
        let source_failures = state.failures.add(now, &policy);
        let cause = if source_failures > policy.max_failures {
            LockoutCause::Source
        } else if user_failures > policy.max_failures {
            LockoutCause::User
        } else {
            return FailureVerdict::Counted {
                source_failures,
                user_failures,
            };
        };
        let until = now.plus_ms(policy.lockout_ms);
        state.lockout = Some((until, cause));
        // The lockout is the penalty for these failures; once it ends the source starts
        // afresh. The user's count stays: the next failure for that user from any other
        // address locks that address too.
        state.failures = FailureWindow::default();
        FailureVerdict::LockedOut {
            until,
            limit: cause,
        }
    }

    /// A success from `source` for `user` clears their counts.
    pub fn record_success(&mut self, source: IpAddr, user: &str) {
        if let Some(state) = self.sources.get_mut(&source) {
            state.failures = FailureWindow::default();
            if state.lockout.is_none() {
                self.sources.remove(&source);
            }
        }
        self.users.remove(user);
    }

    /// Forgets counts and lockouts that ended before `now` (keeps memory bounded).
    pub fn purge(&mut self, now: UnixTime) {
        self.last_purge = Some(now);
        let window_ms = self.policy.window_ms;
        self.sources.retain(|_, s| {
            if s.locked_at(now).is_none() {
                s.lockout = None;
            }
            s.lockout.is_some() || !s.failures.is_empty_at(now, window_ms)
        });
        self.users.retain(|_, w| !w.is_empty_at(now, window_ms));
    }

    /// Sources locked out at `now`.
    pub fn locked_sources(&self, now: UnixTime) -> usize {
        self.sources
            .values()
            .filter(|s| s.locked_at(now).is_some())
            .count()
    }

    /// Sources and users with live state (failures or a lockout), for metrics.
    pub fn tracked(&self) -> (usize, usize) {
        (self.sources.len(), self.users.len())
    }

    /// Purges when a table is full, unless a purge ran very recently.
    fn make_room(&mut self, now: UnixTime) {
        let recently = self
            .last_purge
            .is_some_and(|at| now.ms_since(at) < FULL_PURGE_INTERVAL_MS);
        if !recently {
            self.purge(now);
        }
    }

    /// The state of `source`, created if there is room.
    fn source_state(&mut self, source: IpAddr, now: UnixTime) -> Option<&mut SourceState> {
        if !self.sources.contains_key(&source) && self.sources.len() >= self.max_tracked {
            self.make_room(now);
        }
        let room = self.sources.len() < self.max_tracked;
        match self.sources.entry(source) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(e) if room => Some(e.insert(SourceState::default())),
            Entry::Vacant(_) => None,
        }
    }

    /// The failure window of `user`, created if there is room.
    fn user_window(&mut self, user: &str, now: UnixTime) -> Option<&mut FailureWindow> {
        if !self.users.contains_key(user) && self.users.len() >= self.max_tracked {
            self.make_room(now);
            if self.users.len() >= self.max_tracked {
                return None;
            }
        }
        Some(self.users.entry(user.to_owned()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const POLICY: LockoutPolicy = LockoutPolicy {
        max_failures: 3,
        window_ms: 60_000,
        lockout_ms: 300_000,
    };
    const T0: UnixTime = UnixTime(1_700_000_000_000);

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn counted(source_failures: u32, user_failures: u32) -> FailureVerdict {
        FailureVerdict::Counted {
            source_failures,
            user_failures,
        }
    }

    /// `max_failures` failures from `source`, one second apart from `start`, none locking.
    fn fail_up_to_limit(t: &mut AuthFailureTracker, source: IpAddr, user: &str, start: UnixTime) {
        for k in 0..POLICY.max_failures {
            let verdict = t.record_failure(source, Some(user), start.plus_secs(u64::from(k)));
            assert!(
                matches!(verdict, FailureVerdict::Counted { .. }),
                "{verdict:?}"
            );
        }
    }

    #[test]
    fn failures_up_to_the_limit_are_counted() {
        let mut t = AuthFailureTracker::new(POLICY);
        assert_eq!(t.record_failure(ip(1), Some("alice"), T0), counted(1, 1));
        assert_eq!(
            t.record_failure(ip(1), Some("alice"), T0.plus_secs(1)),
            counted(2, 2)
        );
        assert_eq!(
            t.record_failure(ip(1), Some("alice"), T0.plus_secs(2)),
            counted(3, 3)
        );
        assert_eq!(t.locked_until(ip(1), T0.plus_secs(2)), None);
    }

    #[test]
    fn a_failure_without_a_user_counts_for_the_source_only() {
        let mut t = AuthFailureTracker::new(POLICY);
        assert_eq!(t.record_failure(ip(1), None, T0), counted(1, 0));
        assert_eq!(t.tracked(), (1, 0));
    }

    #[test]
    fn the_failure_past_the_limit_locks_the_source() {
        let mut t = AuthFailureTracker::new(POLICY);
        for (k, user) in ["a", "b", "c"].into_iter().enumerate() {
            let verdict = t.record_failure(ip(1), Some(user), T0.plus_secs(k as u64));
            assert_eq!(verdict, counted(k as u32 + 1, 1));
        }
        let at = T0.plus_secs(3);
        let until = at.plus_ms(POLICY.lockout_ms);
        assert_eq!(
            t.record_failure(ip(1), Some("d"), at),
            FailureVerdict::LockedOut {
                until,
                limit: LockoutCause::Source
            }
        );
        assert_eq!(t.locked_until(ip(1), at), Some(until));
        assert_eq!(t.locked_until(ip(2), at), None);
        assert_eq!(t.locked_sources(at), 1);
    }

    #[test]
    fn the_lockout_ends_and_the_source_starts_afresh() {
        let mut t = AuthFailureTracker::new(POLICY);
        fail_up_to_limit(&mut t, ip(1), "alice", T0);
        let verdict = t.record_failure(ip(1), None, T0.plus_secs(3));
        let FailureVerdict::LockedOut { until, .. } = verdict else {
            panic!("expected a lockout: {verdict:?}");
        };
        assert_eq!(t.locked_until(ip(1), until.plus_ms(0)), None);
        assert_eq!(t.locked_until(ip(1), UnixTime(until.0 - 1)), Some(until));
        assert_eq!(t.locked_sources(until), 0);
        assert_eq!(t.record_failure(ip(1), None, until), counted(1, 0));
    }

    #[test]
    fn failures_while_locked_out_repeat_the_lockout_without_extending_it() {
        let mut t = AuthFailureTracker::new(POLICY);
        fail_up_to_limit(&mut t, ip(1), "alice", T0);
        let first = t.record_failure(ip(1), Some("alice"), T0.plus_secs(3));
        let again = t.record_failure(ip(1), Some("alice"), T0.plus_secs(100));
        assert_eq!(first, again);
        assert_eq!(
            t.locked_until(ip(1), T0.plus_secs(100)),
            Some(T0.plus_secs(3).plus_ms(POLICY.lockout_ms))
        );
    }

    #[test]
    fn failures_that_slide_out_of_the_window_no_longer_count() {
        let mut t = AuthFailureTracker::new(POLICY);
        fail_up_to_limit(&mut t, ip(1), "alice", T0);
        // The first failure (at T0) leaves the window exactly window_ms later.
        let at = T0.plus_ms(POLICY.window_ms);
        assert_eq!(t.record_failure(ip(1), Some("alice"), at), counted(3, 3));
        assert_eq!(t.locked_until(ip(1), at), None);
        // Just inside a window, four failures lock.
        let mut t = AuthFailureTracker::new(POLICY);
        fail_up_to_limit(&mut t, ip(1), "alice", T0);
        let verdict = t.record_failure(ip(1), None, T0.plus_ms(POLICY.window_ms - 1));
        assert!(
            matches!(verdict, FailureVerdict::LockedOut { .. }),
            "{verdict:?}"
        );
    }

    #[test]
    fn spraying_one_user_from_many_addresses_locks_each_address_past_the_limit() {
        let mut t = AuthFailureTracker::new(POLICY);
        let real_user = ip(200);
        // Three attacker addresses, one failure each: the user's limit is reached.
        for k in 1..=3 {
            assert_eq!(
                t.record_failure(ip(k), Some("alice"), T0.plus_secs(u64::from(k))),
                counted(1, u32::from(k))
            );
        }
        // Every further address that fails for alice is locked at its first failure.
        for k in 4..=6 {
            let at = T0.plus_secs(u64::from(k));
            assert_eq!(
                t.record_failure(ip(k), Some("alice"), at),
                FailureVerdict::LockedOut {
                    until: at.plus_ms(POLICY.lockout_ms),
                    limit: LockoutCause::User
                }
            );
        }
        let at = T0.plus_secs(7);
        assert_eq!(t.locked_sources(at), 3);
        // The addresses below the limit, and the real user's, are not locked.
        for k in [1, 2, 3, 200] {
            assert_eq!(t.locked_until(ip(k), at), None, "192.0.2.{k}");
        }
        assert_eq!(t.locked_until(real_user, at), None);
        // Another user from a fresh address is not affected by alice's count.
        assert_eq!(t.record_failure(ip(7), Some("bob"), at), counted(1, 1));
    }

    #[test]
    fn a_success_clears_the_source_and_user_counts() {
        let mut t = AuthFailureTracker::new(POLICY);
        fail_up_to_limit(&mut t, ip(1), "alice", T0);
        t.record_success(ip(1), "alice");
        assert_eq!(t.tracked(), (0, 0));
        assert_eq!(
            t.record_failure(ip(1), Some("alice"), T0.plus_secs(5)),
            counted(1, 1)
        );
    }

    #[test]
    fn a_success_does_not_lift_a_lockout() {
        let mut t = AuthFailureTracker::new(POLICY);
        fail_up_to_limit(&mut t, ip(1), "alice", T0);
        let verdict = t.record_failure(ip(1), Some("alice"), T0.plus_secs(3));
        assert!(
            matches!(verdict, FailureVerdict::LockedOut { .. }),
            "{verdict:?}"
        );
        t.record_success(ip(1), "alice");
        assert!(t.locked_until(ip(1), T0.plus_secs(4)).is_some());
    }

    #[test]
    fn purge_forgets_expired_windows_and_lockouts_only() {
        let mut t = AuthFailureTracker::new(POLICY);
        fail_up_to_limit(&mut t, ip(1), "alice", T0);
        let verdict = t.record_failure(ip(1), Some("alice"), T0.plus_secs(3));
        let FailureVerdict::LockedOut { until, .. } = verdict else {
            panic!("expected a lockout: {verdict:?}");
        };
        let later = T0.plus_secs(30);
        assert_eq!(t.record_failure(ip(2), Some("bob"), later), counted(1, 1));

        // At the end of alice's window: her count goes, the lockout and bob's window stay.
        t.purge(T0.plus_secs(3).plus_ms(POLICY.window_ms));
        assert_eq!(t.tracked(), (2, 1));
        assert_eq!(t.locked_until(ip(1), later), Some(until));

        t.purge(until);
        assert_eq!(t.tracked(), (0, 0));
        assert_eq!(t.locked_until(ip(1), until), None);
    }

    #[test]
    fn ipv6_sources_are_tracked_like_ipv4() {
        let mut t = AuthFailureTracker::new(POLICY);
        let source = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        fail_up_to_limit(&mut t, source, "alice", T0);
        let verdict = t.record_failure(source, None, T0.plus_secs(3));
        assert!(
            matches!(verdict, FailureVerdict::LockedOut { .. }),
            "{verdict:?}"
        );
        assert!(t.locked_until(source, T0.plus_secs(3)).is_some());
    }

    #[test]
    fn a_full_table_stops_counting_new_sources_but_keeps_counting_users() {
        let mut t = AuthFailureTracker::new(POLICY);
        t.max_tracked = 2;
        assert_eq!(t.record_failure(ip(1), Some("alice"), T0), counted(1, 1));
        assert_eq!(t.record_failure(ip(2), Some("alice"), T0), counted(1, 2));
        // Nothing has expired, so there is no room for a third source.
        assert_eq!(t.record_failure(ip(3), Some("alice"), T0), counted(0, 3));
        assert_eq!(t.tracked().0, 2);
        // Once the window has passed, the forced purge makes room again.
        let later = T0.plus_ms(POLICY.window_ms);
        assert_eq!(t.record_failure(ip(3), None, later), counted(1, 0));
    }
}
