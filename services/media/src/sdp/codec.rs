//! Codecs as SDP names them (`PCMU/8000`), and the static payload types of RFC 3551.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// An encoding name (the part of `a=rtpmap` before the clock rate).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// G.711 μ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (clock rate 8000 in SDP, for historical reasons; RFC 3551 §4.5.2).
    G722,
    /// G.729.
    G729,
    /// Comfort noise (RFC 3389).
    Cn,
    /// DTMF and other events (RFC 4733).
    TelephoneEvent,
    /// Any other encoding, with its name as written.
    Other(String),
}

impl Encoding {
    /// The encoding named `name`, case-insensitively (RFC 4855 §3: names are case-insensitive).
    pub fn from_name(name: &str) -> Encoding {
        const KNOWN: [(&str, Encoding); 6] = [
            ("PCMU", Encoding::Pcmu),
            ("PCMA", Encoding::Pcma),
            ("G722", Encoding::G722),
            ("G729", Encoding::G729),
            ("CN", Encoding::Cn),
            ("telephone-event", Encoding::TelephoneEvent),
        ];
        KNOWN
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or_else(|| Encoding::Other(name.to_owned()), |(_, e)| e.clone())
    }

    /// The name to write in SDP.
    pub fn name(&self) -> &str {
        match self {
            Encoding::Pcmu => "PCMU",
            Encoding::Pcma => "PCMA",
            Encoding::G722 => "G722",
            Encoding::G729 => "G729",
            Encoding::Cn => "CN",
            Encoding::TelephoneEvent => "telephone-event",
            Encoding::Other(name) => name,
        }
    }

    /// Whether both name the same encoding (`Other` names compare case-insensitively).
    pub fn same_as(&self, other: &Encoding) -> bool {
        match (self, other) {
            (Encoding::Other(a), Encoding::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

/// A codec: encoding, clock rate and channel count (`PCMU/8000`, `opus/48000/2`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Codec {
    /// The encoding.
    pub encoding: Encoding,
    /// The RTP clock rate in Hz.
    pub clock_rate: u32,
    /// The number of audio channels (1 unless the rtpmap says otherwise).
    pub channels: u16,
}

impl Codec {
    /// G.711 μ-law, `PCMU/8000`.
    pub fn pcmu() -> Codec {
        Codec::new(Encoding::Pcmu, 8000)
    }

    /// G.711 A-law, `PCMA/8000`.
    pub fn pcma() -> Codec {
        Codec::new(Encoding::Pcma, 8000)
    }

    /// `telephone-event/8000` (RFC 4733).
    pub fn telephone_event() -> Codec {
        Codec::new(Encoding::TelephoneEvent, 8000)
    }

    /// A one-channel codec.
    pub fn new(encoding: Encoding, clock_rate: u32) -> Codec {
        Codec {
            encoding,
            clock_rate,
            channels: 1,
        }
    }

    /// Whether `other` is the same codec: same encoding, clock rate and channels.
    pub fn matches(&self, other: &Codec) -> bool {
        self.encoding.same_as(&other.encoding)
            && self.clock_rate == other.clock_rate
            && self.channels == other.channels
    }

    /// Whether this is `telephone-event` or comfort noise: formats that ride along with a
    /// codec rather than carry the audio.
    pub fn is_auxiliary(&self) -> bool {
        matches!(self.encoding, Encoding::TelephoneEvent | Encoding::Cn)
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.encoding.name(), self.clock_rate)?;
        if self.channels != 1 {
            write!(f, "/{}", self.channels)?;
        }
        Ok(())
    }
}

/// Why a text is not `<encoding>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecParseError {
    /// No encoding name before the first `/`.
    #[error("missing encoding name")]
    MissingName,
    /// No `/<clock rate>`.
    #[error("missing clock rate")]
    MissingClockRate,
    /// The clock rate is not a positive number.
    #[error("invalid clock rate {0:?}")]
    InvalidClockRate(String),
    /// The channel count is not a positive number.
    #[error("invalid channel count {0:?}")]
    InvalidChannels(String),
    /// More than three `/`-separated parts.
    #[error("trailing text after the channel count")]
    Trailing,
}

impl FromStr for Codec {
    type Err = CodecParseError;

    fn from_str(s: &str) -> Result<Codec, CodecParseError> {
        let mut parts = s.trim().split('/');
        let name = parts.next().unwrap_or_default();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(CodecParseError::MissingName);
        }
        let rate = parts.next().ok_or(CodecParseError::MissingClockRate)?;
        let clock_rate = rate
            .parse::<u32>()
            .ok()
            .filter(|r| *r > 0)
            .ok_or_else(|| CodecParseError::InvalidClockRate(rate.to_owned()))?;
        let channels = match parts.next() {
            None => 1,
            Some(c) => c
                .parse::<u16>()
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| CodecParseError::InvalidChannels(c.to_owned()))?,
        };
        if parts.next().is_some() {
            return Err(CodecParseError::Trailing);
        }
        Ok(Codec {
            encoding: Encoding::from_name(name),
            clock_rate,
            channels,
        })
    }
}

/// The codec of a static RTP payload type (RFC 3551 §6), for `m=` lines without rtpmap.
pub fn static_codec(pt: u8) -> Option<Codec> {
    let (encoding, clock_rate) = match pt {
        0 => (Encoding::Pcmu, 8000),
        3 => (Encoding::Other("GSM".to_owned()), 8000),
        4 => (Encoding::Other("G723".to_owned()), 8000),
        8 => (Encoding::Pcma, 8000),
        9 => (Encoding::G722, 8000),
        13 => (Encoding::Cn, 8000),
        18 => (Encoding::G729, 8000),
        26 => (Encoding::Other("JPEG".to_owned()), 90000),
        31 => (Encoding::Other("H261".to_owned()), 90000),
        32 => (Encoding::Other("MPV".to_owned()), 90000),
        34 => (Encoding::Other("H263".to_owned()), 90000),
        _ => return None,
    };
    Some(Codec::new(encoding, clock_rate))
}

/// The static payload type of `codec`, if RFC 3551 gives it one.
pub(crate) fn static_payload_type(codec: &Codec) -> Option<u8> {
    [0u8, 3, 4, 8, 9, 13, 18]
        .into_iter()
        .find(|pt| static_codec(*pt).is_some_and(|c| c.matches(codec)))
}
