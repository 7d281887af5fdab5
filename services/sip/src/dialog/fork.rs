//! The dialogs one forked INVITE creates (RFC 3261 §12.1.2, §13.2.2.4).

use bytestring::ByteString;

use crate::header::{NameAddr, Via};
use crate::message::{Request, Response};
use crate::method::Method;

use super::error::DialogError;
use super::state::Dialog;
use super::table::{Routed, route_request};
use super::types::{Cause, DialogAction, DialogConfig, DialogState};

/// The dialogs of one INVITE we sent, one per remote tag (one per fork that answered).
///
/// Feed it every response to the INVITE (from the INVITE client transaction, 2xx
/// retransmissions included). The first 2xx confirms its dialog; the caller ACKs it with
/// [`Dialog::ack`] on [`UacDialogSet::confirmed_mut`]. A 2xx from any other fork is answered
/// here with an ACK and a BYE (§13.2.2.4). A non-2xx final response ends every early dialog,
/// and so does [`UacDialogSet::on_transaction_ended`].
#[derive(Debug, Clone)]
pub struct UacDialogSet {
    invite: Request,
    over_tls: bool,
    config: DialogConfig,
    dialogs: Vec<Dialog>,
    confirmed: Option<ByteString>,
}

impl UacDialogSet {
    /// The set for `invite`, which must be an INVITE with a From tag, Call-ID and CSeq.
    /// `over_tls` says whether it went over TLS (for the secure flag).
    pub fn new(invite: Request, over_tls: bool, config: DialogConfig) -> Result<Self, DialogError> {
        if invite.method != Method::Invite {
            return Err(DialogError::NotInvite(invite.method));
        }
        let h = &invite.headers;
        h.call_id().ok_or(DialogError::MissingHeader("Call-ID"))?;
        h.cseq().ok_or(DialogError::MissingHeader("CSeq"))?;
        h.to().ok_or(DialogError::MissingHeader("To"))?;
        h.from()
            .ok_or(DialogError::MissingHeader("From"))?
            .tag()
            .ok_or(DialogError::MissingTag("From"))?;
        Ok(UacDialogSet {
            invite,
            over_tls,
            config,
            dialogs: Vec::new(),
            confirmed: None,
        })
    }

    /// The INVITE.
    pub fn invite(&self) -> &Request {
        &self.invite
    }

    /// Every dialog, in the order the forks first answered.
    pub fn dialogs(&self) -> impl Iterator<Item = &Dialog> {
        self.dialogs.iter()
    }

    /// The dialog with this remote tag (empty for a 2xx without To tag).
    pub fn get(&self, remote_tag: &str) -> Option<&Dialog> {
        self.dialogs
            .iter()
            .find(|d| d.id().remote_tag == remote_tag)
    }

    /// The dialog with this remote tag, for changing it.
    pub fn get_mut(&mut self, remote_tag: &str) -> Option<&mut Dialog> {
        self.dialogs
            .iter_mut()
            .find(|d| d.id().remote_tag == remote_tag)
    }

    /// The dialog the first 2xx confirmed.
    pub fn confirmed(&self) -> Option<&Dialog> {
        let tag = self.confirmed.as_deref()?;
        self.get(tag)
    }

    /// The dialog the first 2xx confirmed, for ACKing it and sending requests in it.
    pub fn confirmed_mut(&mut self) -> Option<&mut Dialog> {
        let tag = self.confirmed.clone()?;
        self.get_mut(&tag)
    }

    /// Gives up the dialogs (to move them into a [`DialogTable`](super::DialogTable)).
    pub fn into_dialogs(self) -> Vec<Dialog> {
        self.dialogs
    }

    /// A response to the INVITE. `via` is called for each request built here (the ACK and BYE
    /// answering an extra fork's 2xx), each needing a new branch.
    ///
    /// - 1xx with a new To tag: a new early dialog; with a known one, that dialog's remote
    ///   target is refreshed.
    /// - The first 2xx: its early dialog is confirmed (or a confirmed one created).
    /// - A retransmission of a 2xx already ACKed: the same ACK again.
    /// - A 2xx from another fork once one is confirmed: its dialog is created or confirmed,
    ///   ACKed and sent BYE at once, ending with [`Cause::ExtraFork`].
    /// - A non-2xx final response: every early dialog terminates.
    pub fn on_response(
        &mut self,
        resp: &Response,
        mut via: impl FnMut() -> Via,
    ) -> Result<Vec<DialogAction>, DialogError> {
        if !self.answers(resp) {
            return Err(DialogError::Mismatch("INVITE"));
        }
        if resp.class() >= 3 {
            return Ok(self.end_early(Cause::Rejected(resp.status)));
        }
        let tag = resp.headers.to().and_then(NameAddr::tag);
        if resp.class() == 1 && (resp.status == 100 || tag.is_none()) {
            return Ok(Vec::new());
        }
        let tag = ByteString::from(tag.unwrap_or(""));
        let mut actions = match self.dialogs.iter().position(|d| d.id().remote_tag == tag) {
            Some(k) => self.dialogs[k].on_response(resp)?,
            None => {
                let (dialog, actions) =
                    Dialog::new_uac(&self.invite, resp, self.over_tls, self.config)?;
                self.dialogs.push(dialog);
                actions
            }
        };
        let Some(k) = self.dialogs.iter().position(|d| d.id().remote_tag == tag) else {
            return Ok(actions);
        };
        if resp.class() != 2 || self.dialogs[k].state() != DialogState::Confirmed {
            return Ok(actions);
        }
        match &self.confirmed {
            None => self.confirmed = Some(tag),
            Some(first) if *first == tag => {}
            Some(_) => {
                let extra = &mut self.dialogs[k];
                let ack = extra.ack(via(), None)?;
                actions.push(DialogAction::SendRequest(ack));
                actions.extend(extra.terminate_with_bye(via(), Cause::ExtraFork));
            }
        }
        Ok(actions)
    }

    /// The INVITE client transaction ended (timed out, or done collecting 2xx): every dialog
    /// still early terminates with [`Cause::TransactionEnded`].
    pub fn on_transaction_ended(&mut self) -> Vec<DialogAction> {
        self.end_early(Cause::TransactionEnded)
    }

    /// Routes a request from one of the forks, like [`DialogTable::route`](super::DialogTable::route).
    pub fn route(&mut self, req: &Request, retry_after: u32) -> Routed {
        route_request(req, retry_after, |id| {
            self.dialogs.iter_mut().find(|d| d.id() == id)
        })
    }

    fn end_early(&mut self, cause: Cause) -> Vec<DialogAction> {
        let mut actions = Vec::new();
        for d in &mut self.dialogs {
            if d.state() == DialogState::Early {
                d.local_invite = None;
                actions.extend(d.change_actions(DialogState::Terminated, cause));
            }
        }
        actions
    }

    /// Whether `resp` answers our INVITE: same Call-ID, From tag and CSeq.
    fn answers(&self, resp: &Response) -> bool {
        let (ours, theirs) = (&self.invite.headers, &resp.headers);
        theirs.call_id().is_some()
            && theirs.call_id() == ours.call_id()
            && theirs.from().and_then(NameAddr::tag) == ours.from().and_then(NameAddr::tag)
            && theirs.cseq().is_some()
            && theirs.cseq() == ours.cseq()
    }
}
