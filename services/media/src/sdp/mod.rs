//! SDP (RFC 4566): parsing and building, and the RFC 3264 offer/answer negotiation.
//!
//! - [`SessionDescription::parse`] reads a body (CRLF or LF-only line endings) into typed
//!   fields and keeps every attribute it does not interpret, in order, so it can be echoed
//!   or ignored. Errors name the line ([`SdpError`]); no input makes it panic.
//! - `Display` writes RFC 4566 text: CRLF endings, lines in the order section 5 requires.
//! - [`negotiate_answer`] answers a peer's offer (RFC 3264 §6) by a codec preference list;
//!   [`make_offer`] and [`process_answer`] are the offerer's side. All three report, per
//!   `m=` line, what the RTP relay needs ([`StreamOutcome`]).
//!
//! Hostnames in `c=` lines are kept as text and reported unresolved: resolving them is I/O,
//! which this crate does not do.

mod build;
mod codec;
mod negotiate;
mod offer;
mod parse;
#[cfg(test)]
mod tests;

use std::net::IpAddr;

pub use codec::{Codec, CodecParseError, Encoding, static_codec};
pub use negotiate::{
    Answer, DEFAULT_PTIME_MS, LocalMediaConfig, NegotiatedStream, NegotiationError, RemoteEndpoint,
    SessionVersion, StreamOutcome, negotiate_answer,
};
pub use offer::{TELEPHONE_EVENT_PT, TELEPHONE_EVENTS, make_offer, process_answer};
pub use parse::{SdpError, SdpErrorKind};

/// A whole session description (RFC 4566 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`: who made the description and its version.
    pub origin: Origin,
    /// `s=`: the session name (`-` when there is none to give).
    pub session_name: String,
    /// `i=`: session information.
    pub information: Option<String>,
    /// `u=`: a URI describing the session.
    pub uri: Option<String>,
    /// `e=` lines, as written.
    pub emails: Vec<String>,
    /// `p=` lines, as written.
    pub phones: Vec<String>,
    /// Session-level `c=`: the default connection of every `m=` line without its own.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines, each with its `r=` lines.
    pub times: Vec<Timing>,
    /// `z=`: time zone adjustments, as written.
    pub time_zones: Option<String>,
    /// `k=`: encryption key, as written (obsolete, kept for echo).
    pub key: Option<String>,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// The `m=` sections, in order.
    pub media: Vec<MediaDescription>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The user name (`-` when none).
    pub username: String,
    /// The session id, kept as text: only its identity matters (and some peers exceed u64).
    pub session_id: String,
    /// The version, incremented by the originator whenever the description changes.
    pub session_version: u64,
    /// The network type, `IN`.
    pub net_type: String,
    /// The address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The originator's address or host name.
    pub address: String,
}

/// `c=<nettype> <addrtype> <connection-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The network type, `IN`.
    pub net_type: String,
    /// The address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The address as written: an IP, a host name, or a multicast address with `/ttl`.
    pub address: String,
}

impl Connection {
    /// An `IN IP4`/`IN IP6` connection for `ip`.
    pub fn from_ip(ip: IpAddr) -> Connection {
        Connection {
            net_type: "IN".to_owned(),
            addr_type: addr_type(ip).to_owned(),
            address: ip.to_string(),
        }
    }

    /// The IP address, when the address is an IP literal (a multicast `/ttl` is dropped).
    pub fn ip(&self) -> Option<IpAddr> {
        let addr = self.address.split('/').next().unwrap_or_default();
        addr.parse().ok()
    }
}

/// `IP4` or `IP6`, as SDP names the family of `ip`.
pub(crate) fn addr_type(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IP4" } else { "IP6" }
}

/// `b=<bwtype>:<bandwidth>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// The modifier: `AS`, `CT`, `TIAS`, `RS`, `RR`...
    pub bw_type: String,
    /// The value (kilobits per second for `AS` and `CT`).
    pub value: u64,
}

/// `t=<start-time> <stop-time>` and the `r=` lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// NTP start time, 0 for unbounded.
    pub start: u64,
    /// NTP stop time, 0 for unbounded.
    pub stop: u64,
    /// `r=` lines, as written.
    pub repeats: Vec<String>,
}

/// The transport protocol of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proto {
    /// `RTP/AVP` (RFC 3551).
    RtpAvp,
    /// `RTP/SAVP` (SRTP, RFC 3711).
    RtpSavp,
    /// `RTP/AVPF` (RFC 4585).
    RtpAvpf,
    /// `RTP/SAVPF`.
    RtpSavpf,
    /// Anything else (`UDP/TLS/RTP/SAVPF`, `udp`, `TCP/MSRP`...), as written.
    Other(String),
}

impl Proto {
    /// The protocol named by an `m=` line's proto field (case-sensitive, as RFC 4566 says).
    pub fn from_text(s: &str) -> Proto {
        match s {
            "RTP/AVP" => Proto::RtpAvp,
            "RTP/SAVP" => Proto::RtpSavp,
            "RTP/AVPF" => Proto::RtpAvpf,
            "RTP/SAVPF" => Proto::RtpSavpf,
            other => Proto::Other(other.to_owned()),
        }
    }

