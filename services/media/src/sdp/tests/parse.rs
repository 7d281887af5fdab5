//! Parsing, building and round trips.

use super::*;
use crate::sdp::{
    Attribute, Codec, Direction, Encoding, Proto, Rtcp, SdpError, SdpErrorKind, static_codec,
};

fn error(text: &str) -> SdpError {
    SessionDescription::parse(text.as_bytes()).expect_err("must not parse")
}

#[test]
fn baresip_offer_is_read_into_typed_fields() {
    let s = sdp(BARESIP);
    assert_eq!(s.origin.username, "-");
    assert_eq!(s.origin.session_id, "1662378939");
    assert_eq!(s.origin.session_version, 2126233391);
    assert_eq!(
        s.connection.as_ref().and_then(|c| c.ip()),
        Some(ip("192.168.1.20"))
    );
    assert_eq!(s.attribute("tool"), Some(Some("baresip 1.0.0")));
    let m = &s.media[0];
    assert!(m.is_audio());
    assert_eq!((m.port, m.proto.clone()), (18954, Proto::RtpAvp));
    assert_eq!(m.formats, ["0", "8", "101"]);
    assert_eq!(m.payload_types().collect::<Vec<_>>(), [0, 8, 101]);
    assert_eq!(m.codec(101), Some(Codec::telephone_event()));
    assert_eq!(m.fmtp("101"), Some("0-15"));
    assert_eq!(m.ptime(), Some(20));
    assert_eq!(m.bandwidths[0].bw_type, "AS");
    assert_eq!(m.bandwidths[0].value, 64);
    assert_eq!(s.direction_of(m), Direction::SendRecv);
    assert_eq!(m.attribute("rtcp-rsize"), Some(None));
    assert_eq!(m.attribute("label"), Some(Some("1")));
}

#[test]
fn unknown_attributes_are_kept_in_order() {
    let s = sdp(ICE_AND_CRYPTO);
    let names: Vec<String> = s.media[0]
        .attributes
        .iter()
        .map(|a| {
            a.to_string()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "rtcp",
            "ice-ufrag",
            "ice-pwd",
            "candidate",
            "candidate",
            "crypto",
            "rtpmap",
            "fmtp",
            "rtpmap",
            "mid",
            "rtcp-mux",
            "sendrecv"
        ]
    );
    assert_eq!(
        s.media[0].rtcp(),
        Some(&Rtcp {
            port: 40001,
            connection: Some(crate::sdp::Connection::from_ip(ip("192.0.2.50"))),
        })
    );
    assert_eq!(
        s.media[0].codec(111),
        Some(Codec {
            encoding: Encoding::Other("opus".into()),
            clock_rate: 48000,
            channels: 2
        })
    );
}

#[test]
fn static_payload_types_need_no_rtpmap() {
    let s = sdp(ZERO_ADDRESS_HOLD);
    assert_eq!(s.media[0].codec(0), Some(Codec::pcmu()));
    assert_eq!(static_codec(8), Some(Codec::pcma()));
    assert_eq!(static_codec(18).map(|c| c.encoding), Some(Encoding::G729));
    assert_eq!(static_codec(9).map(|c| c.clock_rate), Some(8000));
    assert_eq!(static_codec(13).map(|c| c.encoding), Some(Encoding::Cn));
    assert_eq!(static_codec(96), None);
}

#[test]
fn codec_names_parse_case_insensitively() {
    assert_eq!("pcmu/8000".parse::<Codec>(), Ok(Codec::pcmu()));
    assert_eq!("PCMA/8000/1".parse::<Codec>(), Ok(Codec::pcma()));
    assert_eq!(
        "Telephone-Event/8000".parse::<Codec>(),
        Ok(Codec::telephone_event())
    );
    let opus: Codec = "opus/48000/2".parse().expect("opus");
    assert_eq!(opus.to_string(), "opus/48000/2");
    assert!(opus.matches(&"OPUS/48000/2".parse().expect("OPUS")));
    assert!("PCMU".parse::<Codec>().is_err());
    assert!("PCMU/0".parse::<Codec>().is_err());
    assert!("/8000".parse::<Codec>().is_err());
    assert!("PCMU/8000/1/2".parse::<Codec>().is_err());
}

