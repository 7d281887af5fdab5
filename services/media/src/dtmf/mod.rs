//! DTMF in its three forms, normalised to one kind of event per digit.
//!
//! - [`rfc4733`]: RTP telephone-events (RFC 4733): the payload, a receiver that reports each
//!   digit once however many redundant end packets arrive, and a sender's packet schedule.
//! - [`info`]: SIP INFO bodies, `application/dtmf-relay` and `application/dtmf`, both ways.
//! - [`goertzel`]: an in-band detector over 8 kHz PCM with the ITU-T Q.24 acceptance limits.
//! - [`generate`]: in-band tone generation (two sines at dBm0 levels) for legs that need it.
//!
//! Whatever the form, a finished digit is a [`DtmfEvent`]: the call engine publishes that and
//! re-renders it in the form the other leg is configured for.

use std::fmt;
use std::time::Instant;

pub mod generate;
pub mod goertzel;
pub mod info;
pub mod rfc4733;

#[cfg(test)]
mod tests;

pub use generate::{InBandGenerator, ToneSpec};
pub use goertzel::{InBandConfig, InBandDetector};
pub use info::{DtmfInfoError, InfoDigit};
pub use rfc4733::{
    PayloadError, ReceiverConfig, SenderConfig, TelephoneEvent, TelephoneEventPacket,
    TelephoneEventReceiver, TelephoneEventSender,
};

/// One DTMF key: the digits, `*`, `#` and the fourth column A–D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DtmfDigit {
    /// `0`.
    D0,
    /// `1`.
    D1,
    /// `2`.
    D2,
    /// `3`.
    D3,
    /// `4`.
    D4,
    /// `5`.
    D5,
    /// `6`.
    D6,
    /// `7`.
    D7,
    /// `8`.
    D8,
    /// `9`.
    D9,
    /// `*`.
    Star,
    /// `#`.
    Pound,
    /// `A`.
    A,
    /// `B`.
    B,
    /// `C`.
    C,
    /// `D`.
    D,
}

impl DtmfDigit {
    /// The sixteen keys in RFC 4733 event-code order (code 0 first).
    pub const ALL: [DtmfDigit; 16] = [
        DtmfDigit::D0,
        DtmfDigit::D1,
        DtmfDigit::D2,
        DtmfDigit::D3,
        DtmfDigit::D4,
        DtmfDigit::D5,
        DtmfDigit::D6,
        DtmfDigit::D7,
        DtmfDigit::D8,
        DtmfDigit::D9,
        DtmfDigit::Star,
        DtmfDigit::Pound,
        DtmfDigit::A,
        DtmfDigit::B,
        DtmfDigit::C,
        DtmfDigit::D,
    ];

    /// The key for a character: `0`-`9`, `*`, `#`, `A`-`D` (either case); `None` otherwise.
    pub fn from_char(c: char) -> Option<Self> {
        let digit = match c.to_ascii_uppercase() {
            '0'..='9' => Self::ALL[(c as u8 - b'0') as usize],
            '*' => Self::Star,
            '#' => Self::Pound,
            'A' => Self::A,
            'B' => Self::B,
            'C' => Self::C,
            'D' => Self::D,
            _ => return None,
        };
        Some(digit)
    }

    /// The key's character, with A–D in upper case.
    pub fn to_char(self) -> char {
        b"0123456789*#ABCD"[self.event_code() as usize] as char
    }

