//! RTP telephone-events (RFC 4733): payload, receiver and sender schedule.
//!
//! One event is one key press. Every packet of it carries the same RTP timestamp (the start
//! of the event) and a duration counting up from it; the last one has the E bit and is sent
//! three times (§2.5.1.4), so the receiver must count it once. A new timestamp is a new event,
//! even for the same key (§2.5.1.3): that is how "55" differs from a long "5".

use std::time::{Duration, Instant};

use super::{DtmfDigit, DtmfEvent, DtmfSource};

/// Why a telephone-event payload was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Fewer than the 4 bytes of one event block (§2.3).
    #[error("telephone-event payload of {0} bytes, at least 4 needed")]
    Short(usize),
    /// A valid event that is not a DTMF key (e.g. 16, flash): the receiver ignores it.
    #[error("telephone-event {0} is not a DTMF digit (0-15)")]
    NotDtmf(u8),
}

/// One decoded telephone-event block (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code; 0–15 are the DTMF keys (§3.2).
    pub event: u8,
    /// E bit: this is (one copy of) the end packet.
    pub end: bool,
    /// Power level in −dBm0, 0–63 (6 bits).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Decodes the first event block of `payload`; trailing blocks are ignored (DTMF senders
    /// put one event per packet) and the reserved R bit is ignored as §2.3 asks.
    pub fn parse(payload: &[u8]) -> Result<Self, PayloadError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(PayloadError::Short(payload.len()));
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4-byte wire form (R bit zero, volume masked to 6 bits).
    pub fn encode(&self) -> [u8; 4] {
        let flags = if self.end { 0x80 } else { 0 } | (self.volume & 0x3f);
        let [d0, d1] = self.duration.to_be_bytes();
        [self.event, flags, d0, d1]
    }

    /// The DTMF key of the event, or [`PayloadError::NotDtmf`] for codes above 15.
    pub fn digit(&self) -> Result<DtmfDigit, PayloadError> {
        DtmfDigit::from_event_code(self.event).ok_or(PayloadError::NotDtmf(self.event))
    }
}

/// Receiver settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// RTP clock rate of the telephone-event payload type (`a=rtpmap:101 telephone-event/8000`).
    pub clock_rate: u32,
    /// An event with no packet for this long is finished with the last duration seen: its end
    /// packets were all lost. Senders update every 50 ms at most, so 200 ms is four misses.
    pub end_timeout: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            end_timeout: Duration::from_millis(200),
        }
    }
}

/// The event being received.
#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    digit: DtmfDigit,
    started_at: Instant,
    duration: u16,
    last_packet: Instant,
}

/// Turns the telephone-event packets of one RTP stream into one [`DtmfEvent`] per key press.
///
/// Sans-IO: feed each packet with [`on_packet`](Self::on_packet) and call
/// [`poll`](Self::poll) at [`next_deadline`](Self::next_deadline) for lost end packets. A new
/// SSRC means a new timestamp space: call [`reset`](Self::reset).
#[derive(Debug, Clone)]
pub struct TelephoneEventReceiver {
    config: ReceiverConfig,
    current: Option<Current>,
    /// Timestamp of the last event reported: its late and redundant packets are dropped.
    last_finished: Option<u32>,
}

impl TelephoneEventReceiver {
    /// A receiver with no event in progress.
    pub fn new(config: ReceiverConfig) -> Self {
        Self {
            config,
            current: None,
            last_finished: None,
        }
    }

    /// Forgets all state (new SSRC, re-INVITE to another stream).
    pub fn reset(&mut self) {
        self.current = None;
        self.last_finished = None;
    }

    /// The key currently held down, if an event is in progress (for barge-in).
    pub fn in_progress(&self) -> Option<DtmfDigit> {
        self.current.map(|c| c.digit)
    }

    /// Takes one telephone-event packet; returns the events it finishes (at most two: the
    /// previous one cut short by a new timestamp, and a new one whose only surviving packet
    /// is an end packet). `marker` is not needed: the timestamp tells a new event apart, and
    /// the marked first packet is the one most often lost with its neighbours.
    pub fn on_packet(
        &mut self,
        timestamp: u32,
        _sequence: u16,
        _marker: bool,
        payload: &[u8],
        now: Instant,
    ) -> Result<Vec<DtmfEvent>, PayloadError> {
        let event = TelephoneEvent::parse(payload)?;
        let digit = event.digit()?;
        let mut finished = Vec::new();

        if let Some(current) = self.current {
            if current.timestamp == timestamp {
                let duration = current.duration.max(event.duration);
                self.current = Some(Current {
                    duration,
                    last_packet: now,
                    ..current
                });
                if event.end {
                    finished.extend(self.finish());
                }
                return Ok(finished);
            }
            if is_older_or_same(timestamp, current.timestamp) {
                // A late packet of an earlier event.
                return Ok(finished);
            }
            // A new timestamp while the previous event has not ended: its end packets were
            // lost; it ends now with what was seen.
            finished.extend(self.finish());
        } else if self
            .last_finished
            .is_some_and(|last| is_older_or_same(timestamp, last))
        {
            // The redundant end packets of the event already reported, or stale ones.
            return Ok(finished);
        }

        let held = self.to_duration(event.duration);
        self.current = Some(Current {
            timestamp,
            digit,
            // Packets before this one may have been lost: the duration says how long ago the
            // key went down.
            started_at: now.checked_sub(held).unwrap_or(now),
            duration: event.duration,
            last_packet: now,
        });
        if event.end {
            finished.extend(self.finish());
        }
        Ok(finished)
    }

