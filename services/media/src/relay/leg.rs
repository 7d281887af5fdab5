//! One leg of a relayed call: what SDP negotiated for it, and what the relay learned from its
//! packets (latched addresses, counters, the DTMF receiver).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::codec::G711Law;
use crate::dtmf::{DtmfMode, InBandDetector, ReceiverConfig, TelephoneEventReceiver};
use crate::sdp::{Codec, Direction, Encoding, NegotiatedStream, RemoteEndpoint};

use super::RelayConfig;
use super::render::Render;
use super::stats::{LegStats, Reception};

/// Which leg of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LegId {
    /// The caller's leg.
    A,
    /// The callee's leg.
    B,
}

impl LegId {
    /// The leg media from this one is relayed to.
    pub fn other(self) -> LegId {
        match self {
            LegId::A => LegId::B,
            LegId::B => LegId::A,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            LegId::A => 0,
            LegId::B => 1,
        }
    }
}

/// What SDP negotiated for one leg, and the local ports whose sockets the caller owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegConfig {
    /// Switchboard's RTP port for this leg (the socket packets to this leg are sent from).
    pub rtp_port: u16,
    /// Switchboard's RTCP port for this leg.
    pub rtcp_port: u16,
    /// Where the peer said it receives RTP (may be unknown, on hold, or an unresolved host).
    pub remote_rtp: RemoteEndpoint,
    /// Where the peer said it receives RTCP (`a=rtcp`, else the RTP port + 1).
    pub remote_rtcp: RemoteEndpoint,
    /// The audio codec.
    pub codec: Codec,
    /// Its payload type on this leg.
    pub payload_type: u8,
    /// The telephone-event payload type on this leg, if negotiated.
    pub telephone_event: Option<u8>,
    /// What Switchboard may do on this leg (send, receive, both, neither).
    pub direction: Direction,
    /// How DTMF is sent to this leg, and whether its audio is searched for tones
    /// ([`DtmfMode::Inband`] only): its endpoint's or trunk's DTMF mode.
    pub dtmf_mode: DtmfMode,
}

impl LegConfig {
    /// The leg as one negotiated stream describes it; RTCP on the local RTP port + 1; DTMF
    /// mode RFC 4733.
    pub fn from_stream(stream: &NegotiatedStream) -> LegConfig {
        LegConfig {
            rtp_port: stream.local_port,
            rtcp_port: stream.local_port.wrapping_add(1),
            remote_rtp: stream.remote_rtp.clone(),
            remote_rtcp: stream.remote_rtcp.clone(),
            codec: stream.codec.clone(),
            payload_type: stream.payload_type,
            telephone_event: stream.telephone_event,
            direction: stream.direction,
            dtmf_mode: DtmfMode::default(),
        }
    }

    /// Whether Switchboard may send media to this leg: its direction allows sending and the
    /// peer did not hold with a zero `c=` address.
    pub fn sends(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::SendOnly)
            && self.remote_rtp != RemoteEndpoint::OnHold
    }

    /// Whether the peer is expected to send media (the no-RTP timeout applies).
    pub fn receives(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::RecvOnly)
            && self.remote_rtp != RemoteEndpoint::OnHold
    }

    /// The G.711 law of the codec, if it is PCMU or PCMA.
    pub fn law(&self) -> Option<G711Law> {
        match self.codec.encoding {
            Encoding::Pcmu => Some(G711Law::Mu),
            Encoding::Pcma => Some(G711Law::A),
            _ => None,
        }
    }
}

/// What the latching rule made of a packet's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceVerdict {
    /// From the latched source, or no source is latched yet: relay it.
    Accept,
    /// This packet latched (or re-latched) the leg to its source: relay it.
    Latched,
    /// From another source while the latched one holds: count it, do not relay it.
    Foreign,
}

/// A source that is sending but is not latched (yet).
#[derive(Debug, Clone, Copy)]
struct Candidate {
    addr: SocketAddr,
    /// Packets in a row from it, with no packet from another source between them.
    packets: u32,
    /// Its last packet: a run with a gap longer than the re-latch silence starts over.
    last: Instant,
}

/// The relay's state for one leg.
#[derive(Debug, Clone)]
pub(crate) struct Leg {
    /// Which leg this is.
    pub id: LegId,
    pub config: LegConfig,
    pub stats: LegStats,
    pub reception: Reception,
    pub dtmf: TelephoneEventReceiver,
    /// The in-band detector over the peer's audio, made when the leg's mode is first
    /// [`DtmfMode::Inband`] (boxed: most legs never have one).
    pub inband: Option<Box<InBandDetector>>,
    /// What the relay itself sends to this leg: digits rendered in its DTMF mode.
    pub render: Render,
    latched: Option<(SocketAddr, Instant)>,
    candidate: Option<Candidate>,
    pub latched_rtcp: Option<SocketAddr>,
    /// Start of the current no-RTP period: the last packet, the session start or the last
    /// `update_leg`.
    pub last_activity: Instant,
    pub timeout_reported: bool,
}

