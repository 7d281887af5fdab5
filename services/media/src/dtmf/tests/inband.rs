//! In-band generation and Goertzel detection against the ITU-T Q.24 figures.

use std::f64::consts::PI;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::dtmf::{
    DtmfDigit, DtmfEvent, DtmfSource, InBandDetector, InBandGenerator, ToneSpec, dbm0_to_peak,
};

/// Runs `samples` through a fresh detector in chunks of `chunk`, then finishes the stream.
fn detect_chunked(samples: &[i16], chunk: usize, t0: Instant) -> Vec<DtmfEvent> {
    let mut detector = InBandDetector::default();
    let mut events = Vec::new();
    for (i, part) in samples.chunks(chunk).enumerate() {
        let at = t0 + Duration::from_micros(125) * (i * chunk) as u32;
        events.extend(detector.push(part, at));
    }
    events.extend(detector.finish());
    events
}

fn detect(samples: &[i16]) -> Vec<DtmfDigit> {
    detect_chunked(samples, 160, Instant::now())
        .into_iter()
        .map(|e| e.digit)
        .collect()
}

/// `lead` samples of silence, the tones, then 100 ms of silence so every tone can end.
fn render(lead: usize, tones: &[ToneSpec]) -> Vec<i16> {
    let mut generator = InBandGenerator::new();
    for &tone in tones {
        generator.push_tone(tone);
    }
    let mut samples = vec![0; lead];
    samples.extend(generator.drain_all());
    samples.extend([0; 800]);
    samples
}

fn shifted(digit: DtmfDigit, factor: f64) -> ToneSpec {
    let mut spec = ToneSpec::digit(digit, 80, 80);
    spec.low_hz *= factor;
    spec.high_hz *= factor;
    spec
}

/// Block alignments worth trying: the detector works in 102-sample blocks.
const LEADS: [usize; 6] = [0, 17, 34, 51, 68, 101];

#[test]
fn every_digit_is_detected_exactly_once() {
    let tones: Vec<_> = DtmfDigit::ALL
        .iter()
        .map(|&d| ToneSpec::digit(d, 70, 70))
        .collect();
    for lead in LEADS {
        assert_eq!(detect(&render(lead, &tones)), DtmfDigit::ALL, "lead {lead}");
    }
}

#[test]
fn events_carry_duration_source_and_start() {
    let t0 = Instant::now();
    let samples = render(800, &[ToneSpec::digit(DtmfDigit::D8, 100, 0)]);
    let events = detect_chunked(&samples, 160, t0);
    assert_eq!(events.len(), 1);
    let event = events[0];
    assert_eq!(event.source, DtmfSource::InBand);
    assert!(
        (80..=120).contains(&event.duration_ms),
        "{}",
        event.duration_ms
    );
    let start = event.started_at.duration_since(t0).as_millis();
    assert!((100..=115).contains(&start), "{start}");
}

#[test]
fn frequency_tolerance_follows_q24() {
    for digit in DtmfDigit::ALL {
        for factor in [0.985, 1.015] {
            for lead in LEADS {
                assert_eq!(
                    detect(&render(lead, &[shifted(digit, factor)])),
                    [digit],
                    "{digit} ×{factor} lead {lead}"
                );
            }
        }
        for factor in [0.965, 1.035] {
            for lead in LEADS {
                assert!(
                    detect(&render(lead, &[shifted(digit, factor)])).is_empty(),
                    "{digit} ×{factor} lead {lead}"
                );
            }
        }
    }
}

fn twisted(digit: DtmfDigit, high_minus_low_db: f64) -> ToneSpec {
    let mut spec = ToneSpec::digit(digit, 80, 80);
    spec.low_dbm0 = -6.0;
    spec.high_dbm0 = -6.0 + high_minus_low_db;
    spec
}

