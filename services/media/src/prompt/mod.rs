//! Prompts: WAV files played into a call leg as G.711 RTP.
//!
//! - [`Prompt`] loads a WAV file with `hound` and turns it into what a G.711 leg carries:
//!   8 kHz mono 16-bit PCM. Such a file is taken as is; any other rate is converted
//!   ([`resample`]), stereo is averaged to mono, 8/24/32-bit integer and 32-bit float samples
//!   are scaled to 16 bits. Anything else is refused with a [`PromptError`] that names the
//!   file and says why.
//! - [`PromptPlayer`] plays a list of prompts into one leg: one 20 ms packet per deadline,
//!   barge-in on chosen DTMF digits, and [`PromptEvent`]s for the IVR.

mod player;
pub mod resample;

#[cfg(test)]
mod tests;

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::SAMPLE_RATE;

pub use player::{PlayerConfig, PromptEvent, PromptPlayer, RtpOut};

/// Lowest sample rate accepted.
pub const MIN_SAMPLE_RATE: u32 = 4000;
/// Highest sample rate accepted.
pub const MAX_SAMPLE_RATE: u32 = 192_000;
/// Longest prompt accepted: one hour (57.6 MB once at 8 kHz), so a bad header or a wrong
/// file cannot make the server read gigabytes.
pub const MAX_PROMPT_SECONDS: u64 = 3600;
/// Most input frames converted (resampled) in one go: 2^25, about 11.6 minutes at 48 kHz.
/// Conversion holds the whole file as 32-bit float twice (about 256 MB at this limit), so a
/// longer file is refused with advice to convert it to 8 kHz mono once, offline.
pub const MAX_CONVERTED_FRAMES: u64 = 1 << 25;

/// Why a prompt could not be loaded. Every message starts with `prompt NAME:`.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The file could not be opened or read.
    #[error("prompt {name}: cannot read: {source}")]
    Io {
        /// The prompt's name (its file name).
        name: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file has no bytes at all.
    #[error("prompt {name}: empty file")]
    Empty {
        /// The prompt's name.
        name: String,
    },
    /// The file does not start with a RIFF/WAVE header.
    #[error("prompt {name}: not a WAV file (no RIFF/WAVE header)")]
    NotWav {
        /// The prompt's name.
        name: String,
    },
    /// The file ends before its header or its audio does.
    #[error("prompt {name}: truncated WAV file (it ends inside the {part})")]
    Truncated {
        /// The prompt's name.
        name: String,
        /// `header` or `audio data`.
        part: &'static str,
    },
    /// The WAV header is inconsistent.
    #[error("prompt {name}: malformed WAV file: {reason}")]
    Malformed {
        /// The prompt's name.
        name: String,
        /// What `hound` found wrong.
        reason: &'static str,
    },
    /// A WAV encoding other than plain PCM or float (G.711, ADPCM, GSM, ...).
    #[error(
        "prompt {name}: unsupported WAV encoding; PCM (8, 16, 24 or 32-bit integer) or \
         32-bit float expected"
    )]
    Unsupported {
        /// The prompt's name.
        name: String,
    },
    /// More than two channels.
    #[error("prompt {name}: {channels} channels; mono or stereo expected")]
    Channels {
        /// The prompt's name.
        name: String,
        /// Channels in the file.
        channels: u16,
    },
    /// A sample rate outside [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`].
    #[error(
        "prompt {name}: sample rate {rate} Hz; {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz expected"
    )]
    SampleRate {
        /// The prompt's name.
        name: String,
        /// The file's rate.
        rate: u32,
    },
    /// Longer than [`MAX_PROMPT_SECONDS`].
    #[error("prompt {name}: {seconds} s long; at most {MAX_PROMPT_SECONDS} s")]
    TooLong {
        /// The prompt's name.
        name: String,
        /// Its length according to the header.
        seconds: u64,
    },
    /// Not 8 kHz and longer than [`MAX_CONVERTED_FRAMES`] at its rate.
    #[error(
        "prompt {name}: {seconds} s at {rate} Hz is too long to convert (at most \
         {max_seconds} s at that rate); convert it to 8 kHz mono offline"
    )]
    TooLongToConvert {
        /// The prompt's name.
        name: String,
        /// Its length according to the header.
        seconds: u64,
        /// The file's rate.
        rate: u32,
        /// The longest accepted at that rate.
        max_seconds: u64,
    },
    /// A valid file with no samples.
    #[error("prompt {name}: no audio (the data chunk is empty)")]
    NoAudio {
        /// The prompt's name.
        name: String,
    },
}

