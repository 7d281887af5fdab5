//! Header fields: names, typed values and the ordered header list of a message.

mod address;
mod misc;
mod name;
mod via;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

pub use address::{Contact, NameAddr, parse_qvalue};
pub use misc::{
    AuthValue, AuthenticationInfo, CSeq, MediaType, RetryAfter, SipDate, Timestamp,
    TokenWithParams, Warning,
};
pub use name::HeaderName;
pub use via::{MAGIC_COOKIE, Transport, Via};

use crate::grammar::{self, GrammarError, PResult, sws, token};
use crate::method::Method;
use crate::params::ascii;

/// One header field line with its value typed where Switchboard reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Header {
    /// Via (one line may carry several entries).
    Via(Vec<Via>),
    /// From
    From(NameAddr),
    /// To
    To(NameAddr),
    /// Call-ID
    CallId(ByteString),
    /// CSeq
    CSeq(CSeq),
    /// Max-Forwards (0 to 255)
    MaxForwards(u8),
    /// Contact
    Contact(Contact),
    /// Route
    Route(Vec<NameAddr>),
    /// Record-Route
    RecordRoute(Vec<NameAddr>),
    /// Path (RFC 3327)
    Path(Vec<NameAddr>),
    /// Expires in seconds
    Expires(u32),
    /// Min-Expires in seconds
    MinExpires(u32),
    /// Content-Type
    ContentType(MediaType),
    /// Content-Length
    ContentLength(u32),
    /// Content-Encoding
    ContentEncoding(Vec<ByteString>),
    /// Accept (may be empty: nothing is acceptable)
    Accept(Vec<MediaType>),
    /// Allow
    Allow(Vec<Method>),
    /// Supported option tags
    Supported(Vec<ByteString>),
    /// Require option tags
    Require(Vec<ByteString>),
    /// Proxy-Require option tags
    ProxyRequire(Vec<ByteString>),
    /// Unsupported option tags
    Unsupported(Vec<ByteString>),
    /// WWW-Authenticate challenge
    WwwAuthenticate(AuthValue),
    /// Proxy-Authenticate challenge
    ProxyAuthenticate(AuthValue),
    /// Authorization credentials
    Authorization(AuthValue),
    /// Proxy-Authorization credentials
    ProxyAuthorization(AuthValue),
    /// Authentication-Info
    AuthenticationInfo(AuthenticationInfo),
    /// Event (RFC 6665)
    Event(TokenWithParams),
    /// Subscription-State (RFC 6665)
    SubscriptionState(TokenWithParams),
    /// Refer-To (RFC 3515)
    ReferTo(NameAddr),
    /// Referred-By (RFC 3892)
    ReferredBy(NameAddr),
    /// Replaces (RFC 3891): Call-ID with to-tag/from-tag
    Replaces(TokenWithParams),
    /// Reason (RFC 3326)
    Reason(Vec<TokenWithParams>),
    /// Retry-After
    RetryAfter(RetryAfter),
    /// Date
    Date(SipDate),
    /// Timestamp
    Timestamp(Timestamp),
    /// User-Agent text
    UserAgent(ByteString),
    /// Server text
    Server(ByteString),
    /// Warning values
    Warning(Vec<Warning>),
    /// Any other header, the value kept byte for byte.
    Other {
        /// Its name.
        name: HeaderName,
        /// Its value exactly as received (folding included).
        value: Bytes,
    },
}

impl Header {
    /// The header's name.
    pub fn name(&self) -> HeaderName {
        match self {
            Header::Via(_) => HeaderName::Via,
            Header::From(_) => HeaderName::From,
            Header::To(_) => HeaderName::To,
            Header::CallId(_) => HeaderName::CallId,
            Header::CSeq(_) => HeaderName::CSeq,
            Header::MaxForwards(_) => HeaderName::MaxForwards,
            Header::Contact(_) => HeaderName::Contact,
            Header::Route(_) => HeaderName::Route,
            Header::RecordRoute(_) => HeaderName::RecordRoute,
            Header::Path(_) => HeaderName::Path,
            Header::Expires(_) => HeaderName::Expires,
            Header::MinExpires(_) => HeaderName::MinExpires,
            Header::ContentType(_) => HeaderName::ContentType,
            Header::ContentLength(_) => HeaderName::ContentLength,
            Header::ContentEncoding(_) => HeaderName::ContentEncoding,
            Header::Accept(_) => HeaderName::Accept,
            Header::Allow(_) => HeaderName::Allow,
            Header::Supported(_) => HeaderName::Supported,
            Header::Require(_) => HeaderName::Require,
            Header::ProxyRequire(_) => HeaderName::ProxyRequire,
            Header::Unsupported(_) => HeaderName::Unsupported,
            Header::WwwAuthenticate(_) => HeaderName::WwwAuthenticate,
            Header::ProxyAuthenticate(_) => HeaderName::ProxyAuthenticate,
            Header::Authorization(_) => HeaderName::Authorization,
            Header::ProxyAuthorization(_) => HeaderName::ProxyAuthorization,
            Header::AuthenticationInfo(_) => HeaderName::AuthenticationInfo,
            Header::Event(_) => HeaderName::Event,
            Header::SubscriptionState(_) => HeaderName::SubscriptionState,
            Header::ReferTo(_) => HeaderName::ReferTo,
            Header::ReferredBy(_) => HeaderName::ReferredBy,
            Header::Replaces(_) => HeaderName::Replaces,
            Header::Reason(_) => HeaderName::Reason,
            Header::RetryAfter(_) => HeaderName::RetryAfter,
            Header::Date(_) => HeaderName::Date,
            Header::Timestamp(_) => HeaderName::Timestamp,
            Header::UserAgent(_) => HeaderName::UserAgent,
            Header::Server(_) => HeaderName::Server,
            Header::Warning(_) => HeaderName::Warning,
            Header::Other { name, .. } => name.clone(),
        }
    }