    /// When [`poll`](Self::poll) should next be called: the end-packet timeout of the event
    /// in progress, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.current
            .map(|c| c.last_packet + self.config.end_timeout)
    }

    /// Finishes the event in progress if its end packets have not come within the timeout.
    pub fn poll(&mut self, now: Instant) -> Option<DtmfEvent> {
        let deadline = self.next_deadline()?;
        if now >= deadline { self.finish() } else { None }
    }

    fn finish(&mut self) -> Option<DtmfEvent> {
        let current = self.current.take()?;
        self.last_finished = Some(current.timestamp);
        Some(DtmfEvent {
            digit: current.digit,
            duration_ms: duration_ms(current.duration, self.config.clock_rate),
            source: DtmfSource::Rfc4733,
            started_at: current.started_at,
        })
    }

    fn to_duration(&self, units: u16) -> Duration {
        Duration::from_millis(u64::from(duration_ms(units, self.config.clock_rate)))
    }
}

impl Default for TelephoneEventReceiver {
    fn default() -> Self {
        Self::new(ReceiverConfig::default())
    }
}

/// Whether RTP timestamp `a` is not after `b`, in modulo-2³² order (RFC 3550 wrap-around).
fn is_older_or_same(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}

/// Timestamp units to milliseconds; a clock rate of 0 (misconfigured) reads as 8000.
fn duration_ms(units: u16, clock_rate: u32) -> u32 {
    let rate = if clock_rate == 0 { 8000 } else { clock_rate };
    (u64::from(units) * 1000 / u64::from(rate)) as u32
}

/// Sender settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// RTP clock rate of the negotiated telephone-event payload type.
    pub clock_rate: u32,
    /// Interval between updates while the key is down: 50 ms is RFC 4733 §2.5.1.2's
    /// suggestion; set it to the ptime to pace with the audio.
    pub update_interval: Duration,
    /// How many times the end packet is sent (§2.5.1.4: three).
    pub end_repeats: u8,
    /// Spacing of the repeated end packets: apart rather than back to back, so one burst of
    /// loss does not take all of them.
    pub end_repeat_interval: Duration,
    /// Volume field, −dBm0 (§2.3.4); 10 is what common senders use.
    pub volume: u8,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            update_interval: Duration::from_millis(50),
            end_repeats: 3,
            end_repeat_interval: Duration::from_millis(20),
            volume: 10,
        }
    }
}

/// One packet to send: payload, RTP marker and timestamp, and when relative to the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEventPacket {
    /// When to send it, from the key press.
    pub offset: Duration,
    /// RTP marker bit: set on the first packet of the event only (§2.5.1.1).
    pub marker: bool,
    /// RTP timestamp: the event's start, the same for every packet of it (§2.5.1.1).
    pub timestamp: u32,
    /// The payload (call [`TelephoneEvent::encode`] for the bytes).
    pub event: TelephoneEvent,
}

/// Paces the packets of one digit: [`next_packet`](Self::next_packet) hands out each packet
/// once it is due. Sequence numbers are the RTP layer's, as for audio.
#[derive(Debug, Clone)]
pub struct TelephoneEventSender {
    start: Instant,
    packets: Vec<TelephoneEventPacket>,
    next: usize,
}

impl TelephoneEventSender {
    /// The packets for `digit` held `duration` from RTP `timestamp`, starting at `start`.
    pub fn new(
        config: SenderConfig,
        digit: DtmfDigit,
        duration: Duration,
        timestamp: u32,
        start: Instant,
    ) -> Self {
        Self {
            start,
            packets: Self::schedule(config, digit, duration, timestamp),
            next: 0,
        }
    }

    /// The whole packet schedule: a marked start packet (duration 0) at offset 0, updates every
    /// `update_interval` with the duration so far, then the end packet `end_repeats` times with
    /// the final duration. Durations beyond the 16-bit field (8.19 s at 8 kHz) are clamped:
    /// RFC 4733 §2.5.2.3's segmenting of long events is not needed for key presses.
    pub fn schedule(
        config: SenderConfig,
        digit: DtmfDigit,
        duration: Duration,
        timestamp: u32,
    ) -> Vec<TelephoneEventPacket> {
        let rate = u128::from(config.clock_rate.max(1));
        let units = |d: Duration| -> u16 {
            u16::try_from(d.as_micros() * rate / 1_000_000).unwrap_or(u16::MAX)
        };
        let total = units(duration);
        let interval = config.update_interval.max(Duration::from_millis(1));
        let event = |end: bool, duration: u16| TelephoneEvent {
            event: digit.event_code(),
            end,
            volume: config.volume,
            duration,
        };
        let mut packets = vec![TelephoneEventPacket {
            offset: Duration::ZERO,
            marker: true,
            timestamp,
            event: event(false, 0),
        }];
        let mut at = interval;
        while at < duration && units(at) < total {
            packets.push(TelephoneEventPacket {
                offset: at,
                marker: false,
                timestamp,
                event: event(false, units(at)),
            });
            at += interval;
        }
        for i in 0..config.end_repeats.max(1) {
            packets.push(TelephoneEventPacket {
                offset: duration + config.end_repeat_interval * u32::from(i),
                marker: false,
                timestamp,
                event: event(true, total),
            });
        }
        packets
    }

    /// The next packet if it is due at `now`; call again until `None` (several may be due).
    pub fn next_packet(&mut self, now: Instant) -> Option<TelephoneEventPacket> {
        let packet = *self.packets.get(self.next)?;
        if now >= self.start + packet.offset {
            self.next += 1;
            Some(packet)
        } else {
            None
        }
    }

    /// When the next packet is due; `None` once all are sent.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.packets.get(self.next).map(|p| self.start + p.offset)
    }

    /// Whether every packet, end repeats included, has been handed out.
    pub fn is_done(&self) -> bool {
        self.next >= self.packets.len()
    }
}
