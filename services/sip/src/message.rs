//! Requests, responses and the accessors for the headers every layer reads.

use std::fmt::{self, Write as _};

use bytes::Bytes;
use bytestring::ByteString;

use crate::error::ParseErrorKind;
use crate::header::{CSeq, Contact, Header, HeaderName, Headers, MediaType, NameAddr, Via};
use crate::method::Method;
use crate::uri::Uri;

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Request-URI.
    pub uri: Uri,
    /// Header fields in order.
    pub headers: Headers,
    /// Body (empty when none).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100 to 699.
    pub status: u16,
    /// Reason phrase (may be empty).
    pub reason: ByteString,
    /// Header fields in order.
    pub headers: Headers,
    /// Body (empty when none).
    pub body: Bytes,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipMessage {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

macro_rules! single_copy {
    ($fn:ident, $variant:ident, $ty:ty, $doc:literal) => {
        #[doc = $doc]
        pub fn $fn(&self) -> Option<$ty> {
            self.0.iter().find_map(|h| match h {
                Header::$variant(v) => Some(*v),
                _ => None,
            })
        }
    };
}

macro_rules! list {
    ($fn:ident, $pat:pat => $v:ident, $ty:ty, $doc:literal) => {
        #[doc = $doc]
        pub fn $fn(&self) -> impl Iterator<Item = &$ty> {
            self.0
                .iter()
                .filter_map(|h| match h {
                    $pat => Some($v.iter()),
                    _ => None,
                })
                .flatten()
        }
    };
}

macro_rules! single {
    ($fn:ident, $variant:ident, $ty:ty, $doc:literal) => {
        #[doc = $doc]
        pub fn $fn(&self) -> Option<&$ty> {
            self.0.iter().find_map(|h| match h {
                Header::$variant(v) => Some(v),
                _ => None,
            })
        }
    };
}

impl Headers {
    single!(from, From, NameAddr, "The From header.");
    single!(to, To, NameAddr, "The To header.");
    single!(call_id, CallId, ByteString, "The Call-ID.");
    single!(cseq, CSeq, CSeq, "The CSeq.");
    single!(content_type, ContentType, MediaType, "The Content-Type.");
    single_copy!(content_length, ContentLength, u32, "The Content-Length.");
    single_copy!(max_forwards, MaxForwards, u8, "The Max-Forwards value.");
    single_copy!(expires, Expires, u32, "The Expires value.");

    list!(vias, Header::Via(v) => v, Via, "Every Via entry, top first.");

    /// The topmost Via.
    pub fn top_via(&self) -> Option<&Via> {
        self.vias().next()
    }

    /// The topmost Via, for changing `received` and `rport`.
    pub fn top_via_mut(&mut self) -> Option<&mut Via> {
        self.iter_mut().find_map(|h| match h {
            Header::Via(v) => v.first_mut(),
            _ => None,
        })
    }

    list!(contacts, Header::Contact(Contact::Addresses(v)) => v, NameAddr, "Every Contact address (a `*` contact yields none; see [`Headers::contact_star`]).");

    /// Whether a `Contact: *` is present.
    pub fn contact_star(&self) -> bool {
        self.0
            .iter()
            .any(|h| matches!(h, Header::Contact(Contact::Star)))
    }

    list!(routes, Header::Route(v) => v, NameAddr, "The Route set, in order.");

    list!(record_routes, Header::RecordRoute(v) => v, NameAddr, "The Record-Route entries, in order.");

    list!(require, Header::Require(v) => v, ByteString, "Option tags from every Require header.");

    list!(proxy_require, Header::ProxyRequire(v) => v, ByteString, "Option tags from every Proxy-Require header.");

    /// Media ranges from every Accept header; `None` when there is no Accept header.
    pub fn accept(&self) -> Option<Vec<&MediaType>> {
        let mut any = false;
        let mut out = Vec::new();
        for h in self.0.iter() {
            if let Header::Accept(v) = h {
                any = true;
                out.extend(v.iter());
            }
        }
        any.then_some(out)
    }

    /// Checks the headers RFC 3261 §8.1.1 requires: one each of To, From, Call-ID, CSeq, and a Via.
    pub fn check_mandatory(&self) -> Result<(), ParseErrorKind> {
        for (name, label) in [
            (HeaderName::To, "To"),
            (HeaderName::From, "From"),
            (HeaderName::CallId, "Call-ID"),
            (HeaderName::CSeq, "CSeq"),
        ] {
            match self.count(&name) {
                0 => return Err(ParseErrorKind::MissingHeader(label)),
                1 => {}
                _ => return Err(ParseErrorKind::DuplicateHeader(label)),
            }
        }
        if self.top_via().is_none() {
            return Err(ParseErrorKind::MissingHeader("Via"));
        }
        for (name, label) in [
            (HeaderName::MaxForwards, "Max-Forwards"),
            (HeaderName::ContentType, "Content-Type"),
            (HeaderName::Expires, "Expires"),
        ] {
            if self.count(&name) > 1 {
                return Err(ParseErrorKind::DuplicateHeader(label));
            }
        }
        Ok(())
    }
}

/// `fmt::Write` into bytes: the head is formatted straight into the datagram's buffer.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Serializes a message: start line, headers, blank line, body, into one buffer of the
/// message's size (a final response lingers for timer J: spare capacity would linger too).
fn serialize(start: fmt::Arguments<'_>, headers: &Headers, body: &Bytes) -> Bytes {
    let mut out = Vec::with_capacity(128 + headers.len() * 72 + body.len());
    // Writing to a Vec cannot fail.
    let _ = ByteWriter(&mut out).write_fmt(start);
    out.extend_from_slice(b"\r\n");
    for h in headers.iter() {
        match h {
            // Unknown headers go out byte for byte, not through lossy UTF-8.
            Header::Other { name, value } => {
                out.extend_from_slice(name.as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
            }
            _ => {
                let _ = write!(ByteWriter(&mut out), "{h}");
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    if out.capacity() - out.len() > 256 {
        out.shrink_to_fit();
    }
    Bytes::from(out)
}

impl Request {
    /// Serializes the request. Headers are written as stored: keep Content-Length true.
    pub fn to_bytes(&self) -> Bytes {
        serialize(
            format_args!("{} {} SIP/2.0", self.method, self.uri),
            &self.headers,
            &self.body,
        )
    }

    /// Checks the mandatory headers and that CSeq names this request's method.
    pub fn validate(&self) -> Result<(), ParseErrorKind> {
        self.headers.check_mandatory()?;
        match self.headers.cseq() {
            Some(c) if c.method != self.method => Err(ParseErrorKind::CSeqMethodMismatch),
            _ => Ok(()),
        }
    }
}

impl Response {
    /// Serializes the response. Headers are written as stored: keep Content-Length true.
    pub fn to_bytes(&self) -> Bytes {
        serialize(
            format_args!("SIP/2.0 {} {}", self.status, self.reason),
            &self.headers,
            &self.body,
        )
    }

    /// Checks the mandatory headers.
    pub fn validate(&self) -> Result<(), ParseErrorKind> {
        self.headers.check_mandatory()
    }

    /// The status class: 1 for provisional, 2 for success, and so on.
    pub fn class(&self) -> u16 {
        self.status / 100
    }
}

impl SipMessage {
    /// The header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            SipMessage::Request(r) => &r.headers,
            SipMessage::Response(r) => &r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        match self {
            SipMessage::Request(r) => &r.body,
            SipMessage::Response(r) => &r.body,
        }
    }

    /// Serializes the message.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            SipMessage::Request(r) => r.to_bytes(),
            SipMessage::Response(r) => r.to_bytes(),
        }
    }

    /// Validates the mandatory headers (and the CSeq method of a request).
    pub fn validate(&self) -> Result<(), ParseErrorKind> {
        match self {
            SipMessage::Request(r) => r.validate(),
            SipMessage::Response(r) => r.validate(),
        }
    }
}
