//! Call recording: both legs' decoded audio written to one 8 kHz 16-bit WAV file.
//!
//! [`CallRecorder`] is sans-IO in the sense that matters here: it writes to any
//! `Write + Seek` (a file, or memory in tests) and never reads a clock. The shell feeds it
//! each leg's decoded PCM with the sample's place on the recording's timeline, and the
//! recorder lines the two legs up:
//!
//! - The timeline counts 8 kHz samples from the recording's start. A leg's audio goes where
//!   its position says; a stretch with no audio from a leg (silence suppression, loss, a leg
//!   that only listens) is written as silence, so the legs stay in time with each other.
//! - Positions come either from the shell directly ([`CallRecorder::push`], e.g. arrival
//!   time × 8 kHz) or from RTP timestamps ([`CallRecorder::push_rtp`]): the first packet of
//!   a leg anchors its timestamps to its arrival, later ones are placed by timestamp (so
//!   network jitter does not shift them) until timestamps and arrival disagree by more than
//!   [`RESYNC_SAMPLES`] (a new stream, a sender's jump), when the leg is re-anchored.
//! - Audio is held for [`LOOKBEHIND_SAMPLES`] behind the furthest position seen before it is
//!   written, so a leg slightly behind the other is still mixed in; audio arriving later
//!   than that is dropped and counted.
//!
//! Stereo files carry the caller (leg A) left and the callee (leg B) right; mixed files
//! carry their saturating sum. Start and stop during a call: [`CallRecorder::pause`] and
//! [`CallRecorder::resume`] cut the paused stretch out of the file (nothing of it is kept,
//! not even silence, as payment-card pauses need); a caller that wants one file per stretch
//! makes a new recorder instead.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::codec::SAMPLE_RATE;

/// How far behind the furthest position audio is held before being written: 500 ms.
pub const LOOKBEHIND_SAMPLES: u64 = 4000;
/// RTP timestamps and arrival further apart than this (1 s) re-anchor a leg.
pub const RESYNC_SAMPLES: u64 = 8000;
/// Largest forward jump one push may make (4 hours): a bogus position must not make the
/// recorder write hours of silence.
pub const MAX_JUMP_SAMPLES: u64 = 4 * 3600 * SAMPLE_RATE as u64;

/// How the two legs are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingMode {
    /// Two channels: caller (leg A) left, callee (leg B) right.
    Stereo,
    /// One channel: the saturating sum of both legs.
    Mixed,
}

impl RecordingMode {
    /// Channels in the file.
    pub fn channels(self) -> u16 {
        match self {
            RecordingMode::Stereo => 2,
            RecordingMode::Mixed => 1,
        }
    }
}

/// A call leg, as the recorder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The caller (left channel in stereo).
    A,
    /// The callee (right channel in stereo).
    B,
}

impl Leg {
    fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The WAV writer failed (the sink's I/O error, or the 4 GiB WAV size limit).
    #[error("recording: cannot write the WAV file: {0}")]
    Wav(#[from] hound::Error),
    /// A position jumped further ahead than [`MAX_JUMP_SAMPLES`].
    #[error(
        "recording: position {position} is {jump} samples ahead of the recording; at most {MAX_JUMP_SAMPLES}"
    )]
    Jump {
        /// The position given.
        position: u64,
        /// How far ahead of the furthest position so far.
        jump: u64,
    },
}

/// Level statistics of one channel of the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelStats {
    /// Largest absolute sample value.
    pub peak: u16,
    /// Root mean square of the samples (0 for digital silence, 23 170 for a full-scale sine).
    pub rms: f64,
}

/// What [`CallRecorder::stop`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingSummary {
    /// The layout.
    pub mode: RecordingMode,
    /// Samples per channel.
    pub samples: u64,
    /// Length in milliseconds (rounded down).
    pub duration_ms: u64,
    /// One entry per channel (left then right in stereo).
    pub channels: Vec<ChannelStats>,
    /// Samples that arrived too late to be written (per leg, A then B).
    pub late_samples: [u64; 2],
    /// Time cut out by pauses, in milliseconds.
    pub paused_ms: u64,
}

/// Running level statistics of one channel.
#[derive(Debug, Clone, Copy, Default)]
struct Levels {
    peak: u16,
    sum_squares: f64,
}

impl Levels {
    fn add(&mut self, s: i16) {
        self.peak = self.peak.max(s.unsigned_abs());
        self.sum_squares += f64::from(s) * f64::from(s);
    }
}

/// A leg's RTP anchor: timestamps are placed relative to the first one seen.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    /// The last timestamp seen, extended to 64 bits relative to the anchor.
    last_timestamp: u32,
    extended: i64,
    /// The timeline position of the anchor timestamp.
    position: u64,
}

