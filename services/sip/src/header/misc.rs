//! Typed values of the single-purpose headers: CSeq, media types, authentication, events and the rest.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use crate::grammar::{
    self, GrammarError, PResult, comment, cut, fail, number, quoted_string, sep, sws, token,
    unquote,
};
use crate::method::Method;
use crate::params::{Param, Params, ascii, header_params, param_name};

/// `CSeq: 4711 INVITE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// Sequence number (below 2^31, RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// Method of the request.
    pub method: Method,
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

pub(crate) fn cseq<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, CSeq> {
    let (r, _) = sws(i)?;
    let (r, seq) = number((1 << 31) - 1, "CSeq number below 2^31")(r)?;
    let (r, _) = grammar::lws(r)?;
    let (r, m) = token(r)?;
    Ok((
        r,
        CSeq {
            seq: seq as u32,
            method: Method::from_span(src, m),
        },
    ))
}

/// A media type such as `application/sdp;charset=utf-8` (Content-Type, Accept).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaType {
    /// Top-level type.
    pub kind: ByteString,
    /// Subtype.
    pub subtype: ByteString,
    /// Parameters.
    pub params: Params,
}

impl MediaType {
    /// `type/subtype` with no parameters.
    pub fn new(kind: &str, subtype: &str) -> Self {
        MediaType {
            kind: kind.into(),
            subtype: subtype.into(),
            params: Params::new(),
        }
    }

    /// Whether this is `kind/subtype` (case-insensitive), ignoring parameters.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// Whether this media range (possibly with `*`) covers `other`.
    pub fn covers(&self, other: &MediaType) -> bool {
        (&*self.kind == "*" || self.kind.eq_ignore_ascii_case(&other.kind))
            && (&*self.subtype == "*" || self.subtype.eq_ignore_ascii_case(&other.subtype))
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.kind, self.subtype, self.params)
    }
}

pub(crate) fn media_type<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, MediaType> {
    let (r, _) = sws(i)?;
    let (r, kind) = token(r)?;
    let (r, ()) = sep(b'/', "'/' in media type")(r)?;
    let (r, subtype) = token(r)?;
    let (r, params) = header_params(src, r)?;
    Ok((
        r,
        MediaType {
            kind: ascii(src, kind),
            subtype: ascii(src, subtype),
            params,
        },
    ))
}

/// A challenge or credentials: `Digest realm="x", nonce="y", …` (WWW-/Proxy-Authenticate, Authorization).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthValue {
    /// Scheme, e.g. `Digest`.
    pub scheme: ByteString,
    /// Parameters as written; quoted values keep their quotes.
    pub params: Vec<Param>,
}

impl AuthValue {
    /// The unquoted value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .and_then(|p| p.value.as_deref())
            .map(unquote)
    }

    /// Whether the scheme is Digest.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
}

impl fmt::Display for AuthValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        write_auth_params(f, &self.params, " ")
    }
}

fn write_auth_params(f: &mut fmt::Formatter<'_>, params: &[Param], first: &str) -> fmt::Result {
    for (k, p) in params.iter().enumerate() {
        f.write_str(if k == 0 { first } else { ", " })?;
        f.write_str(&p.name)?;
        if let Some(v) = &p.value {
            write!(f, "={v}")?;
        }
    }
    Ok(())
}

/// `name = (token / quoted-string)`, comma separated.
fn auth_params<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, Vec<Param>> {
    let mut out = Vec::new();
    let mut i = i;
    loop {
        let (r, _) = sws(i)?;
        let (r, name) = token(r)?;
        let (r, ()) = sep(b'=', "'=' in auth parameter")(r)?;
        let (r, value) = if r.first() == Some(&b'"') {
            quoted_string(r)?
        } else {
            token(r)?
        };
        let value = grammar::text(src, value).map_err(|s| {
            nom::Err::Failure(GrammarError {
                input: s,
                expected: "UTF-8 text",
                out_of_range: false,
            })
        })?;
        out.push(Param {
            name: param_name(src, name),
            value: Some(value),
        });
        match sep(b',', "','")(r) {
            Ok((r, ())) => i = r,
            Err(_) => return Ok((r, out)),
        }
    }
}

