//! SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), and any other absolute URI kept as text.
//!
//! User parts, parameters and headers are kept as written, %-escapes included, so a URI
//! serializes back byte for byte; [`percent_decode`] gives the decoded form where needed.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use bytestring::ByteString;
use nom::bytes::complete::take_while1;

use crate::error::{ParseError, ParseErrorKind};
use crate::grammar::{self, GrammarError, PResult, cut, fail, is_alphanum, is_unreserved};
use crate::params::{Param, Params, ascii, param_name};

/// `sip` or `sips`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SipScheme {
    /// `sip:`
    Sip,
    /// `sips:` (TLS end to end)
    Sips,
}

/// The host part of a URI or Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, as written.
    Domain(ByteString),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written in brackets in URIs).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// The IP address when the host is one.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Host::Ipv4(a) => Some((*a).into()),
            Host::Ipv6(a) => Some((*a).into()),
            Host::Domain(_) => None,
        }
    }
}

impl From<std::net::IpAddr> for Host {
    fn from(ip: std::net::IpAddr) -> Self {
        match ip {
            std::net::IpAddr::V4(a) => Host::Ipv4(a),
            std::net::IpAddr::V6(a) => Host::Ipv6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write_ipv4(f, *a),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Dotted-quad without `Ipv4Addr`'s `Display`, which formats through a padding buffer: every
/// Via and Contact written carries an address.
fn write_ipv4(f: &mut fmt::Formatter<'_>, a: Ipv4Addr) -> fmt::Result {
    let mut buf = [0u8; 15];
    let mut n = 0;
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        if octet >= 100 {
            buf[n] = b'0' + octet / 100;
            n += 1;
        }
        if octet >= 10 {
            buf[n] = b'0' + octet / 10 % 10;
            n += 1;
        }
        buf[n] = b'0' + octet % 10;
        n += 1;
    }
    // Only ASCII digits and dots were written.
    f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
}

/// A `name=value` header carried in a SIP URI after `?`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UriHeader {
    /// Header name, escaped as written.
    pub name: ByteString,
    /// Header value, escaped as written.
    pub value: ByteString,
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipUri {
    /// `sip` or `sips`.
    pub scheme: SipScheme,
    /// User part, escapes kept.
    pub user: Option<ByteString>,
    /// Password, escapes kept.
    pub password: Option<ByteString>,
    /// Host.
    pub host: Host,
    /// Port, when given.
    pub port: Option<u16>,
    /// URI parameters (transport, user, maddr, lr, …).
    pub params: Params,
    /// URI headers after `?`.
    pub headers: Vec<UriHeader>,
}

impl SipUri {
    /// A plain `sip:user@host` URI.
    pub fn new(user: Option<&str>, host: Host, port: Option<u16>) -> Self {
        SipUri {
            scheme: SipScheme::Sip,
            user: user.map(ByteString::from),
            password: None,
            host,
            port,
            params: Params::new(),
            headers: Vec::new(),
        }
    }

    /// The `transport` parameter, if any.
    pub fn transport(&self) -> Option<&str> {
        self.params.value("transport")
    }

    /// Whether the `lr` parameter (loose routing) is present.
    pub fn is_loose_route(&self) -> bool {
        self.params.contains("lr")
    }

    /// The user part with %-escapes decoded.
    pub fn user_decoded(&self) -> Option<Vec<u8>> {
        self.user.as_deref().map(percent_decode)
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.scheme {
            SipScheme::Sip => "sip:",
            SipScheme::Sips => "sips:",
        })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        for (k, h) in self.headers.iter().enumerate() {
            write!(
                f,
                "{}{}={}",
                if k == 0 { '?' } else { '&' },
                h.name,
                h.value
            )?;
        }
        Ok(())
    }
}

/// A `tel:` URI (RFC 3966): the number and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TelUri {
    /// The telephone number as written (global `+…` or local).
    pub number: ByteString,
    /// Parameters such as `phone-context`.
    pub params: Params,
}

