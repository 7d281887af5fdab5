//! REGISTER: lockout, digest authentication (with the credential cache and its store
//! lookups), the location service's answer, and what a binding change sets off (persistence,
//! metrics, logs, events).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix::{AsyncContext, Context, Handler, Message};
use registrar::UnixTime;
use registrar::digest::{DigestResponse, Ha1Set, Verification};
use registrar::location::{
    BindingChange, BindingFlow, FlowTransport, RegisterReply, RemovalCause, address_of_record,
};
use registrar::lockout::FailureVerdict;
use sip::{Header, Request, Response, RetryAfter};
use store::StoreError;
use tracing::{debug, info, warn};

use super::credentials::{CachedCredentials, EndpointCredentials};
use super::metrics::{AuthFailure, RegistrationResult};
use super::{AwaitingCredentials, RegistrarActor, binding_event, unix_now};
use crate::events::{EventDraft, Layer};
use crate::transaction_layer::{Respond, TxEvent};
use crate::transport::{Flow, TransportKind};

impl RegistrarActor {
    pub(super) fn on_register(
        &mut self,
        event: TxEvent,
        request: Request,
        ctx: &mut Context<Self>,
    ) {
        let now = unix_now();
        let source = event.flow.peer.ip();
        if let Some(until) = self.lockout.locked_until(source, now) {
            self.count_failure(AuthFailure::LockedOut);
            info!(call_id = %event.call_id, transaction = %event.key, security_event = "auth_refused_locked_out", source = %source, seconds_left = now.secs_until(until), "REGISTER from a locked-out source: 403");
            let response = self.locked_out_response(&request);
            respond(&event, response);
            return;
        }
        let aor = match address_of_record(&request) {
            Ok(aor) => aor,
            Err(reply) => {
                info!(call_id = %event.call_id, transaction = %event.key, status = reply.status, reason = ?reply.reason, "REGISTER refused");
                respond(&event, self.reply(&request, reply));
                return;
            }
        };
        let credentials = match self.digest.credentials(&request) {
            Ok(Some(c)) => c,
            Ok(None) => {
                debug!(call_id = %event.call_id, transaction = %event.key, aor = %aor, "REGISTER without credentials for our realm: 401");
                respond(&event, self.challenge(&request, now, false));
                return;
            }
            Err(e) => {
                let reason = format!("Bad Authorization: {e}");
                info!(call_id = %event.call_id, transaction = %event.key, aor = %aor, error = %e, "REGISTER with malformed credentials");
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
        // The query runs as a task of its own and its answer comes back as a message: a
        // future spawned on the actor's context would be polled again on every wake-up of
        // the registrar, with thousands of lookups in flight (a burst of REGISTERs after the
        // cache expired) that is quadratic.
        let registrar = ctx.address();
        actix_rt::spawn(async move {
            let result = store.endpoint_credentials(&username).await;
            registrar.do_send(CredentialsFetched { username, result });
        });
    }

    /// Loads every enabled endpoint's credentials into the cache (see
    /// [`super::credentials`]), as a task of its own that answers with a message.
    pub(super) fn load_all_credentials(&mut self, ctx: &mut Context<Self>) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let registrar = ctx.address();
        actix_rt::spawn(async move {
            let started = Instant::now();
            match store.all_endpoint_credentials().await {
                Ok(all) => registrar.do_send(CredentialsSnapshot { all, started }),
                Err(e) => {
                    warn!(error = %e, "registrar: cannot load the endpoints' credentials; each REGISTER asks the store")
                }
            }
        });
    }

    /// The store's answer for `username`: authenticates every REGISTER that waited for it.
    fn on_credentials_fetched(
        &mut self,
        username: String,
        result: Result<store::endpoints::Credentials, StoreError>,
    ) {
        let waiting = self.awaiting.remove(&username).unwrap_or_default();
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
                    let response = self
                        .core
                        .response(&w.request, 500)
                        .with_reason("Credential store unavailable")
                        .with_header(Header::RetryAfter(retry_after(5)));
                    respond(&w.event, response);
                }
                return;
            }
        };
        self.credentials
            .put(&username, found.clone(), Instant::now());
        for w in waiting {
            self.authenticate(&w.event, &w.request, &w.aor, &w.response, found.as_deref());
        }
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
            info!(call_id = %event.call_id, transaction = %event.key, user, aor, "REGISTER for an unknown or disabled endpoint");
            self.auth_failed(event, request, Some(user), AuthFailure::UnknownUser, "");
            return;
        };
        if endpoint.realm != self.digest.realm() {
            warn!(call_id = %event.call_id, transaction = %event.key, user, endpoint_realm = %endpoint.realm, registrar_realm = %self.digest.realm(), "endpoint's credentials are for another realm; it cannot authenticate (re-add it for the registrar's realm)");
        }
        match self
            .digest
            .verify(&request.method, response, &endpoint.ha1, now)
        {
            Verification::Authenticated => {
                if user != aor {
                    info!(call_id = %event.call_id, transaction = %event.key,
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
                debug!(call_id = %event.call_id, transaction = %event.key, user, "stale nonce with the right password: 401 stale=true");
                respond(event, self.challenge(request, now, true));
            }
            Verification::ForeignNonce => {
                debug!(call_id = %event.call_id, transaction = %event.key, user, "nonce not ours (or from before a restart): fresh 401");
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
                info!(call_id = %event.call_id, transaction = %event.key, security_event = "auth_failed", reason = why.as_str(), source = %source, user = user.unwrap_or("-"), source_failures, user_failures, "REGISTER authentication failed: 401");
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
                warn!(call_id = %event.call_id, transaction = %event.key, security_event = "auth_lockout", reason = why.as_str(), source = %source, user = user.unwrap_or("-"), limit, seconds = now.secs_until(until), "too many failed authentications: source locked out");
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
            info!(call_id = %event.call_id, transaction = %event.key, aor, status = outcome.reply.status, reason = ?outcome.reply.reason, "REGISTER refused by the location service");
            if let Some(m) = &self.metrics {
                m.registration(RegistrationResult::Refused);
            }
        }
        for change in &outcome.changes {
            self.binding_changed(event, change, request);
        }
        respond(event, self.reply(request, outcome.reply));
    }

    /// Persists, counts, logs and publishes one binding change.
    fn binding_changed(&mut self, event: &TxEvent, change: &BindingChange, request: &Request) {
        match change {
            BindingChange::Saved(b) => {
                self.persist.saved(b, unix_now());
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
                    info!(call_id = %event.call_id, transaction = %event.key, aor = %b.aor, contact = %b.contact, source = %b.flow.source, transport = b.flow.transport.as_str(), expires_in = b.remaining_secs(unix_now()), "endpoint registered");
                    self.publish(binding_event(b, "endpoint_registered", call_id_of(request)));
                } else {
                    debug!(call_id = %event.call_id, transaction = %event.key, aor = %b.aor, contact = %b.contact, "registration refreshed");
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
                info!(call_id = %event.call_id, transaction = %event.key, aor = %binding.aor, contact = %binding.contact, cause = kind, "binding removed");
                self.publish(binding_event(binding, kind, call_id_of(request)));
            }
        }
    }

    /// The core's reply as a response to `request`.
    pub(super) fn reply(&self, request: &Request, reply: RegisterReply) -> Response {
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
    pub(super) fn challenge(&self, request: &Request, now: UnixTime, stale: bool) -> Response {
        let mut response = self.core.response(request, 401);
        for value in self.digest.challenges(now, stale) {
            response = response.with_header(Header::WwwAuthenticate(value));
        }
        response
    }

    /// 403 for a locked-out source. Retry-After is not defined for 403, so how long the
    /// lockout lasts is only logged.
    pub(super) fn locked_out_response(&self, request: &Request) -> Response {
        self.core
            .response(request, 403)
            .with_reason("Too many failed authentication attempts")
    }

    pub(super) fn count_failure(&self, why: AuthFailure) {
        if let Some(m) = &self.metrics {
            m.auth_failure(why);
        }
    }

    pub(super) fn publish(&self, draft: EventDraft) {
        self.services.publish(draft);
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

pub(super) fn call_id_of(request: &Request) -> String {
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

/// A credential lookup finished (its task → the registrar).
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct CredentialsFetched {
    username: String,
    result: Result<store::endpoints::Credentials, StoreError>,
}

/// Every enabled endpoint's credentials, loaded at `started` (task → registrar).
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct CredentialsSnapshot {
    all: Vec<(String, store::endpoints::Credentials)>,
    started: Instant,
}

impl Handler<CredentialsSnapshot> for RegistrarActor {
    type Result = ();

    fn handle(&mut self, msg: CredentialsSnapshot, _ctx: &mut Self::Context) {
        let count = msg.all.len();
        let all = msg.all.into_iter().map(|(username, c)| {
            let credentials = Arc::new(EndpointCredentials {
                realm: c.realm,
                ha1: Ha1Set {
                    md5: c.ha1_md5,
                    sha256: c.ha1_sha256,
                },
            });
            (username, credentials)
        });
        // Dated from the query's start, so nothing is believed longer than it may be.
        self.credentials.refresh(all, msg.started);
        debug!(endpoints = count, "registrar: credentials loaded");
    }
}

impl Handler<CredentialsFetched> for RegistrarActor {
    type Result = ();

    fn handle(&mut self, msg: CredentialsFetched, _ctx: &mut Self::Context) {
        self.on_credentials_fetched(msg.username, msg.result);
    }
}
