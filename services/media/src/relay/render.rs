//! DTMF rendering: each digit received on one leg is given to the other leg in the form its
//! [`DtmfMode`] asks for.
//!
//! | digit came as | to an RFC 4733 leg | to an INFO leg | to an in-band leg |
//! |---|---|---|---|
//! | telephone-events | the packets, PT remapped | [`RelayAction::SendInfo`] | tones |
//! | SIP INFO | telephone-events made here | [`RelayAction::SendInfo`] | tones |
//! | in-band tones | telephone-events made here | [`RelayAction::SendInfo`] | the audio as is |
//!
//! An RFC 4733 leg that negotiated no telephone-event gets tones. Telephone-event packets are
//! forwarded only to an RFC 4733 leg with the payload type; INFO and tones are made when the
//! digit ends (its duration is known then). In-band tones stay in the relayed audio whatever
//! the other leg's mode: they are heard only once they are over, and cutting them then would
//! leave a short burst a receiver might count as a digit of its own.
//!
//! Packets the relay makes go out in the stream it relays to that leg (RFC 4733 §2.5: events
//! use the audio stream's SSRC and timestamp clock): the SSRC of the last packet relayed
//! there, the next sequence number, and a timestamp read off the audio's (its last timestamp
//! plus the time since, in clock units). Each packet made shifts the sequence numbers of the
//! packets relayed after it by one, and each relayed packet held back (audio replaced by
//! tones) shifts them back, so the leg sees one gapless sequence. Without any packet relayed
//! yet, the stream is the relay's own (a fixed SSRC per local port).
//!
//! Tones (two sines at −7 dBm0 each, G.711 of the leg's law) replace the relayed audio for
//! the tone and the pause after it, paced every 20 ms by the session's timer: the tone lasts
//! the digit's duration, at least [`MIN_TONE_MS`] (ITU-T Q.24 receivers must accept 40 ms)
//! and at most [`MAX_TONE_MS`], then [`TONE_PAUSE_MS`] of silence. Legs of other codecs get
//! no tones (the relay only makes G.711).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::dtmf::{
    DtmfEvent, DtmfMode, DtmfSource, InBandGenerator, SenderConfig, TelephoneEventSender,
};

use super::RelayAction;
use super::leg::{Leg, LegId};
use super::stats::clock_units;

/// The shortest tone generated, ms (Q.24: 40 ms must be detected; 10 ms of margin for the
/// receiver's block alignment).
pub const MIN_TONE_MS: u32 = 50;
/// The longest tone generated, ms: a key held longer is a stuck key or a bad duration.
pub const MAX_TONE_MS: u32 = 2_000;
/// The silence after each generated tone, ms (Q.24: pauses of 40 ms must be seen).
pub const TONE_PAUSE_MS: u32 = 60;
/// The shortest telephone-event generated, ms.
const MIN_EVENT_MS: u32 = 40;
/// The gap between two telephone-events generated back to back.
const EVENT_GAP: Duration = Duration::from_millis(50);
/// Generated audio frames: 20 ms.
const FRAME: Duration = Duration::from_millis(20);
/// How far behind the end of the tones relayed audio is still held back, in clock units
/// (one second at 8 kHz; beyond that it is another timeline, e.g. a new SSRC).
const RESUME_WINDOW: u32 = 8_000;
/// Frames sent at once at most when the timer ran late (the rest are skipped).
const MAX_CATCH_UP_FRAMES: u32 = 10;

/// The form digits take to a leg, its mode and its SDP taken together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// Telephone-events with this payload type.
    Rfc4733(u8),
    /// SIP INFO, by the call's owner.
    Info,
    /// Tones in the audio.
    Inband,
}

