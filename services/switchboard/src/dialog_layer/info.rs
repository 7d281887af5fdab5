//! INFO within a dialog (RFC 6086): DTMF as Cisco, Asterisk and most gateways send it, in
//! legacy INFO without an Info-Package, as `application/dtmf-relay` (`Signal=5`,
//! `Duration=160`) or `application/dtmf` (the key alone).
//!
//! The pure part of the answer lives here: [`read`] turns the request into an
//! [`InfoOutcome`], [`response`] answers it and [`dtmf_event`] is the Call-layer event of a
//! digit. The dialog actor has already run the dialog's CSeq checks and §8.2 (which refuses
//! other content types with 415 and Accept), so what is left is the body itself. A
//! retransmitted INFO never gets here: its server transaction answers it again, so each digit
//! is reported once.

use std::time::Instant;

use media::dtmf::info::parse_info;
use media::dtmf::{DtmfEvent, DtmfInfoError, DtmfSource};
use sip::{Header, HeaderName, Request, Response};

use crate::events::{EventDraft, Layer};
use crate::ua_core::{UaCore, accepted_types};

/// What an INFO in a dialog amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum InfoOutcome {
    /// A DTMF key press: 200, and a `dtmf` event.
    Digit(DtmfEvent),
    /// No body: 200 and nothing to report (RFC 6086 lets an empty INFO probe the dialog).
    Empty,
    /// An Info-Package we never offered (we send no Recv-Info): 469 (RFC 6086 §4.2.2).
    BadPackage,
    /// A body that is not a digit: 400 with the reason, or 415 for another content type.
    Refused(DtmfInfoError),
}

/// Reads an INFO that passed the dialog's and §8.2's checks, arriving at `now`.
pub(super) fn read(request: &Request, now: Instant) -> InfoOutcome {
    if request.headers.other("Info-Package").is_some() {
        return InfoOutcome::BadPackage;
    }
    if request.body.is_empty() {
        return InfoOutcome::Empty;
    }
    // A body without Content-Type (§7.4.1 forbids it) reads as an unsupported type: 415.
    let content_type = request
        .headers
        .content_type()
        .map(ToString::to_string)
        .unwrap_or_default();
    match parse_info(&content_type, &request.body) {
        Ok(digit) => InfoOutcome::Digit(digit.into_event(now)),
        Err(e) => InfoOutcome::Refused(e),
    }
}

/// The response to an INFO whose outcome is `outcome`.
pub(super) fn response(core: &UaCore, request: &Request, outcome: &InfoOutcome) -> Response {
    match outcome {
        InfoOutcome::Digit(_) | InfoOutcome::Empty => core.response(request, 200),
        // An empty Recv-Info says we take no Info-Package at all.
        InfoOutcome::BadPackage => core
            .response(request, 469)
            .with_reason("Bad Info Package")
            .with_header(Header::Other {
                name: HeaderName::new("Recv-Info"),
                value: bytes::Bytes::new(),
            }),
        InfoOutcome::Refused(e) if e.status() == 415 => core
            .response(request, 415)
            .with_header(Header::Accept(accepted_types(&request.method))),
        InfoOutcome::Refused(e) => core
            .response(request, e.status())
            .with_reason(&reason_phrase(e)),
    }
}

