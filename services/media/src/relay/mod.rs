//! The RTP relay core (sans-IO): one [`RelaySession`] per call anchors its media between leg
//! A (the caller) and leg B (the callee).
//!
//! The caller owns the sockets (an RTP and an RTCP port per leg), feeds each datagram with
//! [`RelaySession::on_rtp`] or [`RelaySession::on_rtcp`] and the current time, calls
//! [`RelaySession::poll`] at [`RelaySession::next_deadline`], and carries out the returned
//! [`RelayAction`]s. Nothing here reads a clock or touches a socket.
//!
//! What a relayed packet keeps and changes:
//! - SSRC, sequence number, timestamp, marker, CSRCs, extensions and padding are the
//!   sender's, byte for byte, so end-to-end RTCP reports and the receiver's jitter buffer stay
//!   true.
//! - The payload type becomes the other leg's: its audio PT, or its telephone-event PT
//!   (dynamic PTs differ between legs). When one leg is PCMU and the other PCMA the payload
//!   is transcoded through the G.711 tables ([`crate::codec`]); other codec mismatches are
//!   dropped and counted, since the relay does not decode them.
//! - Telephone-events are also fed to the sending leg's [`TelephoneEventReceiver`], so each
//!   key press is reported once as [`RelayAction::Dtmf`] while the packets flow on.
//!
//! ## DTMF in each leg's form
//!
//! Every digit is reported once as [`RelayAction::Dtmf`], whatever form it came in:
//! telephone-events, SIP INFO ([`RelaySession::on_info_digit`], fed by the call's owner) or
//! in-band tones (searched for only on legs whose [`LegConfig::dtmf_mode`] is
//! [`DtmfMode::Inband`](crate::dtmf::DtmfMode::Inband): the Goertzel detector costs more than
//! the relaying). The other leg gets it in its own mode: telephone-events, a
//! [`RelayAction::SendInfo`] for the owner, or tones replacing the audio; see
//! [`render`](self::render) for the table and how packets the relay makes fit the stream.
//!
//! ## Symmetric RTP latching (RFC 4961 style)
//!
//! Phones behind NAT put their private address in SDP; the only address that reaches them is
//! the one their packets come from. So media for a leg is sent to its *latched* source once
//! there is one, and to the SDP address until then. The rule:
//! 1. A leg latches to a source after [`RelayConfig::latch_packets`] valid RTP packets in a
//!    row from it (no packet from another source between them, none more than
//!    [`RelayConfig::relatch_after`] after the one before). Until the first latch every
//!    valid packet is relayed, so audio starts at once.
//! 2. Once latched, packets from any other source are counted as `foreign` and not relayed.
//! 3. A new source re-latches the leg only when the latched source has been silent for
//!    [`RelayConfig::relatch_after`] *and* the new one has sent `latch_packets` packets in a
//!    row. That follows a NAT rebinding or a phone that changed address, while one stray or
//!    spoofed packet (or a short burst during a live stream) cannot hijack the call's media.
//! 4. A re-INVITE with a different SDP address forgets the latches: the peer says it moved.
//!
//! RTCP latches separately to the source of RTCP packets on the latched RTP host; RTCP goes
//! to that source, else to the SDP RTCP address (`a=rtcp` or RTP port + 1).
//!
//! ## Hold and timeouts
//!
//! A leg whose direction does not let Switchboard send (`recvonly`, `inactive`, or a
//! `c=0.0.0.0` hold) is not sent to; what would have gone there is counted as `dropped` on
//! the sending leg. A leg whose peer should be sending and has sent no RTP for
//! [`RelayConfig::no_rtp_timeout`] gives one [`RelayAction::MediaTimeout`]; the timer is not
//! armed while the peer is on hold (`sendonly` from Switchboard's side, `inactive`, zero
//! address) and restarts with each packet and each [`RelaySession::update_leg`].

mod leg;
mod packet;
pub mod render;
mod stats;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::dtmf::{DtmfEvent, DtmfMode, DtmfSource, InBandDetector, ReceiverConfig};

pub use leg::{LegConfig, LegId};
pub use packet::{PacketError, RtpPayload, rtp_payload};
pub use stats::LegStats;

use leg::{Leg, SourceVerdict};
use packet::{check_rtcp, parse_rtp};
use render::{Form, render_digit};
use stats::clock_units;

