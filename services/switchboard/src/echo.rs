//! The echo extension: what an INVITE to user `echo` at Switchboard is answered with.
//!
//! Like a PBX's echo test, a call to `sip:echo@<Switchboard>` rings (180), is answered after
//! a configurable delay (200 with an SDP answer) and lasts until the caller hangs up (BYE).
//! The call flow lives in the user agent; this module holds its pure parts: whether a
//! Request-URI is the echo extension, and the SDP answer (RFC 3264, through
//! [`media::sdp::negotiate_answer`]) to the caller's offer.
//!
//! The answer accepts one audio stream over RTP/AVP in the best of the configured G.711
//! codecs (`[media] codecs`, PCMU then PCMA by default) plus telephone-event when offered,
//! sendrecv, on an RTP port from `[media]`'s range. The user agent binds that port when the
//! call rings (so nothing the caller sends after the 200 is lost) and an
//! [`RtpEndpoint`](crate::rtp::RtpEndpoint) echoes the caller's audio back and reports the
//! DTMF it hears (see [`crate::rtp`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use media::codec::G711Law;
use media::sdp::{Codec, Encoding, LocalMediaConfig, SessionDescription, negotiate_answer};
use sip::Uri;

use crate::rtp::{EchoMediaConfig, MediaConfig};
use crate::transport::Flow;

/// The user part of the echo extension's URI.
pub const ECHO_USER: &str = "echo";

/// The default delay between the 180 Ringing and the 200 OK, in milliseconds.
pub const DEFAULT_ANSWER_DELAY_MS: u64 = 1_000;

/// How the echo extension behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoConfig {
    /// Time between the 180 Ringing and the 200 OK.
    pub answer_delay: Duration,
    /// Ports, codecs, DTMF detection and the no-RTP timeout.
    pub media: MediaConfig,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig {
            answer_delay: Duration::from_millis(DEFAULT_ANSWER_DELAY_MS),
            media: MediaConfig::default(),
        }
    }
}

/// Whether `uri` is the echo extension at this Switchboard, for a request that came in on
/// `flow`: a SIP or SIPS URI with user `echo` whose host is us, i.e. the IP address the
/// request arrived on, any IP when we listen on the unspecified address (the arrival address
/// is not known then), or `localhost`.
pub fn is_echo_target(uri: &Uri, flow: &Flow) -> bool {
    let Some(sip) = uri.as_sip() else {
        return false;
    };
    sip.user_decoded().as_deref() == Some(ECHO_USER.as_bytes())
        && crate::call::is_local_host(uri, flow.local.ip())
}

/// The address to advertise (Contact, SDP `c=`, Via of our requests) for a request that came
/// in on `flow` to `uri`: the local address of the flow, or, when we listen on the
/// unspecified address, the Request-URI's IP (the address the caller used to reach us).
pub fn advertised_ip(flow: &Flow, uri: &Uri) -> IpAddr {
    let local = flow.local.ip();
    if !local.is_unspecified() {
        return local;
    }
    uri.as_sip()
        .and_then(|u| u.host.ip())
        .filter(|ip| ip.is_ipv4() == local.is_ipv4())
        .unwrap_or(local)
}

/// The caller's SDP offer, or why there is none to answer (for a 488 with a 399 Warning).
pub fn parse_offer(body: &[u8]) -> Result<SessionDescription, String> {
    if body.is_empty() {
        return Err("no SDP offer in the INVITE (offerless INVITEs are not supported yet)".into());
    }
    SessionDescription::parse(body).map_err(|e| format!("the SDP offer is not valid: {e}"))
}

/// The echo call's answer: the SDP text and how the RTP endpoint is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoAnswer {
    /// The SDP answer.
    pub sdp: String,
    /// The media core's configuration.
    pub media: EchoMediaConfig,
    /// Where the caller said it receives RTP (the endpoint answers where packets come from).
    pub remote: Option<SocketAddr>,
}

