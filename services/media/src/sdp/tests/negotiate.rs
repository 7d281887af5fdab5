//! Answering offers (RFC 3264 §6).

use std::net::SocketAddr;

use super::*;
use crate::sdp::{
    Answer, Codec, Direction, Encoding, NegotiatedStream, NegotiationError, RemoteEndpoint,
    StreamOutcome, negotiate_answer,
};

fn answer(offer: &str) -> Answer {
    negotiate_answer(&sdp(offer), &config()).expect("answerable")
}

fn only_stream(a: &Answer) -> &NegotiatedStream {
    let accepted: Vec<&NegotiatedStream> = a.accepted().collect();
    assert_eq!(accepted.len(), 1, "{}", a.sdp);
    accepted[0]
}

fn addr(s: &str) -> RemoteEndpoint {
    RemoteEndpoint::Addr(s.parse::<SocketAddr>().expect("socket address"))
}

#[test]
fn baresip_offer_gets_pcmu_and_telephone_event() {
    let a = answer(BARESIP);
    assert_eq!(
        a.sdp.to_string(),
        "v=0\r\no=switchboard 1000 1000 IN IP4 198.51.100.1\r\ns=Switchboard\r\n\
         c=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
         a=ptime:20\r\na=sendrecv\r\n"
    );
    assert_eq!(
        only_stream(&a),
        &NegotiatedStream {
            index: 0,
            local_port: 30000,
            remote_rtp: addr("192.168.1.20:18954"),
            remote_rtcp: addr("192.168.1.20:18955"),
            codec: Codec::pcmu(),
            payload_type: 0,
            telephone_event: Some(101),
            direction: Direction::SendRecv,
            ptime: 20,
        }
    );
}

#[test]
fn sipp_offer_keeps_its_event_range() {
    let a = answer(SIPP_UAC_PCAP);
    let s = only_stream(&a);
    assert_eq!((s.payload_type, s.telephone_event), (0, Some(101)));
    assert_eq!(s.remote_rtp, addr("127.0.0.1:6000"));
    assert_eq!(a.sdp.media[0].fmtp("101"), Some("0-15"));
    // The offer names no ptime: ours is written and used.
    assert_eq!(a.sdp.media[0].ptime(), Some(20));
}

#[test]
fn our_preference_wins_over_the_offer_order() {
    let mut config = config();
    let a = negotiate_answer(&sdp(ASTERISK), &config).expect("PCMU");
    assert_eq!(a.sdp.media[0].formats, ["0", "101"]);
    config.codec_preference = vec![Codec::pcma(), Codec::pcmu()];
    let a = negotiate_answer(&sdp(ASTERISK), &config).expect("PCMA");
    assert_eq!(a.sdp.media[0].formats, ["8", "101"]);
    assert_eq!(only_stream(&a).codec, Codec::pcma());
    // G.722 is taken when we prefer it, under the offer's static type 9.
    config.codec_preference = vec![Codec::new(Encoding::G722, 8000), Codec::pcmu()];
    let a = negotiate_answer(&sdp(ASTERISK), &config).expect("G722");
    assert_eq!(only_stream(&a).payload_type, 9);
}

#[test]
fn offered_rtcp_port_is_used_and_answered() {
    let a = answer(ASTERISK);
    let s = only_stream(&a);
    assert_eq!(s.remote_rtcp, addr("203.0.113.5:17235"));
    assert!(a.sdp.to_string().contains("a=rtcp:30001\r\n"));
    // Without a=rtcp in the offer, none in the answer.
    assert!(!answer(BARESIP).sdp.to_string().contains("a=rtcp"));
}

#[test]
fn video_is_rejected_in_place_and_audio_uses_its_own_connection() {
    let a = answer(VIDEO_AND_AUDIO);
    let m_lines: Vec<String> = a
        .sdp
        .to_string()
        .lines()
        .filter(|l| l.starts_with("m="))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        m_lines,
        ["m=video 0 RTP/AVP 96 97", "m=audio 30000 RTP/AVP 0 101"]
    );
    assert_eq!(
        a.streams[0],
        StreamOutcome::Rejected {
            index: 0,
            media: "video".into()
        }
    );
    let s = only_stream(&a);
    assert_eq!(s.index, 1);
    assert_eq!(s.remote_rtp, addr("198.51.100.8:7078"));
    // No fmtp for telephone-event in the offer: none in the answer either.
    assert_eq!(a.sdp.media[1].fmtp("101"), None);
}

#[test]
fn sendonly_hold_is_answered_recvonly() {
    let a = answer(SENDONLY_HOLD);
    assert_eq!(only_stream(&a).direction, Direction::RecvOnly);
    assert_eq!(
        a.sdp.media[0].direction_attribute(),
        Some(Direction::RecvOnly)
    );
}

#[test]
fn each_offered_direction_gets_its_rfc3264_answer() {
    for (offered, answered) in [
        ("sendrecv", Direction::SendRecv),
        ("sendonly", Direction::RecvOnly),
        ("recvonly", Direction::SendOnly),
        ("inactive", Direction::Inactive),
    ] {
        let offer = format!("{SIPP_UAC_PCAP}a={offered}\r\n");
        let a = answer(&offer);
        assert_eq!(
            a.sdp.media[0].direction_attribute(),
            Some(answered),
            "{offered}"
        );
    }
}

