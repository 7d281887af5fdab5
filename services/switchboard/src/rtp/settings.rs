//! The `[media]` table of the config file and its effective, checked settings.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// The `[media]` table: RTP for the calls Switchboard terminates (the echo extension).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaFileConfig {
    /// First RTP port (even).
    pub rtp_port_min: Option<u16>,
    /// Last port of the range (RTCP of the last pair).
    pub rtp_port_max: Option<u16>,
    /// Seconds without RTP before a `media_timeout` event.
    pub rtp_timeout_secs: Option<u64>,
    /// Audio codecs in order of preference: "PCMU", "PCMA".
    pub codecs: Option<Vec<String>>,
    /// Whether audio is searched for in-band DTMF tones.
    pub dtmf_inband: Option<bool>,
    /// Where call recordings are written (default `<data_dir>/recordings`).
    pub recordings_dir: Option<String>,
    /// The recording layout when the start request names none: "stereo" or "mixed".
    pub recording_mode: Option<String>,
    /// Where WAV prompts are read from (default `<data_dir>/prompts`).
    pub prompts_dir: Option<String>,
}

/// The effective `[media]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaSettings {
    /// First RTP port (even).
    pub rtp_port_min: u16,
    /// Last port of the range.
    pub rtp_port_max: u16,
    /// Seconds without RTP before a `media_timeout` event.
    pub rtp_timeout_secs: u64,
    /// Audio codecs in order of preference.
    pub codecs: Vec<String>,
    /// Whether audio is searched for in-band DTMF tones.
    pub dtmf_inband: bool,
    /// Where call recordings are written; none means `<data_dir>/recordings`.
    pub recordings_dir: Option<String>,
    /// The default recording layout: "stereo" or "mixed".
    pub recording_mode: String,
    /// Where WAV prompts are read from; none means `<data_dir>/prompts`.
    pub prompts_dir: Option<String>,
}

impl Default for MediaSettings {
    fn default() -> Self {
        let config = crate::rtp::MediaConfig::default();
        MediaSettings {
            rtp_port_min: config.rtp_port_min,
            rtp_port_max: config.rtp_port_max,
            rtp_timeout_secs: config.rtp_timeout.as_secs(),
            codecs: config.codecs.iter().map(|l| l.name().to_owned()).collect(),
            dtmf_inband: config.dtmf_inband,
            recordings_dir: None,
            recording_mode: "stereo".to_owned(),
            prompts_dir: None,
        }
    }
}

impl MediaSettings {
    /// The settings from the `[media]` table and the defaults, checked.
    pub fn resolve(file: &MediaFileConfig) -> anyhow::Result<MediaSettings> {
        let settings = MediaSettings {
            rtp_port_min: file
                .rtp_port_min
                .unwrap_or(crate::rtp::DEFAULT_RTP_PORT_MIN),
            rtp_port_max: file
                .rtp_port_max
                .unwrap_or(crate::rtp::DEFAULT_RTP_PORT_MAX),
            rtp_timeout_secs: file
                .rtp_timeout_secs
                .unwrap_or(crate::rtp::DEFAULT_RTP_TIMEOUT_SECS),
            codecs: file
                .codecs
                .clone()
                .unwrap_or_else(|| vec!["PCMU".to_owned(), "PCMA".to_owned()]),
            dtmf_inband: file.dtmf_inband.unwrap_or(true),
            recordings_dir: file.recordings_dir.clone(),
            recording_mode: file
                .recording_mode
                .clone()
                .unwrap_or_else(|| "stereo".to_owned()),
            prompts_dir: file.prompts_dir.clone(),
        };
        if settings
            .prompts_dir
            .as_deref()
            .is_some_and(|d| d.trim().is_empty())
        {
            bail!("media.prompts_dir must not be empty (leave it out for <data_dir>/prompts)");
        }
        if crate::recording::parse_mode(&settings.recording_mode).is_none() {
            bail!("media.recording_mode must be \"stereo\" or \"mixed\"");
        }
        if settings
            .recordings_dir
            .as_deref()
            .is_some_and(|d| d.trim().is_empty())
        {
            bail!(
                "media.recordings_dir must not be empty (leave it out for <data_dir>/recordings)"
            );
        }
        settings.laws()?;
        if !settings.rtp_port_min.is_multiple_of(2) {
            bail!("media.rtp_port_min must be even (RTP on even ports, RTCP on the next)");
        }
        if settings.rtp_port_min < 1024 {
            bail!("media.rtp_port_min must be at least 1024");
        }
        if settings.rtp_port_max <= settings.rtp_port_min {
            bail!("media.rtp_port_min must be below media.rtp_port_max");
        }
        if settings.rtp_port_max - settings.rtp_port_min < 3 {
            bail!("media.rtp_port_min..rtp_port_max must hold at least two port pairs");
        }
        if settings.rtp_timeout_secs == 0 || settings.rtp_timeout_secs > 3600 {
            bail!("media.rtp_timeout_secs must be between 1 and 3600");
        }
        Ok(settings)
    }

    fn laws(&self) -> anyhow::Result<Vec<media::codec::G711Law>> {
        if self.codecs.is_empty() {
            bail!("media.codecs must name at least one codec");
        }
        self.codecs
            .iter()
            .map(|name| match media::codec::G711Law::from_name(name) {
                Some(law) => Ok(law),
                None => bail!("media.codecs: unknown codec {name:?} (PCMU and PCMA are supported)"),
            })
            .collect()
    }

    /// The media configuration the RTP endpoints run with.
    pub fn config(&self) -> crate::rtp::MediaConfig {
        crate::rtp::MediaConfig {
            rtp_port_min: self.rtp_port_min,
            rtp_port_max: self.rtp_port_max,
            rtp_timeout: Duration::from_secs(self.rtp_timeout_secs),
            // Checked by `resolve`.
            codecs: self.laws().unwrap_or_default(),
            dtmf_inband: self.dtmf_inband,
        }
    }
}
