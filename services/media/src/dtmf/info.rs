//! DTMF in SIP INFO bodies: `application/dtmf-relay` and `application/dtmf`, both ways.
//!
//! Neither type is standardised (nor IANA-registered); what is accepted follows what is sent
//! in the field: `Signal=5\r\nDuration=160\r\n` with any line ending, spacing and key case,
//! sometimes `Signal: 5`; a missing `Duration` means 250 ms (Cisco's documented default);
//! `Signal=10`/`11` for `*`/`#` (the RFC 4733 event codes, as some gateways send them).

use std::time::Instant;

use super::{DtmfDigit, DtmfEvent, DtmfSource};

/// Content type of the `Signal=`/`Duration=` body.
pub const DTMF_RELAY: &str = "application/dtmf-relay";
/// Content type of the body that is just the key.
pub const DTMF: &str = "application/dtmf";
/// Duration assumed when a dtmf-relay body has none (Cisco's default).
pub const DEFAULT_DURATION_MS: u32 = 250;

/// Why an INFO body is not a DTMF digit; [`status`](Self::status) gives the response code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfInfoError {
    /// Not one of the two DTMF content types: 415 Unsupported Media Type.
    #[error("unsupported content type {0:?} for DTMF")]
    UnsupportedContentType(String),
    /// The body is not UTF-8 text.
    #[error("DTMF body is not UTF-8")]
    NotText,
    /// No `Signal` line in a dtmf-relay body, or an empty dtmf body.
    #[error("no DTMF signal in the body")]
    MissingSignal,
    /// A `Signal` that is not a key (nor 10–15).
    #[error("{0:?} is not a DTMF signal")]
    BadSignal(String),
    /// A `Duration` that is not a whole number of milliseconds.
    #[error("{0:?} is not a DTMF duration in milliseconds")]
    BadDuration(String),
}

impl DtmfInfoError {
    /// The SIP status to answer the INFO with: 415 for a content type we do not take, else 400.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnsupportedContentType(_) => 415,
            _ => 400,
        }
    }
}

/// A digit read from an INFO body, before it is timed as an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDigit {
    /// The key.
    pub digit: DtmfDigit,
    /// The `Duration` given, or [`DEFAULT_DURATION_MS`].
    pub duration_ms: u32,
}

impl InfoDigit {
    /// The normalised event, stamped with the INFO's arrival time.
    pub fn into_event(self, now: Instant) -> DtmfEvent {
        DtmfEvent {
            digit: self.digit,
            duration_ms: self.duration_ms,
            source: DtmfSource::SipInfo,
            started_at: now,
        }
    }
}

/// Reads the INFO body for its `Content-Type` (parameters and case ignored).
pub fn parse_info(content_type: &str, body: &[u8]) -> Result<InfoDigit, DtmfInfoError> {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let text = || std::str::from_utf8(body).map_err(|_| DtmfInfoError::NotText);
    match media_type.as_str() {
        DTMF_RELAY => parse_dtmf_relay(text()?),
        DTMF => parse_dtmf(text()?),
        _ => Err(DtmfInfoError::UnsupportedContentType(
            content_type.trim().to_owned(),
        )),
    }
}

/// Reads an `application/dtmf-relay` body: `Signal` required, `Duration` optional, other
/// keys ignored; the first `Signal` and `Duration` win.
pub fn parse_dtmf_relay(body: &str) -> Result<InfoDigit, DtmfInfoError> {
    let mut signal = None;
    let mut duration = None;
    for line in body.lines() {
        let Some((key, value)) = line.split_once(['=', ':']) else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "signal" if signal.is_none() => signal = Some(parse_signal(value)?),
            "duration" if duration.is_none() => {
                duration = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| DtmfInfoError::BadDuration(value.to_owned()))?,
                );
            }
            _ => {}
        }
    }
    Ok(InfoDigit {
        digit: signal.ok_or(DtmfInfoError::MissingSignal)?,
        duration_ms: duration.unwrap_or(DEFAULT_DURATION_MS),
    })
}

/// Reads an `application/dtmf` body: the key alone, surrounding whitespace allowed.
pub fn parse_dtmf(body: &str) -> Result<InfoDigit, DtmfInfoError> {
    let value = body.trim();
    if value.is_empty() {
        return Err(DtmfInfoError::MissingSignal);
    }
    Ok(InfoDigit {
        digit: parse_signal(value)?,
        duration_ms: DEFAULT_DURATION_MS,
    })
}

/// A key character, or 10–15 as RFC 4733 event codes (`10` = `*`, `11` = `#`, 12–15 = A–D).
fn parse_signal(value: &str) -> Result<DtmfDigit, DtmfInfoError> {
    let bad = || DtmfInfoError::BadSignal(value.to_owned());
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => DtmfDigit::from_char(c).ok_or_else(bad),
        (Some(_), Some(_)) => value
            .parse::<u8>()
            .ok()
            .and_then(DtmfDigit::from_event_code)
            .ok_or_else(bad),
        (None, _) => Err(DtmfInfoError::MissingSignal),
    }
}

/// An `application/dtmf-relay` body, CRLF-terminated lines as most senders write them.
pub fn dtmf_relay_body(digit: DtmfDigit, duration_ms: u32) -> String {
    format!("Signal={digit}\r\nDuration={duration_ms}\r\n")
}

/// An `application/dtmf` body: the key alone.
pub fn dtmf_body(digit: DtmfDigit) -> String {
    digit.to_string()
}