#[test]
fn we_can_hold_the_peer_in_our_answer() {
    let mut config = config();
    config.direction = Direction::SendOnly;
    let a = negotiate_answer(&sdp(BARESIP), &config).expect("answer");
    assert_eq!(only_stream(&a).direction, Direction::SendOnly);
    // Both holding: inactive.
    let a = negotiate_answer(&sdp(SENDONLY_HOLD), &config).expect("answer");
    assert_eq!(only_stream(&a).direction, Direction::Inactive);
}

#[test]
fn zero_address_is_hold_not_an_address() {
    let a = answer(ZERO_ADDRESS_HOLD);
    let s = only_stream(&a);
    assert_eq!(s.remote_rtp, RemoteEndpoint::OnHold);
    assert_eq!(s.remote_rtcp, RemoteEndpoint::OnHold);
    // The peer receives nothing, so we only receive.
    assert_eq!(s.direction, Direction::RecvOnly);
    // No telephone-event offered: none answered.
    assert_eq!(s.telephone_event, None);
    assert_eq!(a.sdp.media[0].formats, ["0"]);
}

#[test]
fn ice_and_crypto_attributes_are_ignored() {
    let a = answer(ICE_AND_CRYPTO);
    let s = only_stream(&a);
    assert_eq!(s.payload_type, 0);
    assert_eq!(s.remote_rtp, addr("192.0.2.50:40000"));
    assert_eq!(s.remote_rtcp, addr("192.0.2.50:40001"));
    let text = a.sdp.to_string();
    for absent in ["ice", "candidate", "crypto", "opus", "rtcp-mux"] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
}

#[test]
fn offered_ptime_is_echoed() {
    let offer = format!("{SIPP_UAC_PCAP}a=ptime:30\r\n");
    let a = answer(&offer);
    assert_eq!(a.sdp.media[0].ptime(), Some(30));
    assert_eq!(only_stream(&a).ptime, 30);
}

#[test]
fn telephone_event_can_be_declined() {
    let mut config = config();
    config.telephone_event = false;
    let a = negotiate_answer(&sdp(BARESIP), &config).expect("answer");
    assert_eq!(a.sdp.media[0].formats, ["0"]);
    assert_eq!(only_stream(&a).telephone_event, None);
}

#[test]
fn telephone_event_must_match_the_codec_clock_rate() {
    let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0 100 101\r\na=rtpmap:100 telephone-event/48000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n";
    assert_eq!(only_stream(&answer(offer)).telephone_event, Some(101));
}

#[test]
fn audio_streams_beyond_the_allocated_ports_are_rejected() {
    let offer = format!("{SIPP_UAC_PCAP}m=audio 6002 RTP/AVP 8\r\n");
    let a = answer(&offer);
    assert_eq!(a.sdp.media.len(), 2);
    assert_eq!(a.sdp.media[1].port, 0);
    let mut two = config();
    two.rtp_ports = vec![30000, 30002];
    let a = negotiate_answer(&sdp(&offer), &two).expect("two streams");
    assert_eq!(
        a.accepted().map(|s| s.local_port).collect::<Vec<_>>(),
        [30000, 30002]
    );
}

#[test]
fn ipv6_answers_use_ip6() {
    let mut config = config();
    config.local_ip = ip("2001:db8::5");
    let offer = "v=0\r\no=- 1 1 IN IP6 2001:db8::9\r\ns=-\r\nc=IN IP6 2001:db8::9\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 8\r\n";
    let a = negotiate_answer(&sdp(offer), &config).expect("answer");
    assert!(a.sdp.to_string().contains("c=IN IP6 2001:db8::5\r\n"));
    assert_eq!(only_stream(&a).remote_rtp, addr("[2001:db8::9]:4000"));
}

#[test]
fn no_common_codec_says_what_was_offered_and_accepted() {
    let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 9 18 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let e = negotiate_answer(&sdp(offer), &config()).expect_err("no common codec");
    assert_eq!(
        e.to_string(),
        "no common audio codec: offered G722, G729; accepted PCMU, PCMA"
    );
    let e = negotiate_answer(
        &sdp(ICE_AND_CRYPTO.replace(" 0 8 101", " 101").as_str()),
        &config(),
    )
    .expect_err("opus only");
    assert_eq!(
        e.to_string(),
        "no common audio codec: offered opus/48000/2; accepted PCMU, PCMA"
    );
}

#[test]
fn srtp_only_is_refused_with_its_profile() {
    let e = negotiate_answer(&sdp(SRTP_ONLY), &config()).expect_err("SRTP");
    assert_eq!(
        e,
        NegotiationError::UnsupportedProto {
            offered: "RTP/SAVP".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "audio offered over RTP/SAVP only; Switchboard takes RTP/AVP"
    );
}

#[test]
fn no_audio_or_no_port_is_refused() {
    let video = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=video 4000 RTP/AVP 31\r\nm=audio 0 RTP/AVP 0\r\n";
    assert_eq!(
        negotiate_answer(&sdp(video), &config()),
        Err(NegotiationError::NoAudio)
    );
    let mut none = config();
    none.rtp_ports.clear();
    assert_eq!(
        negotiate_answer(&sdp(BARESIP), &none),
        Err(NegotiationError::NoLocalPort)
    );
}

#[test]
fn missing_connection_is_refused() {
    let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(
        negotiate_answer(&sdp(offer), &config()),
        Err(NegotiationError::NoConnection { line: 1 })
    );
}

#[test]
fn host_names_are_left_to_the_caller() {
    let offer = SIPP_UAC_PCAP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example.com");
    assert_eq!(
        only_stream(&answer(&offer)).remote_rtp,
        RemoteEndpoint::Host {
            host: "pbx.example.com".into(),
            port: 6000
        }
    );
}
