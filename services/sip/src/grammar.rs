//! RFC 3261 §25 character classes and small nom parsers shared by the URI and header grammars.
//!
//! Header values reach these parsers unfolded (every `CRLF 1*WSP` replaced by one space), so
//! linear white space is just runs of SP and HTAB.

use bytes::Bytes;
use bytestring::ByteString;
use nom::IResult;
use nom::bytes::complete::{take_while, take_while1};
use nom::error::{ErrorKind, ParseError as NomParseError};

/// Error type of the internal grammar: where it failed and what it expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrammarError<'a> {
    pub input: &'a [u8],
    pub expected: &'static str,
    /// The input had the right shape but a number was too large.
    pub out_of_range: bool,
}

impl<'a> NomParseError<&'a [u8]> for GrammarError<'a> {
    fn from_error_kind(input: &'a [u8], kind: ErrorKind) -> Self {
        let _ = kind;
        GrammarError {
            input,
            expected: "valid syntax",
            out_of_range: false,
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

impl<'a> nom::error::ContextError<&'a [u8]> for GrammarError<'a> {
    fn add_context(input: &'a [u8], ctx: &'static str, other: Self) -> Self {
        // The innermost context is the most precise; only fill in when missing.
        if other.expected.is_empty()
            || other
                .expected
                .chars()
                .next()
                .is_some_and(|c| c.is_uppercase())
        {
            GrammarError {
                input,
                expected: ctx,
                out_of_range: false,
            }
        } else {
            other
        }
    }
}

/// Result of an internal grammar parser.
pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, GrammarError<'a>>;

/// Fails at `input` saying `expected`.
pub(crate) fn fail<'a, T>(input: &'a [u8], expected: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Error(GrammarError {
        input,
        expected,
        out_of_range: false,
    }))
}

/// Fails without backtracking (a committed branch found a hard error).
pub(crate) fn cut<'a, T>(input: &'a [u8], expected: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Failure(GrammarError {
        input,
        expected,
        out_of_range: false,
    }))
}

pub(crate) fn is_alphanum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// `mark` of RFC 3261 §25.1.
pub(crate) fn is_mark(c: u8) -> bool {
    matches!(
        c,
        b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
    )
}

pub(crate) fn is_unreserved(c: u8) -> bool {
    is_alphanum(c) || is_mark(c)
}

pub(crate) fn is_reserved(c: u8) -> bool {
    matches!(
        c,
        b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b','
    )
}

/// `token` characters, as a table: the parsers test every byte of names, tokens and parameters.
const TOKEN_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = matches!(
            c as u8,
            b'a'..=b'z'
                | b'A'..=b'Z'
                | b'0'..=b'9'
                | b'-'
                | b'.'
                | b'!'
                | b'%'
                | b'*'
                | b'_'
                | b'+'
                | b'`'
                | b'\''
                | b'~'
        );
        c += 1;
    }
    table
};

/// `token` characters.
#[inline]
pub(crate) fn is_token(c: u8) -> bool {
    TOKEN_CHARS[usize::from(c)]
}

/// `word` characters (Call-ID).
pub(crate) fn is_word(c: u8) -> bool {
    is_token(c)
        || matches!(
            c,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

pub(crate) fn is_wsp(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Optional white space (SWS / LWS after unfolding).
pub(crate) fn sws(i: &[u8]) -> PResult<'_, &[u8]> {
    take_while(is_wsp)(i)
}

/// Mandatory white space.
pub(crate) fn lws(i: &[u8]) -> PResult<'_, &[u8]> {
    match take_while1::<_, _, GrammarError>(is_wsp)(i) {
        Ok(r) => Ok(r),
        Err(_) => fail(i, "white space"),
    }
}

/// A separator character with optional white space around it (SLASH, SEMI, EQUAL, COMMA, COLON…).
pub(crate) fn sep(c: u8, what: &'static str) -> impl Fn(&[u8]) -> PResult<'_, ()> {
    move |i| {
        let (r, _) = sws(i)?;
        match r.first() {
            Some(&x) if x == c => {
                let (r, _) = sws(&r[1..])?;
                Ok((r, ()))
            }
            _ => fail(i, what),
        }
    }
}

pub(crate) fn token(i: &[u8]) -> PResult<'_, &[u8]> {
    match take_while1::<_, _, GrammarError>(is_token)(i) {
        Ok(r) => Ok(r),
        Err(_) => fail(i, "token"),
    }
}

/// Decimal digits as a `u64`, failing with `what` on overflow beyond `max`.
pub(crate) fn number(max: u64, what: &'static str) -> impl Fn(&[u8]) -> PResult<'_, u64> {
    move |i| {
        let (r, digits) = match take_while1::<_, _, GrammarError>(|c: u8| c.is_ascii_digit())(i) {
            Ok(x) => x,
            Err(_) => return fail(i, what),
        };
        let mut v: u64 = 0;
        for d in digits {
            v = match v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
            {
                Some(v) if v <= max => v,
                _ => {
                    return Err(nom::Err::Failure(GrammarError {
                        input: i,
                        expected: what,
                        out_of_range: true,
                    }));
                }
            };
        }
        Ok((r, v))
    }
}

/// A quoted-string; returns the whole span including the quotes.
pub(crate) fn quoted_string(i: &[u8]) -> PResult<'_, &[u8]> {
    if i.first() != Some(&b'"') {
        return fail(i, "quoted string");
    }
    let mut k = 1;
    while k < i.len() {
        match i[k] {
            b'"' => return Ok((&i[k + 1..], &i[..k + 1])),
            // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
            b'\\' => match i.get(k + 1) {
                Some(&c) if c <= 0x7f && c != b'\r' && c != b'\n' => k += 2,
                _ => return cut(&i[k..], "valid escape in quoted string"),
            },
            b'\r' | b'\n' => return cut(&i[k..], "closing quote"),
            _ => k += 1,
        }
    }
    cut(i, "closing quote")
}

/// A comment `( ... )` with nesting and quoted pairs; returns the whole span.
pub(crate) fn comment(i: &[u8]) -> PResult<'_, &[u8]> {
    if i.first() != Some(&b'(') {
        return fail(i, "comment");
    }
    let mut depth = 0usize;
    let mut k = 0;
    while k < i.len() {
        match i[k] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok((&i[k + 1..], &i[..k + 1]));
                }
            }
            b'\\' => k += 1,
            _ => {}
        }
        k += 1;
    }
    cut(i, "closing parenthesis")
}

/// Removes the quotes and quoted-pair escapes of a quoted string span.
pub fn unquote(s: &str) -> String {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Turns a sub-slice of `src` into a shared, UTF-8 checked string without copying.
pub(crate) fn text<'a>(src: &Bytes, s: &'a [u8]) -> Result<ByteString, &'a [u8]> {
    ByteString::try_from(src.slice_ref(s)).map_err(|_| s)
}

/// Offset of `rest` within `whole` (both slices of the same buffer).
pub(crate) fn offset_in(whole: &[u8], rest: &[u8]) -> usize {
    (rest.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}