impl Form {
    /// The form for a leg in `mode` whose telephone-event payload type is `telephone_event`.
    pub(crate) fn of(mode: DtmfMode, telephone_event: Option<u8>) -> Form {
        match (mode, telephone_event) {
            (DtmfMode::Rfc4733, Some(pt)) => Form::Rfc4733(pt),
            (DtmfMode::Rfc4733, None) | (DtmfMode::Inband, _) => Form::Inband,
            (DtmfMode::Info, _) => Form::Info,
        }
    }
}

/// The stream of RTP the relay sends to a leg, as the leg sees it.
#[derive(Debug, Clone)]
pub(crate) struct OutStream {
    /// The SSRC of the last packet sent.
    ssrc: Option<u32>,
    /// The sequence number of the newest packet sent.
    last_seq: u16,
    /// The timestamp of the newest audio packet sent, and when it was sent.
    last_ts: u32,
    last_at: Instant,
    /// Added to relayed sequence numbers: packets made minus packets held back.
    seq_offset: u16,
    /// The SSRC used before anything was relayed.
    fallback_ssrc: u32,
}

impl OutStream {
    fn new(fallback_ssrc: u32, now: Instant) -> OutStream {
        OutStream {
            ssrc: None,
            last_seq: 0,
            last_ts: 0,
            last_at: now,
            seq_offset: 0,
            fallback_ssrc,
        }
    }

    /// Takes note of a relayed packet (its timestamp only if it is audio) and returns the
    /// sequence number it goes out with.
    pub(crate) fn relay(
        &mut self,
        ssrc: u32,
        seq: u16,
        audio_ts: Option<u32>,
        now: Instant,
    ) -> u16 {
        if self.ssrc != Some(ssrc) {
            // A new stream: its own sequence space, nothing made in it yet.
            self.ssrc = Some(ssrc);
            self.seq_offset = 0;
            self.last_seq = seq;
            if let Some(ts) = audio_ts {
                self.last_ts = ts;
                self.last_at = now;
            }
            return seq;
        }
        let out = seq.wrapping_add(self.seq_offset);
        if (out.wrapping_sub(self.last_seq) as i16) > 0 {
            self.last_seq = out;
            if let Some(ts) = audio_ts {
                self.last_ts = ts;
                self.last_at = now;
            }
        }
        out
    }

    /// A relayed packet held back (replaced): later ones close the gap it leaves.
    fn hold_back(&mut self) {
        self.seq_offset = self.seq_offset.wrapping_sub(1);
    }

    /// The SSRC and sequence number of a packet the relay makes.
    fn make(&mut self) -> (u32, u16) {
        let ssrc = *self.ssrc.get_or_insert(self.fallback_ssrc);
        self.last_seq = self.last_seq.wrapping_add(1);
        self.seq_offset = self.seq_offset.wrapping_add(1);
        (ssrc, self.last_seq)
    }

    /// The stream's timestamp at `now`: the last audio's plus the time since.
    fn timestamp_at(&self, now: Instant, clock_rate: u32) -> u32 {
        let since = now.saturating_duration_since(self.last_at);
        self.last_ts.wrapping_add(clock_units(since, clock_rate))
    }
}

/// The tone frames being sent: the next one's time and timestamp.
#[derive(Debug, Clone, Copy)]
struct ToneClock {
    next_at: Instant,
    timestamp: u32,
}

/// What the relay sends to one leg of its own: generated DTMF.
#[derive(Debug, Clone)]
pub(crate) struct Render {
    pub out: OutStream,
    /// Digits waiting to go as telephone-events.
    events: VecDeque<DtmfEvent>,
    /// The telephone-event being sent.
    sending: Option<TelephoneEventSender>,
    /// The earliest start of the next telephone-event, and the last one's timestamp.
    next_event_at: Instant,
    last_event_ts: Option<u32>,
    tones: InBandGenerator,
    tone_clock: Option<ToneClock>,
    /// After tones: relayed audio before this timestamp is still held back.
    resume_ts: Option<u32>,
}

