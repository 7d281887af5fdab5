//! The prompt player of one leg: a list of prompts as one RTP talkspurt.
//!
//! Pacing is anchored: packet `n` of a play is due at `start + n × 20 ms`, whatever the
//! instants `poll` happens to be called at, so timer lateness never accumulates into drift.
//! A late `poll` hands out every packet that is due (RTP timestamps still advance by 160
//! each, so the receiver's jitter buffer sees the intended timing).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtp::header::Header;
use rtp::packet::Packet;

use super::Prompt;
use crate::codec::{FRAME_DURATION, FRAME_SAMPLES, G711Law, SAMPLE_RATE};
use crate::dtmf::DtmfDigit;

/// The RTP stream the player writes: the leg's law, payload type and SSRC, and where its
/// sequence numbers and timestamps continue from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayerConfig {
    /// The law the leg negotiated.
    pub law: G711Law,
    /// RTP payload type (the law's static type unless the SDP said otherwise).
    pub payload_type: u8,
    /// The leg's SSRC.
    pub ssrc: u32,
    /// Sequence number of the first packet (the leg's next one, to continue its stream).
    pub sequence: u16,
    /// RTP timestamp of the first packet (the leg's next one, to continue its stream).
    pub timestamp: u32,
}

impl PlayerConfig {
    /// A stream of `law` with its static payload type, starting at `sequence`/`timestamp`
    /// (random for a new stream, RFC 3550 §5.1; the leg's next values to continue one).
    pub fn new(law: G711Law, ssrc: u32, sequence: u16, timestamp: u32) -> Self {
        Self {
            law,
            payload_type: law.payload_type(),
            ssrc,
            sequence,
            timestamp,
        }
    }
}

/// One packet to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpOut {
    /// The instant it was due (start + n × 20 ms); the shell may log its own lateness.
    pub due: Instant,
    /// The packet: header and 160 bytes of G.711.
    pub packet: Packet,
}

impl RtpOut {
    /// The datagram: the 12-byte RTP header (RFC 3550 §5.1: V=2, no padding, extension or
    /// CSRC) and the payload. Written by hand because that header is all the player makes
    /// and the `Marshal` trait lives in another crate (webrtc-util).
    pub fn to_bytes(&self) -> Vec<u8> {
        let h = &self.packet.header;
        let mut out = Vec::with_capacity(12 + self.packet.payload.len());
        out.push(0x80);
        out.push(if h.marker { 0x80 } else { 0 } | (h.payload_type & 0x7f));
        out.extend_from_slice(&h.sequence_number.to_be_bytes());
        out.extend_from_slice(&h.timestamp.to_be_bytes());
        out.extend_from_slice(&h.ssrc.to_be_bytes());
        out.extend_from_slice(&self.packet.payload);
        out
    }
}

/// What happened to a prompt of the list, for the IVR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptEvent {
    /// Its first packet was sent.
    Started {
        /// Position in the list given to [`PromptPlayer::play`].
        index: usize,
        /// The prompt's name.
        name: Arc<str>,
        /// When its first packet was due.
        at: Instant,
    },
    /// Its last packet was sent (the audio ends 20 ms after `at`).
    Finished {
        /// Position in the list.
        index: usize,
        /// The prompt's name.
        name: Arc<str>,
        /// When its last packet was due.
        at: Instant,
    },
    /// A barge-in digit stopped it; the rest of the list is dropped.
    Interrupted {
        /// Position in the list.
        index: usize,
        /// The prompt's name.
        name: Arc<str>,
        /// The digit.
        digit: DtmfDigit,
        /// When.
        at: Instant,
    },
    /// [`PromptPlayer::stop`] or a new [`PromptPlayer::play`] stopped it.
    Stopped {
        /// Position in the list.
        index: usize,
        /// The prompt's name.
        name: Arc<str>,
        /// When.
        at: Instant,
    },
}

/// A list being played.
#[derive(Debug, Clone)]
struct Playing {
    prompts: Vec<Prompt>,
    stop_on: Vec<DtmfDigit>,
    start: Instant,
    /// Packets sent since `start`.
    sent: u32,
    /// The prompt playing and the next sample of it.
    index: usize,
    offset: usize,
}

impl Playing {
    fn deadline(&self) -> Instant {
        self.start + FRAME_DURATION * self.sent
    }

    fn current_name(&self) -> Arc<str> {
        self.prompts
            .get(self.index)
            .map_or_else(|| Arc::from(""), |p| p.name.clone())
    }
}

/// Plays prompts into one leg as 20 ms G.711 RTP packets (sans-IO: the shell calls
/// [`poll`](Self::poll) at [`next_deadline`](Self::next_deadline) and sends what it returns).
#[derive(Debug, Clone)]
pub struct PromptPlayer {
    config: PlayerConfig,
    next_sequence: u16,
    next_timestamp: u32,
    /// When the audio of the last packet sent ends: a new play starts no earlier, and its
    /// timestamps continue from there by the time that passed.
    audio_end: Option<Instant>,
    playing: Option<Playing>,
    events: Vec<PromptEvent>,
}

