//! Tests of the SDP module, on SDP as real peers write it.

mod negotiate;
mod offer;
mod parse;
mod props;
mod rfc4317;

use std::net::IpAddr;

use super::{LocalMediaConfig, SessionDescription};

/// baresip 1.0 calling: PCMU, PCMA and telephone-event, session-level a=tool, ssrc lines.
pub(super) const BARESIP: &str = "v=0\r
o=- 1662378939 2126233391 IN IP4 192.168.1.20\r
s=-\r
c=IN IP4 192.168.1.20\r
t=0 0\r
a=tool:baresip 1.0.0\r
m=audio 18954 RTP/AVP 0 8 101\r
b=AS:64\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=sendrecv\r
a=label:1\r
a=ssrc:1588153620 cname:a2d3f1c0-4e8b-4b6e-9f1a-7c2b1d0e9f00\r
a=rtcp-rsize\r
a=ptime:20\r
";

/// SIPp's uac_pcap scenario, keywords substituted ([media_ip], [media_port]).
pub(super) const SIPP_UAC_PCAP: &str = "v=0\r
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r
s=-\r
c=IN IP4 127.0.0.1\r
t=0 0\r
m=audio 6000 RTP/AVP 0 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
";

/// An Asterisk-style offer: several codecs, G.722 and G.729 first, a=rtcp, maxptime.
pub(super) const ASTERISK: &str = "v=0\r
o=- 1849246112 1849246112 IN IP4 203.0.113.5\r
s=Asterisk\r
c=IN IP4 203.0.113.5\r
t=0 0\r
m=audio 17234 RTP/AVP 9 18 0 8 3 101\r
a=rtpmap:9 G722/8000\r
a=rtpmap:18 G729/8000\r
a=fmtp:18 annexb=no\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:3 GSM/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=rtcp:17235\r
a=ptime:20\r
a=maxptime:150\r
a=sendrecv\r
";

/// A video phone: video first (H.264, dynamic), then audio with its own c= line.
pub(super) const VIDEO_AND_AUDIO: &str = "v=0\r
o=linphone 123 456 IN IP4 198.51.100.7\r
s=Talk\r
c=IN IP4 198.51.100.7\r
b=AS:380\r
t=0 0\r
m=video 9078 RTP/AVP 96 97\r
a=rtpmap:96 H264/90000\r
a=fmtp:96 profile-level-id=42801F\r
a=rtpmap:97 VP8/90000\r
m=audio 7078 RTP/AVP 8 0 101\r
c=IN IP4 198.51.100.8\r
a=rtpmap:101 telephone-event/8000\r
";

/// A modern hold re-offer: sendonly at media level, version incremented.
pub(super) const SENDONLY_HOLD: &str = "v=0\r
o=- 1662378939 2126233392 IN IP4 192.168.1.20\r
s=-\r
c=IN IP4 192.168.1.20\r
t=0 0\r
m=audio 18954 RTP/AVP 0 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=sendonly\r
";

/// An RFC 2543-style hold: c=0.0.0.0 (RFC 3264 §8.4), no direction attribute.
pub(super) const ZERO_ADDRESS_HOLD: &str = "v=0\r
o=old 1 2 IN IP4 192.0.2.33\r
s=-\r
c=IN IP4 0.0.0.0\r
t=0 0\r
m=audio 5004 RTP/AVP 0\r
";

/// A WebRTC-gateway-like offer over RTP/AVP with ICE candidates and best-effort SDES
/// crypto, which Switchboard ignores.
pub(super) const ICE_AND_CRYPTO: &str = "v=0\r
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=ice-lite\r
m=audio 40000 RTP/AVP 111 0 8 101\r
c=IN IP4 192.0.2.50\r
a=rtcp:40001 IN IP4 192.0.2.50\r
a=ice-ufrag:F7gI\r
a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r
a=candidate:1 1 udp 2130706431 192.0.2.50 40000 typ host\r
a=candidate:1 2 udp 2130706430 192.0.2.50 40001 typ host\r
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r
a=rtpmap:111 opus/48000/2\r
a=fmtp:111 minptime=10;useinbandfec=1\r
a=rtpmap:101 telephone-event/8000\r
a=mid:0\r
a=rtcp-mux\r
a=sendrecv\r
";

/// The same audio offer over SRTP only (RTP/SAVP).
pub(super) const SRTP_ONLY: &str = "v=0\r
o=- 7 7 IN IP4 192.0.2.60\r
s=-\r
c=IN IP4 192.0.2.60\r
t=0 0\r
m=audio 30000 RTP/SAVP 0 8\r
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r
";

/// Parses a test sample.
pub(super) fn sdp(text: &str) -> SessionDescription {
    SessionDescription::parse(text.as_bytes()).expect("sample parses")
}

/// Switchboard at 198.51.100.1 with one RTP port, 30000.
pub(super) fn config() -> LocalMediaConfig {
    LocalMediaConfig::new(ip("198.51.100.1"), vec![30000], 1000)
}

/// An IP address literal.
pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().expect("test IP")
}
