//! The SDP parser: tolerant of LF-only line endings and blank lines, strict on structure.

use std::str::FromStr;

use thiserror::Error;

use super::{
    Attribute, Bandwidth, Codec, Connection, Direction, Fmtp, MediaDescription, Origin, Proto,
    Rtcp, Rtpmap, SessionDescription, Timing,
};

/// Why a body is not a session description, and on which line (1-based; 0 when the body
/// as a whole is at fault).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("SDP line {line}: {kind}")]
pub struct SdpError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: SdpErrorKind,
}

/// What is wrong with an SDP body.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpErrorKind {
    /// The bytes are not UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// Nothing but blank lines.
    #[error("the body is empty")]
    Empty,
    /// The first line is not `v=`.
    #[error("the first line must be v=0")]
    MissingVersion,
    /// `v=` other than 0.
    #[error("unsupported SDP version {0:?} (only 0 exists)")]
    UnsupportedVersion(String),
    /// Not `<letter>=<value>`.
    #[error("not a <type>=<value> line")]
    MalformedLine,
    /// A type letter RFC 4566 does not define.
    #[error("unknown line type {0:?}")]
    UnknownType(char),
    /// A session-level line inside an `m=` section.
    #[error("{0}= is not allowed in a media section")]
    NotInMedia(char),
    /// A line that may appear once, twice.
    #[error("more than one {0}= line")]
    Duplicate(char),
    /// A required line is absent.
    #[error("no {0}= line")]
    Missing(char),
    /// `r=` before any `t=`.
    #[error("r= line without a t= line before it")]
    RepeatWithoutTime,
    /// A required field of a line is absent.
    #[error("{line_type}= line has no {field}")]
    MissingField {
        /// The line's type letter.
        line_type: char,
        /// The missing field.
        field: &'static str,
    },
    /// A field of a line does not parse.
    #[error("{line_type}= line has an invalid {field} {value:?}")]
    InvalidField {
        /// The line's type letter.
        line_type: char,
        /// The field.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// Fields after the last one the line type has.
    #[error("{0}= line has trailing fields")]
    Trailing(char),
    /// An attribute Switchboard interprets (rtpmap, fmtp, ptime, maxptime, rtcp) is malformed.
    #[error("a={name}: {reason}")]
    InvalidAttribute {
        /// The attribute name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl SessionDescription {
    /// Parses an SDP body; bytes must be UTF-8.
    pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
        match std::str::from_utf8(body) {
            Ok(text) => parse(text),
            Err(e) => {
                let valid = body.get(..e.valid_up_to()).unwrap_or_default();
                let line = 1 + valid.iter().filter(|b| **b == b'\n').count();
                Err(SdpError {
                    line,
                    kind: SdpErrorKind::NotUtf8,
                })
            }
        }
    }
}

impl FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<SessionDescription, SdpError> {
        parse(s)
    }
}

/// The fields of the session section, filled as lines arrive.
#[derive(Default)]
struct SessionFields {
    origin: Option<Origin>,
    session_name: Option<String>,
    information: Option<String>,
    uri: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    connection: Option<Connection>,
    bandwidths: Vec<Bandwidth>,
    times: Vec<Timing>,
    time_zones: Option<String>,
    key: Option<String>,
    attributes: Vec<Attribute>,
}

fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((first, version)) = lines.next() else {
        return Err(SdpError {
            line: 0,
            kind: SdpErrorKind::Empty,
        });
    };
    let err = |line, kind| SdpError { line, kind };
    match split_line(version).map_err(|k| err(first, k))? {
        ('v', v) if v.trim() == "0" => {}
        ('v', other) => {
            return Err(err(
                first,
                SdpErrorKind::UnsupportedVersion(other.to_owned()),
            ));
        }
        _ => return Err(err(first, SdpErrorKind::MissingVersion)),
    }
    let mut s = SessionFields::default();
    let mut media: Vec<MediaDescription> = Vec::new();
    let mut last_line = first;
    for (n, line) in lines {
        last_line = n;
        let (kind, value) = split_line(line).map_err(|k| err(n, k))?;
        if let Some(m) = media.last_mut() {
            media_line(m, kind, value).map_err(|k| err(n, k))?;
            if kind == 'm' {
                media.push(parse_m(value).map_err(|k| err(n, k))?);
            }
            continue;
        }
        if kind == 'm' {
            media.push(parse_m(value).map_err(|k| err(n, k))?);
            continue;
        }
        session_line(&mut s, kind, value).map_err(|k| err(n, k))?;
    }
    let end = last_line;
    let origin = s.origin.ok_or(err(end, SdpErrorKind::Missing('o')))?;
    let session_name = s.session_name.ok_or(err(end, SdpErrorKind::Missing('s')))?;
    // t= is required, yet some SIP user agents leave it out; "t=0 0" is what they mean.
    let times = if s.times.is_empty() {
        vec![Timing {
            start: 0,
            stop: 0,
            repeats: Vec::new(),
        }]
    } else {
        s.times
    };
    Ok(SessionDescription {
        origin,
        session_name,
        information: s.information,
        uri: s.uri,
        emails: s.emails,
        phones: s.phones,
        connection: s.connection,
        bandwidths: s.bandwidths,
        times,
        time_zones: s.time_zones,
        key: s.key,
        attributes: s.attributes,
        media,
    })
}

