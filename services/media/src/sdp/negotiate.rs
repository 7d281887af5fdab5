//! RFC 3264 offer/answer: answering a peer's offer (§6) by a codec preference list, and
//! what each `m=` line means for the RTP relay.

use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use super::{
    Attribute, Codec, Connection, Direction, Encoding, Fmtp, MediaDescription, Origin, Proto, Rtcp,
    Rtpmap, SessionDescription, Timing,
};

/// The packetization time when neither side names one (RFC 3551 §4.5: 20 ms for G.711).
pub const DEFAULT_PTIME_MS: u32 = 20;

/// The `o=` session id and version of the descriptions Switchboard writes for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionVersion {
    /// The session id, the same for the whole dialog.
    pub id: u64,
    /// The version, incremented for every changed description (RFC 3264 §8).
    pub version: u64,
}

impl SessionVersion {
    /// The version to write in a changed description (a re-offer, e.g. for hold).
    #[must_use]
    pub fn next(self) -> SessionVersion {
        SessionVersion {
            id: self.id,
            version: self.version.wrapping_add(1),
        }
    }
}

/// What Switchboard offers or accepts on one call leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMediaConfig {
    /// Audio codecs in order of preference; the best one the peer also has is chosen.
    pub codec_preference: Vec<Codec>,
    /// Whether to accept or offer telephone-event (RFC 4733 DTMF).
    pub telephone_event: bool,
    /// Our packetization time, written when the offer names none (and in our offers).
    pub ptime: Option<u32>,
    /// The address in `o=` and `c=`, where Switchboard receives RTP.
    pub local_ip: IpAddr,
    /// RTP ports allocated by the caller, one per stream to accept or offer, in order (RTCP
    /// is on port + 1). Offered audio streams beyond these are rejected.
    pub rtp_ports: Vec<u16>,
    /// The `o=` id and version to write.
    pub session: SessionVersion,
    /// The `o=` user name.
    pub username: String,
    /// The `s=` line.
    pub session_name: String,
    /// What Switchboard's side wants: sendrecv, or sendonly/inactive to hold the peer.
    pub direction: Direction,
}

impl LocalMediaConfig {
    /// PCMU then PCMA, telephone-event, 20 ms, sendrecv, at `local_ip` on `rtp_ports`.
    pub fn new(local_ip: IpAddr, rtp_ports: Vec<u16>, session_id: u64) -> LocalMediaConfig {
        LocalMediaConfig {
            codec_preference: vec![Codec::pcmu(), Codec::pcma()],
            telephone_event: true,
            ptime: Some(DEFAULT_PTIME_MS),
            local_ip,
            rtp_ports,
            session: SessionVersion {
                id: session_id,
                version: session_id,
            },
            username: "switchboard".to_owned(),
            session_name: "Switchboard".to_owned(),
            direction: Direction::SendRecv,
        }
    }

    /// The `o=` line for this configuration.
    pub(crate) fn origin(&self) -> Origin {
        let c = Connection::from_ip(self.local_ip);
        Origin {
            username: self.username.clone(),
            session_id: self.session.id.to_string(),
            session_version: self.session.version,
            net_type: c.net_type,
            addr_type: c.addr_type,
            address: c.address,
        }
    }

    /// An empty description (no `m=` yet) from this configuration.
    pub(crate) fn description(&self) -> SessionDescription {
        SessionDescription {
            origin: self.origin(),
            session_name: self.session_name.clone(),
            information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: Some(Connection::from_ip(self.local_ip)),
            bandwidths: Vec::new(),
            times: vec![Timing {
                start: 0,
                stop: 0,
                repeats: Vec::new(),
            }],
            time_zones: None,
            key: None,
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }
}

/// Where the peer receives RTP or RTCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteEndpoint {
    /// An IP address and port.
    Addr(SocketAddr),
    /// `c=` is 0.0.0.0 or `::`: the peer holds the call the RFC 2543 way (RFC 3264 §8.4)
    /// and receives nothing.
    OnHold,
    /// A host name, for the caller to resolve (resolving is I/O).
    Host {
        /// The host name as written.
        host: String,
        /// The port.
        port: u16,
    },
}

