//! In-band DTMF detection: block Goertzel over 8 kHz PCM with ITU-T Q.24 acceptance.
//!
//! The limits come from Q.24 as public receivers quote it (Asterisk's and SpanDSP's "basic
//! DTMF specs", course notes on Q.24): frequency deviation of ±1.5% must be accepted and ±3.5%
//! rejected; tones of 40 ms must be detected and tones under 23 ms not; interruptions up to
//! 10 ms bridged; pauses of 40 ms seen; normal twist (high group weaker) up to 8 dB and
//! reverse twist (high group stronger) up to 4 dB accepted.
//!
//! Each block of [`InBandConfig::block_size`] samples (102 = 12.75 ms, as in those receivers)
//! is classified as one key or none:
//! - both tones above the level floor, and the strongest row and column each ahead of the
//!   others in their group by the relative-peak margin (speech spreads over several bins);
//! - twist within the limits above;
//! - the two tones carry most of the block's energy (rejects noise, speech, music and chords);
//! - each tone's frequency, measured from the phase turn between the block's halves, within
//!   [`InBandConfig::frequency_tolerance`] of nominal (between Q.24's 1.5% and 3.5%): a
//!   102-sample bin is ~78 Hz wide, too blunt for 3.5% of 697 Hz on its own.
//!
//! A key starts after [`InBandConfig::hits_to_start`] consecutive blocks (3: a block counts
//! when at least half of it is tone, so 40 ms always gives three and 23 ms never does) and
//! ends after [`InBandConfig::misses_to_end`] blocks without it (3: a 10 ms gap touches at
//! most two blocks; a 40 ms pause always spans three).

use std::f64::consts::PI;
use std::time::{Duration, Instant};

use super::{DtmfDigit, DtmfEvent, DtmfSource, dbm0_to_peak};

/// Sample rate the detector and generator work at.
pub const SAMPLE_RATE: u32 = 8000;
/// Low-group (row) frequencies in Hz, ITU-T Q.23.
pub const ROW_HZ: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz, ITU-T Q.23.
pub const COL_HZ: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Nanoseconds per sample at 8 kHz (exact: 125 µs).
const SAMPLE_NANOS: u64 = 1_000_000_000 / SAMPLE_RATE as u64;

/// Detector settings; the defaults are the Q.24 figures in the module documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InBandConfig {
    /// Samples per Goertzel block (102–106 are usual; ≥ 32 enforced).
    pub block_size: usize,
    /// Weakest tone accepted, per frequency, in dBm0.
    pub min_level_dbm0: f64,
    /// How much weaker the high-group tone may be (normal twist), in dB.
    pub normal_twist_db: f64,
    /// How much stronger the high-group tone may be (reverse twist), in dB.
    pub reverse_twist_db: f64,
    /// How far the strongest bin of a group must be above the group's others, in dB.
    pub relative_peak_db: f64,
    /// Share of the block's energy the two tones must carry (0–1).
    pub min_tone_energy_ratio: f64,
    /// Largest relative frequency deviation accepted (0.028 = 2.8%).
    pub frequency_tolerance: f64,
    /// Consecutive matching blocks before a key is taken as pressed.
    pub hits_to_start: u32,
    /// Consecutive blocks without the key before it is taken as released.
    pub misses_to_end: u32,
}

impl Default for InBandConfig {
    fn default() -> Self {
        Self {
            block_size: 102,
            // Q.24 receivers must work down to about −25 dBm0 per tone; −32 leaves margin for
            // line loss while rejecting the −40 dBm0 of background tones.
            min_level_dbm0: -32.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            relative_peak_db: 8.0,
            // A block half filled with tone has a ratio of one half; noise and speech stay
            // well below.
            min_tone_energy_ratio: 0.5,
            // Measured deviations wander by about half a percent with the other tone's leakage:
            // 2.8% accepts every key at ±1.9% and rejects all from ±2.9%.
            frequency_tolerance: 0.028,
            hits_to_start: 3,
            misses_to_end: 3,
        }
    }
}

/// The key being heard.
#[derive(Debug, Clone, Copy)]
struct Tone {
    digit: DtmfDigit,
    first_block: u64,
    last_block: u64,
    hits: u32,
    started_at: Instant,
}

/// Per-frequency constants: Goertzel coefficient and the half-block DFT kernel.
#[derive(Debug, Clone)]
struct Bin {
    coeff: f32,
    cos: Vec<f32>,
    sin: Vec<f32>,
    hz: f64,
}

impl Bin {
    fn new(hz: f64, block_size: usize) -> Self {
        let w = 2.0 * PI * hz / f64::from(SAMPLE_RATE);
        Self {
            coeff: (2.0 * w.cos()) as f32,
            cos: (0..block_size)
                .map(|n| (w * n as f64).cos() as f32)
                .collect(),
            sin: (0..block_size)
                .map(|n| (w * n as f64).sin() as f32)
                .collect(),
            hz,
        }
    }