    /// Parses one header line `Name: value` (folding allowed, no trailing CRLF needed).
    pub fn parse(line: &[u8]) -> Result<Header, crate::ParseError> {
        let src = Bytes::copy_from_slice(line);
        crate::parser::parse_header_line(&src, 0)
    }

    /// Parses `v` as the value of header `name`. `v` lies within `src`, which the typed value
    /// shares (usually the whole message, so no per-header buffer is needed). Error offsets are
    /// relative to `v` plus `base` (the offset of `v` in the message).
    pub(crate) fn parse_value(
        name: HeaderName,
        src: &Bytes,
        v: &[u8],
        base: usize,
    ) -> Result<Header, crate::ParseError> {
        let canonical = name.canonical();
        let to_err = |e: nom::Err<GrammarError<'_>>| match e {
            nom::Err::Error(g) | nom::Err::Failure(g) => {
                let at = base + grammar::offset_in(v, g.input);
                let kind = if g.out_of_range {
                    crate::ParseErrorKind::OutOfRange(g.expected)
                } else {
                    crate::ParseErrorKind::HeaderValue {
                        header: canonical,
                        expected: g.expected,
                    }
                };
                crate::ParseError::new(at, kind)
            }
            nom::Err::Incomplete(_) => crate::ParseError::new(
                base + v.len(),
                crate::ParseErrorKind::HeaderValue {
                    header: canonical,
                    expected: "more input",
                },
            ),
        };
        // Each arm types its value and wraps it in place: no `Result<Header>` is passed along
        // (a Header is over 200 bytes and each move of one is a memcpy).
        macro_rules! typed {
            ($variant:path, $parse:expr) => {{
                let (r, x) = $parse.map_err(to_err)?;
                (r, $variant(x))
            }};
        }
        let (rest, header) = match &name {
            HeaderName::Via => typed!(Header::Via, address::list1(src, v, via::via)),
            HeaderName::From => typed!(Header::From, address::name_addr(src, v)),
            HeaderName::To => typed!(Header::To, address::name_addr(src, v)),
            HeaderName::CallId => typed!(
                Header::CallId,
                misc::call_id_span(v).map(|(r, x)| (r, ascii(src, x)))
            ),
            HeaderName::CSeq => typed!(Header::CSeq, misc::cseq(src, v)),
            HeaderName::MaxForwards => typed!(
                Header::MaxForwards,
                grammar::number(255, "Max-Forwards between 0 and 255")(v)
                    .map(|(r, x)| (r, x as u8))
            ),
            HeaderName::Contact => typed!(Header::Contact, address::contact(src, v)),
            HeaderName::Route => typed!(
                Header::Route,
                address::list1(src, v, address::bracketed_name_addr)
            ),
            HeaderName::RecordRoute => typed!(
                Header::RecordRoute,
                address::list1(src, v, address::bracketed_name_addr)
            ),
            HeaderName::Path => typed!(
                Header::Path,
                address::list1(src, v, address::bracketed_name_addr)
            ),
            HeaderName::Expires => {
                typed!(Header::Expires, seconds(v, "Expires within 2^32-1 seconds"))
            }
            HeaderName::MinExpires => typed!(
                Header::MinExpires,
                seconds(v, "Min-Expires within 2^32-1 seconds")
            ),
            HeaderName::ContentType => typed!(Header::ContentType, misc::media_type(src, v)),
            HeaderName::ContentLength => typed!(
                Header::ContentLength,
                seconds(v, "Content-Length within 2^32-1")
            ),
            HeaderName::ContentEncoding => typed!(Header::ContentEncoding, tokens(src, v, false)),
            HeaderName::Accept => typed!(Header::Accept, optional_list(src, v, misc::media_type)),
            HeaderName::Allow => typed!(Header::Allow, methods(src, v)),
            HeaderName::Supported => typed!(Header::Supported, tokens(src, v, true)),
            HeaderName::Require => typed!(Header::Require, tokens(src, v, false)),
            HeaderName::ProxyRequire => typed!(Header::ProxyRequire, tokens(src, v, false)),
            HeaderName::Unsupported => typed!(Header::Unsupported, tokens(src, v, false)),
            HeaderName::WwwAuthenticate => {
                typed!(Header::WwwAuthenticate, misc::auth_value(src, v))
            }
            HeaderName::ProxyAuthenticate => {
                typed!(Header::ProxyAuthenticate, misc::auth_value(src, v))
            }
            HeaderName::Authorization => typed!(Header::Authorization, misc::auth_value(src, v)),
            HeaderName::ProxyAuthorization => {
                typed!(Header::ProxyAuthorization, misc::auth_value(src, v))
            }
            HeaderName::AuthenticationInfo => typed!(
                Header::AuthenticationInfo,
                misc::authentication_info(src, v)
            ),
            HeaderName::Event => typed!(Header::Event, misc::token_with_params(src, v)),
            HeaderName::SubscriptionState => {
                typed!(Header::SubscriptionState, misc::token_with_params(src, v))
            }
            HeaderName::ReferTo => typed!(Header::ReferTo, address::name_addr(src, v)),
            HeaderName::ReferredBy => typed!(Header::ReferredBy, address::name_addr(src, v)),
            HeaderName::Replaces => typed!(Header::Replaces, misc::replaces(src, v)),
            HeaderName::Reason => typed!(
                Header::Reason,
                address::list1(src, v, misc::token_with_params)
            ),
            HeaderName::RetryAfter => typed!(Header::RetryAfter, misc::retry_after(src, v)),
            HeaderName::Date => typed!(Header::Date, misc::sip_date(src, v)),
            HeaderName::Timestamp => typed!(Header::Timestamp, misc::timestamp(src, v)),
            HeaderName::UserAgent => typed!(Header::UserAgent, utf8(src, v)),
            HeaderName::Server => typed!(Header::Server, utf8(src, v)),
            HeaderName::Warning => typed!(Header::Warning, address::list1(src, v, misc::warning)),
            _ => {
                return Ok(Header::Other {
                    name,
                    value: src.slice_ref(v),
                });
            }
        };
        let (rest, _) = sws(rest).map_err(to_err)?;
        if !rest.is_empty() {
            return Err(crate::ParseError::new(
                base + grammar::offset_in(v, rest),
                crate::ParseErrorKind::HeaderValue {
                    header: canonical,
                    expected: "end of header value",
                },
            ));
        }
        Ok(header)
    }
}

