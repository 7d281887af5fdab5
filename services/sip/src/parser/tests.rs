//! Unit tests of the message parser.

use super::*;
use crate::header::{Contact, Transport};
use crate::uri::{Host, Uri};

fn req(text: &str) -> Request {
    match parse_message(Bytes::from(text.replace('\n', "\r\n"))) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("expected a request: {other:?}"),
    }
}

#[test]
fn compact_forms_are_recognised() {
    let r = req(
        "OPTIONS sip:a@b SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\nf: <sip:x@y>;tag=1\nt: sip:a@b\ni: abc@d\nCSeq: 1 OPTIONS\nm: <sip:x@h>\nk: path, 100rel\nl: 0\n\n",
    );
    assert_eq!(r.headers.call_id().map(|c| &**c), Some("abc@d"));
    assert_eq!(r.headers.from().and_then(|f| f.tag()), Some("1"));
    assert_eq!(r.headers.contacts().count(), 1);
    assert!(
        r.headers
            .iter()
            .any(|h| matches!(h, Header::Supported(t) if t.len() == 2))
    );
    assert_eq!(r.validate(), Ok(()));
}

#[test]
fn ipv6_references_in_uri_and_via() {
    let r = req(
        "OPTIONS sip:alice@[2001:db8::10]:5070;transport=tcp SIP/2.0\nVia: SIP/2.0/TCP [2001:db8::9]:5060;branch=z9hG4bKx;received=2001:db8::1;rport=5061\nTo: <sip:a@[::1]>\nFrom: <sip:b@[::1]>;tag=2\nCall-ID: x\nCSeq: 2 OPTIONS\nContent-Length: 0\n\n",
    );
    let uri = r.uri.as_sip().expect("sip uri");
    assert_eq!(uri.host, Host::Ipv6("2001:db8::10".parse().expect("v6")));
    assert_eq!((uri.port, uri.transport()), (Some(5070), Some("tcp")));
    let via = r.headers.top_via().expect("via");
    assert_eq!(via.transport, Transport::Tcp);
    assert_eq!(via.received(), Some("2001:db8::1".parse().expect("v6")));
    assert_eq!(via.rport(), Some(Some(5061)));
}

#[test]
fn tel_and_star_contact() {
    let r = req(
        "REGISTER sip:r SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <tel:+15551234;phone-context=example.com>\nFrom: <sip:b@c>;tag=2\nCall-ID: x\nCSeq: 2 REGISTER\nContact: *\nExpires: 0\nContent-Length: 0\n\n",
    );
    assert!(matches!(&r.headers.to().expect("to").uri, Uri::Tel(t) if &*t.number == "+15551234"));
    assert!(r.headers.contact_star());
    assert!(
        r.headers
            .iter()
            .any(|h| matches!(h, Header::Contact(Contact::Star)))
    );
    assert_eq!(r.headers.expires(), Some(0));
}

#[test]
fn contact_expires_and_q_are_read() {
    let r = req(
        "REGISTER sip:r SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\nFrom: <sip:a@b>;tag=2\nCall-ID: x\nCSeq: 2 REGISTER\nContact: <sip:a@1.2.3.4>;q=0.7;expires=60, \"Desk\" <sip:a@5.6.7.8>;q=1\nContent-Length: 0\n\n",
    );
    let c: Vec<_> = r.headers.contacts().collect();
    assert_eq!((c[0].q_millis(), c[0].expires()), (Some(700), Some(60)));
    assert_eq!(c[1].q_millis(), Some(1000));
    assert_eq!(c[1].display_name_text().as_deref(), Some("Desk"));
}

#[test]
fn bad_q_value_is_rejected_with_offset() {
    let text = "REGISTER sip:r SIP/2.0\r\nContact: <sip:a@b>;q=1.5\r\n\r\n";
    let err = parse_message(Bytes::from(text)).expect_err("q above 1");
    assert!(err.to_string().contains("q between 0 and 1"), "{err}");
    assert!(err.offset >= text.find("<sip:a@b>").expect("contact"));
}

#[test]
fn unparsable_headers_leave_a_raw_message_to_answer() {
    let text = Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 99999999999 OPTIONS\r\n\r\n");
    assert!(parse_message(text.clone()).is_err());
    let raw = parse_raw(&text).expect("lines split");
    assert!(!raw.is_response());
    assert_eq!(raw.named(&HeaderName::Via).count(), 1);
    assert_eq!(&raw.headers[1].value[..], b"99999999999 OPTIONS");
}

#[test]
fn leading_crlfs_are_ignored() {
    let r = req("\n\nOPTIONS sip:a@b SIP/2.0\nContent-Length: 0\n\n");
    assert_eq!(r.method, Method::Options);
}

#[test]
fn header_line_without_colon_is_an_error() {
    let err = parse_message(Bytes::from_static(
        b"OPTIONS sip:a@b SIP/2.0\r\nNoColonHere\r\n\r\n",
    ))
    .expect_err("bad line");
    assert_eq!(err.kind, ParseErrorKind::HeaderLine);
    assert_eq!(err.offset, 25 + 11);
}

#[test]
fn one_step_parse_matches_raw_then_typed() {
    // parse_message types from offsets; parse_typed from a RawMessage. Same results, folding,
    // bare CRs, untyped known headers and error offsets included.
    for text in [
        &b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;\r\n branch=z9hG4bK1\r\nSubject: a\r\n\tb\r\nX-Y: 1\r b\r\nAllow: INVITE, FOO\r\nCSeq: 1 OPTIONS\r\nContent-Length: 2\r\n\r\nhi"[..],
        b"SIP/2.0 180 Ringing\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n ;tag=2\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nContact: <sip:a@b>;q=1.5\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nMax-Forwards:\r\n 300\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nl: 5\r\n\r\nab",
    ] {
        let input = Bytes::from_static(text);
        let raw = parse_raw(&input).expect("lines split");
        assert_eq!(parse_message(input.clone()), parse_typed(&raw), "{text:?}");
    }
    let r = req("OPTIONS sip:a@b SIP/2.0\nSubject: a\n b\nCSeq: 7 FOO\n\n");
    assert_eq!(
        r.headers.other("Subject").map(|v| &v[..]),
        Some(&b"a\r\n b"[..])
    );
    assert_eq!(
        r.headers.cseq().map(|c| c.method.clone()),
        Some(Method::Extension("FOO".into()))
    );
}

#[test]
fn cr_and_lf_are_found_at_every_position() {
    for len in 0..40 {
        let clean = vec![b'a'; len];
        assert!(!has_cr_or_lf(&clean));
        for at in 0..len {
            for c in [b'\r', b'\n'] {
                let mut v = clean.clone();
                v[at] = c;
                assert!(has_cr_or_lf(&v), "{len} {at} {c}");
            }
        }
    }
    assert!(!has_cr_or_lf(&[
        0x0c, 0x0e, 0x8a, 0x8d, 0xff, 0x00, 0x09, 0x0b, 0x0c
    ]));
}
