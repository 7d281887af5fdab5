//! The echo extension: what an INVITE to user `echo` at Switchboard is answered with.
//!
//! Like a PBX's echo test, a call to `sip:echo@<Switchboard>` rings (180), is answered after
//! a configurable delay (200 with an SDP answer) and lasts until the caller hangs up (BYE).
//! The call flow lives in the user agent; this module holds its pure parts: whether a
//! Request-URI is the echo extension, and the SDP answer (RFC 3264) to the caller's offer.
//!
//! Media arrives with the media issue (RTP anchoring and the actual echo). Until then the
//! answer accepts one audio codec but puts the stream `a=inactive` on a placeholder port, so
//! no peer is told to send audio to a port nobody reads.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use sip::{Host, Uri};

use crate::transport::Flow;

/// The user part of the echo extension's URI.
pub const ECHO_USER: &str = "echo";

/// The default delay between the 180 Ringing and the 200 OK, in milliseconds.
pub const DEFAULT_ANSWER_DELAY_MS: u64 = 1_000;

/// The port the SDP answer names while Switchboard anchors no RTP (the discard port, as
/// placeholder; the stream is `a=inactive`).
pub const PLACEHOLDER_RTP_PORT: u16 = 9;

/// How the echo extension behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoConfig {
    /// Time between the 180 Ringing and the 200 OK.
    pub answer_delay: Duration,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig {
            answer_delay: Duration::from_millis(DEFAULT_ANSWER_DELAY_MS),
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
    if sip.user_decoded().as_deref() != Some(ECHO_USER.as_bytes()) {
        return false;
    }
    match &sip.host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        host => host
            .ip()
            .is_some_and(|ip| ip == flow.local.ip() || flow.local.ip().is_unspecified()),
    }
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

/// One `m=` section of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Media {
    kind: String,
    port: String,
    proto: String,
    formats: Vec<String>,
    /// `a=rtpmap:<pt> <encoding>` values, by payload type.
    rtpmap: Vec<(String, String)>,
    /// `a=fmtp:<pt> <params>` values, by payload type.
    fmtp: Vec<(String, String)>,
}

impl Media {
    fn rtpmap(&self, pt: &str) -> Option<&str> {
        self.rtpmap
            .iter()
            .find(|(p, _)| p == pt)
            .map(|(_, v)| v.as_str())
    }

    fn fmtp(&self, pt: &str) -> Option<&str> {
        self.fmtp
            .iter()
            .find(|(p, _)| p == pt)
            .map(|(_, v)| v.as_str())
    }
}

/// The `m=` sections of an SDP body (RFC 4566), or why it is not one.
fn parse_offer(body: &str) -> Result<Vec<Media>, String> {
    let mut lines = body
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty());
    if lines.next() != Some("v=0") {
        return Err("the body is not an SDP offer (no v=0 line first)".to_owned());
    }
    let mut media: Vec<Media> = Vec::new();
    for line in lines {
        let Some((kind, value)) = line.split_once('=') else {
            return Err(format!("malformed SDP line {line:?}"));
        };
        match kind {
            "m" => {
                let mut parts = value.split_whitespace();
                let (Some(kind), Some(port), Some(proto)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(format!("malformed m= line {line:?}"));
                };
                media.push(Media {
                    kind: kind.to_owned(),
                    port: port.to_owned(),
                    proto: proto.to_owned(),
                    formats: parts.map(str::to_owned).collect(),
                    rtpmap: Vec::new(),
                    fmtp: Vec::new(),
                });
            }
            "a" => {
                let Some(m) = media.last_mut() else { continue };
                let attribute = |name: &str| {
                    value
                        .strip_prefix(name)
                        .and_then(|rest| rest.split_once(' '))
                        .map(|(pt, v)| (pt.to_owned(), v.trim().to_owned()))
                };
                if let Some(entry) = attribute("rtpmap:") {
                    m.rtpmap.push(entry);
                } else if let Some(entry) = attribute("fmtp:") {
                    m.fmtp.push(entry);
                }
            }
            _ => {}
        }
    }
    if media.is_empty() {
        return Err("the SDP offer has no m= line".to_owned());
    }
    Ok(media)
}

/// The codec chosen from an audio section: the first PCMU (0) or PCMA (8) in the offer's
/// order, and the offered telephone-event type (RFC 4733) if any.
fn choose(m: &Media) -> Option<(&'static str, &str, Option<&str>)> {
    if m.kind != "audio" || m.port == "0" || m.proto != "RTP/AVP" {
        return None;
    }
    let (codec, pt) = m.formats.iter().find_map(|f| match f.as_str() {
        "0" => Some(("PCMU/8000", f.as_str())),
        "8" => Some(("PCMA/8000", f.as_str())),
        _ => None,
    })?;
    let dtmf = m.formats.iter().map(String::as_str).find(|f| {
        m.rtpmap(f)
            .is_some_and(|enc| enc.eq_ignore_ascii_case("telephone-event/8000"))
    });
    Some((codec, pt, dtmf))
}

