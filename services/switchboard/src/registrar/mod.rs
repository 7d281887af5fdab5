//! The registrar actor: REGISTER with digest authentication, the location service, qualify
//! and keep-alive monitoring, and the bindings' persistence (RFC 3261 §10, §22; RFC 3327,
//! RFC 3581, RFC 5626 §3.5.1, RFC 7616, RFC 8760).
//!
//! The decisions are the `registrar` crate's sans-IO cores ([`DigestAuthenticator`],
//! [`AuthFailureTracker`], [`LocationService`]); this actor feeds them requests and the wall
//! clock and carries out what they decide:
//!
//! - a REGISTER arrives from the user agent ([`RegisterRequest`]); a locked-out source gets
//!   403, one without credentials a 401 with a SHA-256 and an MD5 challenge; credentials are
//!   checked against the endpoint's HA1 (cached, read from the store on a miss) and the
//!   location service answers the authenticated request;
//! - failed authentications count per source and per user; past the limit the source is
//!   refused for a while (a `auth_lockout` security event, logged and counted);
//! - every second: expired bindings go, due bindings get an OPTIONS through a client
//!   transaction ([`qualify`]); a binding that stops answering is marked unreachable and an
//!   `endpoint_offline` event is published (`endpoint_online` when it answers again); a TCP
//!   flow that closes makes its bindings unreachable, a CRLF keep-alive on it marks them seen;
//! - binding changes are queued ([`persist::PersistQueue`]) and written to the store in
//!   batches every [`FLUSH_INTERVAL`]; on start the server restores the bindings that have not
//!   expired, so phones stay reachable across a restart.

pub mod api;
pub mod config;
pub mod credentials;
pub mod metrics;
mod monitor;
pub mod persist;
pub mod qualify;
mod register;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, ResponseActFuture,
    SpawnHandle, WrapFuture,
};
use registrar::UnixTime;
use registrar::digest::{DigestAuthenticator, DigestResponse};
use registrar::location::{
    Binding, BindingKey, FlowTransport, LocationService, QualifyPolicy, RegisterPolicy,
};
use registrar::lockout::AuthFailureTracker;
use sip::Request;
use sip::transaction::TransactionKey;
use store::Store;
use tracing::{debug, error, info, info_span};

use crate::events::{EventDraft, Layer};
use crate::stack::Services;
use crate::supervision::guard;
use crate::transaction_layer::{Respond, TransactionActor, TransactionLayer, TxEvent, TxEventKind};
use crate::transport::FlowNotice;
use crate::ua_core::UaCore;

pub use config::{RegistrarFileConfig, RegistrarSettings};
use credentials::CredentialCache;
use metrics::RegistrarMetrics;
use persist::PersistQueue;

/// How often queued binding changes are written to the store.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// How often expiry and qualify run.
const TICK: Duration = Duration::from_secs(1);
/// How often the gauges are recomputed and old counters purged.
const HOUSEKEEPING: Duration = Duration::from_secs(5);

/// The wall clock as the registrar cores take it.
pub fn unix_now() -> UnixTime {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    UnixTime(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Everything the registrar starts with.
pub struct RegistrarSetup {
    /// Its settings.
    pub settings: RegistrarSettings,
    /// Where credentials come from and bindings go; none keeps bindings in memory only (and
    /// then no endpoint exists, so every REGISTER is refused).
    pub store: Option<Store>,
    /// Bindings loaded from the store at start.
    pub restored: Vec<Binding>,
    /// Key of the nonce HMAC (random per process unless configured).
    pub nonce_secret: [u8; 32],
}

impl Default for RegistrarSetup {
    fn default() -> Self {
        RegistrarSetup {
            settings: RegistrarSettings::default(),
            store: None,
            restored: Vec::new(),
            nonce_secret: rand::random(),
        }
    }
}

impl std::fmt::Debug for RegistrarSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrarSetup")
            .field("settings", &self.settings)
            .field(
                "store",
                &self.store.as_ref().map(|s| s.location().to_string()),
            )
            .field("restored", &self.restored.len())
            .finish_non_exhaustive()
    }
}

/// A REGISTER for the registrar (user agent → registrar), after the §8.2 checks.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RegisterRequest {
    /// The server transaction's delivery (answer through `event.tx`).
    pub event: TxEvent,
    /// The REGISTER.
    pub request: Request,
}

/// Write every queued binding change now (server shutdown); answers when done.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct FlushBindings;

