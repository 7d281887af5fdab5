//! The dialog state (RFC 3261 §12) and what responses and timers do to it.

use std::time::{Duration, Instant};

use crate::header::{NameAddr, Via};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::uri::Uri;

use super::error::DialogError;
use super::retransmit::{TwoXxRetransmitter, TwoXxTimeout};
use super::types::{Cause, DialogAction, DialogConfig, DialogId, DialogState, Role, StateChange};

/// One dialog: identity, state, both CSeq spaces, URIs, remote target and route set.
///
/// Created by [`Dialog::new_uac`] or [`Dialog::new_uas`] (or through a
/// [`UacDialogSet`](super::UacDialogSet)). It never reads a clock: the caller passes `now` to
/// [`Dialog::on_response_sent`] and [`Dialog::on_timeout`] and sleeps until
/// [`Dialog::next_deadline`].
#[derive(Debug, Clone)]
pub struct Dialog {
    pub(super) id: DialogId,
    pub(super) role: Role,
    pub(super) state: DialogState,
    pub(super) local_seq: Option<u32>,
    pub(super) remote_seq: Option<u32>,
    /// Local URI (display name and URI; the tag lives in `id`).
    pub(super) local: NameAddr,
    /// Remote URI (display name and URI; the tag lives in `id`).
    pub(super) remote: NameAddr,
    pub(super) remote_target: Uri,
    pub(super) route_set: Vec<NameAddr>,
    pub(super) secure: bool,
    pub(super) config: DialogConfig,
    /// CSeq of an INVITE we sent that has no final response yet.
    pub(super) local_invite: Option<u32>,
    /// CSeq of an INVITE we received and have not answered with a final response yet.
    pub(super) remote_invite: Option<u32>,
    /// CSeq of our latest INVITE answered with a 2xx: what an ACK acknowledges.
    pub(super) ack_seq: Option<u32>,
    /// The last ACK built, with its CSeq number, resent when its 2xx is retransmitted.
    pub(super) last_ack: Option<(u32, Request)>,
    pub(super) retransmit: Option<TwoXxRetransmitter>,
}

impl Dialog {
    /// The dialog identifier.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Whether we sent (UAC) or received (UAS) the dialog-creating INVITE.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Early, confirmed or terminated.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// The CSeq number of the last request we sent in the dialog (`None` until a UAS sends one).
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    /// The CSeq number of the last request the peer sent (`None` until a UAC receives one).
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// The local URI: From of the requests we send.
    pub fn local_uri(&self) -> &Uri {
        &self.local.uri
    }

    /// The remote URI: To of the requests we send.
    pub fn remote_uri(&self) -> &Uri {
        &self.remote.uri
    }

    /// The remote target: the peer's Contact, the Request-URI of our requests under loose
    /// routing.
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The route set, in the order our requests carry it.
    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    /// Whether the dialog is secure (SIPS Request-URI over TLS, §12.1).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The timer values.
    pub fn config(&self) -> DialogConfig {
        self.config
    }

    /// Whether an INVITE we sent on this dialog awaits its final response.
    pub fn local_invite_pending(&self) -> bool {
        self.local_invite.is_some()
    }

    /// Whether an INVITE the peer sent on this dialog awaits our final response.
    pub fn remote_invite_pending(&self) -> bool {
        self.remote_invite.is_some()
    }

    /// Where our requests go first (§8.1.2): the first route, or the remote target when the
    /// route set is empty.
    pub fn next_hop(&self) -> &Uri {
        self.route_set
            .first()
            .map_or(&self.remote_target, |r| &r.uri)
    }

    /// How long to wait before retrying a re-INVITE that got 491 (§14.1): pick a random
    /// multiple of 10 ms in the returned range. The Call-ID owner (the UAC) waits 2.1 to 4 s,
    /// the other side 0 to 2 s.
    pub fn glare_retry_range(&self) -> (Duration, Duration) {
        match self.role {
            Role::Uac => (Duration::from_millis(2100), Duration::from_secs(4)),
            Role::Uas => (Duration::ZERO, Duration::from_secs(2)),
        }
    }

    /// Moves to `to`, returning the change (none when already there). Termination stops the
    /// 2xx retransmissions and forgets pending INVITEs.
    pub(super) fn change(&mut self, to: DialogState, cause: Cause) -> Option<StateChange> {
        if self.state == to {
            return None;
        }
        let from = self.state;
        self.state = to;
        if to == DialogState::Terminated {
            self.retransmit = None;
            self.local_invite = None;
            self.remote_invite = None;
        }
        Some(StateChange {
            id: self.id.clone(),
            from: Some(from),
            to,
            cause,
        })
    }

    /// [`Dialog::change`] as a list of actions.
    pub(super) fn change_actions(&mut self, to: DialogState, cause: Cause) -> Vec<DialogAction> {
        self.change(to, cause)
            .map(DialogAction::StateChanged)
            .into_iter()
            .collect()
    }

    /// Ends the dialog with a BYE (when one can still be built) and the given cause.
    pub(super) fn terminate_with_bye(&mut self, via: Via, cause: Cause) -> Vec<DialogAction> {
        let mut actions = Vec::new();
        // A BYE only fails to build when the CSeq space is exhausted; the dialog ends anyway.
        if let Ok(bye) = self.build_bye(via) {
            actions.push(DialogAction::SendRequest(bye));
        }
        actions.extend(self.change_actions(DialogState::Terminated, cause));
        actions
    }