impl Render {
    pub(crate) fn new(fallback_ssrc: u32, now: Instant) -> Render {
        Render {
            out: OutStream::new(fallback_ssrc, now),
            events: VecDeque::new(),
            sending: None,
            next_event_at: now,
            last_event_ts: None,
            tones: InBandGenerator::new(),
            tone_clock: None,
            resume_ts: None,
        }
    }

    /// Whether generated tones replace relayed audio with timestamp `ts`: while they play,
    /// and for audio up to a second older than the end of the last frame made (a packet
    /// for the time the last frame already covered).
    pub(crate) fn replacing_audio(&mut self, ts: u32) -> bool {
        if self.tone_clock.is_some() {
            return true;
        }
        let Some(resume) = self.resume_ts else {
            return false;
        };
        let behind = resume.wrapping_sub(ts);
        if behind > 0 && behind <= RESUME_WINDOW {
            return true;
        }
        self.resume_ts = None;
        false
    }

    /// Holds back a relayed audio packet that the tones replace.
    pub(crate) fn hold_back(&mut self) {
        self.out.hold_back();
    }

    /// When [`poll`] has something to send.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let event = match &self.sending {
            Some(sender) => sender.next_deadline(),
            None if !self.events.is_empty() => Some(self.next_event_at),
            None => None,
        };
        let tone = self.tone_clock.map(|c| c.next_at);
        match (event, tone) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Renders `event`, a digit from the peer of `to`'s other leg, to leg `to_id` (`to`): queued
/// as telephone-events or tones, or a [`RelayAction::SendInfo`]; what is due goes out now.
pub(crate) fn render_digit(
    to: &mut Leg,
    to_id: LegId,
    event: &DtmfEvent,
    now: Instant,
    actions: &mut Vec<RelayAction>,
) {
    match (
        Form::of(to.config.dtmf_mode, to.config.telephone_event),
        event.source,
    ) {
        // Relayed as they came, or already in the audio.
        (Form::Rfc4733(_), DtmfSource::Rfc4733) | (Form::Inband, DtmfSource::InBand) => return,
        (Form::Rfc4733(_), _) => to.render.events.push_back(*event),
        (Form::Info, _) => {
            actions.push(RelayAction::SendInfo {
                leg: to_id,
                event: *event,
            });
            return;
        }
        (Form::Inband, _) => {
            if to.config.law().is_none() {
                return;
            }
            let tone = event.duration_ms.clamp(MIN_TONE_MS, MAX_TONE_MS);
            to.render.tones.push_digit(event.digit, tone, TONE_PAUSE_MS);
            if to.render.tone_clock.is_none() {
                let timestamp = to.render.out.timestamp_at(now, to.config.codec.clock_rate);
                to.render.tone_clock = Some(ToneClock {
                    next_at: now,
                    timestamp,
                });
            }
        }
    }
    poll(to, now, actions);
}

/// Sends what is due at `now` of what the relay makes for leg `to`.
pub(crate) fn poll(to: &mut Leg, now: Instant, actions: &mut Vec<RelayAction>) {
    poll_events(to, now, actions);
    poll_tones(to, now, actions);
}

