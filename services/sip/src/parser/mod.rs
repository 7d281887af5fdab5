//! Message parsing in two steps: split into a start line and raw header lines ([`RawMessage`]),
//! then type the start line and every known header ([`parse_message`]).
//!
//! The raw step lets a server answer a request whose headers do not parse: it still has the
//! Via, From, To, Call-ID and CSeq lines to copy into a 400 (RFC 3261 §8.2.6).

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use nom::FindSubstring;

use crate::error::{ParseError, ParseErrorKind};
use crate::grammar::{self, is_token};
use crate::header::{Header, HeaderName, Headers};
use crate::message::{Request, Response, SipMessage};
use crate::method::Method;
use crate::params::ascii;
use crate::uri::{UriContext, uri};

/// One header line before typing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeader {
    /// Name as written.
    pub name: Bytes,
    /// Value as written, trimmed, folding kept.
    pub value: Bytes,
    /// Offset of the value in the message.
    pub value_offset: usize,
}

/// A message split into lines but not typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The whole input.
    pub input: Bytes,
    /// The start line without its line ending.
    pub start_line: Bytes,
    /// Header lines in order.
    pub headers: Vec<RawHeader>,
    /// Offset of the first body byte.
    pub body_offset: usize,
}

impl RawMessage {
    /// Whether the start line looks like a response's.
    pub fn is_response(&self) -> bool {
        self.start_line.len() >= 4 && self.start_line[..4].eq_ignore_ascii_case(b"SIP/")
    }

    /// Raw header lines whose name is `name` (long or compact form).
    pub fn named<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a RawHeader> + 'a {
        self.headers.iter().filter(move |h| {
            HeaderName::from_bytes(&h.name)
                .unwrap_or_else(|| HeaderName::Extension(ascii(&h.name, &h.name)))
                .matches(name)
        })
    }
}

/// Finds the end of the line starting at `from`: (end of content, start of next line).
fn line_end(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let rel = memchr_lf(&b[from..])?;
    let lf = from + rel;
    let end = if lf > from && b[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1))
}

fn memchr_lf(b: &[u8]) -> Option<usize> {
    // nom's byte-slice search is memchr (vectorised), several times faster than a byte loop.
    b.find_substring(&b"\n"[..])
}

/// Whether `value` holds a CR or LF (a folded line). Runs for every header value, so it tests
/// eight bytes at a time (a word has a zero byte iff `(w - 0x01..) & !w & 0x80..` is non-zero).
fn has_cr_or_lf(value: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero_byte = |w: u64| w.wrapping_sub(ONES) & !w & HIGH != 0;
    let mut chunks = value.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        if has_zero_byte(w ^ (ONES * u64::from(b'\r')))
            || has_zero_byte(w ^ (ONES * u64::from(b'\n')))
        {
            return true;
        }
    }
    chunks.remainder().iter().any(|&c| c == b'\r' || c == b'\n')
}

/// A header line located in the input: byte ranges of its name and its trimmed value.
struct LineSpan {
    name: Range<usize>,
    value: Range<usize>,
}

/// The line structure of a message as offsets into it; [`parse_raw`] turns it into a
/// [`RawMessage`], [`parse_message`] types straight from it (no per-line `Bytes` to count).
struct Split {
    start_line: Range<usize>,
    headers: Vec<LineSpan>,
    body_offset: usize,
}

/// Splits a message into start line, header lines and body offset.
pub fn parse_raw(input: &Bytes) -> Result<RawMessage, ParseError> {
    let split = split(input)?;
    Ok(RawMessage {
        input: input.clone(),
        start_line: input.slice(split.start_line),
        headers: split
            .headers
            .into_iter()
            .map(|h| RawHeader {
                name: input.slice(h.name),
                value_offset: h.value.start,
                value: input.slice(h.value),
            })
            .collect(),
        body_offset: split.body_offset,
    })
}

