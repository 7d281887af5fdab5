//! The sans-IO front of the SIP stack and the out-of-dialog UAS checks (RFC 3261 §8.2).
//!
//! [`UaCore::ingest`] takes one inbound message (bytes, source address, transport) and either
//! answers it statelessly (a request that does not parse or lacks a mandatory header gets a
//! salvaged 400 or 505; what cannot be answered is dropped) or hands back the typed request
//! (top Via stamped with `received`/`rport`) or response for the transaction layer.
//! [`UaCore::check`] and [`UaCore::answer`] decide the answer to a request that reached the
//! user agent through its server transaction. No sockets, no clock, no runtime: the module is
//! unit-tested with plain byte strings ([`UaCore::handle`] composes the steps into the
//! stateless answer those tests drive).
//!
//! Checks run in the order RFC 3261 §8.2 gives them: parse, mandatory headers, method
//! (§8.2.1), Request-URI scheme (§8.2.2.1), Require (§8.2.2.3), content (§8.2.3), then the
//! method itself.

pub mod outgoing;
mod salvage;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use sip::{
    Header, HeaderName, MediaType, Method, ParseError, Request, Response, SipMessage, parse_raw,
    parse_typed,
};
use tracing::{debug, warn};

use crate::events::{EventBus, EventDraft, Layer};
use crate::metrics::Metrics;
use crate::stats::SipCounters;

/// The methods Switchboard handles today (the `Allow` header). INFO is taken within a dialog
/// only, for DTMF (RFC 6086 legacy use); outside one it gets 481 like any other request that
/// names no dialog.
pub const ALLOWED_METHODS: [Method; 7] = [
    Method::Invite,
    Method::Ack,
    Method::Cancel,
    Method::Bye,
    Method::Options,
    Method::Register,
    Method::Info,
];

/// The option tags Switchboard supports (the `Supported` header; a `Require` naming one of
/// them is accepted): `path` (RFC 3327), for REGISTERs that came through an edge proxy.
pub const SUPPORTED_OPTIONS: [&str; 1] = ["path"];

/// The SIP transports Switchboard listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// One datagram is one message.
    Udp,
    /// A byte stream cut into messages by Content-Length.
    Tcp,
}

impl TransportKind {
    /// Lower-case name, as used in logs and `/health`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message as it arrived: a UDP datagram or one TCP frame.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The message bytes.
    pub bytes: Bytes,
    /// Where it came from (the UDP source or the TCP peer).
    pub source: SocketAddr,
    /// The transport it came over.
    pub transport: TransportKind,
}

/// Bytes to send, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// Transport to send over.
    pub transport: TransportKind,
    /// UDP: the datagram's destination. TCP: the peer of the connection to write to.
    pub destination: SocketAddr,
    /// The serialized message.
    pub bytes: Bytes,
}

/// What the transport layer must do after the core handled a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a message.
    Send(Outbound),
}

/// What [`UaCore::ingest`] made of one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingested {
    /// Handled statelessly: send these (a salvaged 400/505, or nothing when dropped).
    Done(Vec<Action>),
    /// A request that parsed and has every mandatory header, its top Via stamped with
    /// `received`/`rport` (RFC 3261 §18.2.1): for the transaction layer.
    Request(Request),
    /// A response that parsed: for the transaction layer.
    Response(Response),
}

/// The out-of-dialog user-agent server: turns inbound messages into responses.
///
/// Optionally it counts messages into [`Metrics`] and publishes one Method-layer event per
/// request received to an [`EventBus`]; both are plain handles, so the core stays free of IO.
#[derive(Debug)]
pub struct UaCore {
    counters: Arc<SipCounters>,
    server: ByteString,
    metrics: Option<Metrics>,
    events: Option<EventBus>,
}

/// The body type of every request but INFO.
fn sdp() -> MediaType {
    MediaType::new("application", "sdp")
}

/// The body types a request with `method` may carry (§8.2.3; a 415 lists them in Accept):
/// the two DTMF bodies in INFO (what Cisco and Asterisk send without an Info-Package), SDP
/// in everything else.
pub fn accepted_types(method: &Method) -> Vec<MediaType> {
    match method {
        Method::Info => vec![
            MediaType::new("application", "dtmf-relay"),
            MediaType::new("application", "dtmf"),
        ],
        _ => vec![sdp()],
    }
}

