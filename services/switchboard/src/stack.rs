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
//! [`SipStack::start`] creates the actors: the transaction layer as `workers` shards, each
//! on an arbiter (thread) of its own and owning the transactions of the Call-IDs that hash
//! to it (`transaction_layer::shards`); the user agent, dialog supervisor and registrar once,
//! on the current arbiter, which is also shard 0's. The transport actors get [`SipStack::incoming`] to hand every
//! parsed message to the shard that owns it.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use actix::{Actor, Addr, Arbiter, ArbiterHandle, AsyncContext, Context};
use bytes::Bytes;
use sip::SipMessage;
use sip::transaction::TransactionConfig;
use tracing::debug;

use crate::dialog_layer::{DialogSupervisor, Dialogs};
use crate::echo::EchoConfig;
use crate::events::{EventBus, EventDraft};
use crate::metrics::Metrics;
use crate::registrar::{RegistrarActor, RegistrarSetup};
use crate::stats::SipCounters;
use crate::transaction_layer::{Routes, ShardRouter, TransactionLayer};
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
        self.send_message(flow, destination, message).is_some()
    }

    /// [`Services::send`], answering the bytes handed to the transport (`None` when the flow
    /// is gone), for a sender that keeps them.
    pub fn send_message(
        &self,
        flow: &Flow,
        destination: SocketAddr,
        message: &SipMessage,
    ) -> Option<Bytes> {
        match message {
            SipMessage::Response(r) => {
                SipCounters::bump(&self.counters.responses_sent);
                if let (Some(m), Some(cseq)) = (&self.metrics, r.headers.cseq()) {
                    m.message_out(&cseq.method, Some(r.status));
                }
                debug!(
                    call_id = r.headers.call_id().map_or("-", |c| c.as_ref()),
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
                    call_id = r.headers.call_id().map_or("-", |c| c.as_ref()),
                    method = %r.method,
                    cseq = %r.headers.cseq().map_or_else(|| "-".to_owned(), ToString::to_string),
                    peer = %destination,
                    transport = %flow.transport,
                    "sip out"
                );
            }
        }
        let bytes = message.to_bytes();
        self.registry
            .send_on(flow, destination, bytes.clone())
            .then_some(bytes)
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
    /// How many shards the transaction layer has, each on an arbiter (thread) of its own
    /// (`[sip] workers`); 0 or 1 is one shard on the current arbiter.
    pub workers: usize,
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
    /// Shard 0's transaction layer. Any shard's layer takes every message: a `StartClient`
    /// or an `Incoming` for a Call-ID another shard owns is forwarded there, and
    /// `ListTransactions` / `InjectTransactionPanic` cover every shard.
    pub transactions: Addr<TransactionLayer>,
    /// Every shard's transaction layer, routing by Call-ID.
    pub shards: ShardRouter,
    /// The user agent: the transaction user of requests outside any dialog.
    pub user_agent: Addr<UserAgent>,
    /// The dialog supervisor: owner of the dialog actors.
    pub dialogs: Addr<DialogSupervisor>,
    /// The registrar: REGISTER, the location service, qualify.
    pub registrar: Addr<RegistrarActor>,
    /// The arbiters of shards 1 and up (shard 0 runs on the arbiter that started the stack).
    arbiters: Vec<Arbiter>,
}

impl SipStack {
    /// Starts the stack's actors (inside an actix System): the user agent, dialog
    /// supervisor, registrar and the transaction layer's shard 0 on the current arbiter,
    /// and shards 1 to `config.workers - 1` each on a new arbiter.
    pub fn start(config: StackConfig, core: Arc<UaCore>, services: Services) -> SipStack {
        let workers = config.workers.max(1);
        let ua_ctx = Context::<UserAgent>::new();
        let user_agent = ua_ctx.address();
        let dialogs = DialogSupervisor::new(services.clone()).start();
        let routes = Routes {
            out_of_dialog: user_agent.clone().recipient(),
            dialogs: dialogs.clone(),
        };
        let ring: Arc<OnceLock<ShardRouter>> = Arc::new(OnceLock::new());
        let mut arbiters = Vec::new();
        let layers: Vec<Addr<TransactionLayer>> = (0..workers)
            .map(|index| {
                let layer = TransactionLayer::new(config.timers, services.clone(), routes.clone())
                    .in_shard(index, ring.clone());
                // Shard 0 shares the current arbiter with the user agent and the registrar,
                // so its transactions reach them without crossing threads.
                if index == 0 {
                    return layer.start();
                }
                let arbiter = Arbiter::new();
                let addr = TransactionLayer::start_in_arbiter(&arbiter.handle(), move |_| layer);
                arbiters.push(arbiter);
                addr
            })
            .collect();
        let shards = ShardRouter::new(layers);
        // Set before any message can reach a layer: the transports start after this.
        let _ = ring.set(shards.clone());
        let transactions = shards.layers()[0].clone();
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
        let user_agent = ua_ctx.run(UserAgent::new(
            core,
            handle,
            config.echo,
            registrar.clone(),
            transactions.clone(),
            config.calls,
            services.clone(),
        ));
        SipStack {
            transactions,
            shards,
            user_agent,
            dialogs,
            registrar,
            arbiters,
        }
    }

    /// Where transports hand every parsed message: the shard owning its Call-ID.
    pub fn incoming(&self) -> ShardRouter {
        self.shards.clone()
    }

    /// The arbiters of shards 1 and up, in shard order (shard 0 runs on the arbiter that
    /// started the stack): the UDP listeners of those shards read on them.
    pub fn arbiters(&self) -> Vec<ArbiterHandle> {
        self.arbiters.iter().map(Arbiter::handle).collect()
    }

    /// Stops the shards' arbiters (and every actor on them). Their transactions end
    /// without their timers: only for the end of the process.
    pub fn stop_workers(&self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

impl std::fmt::Debug for SipStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipStack")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}
