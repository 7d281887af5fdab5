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
pub mod persist;
pub mod qualify;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, ResponseActFuture,
    SpawnHandle, WrapFuture,
};
use registrar::UnixTime;
use registrar::digest::{DigestAuthenticator, DigestResponse, Ha1Set, Verification};
use registrar::location::{
    Binding, BindingChange, BindingFlow, BindingKey, FlowTransport, LocationService, QualifyPolicy,
    Reachability, ReachabilityChange, RegisterPolicy, RegisterReply, RemovalCause,
    address_of_record,
};
use registrar::lockout::{AuthFailureTracker, FailureVerdict};
use sip::transaction::TransactionKey;
use sip::{Header, Request, Response, RetryAfter};
use store::{Store, StoreError};
use tracing::{debug, error, info, info_span, warn};

use crate::events::{EventDraft, Layer};
use crate::stack::Services;
use crate::supervision::guard;
use crate::transaction_layer::{
    Respond, StartClient, TransactionActor, TransactionLayer, TxEvent, TxEventKind,
};
use crate::transport::{Flow, FlowNotice, TransportKind};
use crate::ua_core::UaCore;

pub use config::{RegistrarFileConfig, RegistrarSettings};
use credentials::{CachedCredentials, CredentialCache, EndpointCredentials};
use metrics::{AuthFailure, RegistrarMetrics, RegistrationResult};
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

    // ----- REGISTER -----------------------------------------------------------------------

    fn on_register(&mut self, event: TxEvent, request: Request, ctx: &mut Context<Self>) {
        let now = unix_now();
        let source = event.flow.peer.ip();
        if let Some(until) = self.lockout.locked_until(source, now) {
            self.count_failure(AuthFailure::LockedOut);
            info!(security_event = "auth_refused_locked_out", source = %source, seconds_left = now.secs_until(until), "REGISTER from a locked-out source: 403");
            let response = self.locked_out_response(&request);
            respond(&event, response);
            return;
        }
        let aor = match address_of_record(&request) {
            Ok(aor) => aor,
            Err(reply) => {
                info!(status = reply.status, reason = ?reply.reason, "REGISTER refused");
                respond(&event, self.reply(&request, reply));
                return;
            }
        };
        let credentials = match self.digest.credentials(&request) {
            Ok(Some(c)) => c,
            Ok(None) => {
                debug!(aor = %aor, "REGISTER without credentials for our realm: 401");
                respond(&event, self.challenge(&request, now, false));
                return;
            }
            Err(e) => {
                let reason = format!("Bad Authorization: {e}");
                info!(aor = %aor, error = %e, "REGISTER with malformed credentials");
                self.auth_failed(&event, &request, None, AuthFailure::Malformed, &reason);
                return;
            }
        };
        match self.credentials.get(&credentials.username, Instant::now()) {
            CachedCredentials::Known(c) => {
                self.authenticate(&event, &request, &aor, &credentials, Some(&c));
            }
            CachedCredentials::Unknown => {
                self.authenticate(&event, &request, &aor, &credentials, None);
            }
            CachedCredentials::Miss => self.fetch_credentials(
                AwaitingCredentials {
                    event,
                    request,
                    aor,
                    response: credentials,
                },
                ctx,
            ),
        }
    }

    /// Reads the user's credentials from the store, then authenticates every REGISTER that
    /// waited for them.
    fn fetch_credentials(&mut self, waiting: AwaitingCredentials, ctx: &mut Context<Self>) {
        let username = waiting.response.username.clone();
        let Some(store) = self.store.clone() else {
            self.credentials.put(&username, None, Instant::now());
            let w = waiting;
            self.authenticate(&w.event, &w.request, &w.aor, &w.response, None);
            return;
        };
        if let Some(queue) = self.awaiting.get_mut(&username) {
            queue.push(waiting);
            return;
        }
        self.awaiting.insert(username.clone(), vec![waiting]);
        let user = username.clone();
        let fetch = async move { store.endpoint_credentials(&user).await };
        ctx.spawn(fetch.into_actor(self).map(move |result, act, _| {
            let waiting = act.awaiting.remove(&username).unwrap_or_default();
            let found = match result {
                Ok(c) => Some(Arc::new(EndpointCredentials {
                    realm: c.realm,
                    ha1: Ha1Set {
                        md5: c.ha1_md5,
                        sha256: c.ha1_sha256,
                    },
                })),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => {
                    warn!(user = %username, error = %e, "registrar: cannot read credentials; REGISTER answered 500");
                    for w in waiting {
                        let response = act
                            .core
                            .response(&w.request, 500)
                            .with_reason("Credential store unavailable")
                            .with_header(Header::RetryAfter(retry_after(5)));
                        respond(&w.event, response);
                    }
                    return;
                }
            };
            act.credentials.put(&username, found.clone(), Instant::now());
            for w in waiting {
                act.authenticate(&w.event, &w.request, &w.aor, &w.response, found.as_deref());
            }
        }));
    }

    /// Checks the credentials and, when they hold, lets the location service answer.
    fn authenticate(
        &mut self,
        event: &TxEvent,
        request: &Request,
        aor: &str,
        response: &DigestResponse,
        endpoint: Option<&EndpointCredentials>,
    ) {
        let now = unix_now();
        let user = response.username.as_str();
        let Some(endpoint) = endpoint else {
            info!(user, aor, "REGISTER for an unknown or disabled endpoint");
            self.auth_failed(event, request, Some(user), AuthFailure::UnknownUser, "");
            return;
        };
        if endpoint.realm != self.digest.realm() {
            warn!(user, endpoint_realm = %endpoint.realm, registrar_realm = %self.digest.realm(), "endpoint's credentials are for another realm; it cannot authenticate (re-add it for the registrar's realm)");
        }
        match self
            .digest
            .verify(&request.method, response, &endpoint.ha1, now)
        {
            Verification::Authenticated => {
                if user != aor {
                    info!(
                        user,
                        aor, "authenticated user may not register this address-of-record: 403"
                    );
                    let response = self
                        .core
                        .response(request, 403)
                        .with_reason("Credentials do not match the address-of-record");
                    respond(event, response);
                    return;
                }
                self.lockout.record_success(event.flow.peer.ip(), user);
                self.register(event, request, aor, now);
            }
            Verification::Stale => {
                debug!(user, "stale nonce with the right password: 401 stale=true");
                respond(event, self.challenge(request, now, true));
            }
            Verification::ForeignNonce => {
                debug!(user, "nonce not ours (or from before a restart): fresh 401");
                respond(event, self.challenge(request, now, false));
            }
            Verification::WrongResponse => {
                self.auth_failed(event, request, Some(user), AuthFailure::WrongPassword, "");
            }
            Verification::Replay => {
                self.auth_failed(event, request, Some(user), AuthFailure::Replay, "");
            }
            Verification::Unusable(why) => {
                let reason = format!("Unusable credentials: {why}");
                self.auth_failed(event, request, Some(user), AuthFailure::Malformed, &reason);
            }
        }
    }

    /// Counts a failed authentication; answers 401 with fresh challenges, or 403 once the
    /// source is locked out.
    fn auth_failed(
        &mut self,
        event: &TxEvent,
        request: &Request,
        user: Option<&str>,
        why: AuthFailure,
        reason: &str,
    ) {
        let now = unix_now();
        let source = event.flow.peer.ip();
        self.count_failure(why);
        match self.lockout.record_failure(source, user, now) {
            FailureVerdict::Counted {
                source_failures,
                user_failures,
            } => {
                info!(security_event = "auth_failed", reason = why.as_str(), source = %source, user = user.unwrap_or("-"), source_failures, user_failures, "REGISTER authentication failed: 401");
                let mut response = self.challenge(request, now, false);
                if !reason.is_empty() {
                    response = response.with_reason(reason);
                }
                respond(event, response);
            }
            FailureVerdict::LockedOut { until, limit } => {
                let limit = match limit {
                    registrar::lockout::LockoutCause::Source => "source",
                    registrar::lockout::LockoutCause::User => "user",
                };
                warn!(security_event = "auth_lockout", reason = why.as_str(), source = %source, user = user.unwrap_or("-"), limit, seconds = now.secs_until(until), "too many failed authentications: source locked out");
                if let Some(m) = &self.metrics {
                    m.lockout();
                }
                self.publish(
                    EventDraft::new(Layer::Method, call_id_of(request))
                        .kind("auth_lockout")
                        .method("REGISTER")
                        .status(403)
                        .cause(format!("too many failed authentications ({limit} limit)"))
                        .detail(serde_json::json!({
                            "source": source.to_string(),
                            "user": user,
                            "locked_seconds": now.secs_until(until),
                        })),
                );
                respond(event, self.locked_out_response(request));
            }
        }
    }

    /// Applies an authenticated REGISTER to the location service and answers it.
    fn register(&mut self, event: &TxEvent, request: &Request, aor: &str, now: UnixTime) {
        let flow = binding_flow(&event.flow, request);
        let outcome = self
            .location
            .register(aor, request, flow, &self.register_policy, now);
        if outcome.reply.status >= 300 {
            info!(aor, status = outcome.reply.status, reason = ?outcome.reply.reason, "REGISTER refused by the location service");
            if let Some(m) = &self.metrics {
                m.registration(RegistrationResult::Refused);
            }
        }
        for change in &outcome.changes {
            self.binding_changed(change, request);
        }
        respond(event, self.reply(request, outcome.reply));
    }

    /// Persists, counts, logs and publishes one binding change.
    fn binding_changed(&mut self, change: &BindingChange, request: &Request) {
        match change {
            BindingChange::Saved(b) => {
                self.persist.saved(b);
                let new = b.registered_at == b.refreshed_at;
                let result = if new {
                    RegistrationResult::Registered
                } else {
                    RegistrationResult::Refreshed
                };
                if let Some(m) = &self.metrics {
                    m.registration(result);
                }
                if new {
                    info!(aor = %b.aor, contact = %b.contact, source = %b.flow.source, transport = b.flow.transport.as_str(), expires_in = b.remaining_secs(unix_now()), "endpoint registered");
                    self.publish(binding_event(b, "endpoint_registered", call_id_of(request)));
                } else {
                    debug!(aor = %b.aor, contact = %b.contact, "registration refreshed");
                }
            }
            BindingChange::Removed { binding, cause } => {
                self.persist.removed(binding);
                let (result, kind) = match cause {
                    RemovalCause::Unregistered => {
                        (RegistrationResult::Unregistered, "endpoint_unregistered")
                    }
                    RemovalCause::Expired => (RegistrationResult::Expired, "registration_expired"),
                    RemovalCause::Replaced => {
                        (RegistrationResult::Replaced, "registration_replaced")
                    }
                };
                if let Some(m) = &self.metrics {
                    m.registration(result);
                }
                info!(aor = %binding.aor, contact = %binding.contact, cause = kind, "binding removed");
                self.publish(binding_event(binding, kind, call_id_of(request)));
            }
        }
    }

    // ----- responses ------------------------------------------------------------------------

    /// The core's reply as a response to `request`.
    fn reply(&self, request: &Request, reply: RegisterReply) -> Response {
        let mut response = self.core.response(request, reply.status);
        if let Some(reason) = &reply.reason {
            response = response.with_reason(reason);
        }
        for header in reply.headers {
            response = response.with_header(header);
        }
        response
    }

    /// 401 with one challenge per algorithm.
    fn challenge(&self, request: &Request, now: UnixTime, stale: bool) -> Response {
        let mut response = self.core.response(request, 401);
        for value in self.digest.challenges(now, stale) {
            response = response.with_header(Header::WwwAuthenticate(value));
        }
        response
    }

    /// 403 for a locked-out source. Retry-After is not defined for 403, so how long the
    /// lockout lasts is only logged.
    fn locked_out_response(&self, request: &Request) -> Response {
        self.core
            .response(request, 403)
            .with_reason("Too many failed authentication attempts")
    }

    fn count_failure(&self, why: AuthFailure) {
        if let Some(m) = &self.metrics {
            m.auth_failure(why);
        }
    }

    fn publish(&self, draft: EventDraft) {
        self.services.publish(draft);
    }

    // ----- monitoring ------------------------------------------------------------------------

    /// Expiry and qualify, every [`TICK`].
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = unix_now();
        for binding in self.location.expire(now) {
            self.persist.removed(&binding);
            if let Some(m) = &self.metrics {
                m.registration(RegistrationResult::Expired);
            }
            info!(aor = %binding.aor, contact = %binding.contact, "registration expired");
            let call_id = binding.call_id.to_string();
            self.publish(binding_event(&binding, "registration_expired", call_id));
        }
        if let Some(policy) = self.qualify_policy {
            for target in self.location.qualify_due(&policy, now) {
                self.send_qualify(target, ctx);
            }
        }
    }

    /// Sends one qualify OPTIONS through a client transaction.
    fn send_qualify(
        &mut self,
        target: registrar::location::QualifyTarget,
        ctx: &mut Context<Self>,
    ) {
        let path: Vec<Box<str>> = self
            .location
            .lookup(&target.key.aor, unix_now())
            .into_iter()
            .find(|b| b.contact == target.key.contact)
            .map(|b| b.path.clone())
            .unwrap_or_default();
        let built = qualify::flow_for(&target).and_then(|flow| {
            qualify::options_request(&target, &path, &flow, crate::SERVER_NAME)
                .map(|req| (flow, req))
        });
        let (flow, request) = match built {
            Ok(built) => built,
            Err(e) => {
                debug!(aor = %target.key.aor, contact = %target.key.contact, error = %e, "binding cannot be qualified");
                self.qualify_done(&target.key, false);
                return;
            }
        };
        let key = match TransactionKey::for_client_request(&request) {
            Ok(key) => key,
            Err(e) => {
                error!(error = %e, "qualify OPTIONS has no transaction key");
                self.qualify_done(&target.key, false);
                return;
            }
        };
        let timeout = Duration::from_secs(self.settings.qualify_timeout_secs);
        let timer_key = key.clone();
        let timer = ctx.run_later(timeout, move |act, _| {
            if let Some(q) = act.qualifying.remove(&timer_key) {
                debug!(aor = %q.binding.aor, contact = %q.binding.contact, "qualify unanswered within the timeout");
                act.qualify_done(&q.binding, false);
            }
        });
        debug!(aor = %target.key.aor, contact = %target.key.contact, destination = %target.destination, "qualify OPTIONS");
        self.qualifying.insert(
            key,
            QualifyInFlight {
                binding: target.key,
                timer,
            },
        );
        self.transactions.do_send(StartClient {
            request,
            flow,
            tu: ctx.address().recipient(),
        });
    }

    /// A qualify ended: answered or not.
    fn qualify_done(&mut self, key: &BindingKey, answered: bool) {
        if let Some(m) = &self.metrics {
            m.qualify(answered);
        }
        let Some(policy) = self.qualify_policy else {
            return;
        };
        if let Some(change) = self
            .location
            .qualify_result(key, answered, &policy, unix_now())
        {
            self.reachability_changed(&change, "qualify");
        }
    }

    /// Persists and announces a reachability change.
    fn reachability_changed(&mut self, change: &ReachabilityChange, via: &str) {
        let b = &change.binding;
        self.persist.reachability(b);
        let kind = match b.reachability {
            Reachability::Unreachable => "endpoint_offline",
            Reachability::Reachable => "endpoint_online",
            Reachability::Unknown => return,
        };
        if b.reachability == Reachability::Unreachable {
            warn!(aor = %b.aor, contact = %b.contact, source = %b.flow.source, user_agent = b.user_agent.as_deref().unwrap_or("-"), detected_by = via, "endpoint offline: it stopped answering");
        } else {
            info!(aor = %b.aor, contact = %b.contact, source = %b.flow.source, detected_by = via, "endpoint back online");
        }
        let mut draft = binding_event(b, kind, b.call_id.to_string());
        draft = draft
            .transition(change.previous.as_str(), b.reachability.as_str())
            .cause(via.to_string());
        self.publish(draft);
    }

    /// Gauges and purges, every [`HOUSEKEEPING`].
    fn housekeeping(&mut self) {
        let now = unix_now();
        self.digest.purge(now);
        self.lockout.purge(now);
        self.credentials.purge(Instant::now());
        if let Some(m) = &self.metrics {
            let unreachable = self
                .location
                .bindings()
                .filter(|b| b.reachability == Reachability::Unreachable)
                .count();
            m.set_gauges(
                self.location.len(),
                unreachable,
                self.lockout.locked_sources(now),
                self.persist.len(),
            );
        }
    }

    // ----- persistence -----------------------------------------------------------------------

    /// Writes the queued changes, one batch at a time.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.persist.is_empty() {
            return;
        }
        let Some(store) = self.store.clone() else {
            // Without a store there is nowhere to keep bindings across restarts.
            let _ = self.persist.take();
            return;
        };
        let batch = self.persist.take();
        self.flushing = true;
        let changes: Vec<_> = batch.iter().map(|(_, c)| c.clone()).collect();
        let write = async move { store.apply_registration_changes(&changes).await };
        ctx.spawn(write.into_actor(self).map(move |result, act, _| {
            act.flushing = false;
            match result {
                Ok(report) => debug!(?report, "binding changes written"),
                Err(e) => {
                    warn!(error = %e, pending = batch.len(), "cannot write binding changes; kept for the next attempt");
                    act.persist.put_back(batch);
                }
            }
        }));
    }
}