/// Relay settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// No RTP from a leg that should be sending for this long is a media timeout.
    pub no_rtp_timeout: Duration,
    /// Packets in a row from one source that latch a leg to it.
    pub latch_packets: u32,
    /// How long the latched source must be silent before another may take its place.
    pub relatch_after: Duration,
    /// The DTMF receivers' settings.
    pub dtmf: ReceiverConfig,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            no_rtp_timeout: Duration::from_secs(30),
            // Three 20 ms packets: 60 ms of a steady sender, more than a stray datagram.
            latch_packets: 3,
            // Well past any jitter burst: the old path is gone, not merely late. Shorter
            // recovers a rebound NAT sooner; longer shrinks the window a spoofer can use
            // while a silence-suppressing phone pauses.
            relatch_after: Duration::from_secs(2),
            dtmf: ReceiverConfig::default(),
        }
    }
}

/// What the caller should do.
#[derive(Debug, Clone, PartialEq)]
pub enum RelayAction {
    /// Send an RTP datagram from `from_leg`'s RTP socket (the port in that leg's SDP, the one
    /// its peer expects media from) to `to`.
    SendRtp {
        /// The leg whose socket sends: the leg being sent to.
        from_leg: LegId,
        /// The peer's address.
        to: SocketAddr,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// Send an RTCP datagram from `from_leg`'s RTCP socket to `to`.
    SendRtcp {
        /// The leg whose socket sends: the leg being sent to.
        from_leg: LegId,
        /// The peer's RTCP address.
        to: SocketAddr,
        /// The datagram, unchanged.
        bytes: Vec<u8>,
    },
    /// A key press from `leg`'s peer, in any form (telephone-events, SIP INFO, tones):
    /// reported once per digit.
    Dtmf {
        /// The leg whose peer pressed the key.
        leg: LegId,
        /// The finished key press.
        event: DtmfEvent,
    },
    /// `leg`'s DTMF mode is INFO: the call's owner should send `event` as a SIP INFO in that
    /// leg's dialog (one per digit, when it ended on the other leg).
    SendInfo {
        /// The leg to send the INFO to.
        leg: LegId,
        /// The digit (its source is the form it came in).
        event: DtmfEvent,
    },
    /// `leg` latched to a new RTP source (for the call's log).
    Latched {
        /// The leg.
        leg: LegId,
        /// The source now sent to.
        addr: SocketAddr,
    },
    /// `leg` has sent no RTP for the configured timeout (reported once per silence).
    MediaTimeout {
        /// The silent leg.
        leg: LegId,
    },
}

/// The relay of one call's audio stream between two legs.
#[derive(Debug, Clone)]
pub struct RelaySession {
    config: RelayConfig,
    legs: [Leg; 2],
    /// The origin of arrival times in RTP clock units (jitter needs only differences).
    epoch: Instant,
}

impl RelaySession {
    /// A session relaying between `a` and `b`, started at `now`.
    pub fn new(config: RelayConfig, a: LegConfig, b: LegConfig, now: Instant) -> RelaySession {
        RelaySession {
            config,
            legs: [
                Leg::new(LegId::A, a, config.dtmf, now),
                Leg::new(LegId::B, b, config.dtmf, now),
            ],
            epoch: now,
        }
    }

    /// The settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// The negotiated description of `leg`.
    pub fn leg_config(&self, leg: LegId) -> &LegConfig {
        &self.legs[leg.index()].config
    }

    /// The counters of `leg`.
    pub fn stats(&self, leg: LegId) -> LegStats {
        self.legs[leg.index()].snapshot()
    }

    /// Replaces `leg`'s negotiated description after a re-INVITE (hold, resume, new address
    /// or codec), keeping its counters; the no-RTP timer restarts.
    pub fn update_leg(&mut self, leg: LegId, config: LegConfig, now: Instant) {
        self.legs[leg.index()].update(config, now);
    }