fn poll_events(to: &mut Leg, now: Instant, actions: &mut Vec<RelayAction>) {
    loop {
        if to.render.sending.as_ref().is_none_or(|s| s.is_done()) {
            to.render.sending = None;
            if to.render.events.is_empty() || now < to.render.next_event_at {
                return;
            }
            let Some(event) = to.render.events.pop_front() else {
                return;
            };
            let Form::Rfc4733(_) = Form::of(to.config.dtmf_mode, to.config.telephone_event) else {
                // The leg changed its mode (re-INVITE): what was queued is dropped.
                to.render.events.clear();
                return;
            };
            let clock_rate = to.config.codec.clock_rate;
            let mut timestamp = to.render.out.timestamp_at(now, clock_rate);
            if let Some(last) = to.render.last_event_ts
                && (timestamp.wrapping_sub(last) as i32) <= 0
            {
                // A new event needs a new timestamp (RFC 4733 §2.5.1.3).
                timestamp = last.wrapping_add(1);
            }
            to.render.last_event_ts = Some(timestamp);
            let duration = Duration::from_millis(u64::from(
                event.duration_ms.clamp(MIN_EVENT_MS, MAX_TONE_MS),
            ));
            let config = SenderConfig {
                clock_rate,
                ..SenderConfig::default()
            };
            let sender = TelephoneEventSender::new(config, event.digit, duration, timestamp, now);
            // The last end packet goes `end_repeats - 1` intervals after the duration.
            let tail = config.end_repeat_interval * u32::from(config.end_repeats.max(1) - 1);
            to.render.next_event_at = now + duration + tail + EVENT_GAP;
            to.render.sending = Some(sender);
        }
        let Some(sender) = to.render.sending.as_mut() else {
            return;
        };
        let mut due = Vec::new();
        while let Some(packet) = sender.next_packet(now) {
            due.push(packet);
        }
        let done = sender.is_done();
        if let Some(pt) = to.config.telephone_event {
            for packet in due {
                let (ssrc, seq) = to.render.out.make();
                let payload = packet.event.encode();
                let bytes = rtp_packet(pt, packet.marker, seq, packet.timestamp, ssrc, &payload);
                send(to, bytes, actions);
            }
        }
        if !done {
            return;
        }
    }
}

fn poll_tones(to: &mut Leg, now: Instant, actions: &mut Vec<RelayAction>) {
    let Some(mut clock) = to.render.tone_clock else {
        return;
    };
    let Some(law) = to.config.law() else {
        to.render.tones = InBandGenerator::new();
        to.render.tone_clock = None;
        return;
    };
    let samples = usize::try_from(clock_units(FRAME, to.config.codec.clock_rate))
        .unwrap_or(160)
        .clamp(1, 960);
    let mut pcm = [0i16; 960];
    let mut payload = [0u8; 960];
    let mut frames = 0;
    while clock.next_at <= now {
        if frames == MAX_CATCH_UP_FRAMES {
            // The timer ran late: skip to now rather than burst.
            clock.next_at = now + FRAME;
            break;
        }
        frames += 1;
        let frame = &mut pcm[..samples];
        let produced = to.render.tones.fill(frame);
        let out = &mut payload[..samples];
        if law.encode(frame, out).is_err() {
            break;
        }
        let (ssrc, seq) = to.render.out.make();
        let bytes = rtp_packet(
            to.config.payload_type,
            false,
            seq,
            clock.timestamp,
            ssrc,
            out,
        );
        send(to, bytes, actions);
        clock.timestamp = clock.timestamp.wrapping_add(samples as u32);
        clock.next_at += FRAME;
        if produced < samples || to.render.tones.is_idle() {
            // The last tone and its pause are out: relayed audio takes over, its timestamps
            // running on from the frames made here.
            to.render.out.last_ts = clock.timestamp;
            to.render.out.last_at = clock.next_at;
            to.render.tone_clock = None;
            to.render.resume_ts = Some(clock.timestamp);
            return;
        }
    }
    to.render.tone_clock = Some(clock);
}

/// Queues `bytes` to leg `to` (from its own socket), if it may be sent to.
fn send(to: &mut Leg, bytes: Vec<u8>, actions: &mut Vec<RelayAction>) {
    let Some(dest) = to.rtp_destination() else {
        return;
    };
    to.stats.packets_out += 1;
    to.stats.bytes_out += bytes.len() as u64;
    to.stats.dtmf_generated += 1;
    actions.push(RelayAction::SendRtp {
        from_leg: to.id,
        to: dest,
        bytes,
    });
}

/// A plain RTP packet (no CSRC, extension or padding).
fn rtp_packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push((u8::from(marker) << 7) | (pt & 0x7F));
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}