/// Records one call to a WAV file; see the module docs.
pub struct CallRecorder<W: Write + Seek> {
    writer: hound::WavWriter<W>,
    mode: RecordingMode,
    /// Each leg's audio from `written` on, not yet in the file.
    pending: [VecDeque<i16>; 2],
    /// Output samples written (per channel).
    written: u64,
    /// Furthest output position any leg or `advance_to` reached.
    horizon: u64,
    levels: [Levels; 2],
    late: [u64; 2],
    anchors: [Option<Anchor>; 2],
    /// Timeline samples cut out by pauses (timeline position − cut = output position).
    cut: u64,
    /// The timeline position a pause began at.
    paused_at: Option<u64>,
}

impl CallRecorder<BufWriter<File>> {
    /// A recorder writing a new file at `path` (replacing any).
    pub fn create(path: impl AsRef<Path>, mode: RecordingMode) -> Result<Self, RecordingError> {
        let file = File::create(path).map_err(hound::Error::IoError)?;
        CallRecorder::new(BufWriter::new(file), mode)
    }
}

impl<W: Write + Seek> CallRecorder<W> {
    /// A recorder writing a WAV file (8 kHz, 16-bit, one or two channels) to `sink`.
    pub fn new(sink: W, mode: RecordingMode) -> Result<Self, RecordingError> {
        let spec = hound::WavSpec {
            channels: mode.channels(),
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(Self {
            writer: hound::WavWriter::new(sink, spec)?,
            mode,
            pending: [VecDeque::new(), VecDeque::new()],
            written: 0,
            horizon: 0,
            levels: [Levels::default(); 2],
            late: [0; 2],
            anchors: [None; 2],
            cut: 0,
            paused_at: None,
        })
    }

    /// The layout.
    pub fn mode(&self) -> RecordingMode {
        self.mode
    }

    /// Samples per channel in the file so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Whether the recording is paused.
    pub fn is_paused(&self) -> bool {
        self.paused_at.is_some()
    }

    /// Adds `samples` of `leg` starting at timeline `position` (8 kHz samples since the
    /// recording started). Audio over a stretch already written is dropped (counted in
    /// [`RecordingSummary::late_samples`]); audio while paused is discarded.
    pub fn push(&mut self, leg: Leg, position: u64, samples: &[i16]) -> Result<(), RecordingError> {
        if self.paused_at.is_some() || samples.is_empty() {
            return Ok(());
        }
        let i = leg.index();
        let len = samples.len() as u64;
        // Timeline to output position. Anything from before the last resume lands before
        // `written` and is late: the paused stretch stays out of the file.
        let start = i128::from(position) - i128::from(self.cut);
        let end = start + i128::from(len);
        if end <= i128::from(self.written) {
            self.late[i] += len;
            return Ok(());
        }
        let end = u64::try_from(end).unwrap_or(u64::MAX);
        if end > self.horizon + MAX_JUMP_SAMPLES {
            return Err(RecordingError::Jump {
                position,
                jump: end - self.horizon,
            });
        }
        // Write what is more than the look-behind older than this audio first, so the gap
        // before it (a long silence of this leg) is not held in memory.
        let start_out = u64::try_from(start).unwrap_or(0);
        self.flush_to(start_out.saturating_sub(LOOKBEHIND_SAMPLES))?;
        let skip = u64::try_from(i128::from(self.written) - start)
            .unwrap_or(0)
            .min(len);
        self.late[i] += skip;
        let rest = samples
            .get(usize::try_from(skip).unwrap_or(usize::MAX)..)
            .unwrap_or(&[]);
        // After the first flush, `start + skip` is within the look-behind of `written`.
        let offset = usize::try_from(start + i128::from(skip) - i128::from(self.written))
            .unwrap_or(usize::MAX);
        let buffer = &mut self.pending[i];
        if buffer.len() < offset + rest.len() {
            buffer.resize(offset + rest.len(), 0);
        }
        for (slot, &s) in buffer.range_mut(offset..).zip(rest) {
            *slot = s;
        }
        self.horizon = self.horizon.max(end);
        self.flush_to(self.horizon.saturating_sub(LOOKBEHIND_SAMPLES))
    }

    /// Adds `samples` of `leg` by their RTP `timestamp` (8 kHz clock), `arrival` being the
    /// timeline position at which the packet arrived; see the module docs for the anchoring.
    pub fn push_rtp(
        &mut self,
        leg: Leg,
        timestamp: u32,
        arrival: u64,
        samples: &[i16],
    ) -> Result<(), RecordingError> {
        let slot = &mut self.anchors[leg.index()];
        let placed = slot.map(|anchor| {
            // Signed distance from the last timestamp copes with wrap-around and reordering.
            let delta = i64::from(timestamp.wrapping_sub(anchor.last_timestamp) as i32);
            let extended = anchor.extended + delta;
            (anchor, extended, anchor.position as i64 + extended)
        });
        let position = match placed {
            Some((anchor, extended, position))
                if position >= 0 && position.abs_diff(arrival as i64) <= RESYNC_SAMPLES =>
            {
                if extended > anchor.extended {
                    *slot = Some(Anchor {
                        last_timestamp: timestamp,
                        extended,
                        position: anchor.position,
                    });
                }
                // A reordered (older) packet keeps the newest timestamp as the reference.
                position as u64
            }
            _ => {
                *slot = Some(Anchor {
                    last_timestamp: timestamp,
                    extended: 0,
                    position: arrival,
                });
                arrival
            }
        };
        self.push(leg, position, samples)
    }

    /// Declares that the timeline reached `position` (the call goes on with no audio from
    /// either leg), so the file's length keeps up with the call.
    pub fn advance_to(&mut self, position: u64) -> Result<(), RecordingError> {
        if self.paused_at.is_some() {
            return Ok(());
        }
        let out = position.saturating_sub(self.cut);
        if out > self.horizon + MAX_JUMP_SAMPLES {
            return Err(RecordingError::Jump {
                position,
                jump: out - self.horizon,
            });
        }
        self.horizon = self.horizon.max(out);
        self.flush_to(out.saturating_sub(LOOKBEHIND_SAMPLES))
    }

    /// Pauses at timeline `position`: audio up to it is written, audio after it and until
    /// [`resume`](Self::resume) is discarded.
    pub fn pause(&mut self, position: u64) -> Result<(), RecordingError> {
        if self.paused_at.is_some() {
            return Ok(());
        }
        let out = position.saturating_sub(self.cut).max(self.written);
        self.horizon = self.horizon.max(out);
        self.flush_to(out)?;
        for buffer in &mut self.pending {
            buffer.clear();
        }
        self.horizon = self.written;
        self.paused_at = Some(position.max(self.written + self.cut));
        Ok(())
    }

    /// Resumes at timeline `position`: the paused stretch is left out of the file.
    pub fn resume(&mut self, position: u64) {
        if let Some(paused_at) = self.paused_at.take() {
            self.cut += position.saturating_sub(paused_at);
            // RTP anchors still hold (they are timeline positions); nothing else to reset.
        }
    }

    /// Writes everything held, finalizes the WAV header and says what was recorded.
    pub fn stop(mut self) -> Result<RecordingSummary, RecordingError> {
        let end = self
            .pending
            .iter()
            .map(|b| self.written + b.len() as u64)
            .fold(self.horizon, u64::max);
        self.flush_to(end)?;
        let samples = self.written;
        let channels = (0..usize::from(self.mode.channels()))
            .map(|c| {
                let l = self.levels[c];
                ChannelStats {
                    peak: l.peak,
                    rms: if samples == 0 {
                        0.0
                    } else {
                        (l.sum_squares / samples as f64).sqrt()
                    },
                }
            })
            .collect();
        self.writer.finalize()?;
        Ok(RecordingSummary {
            mode: self.mode,
            samples,
            duration_ms: samples * 1000 / u64::from(SAMPLE_RATE),
            channels,
            late_samples: self.late,
            paused_ms: self.cut * 1000 / u64::from(SAMPLE_RATE),
        })
    }

    /// Writes output positions up to `target` (exclusive), silence where a leg has none.
    fn flush_to(&mut self, target: u64) -> Result<(), RecordingError> {
        while self.written < target {
            let a = self.pending[0].pop_front().unwrap_or(0);
            let b = self.pending[1].pop_front().unwrap_or(0);
            match self.mode {
                RecordingMode::Stereo => {
                    self.writer.write_sample(a)?;
                    self.writer.write_sample(b)?;
                    self.levels[0].add(a);
                    self.levels[1].add(b);
                }
                RecordingMode::Mixed => {
                    let m = a.saturating_add(b);
                    self.writer.write_sample(m)?;
                    self.levels[0].add(m);
                }
            }
            self.written += 1;
        }
        Ok(())
    }
}

/// The timeline position of `now` for a recording started at `started` (8 kHz samples).
pub fn timeline_position(started: Instant, now: Instant) -> u64 {
    let elapsed: Duration = now.saturating_duration_since(started);
    u64::try_from(elapsed.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000).unwrap_or(u64::MAX)
}

/// A finished file's checksum and size, as the store registers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// SHA-256, 64 lowercase hex digits.
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// SHA-256 (lowercase hex) and size of everything `reader` yields.
pub fn sha256_reader(mut reader: impl Read) -> io::Result<FileDigest> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(FileDigest {
        sha256,
        size_bytes: size,
    })
}

/// SHA-256 (lowercase hex) and size of the file at `path`, for the store's recordings row.
pub fn sha256_file(path: impl AsRef<Path>) -> io::Result<FileDigest> {
    sha256_reader(File::open(path)?)
}
