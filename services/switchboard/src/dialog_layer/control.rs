//! What the owner of a dialog (the call engine) and its dialog actor tell each other.
//!
//! A dialog started with an owner ([`super::Dialogs::spawn_owned`]) reports to it what the
//! call needs to know ([`DialogNotice`]: the peer's BYE or any other end, DTMF by INFO), and
//! takes orders: [`Hangup`] (BYE), [`UacResponse`] (a response to the INVITE that created
//! a dialog of ours as UAC: a 2xx is acknowledged, and its retransmissions get the same
//! ACK), [`SendDtmfInfo`] (a digit as SIP INFO, for a leg whose DTMF mode is `info`).

use actix::Message;
use media::dtmf::{DtmfDigit, DtmfEvent};
use sip::Response;
use sip::dialog::DialogId;

/// What happened in a dialog (dialog actor → owner).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct DialogNotice {
    /// The dialog.
    pub dialog: DialogId,
    /// What happened.
    pub kind: DialogNoticeKind,
}

/// The cases of [`DialogNotice`].
#[derive(Debug, Clone)]
pub enum DialogNoticeKind {
    /// The dialog ended; the actor stops. `by_peer_bye` when the peer sent BYE.
    Ended {
        /// Whether the peer's BYE ended it.
        by_peer_bye: bool,
        /// The final response that ended an early dialog (e.g. the 487 after a CANCEL).
        rejected: Option<u16>,
        /// Why, for the event log.
        cause: String,
    },
    /// The peer sent a DTMF digit by SIP INFO (answered 200 already).
    Dtmf(DtmfEvent),
}

/// End the dialog with BYE (owner → dialog actor); an early dialog we cannot BYE ends
/// without a message.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Hangup {
    /// Why, for the event log.
    pub cause: String,
}

/// A response to the INVITE that created this dialog as UAC (owner → dialog actor).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct UacResponse(pub Response);

/// Send a DTMF digit as SIP INFO in the dialog (owner → dialog actor), body
/// `application/dtmf-relay`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct SendDtmfInfo {
    /// The key.
    pub digit: DtmfDigit,
    /// How long it was held.
    pub duration_ms: u32,
}
