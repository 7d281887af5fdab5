//! G.711 (ITU-T G.711): μ-law (PCMU) and A-law (PCMA) encode and decode, and PCMU ↔ PCMA
//! transcoding for calls whose legs negotiated different laws.
//!
//! Every function that fills a buffer writes into the caller's, so the media path does not
//! allocate per packet; the slice functions write to the front of `out` and fail, writing
//! nothing, when `out` is shorter than the input.
//!
//! Linear audio is 16-bit signed PCM at 8 kHz. Conventions worth knowing:
//! - μ-law has two zeros, 0xFF (+0) and 0x7F (-0); the encoder produces 0xFF for 0, so
//!   0xFF is canonical and `ulaw_encode(ulaw_decode(0x7F))` is 0xFF.
//! - A-law has no zero level: its smallest outputs are ±8; the encoder gives 0xD5 (+8) for
//!   0 and the small positives, 0x55 (-8) for the small negatives.

mod g711;
mod transcode;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use g711::{
    alaw_decode, alaw_decode_slice, alaw_encode, alaw_encode_slice, ulaw_decode, ulaw_decode_slice,
    ulaw_encode, ulaw_encode_slice,
};
pub use transcode::{alaw_to_ulaw, transcode_alaw_to_ulaw, transcode_ulaw_to_alaw, ulaw_to_alaw};

/// G.711's sampling rate, which is also its RTP clock rate (RFC 3551).
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms frame, the default packetisation (ptime) of PCMU and PCMA.
pub const FRAME_SAMPLES: usize = 160;
/// The duration of one [`FRAME_SAMPLES`] frame.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// Why a codec call could not do its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The output buffer is shorter than the input (one output item per input item).
    #[error("output buffer holds {got} items, {needed} needed")]
    OutputTooShort {
        /// Items the input needs.
        needed: usize,
        /// Items the output holds.
        got: usize,
    },
}

/// The two G.711 companding laws, as negotiated in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// μ-law: PCMU, static RTP payload type 0.
    Mu,
    /// A-law: PCMA, static RTP payload type 8.
    A,
}

impl G711Law {
    /// The static RTP payload type (RFC 3551): 0 for PCMU, 8 for PCMA.
    pub const fn payload_type(self) -> u8 {
        match self {
            G711Law::Mu => 0,
            G711Law::A => 8,
        }
    }

    /// The RTP encoding name used in SDP `a=rtpmap`: "PCMU" or "PCMA".
    pub const fn name(self) -> &'static str {
        match self {
            G711Law::Mu => "PCMU",
            G711Law::A => "PCMA",
        }
    }

    /// The law of a static payload type, if it is 0 or 8.
    pub const fn from_payload_type(payload_type: u8) -> Option<Self> {
        match payload_type {
            0 => Some(G711Law::Mu),
            8 => Some(G711Law::A),
            _ => None,
        }
    }

    /// The law of an SDP encoding name; encoding names are case-insensitive (RFC 4855).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(G711Law::Mu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(G711Law::A)
        } else {
            None
        }
    }

    /// The code of digital silence in this law (what 0 encodes to): 0xFF or 0xD5.
    pub const fn silence(self) -> u8 {
        match self {
            G711Law::Mu => 0xFF,
            G711Law::A => 0xD5,
        }
    }

    /// Encodes one sample.
    #[inline]
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            G711Law::Mu => ulaw_encode(sample),
            G711Law::A => alaw_encode(sample),
        }
    }

    /// Decodes one code.
    #[inline]
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            G711Law::Mu => ulaw_decode(code),
            G711Law::A => alaw_decode(code),
        }
    }

    /// Encodes `pcm` into the front of `out`; returns the number of bytes written.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        match self {
            G711Law::Mu => ulaw_encode_slice(pcm, out),
            G711Law::A => alaw_encode_slice(pcm, out),
        }
    }

    /// Decodes `payload` into the front of `out`; returns the number of samples written.
    pub fn decode(self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        match self {
            G711Law::Mu => ulaw_decode_slice(payload, out),
            G711Law::A => alaw_decode_slice(payload, out),
        }
    }

    /// Encodes one 20 ms frame; fixed sizes make it infallible.
    pub fn encode_frame(self, pcm: &[i16; FRAME_SAMPLES]) -> [u8; FRAME_SAMPLES] {
        let mut out = [0u8; FRAME_SAMPLES];
        for (code, &sample) in out.iter_mut().zip(pcm) {
            *code = self.encode_sample(sample);
        }
        out
    }

    /// Decodes one 20 ms frame; fixed sizes make it infallible.
    pub fn decode_frame(self, payload: &[u8; FRAME_SAMPLES]) -> [i16; FRAME_SAMPLES] {
        let mut out = [0i16; FRAME_SAMPLES];
        for (sample, &code) in out.iter_mut().zip(payload) {
            *sample = self.decode_sample(code);
        }
        out
    }

    /// Converts one code of this law to `to`'s code through G.711's conversion tables.
    #[inline]
    pub fn transcode_sample(self, to: G711Law, code: u8) -> u8 {
        match (self, to) {
            (G711Law::Mu, G711Law::A) => ulaw_to_alaw(code),
            (G711Law::A, G711Law::Mu) => alaw_to_ulaw(code),
            _ => code,
        }
    }

    /// Transcodes a payload of this law to `to` into the front of `out` (a copy when the
    /// laws are the same); returns the number of bytes written.
    pub fn transcode(self, to: G711Law, input: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
        match (self, to) {
            (G711Law::Mu, G711Law::A) => transcode_ulaw_to_alaw(input, out),
            (G711Law::A, G711Law::Mu) => transcode_alaw_to_ulaw(input, out),
            _ => {
                let got = out.len();
                let target = out
                    .get_mut(..input.len())
                    .ok_or(CodecError::OutputTooShort {
                        needed: input.len(),
                        got,
                    })?;
                target.copy_from_slice(input);
                Ok(input.len())
            }
        }
    }
}