/// Answers through the server transaction.
fn respond(event: &TxEvent, response: Response) {
    event.tx.do_send(Respond::plain(response));
}

fn retry_after(seconds: u32) -> RetryAfter {
    RetryAfter {
        seconds,
        comment: None,
        params: sip::Params::new(),
    }
}

fn call_id_of(request: &Request) -> String {
    request
        .headers
        .call_id()
        .map_or_else(String::new, |c| c.to_string())
}

/// The flow a REGISTER came in on, as the location service records it. Over a wildcard
/// listener our address is the one the phone used (its Request-URI), so qualifies leave with
/// a Via the phone can answer.
fn binding_flow(flow: &Flow, request: &Request) -> BindingFlow {
    let ip: IpAddr = crate::echo::advertised_ip(flow, &request.uri);
    BindingFlow {
        transport: match flow.transport {
            TransportKind::Udp => FlowTransport::Udp,
            TransportKind::Tcp => FlowTransport::Tcp,
        },
        local: std::net::SocketAddr::new(ip, flow.local.port()),
        source: flow.peer,
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
        let call_id = msg.event.call_id.clone();
        let span = info_span!("registrar", call_id = %call_id, transaction = %msg.event.key, method = "REGISTER");
        let _entered = span.enter();
        let tx: Addr<TransactionActor> = msg.event.tx.clone();
        let request = msg.request.clone();
        let core = self.core.clone();
        if let Err(panic) = guard(|| self.on_register(msg.event, msg.request, ctx)) {
            error!(panic = %panic, "registrar failed on a REGISTER: 500");
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
