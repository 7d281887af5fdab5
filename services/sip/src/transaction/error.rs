//! Errors from creating transactions, deriving keys and misusing a transaction.

use crate::method::Method;

use super::action::TransactionState;

/// Why a transaction or key could not be made, or an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// A header needed for matching is missing (`Via`, `CSeq`, `Call-ID`, `From`, `To`).
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// The top Via has no branch, and this kind of key needs one.
    #[error("top Via has no branch parameter")]
    MissingBranch,
    /// The request's method cannot create this kind of transaction.
    #[error("a {method} request cannot create {kind}")]
    WrongMethod {
        /// The request's method.
        method: Method,
        /// The kind of transaction asked for.
        kind: &'static str,
    },
    /// The core passed a response the transaction cannot send in its state (a second final
    /// response, a provisional after a final, or anything after Terminated).
    #[error("cannot send a {status} response in state {state}")]
    ResponseNotAllowed {
        /// The response's status code.
        status: u16,
        /// The transaction's state.
        state: TransactionState,
    },
}