/// Any URI in a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Uri {
    /// `sip:` or `sips:`.
    Sip(SipUri),
    /// `tel:`.
    Tel(TelUri),
    /// Another scheme, kept as written (`scheme:rest`).
    Other {
        /// The scheme.
        scheme: ByteString,
        /// Everything after the colon.
        rest: ByteString,
    },
}

impl Uri {
    /// Parses a URI as it appears inside `<>` (parameters and headers allowed).
    pub fn parse(input: &str) -> Result<Uri, ParseError> {
        let src = Bytes::copy_from_slice(input.as_bytes());
        match uri(&src, &src, UriContext::NameAddr) {
            Ok((b"", u)) => Ok(u),
            Ok((rest, _)) => Err(ParseError::new(
                grammar::offset_in(&src, rest),
                ParseErrorKind::Uri("end of URI"),
            )),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(ParseError::new(
                grammar::offset_in(&src, e.input),
                ParseErrorKind::Uri(e.expected),
            )),
            Err(nom::Err::Incomplete(_)) => Err(ParseError::new(
                input.len(),
                ParseErrorKind::Uri("more input"),
            )),
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The scheme in lower case.
    pub fn scheme(&self) -> String {
        match self {
            Uri::Sip(u) if u.scheme == SipScheme::Sips => "sips".into(),
            Uri::Sip(_) => "sip".into(),
            Uri::Tel(_) => "tel".into(),
            Uri::Other { scheme, .. } => scheme.to_ascii_lowercase(),
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Tel(t) => write!(f, "tel:{}{}", t.number, t.params),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

/// Decodes %-escapes; malformed escapes are kept literally.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'%'
            && k + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[k + 1]), hex(b[k + 2]))
        {
            out.push(h << 4 | l);
            k += 3;
            continue;
        }
        out.push(b[k]);
        k += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Where a URI appears: it decides what may follow it and what it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UriContext {
    /// Request-URI: parameters allowed, headers not (RFC 3261 §19.1.1).
    RequestUri,
    /// Inside `<>`: everything allowed.
    NameAddr,
    /// An addr-spec outside `<>`: `;` starts header parameters and `?`, `,` are not allowed.
    AddrSpec,
}

fn is_user_unreserved(c: u8) -> bool {
    matches!(c, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_user(c: u8) -> bool {
    is_unreserved(c) || is_user_unreserved(c) || c == b'%'
}

fn is_password(c: u8) -> bool {
    is_unreserved(c) || matches!(c, b'&' | b'=' | b'+' | b'$' | b',' | b'%')
}

fn is_paramchar(c: u8) -> bool {
    is_unreserved(c) || matches!(c, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$' | b'%')
}

fn is_hnv(c: u8) -> bool {
    is_unreserved(c) || matches!(c, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'%')
}

fn is_uric(c: u8) -> bool {
    grammar::is_reserved(c) || is_unreserved(c) || c == b'%'
}

/// Checks that every `%` in `s` starts a valid escape.
fn escapes_valid(s: &[u8]) -> bool {
    let mut k = 0;
    while k < s.len() {
        if s[k] == b'%' {
            if k + 2 >= s.len() {
                return false;
            }
            if !(s[k + 1].is_ascii_hexdigit() && s[k + 2].is_ascii_hexdigit()) {
                return false;
            }
            k += 3;
        } else {
            k += 1;
        }
    }
    true
}

/// Parses a host: hostname, IPv4 address or IPv6 reference.
pub(crate) fn host<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, Host> {
    if i.first() == Some(&b'[') {
        let end = match i.iter().position(|&c| c == b']') {
            Some(e) => e,
            None => return cut(i, "']' closing IPv6 reference"),
        };
        let inner = std::str::from_utf8(&i[1..end]).ok();
        return match inner.and_then(|s| s.parse::<Ipv6Addr>().ok()) {
            Some(a) => Ok((&i[end + 1..], Host::Ipv6(a))),
            None => cut(i, "IPv6 address"),
        };
    }
    let (r, name) = match take_while1::<_, _, GrammarError>(|c: u8| {
        is_alphanum(c) || c == b'-' || c == b'.' || c == b'_'
    })(i)
    {
        Ok(x) => x,
        Err(_) => return fail(i, "host"),
    };
    if name.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        // All digits and dots: it is an IPv4 address or nothing (a toplabel starts with a letter).
        return match std::str::from_utf8(name)
            .ok()
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
        {
            Some(a) => Ok((r, Host::Ipv4(a))),
            None => cut(i, "IPv4 address"),
        };
    }
    if name.starts_with(b".") || name.starts_with(b"-") || name.windows(2).any(|w| w == b"..") {
        return cut(i, "host name");
    }
    Ok((r, Host::Domain(ascii(src, name))))
}

/// `[":" port]` after a host.
pub(crate) fn opt_port(i: &[u8]) -> PResult<'_, Option<u16>> {
    if i.first() == Some(&b':') {
        let (r, p) = grammar::number(u64::from(u16::MAX), "port")(&i[1..])?;
        // Only range-checked digits reach here.
        Ok((r, Some(p as u16)))
    } else {
        Ok((i, None))
    }
}

/// Skips white space that a folded line left around `;` inside `<>`: the URI grammar has none,
/// but call-flow documents wrap long Route and Record-Route URIs (NIST torture cases).
fn folded_semi(i: &[u8], tolerate_ws: bool) -> Option<&[u8]> {
    let t = if tolerate_ws {
        grammar::sws(i).map(|(r, _)| r).unwrap_or(i)
    } else {
        i
    };
    if t.first() != Some(&b';') {
        return None;
    }
    let r = &t[1..];
    Some(if tolerate_ws {
        grammar::sws(r).map(|(r, _)| r).unwrap_or(r)
    } else {
        r
    })
}

fn uri_params<'a>(src: &Bytes, mut i: &'a [u8], tolerate_ws: bool) -> PResult<'a, Params> {
    let mut params = Vec::new();
    while let Some(r) = folded_semi(i, tolerate_ws) {
        let (r, name) = match take_while1::<_, _, GrammarError>(is_paramchar)(r) {
            Ok(x) => x,
            Err(_) => return cut(r, "URI parameter name"),
        };
        let (r, value) = if r.first() == Some(&b'=') {
            match take_while1::<_, _, GrammarError>(is_paramchar)(&r[1..]) {
                Ok((r, v)) => (r, Some(v)),
                Err(_) => return cut(&r[1..], "URI parameter value"),
            }
        } else {
            (r, None)
        };
        if !escapes_valid(name) || value.is_some_and(|v| !escapes_valid(v)) {
            return cut(i, "valid %-escape");
        }
        params.push(Param {
            name: param_name(src, name),
            value: value.map(|v| ascii(src, v)),
        });
        i = r;
    }
    Ok((i, Params(params)))
}

fn uri_headers<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, Vec<UriHeader>> {
    let mut out = Vec::new();
    if i.first() != Some(&b'?') {
        return Ok((i, out));
    }
    let mut r = &i[1..];
    loop {
        let (r2, name) = match take_while1::<_, _, GrammarError>(is_hnv)(r) {
            Ok(x) => x,
            Err(_) => return cut(r, "URI header name"),
        };
        if r2.first() != Some(&b'=') {
            return cut(r2, "'=' in URI header");
        }
        let (r3, value) = take_while::<_, _, GrammarError>(is_hnv)(&r2[1..])?;
        if !escapes_valid(name) || !escapes_valid(value) {
            return cut(r, "valid %-escape");
        }
        out.push(UriHeader {
            name: ascii(src, name),
            value: ascii(src, value),
        });
        r = r3;
        if r.first() == Some(&b'&') {
            r = &r[1..];
        } else {
            return Ok((r, out));
        }
    }
}

use nom::bytes::complete::take_while;

fn sip_uri<'a>(
    src: &Bytes,
    scheme: SipScheme,
    i: &'a [u8],
    ctx: UriContext,
) -> PResult<'a, SipUri> {
    // userinfo is present only when an '@' ends the run of user characters.
    let (mut r, mut user, mut password) = (i, None, None);
    let (after_user, u) = take_while::<_, _, GrammarError>(is_user)(i)?;
    let (after_pw, pw) = if after_user.first() == Some(&b':') {
        let (a, p) = take_while::<_, _, GrammarError>(is_password)(&after_user[1..])?;
        (a, Some(p))
    } else {
        (after_user, None)
    };
    if after_pw.first() == Some(&b'@') {
        if u.is_empty() {
            return cut(i, "user part before '@'");
        }
        if !escapes_valid(u) || pw.is_some_and(|p| !escapes_valid(p)) {
            return cut(i, "valid %-escape");
        }
        user = Some(ascii(src, u));
        password = pw.map(|p| ascii(src, p));
        r = &after_pw[1..];
    }
    let (r, h) = host(src, r)?;
    let (r, port) = opt_port(r)?;
    let (r, params) = if ctx == UriContext::AddrSpec {
        (r, Params::new())
    } else {
        uri_params(src, r, ctx == UriContext::NameAddr)?
    };
    let (r, headers) = match ctx {
        UriContext::NameAddr => uri_headers(src, r)?,
        UriContext::RequestUri if r.first() == Some(&b'?') => {
            return cut(r, "no headers in Request-URI");
        }
        UriContext::AddrSpec if r.first() == Some(&b'?') => {
            return cut(r, "'<>' around a URI with headers");
        }
        _ => (r, Vec::new()),
    };
    Ok((
        r,
        SipUri {
            scheme,
            user,
            password,
            host: h,
            port,
            params,
            headers,
        },
    ))
}

