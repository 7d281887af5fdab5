//! The jitter buffer of the legs Switchboard terminates (echo, IVR, recording): RTP packets
//! in as they arrive, one frame out per tick of the caller's steady clock (20 ms for
//! G.711's usual ptime).
//!
//! Sans-IO: the caller passes `now` (a [`std::time::Instant`], so tests drive virtual time
//! by adding durations to one base instant) to [`JitterBuffer::push`] and
//! [`JitterBuffer::pop`]; nothing here reads a clock.
//!
//! What it does:
//! - orders packets by sequence number (extended across u16 wrap-around) and plays them by
//!   RTP timestamp (extended across u32 wrap-around), so silence suppression's timestamp
//!   gaps come out as [`Frame::Missing`] and not as a shortened talkspurt;
//! - drops duplicates and packets whose slot has already been played, counting each;
//! - resynchronises (flushes and buffers afresh) on an SSRC change, on a sequence jump that
//!   a second consecutive packet confirms (RFC 3550 §A.1's probation), on an in-order
//!   packet whose timestamp is further than [`JitterConfig::resync_threshold`] from the
//!   playout point, and after a run of late packets (a sender that paused its clock);
//! - estimates interarrival jitter as RFC 3550 §A.8 does (`J += (|D| - J) / 16`) and, when
//!   adaptive, aims the playout delay at one frame plus three times that jitter, within
//!   `min_delay..=max_delay`; the delay moves one frame at a time, by playing a
//!   [`Frame::Missing`] without advancing (growing) or skipping a frame (shrinking);
//! - keeps at most [`JitterConfig::capacity`] packets, dropping the oldest on overflow.
//!
//! Payload types: every packet of a stream is assumed to carry audio of one frame. DTMF
//! (RFC 4733 telephone-event) packets are not audio and must not be played: either the
//! caller routes them elsewhere before pushing, or sets [`JitterConfig::payload_type`] so
//! that the buffer counts and drops every other payload type. A packet that carries more or
//! less than one frame is played in the frame slot its timestamp falls in; repacketising
//! is the caller's business.

mod buffer;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use buffer::JitterBuffer;

/// How a [`JitterBuffer`] plays out; [`JitterConfig::default`] suits 20 ms G.711.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the stream, in Hz (8,000 for G.711).
    pub clock_rate: u32,
    /// Duration of one output frame, which is also the caller's `pop` interval.
    pub frame: Duration,
    /// Smallest playout delay; the fixed delay when `adaptive` is false.
    pub min_delay: Duration,
    /// Largest playout delay the adaptation may choose.
    pub max_delay: Duration,
    /// Whether the delay follows the measured jitter (else it stays at `min_delay`).
    pub adaptive: bool,
    /// Most packets held at once; the oldest is dropped to make room.
    pub capacity: usize,
    /// The only payload type accepted, if set; `None` leaves the filtering to the caller.
    pub payload_type: Option<u8>,
    /// How far from the playout point an in-order packet's timestamp may be before the
    /// stream is taken to have restarted.
    pub resync_threshold: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            clock_rate: 8000,
            frame: Duration::from_millis(20),
            min_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(200),
            adaptive: true,
            // 1.28 s of 20 ms packets: well past `max_delay`, so only a flood overflows.
            capacity: 64,
            payload_type: None,
            resync_threshold: Duration::from_secs(2),
        }
    }
}

/// Why a [`JitterConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JitterConfigError {
    /// The clock rate is zero.
    #[error("clock rate must be positive")]
    ZeroClockRate,
    /// The frame is shorter than one sample at the clock rate, or longer than a second.
    #[error("frame duration {0:?} is not between one sample and one second")]
    BadFrame(Duration),
    /// `min_delay` exceeds `max_delay`, or `max_delay` exceeds the resync threshold.
    #[error("delays must satisfy min_delay <= max_delay < resync_threshold")]
    BadDelays,
    /// The capacity is zero.
    #[error("capacity must be at least one packet")]
    ZeroCapacity,
}

/// One received RTP packet, reduced to what the buffer needs (header fields of RFC 3550 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// RTP sequence number.
    pub sequence: u16,
    /// RTP timestamp, in `clock_rate` units.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Marker bit (for audio: the first packet of a talkspurt).
    pub marker: bool,
    /// RTP payload type.
    pub payload_type: u8,
    /// The payload, moved in and moved out again by [`JitterBuffer::pop`] without copying.
    pub payload: Vec<u8>,
}

/// A packet's audio, due now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// The packet's payload.
    pub payload: Vec<u8>,
    /// The packet's RTP sequence number.
    pub sequence: u16,
    /// The packet's RTP timestamp.
    pub timestamp: u32,
    /// The packet's marker bit.
    pub marker: bool,
    /// The packet's payload type.
    pub payload_type: u8,
}

/// What to play for one frame tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The packet whose timestamp falls in this frame.
    Audio(AudioFrame),
    /// A gap in a playing stream (loss, silence suppression, or the delay growing by a
    /// frame): the consumer conceals it or plays silence.
    Missing,
    /// Nothing is playing: no packet yet, or buffering afresh after a resynchronisation.
    Empty,
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Buffered (the oldest packet may have been dropped to make room: see `overflow`).
    Accepted,
    /// Buffered as the first packet of a new stream, the old stream's packets dropped.
    Resynced,
    /// Dropped: the same sequence number is already buffered.
    Duplicate,
    /// Dropped: its frame has already been played.
    Late,
    /// Dropped: its payload type is not [`JitterConfig::payload_type`].
    Filtered,
    /// Dropped: a sequence jump not (yet) confirmed by the next packet, or a reordered
    /// packet whose timestamp is implausibly far from the playout point.
    Discarded,
}

/// Counters and gauges of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JitterStats {
    /// Packets pushed, whatever became of them.
    pub received: u64,
    /// Packets played as [`Frame::Audio`].
    pub played: u64,
    /// Sequence numbers skipped between consecutively played packets (lost in the network,
    /// dropped here on overflow or when shrinking the delay).
    pub lost: u64,
    /// [`Frame::Missing`] frames returned, stretches included.
    pub missing: u64,
    /// Packets dropped because their frame had been played.
    pub late: u64,
    /// Packets dropped as duplicates of a buffered one.
    pub duplicate: u64,
    /// Packets dropped to keep within `capacity`.
    pub overflow: u64,
    /// Packets dropped by the payload-type filter.
    pub filtered: u64,
    /// Packets dropped as unconfirmed jumps or implausible timestamps.
    pub discarded: u64,
    /// Resynchronisations (SSRC change, confirmed jump, timestamp jump, late run).
    pub resyncs: u64,
    /// Buffered packets thrown away by resynchronisations.
    pub flushed: u64,
    /// Frames by which the delay grew (a [`Frame::Missing`] played without advancing).
    pub stretched: u64,
    /// Frames by which the delay shrank (a frame skipped).
    pub skipped: u64,
    /// Packets buffered now.
    pub depth_packets: usize,
    /// Audio buffered now, from the playout point to the end of the newest packet, in ms.
    pub depth_ms: f64,
    /// Interarrival jitter estimate (RFC 3550 §A.8), in timestamp units.
    pub jitter_timestamp_units: f64,
    /// Interarrival jitter estimate, in ms.
    pub jitter_ms: f64,
    /// The playout delay aimed at now, in ms.
    pub target_delay_ms: f64,
}
