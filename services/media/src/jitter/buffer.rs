//! The [`JitterBuffer`] state machine.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{AudioFrame, Frame, JitterConfig, JitterConfigError, JitterStats, Packet, PushOutcome};

/// A sequence jump up to this far ahead is loss, not a restart (RFC 3550 §A.1's MAX_DROPOUT).
const MAX_DROPOUT: i64 = 3000;
/// A sequence number up to this far behind is reordering (RFC 3550 §A.1's MAX_MISORDER).
const MAX_MISORDER: i64 = 100;
/// Consecutive late packets after which the sender is taken to have restarted its clock.
const LATE_RUN_RESYNC: u32 = 25;
/// Frames between two delay adjustments, so that one adjustment shows in the measured lead
/// before the next is decided.
const ADJUST_COOLDOWN: u32 = 8;
/// Frames of excess delay tolerated before shrinking: a shrink throws audio away, and the
/// start alone can add up to a frame (playing begins on the first tick after the target
/// delay), so shrinking waits for a clear excess; growing only waits for one frame.
const SHRINK_MARGIN_FRAMES: f64 = 2.0;
/// Weight of one packet in the smoothed lead, as in the jitter formula.
const LEAD_GAIN: f64 = 1.0 / 16.0;
/// Jitter multiples of margin in the adaptive delay.
const JITTER_MARGIN: f64 = 3.0;

/// A buffered packet, its numbers extended past wrap-around.
#[derive(Debug)]
struct Slot {
    /// Extended sequence number.
    seq: i64,
    /// Extended timestamp.
    ts: i64,
    /// The packet as received.
    packet: Packet,
}

/// The stream being buffered, as RFC 3550 §A.1 tracks a source.
#[derive(Debug)]
struct Source {
    /// SSRC of the stream.
    ssrc: u32,
    /// Highest extended sequence number seen.
    max_seq: i64,
    /// Highest extended timestamp seen.
    max_ts: i64,
    /// After a big sequence jump: the sequence number that would confirm it.
    probation: Option<u16>,
}

/// The playout point, once playing.
#[derive(Debug)]
struct Playout {
    /// Extended timestamp of the start of the next frame to play.
    ts: i64,
    /// Extended sequence number of the last packet played.
    last_seq: Option<i64>,
}

/// A jitter buffer for one RTP stream; see the [module documentation](super).
#[derive(Debug)]
pub struct JitterBuffer {
    /// The configuration, validated.
    config: JitterConfig,
    /// Timestamp units per frame.
    frame_ts: i64,
    /// `min_delay` in timestamp units.
    min_delay_ts: i64,
    /// `max_delay` in timestamp units.
    max_delay_ts: i64,
    /// `resync_threshold` in timestamp units.
    resync_ts: i64,
    /// Buffered packets, ascending by extended sequence number.
    queue: VecDeque<Slot>,
    /// The current stream, once a packet has been accepted.
    source: Option<Source>,
    /// The playout point, once playing.
    playout: Option<Playout>,
    /// When the current stream's first packet arrived (buffering starts then).
    buffering_since: Option<Instant>,
    /// Origin of arrival times for the jitter estimate.
    epoch: Option<Instant>,
    /// Relative transit time of the previous packet (RFC 3550 §A.8), in timestamp units.
    last_transit: Option<f64>,
    /// Interarrival jitter estimate, in timestamp units.
    jitter: f64,
    /// Smoothed lead of arriving packets over the playout point, in timestamp units.
    lead: Option<f64>,
    /// Playout delay aimed at, in timestamp units.
    target_ts: i64,
    /// Frames to wait before the next delay adjustment.
    cooldown: u32,
    /// Consecutive late packets.
    late_run: u32,
    /// Counters.
    stats: JitterStats,
}

