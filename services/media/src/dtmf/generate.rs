//! In-band DTMF generation: the two sines of each key, then silence, as 8 kHz PCM frames.

use std::collections::VecDeque;
use std::f64::consts::PI;

use super::goertzel::SAMPLE_RATE;
use super::{DtmfDigit, dbm0_to_peak};

/// One tone pair to play, then a pause: a key, or any pair (tests use off-nominal ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneSpec {
    /// Low-group frequency, Hz.
    pub low_hz: f64,
    /// High-group frequency, Hz.
    pub high_hz: f64,
    /// Level of the low tone, dBm0.
    pub low_dbm0: f64,
    /// Level of the high tone, dBm0.
    pub high_dbm0: f64,
    /// Tone length in milliseconds.
    pub duration_ms: u32,
    /// Silence after the tone in milliseconds.
    pub pause_ms: u32,
}

impl ToneSpec {
    /// The nominal pair of `digit` at −7 dBm0 per tone (−4 dBm0 together, well inside what
    /// receivers accept and below G.711 clipping).
    pub fn digit(digit: DtmfDigit, duration_ms: u32, pause_ms: u32) -> Self {
        let (low_hz, high_hz) = digit.frequencies();
        Self {
            low_hz,
            high_hz,
            low_dbm0: -7.0,
            high_dbm0: -7.0,
            duration_ms,
            pause_ms,
        }
    }
}

/// The tone being played.
#[derive(Debug, Clone, Copy)]
struct Playing {
    spec: ToneSpec,
    /// Sample index within tone + pause.
    position: u64,
    tone_samples: u64,
    total_samples: u64,
    low_peak: f64,
    high_peak: f64,
}

/// Plays queued tones as PCM; sans-IO: the caller pulls frames at its ptime.
#[derive(Debug, Clone, Default)]
pub struct InBandGenerator {
    queue: VecDeque<ToneSpec>,
    playing: Option<Playing>,
}

impl InBandGenerator {
    /// A generator with nothing queued.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `digit` for `duration_ms` then `pause_ms` of silence, at the default levels.
    pub fn push_digit(&mut self, digit: DtmfDigit, duration_ms: u32, pause_ms: u32) {
        self.push_tone(ToneSpec::digit(digit, duration_ms, pause_ms));
    }

    /// Queues any tone pair.
    pub fn push_tone(&mut self, spec: ToneSpec) {
        self.queue.push_back(spec);
    }

    /// Whether everything queued has been played.
    pub fn is_idle(&self) -> bool {
        self.playing.is_none() && self.queue.is_empty()
    }

    /// Fills `out` with the next samples, silence once the queue is empty; returns how many
    /// came from queued tones and pauses (less than `out.len()` means the queue ran dry).
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let mut produced = 0;
        for slot in out.iter_mut() {
            *slot = 0;
            while self.playing.is_none() {
                let Some(spec) = self.queue.pop_front() else {
                    break;
                };
                // A zero-length tone and pause plays nothing.
                self.playing = Some(Playing::new(spec)).filter(|p| p.total_samples > 0);
            }
            let Some(playing) = self.playing.as_mut() else {
                continue;
            };
            *slot = playing.sample();
            produced += 1;
            playing.position += 1;
            if playing.position >= playing.total_samples {
                self.playing = None;
            }
        }
        produced
    }

    /// The next `n` samples as a frame (see [`fill`](Self::fill)).
    pub fn next_frame(&mut self, n: usize) -> Vec<i16> {
        let mut frame = vec![0; n];
        self.fill(&mut frame);
        frame
    }

    /// Everything queued, tones and pauses, as one buffer.
    pub fn drain_all(&mut self) -> Vec<i16> {
        let mut all = Vec::new();
        let mut frame = [0i16; 160];
        loop {
            let n = self.fill(&mut frame);
            all.extend_from_slice(&frame[..n]);
            if n < frame.len() {
                return all;
            }
        }
    }
}

impl Playing {
    fn new(spec: ToneSpec) -> Self {
        let samples = |ms: u32| u64::from(ms) * u64::from(SAMPLE_RATE) / 1000;
        let tone_samples = samples(spec.duration_ms);
        Self {
            spec,
            position: 0,
            tone_samples,
            total_samples: tone_samples + samples(spec.pause_ms),
            low_peak: dbm0_to_peak(spec.low_dbm0),
            high_peak: dbm0_to_peak(spec.high_dbm0),
        }
    }

    fn sample(&self) -> i16 {
        if self.position >= self.tone_samples {
            return 0;
        }
        let t = self.position as f64 / f64::from(SAMPLE_RATE);
        let s = &self.spec;
        let value = self.low_peak * (2.0 * PI * s.low_hz * t).sin()
            + self.high_peak * (2.0 * PI * s.high_hz * t).sin();
        // `as` saturates: out-of-range levels clip rather than wrap.
        value.round() as i16
    }
}
