//! The four-layer event log: what happened to a call, layer by layer.
//!
//! Every event belongs to one of the four layers the whole system speaks (see
//! `docs/ARCHITECTURE.md`): [`Layer::Method`], [`Layer::Transaction`], [`Layer::Dialog`] and
//! [`Layer::Call`]. Producers (the UA core today; the transaction and dialog actors, the call
//! engine, queues and agents later) fill in an [`EventDraft`] and hand it to
//! [`EventBus::publish`], which stamps it with a process-wide sequence number and the time,
//! logs it, keeps it in a ring buffer and fans it out to live subscribers.
//!
//! Consumers:
//!
//! * `GET /api/v1/events?since=SEQ&limit=N` pages through the ring buffer ([`EventBus::since`]).
//! * `GET /api/v1/events/stream` is a Server-Sent Events stream ([`api`]), resumable with
//!   `Last-Event-ID` ([`EventBus::subscribe_since`]).
//! * The persistent store (a later issue) is meant to be one more subscriber: a batching writer
//!   that calls [`EventBus::subscribe_since`] with the last sequence it stored and drains its
//!   [`Subscription`] with [`Subscription::recv`] / [`Subscription::try_recv`].
//!
//! Sequence numbers start at 1 when the process starts; they are not kept across restarts.

pub mod api;
mod bus;

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use bus::{
    DEFAULT_CHANNEL_CAPACITY, DEFAULT_RING_CAPACITY, Delivery, EventBus, EventBusConfig,
    MAX_CAPACITY, Page, Subscription,
};

/// Longest text (in bytes) kept in any string field of an event; longer values are cut at a
/// character boundary. Call-IDs and methods come from the network, and the ring buffer must
/// not become a way to pin megabytes of attacker-chosen text.
pub const MAX_FIELD_LEN: usize = 256;

/// Whether the routine Method and Transaction events (`request_received`, `created`,
/// `state`, `retransmission`) of a request with `method` are published at all. REGISTER's
/// are not, unless the event log's debug level is on (target `switchboard::events`): they
/// are not stored (`persistence::is_persisted`), only logged at debug, and a registrar
/// answers thousands of REGISTERs a second, whose drafts, keys and JSON details cost a
/// good share of its CPU. The registrar's own events (`endpoint_registered`, …) are kept.
pub fn routine_events(method: &sip::Method) -> bool {
    *method != sip::Method::Register
        || tracing::enabled!(target: "switchboard::events", tracing::Level::DEBUG)
}

/// The layer an event belongs to (serialized in lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// What a request asks (`INVITE`, `OPTIONS`, …): one message.
    Method,
    /// One request with its responses, retransmissions and timers (RFC 3261 §17).
    Transaction,
    /// Call-ID plus both tags: the peer-to-peer relationship (RFC 3261 §12).
    Dialog,
    /// The business lifecycle of a call (ringing, connected, queued, transferred, …).
    Call,
}

impl Layer {
    /// The lowercase name, as in JSON and as the SSE `event:` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Method => "method",
            Layer::Transaction => "transaction",
            Layer::Dialog => "dialog",
            Layer::Call => "call",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One published event. Every optional field is present in JSON (as `null` when unset), so
/// consumers see one shape for every layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the process-wide log, assigned by the bus: 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// When the bus accepted the event (UTC; RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Which layer the event belongs to.
    pub layer: Layer,
    /// What happened, within the layer (e.g. `request_received`, `state`); free-form so later
    /// issues can add call, queue and agent events without changing this type.
    pub kind: Option<String>,
    /// The SIP Call-ID (empty when the message had none).
    pub call_id: String,
    /// The transaction key, for transaction-layer events (and others that know it).
    pub transaction: Option<String>,
    /// The dialog id, for dialog-layer events (and others that know it).
    pub dialog: Option<String>,
    /// The SIP method concerned.
    pub method: Option<String>,
    /// The SIP status code concerned.
    pub status: Option<u16>,
    /// State before a transition.
    pub from_state: Option<String>,
    /// State after a transition.
    pub to_state: Option<String>,
    /// Why it happened (a timer, a response, an operator action, an error).
    pub cause: Option<String>,
    /// Anything else, structured (kept as given: producers keep it small).
    pub detail: Option<serde_json::Value>,
}

