//! Requests within a dialog (RFC 3261 §12.2.1.1): Request-URI, Route, From, To, Call-ID, CSeq.

use bytes::Bytes;

use crate::builder::RequestBuilder;
use crate::header::{Header, MediaType, NameAddr, Via};
use crate::message::Request;
use crate::method::Method;
use crate::uri::Uri;

use super::error::DialogError;
use super::state::Dialog;
use super::types::{Cause, DialogState, Role, StateChange};

/// The largest CSeq number allowed (§8.1.1.5: below 2^31).
const MAX_SEQ: u32 = (1 << 31) - 1;

/// Whether `method` is a target refresh request: it carries a Contact, and it and its 2xx
/// replace the remote target (INVITE §12.2; UPDATE RFC 3311; SUBSCRIBE and NOTIFY RFC 6665).
pub fn is_target_refresh(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify
    )
}

/// `addr` with only a `tag` parameter (none when `tag` is empty: an RFC 2543 peer).
fn tagged(addr: &NameAddr, tag: &str) -> NameAddr {
    let mut a = addr.clone();
    if !tag.is_empty() {
        a.params.set("tag", Some(tag));
    }
    a
}

/// A route URI as a Request-URI: without the parameters and headers a Request-URI may not
/// carry (§19.1.1: `method` and URI headers).
fn as_request_uri(uri: &Uri) -> Uri {
    match uri {
        Uri::Sip(u) => {
            let mut u = u.clone();
            u.params.remove("method");
            u.headers.clear();
            Uri::Sip(u)
        }
        other => other.clone(),
    }
}

impl Dialog {
    /// The Request-URI and Route list of the next request (§12.2.1.1).
    ///
    /// Loose routing (empty route set, or `lr` on its first URI): Request-URI = remote target,
    /// Route = route set. Strict routing: Request-URI = first route (parameters not allowed in a
    /// Request-URI stripped), Route = the rest of the route set and then the remote target.
    pub fn request_uri_and_routes(&self) -> (Uri, Vec<NameAddr>) {
        let Some(first) = self.route_set.first() else {
            return (self.remote_target.clone(), Vec::new());
        };
        if first.uri.as_sip().is_some_and(|u| u.is_loose_route()) {
            return (self.remote_target.clone(), self.route_set.clone());
        }
        let mut routes: Vec<NameAddr> = self.route_set[1..].to_vec();
        routes.push(NameAddr::new(self.remote_target.clone()));
        (as_request_uri(&first.uri), routes)
    }

    /// The CSeq number the next request would take (the local sequence plus one, or 1 when a
    /// UAS has sent nothing yet).
    fn next_seq(&self) -> Result<u32, DialogError> {
        match self.local_seq {
            None => Ok(1),
            Some(s) if s < MAX_SEQ => Ok(s + 1),
            Some(_) => Err(DialogError::CSeqExhausted),
        }
    }

    /// Request-URI, Via, Route, From, To, Call-ID and CSeq of a request in this dialog.
    fn base(&self, method: Method, seq: u32, via: Via) -> RequestBuilder {
        let (uri, routes) = self.request_uri_and_routes();
        let mut b = RequestBuilder::new(method, uri).via(via);
        if !routes.is_empty() {
            b = b.header(Header::Route(routes));
        }
        b.from(tagged(&self.local, &self.id.local_tag))
            .to(tagged(&self.remote, &self.id.remote_tag))
            .call_id(&self.id.call_id)
            .cseq(seq)
    }

    /// A request within the dialog (§12.2.1.1), for any method but ACK, BYE and CANCEL:
    /// Request-URI and Route by [`Dialog::request_uri_and_routes`], From and To with the tags,
    /// the Call-ID, the next local CSeq, Max-Forwards 70, `via` and, when given, `contact`.
    /// Add a body or headers and `build()` it.
    ///
    /// Target refresh requests (INVITE, UPDATE, SUBSCRIBE, NOTIFY) need a `contact`. An INVITE
    /// (re-INVITE) is refused while another INVITE is in progress in either direction (§14.1)
    /// and is then pending until [`Dialog::on_response`] sees its final response. The local
    /// CSeq advances only when a request is returned.
    pub fn request(
        &mut self,
        method: Method,
        via: Via,
        contact: Option<&NameAddr>,
    ) -> Result<RequestBuilder, DialogError> {
        if matches!(method, Method::Ack | Method::Bye | Method::Cancel) {
            return Err(DialogError::DedicatedBuilder(method));
        }
        if self.state == DialogState::Terminated {
            return Err(DialogError::Terminated);
        }
        if method == Method::Invite && (self.local_invite.is_some() || self.remote_invite.is_some())
        {
            return Err(DialogError::InvitePending);
        }
        if contact.is_none() && is_target_refresh(&method) {
            return Err(DialogError::ContactRequired(method));
        }
        let seq = self.next_seq()?;
        self.local_seq = Some(seq);
        if method == Method::Invite {
            self.local_invite = Some(seq);
        }
        let b = self.base(method, seq, via);
        Ok(match contact {
            Some(c) => b.contact(c.clone()),
            None => b,
        })
    }

    /// The ACK for the 2xx to our latest answered INVITE (§13.2.2.4): the INVITE's CSeq number
    /// with method ACK, a new branch in `via`, routed like any request in the dialog, with
    /// `body` (an SDP answer) when given. The local CSeq does not change. The ACK is kept and
    /// resent when that 2xx is retransmitted.
    pub fn ack(
        &mut self,
        via: Via,
        body: Option<(MediaType, Bytes)>,
    ) -> Result<Request, DialogError> {
        let seq = self.ack_seq.ok_or(DialogError::NothingToAck)?;
        let mut b = self.base(Method::Ack, seq, via);
        if let Some((content_type, body)) = body {
            b = b.body(content_type, body);
        }
        let ack = b.build();
        self.last_ack = Some((seq, ack.clone()));
        Ok(ack)
    }

    /// A BYE (§15.1.1), which terminates the dialog at once with [`Cause::ByeSent`]. The
    /// callee may not send one on an early dialog.
    pub fn bye(&mut self, via: Via) -> Result<(Request, StateChange), DialogError> {
        if self.role == Role::Uas && self.state == DialogState::Early {
            return Err(DialogError::ByeOnEarlyDialog);
        }
        let bye = self.build_bye(via)?;
        let change = self
            .change(DialogState::Terminated, Cause::ByeSent)
            .ok_or(DialogError::Terminated)?;
        Ok((bye, change))
    }

    /// A BYE with the next local CSeq, without changing the state.
    pub(super) fn build_bye(&mut self, via: Via) -> Result<Request, DialogError> {
        if self.state == DialogState::Terminated {
            return Err(DialogError::Terminated);
        }
        let seq = self.next_seq()?;
        self.local_seq = Some(seq);
        Ok(self.base(Method::Bye, seq, via).build())
    }
}
