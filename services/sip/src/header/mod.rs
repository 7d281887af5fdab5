//! Header fields: names, typed values and the ordered header list of a message.

mod address;
mod misc;
mod name;
mod via;

use std::fmt;

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

    /// Parses `value` as the value of header `name`.
    pub(crate) fn parse_value(
        name: HeaderName,
        value: &Bytes,
    ) -> Result<Header, crate::ParseError> {
        let v: &[u8] = value;
        let canonical = name.canonical();
        let to_err = |e: nom::Err<GrammarError<'_>>| match e {
            nom::Err::Error(g) | nom::Err::Failure(g) => {
                let at = grammar::offset_in(v, g.input);
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
                v.len(),
                crate::ParseErrorKind::HeaderValue {
                    header: canonical,
                    expected: "more input",
                },
            ),
        };
        let result: PResult<'_, Header> = match &name {
            HeaderName::Via => address::list1(value, v, via::via).map(|(r, x)| (r, Header::Via(x))),
            HeaderName::From => address::name_addr(value, v).map(|(r, x)| (r, Header::From(x))),
            HeaderName::To => address::name_addr(value, v).map(|(r, x)| (r, Header::To(x))),
            HeaderName::CallId => {
                misc::call_id_span(v).map(|(r, x)| (r, Header::CallId(ascii(value, x))))
            }
            HeaderName::CSeq => misc::cseq(value, v).map(|(r, x)| (r, Header::CSeq(x))),
            HeaderName::MaxForwards => grammar::number(255, "Max-Forwards between 0 and 255")(v)
                .map(|(r, x)| (r, Header::MaxForwards(x as u8))),
            HeaderName::Contact => address::contact(value, v).map(|(r, x)| (r, Header::Contact(x))),
            HeaderName::Route => address::list1(value, v, address::bracketed_name_addr)
                .map(|(r, x)| (r, Header::Route(x))),
            HeaderName::RecordRoute => address::list1(value, v, address::bracketed_name_addr)
                .map(|(r, x)| (r, Header::RecordRoute(x))),
            HeaderName::Path => address::list1(value, v, address::bracketed_name_addr)
                .map(|(r, x)| (r, Header::Path(x))),
            HeaderName::Expires => {
                seconds(v, "Expires within 2^32-1 seconds").map(|(r, x)| (r, Header::Expires(x)))
            }
            HeaderName::MinExpires => seconds(v, "Min-Expires within 2^32-1 seconds")
                .map(|(r, x)| (r, Header::MinExpires(x))),
            HeaderName::ContentType => {
                misc::media_type(value, v).map(|(r, x)| (r, Header::ContentType(x)))
            }
            HeaderName::ContentLength => seconds(v, "Content-Length within 2^32-1")
                .map(|(r, x)| (r, Header::ContentLength(x))),
            HeaderName::ContentEncoding => {
                tokens(value, v, false).map(|(r, x)| (r, Header::ContentEncoding(x)))
            }
            HeaderName::Accept => {
                optional_list(value, v, misc::media_type).map(|(r, x)| (r, Header::Accept(x)))
            }
            HeaderName::Allow => tokens(value, v, true).map(|(r, x)| {
                (
                    r,
                    Header::Allow(x.into_iter().map(Method::from_shared).collect()),
                )
            }),
            HeaderName::Supported => tokens(value, v, true).map(|(r, x)| (r, Header::Supported(x))),
            HeaderName::Require => tokens(value, v, false).map(|(r, x)| (r, Header::Require(x))),
            HeaderName::ProxyRequire => {
                tokens(value, v, false).map(|(r, x)| (r, Header::ProxyRequire(x)))
            }
            HeaderName::Unsupported => {
                tokens(value, v, false).map(|(r, x)| (r, Header::Unsupported(x)))
            }
            HeaderName::WwwAuthenticate => {
                misc::auth_value(value, v).map(|(r, x)| (r, Header::WwwAuthenticate(x)))
            }
            HeaderName::ProxyAuthenticate => {
                misc::auth_value(value, v).map(|(r, x)| (r, Header::ProxyAuthenticate(x)))
            }
            HeaderName::Authorization => {
                misc::auth_value(value, v).map(|(r, x)| (r, Header::Authorization(x)))
            }
            HeaderName::ProxyAuthorization => {
                misc::auth_value(value, v).map(|(r, x)| (r, Header::ProxyAuthorization(x)))
            }
            HeaderName::AuthenticationInfo => {
                misc::authentication_info(value, v).map(|(r, x)| (r, Header::AuthenticationInfo(x)))
            }
            HeaderName::Event => {
                misc::token_with_params(value, v).map(|(r, x)| (r, Header::Event(x)))
            }
            HeaderName::SubscriptionState => {
                misc::token_with_params(value, v).map(|(r, x)| (r, Header::SubscriptionState(x)))
            }
            HeaderName::ReferTo => {
                address::name_addr(value, v).map(|(r, x)| (r, Header::ReferTo(x)))
            }
            HeaderName::ReferredBy => {
                address::name_addr(value, v).map(|(r, x)| (r, Header::ReferredBy(x)))
            }
            HeaderName::Replaces => misc::replaces(value, v).map(|(r, x)| (r, Header::Replaces(x))),
            HeaderName::Reason => address::list1(value, v, misc::token_with_params)
                .map(|(r, x)| (r, Header::Reason(x))),
            HeaderName::RetryAfter => {
                misc::retry_after(value, v).map(|(r, x)| (r, Header::RetryAfter(x)))
            }
            HeaderName::Date => misc::sip_date(value, v).map(|(r, x)| (r, Header::Date(x))),
            HeaderName::Timestamp => {
                misc::timestamp(value, v).map(|(r, x)| (r, Header::Timestamp(x)))
            }
            HeaderName::UserAgent => utf8(value, v).map(|(r, x)| (r, Header::UserAgent(x))),
            HeaderName::Server => utf8(value, v).map(|(r, x)| (r, Header::Server(x))),
            HeaderName::Warning => {
                address::list1(value, v, misc::warning).map(|(r, x)| (r, Header::Warning(x)))
            }
            _ => {
                return Ok(Header::Other {
                    name,
                    value: value.clone(),
                });
            }
        };
        let (rest, header) = result.map_err(to_err)?;
        let (rest, _) = sws(rest).map_err(to_err)?;
        if !rest.is_empty() {
            return Err(crate::ParseError::new(
                grammar::offset_in(v, rest),
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// Appends a header.
    pub fn push(&mut self, h: Header) {
        self.0.push(h);
    }

    /// Iterates in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
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
        self.0.retain(|h| !h.name().matches(name));
    }

    /// Replaces every header called like `h` by `h`, at the first one's place (or at the end).
    pub fn set(&mut self, h: Header) {
        let name = h.name();
        match self.0.iter().position(|x| x.name().matches(&name)) {
            Some(k) => {
                self.0[k] = h;
                let mut seen = false;
                self.0.retain(|x| {
                    if !x.name().matches(&name) {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.0.push(h),
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