/// `<letter>=<value>` into its parts.
fn split_line(line: &str) -> Result<(char, &str), SdpErrorKind> {
    let mut chars = line.chars();
    match (chars.next(), chars.next()) {
        (Some(kind), Some('=')) if kind.is_ascii_lowercase() => Ok((kind, chars.as_str())),
        _ => Err(SdpErrorKind::MalformedLine),
    }
}

fn set_once<T>(slot: &mut Option<T>, kind: char, value: T) -> Result<(), SdpErrorKind> {
    if slot.is_some() {
        return Err(SdpErrorKind::Duplicate(kind));
    }
    *slot = Some(value);
    Ok(())
}

fn session_line(s: &mut SessionFields, kind: char, value: &str) -> Result<(), SdpErrorKind> {
    match kind {
        'v' => return Err(SdpErrorKind::Duplicate('v')),
        'o' => set_once(&mut s.origin, kind, parse_o(value)?)?,
        's' => set_once(&mut s.session_name, kind, value.to_owned())?,
        'i' => set_once(&mut s.information, kind, value.to_owned())?,
        'u' => set_once(&mut s.uri, kind, value.to_owned())?,
        'e' => s.emails.push(value.to_owned()),
        'p' => s.phones.push(value.to_owned()),
        'c' => set_once(&mut s.connection, kind, parse_c(value)?)?,
        'b' => s.bandwidths.push(parse_b(value)?),
        't' => s.times.push(parse_t(value)?),
        'r' => s
            .times
            .last_mut()
            .ok_or(SdpErrorKind::RepeatWithoutTime)?
            .repeats
            .push(value.to_owned()),
        'z' => set_once(&mut s.time_zones, kind, value.to_owned())?,
        'k' => set_once(&mut s.key, kind, value.to_owned())?,
        'a' => s.attributes.push(parse_a(value)?),
        other => return Err(SdpErrorKind::UnknownType(other)),
    }
    Ok(())
}

/// A line inside the `m=` section `m` (an `m=` line itself is left to the caller).
fn media_line(m: &mut MediaDescription, kind: char, value: &str) -> Result<(), SdpErrorKind> {
    match kind {
        'm' => {}
        'i' => set_once(&mut m.information, kind, value.to_owned())?,
        'c' => set_once(&mut m.connection, kind, parse_c(value)?)?,
        'b' => m.bandwidths.push(parse_b(value)?),
        'k' => set_once(&mut m.key, kind, value.to_owned())?,
        'a' => m.attributes.push(parse_a(value)?),
        'v' | 'o' | 's' | 'u' | 'e' | 'p' | 't' | 'r' | 'z' => {
            return Err(SdpErrorKind::NotInMedia(kind));
        }
        other => return Err(SdpErrorKind::UnknownType(other)),
    }
    Ok(())
}

/// The whitespace-separated fields of a `kind=` line, exactly `N` of them.
fn fields<'a, const N: usize>(
    kind: char,
    value: &'a str,
    names: [&'static str; N],
) -> Result<[&'a str; N], SdpErrorKind> {
    let mut it = value.split_whitespace();
    let mut out = [""; N];
    for (slot, field) in out.iter_mut().zip(names) {
        *slot = it.next().ok_or(SdpErrorKind::MissingField {
            line_type: kind,
            field,
        })?;
    }
    if it.next().is_some() {
        return Err(SdpErrorKind::Trailing(kind));
    }
    Ok(out)
}

fn number<T: FromStr>(kind: char, field: &'static str, value: &str) -> Result<T, SdpErrorKind> {
    value.parse().map_err(|_| SdpErrorKind::InvalidField {
        line_type: kind,
        field,
        value: value.to_owned(),
    })
}

