//! RFC 3261 §17 transactions as sans-IO state machines, with the RFC 6026 corrections.
//!
//! Four machines, one per figure: [`InviteClientTransaction`] (figure 5),
//! [`NonInviteClientTransaction`] (figure 6), [`InviteServerTransaction`] (figure 7) and
//! [`NonInviteServerTransaction`] (figure 8). None owns a socket, a clock or a timer: every
//! input takes `now`, and the caller
//!
//! 1. feeds inputs: `on_response` (client), `on_request` and `send_response` (server),
//!    `on_transport_error` and `on_timeout`;
//! 2. drains [`TransactionAction`]s with `poll_action` after each input and carries them out
//!    (send on the transport, deliver to the core, log the state change, drop the transaction
//!    on `Terminated`);
//! 3. arms one timer for `next_deadline()` and calls `on_timeout(now)` when it expires.
//!
//! Retransmission timers (A, E, G) run only on unreliable transports; the lingering timers
//! (D, I, J, K) are zero on reliable ones, so those transactions terminate in the same input.
//!
//! Messages are matched to transactions by [`TransactionKey`] (§17.1.3, §17.2.3): responses
//! by [`TransactionKey::from_response`], requests by [`TransactionKey::from_request`]; an
//! ACK for a non-2xx is found under [`InviteServerTransaction::ack_key`], which differs from
//! the transaction's key only for RFC 2543 peers. A `Send` action carries no destination:
//! the caller sends on the flow the transaction belongs to (the request's source for a
//! server transaction, per RFC 3261 §18.2.2).

mod action;
mod config;
mod core;
mod error;
mod invite_client;
mod invite_server;
mod key;
mod non_invite_client;
mod non_invite_server;

#[cfg(test)]
mod tests;

use std::time::Instant;

pub use action::{TransactionAction, TransactionState};
pub use config::TransactionConfig;
pub use error::TransactionError;
pub use invite_client::InviteClientTransaction;
pub use invite_server::InviteServerTransaction;
pub use key::TransactionKey;
pub use non_invite_client::NonInviteClientTransaction;
pub use non_invite_server::NonInviteServerTransaction;

/// What all four transaction machines have in common, for code that drives any of them
/// (timer wheels, the transaction table). Each machine has the same methods inherently.
pub trait Transaction {
    /// The key this transaction is filed under.
    fn key(&self) -> &TransactionKey;
    /// The current state.
    fn state(&self) -> TransactionState;
    /// Whether the transaction reached Terminated (drop it).
    fn is_terminated(&self) -> bool {
        self.state() == TransactionState::Terminated
    }
    /// When `on_timeout` must next be called; `None` when no timer runs.
    fn next_deadline(&self) -> Option<Instant>;
    /// Fires every timer due at `now`.
    fn on_timeout(&mut self, now: Instant);
    /// The transport failed to send this transaction's message.
    fn on_transport_error(&mut self, now: Instant);
    /// The next action to carry out; `None` when there is nothing to do.
    fn poll_action(&mut self) -> Option<TransactionAction>;
    /// How many retransmissions this transaction has sent.
    fn retransmissions(&self) -> u32;
}