    /// Takes an RTP datagram received on `leg`'s RTP socket from `source` (RTCP multiplexed
    /// on that socket is recognised and relayed as RTCP).
    pub fn on_rtp(
        &mut self,
        leg: LegId,
        source: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) -> Vec<RelayAction> {
        if bytes.get(1).is_some_and(|b| (192..=223).contains(b)) {
            // RTCP multiplexed on the RTP port (RFC 5761 §4: these second bytes are RTCP
            // packet types, never RTP payload types with the marker): relay it as RTCP.
            return self.on_rtcp(leg, source, bytes, now);
        }
        let mut actions = Vec::new();
        let Ok(view) = parse_rtp(bytes) else {
            self.legs[leg.index()].stats.malformed += 1;
            return actions;
        };
        let config = self.config;
        let epoch = self.epoch;
        let (from, to) = self.pair_mut(leg);
        match from.check_source(source, now, &config) {
            SourceVerdict::Foreign => {
                from.stats.foreign += 1;
                return actions;
            }
            SourceVerdict::Latched => actions.push(RelayAction::Latched { leg, addr: source }),
            SourceVerdict::Accept => {}
        }
        from.stats.packets_in += 1;
        from.stats.bytes_in += bytes.len() as u64;
        from.stats.last_packet = Some(now);
        from.last_activity = now;
        from.timeout_reported = false;

        let header = &view.header;
        if from
            .reception
            .on_packet(header.ssrc, header.sequence_number)
        {
            // A new SSRC is a new timestamp space for telephone-events.
            from.dtmf.reset();
        }

        let pt = header.payload_type;
        let mut out_pt = pt;
        let mut transcode = None;
        if from.config.telephone_event == Some(pt) {
            let payload = bytes.get(view.payload.clone()).unwrap_or_default();
            if let Ok(events) = from.dtmf.on_packet(
                header.timestamp,
                header.sequence_number,
                header.marker,
                payload,
                now,
            ) {
                for event in events {
                    actions.push(RelayAction::Dtmf { leg, event });
                    render_digit(to, leg.other(), &event, now, &mut actions);
                }
            }
            match Form::of(to.config.dtmf_mode, to.config.telephone_event) {
                Form::Rfc4733(other) => out_pt = other,
                // Rendered per digit in the other leg's form; the sequence numbers the
                // packet leaves unused are closed up.
                Form::Info | Form::Inband => {
                    to.render.hold_back();
                    return actions;
                }
            }
        } else if pt == from.config.payload_type {
            let elapsed = now.saturating_duration_since(epoch);
            let arrival = clock_units(elapsed, from.config.codec.clock_rate);
            from.reception.on_audio(header.timestamp, arrival);
            if from.config.dtmf_mode == DtmfMode::Inband {
                let payload = bytes.get(view.payload.clone()).unwrap_or_default();
                for event in detect_inband(from, payload, now) {
                    actions.push(RelayAction::Dtmf { leg, event });
                    render_digit(to, leg.other(), &event, now, &mut actions);
                }
            }
            if to.render.replacing_audio(header.timestamp) {
                // Tones are being played to the other leg in place of this audio.
                to.render.hold_back();
                return actions;
            }
            if !from.config.codec.matches(&to.config.codec) {
                match (from.config.law(), to.config.law()) {
                    (Some(a), Some(b)) => transcode = Some((a, b)),
                    _ => {
                        from.stats.dropped += 1;
                        return actions;
                    }
                }
            }
            out_pt = to.config.payload_type;
        }
        // Anything else (comfort noise, a codec the peers agreed on outside the answer) is
        // relayed as it is: the relay only rewrites what it understands.

        let Some(dest) = to.rtp_destination() else {
            from.stats.dropped += 1;
            return actions;
        };
        let audio_ts = (pt == from.config.payload_type).then_some(header.timestamp);
        let seq = to
            .render
            .out
            .relay(header.ssrc, header.sequence_number, audio_ts, now);
        let mut out = bytes.to_vec();
        if let Some(b1) = out.get_mut(1) {
            *b1 = (*b1 & 0x80) | (out_pt & 0x7F);
        }
        if seq != header.sequence_number
            && let Some(field) = out.get_mut(2..4)
        {
            // Packets the relay made for the other leg took sequence numbers.
            field.copy_from_slice(&seq.to_be_bytes());
        }
        if let Some((law_in, law_out)) = transcode {
            let range = view.payload.clone();
            let (Some(input), Some(output)) = (bytes.get(range.clone()), out.get_mut(range)) else {
                from.stats.dropped += 1;
                return actions;
            };
            if law_in.transcode(law_out, input, output).is_err() {
                from.stats.dropped += 1;
                return actions;
            }
        }
        to.stats.packets_out += 1;
        to.stats.bytes_out += out.len() as u64;
        actions.push(RelayAction::SendRtp {
            from_leg: leg.other(),
            to: dest,
            bytes: out,
        });
        actions
    }