    /// The proto field's text.
    pub fn as_str(&self) -> &str {
        match self {
            Proto::RtpAvp => "RTP/AVP",
            Proto::RtpSavp => "RTP/SAVP",
            Proto::RtpAvpf => "RTP/AVPF",
            Proto::RtpSavpf => "RTP/SAVPF",
            Proto::Other(s) => s,
        }
    }

    /// Whether the formats are RTP payload type numbers (any proto containing `RTP/`).
    pub fn is_rtp(&self) -> bool {
        self.as_str().contains("RTP/")
    }
}

/// A stream's direction (RFC 3264 §5.1), from the point of view of the description's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Direction {
    /// Send and receive (the default).
    #[default]
    SendRecv,
    /// Send only (the classic hold offer).
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name: `sendrecv`, `sendonly`, `recvonly` or `inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction named `name`, if it is one of the four.
    pub fn from_name(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// A direction from its two halves.
    pub fn from_parts(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether the author sends.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the author receives.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end (sendonly ↔ recvonly).
    pub fn reversed(self) -> Direction {
        Direction::from_parts(self.receives(), self.sends())
    }

    /// What both allow: a half is kept only when both directions have it.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_parts(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// The RTP payload type.
    pub payload_type: u8,
    /// The codec it names.
    pub codec: Codec,
}

/// `a=fmtp:<format> <parameters>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// The format (a payload type number for RTP), as written.
    pub format: String,
    /// The parameters, as written (`0-16` for telephone-event).
    pub params: String,
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when not the stream's.
    pub connection: Option<Connection>,
}

/// One `a=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap:`.
    Rtpmap(Rtpmap),
    /// `a=fmtp:`.
    Fmtp(Fmtp),
    /// `a=ptime:` in milliseconds.
    Ptime(u32),
    /// `a=maxptime:` in milliseconds.
    MaxPtime(u32),
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly` or `a=inactive`.
    Direction(Direction),
    /// `a=rtcp:` (RFC 3605).
    Rtcp(Rtcp),
    /// Any other attribute, as written: `a=<name>` or `a=<name>:<value>`.
    Other {
        /// The attribute name.
        name: String,
        /// The value after the first `:`, if any.
        value: Option<String>,
    },
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// The media type: `audio`, `video`, `application`...
    pub media: String,
    /// The transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The `/<number of ports>` suffix, if written.
    pub port_count: Option<u16>,
    /// The transport protocol.
    pub proto: Proto,
    /// The formats, as written (payload type numbers for RTP).
    pub formats: Vec<String>,
    /// `i=`: media title.
    pub information: Option<String>,
    /// `c=` of this section; overrides the session's.
    pub connection: Option<Connection>,
    /// `b=` lines of this section.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=`, as written.
    pub key: Option<String>,
    /// The section's `a=` lines, in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// Whether this is an `audio` section.
    pub fn is_audio(&self) -> bool {
        self.media.eq_ignore_ascii_case("audio")
    }

    /// The formats as RTP payload types (formats that are not numbers 0-127 are skipped).
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok().filter(|pt| *pt < 128))
    }

    /// The `a=rtpmap` of payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<&Rtpmap> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtpmap(r) if r.payload_type == pt => Some(r),
            _ => None,
        })
    }

    /// The codec of payload type `pt`: its `a=rtpmap`, or the static table (RFC 3551).
    pub fn codec(&self, pt: u8) -> Option<Codec> {
        self.rtpmap(pt)
            .map(|r| r.codec.clone())
            .or_else(|| static_codec(pt))
    }

    /// The `a=fmtp` parameters of format `format`.
    pub fn fmtp(&self, format: &str) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp(f) if f.format == format => Some(f.params.as_str()),
            _ => None,
        })
    }

    /// `a=ptime`, in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(p) => Some(*p),
            _ => None,
        })
    }

    /// `a=maxptime`, in milliseconds.
    pub fn max_ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::MaxPtime(p) => Some(*p),
            _ => None,
        })
    }

    /// `a=rtcp` (RFC 3605).
    pub fn rtcp(&self) -> Option<&Rtcp> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtcp(r) => Some(r),
            _ => None,
        })
    }

    /// The section's own direction attribute, if any.
    pub fn direction_attribute(&self) -> Option<Direction> {
        direction_in(&self.attributes)
    }

    /// The first other attribute named `name` (`Some(None)` for a flag like `a=rtcp-mux`).
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        other_attribute(&self.attributes, name)
    }
}

impl SessionDescription {
    /// The effective direction of `media`: its own attribute, else the session's, else
    /// sendrecv (RFC 3264 §5.1).
    pub fn direction_of(&self, media: &MediaDescription) -> Direction {
        media
            .direction_attribute()
            .or_else(|| direction_in(&self.attributes))
            .unwrap_or_default()
    }

    /// The effective connection of `media`: its own `c=`, else the session's.
    pub fn connection_of<'a>(&'a self, media: &'a MediaDescription) -> Option<&'a Connection> {
        media.connection.as_ref().or(self.connection.as_ref())
    }

    /// The first session-level other attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        other_attribute(&self.attributes, name)
    }
}

fn direction_in(attributes: &[Attribute]) -> Option<Direction> {
    attributes.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

fn other_attribute<'a>(attributes: &'a [Attribute], name: &str) -> Option<Option<&'a str>> {
    attributes.iter().find_map(|a| match a {
        Attribute::Other { name: n, value } if n == name => Some(value.as_deref()),
        _ => None,
    })
}