/// A fresh random tag (To tags of our responses, From tags of our requests).
pub fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A response to `req` with a fresh To tag (above 100, when To has none) and the `Server`
/// header: the shape of every response Switchboard builds itself.
pub fn response_to(req: &Request, status: u16) -> Response {
    let tag = (status > 100).then(new_tag);
    Response::from_request(req, status, tag.as_deref())
        .with_header(Header::Server(ByteString::from_static(crate::SERVER_NAME)))
}

impl UaCore {
    /// A core that counts into `counters`.
    pub fn new(counters: Arc<SipCounters>) -> Self {
        UaCore {
            counters,
            server: ByteString::from_static(crate::SERVER_NAME),
            metrics: None,
            events: None,
        }
    }

    /// Also counts every message received and sent into `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Also publishes a Method-layer event for every request received to `events`.
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = Some(events);
        self
    }

    /// The counters this core updates.
    pub fn counters(&self) -> &Arc<SipCounters> {
        &self.counters
    }

    /// The metrics this core counts into, if any.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// The event bus this core publishes to, if any.
    pub fn events(&self) -> Option<&EventBus> {
        self.events.as_ref()
    }

    /// Parses one inbound message: answers it statelessly when it cannot go further, else
    /// returns the typed request or response. Counts it, and publishes the Method-layer event
    /// of a request. Never panics on input.
    pub fn ingest(&self, inbound: &Inbound) -> Ingested {
        let raw = match parse_raw(&inbound.bytes) {
            Ok(raw) => raw,
            Err(e) => {
                SipCounters::bump(&self.counters.unparseable_dropped);
                warn!(
                    peer = %inbound.source,
                    transport = %inbound.transport,
                    len = inbound.bytes.len(),
                    error = %e,
                    "sip in: dropped unparseable message (no header section)"
                );
                return Ingested::Done(Vec::new());
            }
        };
        match parse_typed(&raw) {
            Ok(SipMessage::Request(req)) => self.on_request(req, inbound),
            Ok(SipMessage::Response(resp)) => {
                if let (Some(metrics), Some(cseq)) = (&self.metrics, resp.headers.cseq()) {
                    metrics.message_in(&cseq.method, Some(resp.status));
                }
                debug!(
                    status = resp.status,
                    call_id = resp.headers.call_id().map(|c| c.as_ref()).unwrap_or("-"),
                    cseq = %display_cseq(&resp.headers),
                    branch = top_branch(&resp.headers),
                    peer = %inbound.source,
                    transport = %inbound.transport,
                    "sip in"
                );
                Ingested::Response(resp)
            }
            Err(e) => Ingested::Done(self.on_unparseable(&raw, &e, inbound)),
        }
    }

    /// The stateless answer to one message, without transactions: [`UaCore::ingest`], then
    /// [`UaCore::answer`] for a request (an ACK is absorbed, a response is a stray). The
    /// server sends requests through transactions instead; this composition is what the unit
    /// tests of the checks drive.
    pub fn handle(&self, inbound: &Inbound) -> Vec<Action> {
        match self.ingest(inbound) {
            Ingested::Done(actions) => actions,
            Ingested::Response(resp) => {
                SipCounters::bump(&self.counters.stray_responses);
                warn!(
                    status = resp.status,
                    call_id = resp.headers.call_id().map(|c| c.as_ref()).unwrap_or("-"),
                    peer = %inbound.source,
                    "sip in: dropped stray response (no client transaction)"
                );
                Vec::new()
            }
            Ingested::Request(req) if req.method == Method::Ack => {
                SipCounters::bump(&self.counters.acks_absorbed);
                Vec::new()
            }
            Ingested::Request(req) => {
                let response = self.answer(&req);
                self.send(response, &req, inbound)
            }
        }
    }

    /// Answers (or drops) a request whose TCP stream could not be framed, from its head bytes.
    ///
    /// `status` is 400 for an ambiguous Content-Length and 513 for an oversized message.
    pub fn reject_unframeable(
        &self,
        head: &Bytes,
        status: u16,
        reason: &str,
        source: SocketAddr,
        transport: TransportKind,
    ) -> Vec<Action> {
        match parse_raw(head) {
            Ok(raw) => self.salvage(&raw, status, reason, source, transport),
            Err(_) => {
                SipCounters::bump(&self.counters.unparseable_dropped);
                warn!(peer = %source, %transport, %reason, "sip in: unframeable stream; nothing to answer");
                Vec::new()
            }
        }
    }

    fn on_unparseable(
        &self,
        raw: &sip::RawMessage,
        error: &ParseError,
        inbound: &Inbound,
    ) -> Vec<Action> {
        let status = match error.kind {
            sip::ParseErrorKind::UnsupportedVersion => 505,
            _ => 400,
        };
        self.salvage(
            raw,
            status,
            &error.reason_phrase(),
            inbound.source,
            inbound.transport,
        )
    }

    fn on_request(&self, mut req: Request, inbound: &Inbound) -> Ingested {
        SipCounters::bump(&self.counters.requests_received);
        if let Some(metrics) = &self.metrics {
            metrics.message_in(&req.method, None);
        }
        self.publish_request(&req, inbound);
        debug!(
            method = %req.method,
            call_id = req.headers.call_id().map(|c| c.as_ref()).unwrap_or("-"),
            cseq = %display_cseq(&req.headers),
            branch = top_branch(&req.headers),
            peer = %inbound.source,
            transport = %inbound.transport,
            len = inbound.bytes.len(),
            "sip in"
        );
        // §18.2.1: stamp received/rport first, so every response copies them.
        match req.headers.top_via_mut() {
            Some(via) => sip::routing::stamp_received(via, inbound.source),
            None => {
                SipCounters::bump(&self.counters.unparseable_dropped);
                warn!(
                    peer = %inbound.source,
                    transport = %inbound.transport,
                    "sip in: dropped request without Via (no way to answer)"
                );
                return Ingested::Done(Vec::new());
            }
        }
        if let Err(kind) = req.validate() {
            // RFC 3261 §17.2.1: an ACK is never answered, valid or not.
            if req.method == Method::Ack {
                SipCounters::bump(&self.counters.acks_absorbed);
                debug!(peer = %inbound.source, "sip in: malformed ACK absorbed");
                return Ingested::Done(Vec::new());
            }
            // Without its mandatory headers a request has no transaction key: it gets its 400
            // statelessly, like one that does not parse.
            let reason = ParseError::new(0, kind).reason_phrase();
            let response = self.response(&req, 400).with_reason(&reason);
            return Ingested::Done(self.send(response, &req, inbound));
        }
        Ingested::Request(req)
    }

    /// The §8.2 checks a request passes before its method is considered: method (§8.2.1:
    /// 405 or 501 with Allow), Request-URI scheme (§8.2.2.1: 416), Require (§8.2.2.3: 420
    /// with Unsupported; not for CANCEL), content (§8.2.3: 415 with Accept or
    /// Accept-Encoding) and, for INVITE, an Accept that admits the SDP answer (406).
    pub fn check(&self, req: &Request) -> Result<(), Response> {
        // §8.2.1: method inspection.
        if !ALLOWED_METHODS.contains(&req.method) {
            let status = match req.method {
                Method::Extension(_) => 501,
                _ => 405,
            };
            return Err(self.response(req, status).with_header(allow()));
        }
        // §8.2.2.1: Request-URI scheme.
        let scheme = req.uri.scheme();
        if !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
            return Err(self.response(req, 416));
        }
        // §8.2.2.3: Require (ignored in CANCEL; Proxy-Require is for proxies).
        if req.method != Method::Cancel {
            let unsupported: Vec<ByteString> = req
                .headers
                .require()
                .filter(|tag| {
                    !SUPPORTED_OPTIONS
                        .iter()
                        .any(|s| tag.eq_ignore_ascii_case(s))
                })
                .cloned()
                .collect();
            if !unsupported.is_empty() {
                return Err(self
                    .response(req, 420)
                    .with_header(Header::Unsupported(unsupported)));
            }
        }
        // §8.2.3: content processing.
        if let Some(ct) = req.headers.content_type() {
            let accepted = accepted_types(&req.method);
            if !accepted.iter().any(|t| ct.is(&t.kind, &t.subtype)) {
                return Err(self
                    .response(req, 415)
                    .with_header(Header::Accept(accepted)));
            }
        }
        if content_encodings(req).any(|e| !e.eq_ignore_ascii_case("identity")) {
            return Err(self.response(req, 415).with_header(Header::Other {
                name: HeaderName::AcceptEncoding,
                value: Bytes::from_static(b"identity"),
            }));
        }
        // RFC 4475 §3.3.15 (sdp01): an INVITE must accept the SDP answer.
        if req.method == Method::Invite
            && let Some(accept) = req.headers.accept()
            && !accept.iter().any(|range| range.covers(&sdp()))
        {
            return Err(self
                .response(req, 406)
                .with_header(Header::Accept(vec![sdp()])));
        }
        Ok(())
    }

    /// The default answer to a request outside any dialog: a §8.2 rejection
    /// ([`UaCore::check`]), else 200 with the capabilities for OPTIONS, 404 for INVITE (no
    /// such user; the user agent actor answers the `echo` extension before asking this) and
    /// 481 for anything else (it names a dialog or transaction that does not exist).
    pub fn answer(&self, req: &Request) -> Response {
        if let Err(rejection) = self.check(req) {
            return rejection;
        }
        match req.method {
            Method::Options => self.options_ok(req),
            Method::Invite => self.response(req, 404),
            _ => self.response(req, 481),
        }
    }

    /// 200 to OPTIONS with Allow, Accept and Supported (RFC 3261 §11.2).
    pub fn options_ok(&self, req: &Request) -> Response {
        self.response(req, 200)
            .with_header(allow())
            .with_header(Header::Accept(vec![sdp()]))
            .with_header(supported())
    }

    /// A response to `req` with a fresh To tag and the Server header.
    pub fn response(&self, req: &Request, status: u16) -> Response {
        let tag = (status > 100).then(new_tag);
        Response::from_request(req, status, tag.as_deref())
            .with_header(Header::Server(self.server.clone()))
    }

    fn send(&self, response: Response, req: &Request, inbound: &Inbound) -> Vec<Action> {
        let destination = match (inbound.transport, req.headers.top_via()) {
            (TransportKind::Udp, Some(via)) => {
                sip::routing::response_destination(via, inbound.source)
            }
            _ => inbound.source,
        };
        SipCounters::bump(&self.counters.responses_sent);
        if let Some(metrics) = &self.metrics {
            let method = response.headers.cseq().map_or(&req.method, |c| &c.method);
            metrics.message_out(method, Some(response.status));
        }
        debug!(
            status = response.status,
            reason = %response.reason,
            method = %req.method,
            call_id = response.headers.call_id().map(|c| c.as_ref()).unwrap_or("-"),
            cseq = %display_cseq(&response.headers),
            branch = top_branch(&response.headers),
            peer = %destination,
            transport = %inbound.transport,
            "sip out"
        );
        vec![Action::Send(Outbound {
            transport: inbound.transport,
            destination,
            bytes: response.to_bytes(),
        })]
    }

    /// Publishes the Method-layer event for a request received (kind `request_received`).
    fn publish_request(&self, req: &Request, inbound: &Inbound) {
        let Some(events) = &self.events else {
            return;
        };
        if !crate::events::routine_events(&req.method) {
            return;
        }
        let call_id = req.headers.call_id().map_or("", |c| c.as_ref());
        let mut detail = serde_json::json!({
            "transport": inbound.transport.as_str(),
            "peer": inbound.source.to_string(),
        });
        if let Some(cseq) = req.headers.cseq() {
            detail["cseq"] = cseq.seq.into();
        }
        events.publish(
            EventDraft::new(Layer::Method, call_id)
                .kind("request_received")
                .method(req.method.as_str())
                .detail(detail),
        );
    }
}