/// RTP timestamp units (8 kHz samples) in `d`, wrapping like the timestamp does.
fn units(d: Duration) -> u32 {
    (d.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000) as u32
}

impl PromptPlayer {
    /// A player for the stream `config` describes.
    pub fn new(config: PlayerConfig) -> Self {
        Self {
            config,
            next_sequence: config.sequence,
            next_timestamp: config.timestamp,
            audio_end: None,
            playing: None,
            events: Vec::new(),
        }
    }

    /// Plays `prompts` one after the other from `now` (or from the end of audio already
    /// sent), as one talkspurt. A DTMF digit in `stop_on_digits` stops it
    /// ([`barge_in`](Self::barge_in)); an empty set means no barge-in. A list still playing
    /// is stopped first ([`PromptEvent::Stopped`]). An empty list plays nothing.
    pub fn play(&mut self, prompts: Vec<Prompt>, stop_on_digits: &[DtmfDigit], now: Instant) {
        self.stop(now);
        if prompts.is_empty() {
            return;
        }
        let start = match self.audio_end {
            Some(end) if end > now => end,
            Some(end) => {
                // Time passed without packets: the timestamp keeps counting (RFC 3550 §5.1).
                self.next_timestamp = self.next_timestamp.wrapping_add(units(now - end));
                now
            }
            None => now,
        };
        self.playing = Some(Playing {
            prompts,
            stop_on: stop_on_digits.to_vec(),
            start,
            sent: 0,
            index: 0,
            offset: 0,
        });
    }

    /// When the next packet is due, while playing.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.playing.as_ref().map(Playing::deadline)
    }

    /// The packets due at `now` (none, one, or several after a late call).
    pub fn poll(&mut self, now: Instant) -> Vec<RtpOut> {
        let mut out = Vec::new();
        while let Some(playing) = self.playing.as_mut() {
            let due = playing.deadline();
            if due > now {
                break;
            }
            let Some(prompt) = playing.prompts.get(playing.index) else {
                self.playing = None;
                break;
            };
            if playing.offset == 0 {
                self.events.push(PromptEvent::Started {
                    index: playing.index,
                    name: prompt.name.clone(),
                    at: due,
                });
            }
            let mut frame = [0i16; FRAME_SAMPLES];
            let rest = prompt.samples.get(playing.offset..).unwrap_or(&[]);
            let take = rest.len().min(FRAME_SAMPLES);
            frame[..take].copy_from_slice(&rest[..take]);
            let payload = self.config.law.encode_frame(&frame);
            out.push(RtpOut {
                due,
                packet: Packet {
                    header: Header {
                        version: 2,
                        marker: playing.sent == 0,
                        payload_type: self.config.payload_type,
                        sequence_number: self.next_sequence,
                        timestamp: self.next_timestamp,
                        ssrc: self.config.ssrc,
                        ..Header::default()
                    },
                    payload: Bytes::copy_from_slice(&payload),
                },
            });
            self.next_sequence = self.next_sequence.wrapping_add(1);
            self.next_timestamp = self.next_timestamp.wrapping_add(FRAME_SAMPLES as u32);
            playing.sent = playing.sent.saturating_add(1);
            self.audio_end = Some(playing.deadline());
            playing.offset += take;
            if playing.offset >= prompt.samples.len() {
                self.events.push(PromptEvent::Finished {
                    index: playing.index,
                    name: prompt.name.clone(),
                    at: due,
                });
                playing.index += 1;
                playing.offset = 0;
                if playing.index >= playing.prompts.len() {
                    self.playing = None;
                }
            }
        }
        out
    }

    /// A DTMF digit arrived on the leg: stops the list at once if it was started with this
    /// digit among its `stop_on_digits`, reporting [`PromptEvent::Interrupted`]. Returns
    /// whether it stopped.
    pub fn barge_in(&mut self, digit: DtmfDigit, now: Instant) -> bool {
        let Some(playing) = self.playing.as_ref() else {
            return false;
        };
        if !playing.stop_on.contains(&digit) {
            return false;
        }
        self.events.push(PromptEvent::Interrupted {
            index: playing.index,
            name: playing.current_name(),
            digit,
            at: now,
        });
        self.playing = None;
        true
    }

    /// Stops the list playing, if any, reporting [`PromptEvent::Stopped`].
    pub fn stop(&mut self, now: Instant) {
        if let Some(playing) = self.playing.take() {
            self.events.push(PromptEvent::Stopped {
                index: playing.index,
                name: playing.current_name(),
                at: now,
            });
        }
    }

    /// Whether nothing is playing (the list finished, was stopped, or none was given).
    pub fn is_done(&self) -> bool {
        self.playing.is_none()
    }

    /// The events since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<PromptEvent> {
        std::mem::take(&mut self.events)
    }

    /// The sequence number and RTP timestamp the next packet will carry, for a leg that
    /// goes back to relayed audio after the prompts.
    pub fn stream_position(&self) -> (u16, u32) {
        (self.next_sequence, self.next_timestamp)
    }
}
