//! Sample-rate conversion of prompts to G.711's 8 kHz.
//!
//! Band-limited interpolation (J. O. Smith, "Digital Audio Resampling"): each output sample
//! is the input convolved with a low-pass sinc centred on the output instant, windowed by a
//! Kaiser window (β = 8, about 80 dB of stop-band rejection). The cut-off is 3.7 kHz for an
//! 8 kHz output (0.4625 of the lower of the two rates), with 32 zero crossings each side the
//! transition band is about 0.16 × 3.7 kHz ≈ 600 Hz: flat through the telephone band
//! (300–3400 Hz) and down by the window's full rejection from about 4 kHz, so content above
//! Nyquist (a 6 kHz tone in a 48 kHz file) does not fold back into the voice band.
//!
//! Output instants are computed with integers (`n × in / out`), so a long prompt does not
//! drift. The instants fall on `out / gcd(in, out)` distinct phases between input samples
//! (1 from 48 or 16 kHz, 80 from 44.1 kHz, 320 from 11.025 kHz): up to [`MAX_PHASES`] the
//! weights of every phase are computed once and each output sample is a dot product
//! (polyphase). Beyond that (odd rates such as 44 101 Hz) the windowed sinc is tabulated,
//! [`TABLE_RESOLUTION`] points per zero crossing, and read with linear interpolation.
//! Prompts are converted once when loaded, never per packet; about 400 taps per output
//! sample from 48 kHz. No crate was added for this: the converter is this file.

/// Zero crossings of the sinc on each side of the centre.
const ZERO_CROSSINGS: usize = 32;
/// Table points per zero crossing.
pub const TABLE_RESOLUTION: usize = 256;
/// Kaiser window shape: about 80 dB of stop-band rejection.
const KAISER_BETA: f64 = 8.0;
/// Cut-off as a share of the lower of the two rates (3.7 kHz for 8 kHz output).
const CUTOFF_SHARE: f64 = 0.4625;
/// Most phases given their own precomputed weights (the polyphase path).
pub const MAX_PHASES: u64 = 1024;