/// The SDP answer (RFC 3264) to `offer` from Switchboard at `local`, or why the offer cannot
/// be answered (for a 488 with a 399 Warning).
///
/// The first audio section over RTP/AVP offering PCMU (0) or PCMA (8) is accepted with the
/// first of those in the offer's order, plus telephone-event if offered; every other section
/// is rejected (port 0), as RFC 3264 §6 asks, so the answer has as many `m=` lines as the
/// offer. `session` is the `o=` session id and version.
pub fn sdp_answer(offer: &[u8], local: IpAddr, session: u64) -> Result<String, String> {
    if offer.is_empty() {
        return Err("no SDP offer in the INVITE (offerless INVITEs are not supported yet)".into());
    }
    let Ok(text) = std::str::from_utf8(offer) else {
        return Err("the SDP offer is not UTF-8 text".to_owned());
    };
    let media = parse_offer(text)?;
    let chosen = media
        .iter()
        .position(|m| choose(m).is_some())
        .ok_or_else(|| {
            "no acceptable audio codec offered (Switchboard takes PCMU or PCMA over RTP/AVP)"
                .to_owned()
        })?;
    let family = if local.is_ipv4() { "IP4" } else { "IP6" };
    let mut sdp = String::with_capacity(256);
    // Writing to a String cannot fail.
    let _ = write!(
        sdp,
        "v=0\r\no=Switchboard {session} {session} IN {family} {local}\r\ns=Switchboard echo\r\n\
         c=IN {family} {local}\r\nt=0 0\r\n"
    );
    for (i, m) in media.iter().enumerate() {
        let accepted = if i == chosen { choose(m) } else { None };
        let Some((codec, pt, dtmf)) = accepted else {
            let first = m.formats.first().map_or("0", String::as_str);
            let _ = write!(sdp, "m={} 0 {} {first}\r\n", m.kind, m.proto);
            continue;
        };
        // RTP anchoring arrives with the media issue: until then the stream is accepted but
        // inactive, on a placeholder port, so the caller sends no audio anywhere.
        let _ = write!(sdp, "m=audio {PLACEHOLDER_RTP_PORT} RTP/AVP {pt}");
        if let Some(d) = dtmf {
            let _ = write!(sdp, " {d}");
        }
        let _ = write!(sdp, "\r\na=rtpmap:{pt} {codec}\r\n");
        if let Some(d) = dtmf {
            let events = m.fmtp(d).unwrap_or("0-16");
            let _ = write!(
                sdp,
                "a=rtpmap:{d} telephone-event/8000\r\na=fmtp:{d} {events}\r\n"
            );
        }
        sdp.push_str("a=inactive\r\n");
    }
    Ok(sdp)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

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

    fn answer(m_lines: &str) -> Result<String, String> {
        sdp_answer(&offer(m_lines), local(), 7)
    }

    #[test]
    fn pcmu_offer_gets_pcmu_inactive_on_the_local_address() {
        let sdp = answer("m=audio 6000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n").expect("answer");
        assert_eq!(
            sdp,
            "v=0\r\no=Switchboard 7 7 IN IP4 127.0.0.1\r\ns=Switchboard echo\r\n\
             c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n\
             a=rtpmap:0 PCMU/8000\r\na=inactive\r\n"
        );
    }

    #[test]
    fn the_first_of_pcmu_and_pcma_in_offer_order_wins() {
        let sdp = answer("m=audio 6000 RTP/AVP 18 8 0\r\n").expect("answer");
        assert!(
            sdp.contains("m=audio 9 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"),
            "{sdp}"
        );
        assert!(!sdp.contains("PCMU"), "{sdp}");
    }

    #[test]
    fn telephone_event_is_kept_with_its_type_and_events() {
        let sdp = answer(
            "m=audio 6000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\n",
        )
        .expect("answer");
        assert!(sdp.contains("m=audio 9 RTP/AVP 8 101\r\n"), "{sdp}");
        assert!(
            sdp.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"),
            "{sdp}"
        );
    }

    #[test]
    fn only_g729_gets_no_answer() {
        let err =
            answer("m=audio 6000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n").expect_err("G.729 only");
        assert!(err.contains("no acceptable audio codec"), "{err}");
    }

    #[test]
    fn no_sdp_and_not_sdp_get_no_answer() {
        assert!(
            sdp_answer(b"", local(), 1)
                .expect_err("empty")
                .contains("no SDP offer")
        );
        assert!(
            sdp_answer(b"hello", local(), 1)
                .expect_err("not SDP")
                .contains("v=0")
        );
        assert!(
            sdp_answer(b"v=0\r\ns=-\r\n", local(), 1)
                .expect_err("no media")
                .contains("no m= line")
        );
    }

    #[test]
    fn srtp_and_disabled_streams_are_not_acceptable() {
        assert!(answer("m=audio 6000 RTP/SAVP 0\r\n").is_err());
        assert!(answer("m=audio 0 RTP/AVP 0\r\n").is_err());
    }

    #[test]
    fn other_sections_are_rejected_in_place() {
        let sdp = answer("m=video 7000 RTP/AVP 31\r\nm=audio 6000 RTP/AVP 0\r\n").expect("answer");
        let m_lines: Vec<&str> = sdp.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(m_lines, ["m=video 0 RTP/AVP 31", "m=audio 9 RTP/AVP 0"]);
    }

    #[test]
    fn ipv6_answers_use_ip6() {
        let sdp = sdp_answer(
            &offer("m=audio 6000 RTP/AVP 0\r\n"),
            "::1".parse().expect("v6"),
            1,
        )
        .expect("answer");
        assert!(sdp.contains("c=IN IP6 ::1\r\n"), "{sdp}");
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
