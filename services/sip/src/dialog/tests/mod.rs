//! Dialog tests on virtual time: every instant is a fixed base plus a duration.

mod creation;
mod forking;
mod incoming;
mod requests;
mod retransmit;

use std::time::{Duration, Instant};

use bytestring::ByteString;

use super::{Dialog, DialogAction, DialogConfig, StateChange};
use crate::builder::RequestBuilder;
use crate::header::{Contact, Header, NameAddr, Transport, Via};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::uri::{Host, Uri};

/// Our tag as caller (UAC) and callee (UAS).
pub(super) const UAC_TAG: &str = "alice-tag";
pub(super) const UAS_TAG: &str = "bob-tag";
pub(super) const CALL_ID: &str = "call-1@alice.example.com";
pub(super) const INVITE_SEQ: u32 = 10;

pub(super) fn uri(s: &str) -> Uri {
    Uri::parse(s).expect("test URI parses")
}

pub(super) fn addr(s: &str) -> NameAddr {
    NameAddr::new(uri(s))
}

pub(super) fn via(branch: &str) -> Via {
    Via::new(
        Transport::Udp,
        Host::Domain(ByteString::from("alice.example.com")),
        Some(5060),
        branch,
    )
}

/// A Via factory handing out z9hG4bK-1, z9hG4bK-2, …
pub(super) fn branches() -> impl FnMut() -> Via {
    let mut n = 0;
    move || {
        n += 1;
        via(&format!("z9hG4bK-{n}"))
    }
}

/// A fixed base instant; tests only ever add to it.
pub(super) fn t0() -> Instant {
    Instant::now()
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Alice's INVITE to Bob, as sent by Alice (UAC tests) or received by Bob (UAS tests),
/// with Record-Route entries as a proxy chain would leave them.
pub(super) fn invite_with(request_uri: &str, record_route: &[&str]) -> Request {
    let mut from = addr("sip:alice@example.com");
    from.params.set("tag", Some(UAC_TAG));
    let mut b = RequestBuilder::new(Method::Invite, uri(request_uri))
        .via(via("z9hG4bK-invite"))
        .from(from)
        .to(addr("sip:bob@example.com"))
        .call_id(CALL_ID)
        .cseq(INVITE_SEQ)
        .contact(addr("sip:alice@192.0.2.1:5060"));
    if !record_route.is_empty() {
        b = b.header(Header::RecordRoute(
            record_route.iter().map(|r| addr(r)).collect(),
        ));
    }
    b.build()
}

pub(super) fn invite() -> Request {
    invite_with("sip:bob@example.com", &[])
}

/// A response to `req` with an optional To tag, Contact and Record-Route.
pub(super) fn answer(
    req: &Request,
    status: u16,
    tag: Option<&str>,
    contact: Option<&str>,
    record_route: &[&str],
) -> Response {
    let mut r = Response::from_request(req, status, tag);
    if !record_route.is_empty() {
        r = r.with_header(Header::RecordRoute(
            record_route.iter().map(|x| addr(x)).collect(),
        ));
    }
    if let Some(c) = contact {
        r = r.with_header(Header::Contact(Contact::Addresses(vec![addr(c)])));
    }
    r
}

/// Our (Alice's) confirmed UAC dialog with Bob, whose 200 carried `record_route`.
pub(super) fn uac_confirmed(record_route: &[&str]) -> Dialog {
    let inv = invite();
    let ok = answer(
        &inv,
        200,
        Some(UAS_TAG),
        Some("sip:bob@192.0.2.2:5060"),
        record_route,
    );
    Dialog::new_uac(&inv, &ok, false, DialogConfig::default())
        .expect("200 creates a dialog")
        .0
}

/// Our (Bob's) confirmed UAS dialog with Alice after sending a 200 at `now`.
pub(super) fn uas_confirmed(now: Instant) -> Dialog {
    let inv = invite();
    let ok = answer(&inv, 200, Some(UAS_TAG), Some("sip:bob@192.0.2.2"), &[]);
    Dialog::new_uas(&inv, &ok, false, DialogConfig::default(), now)
        .expect("sending 200 creates a dialog")
        .0
}

/// A request the peer of `d` sends within it: To carries our tag, From theirs.
pub(super) fn from_peer(d: &Dialog, method: Method, seq: u32, contact: Option<&str>) -> Request {
    let mut to = NameAddr::new(d.local_uri().clone());
    to.params.set("tag", Some(&d.id().local_tag));
    let mut from = NameAddr::new(d.remote_uri().clone());
    from.params.set("tag", Some(&d.id().remote_tag));
    let mut b = RequestBuilder::new(method, uri("sip:bob@192.0.2.2"))
        .via(via("z9hG4bK-peer"))
        .from(from)
        .to(to)
        .call_id(&d.id().call_id)
        .cseq(seq);
    if let Some(c) = contact {
        b = b.contact(addr(c));
    }
    b.build()
}

/// The state changes among `actions`.
pub(super) fn changes(actions: &[DialogAction]) -> Vec<&StateChange> {
    actions
        .iter()
        .filter_map(|a| match a {
            DialogAction::StateChanged(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// The requests among `actions`.
pub(super) fn requests(actions: &[DialogAction]) -> Vec<&Request> {
    actions
        .iter()
        .filter_map(|a| match a {
            DialogAction::SendRequest(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The Route URIs of a request, in order, as text.
pub(super) fn route_uris(req: &Request) -> Vec<String> {
    req.headers.routes().map(|r| r.uri.to_string()).collect()
}
