//! The messages of the transaction layer: what transports, transaction users and transaction
//! actors tell each other.

use actix::{Addr, Message, Recipient};
use sip::transaction::TransactionKey;
use sip::{Request, Response, SipMessage};

use super::TransactionActor;
use crate::metrics::TransactionKind;
use crate::transport::Flow;

/// A parsed message from a transport (transport actor → `TransactionLayer`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Incoming {
    /// The request (top Via stamped) or response.
    pub message: SipMessage,
    /// The flow it came in on.
    pub flow: Flow,
}

/// A response from the transaction user for a server transaction (TU → transaction actor).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Respond {
    /// The response to send.
    pub response: Response,
    /// Told whether the transaction sent the response ([`ResponseNotice::Sent`], before it
    /// leaves, so a dialog hears of its 2xx before any ACK can come back) or refused it
    /// ([`ResponseNotice::Refused`]: a final response was already sent, e.g. a 487 after
    /// CANCEL, or the transaction ended).
    pub notify: Option<Recipient<ResponseNotice>>,
}

impl Respond {
    /// A response nobody needs to hear about.
    pub fn plain(response: Response) -> Respond {
        Respond {
            response,
            notify: None,
        }
    }
}

/// What happened to a response passed with [`Respond::notify`] (transaction → dialog), and
/// every further response the transaction sends itself for the same request (the 487 after a
/// CANCEL).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum ResponseNotice {
    /// The response is being sent.
    Sent(Response),
    /// The transaction refused it; nothing was sent.
    Refused(Response),
}

/// What a transaction tells its transaction user (the user agent, the dialog supervisor).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct TxEvent {
    /// The transaction.
    pub key: TransactionKey,
    /// Its Call-ID.
    pub call_id: String,
    /// The transaction actor, to answer a request through (`Respond`).
    pub tx: Addr<TransactionActor>,
    /// The flow the transaction runs on.
    pub flow: Flow,
    /// What happened.
    pub kind: TxEventKind,
}

/// The cases of [`TxEvent`].
#[derive(Debug, Clone)]
pub enum TxEventKind {
    /// A server transaction received a new request: answer it with `Respond`. An INVITE
    /// server transaction in Accepted also passes up the ACK matching it (RFC 6026 §8.7).
    Request(Request),
    /// A client transaction received a response.
    Response(Response),
    /// Timer B, F or H fired: treat as 408 (RFC 3261 §17.1.1.2, §17.2.1).
    Timeout,
    /// The transport failed (RFC 3261 §17.1.4, §17.2.4): treat as 503.
    TransportError,
    /// A CANCEL matched this INVITE server transaction before its final response: the
    /// transaction answered the INVITE 487 and the CANCEL 200 itself.
    Cancelled,
    /// The transaction refused a response of this status (it already sent a final one).
    Refused(u16),
    /// The transaction actor panicked and was stopped by its supervisor; it will send
    /// nothing more.
    Failed,
}

/// Start a client transaction for `request` on `flow` (→ `TransactionLayer`): an INVITE gets
/// an INVITE client transaction, anything else but ACK a non-INVITE one.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct StartClient {
    /// The request, with its Via (and branch) set.
    pub request: Request,
    /// Where it goes.
    pub flow: Flow,
    /// Who hears about its responses, timeout and transport errors.
    pub tu: Recipient<TxEvent>,
}

/// Fault injection (→ `TransactionLayer`): make the transaction actor filed under `key`
/// panic, as a bug would. Answers whether such a transaction was alive.
#[derive(Debug, Clone, Message)]
#[rtype(result = "bool")]
pub struct InjectTransactionPanic {
    /// The transaction's key.
    pub key: TransactionKey,
}

/// One live transaction, as [`ListTransactions`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionInfo {
    /// The key.
    pub key: TransactionKey,
    /// The kind.
    pub kind: TransactionKind,
    /// The Call-ID.
    pub call_id: String,
}

/// The live transactions (→ `TransactionLayer`), for operations and tests.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<TransactionInfo>")]
pub struct ListTransactions;

/// [`InjectTransactionPanic`] for this shard only (`TransactionLayer` → the other shards).
#[derive(Debug, Clone, Message)]
#[rtype(result = "bool")]
pub(crate) struct InjectLocalPanic(pub(crate) TransactionKey);

/// [`ListTransactions`] for this shard only (`TransactionLayer` → the other shards).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<TransactionInfo>")]
pub(crate) struct ListLocalTransactions;

/// A transaction terminated (transaction actor → `TransactionLayer`): forget its key.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct TxEnded {
    pub(crate) key: TransactionKey,
    pub(crate) child: u64,
}

/// The ACK for this INVITE server transaction's final response comes under `alias` (an
/// RFC 2543 INVITE answered with a To tag) (transaction actor → `TransactionLayer`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct RegisterAlias {
    pub(crate) alias: TransactionKey,
    pub(crate) key: TransactionKey,
}

/// A retransmitted request or an ACK matched to a server transaction.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct MatchedRequest(pub(crate) Request);

/// A response matched to a client transaction.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct MatchedResponse(pub(crate) Response);

/// A CANCEL matched this INVITE server transaction (`TransactionLayer` → INVITE server
/// transaction): answer it through `cancel_tx`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct CancelInvite {
    pub(crate) cancel: Request,
    pub(crate) cancel_tx: Addr<TransactionActor>,
}

/// A non-INVITE server transaction over UDP reached Completed (transaction actor →
/// `TransactionLayer`): the layer keeps it as a [`super::lingering::Lingering`] entry until
/// timer J and answers the actor with [`Release`].
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct Linger {
    pub(crate) key: TransactionKey,
    pub(crate) child: u64,
    pub(crate) entry: super::lingering::Lingering,
}

/// The layer has taken over the lingering transaction (→ transaction actor): stop without
/// ending the transaction.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct Release;