fn split(b: &[u8]) -> Result<Split, ParseError> {
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let mut pos = 0;
    while pos < b.len() && (b[pos] == b'\r' || b[pos] == b'\n') {
        pos += 1;
    }
    let (sl_end, mut next) = line_end(b, pos).ok_or(ParseError::new(
        b.len(),
        ParseErrorKind::Incomplete("no end of start line"),
    ))?;
    let start_line = pos..sl_end;
    let mut headers = Vec::with_capacity(16);
    loop {
        if next == b.len() {
            // A datagram may end right after its last header line.
            return Ok(Split {
                start_line,
                headers,
                body_offset: next,
            });
        }
        let (end, after) = line_end(b, next).ok_or(ParseError::new(
            b.len(),
            ParseErrorKind::Incomplete("no empty line after headers"),
        ))?;
        if end == next {
            return Ok(Split {
                start_line,
                headers,
                body_offset: after,
            });
        }
        if b[next..end].iter().all(|&c| grammar::is_wsp(c)) {
            // A line of only white space ends the headers as an empty line would (NIST torture 12a).
            return Ok(Split {
                start_line,
                headers,
                body_offset: after,
            });
        }
        let line_start = next;
        // Folded continuation lines start with white space (but are not blank).
        let (mut value_end, mut after) = (end, after);
        while after < b.len() && grammar::is_wsp(b[after]) && !blank_line(b, after) {
            match line_end(b, after) {
                Some((e, a)) => {
                    value_end = e;
                    after = a;
                }
                None => {
                    return Err(ParseError::new(
                        b.len(),
                        ParseErrorKind::Incomplete("no end of folded line"),
                    ));
                }
            }
        }
        if grammar::is_wsp(b[line_start]) {
            return Err(ParseError::new(line_start, ParseErrorKind::HeaderLine));
        }
        let name_len = b[line_start..value_end]
            .iter()
            .take_while(|&&c| is_token(c))
            .count();
        let mut colon = line_start + name_len;
        // HCOLON allows only SP and HTAB, but a fold before the colon is LWS too (NIST torture 15).
        while colon < value_end && is_lws_byte(b[colon]) {
            colon += 1;
        }
        if name_len == 0 || colon >= value_end || b[colon] != b':' {
            return Err(ParseError::new(
                line_start + name_len,
                ParseErrorKind::HeaderLine,
            ));
        }
        let mut vs = colon + 1;
        while vs < value_end && is_lws_byte(b[vs]) {
            vs += 1;
        }
        let mut ve = value_end;
        while ve > vs && is_lws_byte(b[ve - 1]) {
            ve -= 1;
        }
        headers.push(LineSpan {
            name: line_start..line_start + name_len,
            value: vs..ve,
        });
        next = after;
    }
}

/// Whether the line starting at `from` holds only white space.
fn blank_line(b: &[u8], from: usize) -> bool {
    match line_end(b, from) {
        Some((end, _)) => b[from..end].iter().all(|&c| grammar::is_wsp(c)),
        None => false,
    }
}