impl RemoteEndpoint {
    pub(crate) fn new(connection: &Connection, port: u16) -> RemoteEndpoint {
        match connection.ip() {
            Some(ip) if ip.is_unspecified() => RemoteEndpoint::OnHold,
            Some(ip) => RemoteEndpoint::Addr(SocketAddr::new(ip, port)),
            None => RemoteEndpoint::Host {
                host: connection.address.clone(),
                port,
            },
        }
    }

    /// The socket address, when it is an IP address.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            RemoteEndpoint::Addr(a) => Some(*a),
            _ => None,
        }
    }
}

/// An accepted audio stream: everything the RTP relay needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedStream {
    /// The index of the `m=` line (0-based).
    pub index: usize,
    /// Switchboard's RTP port (RTCP on port + 1).
    pub local_port: u16,
    /// Where the peer receives RTP.
    pub remote_rtp: RemoteEndpoint,
    /// Where the peer receives RTCP: `a=rtcp`, else the RTP port + 1.
    pub remote_rtcp: RemoteEndpoint,
    /// The audio codec.
    pub codec: Codec,
    /// Its payload type (the offer's number).
    pub payload_type: u8,
    /// The telephone-event payload type, when both sides take RFC 4733 events.
    pub telephone_event: Option<u8>,
    /// What Switchboard's side may do: send, receive, both or neither.
    pub direction: Direction,
    /// The packetization time to send with, in milliseconds.
    pub ptime: u32,
}

/// What became of one `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOutcome {
    /// An audio stream Switchboard relays.
    Accepted(NegotiatedStream),
    /// A stream without media through Switchboard: port 0 on either side, not audio over
    /// RTP/AVP, no common codec, or no local port left.
    Rejected {
        /// The index of the `m=` line (0-based).
        index: usize,
        /// Its media type.
        media: String,
    },
}

impl StreamOutcome {
    /// The accepted stream, if this one is.
    pub fn accepted(&self) -> Option<&NegotiatedStream> {
        match self {
            StreamOutcome::Accepted(s) => Some(s),
            StreamOutcome::Rejected { .. } => None,
        }
    }
}

/// An answer to a peer's offer: the SDP to send and what each `m=` line became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer's description.
    pub sdp: SessionDescription,
    /// One outcome per `m=` line, in order.
    pub streams: Vec<StreamOutcome>,
}

impl Answer {
    /// The accepted streams.
    pub fn accepted(&self) -> impl Iterator<Item = &NegotiatedStream> {
        self.streams.iter().filter_map(StreamOutcome::accepted)
    }
}

/// Why no media can be agreed; `Display` is a short reason for a SIP 399 Warning (with 488).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NegotiationError {
    /// No `m=audio` line with a port other than 0.
    #[error("no audio stream offered")]
    NoAudio,
    /// Audio only over profiles Switchboard does not relay (SRTP, AVPF...).
    #[error("audio offered over {offered} only; Switchboard takes RTP/AVP")]
    UnsupportedProto {
        /// The offered profiles, comma-separated.
        offered: String,
    },
    /// Audio offered, none of it in a codec Switchboard takes.
    #[error("no common audio codec: offered {offered}; accepted {accepted}")]
    NoCommonCodec {
        /// The offered codecs, comma-separated.
        offered: String,
        /// Switchboard's codecs, comma-separated.
        accepted: String,
    },
    /// A usable stream has no `c=` line, nor has the session.
    #[error("m= line {line} has no connection address (c=)")]
    NoConnection {
        /// The 1-based `m=` line number.
        line: usize,
    },
    /// The caller allocated no RTP port.
    #[error("no local RTP port allocated")]
    NoLocalPort,
    /// The configuration names no codec to offer.
    #[error("no codec to offer")]
    NoCodec,
    /// The answer's `m=` lines are not as many as the offer's (RFC 3264 §6).
    #[error("the answer has {answered} m= lines for the offer's {offered}")]
    StreamCount {
        /// `m=` lines offered.
        offered: usize,
        /// `m=` lines answered.
        answered: usize,
    },
    /// An answer's `m=` line has another media type or profile than the offer's.
    #[error("m= line {line} of the answer does not match the offer's media type or profile")]
    StreamMismatch {
        /// The 1-based `m=` line number.
        line: usize,
    },
    /// An accepted answer stream has no codec from the offer.
    #[error("m= line {line} of the answer has no codec from the offer")]
    NoOfferedCodec {
        /// The 1-based `m=` line number.
        line: usize,
    },
    /// The answer maps an offered payload type to another codec.
    #[error("m= line {line} of the answer maps payload type {payload_type} to another codec")]
    PayloadTypeMismatch {
        /// The 1-based `m=` line number.
        line: usize,
        /// The payload type.
        payload_type: u8,
    },
    /// The answer accepts no audio stream.
    #[error("the answer accepts no audio stream")]
    NothingAccepted,
}