#[test]
fn media_direction_overrides_session_direction() {
    let s = sdp("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\na=recvonly\n\
         m=audio 1000 RTP/AVP 0\nm=audio 2000 RTP/AVP 0\na=inactive\n");
    assert_eq!(s.direction_of(&s.media[0]), Direction::RecvOnly);
    assert_eq!(s.direction_of(&s.media[1]), Direction::Inactive);
    assert_eq!(
        sdp(SENDONLY_HOLD).direction_of(&sdp(SENDONLY_HOLD).media[0]),
        Direction::SendOnly
    );
}

#[test]
fn media_connection_overrides_session_connection() {
    let s = sdp(VIDEO_AND_AUDIO);
    let c = |i: usize| s.connection_of(&s.media[i]).and_then(|c| c.ip());
    assert_eq!(c(0), Some(ip("198.51.100.7")));
    assert_eq!(c(1), Some(ip("198.51.100.8")));
}

#[test]
fn lf_only_endings_parse_like_crlf() {
    let lf = BARESIP.replace("\r\n", "\n");
    assert_eq!(sdp(&lf), sdp(BARESIP));
}

#[test]
fn missing_t_line_means_unbounded() {
    let s = sdp("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nm=audio 1 RTP/AVP 0\n");
    assert_eq!((s.times[0].start, s.times[0].stop), (0, 0));
}

#[test]
fn build_writes_crlf_in_rfc4566_order() {
    let mut s = sdp(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=x\r\nt=0 0\r\na=recvonly\r\n\
         m=audio 1000 RTP/AVP 0\r\na=ptime:30\r\nb=AS:64\r\nc=IN IP4 192.0.2.2\r\n",
    );
    s.information = Some("info".into());
    s.connection = Some(crate::sdp::Connection::from_ip(ip("2001:db8::1")));
    s.media[0]
        .attributes
        .push(Attribute::Direction(Direction::Inactive));
    assert_eq!(
        s.to_string(),
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=x\r\ni=info\r\nc=IN IP6 2001:db8::1\r\n\
         t=0 0\r\na=recvonly\r\nm=audio 1000 RTP/AVP 0\r\nc=IN IP4 192.0.2.2\r\n\
         b=AS:64\r\na=ptime:30\r\na=inactive\r\n"
    );
}

#[test]
fn every_sample_round_trips() {
    for sample in [
        BARESIP,
        SIPP_UAC_PCAP,
        ASTERISK,
        VIDEO_AND_AUDIO,
        SENDONLY_HOLD,
        ZERO_ADDRESS_HOLD,
        ICE_AND_CRYPTO,
        SRTP_ONLY,
    ] {
        let parsed = sdp(sample);
        let built = parsed.to_string();
        assert_eq!(sdp(&built), parsed, "{built}");
        // Samples already in canonical form come back byte for byte.
        assert_eq!(built, sample);
    }
}

