//! Address headers: From, To, Contact, Route, Record-Route, Path, Refer-To, Referred-By.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use crate::grammar::{
    self, GrammarError, PResult, cut, fail, is_token, quoted_string, sws, unquote,
};
use crate::params::{Params, header_params};
use crate::uri::{Uri, UriContext, uri};

/// `[display-name] <uri> *(;param)`: the value of From, To, Contact, Route and their kin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameAddr {
    /// Display name as written (a quoted string keeps its quotes).
    pub display_name: Option<ByteString>,
    /// The address.
    pub uri: Uri,
    /// Header parameters (`tag`, `expires`, `q`, …).
    pub params: Params,
}

impl NameAddr {
    /// An address with no display name or parameters.
    pub fn new(uri: Uri) -> Self {
        NameAddr {
            display_name: None,
            uri,
            params: Params::new(),
        }
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }

    /// The display name without quotes or escapes.
    pub fn display_name_text(&self) -> Option<String> {
        self.display_name.as_deref().map(unquote)
    }

    /// Contact `expires` parameter in seconds.
    pub fn expires(&self) -> Option<u32> {
        self.params.value("expires").and_then(|v| v.parse().ok())
    }

    /// Contact `q` parameter in thousandths (1000 = q 1.0).
    pub fn q_millis(&self) -> Option<u16> {
        self.params.value("q").and_then(parse_qvalue)
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display_name {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// The value of a Contact header: `*` or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Contact {
    /// `Contact: *` (remove all bindings, with Expires: 0).
    Star,
    /// One or more addresses.
    Addresses(Vec<NameAddr>),
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contact::Star => f.write_str("*"),
            Contact::Addresses(list) => write_list(f, list),
        }
    }
}

/// Writes `a, b, c`.
pub(crate) fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (k, item) in items.iter().enumerate() {
        if k > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths.
pub fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, f),
        None => (v, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut millis: u16 = 0;
    for (k, c) in frac.bytes().enumerate() {
        millis += u16::from(c - b'0') * [100, 10, 1][k];
    }
    match int {
        "0" => Some(millis),
        "1" if millis == 0 => Some(1000),
        _ => None,
    }
}

fn display_tokens(i: &[u8]) -> Option<(&[u8], &[u8])> {
    // *(token LWS) followed by optional white space and '<'.
    let mut k = 0;
    let mut last_end = 0;
    loop {
        let start = k;
        while k < i.len() && is_token(i[k]) {
            k += 1;
        }
        if k == start {
            break;
        }
        last_end = k;
        while k < i.len() && grammar::is_wsp(i[k]) {
            k += 1;
        }
    }
    if i.get(k) == Some(&b'<') {
        Some((&i[k..], &i[..last_end]))
    } else {
        None
    }
}

/// Parses `name-addr / addr-spec` without the parameters that follow.
pub(crate) fn name_or_addr<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, (Option<ByteString>, Uri)> {
    let (i, _) = sws(i)?;
    let (r, display) = if i.first() == Some(&b'"') {
        let (r, q) = quoted_string(i)?;
        let (r, _) = sws(r)?;
        if r.first() != Some(&b'<') {
            return cut(r, "'<' after display name");
        }
        (r, Some(q))
    } else if let Some((r, d)) = display_tokens(i) {
        (r, if d.is_empty() { None } else { Some(d) })
    } else {
        let (r, u) = uri(src, i, UriContext::AddrSpec)?;
        return Ok((r, (None, u)));
    };
    // r starts with '<'
    let (r2, u) = uri(src, &r[1..], UriContext::NameAddr).map_err(|e| match e {
        nom::Err::Error(g) => nom::Err::Failure(g),
        other => other,
    })?;
    if r2.first() != Some(&b'>') {
        return cut(r2, "'>' closing the URI");
    }
    let display = match display {
        Some(d) => Some(grammar::text(src, d).map_err(|s| {
            nom::Err::Failure(GrammarError {
                input: s,
                expected: "UTF-8 display name",
                out_of_range: false,
            })
        })?),
        None => None,
    };
    Ok((&r2[1..], (display, u)))
}

/// `(name-addr / addr-spec) *(SEMI param)`.
pub(crate) fn name_addr<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, NameAddr> {
    let (r, (display_name, uri)) = name_or_addr(src, i)?;
    let (r, params) = header_params(src, r)?;
    Ok((
        r,
        NameAddr {
            display_name,
            uri,
            params,
        },
    ))
}

/// Like [`name_addr`] but the URI must be in `<>` (Route, Record-Route, Path).
pub(crate) fn bracketed_name_addr<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, NameAddr> {
    let (t, _) = sws(i)?;
    if !(t.first() == Some(&b'<') || t.first() == Some(&b'"') || display_tokens(t).is_some()) {
        return fail(t, "'<'");
    }
    name_addr(src, i)
}

/// A comma separated list of at least one item.
pub(crate) fn list1<'a, T>(
    src: &Bytes,
    mut i: &'a [u8],
    item: impl Fn(&Bytes, &'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let mut out = Vec::new();
    loop {
        let (r, v) = item(src, i)?;
        out.push(v);
        match grammar::sep(b',', "','")(r) {
            Ok((r, ())) => i = r,
            Err(_) => return Ok((r, out)),
        }
    }
}

/// Contact: `*` or a list of addresses with checked `expires` and `q`.
pub(crate) fn contact<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, Contact> {
    let (t, _) = sws(i)?;
    if t.first() == Some(&b'*') {
        return Ok((&t[1..], Contact::Star));
    }
    let (r, list) = list1(src, i, name_addr)?;
    for a in &list {
        if let Some(v) = a.params.get("expires")
            && v.and_then(|v| v.parse::<u32>().ok()).is_none()
        {
            return cut(i, "Contact expires within 0..2^32-1 seconds");
        }
        if let Some(v) = a.params.get("q")
            && v.and_then(parse_qvalue).is_none()
        {
            return cut(i, "Contact q between 0 and 1");
        }
    }
    Ok((r, Contact::Addresses(list)))
}