/// Answers `offer` (RFC 3264 §6): every offered `m=` line gets one in the answer, in order.
///
/// An audio stream over RTP/AVP with a codec from `config.codec_preference` is accepted
/// (while allocated ports last) with the single best common codec by our preference, plus
/// telephone-event at the same clock rate when offered and enabled, all under the offer's
/// payload type numbers. Its telephone-event `a=fmtp` is copied; `a=ptime` is the offer's,
/// else ours; `a=rtcp` (our port + 1) is written when the offer had one (our RTCP is always
/// on RTP + 1, which is what its absence means too); the direction is written always. Every
/// other stream is rejected with port 0 and the offered formats.
pub fn negotiate_answer(
    offer: &SessionDescription,
    config: &LocalMediaConfig,
) -> Result<Answer, NegotiationError> {
    let mut sdp = config.description();
    let mut streams = Vec::with_capacity(offer.media.len());
    let mut ports = config.rtp_ports.iter().copied();
    for (index, m) in offer.media.iter().enumerate() {
        let usable = m.port != 0 && m.is_audio() && m.proto == Proto::RtpAvp;
        let choice = if usable { choose(m, config) } else { None };
        let accepted = match choice {
            Some(choice) => ports.next().map(|port| (choice, port)),
            None => None,
        };
        let Some(((pt, codec, te), local_port)) = accepted else {
            sdp.media.push(rejected(m));
            streams.push(StreamOutcome::Rejected {
                index,
                media: m.media.clone(),
            });
            continue;
        };
        let connection = offer
            .connection_of(m)
            .ok_or(NegotiationError::NoConnection { line: index + 1 })?;
        let remote_rtp = RemoteEndpoint::new(connection, m.port);
        let remote_rtcp = match m.rtcp() {
            Some(r) => RemoteEndpoint::new(r.connection.as_ref().unwrap_or(connection), r.port),
            None => RemoteEndpoint::new(connection, m.port.saturating_add(1)),
        };
        let mut offered = offer.direction_of(m);
        if remote_rtp == RemoteEndpoint::OnHold {
            // c=0.0.0.0: the offerer receives nothing whatever its direction attribute says.
            offered = Direction::from_parts(offered.sends(), false);
        }
        let direction = offered.reversed().intersect(config.direction);
        let ptime = m.ptime().or(config.ptime);

        let mut answer = MediaDescription {
            media: m.media.clone(),
            port: local_port,
            port_count: None,
            proto: Proto::RtpAvp,
            formats: vec![pt.to_string()],
            information: None,
            connection: None,
            bandwidths: Vec::new(),
            key: None,
            attributes: vec![Attribute::Rtpmap(Rtpmap {
                payload_type: pt,
                codec: codec.clone(),
            })],
        };
        if let Some(te) = te {
            answer.formats.push(te.to_string());
            answer.attributes.push(Attribute::Rtpmap(Rtpmap {
                payload_type: te,
                codec: m.codec(te).unwrap_or_else(Codec::telephone_event),
            }));
            if let Some(params) = m.fmtp(&te.to_string()) {
                answer.attributes.push(Attribute::Fmtp(Fmtp {
                    format: te.to_string(),
                    params: params.to_owned(),
                }));
            }
        }
        if let Some(ms) = ptime {
            answer.attributes.push(Attribute::Ptime(ms));
        }
        if m.rtcp().is_some() {
            answer.attributes.push(Attribute::Rtcp(Rtcp {
                port: local_port.saturating_add(1),
                connection: None,
            }));
        }
        answer.attributes.push(Attribute::Direction(direction));
        sdp.media.push(answer);
        streams.push(StreamOutcome::Accepted(NegotiatedStream {
            index,
            local_port,
            remote_rtp,
            remote_rtcp,
            codec,
            payload_type: pt,
            telephone_event: te,
            direction,
            ptime: ptime.unwrap_or(DEFAULT_PTIME_MS),
        }));
    }
    if streams.iter().any(|s| s.accepted().is_some()) {
        Ok(Answer { sdp, streams })
    } else {
        Err(why_nothing(offer, config))
    }
}