    /// Relative deviation of the tone near this bin, from the phase turn of its DFT between
    /// the block's halves; `None` when one half holds too little of it to tell (a block at
    /// the edge of a tone).
    fn deviation(&self, block: &[f32]) -> Option<f64> {
        let half = block.len() / 2;
        let dft = |range: std::ops::Range<usize>| {
            let (mut re, mut im) = (0.0f32, 0.0f32);
            for n in range {
                let x = block.get(n).copied().unwrap_or(0.0);
                re += x * self.cos.get(n).copied().unwrap_or(0.0);
                im -= x * self.sin.get(n).copied().unwrap_or(0.0);
            }
            (f64::from(re), f64::from(im))
        };
        let (r1, i1) = dft(0..half);
        let (r2, i2) = dft(half..2 * half);
        let (m1, m2) = (r1 * r1 + i1 * i1, r2 * r2 + i2 * i2);
        if m1 < m2 / 4.0 || m2 < m1 / 4.0 {
            return None;
        }
        // arg(X2 · conj(X1)) = 2π·Δf·half / fs.
        let turn = (i2 * r1 - r2 * i1).atan2(r2 * r1 + i2 * i1);
        let delta_hz = turn * f64::from(SAMPLE_RATE) / (2.0 * PI * half as f64);
        Some(delta_hz / self.hz)
    }
}