fn parse_o(value: &str) -> Result<Origin, SdpErrorKind> {
    let [username, id, version, net_type, addr_type, address] = fields(
        'o',
        value,
        [
            "username",
            "session id",
            "session version",
            "network type",
            "address type",
            "address",
        ],
    )?;
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SdpErrorKind::InvalidField {
            line_type: 'o',
            field: "session id",
            value: id.to_owned(),
        });
    }
    Ok(Origin {
        username: username.to_owned(),
        session_id: id.to_owned(),
        session_version: number('o', "session version", version)?,
        net_type: net_type.to_owned(),
        addr_type: addr_type.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_c(value: &str) -> Result<Connection, SdpErrorKind> {
    let [net_type, addr_type, address] =
        fields('c', value, ["network type", "address type", "address"])?;
    Ok(Connection {
        net_type: net_type.to_owned(),
        addr_type: addr_type.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_b(value: &str) -> Result<Bandwidth, SdpErrorKind> {
    let (bw_type, bw) = value.split_once(':').ok_or(SdpErrorKind::MissingField {
        line_type: 'b',
        field: "bandwidth",
    })?;
    if bw_type.is_empty() || bw_type.contains(char::is_whitespace) {
        return Err(SdpErrorKind::InvalidField {
            line_type: 'b',
            field: "bandwidth type",
            value: bw_type.to_owned(),
        });
    }
    Ok(Bandwidth {
        bw_type: bw_type.to_owned(),
        value: number('b', "bandwidth", bw.trim())?,
    })
}

fn parse_t(value: &str) -> Result<Timing, SdpErrorKind> {
    let [start, stop] = fields('t', value, ["start time", "stop time"])?;
    Ok(Timing {
        start: number('t', "start time", start)?,
        stop: number('t', "stop time", stop)?,
        repeats: Vec::new(),
    })
}

fn parse_m(value: &str) -> Result<MediaDescription, SdpErrorKind> {
    let mut it = value.split_whitespace();
    let missing = |field| SdpErrorKind::MissingField {
        line_type: 'm',
        field,
    };
    let media = it.next().ok_or(missing("media type"))?;
    let port_field = it.next().ok_or(missing("port"))?;
    let proto = Proto::from_text(it.next().ok_or(missing("proto"))?);
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, n)) => (p, Some(number('m', "port count", n)?)),
        None => (port_field, None),
    };
    let port: u16 = number('m', "port", port)?;
    let formats: Vec<String> = it.map(str::to_owned).collect();
    // A rejected stream (port 0) may come without formats; an active one needs one.
    if formats.is_empty() && port != 0 {
        return Err(missing("format"));
    }
    if proto.is_rtp()
        && let Some(bad) = formats
            .iter()
            .find(|f| f.parse::<u8>().map_or(true, |pt| pt > 127))
    {
        return Err(SdpErrorKind::InvalidField {
            line_type: 'm',
            field: "RTP payload type",
            value: bad.clone(),
        });
    }
    Ok(MediaDescription {
        media: media.to_owned(),
        port,
        port_count,
        proto,
        formats,
        information: None,
        connection: None,
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    })
}

fn parse_a(value: &str) -> Result<Attribute, SdpErrorKind> {
    let (name, attr_value) = match value.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (value, None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(SdpErrorKind::MissingField {
            line_type: 'a',
            field: "attribute name",
        });
    }
    let invalid = |reason: String| SdpErrorKind::InvalidAttribute {
        name: name.to_owned(),
        reason,
    };
    let attribute = match (name, attr_value) {
        ("rtpmap", Some(v)) => {
            let (pt, codec) = v
                .trim()
                .split_once(char::is_whitespace)
                .ok_or_else(|| invalid("expected <payload type> <encoding>/<clock rate>".into()))?;
            let payload_type = pt
                .parse::<u8>()
                .ok()
                .filter(|pt| *pt < 128)
                .ok_or_else(|| invalid(format!("invalid payload type {pt:?}")))?;
            let codec = codec
                .trim()
                .parse::<Codec>()
                .map_err(|e| invalid(e.to_string()))?;
            Attribute::Rtpmap(Rtpmap {
                payload_type,
                codec,
            })
        }
        ("fmtp", Some(v)) => {
            let v = v.trim();
            let (format, params) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
            if format.is_empty() {
                return Err(invalid("no format".into()));
            }
            Attribute::Fmtp(Fmtp {
                format: format.to_owned(),
                params: params.trim().to_owned(),
            })
        }
        ("ptime", Some(v)) => Attribute::Ptime(millis(v).ok_or_else(|| invalid(bad_ms(v)))?),
        ("maxptime", Some(v)) => Attribute::MaxPtime(millis(v).ok_or_else(|| invalid(bad_ms(v)))?),
        ("rtcp", Some(v)) => Attribute::Rtcp(parse_rtcp(v).map_err(invalid)?),
        (name, None) if Direction::from_name(name).is_some() => {
            Attribute::Direction(Direction::from_name(name).unwrap_or_default())
        }
        (name, value) => Attribute::Other {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        },
    };
    Ok(attribute)
}

/// A positive number of milliseconds.
fn millis(v: &str) -> Option<u32> {
    v.trim().parse::<u32>().ok().filter(|ms| *ms > 0)
}

fn bad_ms(v: &str) -> String {
    format!("{v:?} is not a number of milliseconds")
}

fn parse_rtcp(v: &str) -> Result<Rtcp, String> {
    let mut it = v.split_whitespace();
    let port = it.next().unwrap_or_default();
    let port: u16 = port.parse().map_err(|_| format!("invalid port {port:?}"))?;
    let rest: Vec<&str> = it.collect();
    let connection = match rest.as_slice() {
        [] => None,
        [net_type, addr_type, address] => Some(Connection {
            net_type: (*net_type).to_owned(),
            addr_type: (*addr_type).to_owned(),
            address: (*address).to_owned(),
        }),
        _ => return Err("expected <port> [<nettype> <addrtype> <address>]".to_owned()),
    };
    Ok(Rtcp { port, connection })
}