/// The best common codec of `m` by our preference (ties by offer order), its payload
/// type, and the telephone-event payload type at its clock rate if enabled and offered.
fn choose(m: &MediaDescription, config: &LocalMediaConfig) -> Option<(u8, Codec, Option<u8>)> {
    let (pt, codec) = config
        .codec_preference
        .iter()
        .filter(|c| !c.is_auxiliary())
        .find_map(|wanted| {
            m.payload_types().find_map(|pt| {
                m.codec(pt)
                    .filter(|offered| offered.matches(wanted))
                    .map(|offered| (pt, offered))
            })
        })?;
    let te = if config.telephone_event {
        m.payload_types().find(|pt| {
            m.codec(*pt).is_some_and(|c| {
                c.encoding == Encoding::TelephoneEvent && c.clock_rate == codec.clock_rate
            })
        })
    } else {
        None
    };
    Some((pt, codec, te))
}

/// The answer's `m=` line rejecting `m`: port 0, the offered formats (RFC 3264 §6).
pub(crate) fn rejected(m: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media: m.media.clone(),
        port: 0,
        port_count: None,
        proto: m.proto.clone(),
        formats: m.formats.clone(),
        information: None,
        connection: None,
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    }
}

/// Why no stream of `offer` was accepted, most specific reason first.
fn why_nothing(offer: &SessionDescription, config: &LocalMediaConfig) -> NegotiationError {
    let audio: Vec<&MediaDescription> = offer
        .media
        .iter()
        .filter(|m| m.port != 0 && m.is_audio())
        .collect();
    if audio.is_empty() {
        return NegotiationError::NoAudio;
    }
    let avp: Vec<&&MediaDescription> = audio.iter().filter(|m| m.proto == Proto::RtpAvp).collect();
    if avp.is_empty() {
        let mut protos: Vec<&str> = audio.iter().map(|m| m.proto.as_str()).collect();
        protos.dedup();
        return NegotiationError::UnsupportedProto {
            offered: protos.join(", "),
        };
    }
    if config.rtp_ports.is_empty() && avp.iter().any(|m| choose(m, config).is_some()) {
        return NegotiationError::NoLocalPort;
    }
    let mut offered: Vec<String> = Vec::new();
    for m in &avp {
        for pt in m.payload_types() {
            let name = match m.codec(pt) {
                Some(c) if c.is_auxiliary() => continue,
                Some(c) => codec_label(&c),
                None => format!("payload type {pt}"),
            };
            if !offered.contains(&name) {
                offered.push(name);
            }
        }
    }
    let accepted: Vec<String> = config
        .codec_preference
        .iter()
        .filter(|c| !c.is_auxiliary())
        .map(codec_label)
        .collect();
    NegotiationError::NoCommonCodec {
        offered: list_or_none(&offered),
        accepted: list_or_none(&accepted),
    }
}

/// `PCMU`, or `opus/48000/2` when the clock rate is not the usual 8000 or there are channels.
fn codec_label(c: &Codec) -> String {
    if c.clock_rate == 8000 && c.channels == 1 {
        c.encoding.name().to_owned()
    } else {
        c.to_string()
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
