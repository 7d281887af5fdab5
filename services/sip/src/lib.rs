//! Switchboard's SIP message layer: a sans-IO library (no sockets, no clock, no runtime).
//!
//! - [`parse_message`] turns one datagram or framed stream message into a typed [`SipMessage`];
//!   [`parse_raw`] splits lines only, so a server can still answer what does not type.
//! - [`StreamFramer`] cuts a TCP byte stream into messages by Content-Length.
//! - [`Response::from_request`] and [`RequestBuilder`] build messages; `to_bytes` serializes.
//! - [`routing`] says where responses go (RFC 3261 §18.2.2, RFC 3581).

mod builder;
pub mod dialog;
mod error;
mod framing;
mod grammar;
mod header;
mod message;
mod method;
mod params;
mod parser;
pub mod routing;
pub mod transaction;
mod uri;

pub use builder::{RequestBuilder, reason_phrase};
pub use error::{ParseError, ParseErrorKind};
pub use framing::{Frame, FramingError, FramingLimits, StreamFramer};
pub use grammar::unquote;
pub use header::{
    AuthValue, AuthenticationInfo, CSeq, Contact, Header, HeaderName, Headers, MAGIC_COOKIE,
    MediaType, NameAddr, RetryAfter, SipDate, Timestamp, TokenWithParams, Transport, Via, Warning,
    parse_qvalue,
};
pub use message::{Request, Response, SipMessage};
pub use method::Method;
pub use params::{Param, Params};
pub use parser::{RawHeader, RawMessage, parse_message, parse_raw, parse_typed};
pub use uri::{Host, SipScheme, SipUri, TelUri, Uri, UriHeader, percent_decode};