fn seconds<'a>(i: &'a [u8], what: &'static str) -> PResult<'a, u32> {
    let (r, n) = grammar::number(u64::from(u32::MAX), what)(i)?;
    Ok((r, n as u32))
}

fn utf8<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, ByteString> {
    match grammar::text(src, i) {
        Ok(s) => Ok((&i[i.len()..], s)),
        Err(s) => grammar::cut(s, "UTF-8 text"),
    }
}

/// Allow: method tokens, typed without a string for the methods Switchboard knows.
fn methods<'a>(src: &Bytes, i: &'a [u8]) -> PResult<'a, Vec<Method>> {
    if i.iter().all(|&c| grammar::is_wsp(c)) {
        return Ok((i, Vec::new()));
    }
    address::list1(src, i, |s, i| {
        let (r, _) = sws(i)?;
        let (r, t) = token(r)?;
        Ok((r, Method::from_span(s, t)))
    })
}

fn tokens<'a>(src: &Bytes, i: &'a [u8], may_be_empty: bool) -> PResult<'a, Vec<ByteString>> {
    if may_be_empty && i.iter().all(|&c| grammar::is_wsp(c)) {
        return Ok((i, Vec::new()));
    }
    address::list1(src, i, |s, i| {
        let (r, _) = sws(i)?;
        let (r, t) = token(r)?;
        Ok((r, ascii(s, t)))
    })
}

fn optional_list<'a, T>(
    src: &Bytes,
    i: &'a [u8],
    item: impl Fn(&Bytes, &'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    if i.iter().all(|&c| grammar::is_wsp(c)) {
        return Ok((i, Vec::new()));
    }
    address::list1(src, i, item)
}

struct List<'a, T>(&'a [T]);

impl<T: fmt::Display> fmt::Display for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        address::write_list(f, self.0)
    }
}