/// `Warning: 399 <agent> "<why>"` (RFC 3261 §20.43: miscellaneous warning), saying why
/// Switchboard refused a request; double quotes in `why` become single ones.
pub fn warning_399(agent: &str, why: &str) -> Header {
    Header::Warning(vec![sip::Warning {
        code: 399,
        agent: ByteString::from(agent.to_owned()),
        text: ByteString::from(format!("\"{}\"", why.replace('"', "'"))),
    }])
}

/// `Supported: path`.
pub fn supported() -> Header {
    Header::Supported(
        SUPPORTED_OPTIONS
            .iter()
            .map(|s| ByteString::from_static(s))
            .collect(),
    )
}

/// `Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO`.
pub fn allow() -> Header {
    Header::Allow(ALLOWED_METHODS.to_vec())
}

/// Every Content-Encoding token of a request.
fn content_encodings(req: &Request) -> impl Iterator<Item = &ByteString> {
    req.headers
        .iter()
        .filter_map(|h| match h {
            Header::ContentEncoding(v) => Some(v.iter()),
            _ => None,
        })
        .flatten()
}

/// The CSeq as text for logs, `-` when absent.
fn display_cseq(headers: &sip::Headers) -> String {
    headers
        .cseq()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// The top Via's branch for logs, `-` when absent.
fn top_branch(headers: &sip::Headers) -> &str {
    headers.top_via().and_then(|v| v.branch()).unwrap_or("-")
}