#[test]
fn twist_limits_follow_q24() {
    for digit in DtmfDigit::ALL {
        // Normal twist (high group weaker) up to 8 dB, reverse up to 4 dB.
        for db in [-7.0, -4.0, 0.0, 2.0, 3.0] {
            assert_eq!(
                detect(&render(0, &[twisted(digit, db)])),
                [digit],
                "{digit} {db} dB"
            );
        }
        for db in [-10.0, -12.0, 6.0, 8.0] {
            assert!(
                detect(&render(0, &[twisted(digit, db)])).is_empty(),
                "{digit} {db} dB"
            );
        }
    }
}

#[test]
fn short_tones_are_rejected_and_long_enough_ones_taken() {
    for digit in [DtmfDigit::D1, DtmfDigit::D0, DtmfDigit::D] {
        for lead in 0..102 {
            let short = render(lead, &[ToneSpec::digit(digit, 20, 0)]);
            assert!(detect(&short).is_empty(), "{digit} 20 ms lead {lead}");
            let q24_reject = render(lead, &[ToneSpec::digit(digit, 22, 0)]);
            assert!(detect(&q24_reject).is_empty(), "{digit} 22 ms lead {lead}");
            let long = render(lead, &[ToneSpec::digit(digit, 50, 0)]);
            assert_eq!(detect(&long), [digit], "{digit} 50 ms lead {lead}");
        }
    }
}

#[test]
fn pauses_split_or_bridge_repeated_digits() {
    for lead in 0..102 {
        let split = render(
            lead,
            &[
                ToneSpec::digit(DtmfDigit::D5, 60, 50),
                ToneSpec::digit(DtmfDigit::D5, 60, 0),
            ],
        );
        assert_eq!(
            detect(&split),
            [DtmfDigit::D5, DtmfDigit::D5],
            "50 ms pause, lead {lead}"
        );
        let bridged = render(
            lead,
            &[
                ToneSpec::digit(DtmfDigit::D5, 60, 10),
                ToneSpec::digit(DtmfDigit::D5, 60, 0),
            ],
        );
        assert_eq!(detect(&bridged), [DtmfDigit::D5], "10 ms gap, lead {lead}");
    }
}

#[test]
fn levels_follow_q24() {
    for digit in DtmfDigit::ALL {
        let at = |dbm0: f64| {
            let mut spec = ToneSpec::digit(digit, 80, 80);
            spec.low_dbm0 = dbm0;
            spec.high_dbm0 = dbm0;
            spec
        };
        assert_eq!(
            detect(&render(0, &[at(-25.0)])),
            [digit],
            "{digit} at -25 dBm0"
        );
        assert_eq!(
            detect(&render(0, &[at(-3.0)])),
            [digit],
            "{digit} at -3 dBm0"
        );
        assert!(
            detect(&render(0, &[at(-40.0)])).is_empty(),
            "{digit} at -40 dBm0"
        );
    }
}

/// A small LCG: deterministic noise without a dependency.
fn noise(len: usize, peak: f64, mut seed: u64) -> Vec<i16> {
    (0..len)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            (unit * peak) as i16
        })
        .collect()
}

#[test]
fn white_noise_is_not_dtmf() {
    for (peak, seed) in [(500.0, 1), (4000.0, 2), (20_000.0, 3), (32_000.0, 4)] {
        assert!(
            detect(&noise(8000 * 3, peak, seed)).is_empty(),
            "noise peak {peak}"
        );
    }
}

/// Voiced speech, roughly: harmonics of `f0` shaped by two formants.
fn vowel(f0: f64, formants: (f64, f64), ms: usize) -> Vec<i16> {
    let resonance = |f: f64, centre: f64| 1.0 / (1.0 + ((f - centre) / 120.0).powi(2));
    let harmonics: Vec<(f64, f64)> = (1..=26)
        .map(|k| k as f64 * f0)
        .filter(|&f| f < 3800.0)
        .map(|f| {
            (
                f,
                resonance(f, formants.0) + 0.7 * resonance(f, formants.1) + 0.05,
            )
        })
        .collect();
    let scale = 9000.0 / harmonics.iter().map(|h| h.1).sum::<f64>();
    (0..ms * 8)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let v: f64 = harmonics
                .iter()
                .map(|&(f, a)| a * (2.0 * PI * f * t).sin())
                .sum();
            (v * scale) as i16
        })
        .collect()
}

