//! What can go wrong when creating a dialog or acting on one.

use crate::method::Method;

/// A dialog operation that could not be carried out. The dialog is unchanged when one is
/// returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header the operation needs is missing.
    #[error("the message has no {0} header")]
    MissingHeader(&'static str),
    /// The named header has no `tag` parameter, which the operation needs.
    #[error("the {0} header has no tag")]
    MissingTag(&'static str),
    /// A request or response lacks the Contact that gives the remote target.
    #[error("the {0} has no Contact to use as remote target")]
    MissingContact(&'static str),
    /// The request is not an INVITE.
    #[error("a dialog is created by an INVITE, not {0}")]
    NotInvite(Method),
    /// The response cannot create a dialog: a 100, a 1xx without To tag, or a final non-2xx.
    #[error("a {0} response does not create a dialog")]
    NotDialogCreating(u16),
    /// The response does not belong here (Call-ID, tags or CSeq differ).
    #[error("the response does not belong to this {0}")]
    Mismatch(&'static str),
    /// The dialog is terminated: no more requests.
    #[error("the dialog is terminated")]
    Terminated,
    /// An INVITE transaction is already in progress on the dialog, in either direction
    /// (§14.1).
    #[error("an INVITE transaction is already in progress on this dialog")]
    InvitePending,
    /// A target refresh request needs a Contact (§12.2.1.1).
    #[error("a {0} within a dialog needs a Contact")]
    ContactRequired(Method),
    /// This method has its own builder ([`Dialog::ack`](super::Dialog::ack),
    /// [`Dialog::bye`](super::Dialog::bye)); CANCEL is built from the request it cancels.
    #[error("{0} is not built with Dialog::request")]
    DedicatedBuilder(Method),
    /// There is no 2xx to an INVITE to acknowledge.
    #[error("no 2xx to an INVITE to acknowledge")]
    NothingToAck,
    /// The callee must not send BYE on an early dialog (§15).
    #[error("the callee must not send BYE on an early dialog")]
    ByeOnEarlyDialog,
    /// The local CSeq reached 2^31 - 1 (§8.1.1.5).
    #[error("the local CSeq space is exhausted")]
    CSeqExhausted,
}