impl fmt::Display for Header {
    /// Writes `Name: value` (no CRLF).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name())?;
        match self {
            Header::Via(v) => write!(f, "{}", List(v)),
            Header::From(a) | Header::To(a) | Header::ReferTo(a) | Header::ReferredBy(a) => {
                write!(f, "{a}")
            }
            Header::CallId(s) | Header::UserAgent(s) | Header::Server(s) => f.write_str(s),
            Header::CSeq(c) => write!(f, "{c}"),
            Header::MaxForwards(n) => write!(f, "{n}"),
            Header::Contact(c) => write!(f, "{c}"),
            Header::Route(l) | Header::RecordRoute(l) | Header::Path(l) => write!(f, "{}", List(l)),
            Header::Expires(n) | Header::MinExpires(n) | Header::ContentLength(n) => {
                write!(f, "{n}")
            }
            Header::ContentType(m) => write!(f, "{m}"),
            Header::ContentEncoding(l)
            | Header::Supported(l)
            | Header::Require(l)
            | Header::ProxyRequire(l)
            | Header::Unsupported(l) => write!(f, "{}", List(l)),
            Header::Accept(l) => write!(f, "{}", List(l)),
            Header::Allow(l) => write!(f, "{}", List(l)),
            Header::WwwAuthenticate(a)
            | Header::ProxyAuthenticate(a)
            | Header::Authorization(a)
            | Header::ProxyAuthorization(a) => write!(f, "{a}"),
            Header::AuthenticationInfo(a) => write!(f, "{a}"),
            Header::Event(t) | Header::SubscriptionState(t) | Header::Replaces(t) => {
                write!(f, "{t}")
            }
            Header::Reason(l) => write!(f, "{}", List(l)),
            Header::RetryAfter(r) => write!(f, "{r}"),
            Header::Date(d) => write!(f, "{d}"),
            Header::Timestamp(t) => write!(f, "{t}"),
            Header::Warning(l) => write!(f, "{}", List(l)),
            Header::Other { value, .. } => f.write_str(&String::from_utf8_lossy(value)),
        }
    }
}

/// The ordered header fields of a message.
///
/// Shared on clone and copied on the first change (`Arc::make_mut`): a transaction, its
/// transaction user and the registrar each hold the same request, and a deep copy of every
/// header was a tenth of the CPU of a registration (docs/PERFORMANCE.md, "Registrar").
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Headers(pub(crate) Arc<Vec<Header>>);

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Headers::default()
    }

    /// An empty list with room for `n` headers.
    pub fn with_capacity(n: usize) -> Self {
        Headers(Arc::new(Vec::with_capacity(n)))
    }

    /// How many header lines there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The list, for changing in place (copied first if shared).
    pub fn as_mut_vec(&mut self) -> &mut Vec<Header> {
        Arc::make_mut(&mut self.0)
    }

    /// Appends a header.
    pub fn push(&mut self, h: Header) {
        self.as_mut_vec().push(h);
    }

    /// Iterates in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// Iterates in order, for changing in place.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Header> {
        self.as_mut_vec().iter_mut()
    }

    /// Headers called `name`.
    pub fn named<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a Header> + 'a {
        self.0.iter().filter(move |h| h.name().matches(name))
    }

    /// How many lines carry `name`.
    pub fn count(&self, name: &HeaderName) -> usize {
        self.named(name).count()
    }

    /// Removes every header called `name`.
    pub fn remove(&mut self, name: &HeaderName) {
        if self.0.iter().any(|h| h.name().matches(name)) {
            self.as_mut_vec().retain(|h| !h.name().matches(name));
        }
    }

    /// Replaces every header called like `h` by `h`, at the first one's place (or at the end).
    pub fn set(&mut self, h: Header) {
        let name = h.name();
        let list = self.as_mut_vec();
        match list.iter().position(|x| x.name().matches(&name)) {
            Some(k) => {
                list[k] = h;
                let mut seen = false;
                list.retain(|x| {
                    if !x.name().matches(&name) {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => list.push(h),
        }
    }

    /// The raw bytes of an extension or untyped header's first occurrence.
    pub fn other(&self, name: &str) -> Option<&Bytes> {
        let wanted = HeaderName::new(name);
        self.0.iter().find_map(|h| match h {
            Header::Other { name, value } if name.matches(&wanted) => Some(value),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Header, HeaderName, Headers};

    #[test]
    fn a_cloned_header_list_changes_apart_from_the_original() {
        let mut original = Headers::new();
        original.push(Header::MaxForwards(70));
        original.push(Header::Expires(60));
        let mut copy = original.clone();
        copy.set(Header::Expires(0));
        copy.push(Header::ContentLength(0));
        copy.remove(&HeaderName::MaxForwards);
        assert_eq!(original.expires(), Some(60));
        assert_eq!(original.max_forwards(), Some(70));
        assert_eq!(original.len(), 2);
        assert_eq!(copy.expires(), Some(0));
        assert_eq!(copy.max_forwards(), None);
        assert_eq!(copy.len(), 2);
    }
}