/// The format a prompt was loaded from, for logs and the admin surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFormat {
    /// Sample rate of the file, Hz.
    pub sample_rate: u32,
    /// Channels of the file.
    pub channels: u16,
    /// Bits per sample.
    pub bits_per_sample: u16,
    /// Whether the samples were IEEE float.
    pub float: bool,
}

impl SourceFormat {
    /// Whether the file was already what G.711 carries (no conversion at all).
    pub fn is_native(&self) -> bool {
        self.sample_rate == SAMPLE_RATE
            && self.channels == 1
            && self.bits_per_sample == 16
            && !self.float
    }
}

/// One prompt, ready to play: 8 kHz mono 16-bit PCM. Cloning is cheap (shared samples).
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    name: Arc<str>,
    samples: Arc<[i16]>,
    source: SourceFormat,
}

/// A reader that counts the bytes it gave and keeps the first 12 (the RIFF/WAVE header), so
/// a failed parse can be told apart: empty file, not a WAV file, or a damaged one.
struct Sniffer<R> {
    inner: R,
    count: u64,
    head: [u8; 12],
    /// The inner reader reported its end (a read of 0 bytes into a non-empty buffer).
    eof: bool,
}

impl<R: Read> Read for Sniffer<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof = true;
        }
        for (i, &b) in buf.iter().take(n).enumerate() {
            let at = self.count.saturating_add(i as u64);
            if let Some(slot) = usize::try_from(at).ok().and_then(|a| self.head.get_mut(a)) {
                *slot = b;
            }
        }
        self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }
}

impl<R> Sniffer<R> {
    /// Whether what was read so far can be the start of a RIFF/WAVE file.
    fn looks_like_wav(&self) -> bool {
        let seen = usize::try_from(self.count).unwrap_or(usize::MAX);
        let matches = |range: std::ops::Range<usize>, tag: &[u8; 4]| {
            range
                .zip(tag)
                .take_while(|(i, _)| *i < seen)
                .all(|(i, t)| self.head.get(i) == Some(t))
        };
        matches(0..4, b"RIFF") && matches(8..12, b"WAVE")
    }
}

impl Prompt {
    /// Loads a WAV file from `reader`; `name` (usually the file name) is the prompt's name in
    /// events and errors.
    pub fn from_wav<R: Read>(name: &str, reader: R) -> Result<Prompt, PromptError> {
        let name_s = || name.to_string();
        let mut sniffer = Sniffer {
            inner: reader,
            count: 0,
            head: [0; 12],
            eof: false,
        };
        let wav = match hound::WavReader::new(&mut sniffer) {
            Ok(wav) => wav,
            Err(e) => return Err(header_error(name, &sniffer, e)),
        };
        let spec = wav.spec();
        let source = SourceFormat {
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            bits_per_sample: spec.bits_per_sample,
            float: spec.sample_format == hound::SampleFormat::Float,
        };
        if !(1..=2).contains(&spec.channels) {
            return Err(PromptError::Channels {
                name: name_s(),
                channels: spec.channels,
            });
        }
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&spec.sample_rate) {
            return Err(PromptError::SampleRate {
                name: name_s(),
                rate: spec.sample_rate,
            });
        }
        let frames = u64::from(wav.duration());
        let seconds = frames / u64::from(spec.sample_rate);
        if seconds > MAX_PROMPT_SECONDS {
            return Err(PromptError::TooLong {
                name: name_s(),
                seconds,
            });
        }
        if spec.sample_rate != SAMPLE_RATE && frames > MAX_CONVERTED_FRAMES {
            return Err(PromptError::TooLongToConvert {
                name: name_s(),
                seconds,
                rate: spec.sample_rate,
                max_seconds: MAX_CONVERTED_FRAMES / u64::from(spec.sample_rate),
            });
        }
        if frames == 0 {
            return Err(PromptError::NoAudio { name: name_s() });
        }
        let decoded = decode(wav, source);
        let samples = match decoded {
            Ok(samples) => samples,
            // hound reports a short read as a plain I/O error; the sniffer saw the end.
            Err(hound::Error::IoError(_) | hound::Error::UnfinishedSample) if sniffer.eof => {
                return Err(PromptError::Truncated {
                    name: name_s(),
                    part: "audio data",
                });
            }
            Err(hound::Error::IoError(source)) => {
                return Err(PromptError::Io {
                    name: name_s(),
                    source,
                });
            }
            Err(_) => return Err(PromptError::Unsupported { name: name_s() }),
        };
        Prompt::from_pcm_with_source(name, samples, source)
    }

    /// Loads a WAV file by path; the prompt is named after the file name.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Prompt, PromptError> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let file = std::fs::File::open(path).map_err(|source| PromptError::Io {
            name: name.clone(),
            source,
        })?;
        Prompt::from_wav(&name, io::BufReader::new(file))
    }

    /// A prompt from 8 kHz mono PCM already in memory (generated tones, tests).
    pub fn from_pcm(name: &str, samples: Vec<i16>) -> Result<Prompt, PromptError> {
        let source = SourceFormat {
            sample_rate: SAMPLE_RATE,
            channels: 1,
            bits_per_sample: 16,
            float: false,
        };
        Prompt::from_pcm_with_source(name, samples, source)
    }

    fn from_pcm_with_source(
        name: &str,
        samples: Vec<i16>,
        source: SourceFormat,
    ) -> Result<Prompt, PromptError> {
        if samples.is_empty() {
            return Err(PromptError::NoAudio {
                name: name.to_string(),
            });
        }
        Ok(Prompt {
            name: Arc::from(name),
            samples: Arc::from(samples),
            source,
        })
    }

    /// The prompt's name (its file name when loaded from a path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The audio: 8 kHz mono 16-bit PCM.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// What the file was before conversion.
    pub fn source(&self) -> SourceFormat {
        self.source
    }

    /// How long it plays (before padding of the last packet).
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples.len() as u64 * 1_000_000 / u64::from(SAMPLE_RATE))
    }

    /// How many 20 ms packets it takes (the last one padded with silence).
    pub fn packets(&self) -> usize {
        self.samples.len().div_ceil(crate::codec::FRAME_SAMPLES)
    }
}