#[test]
fn errors_name_the_line_and_the_fault() {
    let cases: [(&str, usize, SdpErrorKind); 12] = [
        ("", 0, SdpErrorKind::Empty),
        ("o=- 1 1 IN IP4 a\n", 1, SdpErrorKind::MissingVersion),
        ("v=1\n", 1, SdpErrorKind::UnsupportedVersion("1".into())),
        (
            "v=0\no=- 1 1 IN IP4 a\ns=-\nhello\n",
            4,
            SdpErrorKind::MalformedLine,
        ),
        (
            "v=0\no=- 1 1 IN IP4 a\ns=-\nx=1\n",
            4,
            SdpErrorKind::UnknownType('x'),
        ),
        ("v=0\ns=-\nt=0 0\n", 3, SdpErrorKind::Missing('o')),
        (
            "v=0\no=- 1 1 IN IP4\n",
            2,
            SdpErrorKind::MissingField {
                line_type: 'o',
                field: "address",
            },
        ),
        (
            "v=0\no=- 1 x IN IP4 a\n",
            2,
            SdpErrorKind::InvalidField {
                line_type: 'o',
                field: "session version",
                value: "x".into(),
            },
        ),
        (
            "v=0\no=- 1 1 IN IP4 a\ns=-\nt=0 0\nm=audio 70000 RTP/AVP 0\n",
            5,
            SdpErrorKind::InvalidField {
                line_type: 'm',
                field: "port",
                value: "70000".into(),
            },
        ),
        (
            "v=0\no=- 1 1 IN IP4 a\ns=-\nt=0 0\nm=audio 1 RTP/AVP 0 PCMU\n",
            5,
            SdpErrorKind::InvalidField {
                line_type: 'm',
                field: "RTP payload type",
                value: "PCMU".into(),
            },
        ),
        (
            "v=0\no=- 1 1 IN IP4 a\ns=-\nt=0 0\nm=audio 1 RTP/AVP 0\nt=0 0\n",
            6,
            SdpErrorKind::NotInMedia('t'),
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nc=IN IP4 b\r\n",
            5,
            SdpErrorKind::Duplicate('c'),
        ),
    ];
    for (text, line, kind) in cases {
        assert_eq!(error(text), SdpError { line, kind }, "{text:?}");
    }
}

#[test]
fn malformed_interpreted_attributes_are_errors() {
    let base = "v=0\no=- 1 1 IN IP4 a\ns=-\nt=0 0\nm=audio 1 RTP/AVP 0\n";
    for (attribute, reason) in [
        (
            "a=rtpmap:0\n",
            "expected <payload type> <encoding>/<clock rate>",
        ),
        ("a=rtpmap:200 PCMU/8000\n", "invalid payload type \"200\""),
        ("a=rtpmap:0 PCMU\n", "missing clock rate"),
        (
            "a=ptime:twenty\n",
            "\"twenty\" is not a number of milliseconds",
        ),
        ("a=rtcp:abc\n", "invalid port \"abc\""),
        (
            "a=rtcp:9 IN IP4\n",
            "expected <port> [<nettype> <addrtype> <address>]",
        ),
    ] {
        let e = error(&format!("{base}{attribute}"));
        assert_eq!(e.line, 6, "{attribute}");
        match e.kind {
            SdpErrorKind::InvalidAttribute { reason: r, .. } => assert_eq!(r, reason),
            other => panic!("{attribute}: {other:?}"),
        }
    }
}

#[test]
fn error_display_is_a_warning_text() {
    let e = error("v=0\no=- 1 1 IN IP4 a\ns=-\nt=0 0\nm=audio\n");
    assert_eq!(e.to_string(), "SDP line 5: m= line has no port");
}

#[test]
fn non_utf8_is_reported_on_its_line() {
    let e = SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 a\r\ns=\xff\r\n").expect_err("bytes");
    assert_eq!(
        e,
        SdpError {
            line: 3,
            kind: SdpErrorKind::NotUtf8
        }
    );
}

#[test]
fn rejected_stream_without_formats_is_tolerated() {
    let s = sdp("v=0\no=- 1 1 IN IP4 a\ns=-\nt=0 0\nm=video 0 RTP/AVP\n");
    assert!(s.media[0].formats.is_empty());
    assert!(error("v=0\no=- 1 1 IN IP4 a\ns=-\nt=0 0\nm=video 5 RTP/AVP\n").line == 5);
}

#[test]
fn other_protocols_keep_their_text_formats() {
    let s = sdp(
        "v=0\no=- 1 1 IN IP4 a\ns=-\nt=0 0\nm=message 7394 TCP/MSRP *\n\
         m=image 5000 udptl t38\n",
    );
    assert_eq!(s.media[0].proto, Proto::Other("TCP/MSRP".into()));
    assert_eq!(s.media[0].formats, ["*"]);
    assert_eq!(s.media[1].payload_types().count(), 0);
    assert!(Proto::from_text("UDP/TLS/RTP/SAVPF").is_rtp());
}
