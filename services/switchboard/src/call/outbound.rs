//! The callee's leg on the wire: the INVITE Switchboard sends to a registered binding
//! (RFC 3261 §8.1.1: a new Call-ID, From tag and branch; the binding's Path as Route,
//! RFC 3327) and the CANCEL for it (§9.1).

use std::net::SocketAddr;

use bytestring::ByteString;
use registrar::location::Binding;
use sip::{Header, Host, MediaType, Method, NameAddr, Request, RequestBuilder, SipUri, Uri};

use crate::transport::{Flow, TransportKind};
use crate::ua_core::new_tag;
pub use crate::ua_core::outgoing::new_via;
use crate::ua_core::outgoing::{binding_flow, header_uri};

/// Why a binding cannot be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The binding's Contact is not a SIP URI we can parse.
    #[error("contact {0:?} is not a usable SIP URI")]
    BadContact(String),
    /// The binding's flow runs on a transport Switchboard does not have.
    #[error("transport {0} is not served")]
    Transport(&'static str),
}

/// The flow to reach `binding` on: our socket it registered through, to its source
/// (symmetric routing, RFC 3581).
pub fn flow_to(binding: &Binding) -> Result<Flow, OutboundError> {
    binding_flow(&binding.flow, binding.destination()).map_err(OutboundError::Transport)
}

/// The binding to call: the best one (bindings come best first) that is not known to be
/// unreachable.
pub fn best_binding(bindings: &[Binding]) -> Option<&Binding> {
    bindings
        .iter()
        .find(|b| b.reachability != registrar::location::Reachability::Unreachable)
}

/// `sip:user@local` (with `transport=tcp` over TCP), for From, To and Contact.
pub fn local_uri(user: &str, local: SocketAddr, transport: TransportKind) -> Uri {
    let mut uri = SipUri::new(Some(user), Host::from(local.ip()), Some(local.port()));
    if transport == TransportKind::Tcp {
        uri.params.set("transport", Some("tcp"));
    }
    Uri::Sip(uri)
}

/// Who the callee sees calling, and whom the INVITE is for.
#[derive(Debug, Clone)]
pub struct Parties {
    /// The caller's user part (shown as the From user).
    pub caller_user: String,
    /// The caller's display name as its From wrote it (quotes kept), if it had one.
    pub caller_display: Option<ByteString>,
    /// The callee's address-of-record (the To user).
    pub callee: String,
    /// Max-Forwards for the new request: the caller's less one (loop protection across
    /// the B2BUA).
    pub max_forwards: u8,
}

/// The INVITE to `binding` over `flow` from Switchboard's address `local` with `sdp`.
pub fn invite(
    binding: &Binding,
    flow: &Flow,
    local: SocketAddr,
    parties: &Parties,
    sdp: String,
) -> Result<Request, OutboundError> {
    let uri = header_uri(&binding.contact)
        .filter(|u| u.as_sip().is_some())
        .ok_or_else(|| OutboundError::BadContact(binding.contact.to_string()))?;
    let mut from = NameAddr::new(local_uri(&parties.caller_user, local, flow.transport));
    if let Some(name) = &parties.caller_display {
        from.display_name = Some(name.clone());
    }
    from.params.set("tag", Some(&new_tag()));
    let to = NameAddr::new(local_uri(&parties.callee, local, flow.transport));
    let call_id = format!("{}@{}", new_tag(), local.ip());
    let contact = NameAddr::new(local_uri("switchboard", local, flow.transport));
    let mut builder = RequestBuilder::new(Method::Invite, uri)
        .via(new_via(local, flow.transport))
        .from(from)
        .to(to)
        .call_id(&call_id)
        .cseq(1)
        .contact(contact)
        .header(crate::ua_core::allow())
        .header(crate::ua_core::supported())
        .header(Header::UserAgent(ByteString::from_static(
            crate::SERVER_NAME,
        )));
    let route: Vec<NameAddr> = binding
        .path
        .iter()
        .filter_map(|p| header_uri(p))
        .map(NameAddr::new)
        .collect();
    if !route.is_empty() {
        builder = builder.header(Header::Route(route));
    }
    let mut request = builder
        .body(
            MediaType::new("application", "sdp"),
            sdp.into_bytes().into(),
        )
        .build();
    request
        .headers
        .set(Header::MaxForwards(parties.max_forwards));
    Ok(request)
}

