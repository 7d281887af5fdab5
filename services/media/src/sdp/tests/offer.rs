//! Switchboard's offers, re-offers for hold, and checking the answers to them.

use std::net::SocketAddr;

use super::*;
use crate::sdp::{
    Codec, Direction, Encoding, NegotiationError, RemoteEndpoint, StreamOutcome, make_offer,
    negotiate_answer, process_answer,
};

#[test]
fn default_offer_is_pcmu_pcma_and_telephone_event() {
    let offer = make_offer(&config()).expect("offer");
    assert_eq!(
        offer.to_string(),
        "v=0\r\no=switchboard 1000 1000 IN IP4 198.51.100.1\r\ns=Switchboard\r\n\
         c=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
}

#[test]
fn dynamic_codecs_get_dynamic_payload_types_around_101() {
    let mut config = config();
    config.codec_preference = vec![
        "opus/48000/2".parse().expect("opus"),
        Codec::pcmu(),
        "iLBC/8000".parse().expect("iLBC"),
    ];
    let offer = make_offer(&config).expect("offer");
    assert_eq!(offer.media[0].formats, ["96", "0", "97", "101"]);
    assert_eq!(
        offer.media[0].codec(97).map(|c| c.encoding),
        Some(Encoding::Other("iLBC".into()))
    );
}

#[test]
fn hold_reoffer_keeps_the_session_id_and_increments_the_version() {
    let mut config = config();
    let first = make_offer(&config).expect("offer");
    config.session = config.session.next();
    config.direction = Direction::SendOnly;
    let hold = make_offer(&config).expect("re-offer");
    assert_eq!(hold.origin.session_id, first.origin.session_id);
    assert_eq!(
        hold.origin.session_version,
        first.origin.session_version + 1
    );
    assert_eq!(
        hold.media[0].direction_attribute(),
        Some(Direction::SendOnly)
    );
    // The peer answers recvonly: we may only send.
    let answer = negotiate_answer(&hold, &super::config()).expect("answer");
    assert_eq!(
        answer.sdp.media[0].direction_attribute(),
        Some(Direction::RecvOnly)
    );
    let streams = process_answer(&hold, &answer.sdp).expect("valid answer");
    let s = streams[0].accepted().expect("accepted");
    assert_eq!(s.direction, Direction::SendOnly);
}

#[test]
fn our_offer_answered_by_our_answerer_agrees_on_both_sides() {
    let mut callee = config();
    callee.local_ip = ip("192.0.2.99");
    callee.rtp_ports = vec![40000];
    callee.codec_preference = vec![Codec::pcma()];
    let offer = make_offer(&config()).expect("offer");
    let answer = negotiate_answer(&offer, &callee).expect("answer");
    let streams = process_answer(&offer, &answer.sdp).expect("valid");
    let ours = streams[0].accepted().expect("accepted");
    let theirs = answer.accepted().next().expect("accepted");
    assert_eq!(ours.codec, Codec::pcma());
    assert_eq!((ours.payload_type, theirs.payload_type), (8, 8));
    assert_eq!(
        (ours.telephone_event, theirs.telephone_event),
        (Some(101), Some(101))
    );
    assert_eq!(
        ours.remote_rtp,
        RemoteEndpoint::Addr("192.0.2.99:40000".parse::<SocketAddr>().expect("addr"))
    );
    assert_eq!(ours.local_port, 30000);
    assert_eq!(theirs.local_port, 40000);
}

#[test]
fn answer_with_another_number_of_streams_is_invalid() {
    let offer = make_offer(&config()).expect("offer");
    let mut answer = sdp(SIPP_UAC_PCAP);
    answer.media.push(answer.media[0].clone());
    assert_eq!(
        process_answer(&offer, &answer),
        Err(NegotiationError::StreamCount {
            offered: 1,
            answered: 2
        })
    );
}

#[test]
fn answer_with_codecs_we_did_not_offer_is_invalid() {
    let offer = make_offer(&config()).expect("offer");
    let answer = sdp(&SIPP_UAC_PCAP.replace("RTP/AVP 0 101", "RTP/AVP 18"));
    let e = process_answer(&offer, &answer).expect_err("G.729 not offered");
    assert_eq!(e, NegotiationError::NoOfferedCodec { line: 1 });
    assert_eq!(
        e.to_string(),
        "m= line 1 of the answer has no codec from the offer"
    );
}

#[test]
fn answer_remapping_an_offered_payload_type_is_invalid() {
    let offer = make_offer(&config()).expect("offer");
    let answer = sdp(&SIPP_UAC_PCAP.replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMA/8000"));
    assert_eq!(
        process_answer(&offer, &answer),
        Err(NegotiationError::PayloadTypeMismatch {
            line: 1,
            payload_type: 0
        })
    );
}

#[test]
fn answer_rejecting_every_stream_accepts_nothing() {
    let offer = make_offer(&config()).expect("offer");
    let answer = sdp(&SIPP_UAC_PCAP.replace("m=audio 6000", "m=audio 0"));
    assert_eq!(
        process_answer(&offer, &answer),
        Err(NegotiationError::NothingAccepted)
    );
}

#[test]
fn answer_with_zero_address_holds_us() {
    let offer = make_offer(&config()).expect("offer");
    let answer = sdp(ZERO_ADDRESS_HOLD);
    let streams = process_answer(&offer, &answer).expect("valid");
    let s = streams[0].accepted().expect("accepted");
    assert_eq!(s.remote_rtp, RemoteEndpoint::OnHold);
    assert_eq!(s.direction, Direction::RecvOnly);
    assert!(matches!(streams[0], StreamOutcome::Accepted(_)));
}

#[test]
fn offer_needs_a_port_and_a_codec() {
    let mut c = config();
    c.rtp_ports.clear();
    assert_eq!(make_offer(&c), Err(NegotiationError::NoLocalPort));
    let mut c = config();
    c.codec_preference = vec![Codec::telephone_event()];
    assert_eq!(make_offer(&c), Err(NegotiationError::NoCodec));
}