/// The live bindings of an address-of-record, best first (for the call engine and tests).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<Binding>")]
pub struct LookupBindings {
    /// The address-of-record (endpoint user name).
    pub aor: String,
}

/// Live bindings for the operations API: of one address-of-record, or all (up to `limit`,
/// ordered by address-of-record).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<Binding>")]
pub struct ListBindings {
    /// Only this address-of-record.
    pub aor: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// A REGISTER waiting for its user's credentials from the store.
struct AwaitingCredentials {
    event: TxEvent,
    request: Request,
    aor: String,
    response: DigestResponse,
}

/// A qualify OPTIONS in flight.
struct QualifyInFlight {
    binding: BindingKey,
    timer: SpawnHandle,
}

/// The registrar (see the module documentation).
pub struct RegistrarActor {
    settings: RegistrarSettings,
    register_policy: RegisterPolicy,
    qualify_policy: Option<QualifyPolicy>,
    digest: DigestAuthenticator,
    lockout: AuthFailureTracker,
    location: LocationService,
    credentials: CredentialCache,
    awaiting: HashMap<String, Vec<AwaitingCredentials>>,
    qualifying: HashMap<TransactionKey, QualifyInFlight>,
    store: Option<Store>,
    persist: PersistQueue,
    flushing: bool,
    core: Arc<UaCore>,
    services: Services,
    transactions: Addr<TransactionLayer>,
    metrics: Option<RegistrarMetrics>,
}

impl RegistrarActor {
    /// A registrar answering with `core`'s response builder, sending qualifies through
    /// `transactions`.
    pub fn new(
        setup: RegistrarSetup,
        core: Arc<UaCore>,
        services: Services,
        transactions: Addr<TransactionLayer>,
    ) -> Self {
        let settings = setup.settings;
        let now = unix_now();
        let mut location = LocationService::new();
        let offered = setup.restored.len();
        let restored = setup
            .restored
            .into_iter()
            .filter(|b| location.restore(b.clone(), now))
            .count();
        if offered > 0 {
            info!(
                restored,
                expired = offered - restored,
                "registrar: bindings restored from the store"
            );
        }
        let metrics = services.metrics.as_ref().and_then(|m| {
            RegistrarMetrics::new(m.registry())
                .map_err(|e| error!(error = %e, "registrar metrics unavailable"))
                .ok()
        });
        RegistrarActor {
            register_policy: settings.register_policy(),
            qualify_policy: settings.qualify_policy(),
            digest: DigestAuthenticator::new(settings.digest_config(setup.nonce_secret)),
            lockout: AuthFailureTracker::new(settings.lockout_policy()),
            location,
            credentials: CredentialCache::default(),
            awaiting: HashMap::new(),
            qualifying: HashMap::new(),
            store: setup.store,
            persist: PersistQueue::default(),
            flushing: false,
            core,
            services,
            transactions,
            metrics,
            settings,
        }
    }
}

/// An event about a binding (Method layer: the REGISTER and OPTIONS that make and watch it).
fn binding_event(b: &Binding, kind: &str, call_id: String) -> EventDraft {
    EventDraft::new(Layer::Method, call_id)
        .kind(kind)
        .detail(serde_json::json!({
            "aor": &*b.aor,
            "contact": &*b.contact,
            "source": b.flow.source.to_string(),
            "transport": b.flow.transport.as_str(),
            "user_agent": b.user_agent.as_deref(),
            "reachability": b.reachability.as_str(),
            "expires_in": b.remaining_secs(unix_now()),
        }))
}

impl Actor for RegistrarActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(TICK, |act, ctx| {
            if let Err(panic) = guard(|| act.tick(ctx)) {
                error!(panic = %panic, "registrar tick failed");
            }
        });
        ctx.run_interval(HOUSEKEEPING, |act, _| {
            if let Err(panic) = guard(|| act.housekeeping()) {
                error!(panic = %panic, "registrar housekeeping failed");
            }
        });
        ctx.run_interval(FLUSH_INTERVAL, |act, ctx| act.flush(ctx));
        self.load_all_credentials(ctx);
        ctx.run_interval(credentials::SNAPSHOT_INTERVAL, |act, ctx| {
            act.load_all_credentials(ctx);
        });
        self.housekeeping();
        info!(
            realm = %self.settings.realm,
            bindings = self.location.len(),
            qualify_interval_secs = self.settings.qualify_interval_secs,
            "registrar started"
        );
    }
}

impl Handler<RegisterRequest> for RegistrarActor {
    type Result = ();

