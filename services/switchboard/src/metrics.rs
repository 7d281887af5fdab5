//! Prometheus metrics, one registry per server instance (never the global default registry,
//! so tests can run several servers in one process).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `sip_messages_in_total` | counter | `method`, `status_class` |
//! | `sip_messages_out_total` | counter | `method`, `status_class` |
//! | `sip_retransmissions_total` | counter | `direction` (`in`, `out`) |
//! | `sip_transactions_active` | gauge | `kind` ([`TransactionKind`]) |
//! | `sip_transaction_timeouts_total` | counter | `kind` |
//! | `sip_dialogs_active` | gauge | |
//! | `sip_actor_failures_total` | counter | `actor` (`transaction`, `dialog`, `registrar`) |
//! | `sip_requests_received_total`, `sip_responses_sent_total`, `sip_stray_responses_total`, `sip_acks_absorbed_total`, `sip_unparseable_answered_total`, `sip_unparseable_dropped_total`, `sip_framing_errors_total`, `sip_keepalive_pings_total`, `sip_handler_panics_total` | counter | (read from [`SipCounters`] at scrape time) |
//!
//! Message labels: a request has its method and `status_class=""`; a response has the method
//! of its CSeq and `status_class` `1xx` … `6xx`. Methods outside RFC 3261 and its extensions
//! are counted as `other`, so a peer cannot create unbounded label values.

use std::fmt;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use sip::Method;

use crate::stats::{SipCounters, SipCountersSnapshot};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Why metrics could not be set up or rendered.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A metric could not be created or registered (a bug: names are fixed).
    #[error("cannot register metric: {0}")]
    Register(#[source] prometheus::Error),
    /// The text exposition could not be produced.
    #[error("cannot encode metrics: {0}")]
    Encode(#[source] prometheus::Error),
}

/// The four kinds of SIP transaction (RFC 3261 §17), as the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionKind {
    /// INVITE client transaction (§17.1.1).
    InviteClient,
    /// Non-INVITE client transaction (§17.1.2).
    NonInviteClient,
    /// INVITE server transaction (§17.2.1).
    InviteServer,
    /// Non-INVITE server transaction (§17.2.2).
    NonInviteServer,
}

impl TransactionKind {
    /// Every kind, in label order.
    pub const ALL: [TransactionKind; 4] = [
        TransactionKind::InviteClient,
        TransactionKind::NonInviteClient,
        TransactionKind::InviteServer,
        TransactionKind::NonInviteServer,
    ];

    /// The label value, e.g. `invite_client`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::InviteClient => "invite_client",
            TransactionKind::NonInviteClient => "non_invite_client",
            TransactionKind::InviteServer => "invite_server",
            TransactionKind::NonInviteServer => "non_invite_server",
        }
    }
}

/// Which way a retransmission went, as the `direction` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A peer retransmitted to us (absorbed or answered again).
    In,
    /// We retransmitted (a timer fired).
    Out,
}

impl Direction {
    /// The label value: `in` or `out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// The label value for `method`: the token for the methods Switchboard knows, else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match method {
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
        Method::Extension(_) => "other",
    }
}

/// The label value for `status_class`: `""` for a request, `1xx` … `6xx` for a response
/// (`other` for a code outside 100–699).
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        None => "",
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(600..=699) => "6xx",
        Some(_) => "other",
    }
}

/// A cheaply cloneable handle on one server's metrics.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    counters: Arc<SipCounters>,
    messages_in: IntCounterVec,
    messages_out: IntCounterVec,
    retransmissions: IntCounterVec,
    transactions_active: IntGaugeVec,
    transaction_timeouts: IntCounterVec,
    dialogs_active: IntGauge,
    actor_failures: IntCounterVec,
}

/// The `actor` label values of `sip_actor_failures_total`.
pub const SUPERVISED_ACTORS: [&str; 3] = ["transaction", "dialog", "registrar"];

