//! Sample-level G.711: μ-law and A-law encode and decode, scalar and over slices.
//!
//! Linear samples are 16-bit two's complement, the G.711 14-bit (μ-law) and 13-bit (A-law)
//! values left-justified, so decoded values are exactly the G.711 decoder outputs scaled by
//! 4 (μ-law, ±32,124 at most) and 8 (A-law, ±32,256 at most).
//!
//! Decoding is a lookup in a 256-entry table built at compile time from the segment and
//! quantisation definition. Encoding computes the segment from the position of the highest
//! set bit (one `leading_zeros`), which is cheaper than a table of 8,192 or 4,096 entries in
//! cache and needs no search loop.

use super::CodecError;

/// Sign and magnitude of a linear sample, negatives in ones' complement (`-x - 1`).
///
/// Ones' complement is what ITU-T G.191's reference compressors do: it keeps the decision
/// levels symmetric about zero (-1 quantises like 0) and `i16::MIN` needs no special case.
#[inline]
fn sign_magnitude(sample: i16) -> (bool, u16) {
    if sample < 0 {
        // `!sample` is `-sample - 1`, in 0..=32767 for every negative i16.
        (true, (!sample) as u16)
    } else {
        (false, sample as u16)
    }
}

/// Encodes one sample to μ-law; 0 and -1..=-3 give 0xFF and 0x7F (see [`ulaw_decode`]).
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    let (negative, magnitude) = sign_magnitude(sample);
    // To the 14-bit G.711 scale, clipped so that the biased value stays below 8,192: the
    // top decision level is 8,158, and anything above it is the largest code.
    let biased = (magnitude >> 2).min(8158) + 33;
    // `biased` is in 33..=8191: its highest set bit (5..=12) gives the segment (0..=7).
    let segment = (15 - biased.leading_zeros() as u16) - 5;
    let mantissa = (biased >> (segment + 1)) & 0x0F;
    let code = ((segment << 4) | mantissa) as u8;
    // μ-law transmits the code inverted, with sign bit 1 for positive values.
    if negative { !code & 0x7F } else { !code }
}

/// Encodes one sample to A-law.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    let (negative, magnitude) = sign_magnitude(sample);
    // To the 13-bit scale less its last bit: A-law's smallest step is 2 in 13-bit units.
    let level = magnitude >> 4;
    let code = if level < 16 {
        // Segments 0 and 1 share a step size; segment 0 is linear from zero.
        level as u8
    } else {
        // `level` is in 16..=2047: its highest set bit (4..=10) gives the segment (1..=7).
        let segment = (15 - level.leading_zeros() as u16) - 3;
        let mantissa = (level >> (segment - 1)) & 0x0F;
        ((segment << 4) | mantissa) as u8
    };
    // A-law sets the sign bit for positive values and inverts the even bits (0x55).
    if negative {
        code ^ 0x55
    } else {
        (code | 0x80) ^ 0x55
    }
}

/// The μ-law decoder output for `code`, from the G.711 segment definition.
const fn ulaw_value(code: u8) -> i16 {
    let inverted = !code;
    let segment = ((inverted >> 4) & 0x07) as i32;
    let mantissa = (inverted & 0x0F) as i32;
    // Midpoint of the quantisation interval in 14-bit units is ((2m + 33) << s) - 33.
    let magnitude = (((2 * mantissa + 33) << segment) - 33) * 4;
    if inverted & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// The A-law decoder output for `code`, from the G.711 segment definition.
const fn alaw_value(code: u8) -> i16 {
    let level = code ^ 0x55;
    let segment = ((level >> 4) & 0x07) as i32;
    let mantissa = (level & 0x0F) as i32;
    // Midpoints in 13-bit units: 2m + 1 in segment 0, (2m + 33) << (s - 1) above it.
    let magnitude = if segment == 0 {
        2 * mantissa + 1
    } else {
        (2 * mantissa + 33) << (segment - 1)
    } * 8;
    if level & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// Builds a 256-entry decode table at compile time (const fns cannot call through pointers).
const fn decode_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = if alaw {
            alaw_value(code as u8)
        } else {
            ulaw_value(code as u8)
        };
        code += 1;
    }
    table
}

/// μ-law code to linear sample.
static ULAW_DECODE: [i16; 256] = decode_table(false);
/// A-law code to linear sample.
static ALAW_DECODE: [i16; 256] = decode_table(true);

/// Decodes one μ-law code; 0x7F (negative zero) and 0xFF both give 0, and 0 encodes as 0xFF.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Decodes one A-law code (A-law has no zero: its smallest outputs are ±8).
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

/// Checks that `output` can take `needed` items.
#[inline]
fn check_room(needed: usize, got: usize) -> Result<(), CodecError> {
    if got < needed {
        Err(CodecError::OutputTooShort { needed, got })
    } else {
        Ok(())
    }
}

/// Encodes `pcm` to μ-law into the front of `out`; returns the number of bytes written.
pub fn ulaw_encode_slice(pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
    check_room(pcm.len(), out.len())?;
    for (code, &sample) in out.iter_mut().zip(pcm) {
        *code = ulaw_encode(sample);
    }
    Ok(pcm.len())
}

/// Encodes `pcm` to A-law into the front of `out`; returns the number of bytes written.
pub fn alaw_encode_slice(pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
    check_room(pcm.len(), out.len())?;
    for (code, &sample) in out.iter_mut().zip(pcm) {
        *code = alaw_encode(sample);
    }
    Ok(pcm.len())
}

/// Decodes μ-law `codes` into the front of `out`; returns the number of samples written.
pub fn ulaw_decode_slice(codes: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
    check_room(codes.len(), out.len())?;
    for (sample, &code) in out.iter_mut().zip(codes) {
        *sample = ulaw_decode(code);
    }
    Ok(codes.len())
}

/// Decodes A-law `codes` into the front of `out`; returns the number of samples written.
pub fn alaw_decode_slice(codes: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
    check_room(codes.len(), out.len())?;
    for (sample, &code) in out.iter_mut().zip(codes) {
        *sample = alaw_decode(code);
    }
    Ok(codes.len())
}

/// Maps `input` through a 256-entry byte table into the front of `out`.
pub(super) fn map_bytes(
    table: &[u8; 256],
    input: &[u8],
    out: &mut [u8],
) -> Result<usize, CodecError> {
    check_room(input.len(), out.len())?;
    for (o, &i) in out.iter_mut().zip(input) {
        *o = table[usize::from(i)];
    }
    Ok(input.len())
}