    /// Takes an RTCP datagram received on `leg`'s RTCP socket from `source`; it is relayed
    /// unchanged to the other leg.
    pub fn on_rtcp(
        &mut self,
        leg: LegId,
        source: SocketAddr,
        bytes: &[u8],
        _now: Instant,
    ) -> Vec<RelayAction> {
        let (from, to) = self.pair_mut(leg);
        if check_rtcp(bytes).is_err() {
            from.stats.malformed += 1;
            return Vec::new();
        }
        if !from.check_rtcp_source(source) {
            from.stats.foreign += 1;
            return Vec::new();
        }
        from.stats.rtcp_in += 1;
        let Some(dest) = to.rtcp_destination() else {
            from.stats.dropped += 1;
            return Vec::new();
        };
        to.stats.rtcp_out += 1;
        vec![RelayAction::SendRtcp {
            from_leg: leg.other(),
            to: dest,
            bytes: bytes.to_vec(),
        }]
    }

    /// Takes a digit `leg`'s peer sent as a SIP INFO (the call's owner parsed and answered
    /// it): reported as [`RelayAction::Dtmf`] and rendered to the other leg in its form. The
    /// event's source is taken to be [`DtmfSource::SipInfo`] whatever it says.
    pub fn on_info_digit(
        &mut self,
        leg: LegId,
        event: DtmfEvent,
        now: Instant,
    ) -> Vec<RelayAction> {
        let event = DtmfEvent {
            source: DtmfSource::SipInfo,
            ..event
        };
        let mut actions = vec![RelayAction::Dtmf { leg, event }];
        let (_, to) = self.pair_mut(leg);
        render_digit(to, leg.other(), &event, now, &mut actions);
        actions
    }

    /// Fires what is due at `now`: media timeouts, DTMF events whose end packets were lost,
    /// and the telephone-events and tones the relay is sending.
    pub fn poll(&mut self, now: Instant) -> Vec<RelayAction> {
        let mut actions = Vec::new();
        let timeout = self.config.no_rtp_timeout;
        for leg in [LegId::A, LegId::B] {
            let (from, to) = self.pair_mut(leg);
            if let Some(event) = from.dtmf.poll(now) {
                actions.push(RelayAction::Dtmf { leg, event });
                render_digit(to, leg.other(), &event, now, &mut actions);
            }
            if from.timeout_deadline(timeout).is_some_and(|d| now >= d) {
                from.timeout_reported = true;
                actions.push(RelayAction::MediaTimeout { leg });
            }
        }
        for leg in &mut self.legs {
            render::poll(leg, now, &mut actions);
        }
        actions
    }

    /// When [`poll`](Self::poll) should next be called, if anything is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        let timeout = self.config.no_rtp_timeout;
        self.legs
            .iter()
            .flat_map(|leg| {
                [
                    leg.dtmf.next_deadline(),
                    leg.timeout_deadline(timeout),
                    leg.render.next_deadline(),
                ]
            })
            .flatten()
            .min()
    }

    /// The leg a packet came in on and the leg it goes to, both mutable.
    fn pair_mut(&mut self, leg: LegId) -> (&mut Leg, &mut Leg) {
        let [a, b] = &mut self.legs;
        match leg {
            LegId::A => (a, b),
            LegId::B => (b, a),
        }
    }
}

/// Feeds `from`'s G.711 audio `payload` to its in-band detector (made on first use); the
/// digits that ended in it.
fn detect_inband(from: &mut Leg, payload: &[u8], now: Instant) -> Vec<DtmfEvent> {
    let Some(law) = from.config.law() else {
        return Vec::new();
    };
    let mut pcm = [0i16; 480];
    let Some(pcm) = pcm.get_mut(..payload.len()) else {
        // Longer than 60 ms of 8 kHz G.711: not what phones send; not searched.
        return Vec::new();
    };
    if law.decode(payload, pcm).is_err() {
        return Vec::new();
    }
    from.inband
        .get_or_insert_with(|| Box::new(InBandDetector::default()))
        .push(pcm, now)
}