pub(crate) fn auth_value<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, AuthValue> {
    let (r, _) = sws(i)?;
    let (r, scheme) = token(r)?;
    let (r, params) = match grammar::lws(r) {
        Ok((r2, _)) if !r2.is_empty() => auth_params(src, r2)?,
        _ => (r, Vec::new()),
    };
    Ok((
        r,
        AuthValue {
            scheme: ascii(src, scheme),
            params,
        },
    ))
}

/// Authentication-Info: `nextnonce="…", qop=auth, rspauth="…"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthenticationInfo(pub Vec<Param>);

impl fmt::Display for AuthenticationInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_auth_params(f, &self.0, "")
    }
}

pub(crate) fn authentication_info<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, AuthenticationInfo> {
    let (r, p) = auth_params(src, i)?;
    Ok((r, AuthenticationInfo(p)))
}

/// A token followed by parameters: Event, Subscription-State, Reason, Replaces share this shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenWithParams {
    /// The leading value (event type, state, protocol, or Call-ID for Replaces).
    pub value: ByteString,
    /// Parameters.
    pub params: Params,
}

impl fmt::Display for TokenWithParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.value, self.params)
    }
}

pub(crate) fn token_with_params<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, TokenWithParams> {
    let (r, _) = sws(i)?;
    let (r, t) = token(r)?;
    let (r, params) = header_params(src, r)?;
    Ok((
        r,
        TokenWithParams {
            value: ascii(src, t),
            params,
        },
    ))
}

/// Replaces (RFC 3891): a Call-ID (a `word`, may hold `@`) then to-tag, from-tag, early-only.
pub(crate) fn replaces<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, TokenWithParams> {
    let (r, _) = sws(i)?;
    let (r, id) = call_id_span(r)?;
    let (r, params) = header_params(src, r)?;
    Ok((
        r,
        TokenWithParams {
            value: ascii(src, id),
            params,
        },
    ))
}

/// callid = word [ "@" word ].
pub(crate) fn call_id_span(i: &[u8]) -> PResult<'_, &[u8]> {
    let w = i.iter().take_while(|&&c| grammar::is_word(c)).count();
    if w == 0 {
        return fail(i, "Call-ID word");
    }
    let mut end = w;
    if i.get(w) == Some(&b'@') {
        let w2 = i[w + 1..]
            .iter()
            .take_while(|&&c| grammar::is_word(c))
            .count();
        if w2 == 0 {
            return cut(&i[w + 1..], "word after '@' in Call-ID");
        }
        end = w + 1 + w2;
    }
    Ok((&i[end..], &i[..end]))
}

/// Retry-After: seconds, an optional comment, parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetryAfter {
    /// Seconds to wait.
    pub seconds: u32,
    /// Comment as written, parentheses included.
    pub comment: Option<ByteString>,
    /// Parameters such as `duration`.
    pub params: Params,
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seconds)?;
        if let Some(c) = &self.comment {
            write!(f, " {c}")?;
        }
        write!(f, "{}", self.params)
    }
}

pub(crate) fn retry_after<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, RetryAfter> {
    let (r, _) = sws(i)?;
    let (r, seconds) = number(u64::from(u32::MAX), "Retry-After seconds within 2^32-1")(r)?;
    let (t, _) = sws(r)?;
    let (r, comment) = if t.first() == Some(&b'(') {
        let (t, c) = comment(t)?;
        let c = grammar::text(src, c).map_err(|s| {
            nom::Err::Failure(GrammarError {
                input: s,
                expected: "UTF-8 comment",
                out_of_range: false,
            })
        })?;
        (t, Some(c))
    } else {
        (r, None)
    };
    let (r, params) = header_params(src, r)?;
    Ok((
        r,
        RetryAfter {
            seconds: seconds as u32,
            comment,
            params,
        },
    ))
}

/// A Date header value (RFC 1123 form, GMT only, RFC 3261 §20.17).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipDate {
    /// The text as written.
    pub text: ByteString,
    /// Seconds since the Unix epoch.
    pub unix_seconds: i64,
}

impl fmt::Display for SipDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const WKDAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];

fn digits<'a>(i: &'a [u8], n: usize, what: &'static str) -> PResult<'a, i64> {
    if i.len() < n || !i[..n].iter().all(u8::is_ascii_digit) {
        return cut(i, what);
    }
    let v = i[..n]
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    Ok((&i[n..], v))
}

