//! Qualify: the OPTIONS the registrar sends each binding to learn whether it still answers.

use std::net::SocketAddr;

use bytestring::ByteString;
use registrar::location::QualifyTarget;
use sip::{Header, Host, Method, NameAddr, Request, RequestBuilder, SipUri, Uri};

use crate::transport::{Flow, TransportKind};
use crate::ua_core::new_tag;
use crate::ua_core::outgoing::{binding_flow, header_uri, new_via};

/// Why a qualify could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QualifyError {
    /// The binding's Contact is not a URI we can parse.
    #[error("contact {0:?} is not a usable SIP URI")]
    BadContact(String),
    /// The binding's flow runs on a transport Switchboard does not have.
    #[error("transport {0} is not served")]
    Transport(&'static str),
}

/// The flow a qualify goes out on: our socket the binding registered through, to the
/// binding's destination.
pub fn flow_for(target: &QualifyTarget) -> Result<Flow, QualifyError> {
    binding_flow(&target.flow, target.destination).map_err(QualifyError::Transport)
}

/// The OPTIONS for `target` (RFC 3261 §11: a request outside a dialog with a fresh Call-ID),
/// sent from `local` on `flow`; the binding's Path becomes its Route set (RFC 3327 §5.3).
pub fn options_request(
    target: &QualifyTarget,
    path: &[Box<str>],
    flow: &Flow,
    user_agent: &str,
) -> Result<Request, QualifyError> {
    let uri = header_uri(&target.contact)
        .filter(|u| u.as_sip().is_some())
        .ok_or_else(|| QualifyError::BadContact(target.contact.to_string()))?;
    let local: SocketAddr = flow.local;
    let via = new_via(local, flow.transport);
    let mut from_uri = SipUri::new(
        Some("switchboard"),
        Host::from(local.ip()),
        Some(local.port()),
    );
    if flow.transport == TransportKind::Tcp {
        from_uri.params.set("transport", Some("tcp"));
    }
    let mut from = NameAddr::new(Uri::Sip(from_uri));
    from.params.set("tag", Some(&new_tag()));
    let call_id = format!("{}@{}", new_tag(), local.ip());
    let mut builder = RequestBuilder::new(Method::Options, uri.clone())
        .via(via)
        .from(from)
        .to(NameAddr::new(uri))
        .call_id(&call_id)
        .cseq(1)
        .header(Header::UserAgent(ByteString::from(user_agent.to_owned())));
    let route: Vec<NameAddr> = path
        .iter()
        .filter_map(|p| header_uri(p))
        .map(NameAddr::new)
        .collect();
    if !route.is_empty() {
        builder = builder.header(Header::Route(route));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use registrar::location::{BindingFlow, BindingKey, FlowTransport};

    use super::*;

    fn target(contact: &str, transport: FlowTransport) -> QualifyTarget {
        let source: SocketAddr = "198.51.100.9:40000".parse().expect("address");
        QualifyTarget {
            key: BindingKey {
                aor: "alice".into(),
                contact: contact.into(),
            },
            contact: contact.into(),
            destination: source,
            flow: BindingFlow {
                transport,
                local: "127.0.0.1:5060".parse().expect("address"),
                source,
            },
        }
    }

    #[test]
    fn the_options_goes_to_the_contact_over_the_registration_flow() {
        let t = target("sip:alice@10.0.0.5:5062;transport=udp", FlowTransport::Udp);
        let flow = flow_for(&t).expect("udp is served");
        assert_eq!(flow.peer, t.destination);
        let req = options_request(&t, &[], &flow, "Switchboard/test").expect("builds");
        assert_eq!(req.method, Method::Options);
        assert_eq!(req.uri.to_string(), "sip:alice@10.0.0.5:5062;transport=udp");
        let via = req.headers.top_via().expect("via");
        assert!(
            via.branch()
                .is_some_and(|b| b.starts_with(sip::MAGIC_COOKIE))
        );
        assert!(req.headers.from().and_then(NameAddr::tag).is_some());
        assert!(req.headers.to().and_then(NameAddr::tag).is_none());
        assert_eq!(req.headers.cseq().map(|c| c.seq), Some(1));
        assert!(req.validate().is_ok());
    }

    #[test]
    fn a_path_becomes_the_route_set() {
        let t = target("sip:alice@10.0.0.5", FlowTransport::Tcp);
        let flow = flow_for(&t).expect("tcp is served");
        let path: Vec<Box<str>> = vec![
            "<sip:edge1.example;lr>".into(),
            "sip:edge2.example;lr".into(),
        ];
        let req = options_request(&t, &path, &flow, "ua").expect("builds");
        let routes: Vec<String> = req.headers.routes().map(|r| r.uri.to_string()).collect();
        assert_eq!(routes, ["sip:edge1.example;lr", "sip:edge2.example;lr"]);
    }

    #[test]
    fn contacts_and_transports_that_cannot_be_qualified_are_errors() {
        let t = target("tel:+15551234", FlowTransport::Udp);
        let flow = flow_for(&t).expect("udp");
        assert!(matches!(
            options_request(&t, &[], &flow, "ua"),
            Err(QualifyError::BadContact(_))
        ));
        assert_eq!(
            flow_for(&target("sip:a@h", FlowTransport::Wss)),
            Err(QualifyError::Transport("wss"))
        );
    }
}
