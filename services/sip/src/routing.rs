//! Where responses go (RFC 3261 §18.2.1, §18.2.2; RFC 3581 rport).
//!
//! Switchboard answers to the address a request came from, never to a host a message merely
//! names: `received` is always the source address, and `maddr` is not followed.

use std::net::SocketAddr;

use crate::header::Via;

/// Stamps the top Via of a received request per §18.2.1 and RFC 3581: `received` when sent-by
/// differs from the source address (always when `rport` was asked for), and the `rport` value.
pub fn stamp_received(via: &mut Via, source: SocketAddr) {
    let rport_requested = via.params.contains("rport");
    let sent_by_matches = via.host.ip() == Some(source.ip());
    if !sent_by_matches || rport_requested {
        // An IP address displays without brackets, as `received` wants it.
        via.params.set("received", Some(&source.ip().to_string()));
    }
    if rport_requested {
        via.params.set("rport", Some(&source.port().to_string()));
    }
}

/// Where a response over an unreliable transport goes: the source address, to the `rport` port
/// when present, else to the sent-by port (default 5060).
pub fn response_destination(top_via: &Via, source: SocketAddr) -> SocketAddr {
    let port = match top_via.rport() {
        Some(Some(p)) => p,
        Some(None) => source.port(),
        None => top_via.port.unwrap_or(5060),
    };
    SocketAddr::new(source.ip(), port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Transport;
    use crate::uri::Host;

    fn via(host: Host, port: Option<u16>) -> Via {
        Via::new(Transport::Udp, host, port, "z9hG4bK1")
    }

    #[test]
    fn received_is_added_when_sent_by_is_a_name() {
        let mut v = via(Host::Domain("pc33.example.com".into()), None);
        stamp_received(
            &mut v,
            "127.0.0.9:7000".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(v.params.value("received"), Some("127.0.0.9"));
        assert_eq!(v.rport(), None);
    }

    #[test]
    fn no_received_when_sent_by_is_the_source_ip() {
        let mut v = via(Host::Ipv4([127, 0, 0, 1].into()), Some(5070));
        stamp_received(
            &mut v,
            "127.0.0.1:5070".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert!(!v.params.contains("received"));
    }

    #[test]
    fn rport_is_filled_and_response_goes_to_source_port() {
        let mut v = via(Host::Ipv4([10, 0, 0, 1].into()), Some(5060));
        v.params.set("rport", None);
        let src: SocketAddr = "127.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!());
        stamp_received(&mut v, src);
        assert_eq!(v.params.value("rport"), Some("40000"));
        assert_eq!(v.params.value("received"), Some("127.0.0.1"));
        assert_eq!(response_destination(&v, src), src);
    }

    #[test]
    fn without_rport_the_response_goes_to_source_ip_and_via_port() {
        let v = via(Host::Domain("example.com".into()), Some(5080));
        let src: SocketAddr = "127.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(
            response_destination(&v, src),
            "127.0.0.1:5080".parse().unwrap_or_else(|_| unreachable!())
        );
        let v = via(Host::Domain("example.com".into()), None);
        assert_eq!(response_destination(&v, src).port(), 5060);
    }

    #[test]
    fn ipv6_received_has_no_brackets() {
        let mut v = via(Host::Domain("h.example".into()), None);
        stamp_received(
            &mut v,
            "[::1]:5060".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(v.params.value("received"), Some("::1"));
        assert_eq!(
            v.received(),
            Some("::1".parse().unwrap_or_else(|_| unreachable!()))
        );
    }
}
