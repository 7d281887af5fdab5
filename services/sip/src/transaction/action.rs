//! What a transaction reports: its states and the actions the caller carries out.

use std::fmt;

use crate::message::SipMessage;

/// A transaction state, named as in RFC 3261 figures 5 to 8 and RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionState {
    /// INVITE client: the INVITE is sent, nothing is heard yet.
    Calling,
    /// Non-INVITE client and server: the request is sent or received, no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A final response was received (client) or sent (server); absorbing retransmissions.
    Completed,
    /// INVITE server: the ACK for a non-2xx final response arrived.
    Confirmed,
    /// INVITE client and server after a 2xx (RFC 6026).
    Accepted,
    /// The transaction is over; the caller drops it.
    Terminated,
}

impl TransactionState {
    /// The state's name as the RFC figures spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionState::Calling => "Calling",
            TransactionState::Trying => "Trying",
            TransactionState::Proceeding => "Proceeding",
            TransactionState::Completed => "Completed",
            TransactionState::Confirmed => "Confirmed",
            TransactionState::Accepted => "Accepted",
            TransactionState::Terminated => "Terminated",
        }
    }
}

impl fmt::Display for TransactionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the caller of a transaction must do, drained with `poll_action`.
///
/// Within one input the order is: messages (`Send`, `Deliver`) and failures (`Timeout`,
/// `TransportError`) first, then `StateChanged`, and `Terminated` always last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionAction {
    /// Hand this message to the transport, on the transaction's flow.
    Send(SipMessage),
    /// Pass this request or response up to the transaction user (the core).
    Deliver(SipMessage),
    /// The transaction timed out (timer B, F or H): the core treats it as a 408.
    Timeout,
    /// The transport reported a failure while this transaction used it (RFC 3261 §17.1.4,
    /// §17.2.4); the core treats it as a 503.
    TransportError,
    /// The state changed (for the event log).
    StateChanged {
        /// The state left.
        from: TransactionState,
        /// The state entered.
        to: TransactionState,
    },
    /// The transaction reached Terminated: drop it and its key.
    Terminated,
}