#[test]
fn tones_in_noise_are_detected() {
    // Uniform noise peaking at 3000 is ~15 dB below two −7 dBm0 tones.
    for lead in LEADS {
        let tones: Vec<_> = [DtmfDigit::D4, DtmfDigit::Star, DtmfDigit::D9]
            .iter()
            .map(|&d| ToneSpec::digit(d, 60, 60))
            .collect();
        let clean = render(lead, &tones);
        let noisy: Vec<i16> = clean
            .iter()
            .zip(noise(clean.len(), 3000.0, lead as u64))
            .map(|(&s, n)| s.saturating_add(n))
            .collect();
        assert_eq!(
            detect(&noisy),
            [DtmfDigit::D4, DtmfDigit::Star, DtmfDigit::D9],
            "lead {lead}"
        );
    }
}

#[test]
fn speech_like_signals_are_not_dtmf() {
    // 150 Hz puts harmonics at 750 and 1350 Hz, close to 770 and 1336 (key 5).
    for f0 in [100.0, 120.0, 150.0, 180.0, 220.0] {
        for formants in [
            (700.0, 1300.0),
            (750.0, 1350.0),
            (500.0, 1500.0),
            (300.0, 2300.0),
            (850.0, 1200.0),
        ] {
            let samples = vowel(f0, formants, 600);
            assert!(detect(&samples).is_empty(), "f0 {f0} formants {formants:?}");
        }
    }
}

#[test]
fn chunk_sizes_do_not_change_the_result() {
    let t0 = Instant::now();
    let tones: Vec<_> = [DtmfDigit::D1, DtmfDigit::D1, DtmfDigit::Pound, DtmfDigit::A]
        .iter()
        .map(|&d| ToneSpec::digit(d, 65, 55))
        .collect();
    let mut samples = render(37, &tones);
    samples.extend(noise(1600, 300.0, 9));
    let reference = detect_chunked(&samples, 1, t0);
    assert_eq!(reference.len(), 4);
    for chunk in [80, 160, 1000, 102, 7] {
        assert_eq!(
            detect_chunked(&samples, chunk, t0),
            reference,
            "chunk {chunk}"
        );
    }
}

#[test]
fn in_progress_reports_a_held_key() {
    let mut detector = InBandDetector::default();
    let mut generator = InBandGenerator::new();
    generator.push_digit(DtmfDigit::D3, 200, 0);
    let now = Instant::now();
    assert!(detector.push(&generator.next_frame(800), now).is_empty());
    assert_eq!(detector.in_progress(), Some(DtmfDigit::D3));
    assert!(detector.push(&generator.next_frame(800), now).is_empty());
    assert_eq!(detector.in_progress(), Some(DtmfDigit::D3));
    // Silence after the tone: the key is released.
    assert_eq!(detector.push(&generator.next_frame(800), now).len(), 1);
    assert_eq!(detector.in_progress(), None);
}

#[test]
fn generator_levels_and_frames() {
    let mut generator = InBandGenerator::new();
    generator.push_digit(DtmfDigit::D1, 50, 30);
    let frame = generator.next_frame(1000);
    // 400 tone samples, 240 of pause, then idle silence.
    assert!(frame[..400].iter().any(|&s| s != 0));
    assert!(frame[400..].iter().all(|&s| s == 0));
    assert!(generator.is_idle());
    let peak = frame.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0) as f64;
    assert!(peak <= 2.0 * dbm0_to_peak(-7.0) + 1.0);
    assert!(peak > 1.8 * dbm0_to_peak(-7.0));
    let mut out = [1i16; 10];
    assert_eq!(generator.fill(&mut out), 0);
    assert_eq!(out, [0; 10]);
    generator.push_tone(ToneSpec::digit(DtmfDigit::D2, 0, 0));
    assert_eq!(generator.fill(&mut out), 0);
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(samples in proptest::collection::vec(any::<i16>(), 0..3000), chunk in 1usize..500) {
        let events = detect_chunked(&samples, chunk, Instant::now());
        prop_assert!(events.len() <= samples.len() / 306 + 1);
    }
}
