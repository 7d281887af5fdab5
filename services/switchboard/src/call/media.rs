//! The SDP of an anchored call: Switchboard offers the callee its own address on leg B,
//! and answers the caller's offer with its address on leg A, so every RTP packet passes
//! through the relay (RFC 3264 on each leg separately).
//!
//! The caller's answer prefers the codec the callee chose, so a call whose phones share a
//! codec is relayed without transcoding; otherwise the relay transcodes PCMU↔PCMA.

use std::net::IpAddr;

use media::codec::G711Law;
use media::dtmf::DtmfMode;
use media::relay::LegConfig;
use media::sdp::{
    Codec, LocalMediaConfig, NegotiatedStream, SessionDescription, SessionVersion, make_offer,
    negotiate_answer, process_answer,
};

/// The codec list of `[media] codecs` as SDP codecs.
pub fn preference(codecs: &[G711Law]) -> Vec<Codec> {
    codecs
        .iter()
        .map(|law| match law {
            G711Law::Mu => Codec::pcmu(),
            G711Law::A => Codec::pcma(),
        })
        .collect()
}

fn local_config(ip: IpAddr, port: u16, session: u64, codecs: Vec<Codec>) -> LocalMediaConfig {
    let mut config = LocalMediaConfig::new(ip, vec![port], session);
    config.codec_preference = codecs;
    config.session = SessionVersion {
        id: session,
        version: session,
    };
    config
}

/// Checks that the caller's `offer` has something Switchboard can answer (before the callee
/// is called); `Err` is the reason for a 488's Warning.
pub fn check_caller_offer(
    offer: &SessionDescription,
    ip: IpAddr,
    codecs: &[G711Law],
) -> Result<(), String> {
    negotiate_answer(offer, &local_config(ip, 9, 0, preference(codecs)))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Switchboard's offer to the callee, from `ip`:`port` (leg B's RTP port).
pub fn offer_to_callee(
    ip: IpAddr,
    port: u16,
    session: u64,
    codecs: &[G711Law],
) -> Result<SessionDescription, String> {
    make_offer(&local_config(ip, port, session, preference(codecs))).map_err(|e| e.to_string())
}

/// Leg B as the callee's `answer` to our `offer` describes it.
pub fn callee_leg(
    offer: &SessionDescription,
    answer_body: &[u8],
) -> Result<NegotiatedStream, String> {
    let answer = SessionDescription::parse(answer_body)
        .map_err(|e| format!("the callee's SDP answer is not valid: {e}"))?;
    let streams = process_answer(offer, &answer)
        .map_err(|e| format!("the callee's SDP answer is not usable: {e}"))?;
    streams
        .into_iter()
        .find_map(|s| s.accepted().cloned())
        .ok_or_else(|| "the callee accepted no audio stream".to_owned())
}

/// The caller's answer from `ip`:`port` (leg A's RTP port), preferring the callee's codec,
/// and leg A as it describes it.
pub fn answer_caller(
    offer: &SessionDescription,
    ip: IpAddr,
    port: u16,
    session: u64,
    callee_codec: &Codec,
    codecs: &[G711Law],
) -> Result<(String, NegotiatedStream), String> {
    let mut order = vec![callee_codec.clone()];
    order.extend(
        preference(codecs)
            .into_iter()
            .filter(|c| !c.matches(callee_codec)),
    );
    let answer = negotiate_answer(offer, &local_config(ip, port, session, order))
        .map_err(|e| e.to_string())?;
    let stream = answer
        .accepted()
        .next()
        .cloned()
        .ok_or_else(|| "no audio stream accepted".to_owned())?;
    Ok((answer.sdp.to_string(), stream))
}

/// The relay's view of a negotiated leg whose endpoint wants DTMF as `dtmf_mode`.
pub fn leg_config(stream: &NegotiatedStream, dtmf_mode: DtmfMode) -> LegConfig {
    LegConfig {
        dtmf_mode,
        ..LegConfig::from_stream(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLER_OFFER: &str = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

    fn ip() -> IpAddr {
        IpAddr::from([127, 0, 0, 1])
    }

    #[test]
    fn the_callee_is_offered_our_address_on_leg_b() {
        let offer = offer_to_callee(ip(), 20002, 7, &[G711Law::Mu, G711Law::A]).expect("offer");
        let text = offer.to_string();
        assert!(text.contains("m=audio 20002 RTP/AVP 0 8 101"), "{text}");
        assert!(text.contains("c=IN IP4 127.0.0.1"), "{text}");
    }

    #[test]
    fn the_caller_is_answered_in_the_callees_codec_when_it_has_it() {
        let offer = SessionDescription::parse(CALLER_OFFER.as_bytes()).expect("offer");
        let (sdp, stream) =
            answer_caller(&offer, ip(), 20000, 9, &Codec::pcmu(), &[G711Law::A]).expect("answer");
        assert_eq!(
            stream.payload_type, 0,
            "PCMU, the callee's, though A is preferred"
        );
        assert_eq!(stream.telephone_event, Some(101));
        assert!(sdp.contains("m=audio 20000 RTP/AVP 0 101"), "{sdp}");
    }

    #[test]
    fn the_callees_answer_gives_leg_b() {
        let offer = offer_to_callee(ip(), 20002, 7, &[G711Law::Mu, G711Law::A]).expect("offer");
        let answer = "v=0\r\no=bob 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        let leg = callee_leg(&offer, answer.as_bytes()).expect("leg");
        assert_eq!(leg.payload_type, 8);
        assert_eq!(leg.local_port, 20002);
        assert_eq!(
            leg.remote_rtp.addr().map(|a| a.port()),
            Some(30000),
            "{leg:?}"
        );
    }

    #[test]
    fn offers_and_answers_we_cannot_use_say_why() {
        let offer = offer_to_callee(ip(), 20002, 7, &[G711Law::Mu]).expect("offer");
        let err = callee_leg(&offer, b"garbage").expect_err("not SDP");
        assert!(err.contains("not valid"), "{err}");
        let video = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n";
        let video = SessionDescription::parse(video.as_bytes()).expect("parses");
        assert!(check_caller_offer(&video, ip(), &[G711Law::Mu]).is_err());
    }
}