impl Leg {
    pub(crate) fn new(id: LegId, config: LegConfig, dtmf: ReceiverConfig, now: Instant) -> Leg {
        let ssrc = fallback_ssrc(config.rtp_port);
        Leg {
            id,
            config,
            stats: LegStats::default(),
            reception: Reception::default(),
            dtmf: TelephoneEventReceiver::new(dtmf),
            inband: None,
            render: Render::new(ssrc, now),
            latched: None,
            candidate: None,
            latched_rtcp: None,
            last_activity: now,
            timeout_reported: false,
        }
    }

    /// Applies the latching rule (documented in [`super`]) to a valid RTP packet's source.
    pub(crate) fn check_source(
        &mut self,
        source: SocketAddr,
        now: Instant,
        config: &RelayConfig,
    ) -> SourceVerdict {
        if let Some((addr, _)) = self.latched
            && addr == source
        {
            self.latched = Some((addr, now));
            self.candidate = None;
            return SourceVerdict::Accept;
        }
        let packets = match self.candidate {
            Some(c)
                if c.addr == source
                    && now.saturating_duration_since(c.last) < config.relatch_after =>
            {
                c.packets.saturating_add(1)
            }
            _ => 1,
        };
        self.candidate = Some(Candidate {
            addr: source,
            packets,
            last: now,
        });
        let may_latch = match self.latched {
            None => true,
            Some((_, last)) => now.saturating_duration_since(last) >= config.relatch_after,
        };
        if may_latch && packets >= config.latch_packets.max(1) {
            self.latched = Some((source, now));
            self.candidate = None;
            if self.latched_rtcp.is_some_and(|r| r.ip() != source.ip()) {
                // The peer moved: its old RTCP source is no longer where it listens.
                self.latched_rtcp = None;
            }
            return SourceVerdict::Latched;
        }
        if self.latched.is_none() {
            // Still learning: relay what comes so audio starts at once.
            SourceVerdict::Accept
        } else {
            SourceVerdict::Foreign
        }
    }

    /// Latches the RTCP source: any source while RTP is not latched, else only one on the
    /// latched RTP source's IP address (RTCP comes from another port of the same host).
    pub(crate) fn check_rtcp_source(&mut self, source: SocketAddr) -> bool {
        match self.latched {
            Some((rtp, _)) if rtp.ip() != source.ip() => false,
            _ => {
                self.latched_rtcp = Some(source);
                true
            }
        }
    }

    /// The latched RTP source.
    pub(crate) fn latched_rtp(&self) -> Option<SocketAddr> {
        self.latched.map(|(a, _)| a)
    }

    /// Where RTP for this leg goes: the latched source, else the SDP address; none on hold.
    pub(crate) fn rtp_destination(&self) -> Option<SocketAddr> {
        if !self.config.sends() {
            return None;
        }
        self.latched_rtp().or_else(|| self.config.remote_rtp.addr())
    }

    /// Where RTCP for this leg goes: the latched RTCP source, else the SDP RTCP address.
    pub(crate) fn rtcp_destination(&self) -> Option<SocketAddr> {
        if self.config.remote_rtp == RemoteEndpoint::OnHold {
            return None;
        }
        self.latched_rtcp.or_else(|| self.config.remote_rtcp.addr())
    }

    /// Replaces the negotiated description (re-INVITE), keeping counters. A new SDP address
    /// drops the latches: the peer says it moved, so its old source is no longer trusted.
    pub(crate) fn update(&mut self, config: LegConfig, now: Instant) {
        let moved = matches!(
            (&self.config.remote_rtp, &config.remote_rtp),
            (RemoteEndpoint::Addr(old), RemoteEndpoint::Addr(new)) if old != new
        );
        if moved {
            self.latched = None;
            self.candidate = None;
            self.latched_rtcp = None;
        }
        self.config = config;
        self.last_activity = now;
        self.timeout_reported = false;
    }

    /// When the no-RTP timeout fires, if it is armed.
    pub(crate) fn timeout_deadline(&self, timeout: Duration) -> Option<Instant> {
        (self.config.receives() && !self.timeout_reported).then(|| self.last_activity + timeout)
    }

    /// The counters with the latches and the reception figures filled in.
    pub(crate) fn snapshot(&self) -> LegStats {
        let mut stats = self.stats.clone();
        self.reception
            .fill(&mut stats, self.config.codec.clock_rate);
        stats.latched_rtp = self.latched_rtp();
        stats.latched_rtcp = self.latched_rtcp;
        stats
    }
}

/// The SSRC of packets the relay makes for a leg nothing has been relayed to yet (a digit
/// before any audio): fixed per local port, so it is stable for the call.
fn fallback_ssrc(rtp_port: u16) -> u32 {
    0x5342_0000 | u32::from(rtp_port)
}
