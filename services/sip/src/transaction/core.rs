//! The parts every transaction shares: state, timers, the action queue and the counters.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::message::SipMessage;

use super::action::{TransactionAction, TransactionState};
use super::config::TransactionConfig;
use super::key::TransactionKey;

/// The RFC 3261 / RFC 6026 timers, plus the INVITE server's 100 Trying delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// INVITE request retransmission.
    A,
    /// INVITE transaction timeout.
    B,
    /// Wait time for response retransmissions (INVITE client, Completed).
    D,
    /// Non-INVITE request retransmission.
    E,
    /// Non-INVITE transaction timeout.
    F,
    /// INVITE final response retransmission.
    G,
    /// Wait time for the ACK.
    H,
    /// Wait time for ACK retransmissions.
    I,
    /// Wait time for non-INVITE request retransmissions.
    J,
    /// Wait time for non-INVITE response retransmissions.
    K,
    /// INVITE server, Accepted (RFC 6026).
    L,
    /// INVITE client, Accepted (RFC 6026).
    M,
    /// Send 100 Trying if the core has not answered (§17.2.1).
    Trying,
}

impl Timer {
    /// Among the timers due at once, one that ends the state fires first, so no
    /// retransmission goes out in the instant (or, after a late wake-up, past the moment)
    /// the transaction gives up. Retransmission timers never change state, so this order
    /// is always safe.
    fn rank(self) -> u8 {
        match self {
            Timer::A | Timer::E | Timer::G => 1,
            Timer::Trying => 2,
            _ => 0,
        }
    }
}

/// State, timers and queued actions of one transaction.
#[derive(Debug)]
pub(super) struct Core {
    pub(super) key: TransactionKey,
    pub(super) config: TransactionConfig,
    pub(super) reliable: bool,
    pub(super) state: TransactionState,
    pub(super) retransmissions: u32,
    actions: VecDeque<TransactionAction>,
    timers: Vec<(Timer, Instant)>,
}

impl Core {
    pub(super) fn new(
        key: TransactionKey,
        config: TransactionConfig,
        reliable: bool,
        state: TransactionState,
    ) -> Core {
        Core {
            key,
            config,
            reliable,
            state,
            retransmissions: 0,
            actions: VecDeque::with_capacity(4),
            timers: Vec::with_capacity(3),
        }
    }

    /// Starts (or restarts) `timer` to fire at `now + after`.
    pub(super) fn start(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.cancel(timer);
        self.timers.push((timer, now + after));
    }

    pub(super) fn cancel(&mut self, timer: Timer) {
        self.timers.retain(|(t, _)| *t != timer);
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.timers.iter().map(|(_, at)| *at).min()
    }

    /// Removes and returns the earliest timer due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (i, _) = self
            .timers
            .iter()
            .enumerate()
            .filter(|(_, (_, at))| *at <= now)
            .min_by_key(|(_, (t, at))| (t.rank(), *at))?;
        Some(self.timers.swap_remove(i).0)
    }

    pub(super) fn send(&mut self, message: SipMessage) {
        self.actions.push_back(TransactionAction::Send(message));
    }

    /// Sends `message` again and counts it.
    pub(super) fn retransmit(&mut self, message: SipMessage) {
        self.retransmissions = self.retransmissions.saturating_add(1);
        self.send(message);
    }

    pub(super) fn deliver(&mut self, message: SipMessage) {
        self.actions.push_back(TransactionAction::Deliver(message));
    }

    pub(super) fn push(&mut self, action: TransactionAction) {
        self.actions.push_back(action);
    }

    /// Moves to `to`, reporting the change; entering Terminated stops every timer and
    /// queues `Terminated`.
    pub(super) fn transition(&mut self, to: TransactionState) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.actions
            .push_back(TransactionAction::StateChanged { from, to });
        if to == TransactionState::Terminated {
            self.timers.clear();
            self.actions.push_back(TransactionAction::Terminated);
        }
    }

    /// Reports a failure (`Timeout` or `TransportError`) and terminates.
    pub(super) fn fail(&mut self, action: TransactionAction) {
        self.push(action);
        self.transition(TransactionState::Terminated);
    }

    pub(super) fn poll_action(&mut self) -> Option<TransactionAction> {
        self.actions.pop_front()
    }
}

/// The methods all four machines share, inherent and as [`super::Transaction`].
/// The machine provides `fn fire(&mut self, timer: Timer, now: Instant)` and
/// `fn transport_error(&mut self)`.
macro_rules! impl_transaction {
    ($ty:ty) => {
        impl $ty {
            /// The key this transaction is filed under.
            pub fn key(&self) -> &$crate::transaction::TransactionKey {
                &self.core.key
            }

            /// The current state.
            pub fn state(&self) -> $crate::transaction::TransactionState {
                self.core.state
            }

            /// Whether the transaction reached Terminated (drop it).
            pub fn is_terminated(&self) -> bool {
                self.core.state == $crate::transaction::TransactionState::Terminated
            }

            /// Whether the transaction runs over a reliable transport (TCP, TLS, …).
            pub fn is_reliable(&self) -> bool {
                self.core.reliable
            }

            /// When [`Self::on_timeout`] must next be called; `None` when no timer runs.
            pub fn next_deadline(&self) -> Option<std::time::Instant> {
                self.core.next_deadline()
            }

            /// Fires every timer due at `now`, earliest first.
            pub fn on_timeout(&mut self, now: std::time::Instant) {
                while let Some(timer) = self.core.pop_due(now) {
                    self.fire(timer, now);
                }
            }

            /// The transport failed to send this transaction's message (§17.1.4, §17.2.4).
            /// In the states the RFC figures give a transport-error transition the
            /// transaction reports `TransportError` and terminates; in the others it only
            /// reports it, since the transaction itself sent nothing there.
            pub fn on_transport_error(&mut self, _now: std::time::Instant) {
                if !self.is_terminated() {
                    self.transport_error();
                }
            }

            /// The next action to carry out, in order; `None` when there is nothing to do.
            pub fn poll_action(&mut self) -> Option<$crate::transaction::TransactionAction> {
                self.core.poll_action()
            }

            /// How many retransmissions this transaction has sent (requests on timers A
            /// and E, responses on G or on a retransmitted request, re-sent ACKs, 2xx
            /// re-sent by the core through Accepted).
            pub fn retransmissions(&self) -> u32 {
                self.core.retransmissions
            }
        }

        impl $crate::transaction::Transaction for $ty {
            fn key(&self) -> &$crate::transaction::TransactionKey {
                <$ty>::key(self)
            }
            fn state(&self) -> $crate::transaction::TransactionState {
                <$ty>::state(self)
            }
            fn next_deadline(&self) -> Option<std::time::Instant> {
                <$ty>::next_deadline(self)
            }
            fn on_timeout(&mut self, now: std::time::Instant) {
                <$ty>::on_timeout(self, now)
            }
            fn on_transport_error(&mut self, now: std::time::Instant) {
                <$ty>::on_transport_error(self, now)
            }
            fn poll_action(&mut self) -> Option<$crate::transaction::TransactionAction> {
                <$ty>::poll_action(self)
            }
            fn retransmissions(&self) -> u32 {
                <$ty>::retransmissions(self)
            }
        }
    };
}

pub(super) use impl_transaction;