    /// The key for an RFC 4733 §3.2 event code (0–9, 10 `*`, 11 `#`, 12–15 A–D).
    pub fn from_event_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }

    /// The RFC 4733 §3.2 event code of the key.
    pub fn event_code(self) -> u8 {
        self as u8
    }

    /// The (row, column) frequencies in Hz of the key's tone pair (ITU-T Q.23).
    pub fn frequencies(self) -> (f64, f64) {
        let (row, col) = self.matrix_position();
        (goertzel::ROW_HZ[row], goertzel::COL_HZ[col])
    }

    /// Row and column of the key on the 4×4 keypad (row 0 = 697 Hz, column 0 = 1209 Hz).
    pub(crate) fn matrix_position(self) -> (usize, usize) {
        match self {
            Self::D1 => (0, 0),
            Self::D2 => (0, 1),
            Self::D3 => (0, 2),
            Self::A => (0, 3),
            Self::D4 => (1, 0),
            Self::D5 => (1, 1),
            Self::D6 => (1, 2),
            Self::B => (1, 3),
            Self::D7 => (2, 0),
            Self::D8 => (2, 1),
            Self::D9 => (2, 2),
            Self::C => (2, 3),
            Self::Star => (3, 0),
            Self::D0 => (3, 1),
            Self::Pound => (3, 2),
            Self::D => (3, 3),
        }
    }

    /// The key at a keypad position; positions come from the detector's 0..4 indices.
    pub(crate) fn from_matrix_position(row: usize, col: usize) -> Option<Self> {
        const KEYPAD: [[DtmfDigit; 4]; 4] = [
            [DtmfDigit::D1, DtmfDigit::D2, DtmfDigit::D3, DtmfDigit::A],
            [DtmfDigit::D4, DtmfDigit::D5, DtmfDigit::D6, DtmfDigit::B],
            [DtmfDigit::D7, DtmfDigit::D8, DtmfDigit::D9, DtmfDigit::C],
            [
                DtmfDigit::Star,
                DtmfDigit::D0,
                DtmfDigit::Pound,
                DtmfDigit::D,
            ],
        ];
        KEYPAD.get(row).and_then(|r| r.get(col)).copied()
    }
}

impl fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_char())
    }
}

/// Peak amplitude in 16-bit linear PCM of a sine at `dbm0`.
///
/// G.711's full-scale sine is +3.17 dBm0 (μ-law; A-law is +3.14), so 0 dBm0 peaks at
/// 32768 · 10^(−3.17/20) ≈ 22 758.
pub fn dbm0_to_peak(dbm0: f64) -> f64 {
    32768.0 * 10f64.powf((dbm0 - 3.17) / 20.0)
}

/// Which of the three forms a digit arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// RTP telephone-event packets (RFC 4733, formerly RFC 2833).
    Rfc4733,
    /// A SIP INFO request (`application/dtmf-relay` or `application/dtmf`).
    SipInfo,
    /// Tones in the audio itself, found by the Goertzel detector.
    InBand,
}

/// How a leg wants DTMF sent to it: the DTMF mode of its endpoint or trunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DtmfMode {
    /// RTP telephone-events (in-band tones when the leg negotiated no telephone-event).
    #[default]
    Rfc4733,
    /// SIP INFO requests in the leg's dialog.
    Info,
    /// Tones in the audio.
    Inband,
}

impl DtmfMode {
    /// The three modes.
    pub const ALL: [DtmfMode; 3] = [DtmfMode::Rfc4733, DtmfMode::Info, DtmfMode::Inband];

    /// The mode's name in configuration and the store: `rfc4733`, `info` or `inband`.
    pub fn name(self) -> &'static str {
        match self {
            DtmfMode::Rfc4733 => "rfc4733",
            DtmfMode::Info => "info",
            DtmfMode::Inband => "inband",
        }
    }

    /// The mode named `name` (any case), if it is one.
    pub fn from_name(name: &str) -> Option<DtmfMode> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for DtmfMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One finished digit, whatever its form: what the call engine publishes on the event bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// The key.
    pub digit: DtmfDigit,
    /// How long the key was held, in milliseconds, as the form reports or measures it.
    pub duration_ms: u32,
    /// The form it arrived in.
    pub source: DtmfSource,
    /// Best estimate of when the key went down (for INFO: when the request arrived).
    pub started_at: Instant,
}
