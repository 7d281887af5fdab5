//! Answering requests that do not parse (RFC 3261 §8.2.6 with §16.3's spirit): the response is
//! built from the raw Via, From, To, Call-ID and CSeq lines, copied byte for byte.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use sip::{Header, HeaderName, RawHeader, RawMessage, reason_phrase};
use tracing::{debug, warn};

use super::{Action, Outbound, TransportKind, UaCore, new_tag};
use crate::stats::SipCounters;

/// Header names copied into a salvaged response.
const COPIED: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

impl UaCore {
    /// Answers a raw request with `status` and `reason`, or drops what cannot be answered
    /// (responses, ACKs, requests without Via).
    pub(super) fn salvage(
        &self,
        raw: &RawMessage,
        status: u16,
        reason: &str,
        source: SocketAddr,
        transport: TransportKind,
    ) -> Vec<Action> {
        let method = raw
            .start_line
            .split(|&c| c == b' ')
            .next()
            .unwrap_or_default();
        let via_name = HeaderName::Via;
        let Some(top_via) = raw.named(&via_name).next() else {
            return self.drop_unanswerable(raw, reason, source, transport, "no Via");
        };
        if raw.is_response() {
            return self.drop_unanswerable(raw, reason, source, transport, "a response");
        }
        if method == b"ACK" {
            SipCounters::bump(&self.counters.acks_absorbed);
            debug!(peer = %source, %transport, %reason, "sip in: unparseable ACK absorbed");
            return Vec::new();
        }

        let reason = if reason.is_empty() {
            reason_phrase(status)
        } else {
            reason
        };
        let mut out = BytesMut::with_capacity(512);
        out.put_slice(format!("SIP/2.0 {status} {reason}\r\n").as_bytes());
        for h in &raw.headers {
            let Some(name) = HeaderName::from_bytes(&h.name) else {
                continue;
            };
            if !COPIED.iter().any(|c| c.matches(&name)) {
                continue;
            }
            out.put_slice(&raw_line(raw, h));
            if name.matches(&HeaderName::To) && needs_tag(h) {
                out.put_slice(b";tag=");
                out.put_slice(new_tag().as_bytes());
            }
            out.put_slice(b"\r\n");
        }
        out.put_slice(format!("Server: {}\r\nContent-Length: 0\r\n\r\n", self.server).as_bytes());

        // UDP: to the source address, at the port the top Via asks for (never a named host).
        let destination = match transport {
            TransportKind::Udp => match Header::parse(&raw_line(raw, top_via)) {
                Ok(Header::Via(v)) => v.first().map_or(source, |via| {
                    sip::routing::response_destination(via, source)
                }),
                _ => source,
            },
            TransportKind::Tcp => source,
        };
        SipCounters::bump(&self.counters.unparseable_answered);
        SipCounters::bump(&self.counters.responses_sent);
        if let Some(metrics) = &self.metrics {
            let token = std::str::from_utf8(method).unwrap_or_default();
            metrics.message_out(&sip::Method::from_token(token), Some(status));
        }
        warn!(
            status,
            %reason,
            method = %String::from_utf8_lossy(method),
            call_id = %raw_value(raw, HeaderName::CallId),
            cseq = %raw_value(raw, HeaderName::CSeq),
            via = %String::from_utf8_lossy(&top_via.value),
            peer = %destination,
            %transport,
            "sip out: answered unparseable request"
        );
        vec![Action::Send(Outbound {
            transport,
            destination,
            bytes: out.freeze(),
        })]
    }

    fn drop_unanswerable(
        &self,
        raw: &RawMessage,
        reason: &str,
        source: SocketAddr,
        transport: TransportKind,
        why: &str,
    ) -> Vec<Action> {
        SipCounters::bump(&self.counters.unparseable_dropped);
        warn!(
            peer = %source,
            %transport,
            %reason,
            start_line = %String::from_utf8_lossy(&raw.start_line),
            "sip in: dropped unparseable message ({why})"
        );
        Vec::new()
    }
}

/// The whole header line as received (name, colon, value), without its line ending.
fn raw_line(raw: &RawMessage, h: &RawHeader) -> Bytes {
    let input = raw.input.as_ptr() as usize;
    let start = (h.name.as_ptr() as usize).checked_sub(input);
    let end = h.value_offset + h.value.len();
    match start {
        Some(start) if start < end && end <= raw.input.len() => raw.input.slice(start..end),
        // Not a slice of the input: rebuild the line from its parts.
        _ => {
            let mut line = BytesMut::with_capacity(h.name.len() + 2 + h.value.len());
            line.put_slice(&h.name);
            line.put_slice(b": ");
            line.put_slice(&h.value);
            line.freeze()
        }
    }
}

/// The first raw value of header `name`, for logs (`-` when absent).
fn raw_value(raw: &RawMessage, name: HeaderName) -> String {
    raw.named(&name).next().map_or_else(
        || "-".to_owned(),
        |h| String::from_utf8_lossy(&h.value).into_owned(),
    )
}

/// Whether a raw To line has no tag yet and parses well enough to take one.
fn needs_tag(h: &RawHeader) -> bool {
    let mut line = BytesMut::with_capacity(4 + h.value.len());
    line.put_slice(b"To: ");
    line.put_slice(&h.value);
    matches!(Header::parse(&line), Ok(Header::To(to)) if to.tag().is_none())
}
