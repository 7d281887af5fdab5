//! Monitoring: expiry, qualify OPTIONS through client transactions, reachability changes
//! (`endpoint_offline` / `endpoint_online`), and the periodic gauges and purges.

use std::time::{Duration, Instant};

use actix::{AsyncContext, Context};
use registrar::location::{BindingKey, Reachability, ReachabilityChange};
use sip::transaction::TransactionKey;
use tracing::{debug, error, info, warn};

use super::metrics::RegistrationResult;
use super::{QualifyInFlight, RegistrarActor, binding_event, qualify, unix_now};
use crate::transaction_layer::StartClient;

impl RegistrarActor {
    /// Expiry and qualify, every [`TICK`].
    pub(super) fn tick(&mut self, ctx: &mut Context<Self>) {
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
    pub(super) fn send_qualify(
        &mut self,
        target: registrar::location::QualifyTarget,
        ctx: &mut Context<Self>,
    ) {
        let path: Vec<Box<str>> = self
            .location
            .get_binding(&target.key)
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
    pub(super) fn qualify_done(&mut self, key: &BindingKey, answered: bool) {
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
    pub(super) fn reachability_changed(&mut self, change: &ReachabilityChange, via: &str) {
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
    pub(super) fn housekeeping(&mut self) {
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
}