/// Creates a metric and registers it with `registry`.
pub(crate) fn register<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: Result<M, prometheus::Error>,
) -> Result<M, MetricsError> {
    let metric = metric.map_err(MetricsError::Register)?;
    registry
        .register(Box::new(metric.clone()))
        .map_err(MetricsError::Register)?;
    Ok(metric)
}

impl Metrics {
    /// A fresh registry with every metric, also exposing `counters`.
    pub fn new(counters: Arc<SipCounters>) -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let r = &registry;
        let message_labels = &["method", "status_class"];
        let metrics = Metrics {
            inner: Arc::new(Inner {
                messages_in: register(
                    r,
                    IntCounterVec::new(
                        Opts::new("sip_messages_in_total", "SIP messages received and parsed."),
                        message_labels,
                    ),
                )?,
                messages_out: register(
                    r,
                    IntCounterVec::new(
                        Opts::new("sip_messages_out_total", "SIP messages sent."),
                        message_labels,
                    ),
                )?,
                retransmissions: register(
                    r,
                    IntCounterVec::new(
                        Opts::new("sip_retransmissions_total", "SIP retransmissions."),
                        &["direction"],
                    ),
                )?,
                transactions_active: register(
                    r,
                    IntGaugeVec::new(
                        Opts::new("sip_transactions_active", "SIP transactions in progress."),
                        &["kind"],
                    ),
                )?,
                transaction_timeouts: register(
                    r,
                    IntCounterVec::new(
                        Opts::new(
                            "sip_transaction_timeouts_total",
                            "SIP transactions ended by a timeout (Timer B, F or H).",
                        ),
                        &["kind"],
                    ),
                )?,
                dialogs_active: register(
                    r,
                    IntGauge::new("sip_dialogs_active", "SIP dialogs in progress."),
                )?,
                actor_failures: register(
                    r,
                    IntCounterVec::new(
                        Opts::new(
                            "sip_actor_failures_total",
                            "Transaction and dialog actors that panicked and were stopped by their supervisor.",
                        ),
                        &["actor"],
                    ),
                )?,
                counters: counters.clone(),
                registry: registry.clone(),
            }),
        };
        registry
            .register(Box::new(CountersCollector::new(counters)?))
            .map_err(MetricsError::Register)?;
        // Every fixed label value is exported from the start, at 0.
        for kind in TransactionKind::ALL {
            let kind = kind.as_str();
            metrics.inner.transactions_active.with_label_values(&[kind]);
            metrics
                .inner
                .transaction_timeouts
                .with_label_values(&[kind]);
        }
        for actor in SUPERVISED_ACTORS {
            metrics.inner.actor_failures.with_label_values(&[actor]);
        }
        for direction in [Direction::In, Direction::Out] {
            metrics
                .inner
                .retransmissions
                .with_label_values(&[direction.as_str()]);
        }
        Ok(metrics)
    }

    /// The registry, for later modules to register their own metrics in.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The traffic counters this instance exposes.
    pub fn counters(&self) -> &Arc<SipCounters> {
        &self.inner.counters
    }

    /// Counts a message received: a request (`status` `None`) or a response (its status, with
    /// `method` the CSeq method).
    pub fn message_in(&self, method: &Method, status: Option<u16>) {
        self.inner
            .messages_in
            .with_label_values(&[method_label(method), status_class(status)])
            .inc();
    }

    /// Counts a message sent, labelled like [`Metrics::message_in`].
    pub fn message_out(&self, method: &Method, status: Option<u16>) {
        self.inner
            .messages_out
            .with_label_values(&[method_label(method), status_class(status)])
            .inc();
    }

    /// Counts one retransmission.
    pub fn retransmission(&self, direction: Direction) {
        self.inner
            .retransmissions
            .with_label_values(&[direction.as_str()])
            .inc();
    }

    /// A transaction of `kind` started (pair with [`Metrics::transaction_ended`]).
    pub fn transaction_started(&self, kind: TransactionKind) {
        self.inner
            .transactions_active
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// A transaction of `kind` ended, however it ended (a timeout also calls
    /// [`Metrics::transaction_timeout`]).
    pub fn transaction_ended(&self, kind: TransactionKind) {
        self.inner
            .transactions_active
            .with_label_values(&[kind.as_str()])
            .dec();
    }

    /// A transaction of `kind` timed out.
    pub fn transaction_timeout(&self, kind: TransactionKind) {
        self.inner
            .transaction_timeouts
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// A dialog was created (pair with [`Metrics::dialog_ended`]).
    pub fn dialog_started(&self) {
        self.inner.dialogs_active.inc();
    }

    /// A dialog ended.
    pub fn dialog_ended(&self) {
        self.inner.dialogs_active.dec();
    }

    /// A supervised actor (`actor` is `transaction` or `dialog`) panicked and was stopped.
    pub fn actor_failed(&self, actor: &'static str) {
        self.inner.actor_failures.with_label_values(&[actor]).inc();
    }

    /// Every metric in the Prometheus text exposition format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.inner.registry.gather(), &mut out)
            .map_err(MetricsError::Encode)?;
        // The text encoder only writes UTF-8.
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Name, help and reader of each [`SipCounters`] field exposed as a counter.
type CounterField = (&'static str, &'static str, fn(&SipCountersSnapshot) -> u64);

const COUNTER_FIELDS: [CounterField; 9] = [
    (
        "sip_requests_received_total",
        "Requests that parsed and were handled.",
        |s| s.requests_received,
    ),
    (
        "sip_responses_sent_total",
        "Responses sent by the UA core.",
        |s| s.responses_sent,
    ),
    (
        "sip_stray_responses_total",
        "Responses dropped because no client transaction matched.",
        |s| s.stray_responses,
    ),
    (
        "sip_acks_absorbed_total",
        "ACKs absorbed (never answered).",
        |s| s.acks_absorbed,
    ),
    (
        "sip_unparseable_answered_total",
        "Unparseable requests answered (400 or 505) from their raw headers.",
        |s| s.unparseable_answered,
    ),
    (
        "sip_unparseable_dropped_total",
        "Unparseable or unanswerable messages dropped.",
        |s| s.unparseable_dropped,
    ),
    (
        "sip_framing_errors_total",
        "TCP streams closed because they could not be framed.",
        |s| s.framing_errors,
    ),
    (
        "sip_keepalive_pings_total",
        "TCP keep-alive pings (CRLFCRLF) answered.",
        |s| s.keepalive_pings,
    ),
    (
        "sip_handler_panics_total",
        "Messages whose handling panicked (a bug; the message was dropped).",
        |s| s.handler_panics,
    ),
];

/// Exposes [`SipCounters`] as Prometheus counters, read at scrape time.
struct CountersCollector {
    counters: Arc<SipCounters>,
    descs: Vec<Desc>,
}

impl CountersCollector {
    fn new(counters: Arc<SipCounters>) -> Result<Self, MetricsError> {
        let descs = COUNTER_FIELDS
            .iter()
            .map(|(name, help, _)| {
                Desc::new(
                    (*name).to_owned(),
                    (*help).to_owned(),
                    Vec::new(),
                    Default::default(),
                )
            })
            .collect::<Result<_, _>>()
            .map_err(MetricsError::Register)?;
        Ok(CountersCollector { counters, descs })
    }
}

impl Collector for CountersCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = self.counters.snapshot();
        COUNTER_FIELDS
            .iter()
            .map(|(name, help, read)| {
                let mut counter = proto::Counter::default();
                // Exact below 2^53, far beyond any realistic count.
                counter.set_value(read(&snapshot) as f64);
                let mut metric = proto::Metric::default();
                metric.set_counter(counter);
                let mut family = MetricFamily::default();
                family.set_name((*name).to_owned());
                family.set_help((*help).to_owned());
                family.set_field_type(MetricType::COUNTER);
                family.set_metric(vec![metric]);
                family
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        Metrics::new(Arc::new(SipCounters::default())).expect("metrics register")
    }

    /// The value of the sample line starting with `prefix` (name and labels).
    fn sample(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse().ok())
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label(&Method::Options), "OPTIONS");
        assert_eq!(method_label(&Method::from_token("FOO")), "other");
        assert_eq!(status_class(None), "");
        assert_eq!(status_class(Some(180)), "1xx");
        assert_eq!(status_class(Some(603)), "6xx");
        assert_eq!(status_class(Some(99)), "other");
        assert_eq!(status_class(Some(700)), "other");
    }

    #[test]
    fn render_exposes_every_metric_with_fixed_labels_from_the_start() {
        let text = metrics().render().expect("renders");
        for kind in TransactionKind::ALL {
            let line = format!("sip_transactions_active{{kind=\"{}\"}}", kind.as_str());
            assert_eq!(sample(&text, &line), Some(0.0), "{line} in\n{text}");
        }
        assert_eq!(
            sample(&text, "sip_retransmissions_total{direction=\"out\"}"),
            Some(0.0)
        );
        assert_eq!(sample(&text, "sip_dialogs_active"), Some(0.0));
        for actor in SUPERVISED_ACTORS {
            let line = format!("sip_actor_failures_total{{actor=\"{actor}\"}}");
            assert_eq!(sample(&text, &line), Some(0.0), "{line} in\n{text}");
        }
        for (name, _, _) in COUNTER_FIELDS {
            assert_eq!(sample(&text, name), Some(0.0), "{name} in\n{text}");
            assert!(text.contains(&format!("# TYPE {name} counter")));
        }
    }

    #[test]
    fn handle_methods_move_the_right_series() {
        let m = metrics();
        m.message_in(&Method::Options, None);
        m.message_in(&Method::Options, None);
        m.message_in(&Method::Invite, Some(180));
        m.message_out(&Method::Invite, Some(486));
        m.message_out(&Method::from_token("X-CUSTOM"), Some(501));
        m.retransmission(Direction::In);
        m.transaction_started(TransactionKind::InviteServer);
        m.transaction_started(TransactionKind::InviteServer);
        m.transaction_ended(TransactionKind::InviteServer);
        m.transaction_timeout(TransactionKind::NonInviteClient);
        m.dialog_started();
        m.dialog_started();
        m.dialog_ended();
        m.actor_failed("transaction");
        SipCounters::bump(&m.counters().handler_panics);

        let text = m.render().expect("renders");
        let expect = [
            (
                "sip_messages_in_total{method=\"OPTIONS\",status_class=\"\"}",
                2.0,
            ),
            (
                "sip_messages_in_total{method=\"INVITE\",status_class=\"1xx\"}",
                1.0,
            ),
            (
                "sip_messages_out_total{method=\"INVITE\",status_class=\"4xx\"}",
                1.0,
            ),
            (
                "sip_messages_out_total{method=\"other\",status_class=\"5xx\"}",
                1.0,
            ),
            ("sip_retransmissions_total{direction=\"in\"}", 1.0),
            ("sip_transactions_active{kind=\"invite_server\"}", 1.0),
            (
                "sip_transaction_timeouts_total{kind=\"non_invite_client\"}",
                1.0,
            ),
            ("sip_dialogs_active", 1.0),
            ("sip_actor_failures_total{actor=\"transaction\"}", 1.0),
            ("sip_handler_panics_total", 1.0),
        ];
        for (line, value) in expect {
            assert_eq!(sample(&text, line), Some(value), "{line} in\n{text}");
        }
    }

    #[test]
    fn each_instance_has_its_own_registry() {
        let (a, b) = (metrics(), metrics());
        a.dialog_started();
        assert_eq!(
            sample(&b.render().expect("renders"), "sip_dialogs_active"),
            Some(0.0)
        );
        assert_eq!(
            sample(&a.render().expect("renders"), "sip_dialogs_active"),
            Some(1.0)
        );
    }
}