/// The SDP answer (RFC 3264) to `offer` from Switchboard at `local`:`port`, or why the offer
/// cannot be answered (a [`media::sdp::NegotiationError`]'s text, for a 488 with a 399
/// Warning). `session` is the `o=` session id and version.
pub fn answer_offer(
    offer: &SessionDescription,
    local: IpAddr,
    port: u16,
    session: u64,
    config: &MediaConfig,
) -> Result<EchoAnswer, String> {
    let mut local_config = LocalMediaConfig::new(local, vec![port], session);
    local_config.codec_preference = config
        .codecs
        .iter()
        .map(|law| match law {
            G711Law::Mu => Codec::pcmu(),
            G711Law::A => Codec::pcma(),
        })
        .collect();
    local_config.session_name = "Switchboard echo".to_owned();
    let answer = negotiate_answer(offer, &local_config).map_err(|e| e.to_string())?;
    let stream = answer
        .accepted()
        .next()
        .ok_or_else(|| "no audio stream accepted".to_owned())?;
    let law = match stream.codec.encoding {
        Encoding::Pcmu => Some(G711Law::Mu),
        Encoding::Pcma => Some(G711Law::A),
        _ => None,
    };
    Ok(EchoAnswer {
        sdp: answer.sdp.to_string(),
        media: EchoMediaConfig {
            audio: law.map(|l| (stream.payload_type, l)),
            telephone_event: stream.telephone_event,
            inband: config.dtmf_inband,
            timeout: config.rtp_timeout,
        },
        remote: stream.remote_rtp.addr(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TransportKind;

    const LOCAL: &str = "127.0.0.1";

    fn local() -> IpAddr {
        LOCAL.parse().expect("test address")
    }

    fn offer(m_lines: &str) -> Vec<u8> {
        format!(
            "v=0\r\no=caller 42 42 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n{m_lines}"
        )
        .into_bytes()
    }

    fn answer(m_lines: &str) -> Result<EchoAnswer, String> {
        let parsed = parse_offer(&offer(m_lines))?;
        answer_offer(&parsed, local(), 20_000, 7, &MediaConfig::default())
    }

    fn sdp(m_lines: &str) -> String {
        answer(m_lines).expect("answer").sdp
    }

    #[test]
    fn pcmu_offer_gets_pcmu_sendrecv_on_our_port() {
        let sdp = sdp("m=audio 6000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n");
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"), "{sdp}");
        assert!(sdp.contains("s=Switchboard echo\r\n"), "{sdp}");
        assert!(sdp.contains("m=audio 20000 RTP/AVP 0"), "{sdp}");
        assert!(sdp.contains("a=sendrecv"), "{sdp}");
        assert!(!sdp.contains("PCMA"), "{sdp}");
        let a = answer("m=audio 6000 RTP/AVP 0 8\r\n").expect("answer");
        assert_eq!(a.media.audio, Some((0, G711Law::Mu)));
        assert_eq!(a.remote, Some("192.0.2.10:6000".parse().expect("addr")));
    }

    #[test]
    fn our_codec_preference_wins() {
        let a = answer("m=audio 6000 RTP/AVP 18 8 0\r\n").expect("answer");
        assert_eq!(a.media.audio, Some((0, G711Law::Mu)));
        let only_a = MediaConfig {
            codecs: vec![G711Law::A],
            ..MediaConfig::default()
        };
        let parsed = parse_offer(&offer("m=audio 6000 RTP/AVP 0 8\r\n")).expect("offer");
        let a = answer_offer(&parsed, local(), 20_000, 7, &only_a).expect("answer");
        assert_eq!(a.media.audio, Some((8, G711Law::A)));
    }

    #[test]
    fn telephone_event_is_kept_with_its_type() {
        let a = answer(
            "m=audio 6000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\n",
        )
        .expect("answer");
        assert!(
            a.sdp.contains("m=audio 20000 RTP/AVP 8 101\r\n"),
            "{}",
            a.sdp
        );
        assert!(
            a.sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"),
            "{}",
            a.sdp
        );
        assert_eq!(a.media.telephone_event, Some(101));
    }

    #[test]
    fn only_g729_gets_no_answer() {
        let err =
            answer("m=audio 6000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n").expect_err("G.729 only");
        assert!(err.contains("no common audio codec"), "{err}");
    }

    #[test]
    fn no_sdp_and_not_sdp_get_no_answer() {
        assert!(
            parse_offer(b"")
                .expect_err("empty")
                .contains("no SDP offer")
        );
        assert!(
            parse_offer(b"hello")
                .expect_err("not SDP")
                .contains("not valid")
        );
        let no_media =
            parse_offer(b"v=0\r\no=a 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n").expect("parses");
        assert!(answer_offer(&no_media, local(), 20_000, 1, &MediaConfig::default()).is_err());
    }

    #[test]
    fn srtp_and_disabled_streams_are_not_acceptable() {
        assert!(answer("m=audio 6000 RTP/SAVP 0\r\n").is_err());
        assert!(answer("m=audio 0 RTP/AVP 0\r\n").is_err());
    }

    #[test]
    fn other_sections_are_rejected_in_place() {
        let sdp = sdp("m=video 7000 RTP/AVP 31\r\nm=audio 6000 RTP/AVP 0\r\n");
        let m_lines: Vec<&str> = sdp.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(m_lines, ["m=video 0 RTP/AVP 31", "m=audio 20000 RTP/AVP 0"]);
    }

    #[test]
    fn ipv6_answers_use_ip6() {
        let parsed = parse_offer(&offer("m=audio 6000 RTP/AVP 0\r\n")).expect("offer");
        let a = answer_offer(
            &parsed,
            "::1".parse().expect("v6"),
            20_000,
            1,
            &MediaConfig::default(),
        )
        .expect("answer");
        assert!(a.sdp.contains("c=IN IP6 ::1\r\n"), "{}", a.sdp);
    }

    fn flow(local: &str) -> Flow {
        Flow {
            transport: TransportKind::Udp,
            local: local.parse::<SocketAddr>().expect("local"),
            peer: "127.0.0.1:5062".parse().expect("peer"),
        }
    }

    fn uri(s: &str) -> Uri {
        Uri::parse(s).expect("uri parses")
    }

    #[test]
    fn echo_target_is_user_echo_at_our_address() {
        let f = flow("127.0.0.1:5060");
        assert!(is_echo_target(&uri("sip:echo@127.0.0.1:5060"), &f));
        assert!(is_echo_target(&uri("sip:echo@127.0.0.1"), &f));
        assert!(is_echo_target(&uri("sip:%65cho@localhost"), &f));
        assert!(!is_echo_target(&uri("sip:alice@127.0.0.1"), &f));
        assert!(!is_echo_target(&uri("sip:echo@192.0.2.1"), &f));
        assert!(!is_echo_target(&uri("sip:echo@example.com"), &f));
        assert!(!is_echo_target(&uri("tel:+15551234"), &f));
        // Listening on the unspecified address, any IP literal is us.
        assert!(is_echo_target(
            &uri("sip:echo@192.0.2.1"),
            &flow("0.0.0.0:5060")
        ));
    }

    #[test]
    fn advertised_ip_is_the_local_address_or_the_uri_ip() {
        assert_eq!(
            advertised_ip(&flow("127.0.0.1:5060"), &uri("sip:echo@192.0.2.1")),
            local()
        );
        assert_eq!(
            advertised_ip(&flow("0.0.0.0:5060"), &uri("sip:echo@192.0.2.1")),
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(
            advertised_ip(&flow("0.0.0.0:5060"), &uri("sip:echo@localhost")),
            "0.0.0.0".parse::<IpAddr>().expect("ip")
        );
    }
}
