//! The SIP stack's actors wired together, and the handles they share.
//!
//! ```text
//! transports ──Incoming──▶ TransactionLayer ──▶ TransactionActor (one per transaction)
//!                                 │                  │ TxEvent (deliver, timeout, …)
//!                                 │                  ▼
//!                                 │         UserAgent (no To tag) │ DialogSupervisor (To tag)
//!                                 │            └─ REGISTER ──▶ RegistrarActor   └──▶ DialogActor
//!                                 └── ACK for 2xx, stray responses ──▶ DialogSupervisor
//! ```
//!
//! [`SipStack::start`] creates the actors on the current arbiter; the transport actors get
//! [`SipStack::incoming`] to hand every parsed message to.

use std::net::SocketAddr;
use std::sync::Arc;

use actix::{Actor, Addr, AsyncContext, Context, Recipient};
use sip::SipMessage;
use sip::transaction::TransactionConfig;
use tracing::debug;

use crate::dialog_layer::{DialogSupervisor, Dialogs};
use crate::echo::EchoConfig;
use crate::events::{EventBus, EventDraft};
use crate::metrics::Metrics;
use crate::registrar::{RegistrarActor, RegistrarSetup};
use crate::stats::SipCounters;
use crate::transaction_layer::{Incoming, Routes, TransactionLayer};
use crate::transport::{Flow, TransportRegistry};
use crate::ua_core::UaCore;
use crate::user_agent::{CallsSetup, UserAgent};

/// Handles every SIP actor shares: the transports to send on, counters, metrics, events.
#[derive(Clone)]
pub struct Services {
    /// Where messages go out.
    pub registry: Arc<TransportRegistry>,
    /// Traffic counters.
    pub counters: Arc<SipCounters>,
    /// Prometheus metrics, if any.
    pub metrics: Option<Metrics>,
    /// The event log, if any.
    pub events: Option<EventBus>,
}

impl Services {
    /// Services over `registry` that count into `counters` and nothing else.
    pub fn new(registry: Arc<TransportRegistry>, counters: Arc<SipCounters>) -> Self {
        Services {
            registry,
            counters,
            metrics: None,
            events: None,
        }
    }

    /// Publishes `draft` to the event log, if there is one.
    pub fn publish(&self, draft: EventDraft) {
        if let Some(events) = &self.events {
            events.publish(draft);
        }
    }

    /// Serializes `message` and sends it on `flow` to `destination` (see
    /// [`TransportRegistry::send_on`]). It is counted and logged as it is handed over, before
    /// it can reach the peer, so whoever sees the peer's reaction also sees the count. False
    /// when the flow is gone.
    pub fn send(&self, flow: &Flow, destination: SocketAddr, message: &SipMessage) -> bool {
        match message {
            SipMessage::Response(r) => {
                SipCounters::bump(&self.counters.responses_sent);
                if let (Some(m), Some(cseq)) = (&self.metrics, r.headers.cseq()) {
                    m.message_out(&cseq.method, Some(r.status));
                }
                debug!(
                    status = r.status,
                    reason = %r.reason,
                    cseq = %r.headers.cseq().map_or_else(|| "-".to_owned(), ToString::to_string),
                    peer = %destination,
                    transport = %flow.transport,
                    "sip out"
                );
            }
            SipMessage::Request(r) => {
                if let Some(m) = &self.metrics {
                    m.message_out(&r.method, None);
                }
                debug!(
                    method = %r.method,
                    cseq = %r.headers.cseq().map_or_else(|| "-".to_owned(), ToString::to_string),
                    peer = %destination,
                    transport = %flow.transport,
                    "sip out"
                );
            }
        }
        self.registry.send_on(flow, destination, message.to_bytes())
    }
}

/// What the stack is configured with.
#[derive(Debug, Default)]
pub struct StackConfig {
    /// T1, T2, T4 (and the 100 Trying delay) of every transaction.
    pub timers: TransactionConfig,
    /// The echo extension.
    pub echo: EchoConfig,
    /// The registrar: settings, store, bindings restored from it.
    pub registrar: RegistrarSetup,
    /// The call engine.
    pub calls: CallsSetup,
}

impl StackConfig {
    /// The dialogs' timer values (2xx retransmission): the transactions' T1 and T2.
    pub fn dialog_config(&self) -> sip::dialog::DialogConfig {
        sip::dialog::DialogConfig {
            t1: self.timers.t1,
            t2: self.timers.t2,
        }
    }
}

/// The running SIP stack (see the module documentation).
pub struct SipStack {
    /// The transaction layer: supervisor of the transaction actors.
    pub transactions: Addr<TransactionLayer>,
    /// The user agent: the transaction user of requests outside any dialog.
    pub user_agent: Addr<UserAgent>,
    /// The dialog supervisor: owner of the dialog actors.
    pub dialogs: Addr<DialogSupervisor>,
    /// The registrar: REGISTER, the location service, qualify.
    pub registrar: Addr<RegistrarActor>,
}

impl SipStack {
    /// Starts the stack's actors on the current arbiter (inside an actix System).
    pub fn start(config: StackConfig, core: Arc<UaCore>, services: Services) -> SipStack {
        // Contexts first, so each actor can be given the others' addresses.
        let layer_ctx = Context::<TransactionLayer>::new();
        let ua_ctx = Context::<UserAgent>::new();
        let transactions = layer_ctx.address();
        let user_agent = ua_ctx.address();
        let dialogs = DialogSupervisor::new(services.clone()).start();
        let routes = Routes {
            out_of_dialog: user_agent.clone().recipient(),
            dialogs: dialogs.clone(),
        };
        let handle = Dialogs::new(
            dialogs.clone(),
            transactions.clone(),
            services.clone(),
            core.clone(),
            config.dialog_config(),
        );
        let registrar = RegistrarActor::new(
            config.registrar,
            core.clone(),
            services.clone(),
            transactions.clone(),
        )
        .start();
        services
            .registry
            .observe_flows(registrar.clone().recipient());
        let ua = UserAgent::new(
            core,
            handle,
            config.echo,
            registrar.clone(),
            transactions.clone(),
            config.calls,
            services.clone(),
        );
        let transactions = layer_ctx.run(TransactionLayer::new(
            config.timers,
            services.clone(),
            routes,
        ));
        let user_agent = ua_ctx.run(ua);
        SipStack {
            transactions,
            user_agent,
            dialogs,
            registrar,
        }
    }

    /// Where transports hand every parsed message.
    pub fn incoming(&self) -> Recipient<Incoming> {
        self.transactions.clone().recipient()
    }
}

impl std::fmt::Debug for SipStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipStack").finish_non_exhaustive()
    }
}
