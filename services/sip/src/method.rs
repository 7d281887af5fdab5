//! SIP methods (RFC 3261 §7.1 and extensions). Methods are case-sensitive.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// OPTIONS
    Options,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// REGISTER
    Register,
    /// PRACK (RFC 3262)
    Prack,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// PUBLISH (RFC 3903)
    Publish,
    /// INFO (RFC 6086)
    Info,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// UPDATE (RFC 3311)
    Update,
    /// Any other token.
    Extension(ByteString),
}

impl Method {
    /// Recognises a method token (case-sensitive); anything else is an extension.
    pub fn from_token(t: &str) -> Method {
        Method::known(t.as_bytes()).unwrap_or_else(|| Method::Extension(ByteString::from(t)))
    }

    /// A method token found in `src`: known methods without touching `src`, extensions as a
    /// shared slice of it (no copy, and no reference count for the common methods).
    pub(crate) fn from_span(src: &Bytes, t: &[u8]) -> Method {
        Method::known(t).unwrap_or_else(|| Method::Extension(crate::params::ascii(src, t)))
    }

    fn known(t: &[u8]) -> Option<Method> {
        Some(match t {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"OPTIONS" => Method::Options,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            b"INFO" => Method::Info,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"UPDATE" => Method::Update,
            _ => return None,
        })
    }

    /// The method token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Options => "OPTIONS",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
