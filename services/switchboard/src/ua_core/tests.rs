//! UA core tests: each response code, mostly on the RFC 4475 torture messages.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use sip::{Header, HeaderName, Method, Response, SipMessage, parse_message};

use super::{Action, Inbound, Outbound, TransportKind, UaCore};
use crate::stats::SipCounters;

const SOURCE: &str = "127.0.0.1:40000";

fn source() -> SocketAddr {
    SOURCE.parse().expect("test source address parses")
}

fn core() -> UaCore {
    UaCore::new(Arc::new(SipCounters::default()))
}

/// A message from `services/sip/testdata/conformance/rfc4475/messages/`.
fn rfc4475(name: &str) -> Bytes {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sip/testdata/conformance/rfc4475/messages")
        .join(format!("{name}.dat"));
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Bytes::from(bytes)
}

fn handle_with(core: &UaCore, bytes: Bytes, transport: TransportKind) -> Vec<Action> {
    core.handle(&Inbound {
        bytes,
        source: source(),
        transport,
    })
}

/// The single message sent in reply, and the response parsed back.
fn answer_with(core: &UaCore, bytes: Bytes, transport: TransportKind) -> (Outbound, Response) {
    let mut actions = handle_with(core, bytes, transport);
    assert_eq!(actions.len(), 1, "expected exactly one action: {actions:?}");
    let Some(Action::Send(out)) = actions.pop() else {
        panic!("expected a Send action");
    };
    match parse_message(out.bytes.clone()) {
        Ok(SipMessage::Response(r)) => (out, r),
        other => panic!(
            "reply is not a parseable response ({other:?}):\n{}",
            String::from_utf8_lossy(&out.bytes)
        ),
    }
}

fn answer(bytes: Bytes) -> Response {
    answer_with(&core(), bytes, TransportKind::Udp).1
}

fn find<'a, T>(r: &'a Response, pick: impl Fn(&'a Header) -> Option<T>) -> Option<T> {
    r.headers.iter().find_map(pick)
}

fn has_allow(r: &Response) -> bool {
    find(r, |h| match h {
        Header::Allow(m) => Some(m.contains(&Method::Options) && m.contains(&Method::Invite)),
        _ => None,
    })
    .unwrap_or(false)
}

fn accepts_only_sdp(r: &Response) -> bool {
    find(r, |h| match h {
        Header::Accept(v) => Some(v.len() == 1 && v[0].is("application", "sdp")),
        _ => None,
    })
    .unwrap_or(false)
}

/// Checks what every final response carries: a To tag, Server, Content-Length 0.
fn assert_common(r: &Response) {
    assert!(
        r.headers.to().and_then(|t| t.tag()).is_some(),
        "no To tag in {}",
        r.status
    );
    assert!(
        find(r, |h| match h {
            Header::Server(s) => Some(s.starts_with("Switchboard/")),
            _ => None,
        })
        .unwrap_or(false),
        "no Server header"
    );
    assert_eq!(r.headers.content_length(), Some(0));
}

