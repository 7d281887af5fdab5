//! Requests the peer sends within a dialog (RFC 3261 §12.2.2, §14.2, §15.1.2).

use crate::header::{Header, RetryAfter};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::params::Params;

use super::outgoing::is_target_refresh;
use super::state::Dialog;
use super::types::{Cause, DialogAction, DialogId, DialogState};

/// What to do with a request the peer sent within a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestVerdict {
    /// The request passed the dialog's checks and the dialog state was updated: hand it to the
    /// application (which answers it), after recording `actions` (a BYE's state change).
    Accept(Vec<DialogAction>),
    /// Answer with this response (481, 500 with Retry-After, 491, 400) and go no further.
    Respond(Response),
    /// Drop it without answer (an ACK that acknowledges nothing here).
    Drop,
}

/// A 500 with `Retry-After: seconds` (§12.2.2 out-of-order CSeq, §14.2 overlapping INVITE).
fn server_error(req: &Request, retry_after: u32) -> Response {
    Response::from_request(req, 500, None).with_header(Header::RetryAfter(RetryAfter {
        seconds: retry_after,
        comment: None,
        params: Params::new(),
    }))
}

impl Dialog {
    /// Checks and applies a request the peer sent within this dialog.
    ///
    /// - Not this dialog's Call-ID and tags, or the dialog is terminated: 481 (an ACK is
    ///   dropped).
    /// - ACK: stops the retransmission of the 2xx it acknowledges (§13.3.1.4).
    /// - CANCEL: accepted without CSeq checks (its transaction matches it).
    /// - A CSeq number not above the last one the peer used: 500 with `Retry-After:
    ///   retry_after` (§12.2.2). Otherwise the remote CSeq becomes this number.
    /// - INVITE while our INVITE is pending: 491 (§14.2). INVITE while the peer's previous
    ///   INVITE has no final response yet: 500 with `Retry-After: retry_after` (§14.2; RFC 3261
    ///   asks for a random 0–10 s, which the caller picks).
    /// - Target refresh requests (INVITE, UPDATE, SUBSCRIBE, NOTIFY) with a Contact replace the
    ///   remote target (§12.2.2); the route set stays.
    /// - BYE terminates the dialog ([`Cause::ByeReceived`]); the caller answers it 200.
    pub fn on_request(&mut self, req: &Request, retry_after: u32) -> RequestVerdict {
        let is_ack = req.method == Method::Ack;
        if DialogId::of_received_request(req).as_ref() != Some(&self.id) {
            return reject_unmatched(req);
        }
        let Some(seq) = req.headers.cseq().map(|c| c.seq) else {
            return if is_ack {
                RequestVerdict::Drop
            } else {
                RequestVerdict::Respond(
                    Response::from_request(req, 400, None).with_reason("Missing CSeq"),
                )
            };
        };
        if is_ack {
            let acked = self.retransmit.as_mut().is_some_and(|rt| rt.on_ack(seq));
            if acked {
                self.retransmit = None;
            }
            return if acked || self.state != DialogState::Terminated {
                RequestVerdict::Accept(Vec::new())
            } else {
                RequestVerdict::Drop
            };
        }
        if self.state == DialogState::Terminated {
            return reject_unmatched(req);
        }
        if req.method == Method::Cancel {
            return RequestVerdict::Accept(Vec::new());
        }
        if self.remote_seq.is_some_and(|last| seq <= last) {
            return RequestVerdict::Respond(server_error(req, retry_after));
        }
        self.remote_seq = Some(seq);
        if req.method == Method::Invite {
            if self.local_invite.is_some() {
                return RequestVerdict::Respond(Response::from_request(req, 491, None));
            }
            if self.remote_invite.is_some() {
                return RequestVerdict::Respond(server_error(req, retry_after));
            }
            self.remote_invite = Some(seq);
        }
        if is_target_refresh(&req.method)
            && let Some(c) = req.headers.contacts().next()
        {
            self.remote_target = c.uri.clone();
        }
        if req.method == Method::Bye {
            return RequestVerdict::Accept(
                self.change_actions(DialogState::Terminated, Cause::ByeReceived),
            );
        }
        RequestVerdict::Accept(Vec::new())
    }
}

/// 481 for a request that matches no live dialog; nothing for an ACK.
pub(super) fn reject_unmatched(req: &Request) -> RequestVerdict {
    if req.method == Method::Ack {
        RequestVerdict::Drop
    } else {
        RequestVerdict::Respond(super::table::no_dialog_response(req))
    }
}
