//! PCMU ↔ PCMA transcoding through G.711's direct conversion tables (Tables 3 and 4).
//!
//! Going through linear (decode, then encode) would be close but not what G.711 specifies:
//! the two laws have slightly different overload points (μ-law 8,159 in 14-bit units,
//! A-law 4,096 in 13-bit units), and the standard's tables map each level to the nearest
//! level of the other law on that true scale, with a few hand-chosen entries. So the tables
//! here are the standard's, as magnitude maps; signs carry over unchanged.
//!
//! Neither direction is a bijection (μ-law has 255 distinct levels, A-law 256, and their
//! fine steps sit in different places), so a round trip is not the identity for every code;
//! what holds, and is tested, is that a second round trip changes nothing: after
//! μ → A → μ → A the A-law codes are those of the first μ → A (and likewise from A-law).

use super::CodecError;
use super::g711::map_bytes;

/// G.711 Table 3 as a magnitude map: μ-law level (0 = zero, 127 = largest; the code with
/// its sign bit cleared, inverted) to A-law level (0 = smallest, 127 = largest; the code
/// with its sign bit cleared, even bits restored).
///
/// The values are the published table's, 0-based, including the 1994 correction by
/// B. Lindberg of level 80 (79, not 80), found wrong in the widely copied Sun g711.c.
const ULAW_TO_ALAW_LEVEL: [u8; 128] = [
    0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, // segment 0: two μ steps per A step
    8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, // segment 1
    24, 26, 28, 30, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, // segment 2
    45, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, // segment 3
    63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, // segment 4
    79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, // segment 5
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, // segment 6
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, // 7
];

/// G.711 Table 4 as a magnitude map: A-law level to μ-law level (levels as above), with
/// the 1994 correction of level 79 (80, not 79).
const ALAW_TO_ULAW_LEVEL: [u8; 128] = [
    1, 3, 5, 7, 9, 11, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23, // segment 0
    24, 25, 26, 27, 28, 29, 30, 31, 32, 32, 33, 33, 34, 34, 35, 35, // segment 1
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 48, 49, 49, // segment 2
    50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 64, // segment 3
    65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, // segment 4
    80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, // segment 5
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, // segment 6
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, // 7
];

/// Expands Table 3 to all 256 μ-law codes.
const fn ulaw_to_alaw_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut code = 0;
    while code < 256 {
        let positive = code & 0x80 != 0;
        let level = ULAW_TO_ALAW_LEVEL[(!code & 0x7F) as usize];
        table[code as usize] = if positive {
            (level | 0x80) ^ 0x55
        } else {
            level ^ 0x55
        };
        code += 1;
    }
    table
}

/// Expands Table 4 to all 256 A-law codes.
const fn alaw_to_ulaw_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut code = 0;
    while code < 256 {
        let level = (code as u8) ^ 0x55;
        let positive = level & 0x80 != 0;
        let ulaw_level = ALAW_TO_ULAW_LEVEL[(level & 0x7F) as usize];
        table[code as usize] = if positive {
            !ulaw_level
        } else {
            !ulaw_level & 0x7F
        };
        code += 1;
    }
    table
}

/// μ-law code to A-law code.
static ULAW_TO_ALAW: [u8; 256] = ulaw_to_alaw_table();
/// A-law code to μ-law code.
static ALAW_TO_ULAW: [u8; 256] = alaw_to_ulaw_table();

/// Converts one μ-law code to A-law (G.711 Table 3).
#[inline]
pub fn ulaw_to_alaw(code: u8) -> u8 {
    ULAW_TO_ALAW[usize::from(code)]
}

/// Converts one A-law code to μ-law (G.711 Table 4).
#[inline]
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ALAW_TO_ULAW[usize::from(code)]
}

/// Transcodes a PCMU payload to PCMA into the front of `out`; returns the bytes written.
pub fn transcode_ulaw_to_alaw(ulaw: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
    map_bytes(&ULAW_TO_ALAW, ulaw, out)
}

/// Transcodes a PCMA payload to PCMU into the front of `out`; returns the bytes written.
pub fn transcode_alaw_to_ulaw(alaw: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
    map_bytes(&ALAW_TO_ULAW, alaw, out)
}