fn request(method: &str, extra: &str) -> Bytes {
    Bytes::from(format!(
        "{method} sip:agent@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bK-t1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@example.net>;tag=abc\r\n\
         To: <sip:agent@127.0.0.1>\r\n\
         Call-ID: test-call-1\r\n\
         CSeq: 1 {method}\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    ))
}

#[test]
fn options_gets_200_with_capabilities() {
    let (out, r) = answer_with(&core(), request("OPTIONS", ""), TransportKind::Udp);
    assert_eq!(r.status, 200);
    assert_common(&r);
    assert!(has_allow(&r));
    assert!(accepts_only_sdp(&r));
    assert!(r.headers.count(&HeaderName::Supported) == 1);
    assert_eq!(r.headers.call_id().map(|c| c.as_ref()), Some("test-call-1"));
    // rport: the response goes back to the source port, and received/rport are stamped.
    assert_eq!(out.destination, source());
    let via = r.headers.top_via().expect("Via copied");
    assert_eq!(via.params.value("received"), Some("127.0.0.1"));
    assert_eq!(via.params.value("rport"), Some("40000"));
    assert_eq!(via.branch(), Some("z9hG4bK-t1"));
}

#[test]
fn zero_max_forwards_is_processed_normally_by_an_endpoint() {
    let (out, r) = answer_with(&core(), rfc4475("zeromf"), TransportKind::Udp);
    assert_eq!(r.status, 200);
    assert_common(&r);
    // No rport: source IP, Via port (default 5060); never the host named in Via.
    assert_eq!(
        out.destination,
        "127.0.0.1:5060".parse::<SocketAddr>().expect("addr")
    );
}

#[test]
fn tcp_responses_go_back_to_the_connection_peer() {
    let (out, r) = answer_with(&core(), rfc4475("zeromf"), TransportKind::Tcp);
    assert_eq!(r.status, 200);
    assert_eq!(out.transport, TransportKind::Tcp);
    assert_eq!(out.destination, source());
}

#[test]
fn unknown_content_type_gets_415_with_accept() {
    let r = answer(rfc4475("invut"));
    assert_eq!(r.status, 415);
    assert_common(&r);
    assert!(accepts_only_sdp(&r));
}

/// The media types of the Accept header of `r`, as `type/subtype`.
fn accepted(r: &Response) -> Vec<String> {
    find(r, |h| match h {
        Header::Accept(v) => Some(
            v.iter()
                .map(|m| format!("{}/{}", m.kind, m.subtype))
                .collect(),
        ),
        _ => None,
    })
    .unwrap_or_default()
}

#[test]
fn info_with_a_dtmf_body_passes_the_content_checks_and_outside_a_dialog_gets_481() {
    for ct in [
        "application/dtmf-relay",
        "application/dtmf",
        "Application/DTMF-Relay",
    ] {
        let r = answer(request("INFO", &format!("Content-Type: {ct}\r\n")));
        assert_eq!(r.status, 481, "{ct}");
    }
    assert_eq!(answer(request("INFO", "")).status, 481);
}

#[test]
fn info_with_another_body_gets_415_accepting_the_dtmf_types() {
    for ct in ["text/plain", "application/sdp"] {
        let r = answer(request("INFO", &format!("Content-Type: {ct}\r\n")));
        assert_eq!(r.status, 415, "{ct}");
        assert_common(&r);
        assert_eq!(
            accepted(&r),
            ["application/dtmf-relay", "application/dtmf"],
            "{ct}"
        );
    }
}

#[test]
fn dtmf_bodies_are_for_info_only() {
    let r = answer(request(
        "OPTIONS",
        "Content-Type: application/dtmf-relay\r\n",
    ));
    assert_eq!(r.status, 415);
    assert!(accepts_only_sdp(&r));
}

#[test]
fn allow_lists_info() {
    let r = answer(request("OPTIONS", ""));
    let allow = find(&r, |h| match h {
        Header::Allow(m) => Some(m.clone()),
        _ => None,
    })
    .unwrap_or_default();
    assert!(allow.contains(&Method::Info), "{allow:?}");
}

#[test]
fn content_encoding_other_than_identity_gets_415_with_accept_encoding() {
    let r = answer(request("OPTIONS", "Content-Encoding: gzip\r\n"));
    assert_eq!(r.status, 415);
    assert_eq!(
        r.headers.other("Accept-Encoding").map(|v| &v[..]),
        Some(&b"identity"[..])
    );
    assert_eq!(
        answer(request("OPTIONS", "Content-Encoding: identity\r\n")).status,
        200
    );
}

#[test]
fn require_path_passes_the_checks_but_other_tags_still_get_420() {
    let c = core();
    let parse = |bytes: Bytes| match sip::parse_message(bytes) {
        Ok(sip::SipMessage::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    };
    let register = parse(request("REGISTER", "Require: path\r\n"));
    assert!(c.check(&register).is_ok());
    let both = parse(request("REGISTER", "Require: path, gruu\r\n"));
    let r = c.check(&both).expect_err("gruu is not supported");
    assert_eq!(r.status, 420);
    let tags: Vec<String> = find(&r, |h| match h {
        Header::Unsupported(v) => Some(v.iter().map(ToString::to_string).collect()),
        _ => None,
    })
    .expect("Unsupported header");
    assert_eq!(tags, ["gruu"]);
}

#[test]
fn unsupported_require_gets_420_listing_the_tags() {
    let r = answer(rfc4475("bext01"));
    assert_eq!(r.status, 420);
    assert_common(&r);
    let tags: Vec<String> = find(&r, |h| match h {
        Header::Unsupported(v) => Some(v.iter().map(ToString::to_string).collect()),
        _ => None,
    })
    .expect("Unsupported header");
    assert_eq!(tags, ["nothingSupportsThis", "nothingSupportsThisEither"]);
}

#[test]
fn cancel_ignores_require() {
    assert_eq!(answer(request("CANCEL", "Require: foo\r\n")).status, 481);
}

#[test]
fn unknown_request_uri_schemes_get_416() {
    for name in ["unkscm", "novelsc"] {
        let r = answer(rfc4475(name));
        assert_eq!(r.status, 416, "{name}");
        assert_common(&r);
    }
}

#[test]
fn tel_uri_is_a_supported_scheme() {
    let msg = String::from_utf8_lossy(&request("OPTIONS", ""))
        .replace("OPTIONS sip:agent@127.0.0.1", "OPTIONS tel:+15551234");
    assert_eq!(answer(Bytes::from(msg)).status, 200);
}

#[test]
fn invite_not_accepting_sdp_gets_406() {
    let r = answer(rfc4475("sdp01"));
    assert_eq!(r.status, 406);
    assert_common(&r);
}

#[test]
fn invite_accepting_sdp_reaches_the_no_such_user_404() {
    let r = answer(request("INVITE", "Accept: application/sdp, text/plain\r\n"));
    assert_eq!(r.status, 404);
    assert_common(&r);
    assert_eq!(answer(request("INVITE", "Accept: */*\r\n")).status, 404);
}

#[test]
fn missing_duplicate_or_mismatched_mandatory_headers_get_400() {
    for (name, reason) in [
        ("insuf", "missing To header"),
        ("multi01", "multiple To headers"),
        ("mismatch01", "CSeq method does not match request method"),
    ] {
        let r = answer(rfc4475(name));
        assert_eq!(r.status, 400, "{name}");
        assert_eq!(&*r.reason, reason, "{name}");
    }
}

#[test]
fn unsupported_version_gets_505_with_raw_lines_copied() {
    let (out, r) = answer_with(&core(), rfc4475("badvers"), TransportKind::Udp);
    assert_eq!(r.status, 505);
    let text = String::from_utf8_lossy(&out.bytes);
    assert!(text.starts_with("SIP/2.0 505 "), "{text}");
    for line in [
        "Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n",
        "From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\r\n",
        "Call-ID: badvers.31417@c.example.com\r\n",
        "CSeq:    1 OPTIONS\r\n",
        "Content-Length: 0\r\n\r\n",
    ] {
        assert!(text.contains(line), "{line:?} not copied:\n{text}");
    }
    assert!(!text.contains("Max-Forwards"), "{text}");
    assert!(text.contains("To:      T. Watson <sip:t.watson@example.org>;tag="));
}

#[test]
fn malformed_request_line_gets_salvaged_400_with_parse_reason() {
    let core = core();
    let (out, r) = answer_with(&core, rfc4475("lwsstart"), TransportKind::Udp);
    assert_eq!(r.status, 400);
    assert_ne!(
        &*r.reason, "Bad Request",
        "reason should name the parse error"
    );
    assert_common(&r);
    let text = String::from_utf8_lossy(&out.bytes);
    assert!(text.contains("Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com\r\n"));
    assert!(text.contains("Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923\r\n"));
    assert!(!text.contains("Contact"));
    // Never to the host the Via names: the source IP, Via port 5060.
    assert_eq!(
        out.destination,
        "127.0.0.1:5060".parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(core.counters().snapshot().unparseable_answered, 1);
}

#[test]
fn extension_methods_get_501_with_allow() {
    for name in ["intmeth", "esc02"] {
        let r = answer(rfc4475(name));
        assert_eq!(r.status, 501, "{name}");
        assert!(has_allow(&r), "{name}");
        assert_common(&r);
    }
}

#[test]
fn known_but_unimplemented_methods_get_405_with_allow() {
    for m in [
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "REFER",
        "MESSAGE",
        "UPDATE",
        "PRACK",
    ] {
        let r = answer(request(m, ""));
        assert_eq!(r.status, 405, "{m}");
        assert!(has_allow(&r), "{m}");
    }
}

#[test]
fn invite_gets_404_and_cancel_and_bye_get_481() {
    assert_eq!(answer(request("INVITE", "")).status, 404);
    assert_eq!(answer(request("CANCEL", "")).status, 481);
    assert_eq!(answer(request("BYE", "")).status, 481);
}

#[test]
fn ack_is_never_answered() {
    let core = core();
    assert!(handle_with(&core, request("ACK", ""), TransportKind::Udp).is_empty());
    // Not even an invalid one.
    let bad = String::from_utf8_lossy(&request("ACK", "")).replace("CSeq: 1 ACK", "CSeq: 1 INVITE");
    assert!(handle_with(&core, Bytes::from(bad), TransportKind::Udp).is_empty());
    let unparseable = Bytes::from_static(
        b"ACK  sip:a@b  SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(handle_with(&core, unparseable, TransportKind::Udp).is_empty());
    assert_eq!(core.counters().snapshot().acks_absorbed, 3);
}

#[test]
fn stray_responses_are_dropped_and_counted() {
    let core = core();
    assert!(handle_with(&core, rfc4475("bcast"), TransportKind::Udp).is_empty());
    let s = core.counters().snapshot();
    assert_eq!(s.stray_responses, 1);
    assert_eq!(s.responses_sent, 0);
}

#[test]
fn unanswerable_garbage_is_dropped_and_counted() {
    let core = core();
    for junk in [
        &b"\x00\x01\x02 not sip"[..],
        b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n",
        b"SIP/2.0 999 Nope\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
        b"",
    ] {
        let actions = handle_with(&core, Bytes::copy_from_slice(junk), TransportKind::Udp);
        assert!(actions.is_empty(), "{junk:?} got {actions:?}");
    }
    assert!(core.counters().snapshot().unparseable_dropped >= 3);
}

#[test]
fn unframeable_stream_with_multiple_content_length_gets_400() {
    let core = core();
    let head = rfc4475("mcl01");
    let mut actions = core.reject_unframeable(
        &head,
        400,
        "multiple Content-Length headers",
        source(),
        TransportKind::Tcp,
    );
    let Some(Action::Send(out)) = actions.pop() else {
        panic!("expected a 400");
    };
    let text = String::from_utf8_lossy(&out.bytes);
    assert!(
        text.starts_with("SIP/2.0 400 multiple Content-Length headers\r\n"),
        "{text}"
    );
    assert!(text.contains("Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\r\n"));
    assert_eq!(out.destination, source());
    assert!(
        core.reject_unframeable(
            &Bytes::from_static(b"xx"),
            400,
            "x",
            source(),
            TransportKind::Tcp
        )
        .is_empty()
    );
}

#[test]
fn every_rfc4475_message_is_handled_without_panicking() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sip/testdata/conformance/rfc4475/messages");
    let core = core();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("RFC 4475 messages directory") {
        let path = entry.expect("directory entry").path();
        let bytes = Bytes::from(std::fs::read(&path).expect("message file"));
        for transport in [TransportKind::Udp, TransportKind::Tcp] {
            for Action::Send(out) in handle_with(&core, bytes.clone(), transport) {
                // Salvaged replies copy broken lines byte for byte, so only their framing
                // is checked: a status line, header lines, Content-Length 0.
                let raw = sip::parse_raw(&out.bytes).expect("reply splits into lines");
                assert!(raw.is_response(), "{}", path.display());
                assert!(
                    out.bytes.ends_with(b"\r\nContent-Length: 0\r\n\r\n"),
                    "{}: reply framing:\n{}",
                    path.display(),
                    String::from_utf8_lossy(&out.bytes)
                );
                assert_eq!(out.destination.ip(), source().ip());
            }
        }
        seen += 1;
    }
    assert!(seen > 30, "only {seen} RFC 4475 messages found");
}

#[test]
fn traffic_is_counted_in_metrics_and_requests_become_method_events() {
    use crate::events::{EventBus, Layer};
    use crate::metrics::Metrics;

    let counters = Arc::new(SipCounters::default());
    let metrics = Metrics::new(counters.clone()).expect("metrics register");
    let events = EventBus::new();
    let core = UaCore::new(counters)
        .with_metrics(metrics.clone())
        .with_events(events.clone());

    assert_eq!(
        answer_with(&core, request("OPTIONS", ""), TransportKind::Udp)
            .1
            .status,
        200
    );
    assert!(handle_with(&core, request("ACK", ""), TransportKind::Tcp).is_empty());
    assert!(handle_with(&core, rfc4475("bcast"), TransportKind::Udp).is_empty());
    assert_eq!(
        answer_with(&core, rfc4475("lwsstart"), TransportKind::Udp)
            .1
            .status,
        400
    );
    assert_eq!(
        answer_with(&core, request("X-ODD", ""), TransportKind::Udp)
            .1
            .status,
        501
    );

    // One Method-layer event per parsed request; none for the stray response or the
    // unparseable request.
    let page = events.since(0, 100);
    let seen: Vec<(&str, Option<&str>, &str)> = page
        .events
        .iter()
        .map(|e| (e.call_id.as_str(), e.method.as_deref(), e.layer.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("test-call-1", Some("OPTIONS"), "method"),
            ("test-call-1", Some("ACK"), "method"),
            ("test-call-1", Some("X-ODD"), "method"),
        ]
    );
    let first = &page.events[0];
    assert_eq!(first.layer, Layer::Method);
    assert_eq!(first.kind.as_deref(), Some("request_received"));
    let detail = first.detail.as_ref().expect("detail");
    assert_eq!(detail["transport"], "udp");
    assert_eq!(detail["peer"], SOURCE);
    assert_eq!(detail["cseq"], 1);
    assert_eq!(
        page.events[1]
            .detail
            .as_ref()
            .map(|d| d["transport"].clone()),
        Some("tcp".into())
    );

    let text = metrics.render().expect("renders");
    for line in [
        r#"sip_messages_in_total{method="OPTIONS",status_class=""} 1"#,
        r#"sip_messages_in_total{method="ACK",status_class=""} 1"#,
        r#"sip_messages_in_total{method="INVITE",status_class="2xx"} 1"#,
        r#"sip_messages_in_total{method="other",status_class=""} 1"#,
        r#"sip_messages_out_total{method="OPTIONS",status_class="2xx"} 1"#,
        r#"sip_messages_out_total{method="INVITE",status_class="4xx"} 1"#,
        r#"sip_messages_out_total{method="other",status_class="5xx"} 1"#,
        "sip_stray_responses_total 1",
        "sip_unparseable_answered_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}