    fn handle(&mut self, msg: RegisterRequest, ctx: &mut Self::Context) {
        // No span: its fields were formatted for every REGISTER (about 3% of the CPU of a
        // registration), while the registrar logs only the unusual ones; each of those log
        // lines names the Call-ID and transaction itself.
        let call_id = msg.event.call_id.clone();
        let key = msg.event.key.clone();
        let tx: Addr<TransactionActor> = msg.event.tx.clone();
        let request = msg.request.clone();
        let core = self.core.clone();
        if let Err(panic) = guard(|| self.on_register(msg.event, msg.request, ctx)) {
            error!(call_id = %call_id, transaction = %key, panic = %panic, "registrar failed on a REGISTER: 500");
            if let Some(m) = &self.services.metrics {
                m.actor_failed("registrar");
            }
            self.publish(
                EventDraft::new(Layer::Method, call_id)
                    .kind("child_failed")
                    .method("REGISTER")
                    .cause(panic),
            );
            tx.do_send(Respond::plain(core.response(&request, 500)));
        }
    }
}

impl Handler<TxEvent> for RegistrarActor {
    type Result = ();

    /// Deliveries of the qualify client transactions.
    fn handle(&mut self, event: TxEvent, ctx: &mut Self::Context) {
        let span = info_span!("registrar", call_id = %event.call_id, transaction = %event.key, method = "OPTIONS");
        let _entered = span.enter();
        let answered = match &event.kind {
            TxEventKind::Response(r) if r.status < 200 => return,
            TxEventKind::Response(_) => true,
            TxEventKind::Timeout | TxEventKind::TransportError | TxEventKind::Failed => false,
            _ => return,
        };
        if let Some(q) = self.qualifying.remove(&event.key) {
            ctx.cancel_future(q.timer);
            self.qualify_done(&q.binding, answered);
        }
    }
}

impl Handler<FlowNotice> for RegistrarActor {
    type Result = ();

    fn handle(&mut self, notice: FlowNotice, _ctx: &mut Self::Context) {
        let now = unix_now();
        let (flow, changes, via) = match notice {
            FlowNotice::Closed(flow) => (
                flow,
                self.location
                    .flow_closed(FlowTransport::Tcp, flow.peer, now),
                "connection_closed",
            ),
            FlowNotice::KeepAlive(flow) => (
                flow,
                self.location.flow_alive(FlowTransport::Tcp, flow.peer, now),
                "keepalive",
            ),
        };
        debug!(flow = %flow, changes = changes.len(), "flow notice");
        for change in &changes {
            self.reachability_changed(change, via);
        }
    }
}

impl Handler<FlushBindings> for RegistrarActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: FlushBindings, _ctx: &mut Self::Context) -> Self::Result {
        let batch = self.persist.take();
        let store = self.store.clone();
        let changes: Vec<_> = batch.iter().map(|(_, c)| c.clone()).collect();
        Box::pin(
            async move {
                match store {
                    Some(store) if !changes.is_empty() => {
                        store.apply_registration_changes(&changes).await.map(|_| ())
                    }
                    _ => Ok(()),
                }
            }
            .into_actor(self)
            .map(move |result, act, _| {
                if let Err(e) = result {
                    error!(error = %e, lost = batch.len(), "binding changes could not be written at shutdown");
                    act.persist.put_back(batch);
                } else {
                    info!("binding changes written at shutdown");
                }
            }),
        )
    }
}

impl Handler<ListBindings> for RegistrarActor {
    type Result = Vec<Binding>;

    fn handle(&mut self, msg: ListBindings, _ctx: &mut Self::Context) -> Vec<Binding> {
        let now = unix_now();
        match msg.aor {
            Some(aor) => self
                .location
                .lookup(&aor, now)
                .into_iter()
                .take(msg.limit)
                .cloned()
                .collect(),
            None => {
                let mut all: Vec<&Binding> = self.location.bindings().collect();
                all.sort_by(|a, b| (&a.aor, &a.contact).cmp(&(&b.aor, &b.contact)));
                all.into_iter().take(msg.limit).cloned().collect()
            }
        }
    }
}

impl Handler<LookupBindings> for RegistrarActor {
    type Result = Vec<Binding>;

    fn handle(&mut self, msg: LookupBindings, _ctx: &mut Self::Context) -> Vec<Binding> {
        self.location
            .lookup(&msg.aor, unix_now())
            .into_iter()
            .cloned()
            .collect()
    }
}