fn is_lws_byte(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Replaces CR and LF of folded lines with spaces; offsets stay the same.
fn unfold(value: &[u8]) -> Bytes {
    let mut v = BytesMut::from(value);
    for c in v.iter_mut() {
        if *c == b'\r' || *c == b'\n' {
            *c = b' ';
        }
    }
    v.freeze()
}

/// Types one header line: `name` lies within `name_src` and `value` within `src` (both are the
/// whole message when typing straight from [`split`]). Errors carry absolute offsets.
fn type_header(
    name_src: &Bytes,
    name: &[u8],
    src: &Bytes,
    value: &[u8],
    value_offset: usize,
) -> Result<Header, ParseError> {
    let Some(known) = HeaderName::from_bytes(name) else {
        return Ok(Header::Other {
            name: HeaderName::Extension(ascii(name_src, name)),
            value: src.slice_ref(value),
        });
    };
    if !has_cr_or_lf(value) {
        return Header::parse_value(known, src, value, value_offset);
    }
    let unfolded = unfold(value);
    match Header::parse_value(known, &unfolded, &unfolded, value_offset) {
        // Untyped known headers keep the value as received, folding included.
        Ok(Header::Other { name, .. }) => Ok(Header::Other {
            name,
            value: src.slice_ref(value),
        }),
        other => other,
    }
}

/// Types a [`RawHeader`] (its name and value are separate buffers).
fn raw_header(h: &RawHeader) -> Result<Header, ParseError> {
    type_header(&h.name, &h.name, &h.value, &h.value, h.value_offset)
}

/// Parses `Name: value` on its own (no CRLF needed); used for single-header tests.
pub(crate) fn parse_header_line(src: &Bytes, base: usize) -> Result<Header, ParseError> {
    let mut with_end = BytesMut::from(&src[..]);
    with_end.extend_from_slice(b"\r\n\r\n");
    let mut framed = BytesMut::from(&b"X\r\n"[..]);
    framed.extend_from_slice(&with_end);
    let framed = framed.freeze();
    let raw = parse_raw(&framed).map_err(|e| e.shifted(base).shifted_back(3))?;
    match raw.headers.as_slice() {
        [one] => raw_header(one).map_err(|e| e.shifted(base).shifted_back(3)),
        _ => Err(ParseError::new(base, ParseErrorKind::HeaderLine)),
    }
}

impl ParseError {
    fn shifted_back(mut self, by: usize) -> Self {
        self.offset = self.offset.saturating_sub(by);
        self
    }
}

/// Parses the typed message from a raw split. `datagram`: bytes after Content-Length are ignored
/// and a missing Content-Length means the rest of the datagram (RFC 3261 §18.3).
pub fn parse_typed(raw: &RawMessage) -> Result<SipMessage, ParseError> {
    assemble(
        &raw.input,
        &raw.start_line,
        grammar::offset_in(&raw.input, &raw.start_line),
        raw.body_offset,
        raw.headers
            .iter()
            .map(|h| (&h.name, &h.name[..], &h.value, &h.value[..], h.value_offset)),
    )
}

/// Parses one complete message (a UDP datagram, or a frame cut by [`crate::StreamFramer`]).
pub fn parse_message(input: Bytes) -> Result<SipMessage, ParseError> {
    // Same result as `parse_typed(&parse_raw(&input)?)`, without a `Bytes` per header line.
    let split = split(&input)?;
    let start_line = input.slice(split.start_line.clone());
    assemble(
        &input,
        &start_line,
        split.start_line.start,
        split.body_offset,
        split.headers.iter().map(|h| {
            (
                &input,
                &input[h.name.clone()],
                &input,
                &input[h.value.clone()],
                h.value.start,
            )
        }),
    )
}

/// One header line to type: (buffer holding the name, name, buffer holding the value, value,
/// offset of the value in the message).
type LineRef<'h> = (&'h Bytes, &'h [u8], &'h Bytes, &'h [u8], usize);

/// Types the header lines, cuts the body by Content-Length and types the start line.
fn assemble<'h>(
    input: &Bytes,
    start_line: &Bytes,
    sl_offset: usize,
    body_offset: usize,
    lines: impl ExactSizeIterator<Item = LineRef<'h>>,
) -> Result<SipMessage, ParseError> {
    let mut headers = Headers::with_capacity(lines.len());
    let mut content_length: Option<(u32, usize)> = None;
    for (name_src, name, src, value, value_offset) in lines {
        let typed = type_header(name_src, name, src, value, value_offset)?;
        if let Header::ContentLength(n) = typed {
            if content_length.is_some() {
                return Err(ParseError::new(
                    value_offset,
                    ParseErrorKind::MultipleContentLength,
                ));
            }
            content_length = Some((n, value_offset));
        }
        headers.push(typed);
    }
    let available = input.len() - body_offset.min(input.len());
    let body = match content_length {
        Some((n, _)) if n as usize > available => {
            return Err(ParseError::new(input.len(), ParseErrorKind::BodyTooShort));
        }
        Some((n, _)) => input.slice(body_offset..body_offset + n as usize),
        None => input.slice(body_offset.min(input.len())..),
    };
    let is_response = start_line.len() >= 4 && start_line[..4].eq_ignore_ascii_case(b"SIP/");
    if is_response {
        let (status, reason) = status_line(start_line).map_err(|e| e.shifted(sl_offset))?;
        Ok(SipMessage::Response(Response {
            status,
            reason,
            headers,
            body,
        }))
    } else {
        let (method, uri) = request_line(start_line).map_err(|e| e.shifted(sl_offset))?;
        Ok(SipMessage::Request(Request {
            method,
            uri,
            headers,
            body,
        }))
    }
}

