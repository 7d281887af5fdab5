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
//! The windowed sinc is tabulated once, [`TABLE_RESOLUTION`] points per zero crossing, and
//! read with linear interpolation, so any ratio works (44.1 kHz → 8 kHz is 441:80) without a
//! per-ratio polyphase table. Output instants are computed with integers (`n × in / out`), so
//! a long prompt does not drift. Prompts are converted once when loaded, never per packet,
//! which is why this favours quality over speed (about 400 taps per output sample from
//! 48 kHz). No crate was added for this: the whole converter is the few lines below.

/// Zero crossings of the sinc on each side of the centre.
const ZERO_CROSSINGS: usize = 32;
/// Table points per zero crossing.
pub const TABLE_RESOLUTION: usize = 256;
/// Kaiser window shape: about 80 dB of stop-band rejection.
const KAISER_BETA: f64 = 8.0;
/// Cut-off as a share of the lower of the two rates (3.7 kHz for 8 kHz output).
const CUTOFF_SHARE: f64 = 0.4625;

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
    let norm = bessel_i0(KAISER_BETA);
    let mut table: Vec<f64> = (0..=len)
        .map(|i| {
            let u = i as f64 / TABLE_RESOLUTION as f64;
            let sinc = if i == 0 {
                1.0
            } else {
                (std::f64::consts::PI * u).sin() / (std::f64::consts::PI * u)
            };
            let x = u / ZERO_CROSSINGS as f64;
            let window = bessel_i0(KAISER_BETA * (1.0 - x * x).max(0.0).sqrt()) / norm;
            sinc * window
        })
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
    let table = kernel_table();
    let (in_rate_u, out_rate_u) = (u64::from(in_rate), u64::from(out_rate));
    // Cut-off in cycles per input sample, and the kernel's half width in input samples.
    let cutoff = CUTOFF_SHARE * f64::from(in_rate.min(out_rate)) / f64::from(in_rate);
    let scale = 2.0 * cutoff;
    let half_width = ZERO_CROSSINGS as f64 / scale;
    let steps = scale * TABLE_RESOLUTION as f64;
    let last = input.len() - 1;
    let out_len = (input.len() as u64 * out_rate_u).div_ceil(in_rate_u);
    let mut out = Vec::with_capacity(usize::try_from(out_len).unwrap_or(0));
    for n in 0..out_len {
        let num = n * in_rate_u;
        let t = (num / out_rate_u) as f64 + (num % out_rate_u) as f64 / out_rate_u as f64;
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