/// An event before the bus numbers it: everything but `seq` and `time`.
///
/// Build it with [`EventDraft::new`] and the chained setters:
///
/// ```
/// use switchboard::events::{EventDraft, Layer};
/// let draft = EventDraft::new(Layer::Transaction, "a84b4c76e66710")
///     .transaction("z9hG4bK776asdhds/INVITE")
///     .method("INVITE")
///     .transition("proceeding", "completed")
///     .status(486);
/// assert_eq!(draft.to_state.as_deref(), Some("completed"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    /// See [`Event::layer`].
    pub layer: Layer,
    /// See [`Event::kind`].
    pub kind: Option<String>,
    /// See [`Event::call_id`].
    pub call_id: String,
    /// See [`Event::transaction`].
    pub transaction: Option<String>,
    /// See [`Event::dialog`].
    pub dialog: Option<String>,
    /// See [`Event::method`].
    pub method: Option<String>,
    /// See [`Event::status`].
    pub status: Option<u16>,
    /// See [`Event::from_state`].
    pub from_state: Option<String>,
    /// See [`Event::to_state`].
    pub to_state: Option<String>,
    /// See [`Event::cause`].
    pub cause: Option<String>,
    /// See [`Event::detail`].
    pub detail: Option<serde_json::Value>,
}

impl EventDraft {
    /// A draft for `layer` about the call with `call_id`, every other field unset.
    pub fn new(layer: Layer, call_id: impl Into<String>) -> Self {
        EventDraft {
            layer,
            kind: None,
            call_id: call_id.into(),
            transaction: None,
            dialog: None,
            method: None,
            status: None,
            from_state: None,
            to_state: None,
            cause: None,
            detail: None,
        }
    }

    /// Sets [`Event::kind`].
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Sets [`Event::transaction`].
    pub fn transaction(mut self, key: impl Into<String>) -> Self {
        self.transaction = Some(key.into());
        self
    }

    /// Sets [`Event::dialog`].
    pub fn dialog(mut self, id: impl Into<String>) -> Self {
        self.dialog = Some(id.into());
        self
    }

    /// Sets [`Event::method`].
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Sets [`Event::status`].
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets [`Event::from_state`] and [`Event::to_state`].
    pub fn transition(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.from_state = Some(from.into());
        self.to_state = Some(to.into());
        self
    }

    /// Sets [`Event::cause`].
    pub fn cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// Sets [`Event::detail`].
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The event this draft becomes as number `seq` at `time`, with every text field cut to
    /// [`MAX_FIELD_LEN`].
    pub(crate) fn into_event(self, seq: u64, time: OffsetDateTime) -> Event {
        let cut = |s: Option<String>| s.map(truncate);
        Event {
            seq,
            time,
            layer: self.layer,
            kind: cut(self.kind),
            call_id: truncate(self.call_id),
            transaction: cut(self.transaction),
            dialog: cut(self.dialog),
            method: cut(self.method),
            status: self.status,
            from_state: cut(self.from_state),
            to_state: cut(self.to_state),
            cause: cut(self.cause),
            detail: self.detail,
        }
    }
}

/// Cuts `s` to at most [`MAX_FIELD_LEN`] bytes, at a character boundary.
fn truncate(mut s: String) -> String {
    if s.len() > MAX_FIELD_LEN {
        let mut end = MAX_FIELD_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_json_has_lowercase_layer_rfc3339_time_and_nulls() {
        let time = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("valid timestamp");
        let event = EventDraft::new(Layer::Dialog, "abc")
            .dialog("abc;1;2")
            .into_event(7, time);
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["layer"], "dialog");
        assert_eq!(json["time"], "2023-11-14T22:13:20Z");
        assert_eq!(json["dialog"], "abc;1;2");
        assert!(json["transaction"].is_null());
        assert!(json["detail"].is_null());
        let back: Event = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, event);
    }

    #[test]
    fn long_text_fields_are_cut_at_a_char_boundary() {
        let long = "é".repeat(MAX_FIELD_LEN); // two bytes each
        let event = EventDraft::new(Layer::Method, long.clone())
            .cause(long)
            .into_event(1, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(event.call_id.len(), MAX_FIELD_LEN);
        assert!(
            event
                .cause
                .as_deref()
                .is_some_and(|c| c.len() == MAX_FIELD_LEN)
        );
        assert_eq!(truncate("short".into()), "short");
        let odd = format!("a{}", "é".repeat(MAX_FIELD_LEN));
        assert_eq!(truncate(odd).len(), MAX_FIELD_LEN - 1);
    }
}
