//! Reading the WAV files Switchboard writes (recordings): a small RIFF walker of the tests'
//! own, so the check does not share code with the writer under test.

use std::path::Path;

/// A WAV file as the test reads it.
pub struct Wav {
    /// Channels.
    pub channels: u16,
    /// Sample rate.
    pub rate: u32,
    /// Bits per sample.
    pub bits: u16,
    /// Interleaved samples.
    pub samples: Vec<i16>,
}

impl Wav {
    /// Reads `path` (RIFF chunks walked, `fmt ` and `data` taken).
    pub fn read(path: &Path) -> Wav {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(&bytes[8..12], b"WAVE");
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let (mut at, mut fmt, mut data) = (12, None, None);
        while at + 8 <= bytes.len() {
            let len = u32_at(at + 4) as usize;
            match &bytes[at..at + 4] {
                b"fmt " => fmt = Some(at + 8),
                b"data" => data = Some((at + 8, len)),
                _ => {}
            }
            at += 8 + len + len % 2;
        }
        let fmt = fmt.expect("fmt chunk");
        let (start, len) = data.expect("data chunk");
        Wav {
            channels: u16_at(fmt + 2),
            rate: u32_at(fmt + 4),
            bits: u16_at(fmt + 14),
            samples: bytes[start..start + len]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect(),
        }
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.channels) / f64::from(self.rate)
    }

    /// RMS of channel `c`.
    pub fn rms(&self, c: usize) -> f64 {
        let ch: Vec<f64> = self
            .samples
            .iter()
            .skip(c)
            .step_by(usize::from(self.channels))
            .map(|&s| f64::from(s))
            .collect();
        (ch.iter().map(|s| s * s).sum::<f64>() / ch.len().max(1) as f64).sqrt()
    }
}
