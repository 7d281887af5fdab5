//! Matching messages to transactions (RFC 3261 §17.1.3 and §17.2.3).

use std::fmt;

use bytestring::ByteString;

use crate::header::Via;
use crate::message::{Request, Response};
use crate::method::Method;
use crate::uri::{Host, Uri};

use super::error::TransactionError;

/// Identifies one transaction: the key of its map entry and its name in logs.
///
/// - Client side (§17.1.3), [`TransactionKey::for_client_request`] and
///   [`TransactionKey::from_response`]: the top Via branch and the CSeq method.
/// - Server side (§17.2.3), [`TransactionKey::from_request`]: when the branch starts with
///   `z9hG4bK`, the branch, the top Via sent-by (host and port) and the method, with ACK keyed
///   as the INVITE it acknowledges. CANCEL gets a key of its own;
///   [`TransactionKey::invite_key_for_cancel`] gives the key of the INVITE it cancels.
/// - Server side for RFC 2543 peers (no magic cookie): Request-URI, To tag, From tag,
///   Call-ID, CSeq number, top Via sent-by and branch (if any), and the method as above.
///   The ACK for a final response carries the To tag the server added, so it is found under
///   [`InviteServerTransaction::ack_key`](super::InviteServerTransaction::ack_key).
///
/// Client and server keys never compare equal, so one map can hold both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey(Inner);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Inner {
    Client {
        branch: ByteString,
        method: Method,
    },
    Server {
        branch: ByteString,
        host: Host,
        port: Option<u16>,
        method: Method,
    },
    Rfc2543(Box<Rfc2543Key>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Rfc2543Key {
    request_uri: Uri,
    to_tag: Option<ByteString>,
    from_tag: Option<ByteString>,
    call_id: ByteString,
    cseq: u32,
    host: Host,
    port: Option<u16>,
    branch: Option<ByteString>,
    method: Method,
}

fn top_via(headers: &crate::header::Headers) -> Result<&Via, TransactionError> {
    headers
        .top_via()
        .ok_or(TransactionError::MissingHeader("Via"))
}

fn branch(via: &Via) -> Result<ByteString, TransactionError> {
    via.branch()
        .map(ByteString::from)
        .ok_or(TransactionError::MissingBranch)
}

/// Host names compare case-insensitively (RFC 3261 §19.1.4); addresses are already canonical.
fn normalize(host: &Host) -> Host {
    match host {
        Host::Domain(d) if d.bytes().any(|b| b.is_ascii_uppercase()) => {
            Host::Domain(ByteString::from(d.to_ascii_lowercase()))
        }
        other => other.clone(),
    }
}

/// ACK belongs to the INVITE transaction it acknowledges (§17.2.3).
fn server_method(method: &Method) -> Method {
    match method {
        Method::Ack => Method::Invite,
        m => m.clone(),
    }
}

impl TransactionKey {
    /// The server-side key of a received request (§17.2.3), with the RFC 2543 fallback when
    /// the top Via branch lacks the magic cookie.
    pub fn from_request(req: &Request) -> Result<TransactionKey, TransactionError> {
        let via = top_via(&req.headers)?;
        let method = server_method(&req.method);
        if via.has_rfc3261_branch() {
            return Ok(TransactionKey(Inner::Server {
                branch: branch(via)?,
                host: normalize(&via.host),
                port: via.port,
                method,
            }));
        }
        let h = &req.headers;
        let cseq = h.cseq().ok_or(TransactionError::MissingHeader("CSeq"))?;
        let call_id = h
            .call_id()
            .ok_or(TransactionError::MissingHeader("Call-ID"))?;
        let from = h.from().ok_or(TransactionError::MissingHeader("From"))?;
        let to = h.to().ok_or(TransactionError::MissingHeader("To"))?;
        Ok(TransactionKey(Inner::Rfc2543(Box::new(Rfc2543Key {
            request_uri: req.uri.clone(),
            to_tag: to.tag().map(ByteString::from),
            from_tag: from.tag().map(ByteString::from),
            call_id: call_id.clone(),
            cseq: cseq.seq,
            host: normalize(&via.host),
            port: via.port,
            branch: via.branch().map(ByteString::from),
            method,
        }))))
    }

    /// The client-side key of a request Switchboard sends: top Via branch and method.
    pub fn for_client_request(req: &Request) -> Result<TransactionKey, TransactionError> {
        Ok(TransactionKey(Inner::Client {
            branch: branch(top_via(&req.headers)?)?,
            method: req.method.clone(),
        }))
    }

    /// The client-side key a received response matches (§17.1.3): top Via branch and the
    /// CSeq method.
    pub fn from_response(resp: &Response) -> Result<TransactionKey, TransactionError> {
        let cseq = resp
            .headers
            .cseq()
            .ok_or(TransactionError::MissingHeader("CSeq"))?;
        Ok(TransactionKey(Inner::Client {
            branch: branch(top_via(&resp.headers)?)?,
            method: cseq.method.clone(),
        }))
    }

    /// For the key of a CANCEL, the key of the INVITE transaction it cancels (§9.2): the
    /// same key with method INVITE. `None` when this is not a CANCEL's key.
    pub fn invite_key_for_cancel(&self) -> Option<TransactionKey> {
        if *self.method() != Method::Cancel {
            return None;
        }
        let mut key = self.clone();
        match &mut key.0 {
            Inner::Client { method, .. } | Inner::Server { method, .. } => *method = Method::Invite,
            Inner::Rfc2543(k) => k.method = Method::Invite,
        }
        Some(key)
    }

    /// The method of the transaction (INVITE for an ACK's key).
    pub fn method(&self) -> &Method {
        match &self.0 {
            Inner::Client { method, .. } | Inner::Server { method, .. } => method,
            Inner::Rfc2543(k) => &k.method,
        }
    }

    /// The top Via branch, when there is one.
    pub fn branch(&self) -> Option<&str> {
        match &self.0 {
            Inner::Client { branch, .. } | Inner::Server { branch, .. } => Some(branch),
            Inner::Rfc2543(k) => k.branch.as_deref(),
        }
    }

    /// Whether this is a client-side key.
    pub fn is_client(&self) -> bool {
        matches!(self.0, Inner::Client { .. })
    }

    /// Whether this key uses the RFC 2543 fallback.
    pub fn is_rfc2543(&self) -> bool {
        matches!(self.0, Inner::Rfc2543(_))
    }

    /// The key an ACK carrying `to_tag` has, for an RFC 2543 INVITE whose To had no tag
    /// (the server added it in its response). Other keys are returned unchanged.
    pub(crate) fn with_response_to_tag(&self, to_tag: Option<&str>) -> TransactionKey {
        match (&self.0, to_tag) {
            (Inner::Rfc2543(k), Some(tag)) if k.to_tag.is_none() => {
                let mut k = k.clone();
                k.to_tag = Some(ByteString::from(tag));
                TransactionKey(Inner::Rfc2543(k))
            }
            _ => self.clone(),
        }
    }
}

fn write_sent_by(f: &mut fmt::Formatter<'_>, host: &Host, port: Option<u16>) -> fmt::Result {
    write!(f, "{host}")?;
    match port {
        Some(p) => write!(f, ":{p}"),
        None => Ok(()),
    }
}

impl fmt::Display for TransactionKey {
    /// `client z9hG4bK… INVITE`, `server z9hG4bK… host:port INVITE`, or
    /// `rfc2543 INVITE 56 call-id=… from-tag=… to-tag=… uri=… via=host:port;branch=…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Client { branch, method } => write!(f, "client {branch} {method}"),
            Inner::Server {
                branch,
                host,
                port,
                method,
            } => {
                write!(f, "server {branch} ")?;
                write_sent_by(f, host, *port)?;
                write!(f, " {method}")
            }
            Inner::Rfc2543(k) => {
                write!(f, "rfc2543 {} {} call-id={}", k.method, k.cseq, k.call_id)?;
                let none = "-";
                write!(
                    f,
                    " from-tag={} to-tag={} uri={} via=",
                    k.from_tag.as_deref().unwrap_or(none),
                    k.to_tag.as_deref().unwrap_or(none),
                    k.request_uri
                )?;
                write_sent_by(f, &k.host, k.port)?;
                match &k.branch {
                    Some(b) => write!(f, ";branch={b}"),
                    None => Ok(()),
                }
            }
        }
    }
}