fn is_tel_char(c: u8) -> bool {
    c.is_ascii_hexdigit() || matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
}

fn tel_uri<'a>(src: &Bytes, i: &'a [u8], ctx: UriContext) -> PResult<'a, TelUri> {
    let (r, number) = match take_while1::<_, _, GrammarError>(is_tel_char)(i) {
        Ok(x) => x,
        Err(_) => return cut(i, "telephone number"),
    };
    let (r, params) = if ctx == UriContext::AddrSpec {
        (r, Params::new())
    } else {
        uri_params(src, r, ctx == UriContext::NameAddr)?
    };
    Ok((
        r,
        TelUri {
            number: ascii(src, number),
            params,
        },
    ))
}

/// Parses any URI: `sip:`, `sips:`, `tel:` or another absolute URI.
pub(crate) fn uri<'a>(src: &Bytes, i: &'a [u8], ctx: UriContext) -> PResult<'a, Uri> {
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    let scheme_len = i
        .iter()
        .take_while(|&&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        .count();
    if scheme_len == 0 || !i[0].is_ascii_alphabetic() || i.get(scheme_len) != Some(&b':') {
        return fail(i, "URI scheme");
    }
    let scheme = &i[..scheme_len];
    let r = &i[scheme_len + 1..];
    if scheme.eq_ignore_ascii_case(b"sip") {
        let (r, u) = sip_uri(src, SipScheme::Sip, r, ctx)?;
        return Ok((r, Uri::Sip(u)));
    }
    if scheme.eq_ignore_ascii_case(b"sips") {
        let (r, u) = sip_uri(src, SipScheme::Sips, r, ctx)?;
        return Ok((r, Uri::Sip(u)));
    }
    if scheme.eq_ignore_ascii_case(b"tel") {
        let (r, t) = tel_uri(src, r, ctx)?;
        return Ok((r, Uri::Tel(t)));
    }
    let allowed =
        |c: u8| is_uric(c) && !(ctx == UriContext::AddrSpec && matches!(c, b';' | b',' | b'?'));
    let (r2, rest) = match take_while1::<_, _, GrammarError>(allowed)(r) {
        Ok(x) => x,
        Err(_) => return cut(r, "URI after scheme"),
    };
    if !escapes_valid(rest) {
        return cut(r, "valid %-escape");
    }
    Ok((
        r2,
        Uri::Other {
            scheme: ascii(src, scheme),
            rest: ascii(src, rest),
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::Host;

    #[test]
    fn ipv4_hosts_are_written_as_dotted_quads() {
        for a in [
            Ipv4Addr::new(0, 0, 0, 0),
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(10, 200, 3, 255),
            Ipv4Addr::new(9, 99, 100, 109),
        ] {
            assert_eq!(Host::Ipv4(a).to_string(), a.to_string());
        }
    }
}