    /// A response to a request we sent within this dialog (as UAC of the dialog, the
    /// responses to the dialog-creating INVITE too, §13.2.2.4).
    ///
    /// - 1xx to the pending INVITE in an early dialog: its Contact refreshes the remote target.
    /// - 2xx to the pending INVITE: the remote target is refreshed (§12.2.1.2); an early dialog
    ///   is confirmed and its route set recomputed from this 2xx's Record-Route (§13.2.2.4).
    ///   The caller then sends [`Dialog::ack`]. A retransmitted 2xx resends that ACK.
    /// - non-2xx final to the pending INVITE: an early dialog terminates.
    /// - 2xx to UPDATE (or another target refresh request): the remote target is refreshed.
    /// - 481 or 408 to any request: the dialog terminates (§12.2.1.2).
    ///
    /// The route set never changes on a target refresh.
    pub fn on_response(&mut self, resp: &Response) -> Result<Vec<DialogAction>, DialogError> {
        if DialogId::of_received_response(resp).as_ref() != Some(&self.id) {
            return Err(DialogError::Mismatch("dialog"));
        }
        let cseq = resp
            .headers
            .cseq()
            .ok_or(DialogError::MissingHeader("CSeq"))?;
        let (seq, method) = (cseq.seq, &cseq.method);
        let invite = *method == Method::Invite;
        let pending = invite && self.local_invite == Some(seq);

        if invite && resp.class() == 2 && !pending {
            // A retransmitted 2xx: it gets the same ACK again (§13.2.2.4).
            return Ok(match &self.last_ack {
                Some((s, ack)) if *s == seq => vec![DialogAction::SendRequest(ack.clone())],
                _ => Vec::new(),
            });
        }
        if self.state == DialogState::Terminated {
            return Ok(Vec::new());
        }
        match resp.class() {
            1 => {
                if pending && self.state == DialogState::Early {
                    self.refresh_target(resp);
                }
                Ok(Vec::new())
            }
            2 => {
                if super::outgoing::is_target_refresh(method) {
                    self.refresh_target(resp);
                }
                if !pending {
                    return Ok(Vec::new());
                }
                self.local_invite = None;
                self.ack_seq = Some(seq);
                if self.state != DialogState::Early {
                    return Ok(Vec::new());
                }
                self.route_set = super::create::uac_route_set(resp);
                Ok(self.change_actions(DialogState::Confirmed, Cause::Answered(resp.status)))
            }
            _ => {
                if pending {
                    self.local_invite = None;
                    if self.state == DialogState::Early {
                        let cause = Cause::Rejected(resp.status);
                        return Ok(self.change_actions(DialogState::Terminated, cause));
                    }
                }
                if matches!(resp.status, 408 | 481) {
                    let cause = Cause::RequestFailed(resp.status);
                    return Ok(self.change_actions(DialogState::Terminated, cause));
                }
                Ok(Vec::new())
            }
        }
    }

    /// Replaces the remote target with the first Contact of `resp`, if it has one.
    fn refresh_target(&mut self, resp: &Response) {
        if let Some(c) = resp.headers.contacts().next() {
            self.remote_target = c.uri.clone();
        }
    }

    /// A response we are sending to a request the peer sent in this dialog (for a UAS dialog,
    /// also the 1xx and final responses to the dialog-creating INVITE).
    ///
    /// A 2xx to the pending INVITE confirms an early dialog and starts the 2xx retransmissions
    /// (§13.3.1.4), timed from `now`; a non-2xx final response to it terminates an early
    /// dialog. Other responses change nothing.
    pub fn on_response_sent(
        &mut self,
        resp: &Response,
        now: Instant,
    ) -> Result<Vec<DialogAction>, DialogError> {
        let to_tag = resp.headers.to().and_then(NameAddr::tag);
        let from_tag = resp.headers.from().map(|f| f.tag().unwrap_or(""));
        if resp.headers.call_id() != Some(&self.id.call_id)
            || to_tag != Some(&*self.id.local_tag)
            || from_tag != Some(&*self.id.remote_tag)
        {
            return Err(DialogError::Mismatch("dialog"));
        }
        let cseq = resp
            .headers
            .cseq()
            .ok_or(DialogError::MissingHeader("CSeq"))?;
        if cseq.method != Method::Invite
            || self.remote_invite != Some(cseq.seq)
            || resp.class() == 1
            || self.state == DialogState::Terminated
        {
            return Ok(Vec::new());
        }
        self.remote_invite = None;
        if resp.class() == 2 {
            self.retransmit = Some(TwoXxRetransmitter::new(resp.clone(), now, self.config));
            return Ok(self.change_actions(DialogState::Confirmed, Cause::Answered(resp.status)));
        }
        if self.state == DialogState::Early {
            return Ok(self.change_actions(DialogState::Terminated, Cause::Rejected(resp.status)));
        }
        Ok(Vec::new())
    }

    /// When [`Dialog::on_timeout`] should next be called, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.retransmit
            .as_ref()
            .and_then(TwoXxRetransmitter::next_deadline)
    }

    /// Runs the timers due at `now`: resends an unacknowledged 2xx, or after 64*T1 without
    /// ACK sends BYE and terminates with [`Cause::NoAck`]. `via` is called only when a BYE is
    /// built (it supplies the new branch).
    pub fn on_timeout(&mut self, now: Instant, via: impl FnOnce() -> Via) -> Vec<DialogAction> {
        let Some(rt) = self.retransmit.as_mut() else {
            return Vec::new();
        };
        match rt.on_timeout(now) {
            None => Vec::new(),
            Some(TwoXxTimeout::Retransmit(resp)) => vec![DialogAction::SendResponse(resp)],
            Some(TwoXxTimeout::GiveUp) => {
                self.retransmit = None;
                self.terminate_with_bye(via(), Cause::NoAck)
            }
        }
    }

    /// Whether a 2xx we sent still awaits its ACK.
    pub fn awaiting_ack(&self) -> bool {
        self.retransmit
            .as_ref()
            .is_some_and(TwoXxRetransmitter::is_running)
    }
}
