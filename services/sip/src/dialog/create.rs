//! Creating dialogs: UAC from a response to our INVITE (§12.1.2), UAS when we answer one
//! (§12.1.1).

use std::time::Instant;

use bytestring::ByteString;

use crate::header::{Contact, Header, NameAddr};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::params::Params;
use crate::uri::{SipScheme, Uri};

use super::error::DialogError;
use super::retransmit::TwoXxRetransmitter;
use super::state::Dialog;
use super::types::{Cause, DialogAction, DialogConfig, DialogId, DialogState, Role, StateChange};

/// A response to `invite` that creates a dialog on our side as UAS (§12.1.1): Via, From,
/// Call-ID and CSeq copied, `local_tag` added to To, every Record-Route copied in order, and
/// `contact` as Contact. Pass it to [`Dialog::new_uas`] when it is a 101–299.
pub fn uas_response(
    invite: &Request,
    status: u16,
    local_tag: &str,
    contact: &NameAddr,
) -> Response {
    let mut resp = Response::from_request(invite, status, Some(local_tag));
    for h in invite.headers.iter() {
        if let Header::RecordRoute(_) = h {
            resp = resp.with_header(h.clone());
        }
    }
    resp.with_header(Header::Contact(Contact::Addresses(vec![contact.clone()])))
}

/// The display name and URI of an address, without its parameters (the tag lives in the
/// dialog id).
fn bare(a: &NameAddr) -> NameAddr {
    NameAddr {
        display_name: a.display_name.clone(),
        uri: a.uri.clone(),
        params: Params::new(),
    }
}

/// The UAC's route set from a response: its Record-Route entries in reverse (§12.1.2).
pub(super) fn uac_route_set(resp: &Response) -> Vec<NameAddr> {
    let mut routes: Vec<NameAddr> = resp.headers.record_routes().cloned().collect();
    routes.reverse();
    routes
}

fn is_sips(uri: &Uri) -> bool {
    uri.as_sip().is_some_and(|u| u.scheme == SipScheme::Sips)
}

/// Call-ID, From, To and CSeq number of an INVITE.
struct InviteParts<'a> {
    call_id: &'a ByteString,
    from: &'a NameAddr,
    to: &'a NameAddr,
    seq: u32,
}

fn invite_parts(invite: &Request) -> Result<InviteParts<'_>, DialogError> {
    if invite.method != Method::Invite {
        return Err(DialogError::NotInvite(invite.method.clone()));
    }
    let h = &invite.headers;
    Ok(InviteParts {
        call_id: h.call_id().ok_or(DialogError::MissingHeader("Call-ID"))?,
        from: h.from().ok_or(DialogError::MissingHeader("From"))?,
        to: h.to().ok_or(DialogError::MissingHeader("To"))?,
        seq: h.cseq().ok_or(DialogError::MissingHeader("CSeq"))?.seq,
    })
}

/// Whether `resp` answers the INVITE described by `inv`: same Call-ID, From tag and CSeq.
fn answers(resp: &Response, inv: &InviteParts<'_>) -> bool {
    let h = &resp.headers;
    h.call_id() == Some(inv.call_id)
        && h.from().and_then(NameAddr::tag) == inv.from.tag()
        && h.cseq()
            .is_some_and(|c| c.seq == inv.seq && c.method == Method::Invite)
}

fn created(dialog: &Dialog, cause: Cause) -> Vec<DialogAction> {
    vec![DialogAction::StateChanged(StateChange {
        id: dialog.id.clone(),
        from: None,
        to: dialog.state,
        cause,
    })]
}

