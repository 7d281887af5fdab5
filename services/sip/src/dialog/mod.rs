//! Dialogs (RFC 3261 §12), sans-IO: no sockets, no clock, no randomness.
//!
//! A [`Dialog`] is the peer-to-peer relationship an INVITE sets up: Call-ID plus local and remote
//! tag ([`DialogId`]), the route set, the remote target and both CSeq spaces. Every input is a
//! message (and `now` where time matters) and every output is a [`DialogAction`]: a request or
//! response to send, or a [`StateChange`] for the event log.
//!
//! - Creation: [`Dialog::new_uac`] from a 1xx-with-tag or 2xx to our INVITE (§12.1.2),
//!   [`Dialog::new_uas`] when we answer an INVITE with a 1xx-with-tag or 2xx (§12.1.1);
//!   [`uas_response`] builds such an answer (To tag, Record-Route copied, Contact).
//! - Forking: a [`UacDialogSet`] holds the early dialogs of one INVITE and ACKs and BYEs a 2xx
//!   from a second fork (§13.2.2.4).
//! - Requests within the dialog (§12.2.1.1): [`Dialog::request`], [`Dialog::ack`],
//!   [`Dialog::bye`]; responses to them go to [`Dialog::on_response`].
//! - Requests from the peer (§12.2.2, §14.2): [`Dialog::on_request`], or through a
//!   [`DialogTable`], which answers 481 for requests that match no dialog.
//! - 2xx reliability (§13.3.1.4): after [`Dialog::on_response_sent`] with a 2xx to an INVITE the
//!   dialog resends it on [`Dialog::on_timeout`] until the ACK comes, and sends BYE after 64*T1
//!   without one ([`TwoXxRetransmitter`] holds the schedule).
//!
//! The caller supplies every Via (and so every branch), every tag and every Contact.

mod create;
mod error;
mod fork;
mod incoming;
mod outgoing;
mod retransmit;
mod state;
mod table;
mod types;

#[cfg(test)]
mod tests;

pub use create::uas_response;
pub use error::DialogError;
pub use fork::UacDialogSet;
pub use incoming::RequestVerdict;
pub use outgoing::is_target_refresh;
pub use retransmit::{TwoXxRetransmitter, TwoXxTimeout};
pub use state::Dialog;
pub use table::{DialogTable, Routed, Unmatched, no_dialog_response};
pub use types::{Cause, DialogAction, DialogConfig, DialogId, DialogState, Role, StateChange};
