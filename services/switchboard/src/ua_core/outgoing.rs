//! Pieces of the requests Switchboard sends to registered devices (qualify OPTIONS, calls'
//! INVITEs, in-dialog requests): the Via with a fresh branch, the flow a binding is reached
//! on, and the URIs a stored Contact or Path names.

use std::net::SocketAddr;

use registrar::location::{BindingFlow, FlowTransport};
use sip::{Host, Transport, Uri, Via};

use super::new_tag;
use crate::transport::{Flow, TransportKind};

/// A Via for a request we send from `local` over `transport`: a fresh RFC 3261 branch, and
/// rport (RFC 3581) so answers come back to the port we sent from.
pub fn new_via(local: SocketAddr, transport: TransportKind) -> Via {
    let via_transport = match transport {
        TransportKind::Udp => Transport::Udp,
        TransportKind::Tcp => Transport::Tcp,
    };
    let branch = format!("{}{}", sip::MAGIC_COOKIE, new_tag());
    let mut via = Via::new(
        via_transport,
        Host::from(local.ip()),
        Some(local.port()),
        &branch,
    );
    via.params.set("rport", None);
    via
}

/// The flow to a binding registered over `flow`: our socket it registered through, to
/// `destination` (its source: symmetric routing, RFC 3581). `Err` names a transport
/// Switchboard does not serve.
pub fn binding_flow(flow: &BindingFlow, destination: SocketAddr) -> Result<Flow, &'static str> {
    let transport = match flow.transport {
        FlowTransport::Udp => TransportKind::Udp,
        FlowTransport::Tcp => TransportKind::Tcp,
        other => return Err(other.as_str()),
    };
    Ok(Flow {
        transport,
        local: flow.local,
        peer: destination,
    })
}

/// The URI a stored Contact or Path names, written with or without angle brackets.
pub fn header_uri(text: &str) -> Option<Uri> {
    let inner = match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text,
    };
    Uri::parse(inner.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_uris_are_read_with_or_without_brackets() {
        for text in ["<sip:a@h;lr>", "sip:a@h;lr", " <sip:a@h;lr> "] {
            assert_eq!(
                header_uri(text).map(|u| u.to_string()).as_deref(),
                Some("sip:a@h;lr")
            );
        }
        assert!(header_uri("<not a uri").is_none());
    }

    #[test]
    fn vias_have_a_fresh_rfc3261_branch_and_rport() {
        let local: SocketAddr = "127.0.0.1:5060".parse().expect("address");
        let (a, b) = (
            new_via(local, TransportKind::Udp),
            new_via(local, TransportKind::Tcp),
        );
        assert!(a.branch().is_some_and(|x| x.starts_with(sip::MAGIC_COOKIE)));
        assert_ne!(a.branch(), b.branch());
        assert!(a.params.get("rport").is_some());
    }
}
