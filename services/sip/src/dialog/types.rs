//! The vocabulary of the dialog layer: identifiers, states, causes, actions and timer values.

use std::fmt;
use std::time::Duration;

use bytestring::ByteString;

use crate::message::{Request, Response};

/// A dialog's identity (RFC 3261 §12): Call-ID, local tag and remote tag, compared byte for byte.
///
/// A peer that sends no tag (RFC 2543) gives an empty remote tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: ByteString,
    /// Our tag: From in requests we send, To in requests we receive.
    pub local_tag: ByteString,
    /// The peer's tag (empty when the peer sent none).
    pub remote_tag: ByteString,
}

impl DialogId {
    /// A dialog identifier from its three parts.
    pub fn new(call_id: &str, local_tag: &str, remote_tag: &str) -> Self {
        DialogId {
            call_id: ByteString::from(call_id),
            local_tag: ByteString::from(local_tag),
            remote_tag: ByteString::from(remote_tag),
        }
    }

    /// The dialog a request we received belongs to (§12.2.2): local tag from To, remote tag
    /// from From. `None` when To has no tag (the request is outside any dialog) or there is no
    /// Call-ID, From or To.
    pub fn of_received_request(req: &Request) -> Option<DialogId> {
        let local = req.headers.to()?.tag()?;
        let remote = req.headers.from()?.tag().unwrap_or("");
        Some(DialogId::new(req.headers.call_id()?, local, remote))
    }

    /// The dialog a response to one of our requests belongs to: local tag from From, remote
    /// tag from To (empty when To has none). `None` without Call-ID, To or a From tag.
    pub fn of_received_response(resp: &Response) -> Option<DialogId> {
        let local = resp.headers.from()?.tag()?;
        let remote = resp.headers.to()?.tag().unwrap_or("");
        Some(DialogId::new(resp.headers.call_id()?, local, remote))
    }
}

impl fmt::Display for DialogId {
    /// `call-id;local=tag;remote=tag`, for logs and the event log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}

/// Which side of the dialog-creating INVITE we were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the INVITE (and own the Call-ID).
    Uac,
    /// We received the INVITE.
    Uas,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Uac => "UAC",
            Role::Uas => "UAS",
        })
    }
}

/// A dialog state (RFC 3261 §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialogState {
    /// Created by a provisional response; the INVITE has no final response yet.
    Early,
    /// A 2xx to the INVITE was sent or received.
    Confirmed,
    /// Over: BYE, a non-2xx final response, or a failure. Requests get 481.
    Terminated,
}

impl DialogState {
    /// The state's name in lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            DialogState::Early => "early",
            DialogState::Confirmed => "confirmed",
            DialogState::Terminated => "terminated",
        }
    }
}

impl fmt::Display for DialogState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a dialog changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A provisional response with a To tag (received as UAC, sent as UAS) created the dialog.
    Provisional(u16),
    /// A 2xx to the INVITE (received as UAC, sent as UAS).
    Answered(u16),
    /// A non-2xx final response to the dialog-creating INVITE ended the early dialog.
    Rejected(u16),
    /// A 481 or 408 to a request within the dialog (§12.2.1.2).
    RequestFailed(u16),
    /// The peer sent BYE.
    ByeReceived,
    /// We sent BYE.
    ByeSent,
    /// A fork answered after another one was confirmed: it was ACKed and sent BYE (§13.2.2.4).
    ExtraFork,
    /// We sent a 2xx to an INVITE and no ACK came within 64*T1 (§13.3.1.4): BYE sent.
    NoAck,
    /// The INVITE client transaction ended while this dialog was still early.
    TransactionEnded,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Provisional(s) => write!(f, "provisional {s}"),
            Cause::Answered(s) => write!(f, "answered {s}"),
            Cause::Rejected(s) => write!(f, "rejected {s}"),
            Cause::RequestFailed(s) => write!(f, "request failed {s}"),
            Cause::ByeReceived => f.write_str("BYE received"),
            Cause::ByeSent => f.write_str("BYE sent"),
            Cause::ExtraFork => f.write_str("extra fork answered"),
            Cause::NoAck => f.write_str("no ACK"),
            Cause::TransactionEnded => f.write_str("INVITE transaction ended"),
        }
    }
}

/// One state transition, for the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The dialog.
    pub id: DialogId,
    /// The state left; `None` when the dialog was just created.
    pub from: Option<DialogState>,
    /// The state entered.
    pub to: DialogState,
    /// Why.
    pub cause: Cause,
}

impl fmt::Display for StateChange {
    /// `id: early -> confirmed (answered 200)`; a new dialog shows `new` as its old state.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = self.from.map_or("new", DialogState::as_str);
        write!(f, "{}: {from} -> {} ({})", self.id, self.to, self.cause)
    }
}

/// Something the caller must do or record, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogAction {
    /// Send this request (an ACK or BYE the dialog layer built itself). ACKs for 2xx are sent
    /// directly on the transport; other requests go through a client transaction.
    SendRequest(Request),
    /// Send this response directly on the transport (a 2xx retransmission, §13.3.1.4).
    SendResponse(Response),
    /// The dialog changed state.
    StateChanged(StateChange),
}

/// Timer values for the dialog layer (RFC 3261 §13.3.1.4, appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialogConfig {
    /// T1: the first 2xx retransmission interval (default 500 ms). No ACK within 64*T1 ends
    /// the dialog.
    pub t1: Duration,
    /// T2: the cap on the 2xx retransmission interval (default 4 s).
    pub t2: Duration,
}

impl Default for DialogConfig {
    fn default() -> Self {
        DialogConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
        }
    }
}

impl DialogConfig {
    /// 64*T1: how long a 2xx waits for its ACK.
    pub fn ack_timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}
