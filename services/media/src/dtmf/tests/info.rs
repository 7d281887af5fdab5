//! SIP INFO bodies.

use std::time::Instant;

use proptest::prelude::*;

use crate::dtmf::info::{
    DEFAULT_DURATION_MS, dtmf_body, dtmf_relay_body, parse_dtmf, parse_dtmf_relay, parse_info,
};
use crate::dtmf::{DtmfDigit, DtmfInfoError, DtmfSource, InfoDigit};

fn relay(body: &str) -> Result<InfoDigit, DtmfInfoError> {
    parse_info("application/dtmf-relay", body.as_bytes())
}

#[test]
fn dtmf_relay_bodies_in_the_forms_seen() {
    let five = InfoDigit {
        digit: DtmfDigit::D5,
        duration_ms: 160,
    };
    assert_eq!(relay("Signal=5\r\nDuration=160\r\n"), Ok(five));
    assert_eq!(relay("Signal=5\nDuration=160"), Ok(five));
    assert_eq!(relay("signal = 5 \r\n DURATION = 160\r\n"), Ok(five));
    assert_eq!(relay("Signal: 5\nDuration: 160\n"), Ok(five));
    assert_eq!(relay("Duration=160\r\nSignal=5\r\nVolume=10\r\n"), Ok(five));
    assert_eq!(relay("Signal=*\r\n").map(|d| d.digit), Ok(DtmfDigit::Star));
    assert_eq!(relay("Signal=#\r\n").map(|d| d.digit), Ok(DtmfDigit::Pound));
    assert_eq!(relay("Signal=10\r\n").map(|d| d.digit), Ok(DtmfDigit::Star));
    assert_eq!(
        relay("Signal=11\r\n").map(|d| d.digit),
        Ok(DtmfDigit::Pound)
    );
    assert_eq!(relay("Signal=12\r\n").map(|d| d.digit), Ok(DtmfDigit::A));
    assert_eq!(relay("Signal=d\r\n").map(|d| d.digit), Ok(DtmfDigit::D));
    assert_eq!(
        relay("Signal=0").map(|d| d.duration_ms),
        Ok(DEFAULT_DURATION_MS)
    );
}

#[test]
fn dtmf_relay_errors() {
    assert_eq!(relay(""), Err(DtmfInfoError::MissingSignal));
    assert_eq!(relay("Duration=160\r\n"), Err(DtmfInfoError::MissingSignal));
    assert_eq!(relay("Signal=\r\n"), Err(DtmfInfoError::MissingSignal));
    assert_eq!(
        relay("Signal=E\r\n"),
        Err(DtmfInfoError::BadSignal("E".into()))
    );
    assert_eq!(
        relay("Signal=16\r\n"),
        Err(DtmfInfoError::BadSignal("16".into()))
    );
    assert_eq!(
        relay("Signal=55\r\n"),
        Err(DtmfInfoError::BadSignal("55".into()))
    );
    assert_eq!(
        relay("Signal=5\r\nDuration=long\r\n"),
        Err(DtmfInfoError::BadDuration("long".into()))
    );
    assert_eq!(
        relay("Signal=5\r\nDuration=-1\r\n"),
        Err(DtmfInfoError::BadDuration("-1".into()))
    );
    assert_eq!(
        relay("Signal=5").map_err(|e| e.status()),
        Ok(InfoDigit {
            digit: DtmfDigit::D5,
            duration_ms: 250
        })
    );
    assert_eq!(relay("Signal=x").map_err(|e| e.status()), Err(400));
}

#[test]
fn dtmf_bodies() {
    assert_eq!(parse_dtmf("5").map(|d| d.digit), Ok(DtmfDigit::D5));
    assert_eq!(parse_dtmf(" *\r\n").map(|d| d.digit), Ok(DtmfDigit::Star));
    assert_eq!(parse_dtmf("#").map(|d| d.digit), Ok(DtmfDigit::Pound));
    assert_eq!(
        parse_dtmf("").expect_err("rejected"),
        DtmfInfoError::MissingSignal
    );
    assert_eq!(
        parse_dtmf("55").expect_err("rejected"),
        DtmfInfoError::BadSignal("55".into())
    );
    assert_eq!(
        parse_info("Application/DTMF; charset=utf-8", b"9").map(|d| d.digit),
        Ok(DtmfDigit::D9)
    );
}

#[test]
fn content_types_and_statuses() {
    let err = parse_info("application/sdp", b"v=0\r\n").expect_err("rejected");
    assert_eq!(
        err,
        DtmfInfoError::UnsupportedContentType("application/sdp".into())
    );
    assert_eq!(err.status(), 415);
    assert_eq!(parse_info("", b"5").expect_err("rejected").status(), 415);
    let not_text = parse_info("application/dtmf", &[0xff, 0xfe]).expect_err("rejected");
    assert_eq!(
        (not_text.clone(), not_text.status()),
        (DtmfInfoError::NotText, 400)
    );
    assert_eq!(
        parse_info(
            "APPLICATION/DTMF-RELAY ; foo=bar",
            b"Signal=1\r\nDuration=100\r\n"
        ),
        Ok(InfoDigit {
            digit: DtmfDigit::D1,
            duration_ms: 100
        })
    );
}

#[test]
fn generated_bodies_parse_back() {
    for digit in DtmfDigit::ALL {
        let body = dtmf_relay_body(digit, 180);
        assert_eq!(
            parse_dtmf_relay(&body),
            Ok(InfoDigit {
                digit,
                duration_ms: 180
            })
        );
        assert_eq!(parse_dtmf(&dtmf_body(digit)).map(|d| d.digit), Ok(digit));
    }
    assert_eq!(
        dtmf_relay_body(DtmfDigit::Star, 160),
        "Signal=*\r\nDuration=160\r\n"
    );
    assert_eq!(dtmf_body(DtmfDigit::Pound), "#");
}

#[test]
fn info_digit_becomes_an_event() {
    let now = Instant::now();
    let event = InfoDigit {
        digit: DtmfDigit::B,
        duration_ms: 100,
    }
    .into_event(now);
    assert_eq!(
        (
            event.digit,
            event.duration_ms,
            event.source,
            event.started_at
        ),
        (DtmfDigit::B, 100, DtmfSource::SipInfo, now)
    );
}

proptest! {
    #[test]
    fn any_body_is_a_result_not_a_panic(content_type in ".{0,40}", body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_info(&content_type, &body);
        let _ = parse_info("application/dtmf-relay", &body);
        let _ = parse_info("application/dtmf", &body);
    }
}