impl Dialog {
    /// The UAC side of a dialog (§12.1.2), from our `invite` and a `response` to it: a 1xx with
    /// a To tag gives an early dialog, a 2xx a confirmed one (send [`Dialog::ack`] next).
    ///
    /// Route set: the response's Record-Route reversed. Remote target: its Contact (a 1xx
    /// without one falls back to the INVITE's Request-URI until a later response gives one).
    /// Secure when `over_tls` and the Request-URI is SIPS. The returned action records the
    /// creation.
    pub fn new_uac(
        invite: &Request,
        response: &Response,
        over_tls: bool,
        config: DialogConfig,
    ) -> Result<(Dialog, Vec<DialogAction>), DialogError> {
        let inv = invite_parts(invite)?;
        let local_tag = inv.from.tag().ok_or(DialogError::MissingTag("From"))?;
        if !answers(response, &inv) {
            return Err(DialogError::Mismatch("INVITE"));
        }
        let status = response.status;
        let remote_tag = response.headers.to().and_then(NameAddr::tag);
        let (state, cause) = match (response.class(), remote_tag) {
            (1, Some(_)) if status > 100 => (DialogState::Early, Cause::Provisional(status)),
            (2, _) => (DialogState::Confirmed, Cause::Answered(status)),
            _ => return Err(DialogError::NotDialogCreating(status)),
        };
        let remote_target = match response.headers.contacts().next() {
            Some(c) => c.uri.clone(),
            None if state == DialogState::Early => invite.uri.clone(),
            None => return Err(DialogError::MissingContact("2xx response")),
        };
        let dialog = Dialog {
            id: DialogId::new(inv.call_id, local_tag, remote_tag.unwrap_or("")),
            role: Role::Uac,
            state,
            local_seq: Some(inv.seq),
            remote_seq: None,
            local: bare(inv.from),
            remote: bare(inv.to),
            remote_target,
            route_set: uac_route_set(response),
            secure: over_tls && is_sips(&invite.uri),
            config,
            local_invite: (state == DialogState::Early).then_some(inv.seq),
            remote_invite: None,
            ack_seq: (state == DialogState::Confirmed).then_some(inv.seq),
            last_ack: None,
            retransmit: None,
        };
        let actions = created(&dialog, cause);
        Ok((dialog, actions))
    }

    /// The UAS side of a dialog (§12.1.1), from the `invite` we received and the `response`
    /// we are sending: a 1xx with our To tag gives an early dialog, a 2xx a confirmed one whose
    /// retransmissions start at `now` (see [`Dialog::on_timeout`]).
    ///
    /// Route set: the INVITE's Record-Route as is. Remote target: its Contact (required).
    /// Secure when `over_tls` and the Request-URI is SIPS. Later responses to the same INVITE
    /// go to [`Dialog::on_response_sent`].
    pub fn new_uas(
        invite: &Request,
        response: &Response,
        over_tls: bool,
        config: DialogConfig,
        now: Instant,
    ) -> Result<(Dialog, Vec<DialogAction>), DialogError> {
        let inv = invite_parts(invite)?;
        let status = response.status;
        if !(101..300).contains(&status) {
            return Err(DialogError::NotDialogCreating(status));
        }
        if !answers(response, &inv) {
            return Err(DialogError::Mismatch("INVITE"));
        }
        let local_tag = response
            .headers
            .to()
            .and_then(NameAddr::tag)
            .ok_or(DialogError::MissingTag("To"))?;
        let remote_target = invite
            .headers
            .contacts()
            .next()
            .ok_or(DialogError::MissingContact("INVITE"))?
            .uri
            .clone();
        let early = response.class() == 1;
        let mut dialog = Dialog {
            id: DialogId::new(inv.call_id, local_tag, inv.from.tag().unwrap_or("")),
            role: Role::Uas,
            state: if early {
                DialogState::Early
            } else {
                DialogState::Confirmed
            },
            local_seq: None,
            remote_seq: Some(inv.seq),
            local: bare(inv.to),
            remote: bare(inv.from),
            remote_target,
            route_set: invite.headers.record_routes().cloned().collect(),
            secure: over_tls && is_sips(&invite.uri),
            config,
            local_invite: None,
            remote_invite: early.then_some(inv.seq),
            ack_seq: None,
            last_ack: None,
            retransmit: None,
        };
        let cause = if early {
            Cause::Provisional(status)
        } else {
            dialog.retransmit = Some(TwoXxRetransmitter::new(response.clone(), now, config));
            Cause::Answered(status)
        };
        let actions = created(&dialog, cause);
        Ok((dialog, actions))
    }
}