/// The samples of `wav` as 8 kHz mono 16-bit PCM.
fn decode<R: Read>(
    mut wav: hound::WavReader<R>,
    source: SourceFormat,
) -> Result<Vec<i16>, hound::Error> {
    if source.is_native() {
        // Taken as is: no conversion, not even a round trip through float.
        return wav.samples::<i16>().collect();
    }
    // Stereo is averaged as it is read (rather than summed, so two full-scale channels
    // cannot clip), so the interleaved file is never held in memory.
    let mono: Vec<f32> = if source.float {
        downmix(wav.samples::<f32>(), source.channels)?
    } else {
        let full_scale = f32::powi(2.0, i32::from(source.bits_per_sample) - 1);
        downmix(
            wav.samples::<i32>()
                .map(|s| s.map(|s| s as f32 / full_scale)),
            source.channels,
        )?
    };
    Ok(resample::resample(&mono, source.sample_rate, SAMPLE_RATE)
        .into_iter()
        .map(to_i16)
        .collect())
}

/// The mean of each frame's `channels` samples (1 or 2).
fn downmix(
    samples: impl Iterator<Item = Result<f32, hound::Error>>,
    channels: u16,
) -> Result<Vec<f32>, hound::Error> {
    let mut mono = Vec::new();
    if channels == 2 {
        let mut left = None;
        for s in samples {
            let s = s?;
            match left.take() {
                None => left = Some(s),
                Some(l) => mono.push((l + s) / 2.0),
            }
        }
    } else {
        for s in samples {
            mono.push(s?);
        }
    }
    Ok(mono)
}

/// A float sample in [-1, 1) to 16 bits, rounded and clamped (resampling can overshoot).
fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Tells an empty file, a file that is not a WAV file and a damaged WAV file apart.
fn header_error<R>(name: &str, sniffer: &Sniffer<R>, e: hound::Error) -> PromptError {
    let name = name.to_string();
    if sniffer.count == 0 {
        return PromptError::Empty { name };
    }
    if !sniffer.looks_like_wav() {
        return PromptError::NotWav { name };
    }
    match e {
        hound::Error::IoError(_) if sniffer.eof => PromptError::Truncated {
            name,
            part: "header",
        },
        hound::Error::IoError(source) => PromptError::Io { name, source },
        hound::Error::FormatError("file contains zero channels") => {
            PromptError::Channels { name, channels: 0 }
        }
        hound::Error::FormatError(reason) => PromptError::Malformed { name, reason },
        _ => PromptError::Unsupported { name },
    }
}