/// The windowed sinc at `u` zero crossings from its centre.
fn kernel(u: f64) -> f64 {
    let u = u.abs();
    if u >= ZERO_CROSSINGS as f64 {
        return 0.0;
    }
    let sinc = if u == 0.0 {
        1.0
    } else {
        (std::f64::consts::PI * u).sin() / (std::f64::consts::PI * u)
    };
    let x = u / ZERO_CROSSINGS as f64;
    sinc * bessel_i0(KAISER_BETA * (1.0 - x * x).max(0.0).sqrt()) / bessel_i0(KAISER_BETA)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `Σ a[i] × b[i]` in eight independent lanes, so the compiler can vectorise it (a single
/// float accumulator would force one addition after the other).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Modified Bessel function of the first kind, order 0 (the Kaiser window's shape), by its
/// power series; 30 terms are far more than β = 8 needs.
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..30 {
        let k = f64::from(k);
        term *= (half / k) * (half / k);
        sum += term;
    }
    sum
}

/// The right half of the windowed sinc, sampled every 1/`TABLE_RESOLUTION` zero crossing,
/// with two zeros at the end so the interpolation may read one point past the last.
fn kernel_table() -> Vec<f64> {
    let len = ZERO_CROSSINGS * TABLE_RESOLUTION;
    let mut table: Vec<f64> = (0..=len)
        .map(|i| kernel(i as f64 / TABLE_RESOLUTION as f64))
        .collect();
    table.push(0.0);
    table
}

/// `input` (at `in_rate` Hz) converted to `out_rate` Hz; the output has
/// `ceil(len × out_rate / in_rate)` samples. Rates of 0 give an empty output.
pub fn resample(input: &[f32], in_rate: u32, out_rate: u32) -> Vec<f32> {
    if in_rate == 0 || out_rate == 0 || input.is_empty() {
        return Vec::new();
    }
    if in_rate == out_rate {
        return input.to_vec();
    }
    let (in_rate_u, out_rate_u) = (u64::from(in_rate), u64::from(out_rate));
    // Cut-off in cycles per input sample, and the kernel's half width in input samples.
    let cutoff = CUTOFF_SHARE * f64::from(in_rate.min(out_rate)) / f64::from(in_rate);
    let scale = 2.0 * cutoff;
    let half_width = ZERO_CROSSINGS as f64 / scale;
    let out_len = (input.len() as u64 * out_rate_u).div_ceil(in_rate_u);
    let divisor = gcd(in_rate_u, out_rate_u);
    let phases = out_rate_u / divisor;
    if phases <= MAX_PHASES {
        polyphase(
            input, in_rate_u, out_rate_u, divisor, out_len, scale, half_width,
        )
    } else {
        interpolated(input, in_rate_u, out_rate_u, out_len, scale, half_width)
    }
}

/// The polyphase path: weights per phase computed once, each output a dot product.
fn polyphase(
    input: &[f32],
    in_rate: u64,
    out_rate: u64,
    divisor: u64,
    out_len: u64,
    scale: f64,
    half_width: f64,
) -> Vec<f32> {
    // Taps at offsets -reach..=reach+1 from the input sample at or before the instant cover
    // the kernel's support for any fraction in [0, 1).
    let reach = half_width.ceil() as i64;
    let taps = usize::try_from(2 * reach + 2).unwrap_or(0);
    let phases = out_rate / divisor;
    let weights: Vec<Vec<f32>> = (0..phases)
        .map(|p| {
            let frac = (p * divisor) as f64 / out_rate as f64;
            (-reach..=reach + 1)
                .map(|j| (scale * kernel((frac - j as f64) * scale)) as f32)
                .collect()
        })
        .collect();
    // Zero padding on both sides, so every output reads a full window.
    let pad = usize::try_from(reach).unwrap_or(0);
    let mut padded = vec![0.0f32; pad];
    padded.extend_from_slice(input);
    padded.resize(padded.len() + pad + 2, 0.0);
    let mut out = Vec::with_capacity(usize::try_from(out_len).unwrap_or(0));
    for n in 0..out_len {
        let num = n * in_rate;
        let base = usize::try_from(num / out_rate).unwrap_or(usize::MAX);
        let phase = usize::try_from((num % out_rate) / divisor).unwrap_or(0);
        // `base - reach` in the input is `base` in `padded`.
        let window = padded.get(base..base.saturating_add(taps));
        let w = weights.get(phase);
        out.push(match (window, w) {
            (Some(window), Some(w)) => dot(window, w),
            _ => 0.0,
        });
    }
    out
}

/// The general path: the tabulated kernel read with linear interpolation.
fn interpolated(
    input: &[f32],
    in_rate: u64,
    out_rate: u64,
    out_len: u64,
    scale: f64,
    half_width: f64,
) -> Vec<f32> {
    let table = kernel_table();
    let steps = scale * TABLE_RESOLUTION as f64;
    let last = input.len() - 1;
    let mut out = Vec::with_capacity(usize::try_from(out_len).unwrap_or(0));
    for n in 0..out_len {
        let num = n * in_rate;
        let t = (num / out_rate) as f64 + (num % out_rate) as f64 / out_rate as f64;
        let lo = (t - half_width).ceil().max(0.0) as usize;
        let hi = ((t + half_width).floor() as usize).min(last);
        let mut acc = 0.0f64;
        for (k, &x) in input.iter().enumerate().take(hi + 1).skip(lo) {
            let pos = (t - k as f64).abs() * steps;
            let i = pos as usize;
            let frac = pos - i as f64;
            let (Some(&a), Some(&b)) = (table.get(i), table.get(i + 1)) else {
                continue;
            };
            acc += f64::from(x) * (a + frac * (b - a));
        }
        out.push((acc * scale) as f32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_is_one_at_the_centre_and_zero_at_the_crossings() {
        let table = kernel_table();
        assert_eq!(table[0], 1.0);
        for z in 1..ZERO_CROSSINGS {
            assert!(table[z * TABLE_RESOLUTION].abs() < 1e-12, "crossing {z}");
        }
        assert_eq!(table.last(), Some(&0.0));
    }

    #[test]
    fn the_polyphase_and_interpolated_paths_agree() {
        let input: Vec<f32> = (0..4410)
            .map(|i| (i as f32 * 0.0713).sin() * 0.4 + (i as f32 * 0.9).cos() * 0.2)
            .collect();
        let (in_rate, out_rate) = (44_100u64, 8000u64);
        let scale = 2.0 * CUTOFF_SHARE * 8000.0 / 44_100.0;
        let half = ZERO_CROSSINGS as f64 / scale;
        let out_len = (input.len() as u64 * out_rate).div_ceil(in_rate);
        let divisor = gcd(in_rate, out_rate);
        let a = polyphase(&input, in_rate, out_rate, divisor, out_len, scale, half);
        let b = interpolated(&input, in_rate, out_rate, out_len, scale, half);
        assert_eq!(a.len(), 800);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 2e-5, "{x} vs {y}");
        }
    }

    #[test]
    fn an_odd_rate_takes_the_interpolated_path() {
        // gcd(44 101, 8000) = 1: 8000 phases, more than MAX_PHASES.
        let input: Vec<f32> = (0..44_101)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 44_101.0).sin())
            .collect();
        let out = resample(&input, 44_101, 8000);
        assert_eq!(out.len(), 8000);
        let crossings = out[800..7200]
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((1598..=1602).contains(&crossings), "{crossings}");
    }

    #[test]
    fn dc_passes_with_unit_gain() {
        let input = vec![0.5f32; 48_000];
        let out = resample(&input, 48_000, 8000);
        assert_eq!(out.len(), 8000);
        // Away from the edges (where the input is zero-padded) the level is kept.
        for &y in &out[200..7800] {
            assert!((y - 0.5).abs() < 1e-3, "{y}");
        }
    }
}