/// The CANCEL for `invite` (§9.1): its Request-URI, Call-ID, To, From, Route and top Via
/// (so the same branch), CSeq number with method CANCEL, no body.
pub fn cancel(invite: &Request) -> Request {
    let mut headers = sip::Headers::new();
    for header in invite.headers.iter() {
        match header {
            Header::Via(vias) => {
                if let Some(top) = vias.first() {
                    headers.push(Header::Via(vec![top.clone()]));
                }
            }
            Header::From(_)
            | Header::To(_)
            | Header::CallId(_)
            | Header::Route(_)
            | Header::MaxForwards(_) => headers.push(header.clone()),
            Header::CSeq(cseq) => {
                let mut cseq = cseq.clone();
                cseq.method = Method::Cancel;
                headers.push(Header::CSeq(cseq));
            }
            _ => {}
        }
    }
    headers.push(Header::ContentLength(0));
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers,
        body: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use registrar::UnixTime;
    use registrar::location::{BindingFlow, FlowTransport, Reachability};

    use super::*;

    fn binding(contact: &str, path: Vec<Box<str>>) -> Binding {
        let source: SocketAddr = "127.0.0.1:40000".parse().expect("address");
        Binding {
            aor: "bob".into(),
            contact: contact.into(),
            q_milli: None,
            expires_at: UnixTime(10_000_000),
            call_id: "reg".into(),
            cseq: 1,
            path,
            user_agent: None,
            instance_id: None,
            reg_id: None,
            flow: BindingFlow {
                transport: FlowTransport::Udp,
                local: "127.0.0.1:5060".parse().expect("address"),
                source,
            },
            registered_at: UnixTime(0),
            refreshed_at: UnixTime(0),
            reachability: Reachability::Reachable,
            last_seen: UnixTime(0),
            qualify: Default::default(),
        }
    }

    fn parties() -> Parties {
        Parties {
            caller_user: "alice".into(),
            caller_display: Some(ByteString::from_static("\"Alice\"")),
            callee: "bob".into(),
            max_forwards: 69,
        }
    }

    #[test]
    fn the_invite_goes_to_the_contact_over_the_registration_flow() {
        let b = binding(
            "<sip:bob@10.0.0.7:5062>",
            vec!["<sip:edge.example;lr>".into()],
        );
        let flow = flow_to(&b).expect("udp");
        assert_eq!(
            flow.peer, b.flow.source,
            "symmetric: the source, not the contact"
        );
        let req = invite(&b, &flow, flow.local, &parties(), "v=0\r\n".into()).expect("builds");
        assert_eq!(req.uri.to_string(), "sip:bob@10.0.0.7:5062");
        assert!(req.validate().is_ok());
        assert!(req.headers.from().and_then(NameAddr::tag).is_some());
        assert!(req.headers.to().and_then(NameAddr::tag).is_none());
        let routes: Vec<String> = req.headers.routes().map(|r| r.uri.to_string()).collect();
        assert_eq!(routes, ["sip:edge.example;lr"]);
        assert_eq!(req.headers.contacts().count(), 1);
        let text = String::from_utf8_lossy(&req.to_bytes()).into_owned();
        assert!(text.contains("Max-Forwards: 69"), "{text}");
        assert!(
            text.contains("\"Alice\" <sip:alice@127.0.0.1:5060>"),
            "{text}"
        );
    }

    #[test]
    fn the_cancel_matches_the_invite() {
        let b = binding("sip:bob@127.0.0.1:40000", Vec::new());
        let flow = flow_to(&b).expect("udp");
        let inv = invite(&b, &flow, flow.local, &parties(), "v=0\r\n".into()).expect("builds");
        let c = cancel(&inv);
        assert_eq!(c.method, Method::Cancel);
        assert_eq!(c.uri, inv.uri);
        assert_eq!(
            c.headers
                .top_via()
                .and_then(|v| v.branch().map(str::to_owned)),
            inv.headers
                .top_via()
                .and_then(|v| v.branch().map(str::to_owned))
        );
        assert_eq!(c.headers.cseq().map(|s| s.seq), Some(1));
        assert_eq!(c.headers.call_id(), inv.headers.call_id());
        assert!(c.body.is_empty());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_contact_that_is_no_sip_uri_cannot_be_called() {
        let b = binding("tel:+15551234", Vec::new());
        let flow = flow_to(&b).expect("udp");
        assert!(matches!(
            invite(&b, &flow, flow.local, &parties(), String::new()),
            Err(OutboundError::BadContact(_))
        ));
    }
}