/// `duration` in units of a `rate` Hz clock, saturating.
fn to_units(duration: Duration, rate: u32) -> i64 {
    let units = duration.as_nanos().saturating_mul(u128::from(rate)) / 1_000_000_000;
    i64::try_from(units).unwrap_or(i64::MAX)
}

impl JitterBuffer {
    /// A buffer playing out as `config` says; fails on inconsistent settings.
    pub fn new(config: JitterConfig) -> Result<Self, JitterConfigError> {
        if config.clock_rate == 0 {
            return Err(JitterConfigError::ZeroClockRate);
        }
        let frame_ts = to_units(config.frame, config.clock_rate);
        if frame_ts < 1 || config.frame > Duration::from_secs(1) {
            return Err(JitterConfigError::BadFrame(config.frame));
        }
        if config.min_delay > config.max_delay || config.max_delay >= config.resync_threshold {
            return Err(JitterConfigError::BadDelays);
        }
        if config.capacity == 0 {
            return Err(JitterConfigError::ZeroCapacity);
        }
        let min_delay_ts = to_units(config.min_delay, config.clock_rate);
        Ok(JitterBuffer {
            frame_ts,
            min_delay_ts,
            max_delay_ts: to_units(config.max_delay, config.clock_rate),
            resync_ts: to_units(config.resync_threshold, config.clock_rate),
            queue: VecDeque::with_capacity(config.capacity.saturating_add(1).min(4096)),
            source: None,
            playout: None,
            buffering_since: None,
            epoch: None,
            last_transit: None,
            jitter: 0.0,
            lead: None,
            target_ts: min_delay_ts,
            cooldown: 0,
            late_run: 0,
            stats: JitterStats::default(),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &JitterConfig {
        &self.config
    }

    /// Whether frames are being played (false before the first packet and while buffering
    /// afresh after a resynchronisation).
    pub fn is_playing(&self) -> bool {
        self.playout.is_some()
    }

    /// The playout delay aimed at now.
    pub fn target_delay(&self) -> Duration {
        self.ts_to_duration(self.target_ts as f64)
    }

    /// The interarrival jitter estimate (RFC 3550 §A.8).
    pub fn jitter(&self) -> Duration {
        self.ts_to_duration(self.jitter)
    }

    /// Counters, and the gauges as of now.
    pub fn stats(&self) -> JitterStats {
        let mut stats = self.stats;
        stats.depth_packets = self.queue.len();
        let from = self
            .playout
            .as_ref()
            .map(|p| p.ts)
            .or(self.queue.iter().map(|s| s.ts).min());
        let newest = self.queue.iter().map(|s| s.ts).max();
        stats.depth_ms = match (from, newest) {
            (Some(from), Some(newest)) => self.ts_to_ms(
                newest
                    .saturating_add(self.frame_ts)
                    .saturating_sub(from)
                    .max(0) as f64,
            ),
            _ => 0.0,
        };
        stats.jitter_timestamp_units = self.jitter;
        stats.jitter_ms = self.ts_to_ms(self.jitter);
        stats.target_delay_ms = self.ts_to_ms(self.target_ts as f64);
        stats
    }

    /// Forgets the stream and its packets (the counters stay), as at a re-INVITE that
    /// changes the media.
    pub fn reset(&mut self) {
        self.stats.flushed += self.queue.len() as u64;
        self.queue.clear();
        self.source = None;
        self.playout = None;
        self.buffering_since = None;
        self.last_transit = None;
        self.lead = None;
        self.late_run = 0;
    }

    /// Takes in a packet that arrived at `now`.
    pub fn push(&mut self, now: Instant, packet: Packet) -> PushOutcome {
        self.stats.received += 1;
        if self
            .config
            .payload_type
            .is_some_and(|pt| pt != packet.payload_type)
        {
            self.stats.filtered += 1;
            return PushOutcome::Filtered;
        }
        let Some(source) = self.source.as_mut() else {
            self.restart(now, packet);
            return PushOutcome::Accepted;
        };
        if source.ssrc != packet.ssrc {
            return self.resync(now, packet);
        }
        // Extend the sequence number around the highest seen (RFC 3550 §A.1).
        let delta = i64::from(packet.sequence.wrapping_sub(source.max_seq as u16) as i16);
        if !(-MAX_MISORDER..MAX_DROPOUT).contains(&delta) {
            if source.probation == Some(packet.sequence) {
                return self.resync(now, packet);
            }
            source.probation = Some(packet.sequence.wrapping_add(1));
            self.stats.discarded += 1;
            return PushOutcome::Discarded;
        }
        source.probation = None;
        let seq = source.max_seq + delta;
        let ts_delta = i64::from(packet.timestamp.wrapping_sub(source.max_ts as u32) as i32);
        let ts = source.max_ts + ts_delta;
        let in_order = delta > 0;
        if self.playout.is_none() && in_order && (ts - source.max_ts).abs() > self.resync_ts {
            // Still buffering, and the timestamps leap: the newer timeline wins.
            return self.resync(now, packet);
        }

        if let Some(playout) = &self.playout {
            let lead = ts - playout.ts;
            if lead.abs() > self.resync_ts {
                if in_order {
                    // The sender restarted its timestamps (or paused its clock for long).
                    return self.resync(now, packet);
                }
                self.stats.discarded += 1;
                return PushOutcome::Discarded;
            }
            let played = playout.last_seq.is_some_and(|last| seq <= last);
            if lead < 0 || played {
                self.late_run += 1;
                if self.late_run >= LATE_RUN_RESYNC && in_order {
                    return self.resync(now, packet);
                }
                // A late packet still says how the network behaves: it counts towards the
                // jitter and pulls the measured lead down, which grows the delay.
                self.measure(now, ts);
                self.stats.late += 1;
                return PushOutcome::Late;
            }
        }
        let Err(index) = self.queue.binary_search_by_key(&seq, |slot| slot.seq) else {
            self.stats.duplicate += 1;
            return PushOutcome::Duplicate;
        };
        if let Some(source) = self.source.as_mut() {
            if in_order {
                source.max_seq = seq;
            }
            source.max_ts = source.max_ts.max(ts);
        }
        self.late_run = 0;
        self.measure(now, ts);
        self.queue.insert(index, Slot { seq, ts, packet });
        if self.queue.len() > self.config.capacity && self.queue.pop_front().is_some() {
            self.stats.overflow += 1;
        }
        PushOutcome::Accepted
    }

    /// The frame to play at `now`; call once per frame duration.
    pub fn pop(&mut self, now: Instant) -> Frame {
        let Some(playout) = self.playout.as_mut() else {
            return self.try_start(now);
        };
        // Move the delay towards the target by at most one frame, leaving a few frames
        // between moves so that the last move shows in the measured lead.
        if self.cooldown > 0 {
            self.cooldown -= 1;
        } else if let Some(lead) = self.lead.as_mut() {
            let frame = self.frame_ts as f64;
            if *lead > (self.target_ts as f64) + SHRINK_MARGIN_FRAMES * frame {
                // Shrink: skip the frame due now.
                playout.ts += self.frame_ts;
                *lead -= frame;
                self.cooldown = ADJUST_COOLDOWN;
                self.stats.skipped += 1;
            } else if *lead < (self.target_ts as f64) - frame {
                // Grow: play a gap and leave the playout point where it is.
                *lead += frame;
                self.cooldown = ADJUST_COOLDOWN;
                self.stats.stretched += 1;
                self.stats.missing += 1;
                return Frame::Missing;
            }
        }
        // Packets before the playout point can only be those a shrink skipped.
        while self.queue.front().is_some_and(|slot| slot.ts < playout.ts) {
            self.queue.pop_front();
        }
        let due = self
            .queue
            .front()
            .is_some_and(|slot| slot.ts < playout.ts + self.frame_ts);
        playout.ts += self.frame_ts;
        let slot = match self.queue.pop_front() {
            Some(slot) if due => slot,
            other => {
                if let Some(slot) = other {
                    self.queue.push_front(slot);
                }
                self.stats.missing += 1;
                return Frame::Missing;
            }
        };
        if let Some(last) = playout.last_seq {
            self.stats.lost += u64::try_from(slot.seq - last - 1).unwrap_or(0);
        }
        playout.last_seq = Some(slot.seq);
        self.stats.played += 1;
        let packet = slot.packet;
        Frame::Audio(AudioFrame {
            payload: packet.payload,
            sequence: packet.sequence,
            timestamp: packet.timestamp,
            marker: packet.marker,
            payload_type: packet.payload_type,
        })
    }

    /// Starts playing once the first packet has waited the target delay.
    fn try_start(&mut self, now: Instant) -> Frame {
        let waited = self
            .buffering_since
            .map(|since| now.saturating_duration_since(since));
        let Some(first) = self.queue.iter().map(|slot| slot.ts).min() else {
            return Frame::Empty;
        };
        if waited.is_none_or(|waited| to_units(waited, self.config.clock_rate) < self.target_ts) {
            return Frame::Empty;
        }
        self.playout = Some(Playout {
            ts: first,
            last_seq: None,
        });
        self.cooldown = ADJUST_COOLDOWN;
        self.pop(now)
    }

    /// Drops the current stream and starts a new one with `packet`.
    fn resync(&mut self, now: Instant, packet: Packet) -> PushOutcome {
        self.stats.resyncs += 1;
        self.reset();
        self.restart(now, packet);
        PushOutcome::Resynced
    }

    /// Makes `packet` the first of a new stream.
    fn restart(&mut self, now: Instant, packet: Packet) {
        let seq = i64::from(packet.sequence);
        let ts = i64::from(packet.timestamp);
        self.source = Some(Source {
            ssrc: packet.ssrc,
            max_seq: seq,
            max_ts: ts,
            probation: None,
        });
        self.buffering_since = Some(now);
        self.measure(now, ts);
        self.queue.push_back(Slot { seq, ts, packet });
    }

    /// Updates the jitter estimate, the target delay and the smoothed lead with a packet of
    /// extended timestamp `ts` arriving at `now`.
    fn measure(&mut self, now: Instant, ts: i64) {
        let epoch = *self.epoch.get_or_insert(now);
        let arrival =
            now.saturating_duration_since(epoch).as_secs_f64() * f64::from(self.config.clock_rate);
        let transit = arrival - ts as f64;
        if let Some(last) = self.last_transit {
            // RFC 3550 §A.8: J += (|D| - J) / 16.
            self.jitter += ((transit - last).abs() - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
        if self.config.adaptive {
            let wanted = self.frame_ts as f64 + JITTER_MARGIN * self.jitter;
            // Whole frames, since the delay moves a frame at a time.
            let frames = (wanted / self.frame_ts as f64).ceil();
            let wanted = (frames * self.frame_ts as f64) as i64;
            self.target_ts = wanted.clamp(self.min_delay_ts, self.max_delay_ts);
        }
        if let Some(playout) = &self.playout {
            // Half a frame on top: the caller may push just before or just after a pop,
            // which moves the raw lead by a frame.
            let lead = (ts - playout.ts) as f64 + self.frame_ts as f64 / 2.0;
            let smoothed = self.lead.get_or_insert(lead);
            *smoothed += (lead - *smoothed) * LEAD_GAIN;
        }
    }

    /// Timestamp units to a duration.
    fn ts_to_duration(&self, units: f64) -> Duration {
        Duration::from_secs_f64((units / f64::from(self.config.clock_rate)).clamp(0.0, 1e9))
    }

    /// Timestamp units to milliseconds.
    fn ts_to_ms(&self, units: f64) -> f64 {
        units * 1000.0 / f64::from(self.config.clock_rate)
    }
}
