//! Known answers from RFC 4317 (SDP offer/answer examples), §2.1, §2.2 and §2.4.
//!
//! Switchboard's answers differ from Bob's where Switchboard is not Bob: it relays audio
//! only (video is rejected), takes one codec per stream, and writes the direction always.

use super::*;
use crate::sdp::{
    Codec, Direction, Encoding, LocalMediaConfig, RemoteEndpoint, StreamOutcome, negotiate_answer,
    process_answer,
};

/// §2.1 and §2.2: Alice offers PCMU, PCMA and iLBC audio and H.261 and MPV video.
const ALICE_AUDIO_VIDEO: &str = "v=0\r
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r
s=\r
c=IN IP4 host.atlanta.example.com\r
t=0 0\r
m=audio 49170 RTP/AVP 0 8 97\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:97 iLBC/8000\r
m=video 51372 RTP/AVP 31 32\r
a=rtpmap:31 H261/90000\r
a=rtpmap:32 MPV/90000\r
";

/// §2.1: Bob takes PCMU and MPV.
const BOB_2_1: &str = "v=0\r
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com\r
s=\r
c=IN IP4 host.biloxi.example.com\r
t=0 0\r
m=audio 49174 RTP/AVP 0\r
a=rtpmap:0 PCMU/8000\r
m=video 49170 RTP/AVP 32\r
a=rtpmap:32 MPV/90000\r
";

/// §2.2: Bob takes PCMU and PCMA and rejects video.
const BOB_2_2: &str = "v=0\r
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com\r
s=\r
c=IN IP4 host.biloxi.example.com\r
t=0 0\r
m=audio 49172 RTP/AVP 0 8\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
m=video 0 RTP/AVP 31\r
a=rtpmap:31 H261/90000\r
";

/// §2.4: two audio streams, the second telephone-event only and sendonly.
const ALICE_TWO_AUDIO: &str = "v=0\r
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r
s=\r
c=IN IP4 host.atlanta.example.com\r
t=0 0\r
m=audio 49170 RTP/AVP 0 97\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:97 iLBC/8000\r
m=audio 49172 RTP/AVP 98\r
a=rtpmap:98 telephone-event/8000\r
a=sendonly\r
";

/// §2.4: Bob takes iLBC and receives the events.
const BOB_2_4: &str = "v=0\r
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com\r
s=\r
c=IN IP4 host.biloxi.example.com\r
t=0 0\r
m=audio 49172 RTP/AVP 97\r
a=rtpmap:97 iLBC/8000\r
m=audio 49174 RTP/AVP 98\r
a=rtpmap:98 telephone-event/8000\r
a=recvonly\r
";

fn bob(port: u16) -> LocalMediaConfig {
    let mut c = LocalMediaConfig::new(ip("192.0.2.2"), vec![port], 2808844564);
    c.username = "bob".into();
    c.session_name = String::new();
    c.ptime = None;
    c
}

fn biloxi(port: u16) -> RemoteEndpoint {
    RemoteEndpoint::Host {
        host: "host.biloxi.example.com".into(),
        port,
    }
}

#[test]
fn rfc4317_2_1_bob_answers_pcmu_like_the_rfc_and_rejects_video() {
    let mut config = bob(49174);
    config.codec_preference = vec![Codec::pcmu()];
    let answer = negotiate_answer(&sdp(ALICE_AUDIO_VIDEO), &config).expect("answer");
    // The RFC's audio section, plus our explicit direction.
    let rfc = sdp(BOB_2_1);
    let mut audio = rfc.media[0].clone();
    audio
        .attributes
        .push(crate::sdp::Attribute::Direction(Direction::SendRecv));
    assert_eq!(answer.sdp.media[0], audio);
    assert_eq!(
        answer.sdp.media[1].to_string(),
        "m=video 0 RTP/AVP 31 32\r\n"
    );
    let s = answer.accepted().next().expect("audio");
    assert_eq!(
        s.remote_rtp,
        RemoteEndpoint::Host {
            host: "host.atlanta.example.com".into(),
            port: 49170
        }
    );
}

#[test]
fn rfc4317_2_1_alice_reads_bobs_answer() {
    let streams = process_answer(&sdp(ALICE_AUDIO_VIDEO), &sdp(BOB_2_1)).expect("valid");
    let audio = streams[0].accepted().expect("audio");
    assert_eq!(
        (audio.payload_type, audio.codec.clone()),
        (0, Codec::pcmu())
    );
    assert_eq!(audio.remote_rtp, biloxi(49174));
    assert_eq!(audio.remote_rtcp, biloxi(49175));
    assert_eq!(audio.local_port, 49170);
    // Switchboard relays no video, accepted or not.
    assert_eq!(
        streams[1],
        StreamOutcome::Rejected {
            index: 1,
            media: "video".into()
        }
    );
}

#[test]
fn rfc4317_2_2_first_codec_of_a_multi_codec_answer_is_used() {
    let streams = process_answer(&sdp(ALICE_AUDIO_VIDEO), &sdp(BOB_2_2)).expect("valid");
    let audio = streams[0].accepted().expect("audio");
    assert_eq!(audio.codec, Codec::pcmu());
    assert_eq!(audio.remote_rtp, biloxi(49172));
    assert!(streams[1].accepted().is_none());
    // Answering the same offer ourselves with PCMA preferred gives PCMA alone.
    let mut config = bob(49172);
    config.codec_preference = vec![Codec::pcma(), Codec::pcmu()];
    let answer = negotiate_answer(&sdp(ALICE_AUDIO_VIDEO), &config).expect("answer");
    assert_eq!(answer.sdp.media[0].formats, ["8"]);
}

#[test]
fn rfc4317_2_4_dynamic_payload_type_and_events_only_stream() {
    let streams = process_answer(&sdp(ALICE_TWO_AUDIO), &sdp(BOB_2_4)).expect("valid");
    let audio = streams[0].accepted().expect("iLBC");
    assert_eq!(audio.payload_type, 97);
    assert_eq!(audio.codec.encoding, Encoding::Other("iLBC".into()));
    assert_eq!(audio.remote_rtp, biloxi(49172));
    // An events-only stream carries no audio for the relay.
    assert!(streams[1].accepted().is_none());
    // Switchboard as Bob (PCMU only): the first stream in PCMU, the events-only stream
    // rejected rather than accepted recvonly as Bob does.
    let answer = negotiate_answer(&sdp(ALICE_TWO_AUDIO), &bob(49172)).expect("answer");
    assert_eq!(answer.sdp.media[0].formats, ["0"]);
    assert_eq!(answer.sdp.media[1].port, 0);
    assert_eq!(answer.sdp.media[1].formats, ["98"]);
}
