//! Reachability: qualify (an OPTIONS every interval, RFC 3261 §11), CRLF keep-alives
//! (RFC 5626 §4.4.1) and connection closes.
//!
//! The qualify queue holds each binding by the start of its qualify interval (registration,
//! restore or last result), so with one interval for all bindings the due ones are a prefix
//! of the queue: `qualify_due` reads that prefix and never scans the rest.

use std::net::SocketAddr;

use super::{
    BindingKey, FlowTransport, LocationService, QualifyPolicy, QualifyTarget, Reachability,
    ReachabilityChange, Slot,
};
use crate::UnixTime;

impl LocationService {
    /// The bindings due for a qualify at `now` (each marked in flight until its result).
    ///
    /// Due means one `interval_ms` after registration, restore or the last result. Only
    /// sip/sips contacts are ever due; a binding already in flight is not due again; one that
    /// has expired is left for `expire`.
    pub fn qualify_due(&mut self, policy: &QualifyPolicy, now: UnixTime) -> Vec<QualifyTarget> {
        let Some(latest_start) = now.0.checked_sub(policy.interval_ms) else {
            return Vec::new();
        };
        let due: Vec<Slot> = self
            .qualify_queue
            .range(..=(UnixTime(latest_start), Slot::MAX))
            .map(|&(_, s)| s)
            .filter(|&s| self.get(s).is_some_and(|b| b.is_live(now)))
            .collect();
        due.into_iter()
            .filter_map(|slot| {
                self.modify(slot, |b| {
                    b.qualify.in_flight = true;
                    b.qualify.interval_from = None;
                    QualifyTarget {
                        key: b.key(),
                        contact: b.contact.clone(),
                        destination: b.destination(),
                        flow: b.flow,
                    }
                })
            })
            .collect()
    }

    /// The result of a qualify: answered (any response) or not (timeout, transport error).
    ///
    /// An answer makes the binding reachable and clears its failures; the
    /// `failures_before_unreachable`-th unanswered qualify in a row makes it unreachable. A
    /// change is returned only when reachability changed. The next qualify is due one
    /// interval from `now`.
    pub fn qualify_result(
        &mut self,
        key: &BindingKey,
        answered: bool,
        policy: &QualifyPolicy,
        now: UnixTime,
    ) -> Option<ReachabilityChange> {
        let slot = self.find(&key.aor, &key.contact)?;
        // A policy of 0 would make a binding unreachable before it ever failed.
        let threshold = policy.failures_before_unreachable.max(1);
        self.modify(slot, |b| {
            let previous = b.reachability;
            b.qualify.in_flight = false;
            b.qualify.interval_from = Some(now);
            if answered {
                b.qualify.failures = 0;
                b.last_seen = now;
                b.reachability = Reachability::Reachable;
            } else {
                b.qualify.failures = b.qualify.failures.saturating_add(1);
                if b.qualify.failures >= threshold {
                    b.reachability = Reachability::Unreachable;
                }
            }
            (b.reachability != previous).then(|| ReachabilityChange {
                binding: b.clone(),
                previous,
            })
        })
        .flatten()
    }

    /// Something arrived on a flow (a request, a CRLF keep-alive): its bindings were seen.
    ///
    /// Every live binding on the flow gets `last_seen = now`; one that was not reachable
    /// (unreachable, or never qualified) becomes reachable and its failures are cleared.
    pub fn flow_alive(
        &mut self,
        transport: FlowTransport,
        source: SocketAddr,
        now: UnixTime,
    ) -> Vec<ReachabilityChange> {
        let mut changes = Vec::new();
        for slot in self.flow_slots(transport, source) {
            let Some(b) = self.slot_mut(slot) else {
                continue;
            };
            if !b.is_live(now) {
                continue;
            }
            b.last_seen = now;
            if b.reachability != Reachability::Reachable {
                let previous = b.reachability;
                b.reachability = Reachability::Reachable;
                b.qualify.failures = 0;
                changes.push(ReachabilityChange {
                    binding: b.clone(),
                    previous,
                });
            }
        }
        changes
    }

    /// A connection-oriented flow closed: its bindings cannot be reached until they register
    /// again.
    ///
    /// Switchboard does not open connections to phones, so a binding whose connection is gone
    /// is unreachable at once (no need to wait for qualifies to fail). A UDP "flow" never
    /// closes: nothing changes.
    pub fn flow_closed(
        &mut self,
        transport: FlowTransport,
        source: SocketAddr,
        now: UnixTime,
    ) -> Vec<ReachabilityChange> {
        if !transport.is_connection() {
            return Vec::new();
        }
        let mut changes = Vec::new();
        for slot in self.flow_slots(transport, source) {
            let Some(b) = self.slot_mut(slot) else {
                continue;
            };
            if !b.is_live(now) || b.reachability == Reachability::Unreachable {
                continue;
            }
            let previous = b.reachability;
            b.reachability = Reachability::Unreachable;
            changes.push(ReachabilityChange {
                binding: b.clone(),
                previous,
            });
        }
        changes
    }

    fn flow_slots(&self, transport: FlowTransport, source: SocketAddr) -> Vec<Slot> {
        self.by_flow
            .get(&(transport, source))
            .cloned()
            .unwrap_or_default()
    }

    /// A binding for changes that touch no index (reachability, last seen, failures).
    fn slot_mut(&mut self, slot: Slot) -> Option<&mut super::Binding> {
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }
}