fn lit<'a>(i: &'a [u8], l: &[u8], what: &'static str) -> PResult<'a, ()> {
    if i.starts_with(l) {
        Ok((&i[l.len()..], ()))
    } else {
        cut(i, what)
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn sip_date<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, SipDate> {
    let (start, _) = sws(i)?;
    if start.len() < 3 || !WKDAYS.contains(&&start[..3]) {
        return cut(start, "weekday");
    }
    let (r, ()) = lit(&start[3..], b", ", "', ' after weekday")?;
    let (r, day) = digits(r, 2, "two-digit day")?;
    let (r, ()) = lit(r, b" ", "' '")?;
    let month = match r.get(..3).and_then(|m| MONTHS.iter().position(|x| x == &m)) {
        Some(m) => m as i64 + 1,
        None => return cut(r, "month"),
    };
    let (r, ()) = lit(&r[3..], b" ", "' '")?;
    let (r, year) = digits(r, 4, "four-digit year")?;
    let (r, ()) = lit(r, b" ", "' '")?;
    let (r, hh) = digits(r, 2, "hour")?;
    let (r, ()) = lit(r, b":", "':'")?;
    let (r, mm) = digits(r, 2, "minute")?;
    let (r, ()) = lit(r, b":", "':'")?;
    let (r, ss) = digits(r, 2, "second")?;
    let (r, ()) = lit(r, b" GMT", "' GMT' (SIP dates are in GMT)")?;
    if !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return cut(start, "valid date and time");
    }
    let unix_seconds = days_from_civil(year, month, day) * 86_400 + hh * 3600 + mm * 60 + ss;
    let text = ascii(src, &start[..start.len() - r.len()]);
    Ok((r, SipDate { text, unix_seconds }))
}

/// Timestamp (RFC 3261 §20.38): a value and an optional delay, both decimal numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// The timestamp as written.
    pub value: ByteString,
    /// The delay as written.
    pub delay: Option<ByteString>,
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)?;
        if let Some(d) = &self.delay {
            write!(f, " {d}")?;
        }
        Ok(())
    }
}

fn decimal(i: &[u8]) -> PResult<'_, &[u8]> {
    let int = i.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut end = int;
    if i.get(int) == Some(&b'.') {
        end += 1 + i[int + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
    }
    if end == 0 || (int == 0 && end == 1) {
        fail(i, "decimal number")
    } else {
        Ok((&i[end..], &i[..end]))
    }
}

pub(crate) fn timestamp<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, Timestamp> {
    let (r, _) = sws(i)?;
    let (r, value) = decimal(r)?;
    let (r, delay) = match grammar::lws(r) {
        Ok((t, _)) if !t.is_empty() => {
            let (t, d) = decimal(t)?;
            (t, Some(ascii(src, d)))
        }
        _ => (r, None),
    };
    Ok((
        r,
        Timestamp {
            value: ascii(src, value),
            delay,
        },
    ))
}

/// One Warning value: `399 agent "text"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Warning {
    /// Three-digit warning code.
    pub code: u16,
    /// The warning agent (`host[:port]` or a pseudonym).
    pub agent: ByteString,
    /// The text as written, quotes included.
    pub text: ByteString,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.agent, self.text)
    }
}

pub(crate) fn warning<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, Warning> {
    let (r, _) = sws(i)?;
    let n = r.iter().take_while(|c| c.is_ascii_digit()).count();
    if n != 3 {
        return cut(r, "three-digit warn-code");
    }
    let code = r[..3]
        .iter()
        .fold(0u16, |a, d| a * 10 + u16::from(d - b'0'));
    let (r, ()) = lit(&r[3..], b" ", "' ' after warn-code")?;
    let alen = r
        .iter()
        .take_while(|&&c| grammar::is_token(c) || matches!(c, b':' | b'[' | b']'))
        .count();
    if alen == 0 {
        return cut(r, "warn-agent");
    }
    let (agent, r) = r.split_at(alen);
    let (r, ()) = lit(r, b" ", "' ' after warn-agent")?;
    let (r, text) = quoted_string(r)?;
    let text = grammar::text(src, text).map_err(|s| {
        nom::Err::Failure(GrammarError {
            input: s,
            expected: "UTF-8 warn-text",
            out_of_range: false,
        })
    })?;
    Ok((
        r,
        Warning {
            code,
            agent: ascii(src, agent),
            text,
        },
    ))
}