/// |X(f)|² of the block at each of the eight frequencies (Goertzel), rows first. The eight
/// recurrences run side by side: one at a time, each step waits on the previous one.
fn powers(coeffs: &[f32; 8], block: &[f32]) -> [f32; 8] {
    let mut s1 = [0.0f32; 8];
    let mut s2 = [0.0f32; 8];
    for &x in block {
        for k in 0..8 {
            let s0 = x + coeffs[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    std::array::from_fn(|k| s1[k] * s1[k] + s2[k] * s2[k] - coeffs[k] * s1[k] * s2[k])
}

/// Finds DTMF tones in 8 kHz 16-bit PCM fed in chunks of any size; one [`DtmfEvent`] per
/// tone, when it ends.
#[derive(Debug, Clone)]
pub struct InBandDetector {
    config: InBandConfig,
    rows: [Bin; 4],
    cols: [Bin; 4],
    /// Goertzel coefficients of `rows` then `cols`.
    coeffs: [f32; 8],
    /// Goertzel power of a tone at the level floor.
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    relative_peak: f32,
    block: Vec<f32>,
    block_started_at: Option<Instant>,
    block_index: u64,
    tone: Option<Tone>,
}

impl InBandDetector {
    /// A detector with nothing heard yet.
    pub fn new(config: InBandConfig) -> Self {
        let n = config.block_size.max(32);
        let config = InBandConfig {
            block_size: n,
            ..config
        };
        let ratio = |db: f64| 10f64.powf(db / 10.0) as f32;
        let min_amplitude = dbm0_to_peak(config.min_level_dbm0);
        let rows = ROW_HZ.map(|hz| Bin::new(hz, n));
        let cols = COL_HZ.map(|hz| Bin::new(hz, n));
        let coeffs = std::array::from_fn(|k| {
            if k < 4 {
                rows[k].coeff
            } else {
                cols[k - 4].coeff
            }
        });
        Self {
            config,
            rows,
            cols,
            coeffs,
            min_power: (min_amplitude * n as f64 / 2.0).powi(2) as f32,
            normal_twist: ratio(config.normal_twist_db),
            reverse_twist: ratio(config.reverse_twist_db),
            relative_peak: ratio(config.relative_peak_db),
            block: Vec::with_capacity(n),
            block_started_at: None,
            block_index: 0,
            tone: None,
        }
    }

    /// The key heard right now, once confirmed (for barge-in before the key is released).
    pub fn in_progress(&self) -> Option<DtmfDigit> {
        self.tone
            .filter(|t| t.hits >= self.config.hits_to_start)
            .map(|t| t.digit)
    }

    /// Takes `samples`, the first of which was captured at `now`; returns the tones that
    /// ended within them.
    pub fn push(&mut self, samples: &[i16], now: Instant) -> Vec<DtmfEvent> {
        let mut events = Vec::new();
        let mut offset = 0;
        while offset < samples.len() {
            if self.block.is_empty() {
                let nanos = (offset as u64).saturating_mul(SAMPLE_NANOS);
                self.block_started_at = Some(now + Duration::from_nanos(nanos));
            }
            let take = (self.config.block_size - self.block.len()).min(samples.len() - offset);
            let part = samples.get(offset..offset + take).unwrap_or_default();
            self.block.extend(part.iter().map(|&x| f32::from(x)));
            offset += take;
            if self.block.len() >= self.config.block_size {
                let heard = self.classify();
                let started = self.block_started_at.unwrap_or(now);
                events.extend(self.step(heard, started));
                self.block.clear();
                self.block_index += 1;
            }
        }
        events
    }

    /// Ends the stream: a tone still sounding is reported as it stands.
    pub fn finish(&mut self) -> Option<DtmfEvent> {
        self.block.clear();
        let tone = self.tone.take()?;
        self.report(tone)
    }

    /// Advances the key state machine by one classified block.
    fn step(&mut self, heard: Option<DtmfDigit>, block_start: Instant) -> Option<DtmfEvent> {
        let index = self.block_index;
        let confirmed = self.config.hits_to_start;
        match (self.tone, heard) {
            (Some(mut tone), Some(digit)) if tone.digit == digit => {
                let consecutive = tone.last_block + 1 == index;
                if tone.hits < confirmed && !consecutive {
                    // An unconfirmed candidate needs its blocks back to back.
                    self.tone = Some(Tone::new(digit, index, block_start));
                } else {
                    tone.hits += 1;
                    tone.last_block = index;
                    self.tone = Some(tone);
                }
                None
            }
            (Some(tone), Some(digit)) => {
                self.tone = Some(Tone::new(digit, index, block_start));
                self.report(tone)
            }
            (None, Some(digit)) => {
                self.tone = Some(Tone::new(digit, index, block_start));
                None
            }
            (Some(tone), None) => {
                if tone.hits < confirmed {
                    self.tone = None;
                    None
                } else if index - tone.last_block >= u64::from(self.config.misses_to_end) {
                    self.tone = None;
                    self.report(tone)
                } else {
                    None
                }
            }
            (None, None) => None,
        }
    }

    /// The event for a tone that has ended, if it was ever confirmed.
    fn report(&self, tone: Tone) -> Option<DtmfEvent> {
        if tone.hits < self.config.hits_to_start {
            return None;
        }
        let blocks = tone.last_block - tone.first_block + 1;
        let samples = blocks * self.config.block_size as u64;
        Some(DtmfEvent {
            digit: tone.digit,
            duration_ms: u32::try_from(samples * 1000 / u64::from(SAMPLE_RATE)).unwrap_or(u32::MAX),
            source: DtmfSource::InBand,
            started_at: tone.started_at,
        })
    }

    /// The key in the current block, if it passes every check.
    fn classify(&self) -> Option<DtmfDigit> {
        let block = &self.block[..];
        let energy: f32 = block.iter().map(|x| x * x).sum();
        let n = block.len() as f32;
        // |X(f)|² ≤ N·Σx² (Cauchy–Schwarz): a quiet block cannot hold a tone above the floor,
        // and silence is most of what a call carries.
        if energy * n < self.min_power {
            return None;
        }
        let all = powers(&self.coeffs, block);
        let rows = [all[0], all[1], all[2], all[3]];
        let cols = [all[4], all[5], all[6], all[7]];
        let (row, row_power) = strongest(&rows)?;
        let (col, col_power) = strongest(&cols)?;

        if row_power < self.min_power || col_power < self.min_power {
            return None;
        }
        // Twist: high group at most 8 dB below (normal) and 4 dB above (reverse) the low.
        if col_power * self.normal_twist < row_power || col_power > row_power * self.reverse_twist {
            return None;
        }
        let peak_ok = |powers: &[f32; 4], best: usize, best_power: f32| {
            powers
                .iter()
                .enumerate()
                .all(|(i, &p)| i == best || p * self.relative_peak <= best_power)
        };
        if !peak_ok(&rows, row, row_power) || !peak_ok(&cols, col, col_power) {
            return None;
        }
        // A tone of amplitude A puts (A·N/2)² in its bin and A²·N/2 in Σx²: the ratio below is
        // 1 for a clean pair and the share of the block it fills at a tone's edge.
        if row_power + col_power < self.config.min_tone_energy_ratio as f32 * energy * n / 2.0 {
            return None;
        }
        let tolerance = self.config.frequency_tolerance;
        let in_tolerance = |bin: &Bin| bin.deviation(block).is_none_or(|d| d.abs() <= tolerance);
        if !in_tolerance(&self.rows[row]) || !in_tolerance(&self.cols[col]) {
            return None;
        }
        DtmfDigit::from_matrix_position(row, col)
    }
}

impl Default for InBandDetector {
    fn default() -> Self {
        Self::new(InBandConfig::default())
    }
}

impl Tone {
    fn new(digit: DtmfDigit, block: u64, started_at: Instant) -> Self {
        Self {
            digit,
            first_block: block,
            last_block: block,
            hits: 1,
            started_at,
        }
    }
}

/// Index and power of the strongest of four bins; `None` only if all are NaN.
fn strongest(powers: &[f32; 4]) -> Option<(usize, f32)> {
    powers
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, p)| p.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))
}
