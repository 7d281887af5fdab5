//! Fuzz target: arbitrary bytes through every entry point of the SIP message layer.
//!
//! - `parse_raw` and `parse_message` never panic, and `parse_typed(&parse_raw(b)?)` gives the
//!   same result as `parse_message(b)`, error offsets included;
//! - a message that parses serializes to bytes that parse again to an equal message
//!   (`parse(to_bytes(m)) == m`), and serializing that gives the same bytes again;
//! - the accessors Switchboard reads, `validate`, `Response::from_request` and the routing
//!   helpers never panic on a parsed message;
//! - `StreamFramer` never panics, whatever the bytes and however they are split;
//! - `Uri::parse` never panics on UTF-8 input, and a URI that parses re-parses from its Display.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip::{Frame, FramingLimits, Header, Response, SipMessage, StreamFramer, Uri};

fuzz_target!(|data: &[u8]| check(data));

fn check(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);

    // The line splitter on its own, and the two-step parse, which must agree with the one-step
    // `parse_message` (it types straight from offsets, without a RawMessage).
    let parsed = sip::parse_message(input.clone());
    match sip::parse_raw(&input) {
        Ok(raw) => {
            let _ = raw.is_response();
            let _ = raw.named(&sip::HeaderName::Via).count();
            assert_eq!(
                sip::parse_typed(&raw),
                parsed,
                "parse_typed(parse_raw) != parse_message"
            );
        }
        Err(e) => assert_eq!(
            Err(e),
            parsed,
            "parse_raw and parse_message fail differently"
        ),
    }

    if let Ok(m) = parsed {
        exercise(&m);
        let wire = m.to_bytes();
        let again = match sip::parse_message(wire.clone()) {
            Ok(again) => again,
            Err(e) => panic!(
                "serialized message does not parse again: {e}\n--- input ---\n{:?}\n--- serialized ---\n{:?}",
                String::from_utf8_lossy(data),
                String::from_utf8_lossy(&wire),
            ),
        };
        assert_eq!(
            again,
            m,
            "parse(to_bytes(m)) != m\n--- serialized ---\n{:?}",
            String::from_utf8_lossy(&wire)
        );
        let wire2 = again.to_bytes();
        assert_eq!(
            wire2, wire,
            "serialization is not a fixpoint after one round"
        );
    }

    // Stream framing: the same bytes pushed in two reads, split where the first byte says.
    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let mut framer = StreamFramer::new(FramingLimits {
        max_header_bytes: 8 * 1024,
        max_body_bytes: 8 * 1024,
    });
    framer.push(&data[..split]);
    drain(&mut framer);
    framer.push(&data[split..]);
    drain(&mut framer);
    let mut whole = StreamFramer::default();
    whole.push(data);
    drain(&mut whole);

    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(uri) = Uri::parse(text)
    {
        let shown = uri.to_string();
        if let Err(e) = Uri::parse(&shown) {
            panic!("URI {text:?} displays as {shown:?}, which does not parse: {e}");
        }
        let _ = uri.scheme();
        if let Some(sip) = uri.as_sip() {
            let _ = (sip.transport(), sip.is_loose_route(), sip.user_decoded());
        }
    }
}

fn drain(framer: &mut StreamFramer) {
    while let Ok(Some(frame)) = framer.next_frame() {
        if let Frame::Message(bytes) = frame
            && let Ok(m) = sip::parse_message(bytes)
        {
            let _ = m.to_bytes();
        }
    }
}

/// What a server does with a message it received: read the headers, validate, answer, route.
fn exercise(m: &SipMessage) {
    let h = m.headers();
    let _ = m.validate();
    for via in h.vias() {
        let _ = (
            via.branch(),
            via.received(),
            via.rport(),
            via.maddr(),
            via.ttl(),
        );
        let _ = via.has_rfc3261_branch();
        let _ = via.transport.is_reliable();
    }
    for a in h.from().into_iter().chain(h.to()).chain(h.contacts()) {
        let _ = (a.tag(), a.display_name_text(), a.expires(), a.q_millis());
    }
    let _ = (h.call_id(), h.cseq(), h.max_forwards(), h.content_type());
    let _ = (
        h.content_length(),
        h.expires(),
        h.contact_star(),
        h.accept(),
    );
    let _ = h.routes().count() + h.record_routes().count();
    let _ = h.require().count() + h.proxy_require().count();
    for header in h.iter() {
        if let Header::Authorization(a) | Header::WwwAuthenticate(a) = header {
            let _ = (a.param("nonce"), a.param("response"), a.is_digest());
        }
    }
    let source = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 5070);
    if let Some(top) = h.top_via() {
        let _ = sip::routing::response_destination(top, source);
        let mut top = top.clone();
        sip::routing::stamp_received(&mut top, source);
    }
    if let SipMessage::Request(req) = m {
        let resp = Response::from_request(req, 400, Some("fuzz"));
        let _ = sip::parse_message(resp.to_bytes());
    }
}
