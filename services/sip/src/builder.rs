//! Building messages: responses from requests (RFC 3261 §8.2.6) and new requests (§8.1.1).

use bytes::Bytes;
use bytestring::ByteString;

use crate::header::{CSeq, Contact, Header, HeaderName, Headers, MediaType, NameAddr, Via};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::uri::Uri;

/// The standard reason phrase for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match status / 100 {
            1 => "Progress",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

impl Response {
    /// A response to `req` per §8.2.6: Via, From, To, Call-ID and CSeq copied, a To tag added
    /// (when `to_tag` is given, the status is above 100 and To has none), Content-Length 0.
    pub fn from_request(req: &Request, status: u16, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::with_capacity(8);
        for h in req.headers.iter() {
            match h {
                Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                    headers.push(h.clone())
                }
                Header::To(to) => {
                    let mut to = to.clone();
                    if let Some(tag) = to_tag.filter(|_| status > 100 && to.tag().is_none()) {
                        to.params.set("tag", Some(tag));
                    }
                    headers.push(Header::To(to));
                }
                // §8.2.6.1: a 100 Trying echoes Timestamp.
                Header::Timestamp(_) if status == 100 => headers.push(h.clone()),
                _ => {}
            }
        }
        headers.push(Header::ContentLength(0));
        Response {
            status,
            reason: ByteString::from_static(reason_phrase(status)),
            headers,
            body: Bytes::new(),
        }
    }

    /// Replaces the reason phrase.
    pub fn with_reason(mut self, reason: &str) -> Response {
        self.reason = ByteString::from(reason);
        self
    }

    /// Adds a header before Content-Length.
    pub fn with_header(mut self, h: Header) -> Response {
        insert_before_length(&mut self.headers, h);
        self
    }

    /// Sets the body and its Content-Type and Content-Length.
    pub fn with_body(mut self, content_type: MediaType, body: Bytes) -> Response {
        set_body(&mut self.headers, content_type, body.len());
        self.body = body;
        self
    }
}

fn insert_before_length(headers: &mut Headers, h: Header) {
    match headers
        .0
        .iter()
        .position(|x| matches!(x, Header::ContentLength(_)))
    {
        Some(k) => headers.as_mut_vec().insert(k, h),
        None => headers.push(h),
    }
}

fn set_body(headers: &mut Headers, content_type: MediaType, len: usize) {
    headers.remove(&HeaderName::ContentType);
    headers.remove(&HeaderName::ContentLength);
    headers.push(Header::ContentType(content_type));
    headers.push(Header::ContentLength(
        u32::try_from(len).unwrap_or(u32::MAX),
    ));
}

/// Builds a new request (§8.1.1): the caller supplies branch, tags and Call-ID.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    request: Request,
}

impl RequestBuilder {
    /// Starts a request with Max-Forwards 70.
    pub fn new(method: Method, uri: Uri) -> Self {
        RequestBuilder {
            request: Request {
                method,
                uri,
                headers: Headers(std::sync::Arc::new(vec![Header::MaxForwards(70)])),
                body: Bytes::new(),
            },
        }
    }

    /// Adds a Via (call once per hop, top first).
    pub fn via(mut self, via: Via) -> Self {
        self.request.headers.push(Header::Via(vec![via]));
        self
    }

    /// Sets From.
    pub fn from(mut self, from: NameAddr) -> Self {
        self.request.headers.set(Header::From(from));
        self
    }

    /// Sets To.
    pub fn to(mut self, to: NameAddr) -> Self {
        self.request.headers.set(Header::To(to));
        self
    }

    /// Sets Call-ID.
    pub fn call_id(mut self, call_id: &str) -> Self {
        self.request
            .headers
            .set(Header::CallId(ByteString::from(call_id)));
        self
    }

    /// Sets CSeq with this request's method.
    pub fn cseq(mut self, seq: u32) -> Self {
        let method = self.request.method.clone();
        self.request.headers.set(Header::CSeq(CSeq { seq, method }));
        self
    }

    /// Sets Contact.
    pub fn contact(mut self, contact: NameAddr) -> Self {
        self.request
            .headers
            .set(Header::Contact(Contact::Addresses(vec![contact])));
        self
    }

    /// Adds any header.
    pub fn header(mut self, h: Header) -> Self {
        self.request.headers.push(h);
        self
    }

    /// Sets the body with its Content-Type.
    pub fn body(mut self, content_type: MediaType, body: Bytes) -> Self {
        set_body(&mut self.request.headers, content_type, body.len());
        self.request.body = body;
        self
    }

    /// Finishes the request, adding Content-Length 0 when there is no body.
    pub fn build(mut self) -> Request {
        if self.request.headers.content_length().is_none() {
            self.request.headers.push(Header::ContentLength(0));
        }
        self.request
    }
}