fn version(v: &[u8], at: usize) -> Result<(), ParseError> {
    if v.len() < 4 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(ParseError::new(
            at,
            ParseErrorKind::StartLine("SIP version"),
        ));
    }
    let rest = &v[4..];
    let dot = rest.iter().position(|&c| c == b'.');
    let ok_digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    match dot {
        Some(d) if ok_digits(&rest[..d]) && ok_digits(&rest[d + 1..]) => {
            if rest == b"2.0" {
                Ok(())
            } else {
                Err(ParseError::new(at, ParseErrorKind::UnsupportedVersion))
            }
        }
        _ => Err(ParseError::new(
            at,
            ParseErrorKind::StartLine("SIP version"),
        )),
    }
}

fn status_line(line: &Bytes) -> Result<(u16, ByteString), ParseError> {
    let b: &[u8] = line;
    let sp = b.iter().position(|&c| c == b' ').ok_or(ParseError::new(
        b.len(),
        ParseErrorKind::StartLine("space after version"),
    ))?;
    version(&b[..sp], 0)?;
    let code = &b[sp + 1..];
    let digits = code.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits != 3 {
        return Err(ParseError::new(
            sp + 1,
            ParseErrorKind::StartLine("three-digit status code"),
        ));
    }
    let status = code[..3]
        .iter()
        .fold(0u16, |a, d| a * 10 + u16::from(d - b'0'));
    if !(100..=699).contains(&status) {
        return Err(ParseError::new(
            sp + 1,
            ParseErrorKind::StartLine("status code 100 to 699"),
        ));
    }
    let reason = match code.get(3) {
        Some(b' ') => &code[4..],
        // A status line cut right after the code has an empty reason phrase.
        None => &code[3..],
        Some(_) => {
            return Err(ParseError::new(
                sp + 4,
                ParseErrorKind::StartLine("space after status code"),
            ));
        }
    };
    if reason.iter().any(|&c| c < 0x20 && c != b'\t' || c == 0x7f) {
        return Err(ParseError::new(
            sp + 5,
            ParseErrorKind::StartLine("printable reason phrase"),
        ));
    }
    let reason = grammar::text(line, reason)
        .map_err(|_| ParseError::new(sp + 5, ParseErrorKind::InvalidUtf8))?;
    Ok((status, reason))
}

fn request_line(line: &Bytes) -> Result<(Method, crate::uri::Uri), ParseError> {
    let b: &[u8] = line;
    let mlen = b.iter().take_while(|&&c| is_token(c)).count();
    if mlen == 0 {
        return Err(ParseError::new(
            0,
            ParseErrorKind::StartLine("method token"),
        ));
    }
    if b.get(mlen) != Some(&b' ') {
        return Err(ParseError::new(
            mlen,
            ParseErrorKind::StartLine("single space after method"),
        ));
    }
    let method = Method::from_span(line, &b[..mlen]);
    let uri_start = mlen + 1;
    let (rest, uri) = match uri(line, &b[uri_start..], UriContext::RequestUri) {
        Ok(x) => x,
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            return Err(ParseError::new(
                grammar::offset_in(b, e.input),
                ParseErrorKind::RequestUri(e.expected),
            ));
        }
        Err(nom::Err::Incomplete(_)) => {
            return Err(ParseError::new(
                b.len(),
                ParseErrorKind::RequestUri("more input"),
            ));
        }
    };
    let at = grammar::offset_in(b, rest);
    if rest.first() != Some(&b' ') {
        return Err(ParseError::new(
            at,
            ParseErrorKind::StartLine("single space after Request-URI"),
        ));
    }
    version(&rest[1..], at + 1)?;
    Ok((method, uri))
}

#[cfg(test)]
mod tests;
