//! The Via header (RFC 3261 §20.42, §18.2; RFC 3581 rport).

use std::fmt;
use std::net::IpAddr;

use bytes::Bytes;
use bytestring::ByteString;

use crate::grammar::{PResult, cut, sep, sws, token};
use crate::params::{Params, ascii, header_params};
use crate::uri::{Host, host};

/// The branch prefix of RFC 3261 transactions.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A transport named in a Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP
    Udp,
    /// TCP
    Tcp,
    /// TLS
    Tls,
    /// SCTP
    Sctp,
    /// WebSocket
    Ws,
    /// Secure WebSocket
    Wss,
    /// Another transport, spelled as received.
    Other(ByteString),
}

impl Transport {
    fn from_token(src: &Bytes, t: &[u8]) -> Transport {
        // Case-insensitive without an upper-cased copy: this runs for every Via entry.
        let is = |name: &[u8]| t.eq_ignore_ascii_case(name);
        if is(b"UDP") {
            Transport::Udp
        } else if is(b"TCP") {
            Transport::Tcp
        } else if is(b"TLS") {
            Transport::Tls
        } else if is(b"SCTP") {
            Transport::Sctp
        } else if is(b"WS") {
            Transport::Ws
        } else if is(b"WSS") {
            Transport::Wss
        } else {
            Transport::Other(ascii(src, t))
        }
    }

    /// Whether the transport is reliable (RFC 3261 timers differ).
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Upper-case name.
    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(s) => s,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Via entry: `SIP/2.0/transport sent-by;params`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Via {
    /// Protocol name and version, normally `SIP/2.0`.
    pub protocol: ByteString,
    /// The transport.
    pub transport: Transport,
    /// sent-by host.
    pub host: Host,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameters: branch, received, rport, maddr, ttl, …
    pub params: Params,
}

impl Via {
    /// A Via for a request Switchboard sends.
    pub fn new(transport: Transport, host: Host, port: Option<u16>, branch: &str) -> Self {
        let mut params = Params::new();
        params.set("branch", Some(branch));
        Via {
            protocol: ByteString::from_static("SIP/2.0"),
            transport,
            host,
            port,
            params,
        }
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// Whether the branch carries RFC 3261's magic cookie.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }

    /// The `received` parameter as an address.
    pub fn received(&self) -> Option<IpAddr> {
        self.params
            .value("received")
            .and_then(|v| v.trim_start_matches('[').trim_end_matches(']').parse().ok())
    }

    /// `rport`: `None` when absent, `Some(None)` when requested without a value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.params.value("maddr")
    }

    /// The `ttl` parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.params.value("ttl").and_then(|v| v.parse().ok())
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.protocol, self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// One via-parm.
pub(crate) fn via<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, Via> {
    let (r, _) = sws(i)?;
    let (r, name) = token(r)?;
    let (r, ()) = sep(b'/', "'/' in sent-protocol")(r)?;
    let (r, version) = token(r)?;
    let (r, ()) = sep(b'/', "'/' in sent-protocol")(r)?;
    let (r, transport) = token(r)?;
    let (r, _) = crate::grammar::lws(r)?;
    let (r, h) = host(src, r)?;
    let (r, port) = {
        let (t, _) = sws(r)?;
        if t.first() == Some(&b':') {
            let (t, _) = sws(&t[1..])?;
            let (t, p) = crate::grammar::number(u64::from(u16::MAX), "sent-by port")(t)?;
            (t, Some(p as u16))
        } else {
            (r, None)
        }
    };
    let (r, params) = header_params(src, r)?;
    if let Some(v) = params.get("ttl")
        && v.and_then(|t| t.parse::<u8>().ok()).is_none()
    {
        return cut(i, "Via ttl between 0 and 255");
    }
    if let Some(Some(v)) = params.get("rport")
        && v.parse::<u16>().is_err()
    {
        return cut(i, "Via rport port number");
    }
    let protocol = if name.eq_ignore_ascii_case(b"SIP") && version == b"2.0" {
        ByteString::from_static("SIP/2.0")
    } else {
        ByteString::from(format!(
            "{}/{}",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(version)
        ))
    };
    Ok((
        r,
        Via {
            protocol,
            transport: Transport::from_token(src, transport),
            host: h,
            port,
            params,
        },
    ))
}