/// The error as a reason phrase: printable characters only (the body is the peer's text,
/// and a CR or LF would end the status line), at most 100 bytes.
fn reason_phrase(e: &DtmfInfoError) -> String {
    let mut text: String = e.to_string().chars().filter(|c| !c.is_control()).collect();
    if text.len() > 100 {
        let mut cut = 100;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// The name of a DTMF form in events: the same names whichever layer reports the digit.
pub fn source_name(source: DtmfSource) -> &'static str {
    match source {
        DtmfSource::Rfc4733 => "rfc4733",
        DtmfSource::SipInfo => "sip_info",
        DtmfSource::InBand => "inband",
    }
}

/// The Call-layer event of one key press in dialog `dialog` of call `call_id`.
pub fn dtmf_event(call_id: &str, dialog: &str, event: &DtmfEvent) -> EventDraft {
    EventDraft::new(Layer::Call, call_id)
        .kind("dtmf")
        .dialog(dialog)
        .detail(serde_json::json!({
            "digit": event.digit.to_string(),
            "duration_ms": event.duration_ms,
            "source": source_name(event.source),
        }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use sip::{SipMessage, parse_message};

    use super::*;
    use crate::stats::SipCounters;

    fn info(extra: &str, body: &str) -> Request {
        let text = format!(
            "INFO sip:echo@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-i1\r\n\
             From: <sip:caller@127.0.0.1>;tag=a\r\n\
             To: <sip:echo@127.0.0.1>;tag=b\r\n\
             Call-ID: info-1\r\n\
             CSeq: 2 INFO\r\n\
             {extra}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match parse_message(Bytes::from(text)) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("test INFO does not parse: {other:?}"),
        }
    }

    fn core() -> UaCore {
        UaCore::new(Arc::new(SipCounters::default()))
    }

    fn answer(request: &Request) -> (InfoOutcome, Response) {
        let outcome = read(request, Instant::now());
        let response = response(&core(), request, &outcome);
        (outcome, response)
    }

    #[test]
    fn a_dtmf_relay_digit_is_200_and_an_event() {
        let req = info(
            "Content-Type: application/dtmf-relay\r\n",
            "Signal=5\r\nDuration=160\r\n",
        );
        let (outcome, r) = answer(&req);
        assert_eq!(r.status, 200);
        let InfoOutcome::Digit(event) = outcome else {
            panic!("not a digit: {outcome:?}");
        };
        let draft = dtmf_event("info-1", "info-1;local=b;remote=a", &event);
        assert_eq!(draft.layer, Layer::Call);
        assert_eq!(draft.kind.as_deref(), Some("dtmf"));
        assert_eq!(draft.dialog.as_deref(), Some("info-1;local=b;remote=a"));
        assert_eq!(
            draft.detail,
            Some(serde_json::json!({"digit": "5", "duration_ms": 160, "source": "sip_info"}))
        );
    }

    #[test]
    fn an_application_dtmf_key_is_a_digit_with_the_default_duration() {
        let (outcome, r) = answer(&info("Content-Type: application/dtmf\r\n", "#"));
        assert_eq!(r.status, 200);
        let InfoOutcome::Digit(event) = outcome else {
            panic!("not a digit: {outcome:?}");
        };
        assert_eq!(event.digit.to_string(), "#");
        assert_eq!(event.duration_ms, 250);
    }

    #[test]
    fn an_empty_info_is_200_without_a_digit() {
        let (outcome, r) = answer(&info("", ""));
        assert_eq!((outcome, r.status), (InfoOutcome::Empty, 200));
        let ct = "Content-Type: application/dtmf-relay\r\n";
        assert_eq!(answer(&info(ct, "")).0, InfoOutcome::Empty);
    }

    #[test]
    fn a_bad_body_is_400_saying_why() {
        let ct = "Content-Type: application/dtmf-relay\r\n";
        for (body, why) in [
            ("Duration=160\r\n", "no DTMF signal"),
            ("Signal=X\r\n", "is not a DTMF signal"),
            ("Signal=1\r\nDuration=long\r\n", "is not a DTMF duration"),
        ] {
            let (outcome, r) = answer(&info(ct, body));
            assert!(matches!(outcome, InfoOutcome::Refused(_)), "{body}");
            assert_eq!(r.status, 400, "{body}");
            assert!(r.reason.contains(why), "{body}: {}", r.reason);
        }
    }

    #[test]
    fn a_reason_phrase_never_carries_control_characters() {
        let ct = "Content-Type: application/dtmf-relay\r\n";
        let (_, r) = answer(&info(ct, "Signal=1\rX\u{1}\r\n"));
        assert_eq!(r.status, 400);
        assert!(!r.reason.chars().any(char::is_control), "{:?}", r.reason);
        let long = format!("Signal={}\r\n", "9".repeat(500));
        let (_, r) = answer(&info(ct, &long));
        assert!(r.reason.len() <= 100, "{}", r.reason.len());
    }

    #[test]
    fn a_body_without_content_type_is_415_with_accept() {
        let (_, r) = answer(&info("", "Signal=1\r\n"));
        assert_eq!(r.status, 415);
        let accept = r.headers.iter().find_map(|h| match h {
            Header::Accept(v) => Some(v.len()),
            _ => None,
        });
        assert_eq!(accept, Some(2));
    }

    #[test]
    fn an_info_package_is_469_with_an_empty_recv_info() {
        let (outcome, r) = answer(&info(
            "Info-Package: foo\r\nContent-Type: application/dtmf\r\n",
            "5",
        ));
        assert_eq!(outcome, InfoOutcome::BadPackage);
        assert_eq!(r.status, 469);
        assert!(r.headers.other("Recv-Info").is_some());
    }
}
