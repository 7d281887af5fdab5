//! Bindings to and from the store: the conversions, and the queue of changes the registrar
//! writes in batches.
//!
//! Changes are coalesced per binding: only the latest state of each binding is written, so a
//! database outage costs memory bounded by the number of bindings, and nothing is lost — the
//! batch that failed goes back into the queue under any newer changes.
//!
//! A refresh that changes nothing stored but the binding's times (same flow, user agent,
//! path, q, instance) is written only once the stored expiry covers less than
//! [`REWRITE_BELOW`] of the new lifetime: a phone refreshing every minute (NAT keep-alive
//! style) or a benchmark re-registering every second costs a write every few minutes, not
//! one per REGISTER, and a restart restores it with at most a tenth of its lifetime less.

use std::collections::HashMap;
use std::net::SocketAddr;

use actix::{ActorFutureExt, AsyncContext, Context, WrapFuture};
use registrar::UnixTime;
use registrar::location::{
    Binding, BindingFlow, BindingKey, FlowTransport, QualifyState, Reachability,
};
use store::registrations::{RegistrationChange, RegistrationRecord};
use time::OffsetDateTime;
use tracing::{debug, warn};

/// A wall-clock time as the store keeps it.
pub fn to_datetime(t: UnixTime) -> OffsetDateTime {
    let nanos = i128::from(t.0) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A stored time as the registrar core counts it.
pub fn from_datetime(t: OffsetDateTime) -> UnixTime {
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    UnixTime(u64::try_from(ms).unwrap_or(0))
}

/// The stored form of a binding.
pub fn record_of(b: &Binding) -> RegistrationRecord {
    RegistrationRecord {
        aor: b.aor.to_string(),
        contact_uri: b.contact.to_string(),
        source: b.flow.source,
        local: b.flow.local,
        transport: b.flow.transport.as_str().to_string(),
        user_agent: b.user_agent.as_deref().map(str::to_string),
        q_milli: b.q_milli,
        call_id: b.call_id.to_string(),
        cseq: b.cseq,
        path: b.path.iter().map(|p| p.to_string()).collect(),
        instance_id: b.instance_id.as_deref().map(str::to_string),
        reg_id: b.reg_id,
        expires_at: to_datetime(b.expires_at),
        registered_at: to_datetime(b.registered_at),
        refreshed_at: to_datetime(b.refreshed_at),
        reachability: b.reachability.as_str().to_string(),
        last_seen_at: to_datetime(b.last_seen),
    }
}

/// A transport name as stored, back to the core's type.
fn transport_of(name: &str) -> Option<FlowTransport> {
    Some(match name {
        "udp" => FlowTransport::Udp,
        "tcp" => FlowTransport::Tcp,
        "tls" => FlowTransport::Tls,
        "ws" => FlowTransport::Ws,
        "wss" => FlowTransport::Wss,
        _ => return None,
    })
}

/// A reachability as stored, back to the core's type.
fn reachability_of(name: &str) -> Reachability {
    match name {
        "reachable" => Reachability::Reachable,
        "unreachable" => Reachability::Unreachable,
        _ => Reachability::Unknown,
    }
}

/// A stored binding as the location service holds it; `None` (with the reason) when the row
/// cannot be used.
pub fn binding_of(r: RegistrationRecord) -> Result<Binding, String> {
    let transport =
        transport_of(&r.transport).ok_or_else(|| format!("unknown transport {:?}", r.transport))?;
    let local: SocketAddr = r.local;
    Ok(Binding {
        aor: r.aor.into(),
        contact: r.contact_uri.into(),
        q_milli: r.q_milli,
        expires_at: from_datetime(r.expires_at),
        call_id: r.call_id.into(),
        cseq: r.cseq,
        path: r.path.into_iter().map(Into::into).collect(),
        user_agent: r.user_agent.map(Into::into),
        instance_id: r.instance_id.map(Into::into),
        reg_id: r.reg_id,
        flow: BindingFlow {
            transport,
            local,
            source: r.source,
        },
        registered_at: from_datetime(r.registered_at),
        refreshed_at: from_datetime(r.refreshed_at),
        reachability: reachability_of(&r.reachability),
        last_seen: from_datetime(r.last_seen_at),
        qualify: QualifyState::default(),
    })
}

/// The registrar's start: its settings, the store, and the bindings of the store that have
/// not expired (rows that cannot be used are logged and left out).
pub async fn setup_from_store(
    settings: &super::RegistrarSettings,
    store: &store::Store,
) -> anyhow::Result<super::RegistrarSetup> {
    use anyhow::Context as _;
    let now = super::unix_now();
    let records = store
        .active_registrations(to_datetime(now))
        .await
        .context("cannot load the registrations")?;
    let mut restored = Vec::with_capacity(records.len());
    for record in records {
        let name = format!("{} {}", record.aor, record.contact_uri);
        match binding_of(record) {
            Ok(b) => restored.push(b),
            Err(why) => {
                tracing::warn!(binding = %name, reason = %why, "stored registration skipped")
            }
        }
    }
    Ok(super::RegistrarSetup {
        settings: settings.clone(),
        store: Some(store.clone()),
        restored,
        nonce_secret: rand::random(),
    })
}

impl super::RegistrarActor {
    /// Writes the queued changes, one batch at a time.
    pub(super) fn flush(&mut self, ctx: &mut Context<Self>) {
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

/// A refresh is written when the stored expiry covers less than this share of the new
/// lifetime (nine tenths).
pub const REWRITE_BELOW: (u64, u64) = (9, 10);

/// What was last queued for a binding: its expiry and a digest of what else is stored.
struct Queued {
    expires_at: UnixTime,
    digest: u64,
}

/// The stored fields of a binding other than its times, CSeq and Call-ID, as one number.
fn digest(b: &Binding) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        &b.flow,
        &b.user_agent,
        b.q_milli,
        &b.path,
        &b.instance_id,
        b.reg_id,
        b.registered_at,
    )
        .hash(&mut h);
    h.finish()
}

/// Binding changes waiting to be written, latest per binding.
#[derive(Default)]
pub struct PersistQueue {
    pending: HashMap<BindingKey, RegistrationChange>,
    queued: HashMap<BindingKey, Queued>,
}

impl PersistQueue {
    /// The binding was added or refreshed at `now` (a refresh of its times alone may be
    /// left unwritten for a while: see the module documentation).
    pub fn saved(&mut self, b: &Binding, now: UnixTime) {
        let key = b.key();
        let digest = digest(b);
        if let Some(q) = self.queued.get(&key) {
            let (num, den) = REWRITE_BELOW;
            let stored_left = q.expires_at.ms_since(now);
            let new_left = b.expires_at.ms_since(now);
            if q.digest == digest && stored_left.saturating_mul(den) >= new_left.saturating_mul(num)
            {
                return;
            }
        }
        self.queued.insert(
            key.clone(),
            Queued {
                expires_at: b.expires_at,
                digest,
            },
        );
        self.pending
            .insert(key, RegistrationChange::Save(record_of(b)));
    }

    /// The binding is gone.
    pub fn removed(&mut self, b: &Binding) {
        self.queued.remove(&b.key());
        self.pending.insert(
            b.key(),
            RegistrationChange::Remove {
                aor: b.aor.to_string(),
                contact_uri: b.contact.to_string(),
            },
        );
    }

    /// The binding's reachability changed (a pending save carries it instead; a pending
    /// removal stays a removal).
    pub fn reachability(&mut self, b: &Binding) {
        let key = b.key();
        match self.pending.get_mut(&key) {
            Some(RegistrationChange::Save(record)) => {
                record.reachability = b.reachability.as_str().to_string();
                record.last_seen_at = to_datetime(b.last_seen);
            }
            Some(RegistrationChange::Remove { .. }) => {}
            _ => {
                self.pending.insert(
                    key,
                    RegistrationChange::Reachability {
                        aor: b.aor.to_string(),
                        contact_uri: b.contact.to_string(),
                        reachability: b.reachability.as_str().to_string(),
                        last_seen_at: to_datetime(b.last_seen),
                    },
                );
            }
        }
    }

    /// Takes everything queued, for one write.
    pub fn take(&mut self) -> Vec<(BindingKey, RegistrationChange)> {
        self.pending.drain().collect()
    }

    /// Puts back a batch whose write failed, under anything queued since.
    pub fn put_back(&mut self, batch: Vec<(BindingKey, RegistrationChange)>) {
        for (key, change) in batch {
            self.pending.entry(key).or_insert(change);
        }
    }

    /// Changes waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(contact: &str) -> Binding {
        let addr: SocketAddr = "192.0.2.7:5062".parse().expect("address");
        let local: SocketAddr = "127.0.0.1:5060".parse().expect("address");
        Binding {
            aor: "alice".into(),
            contact: contact.into(),
            q_milli: Some(700),
            expires_at: UnixTime(1_700_000_360_000),
            call_id: "c1".into(),
            cseq: 3,
            path: vec!["<sip:edge.example;lr>".into()],
            user_agent: Some("baresip".into()),
            instance_id: None,
            reg_id: Some(1),
            flow: BindingFlow {
                transport: FlowTransport::Tcp,
                local,
                source: addr,
            },
            registered_at: UnixTime(1_700_000_000_000),
            refreshed_at: UnixTime(1_700_000_300_000),
            reachability: Reachability::Reachable,
            last_seen: UnixTime(1_700_000_300_500),
            qualify: QualifyState::default(),
        }
    }

    #[test]
    fn a_binding_survives_the_round_trip_through_its_record() {
        let b = binding("sip:alice@192.0.2.7:5062;transport=tcp");
        let back = binding_of(record_of(&b)).expect("usable");
        assert_eq!(back, b);
    }

    #[test]
    fn a_record_with_an_unknown_transport_is_refused() {
        let mut r = record_of(&binding("sip:a@h"));
        r.transport = "carrier-pigeon".into();
        assert!(binding_of(r).is_err());
    }

    #[test]
    fn the_queue_keeps_the_latest_change_per_binding() {
        let mut q = PersistQueue::default();
        let mut b = binding("sip:a@h");
        q.saved(&b, UnixTime(1_700_000_000_000));
        b.reachability = Reachability::Unreachable;
        q.reachability(&b);
        let batch = q.take();
        assert_eq!(batch.len(), 1);
        match &batch[0].1 {
            RegistrationChange::Save(r) => assert_eq!(r.reachability, "unreachable"),
            other => panic!("expected a save, got {other:?}"),
        }
        q.removed(&b);
        q.reachability(&b);
        assert!(matches!(q.take()[0].1, RegistrationChange::Remove { .. }));
    }

    #[test]
    fn a_failed_batch_goes_back_under_newer_changes() {
        let mut q = PersistQueue::default();
        let b = binding("sip:a@h");
        q.saved(&b, UnixTime(1_700_000_000_000));
        let failed = q.take();
        q.removed(&b);
        q.put_back(failed);
        assert_eq!(q.len(), 1);
        assert!(matches!(q.take()[0].1, RegistrationChange::Remove { .. }));
    }

    #[test]
    fn refreshes_of_the_times_alone_are_written_when_the_stored_expiry_runs_low() {
        let mut q = PersistQueue::default();
        let t0 = UnixTime(1_700_000_000_000);
        let mut b = binding("sip:a@h");
        b.expires_at = t0.plus_secs(3600);
        q.saved(&b, t0);
        assert_eq!(q.take().len(), 1, "a new binding is written");
        // Refreshed a second later for another 3600 s: the stored expiry still covers it.
        let t1 = t0.plus_secs(1);
        b.expires_at = t1.plus_secs(3600);
        b.cseq += 1;
        q.saved(&b, t1);
        assert!(q.is_empty(), "a refresh of the times alone waits");
        // Once the stored expiry covers less than nine tenths of the new lifetime, it is written.
        let t2 = t0.plus_secs(400);
        b.expires_at = t2.plus_secs(3600);
        q.saved(&b, t2);
        assert_eq!(q.take().len(), 1, "the stored expiry ran low");
        // Anything else that changed is written at once (a NAT rebinding here).
        let t3 = t2.plus_secs(1);
        b.expires_at = t3.plus_secs(3600);
        b.flow.source = "192.0.2.7:6000".parse().expect("address");
        q.saved(&b, t3);
        assert_eq!(q.take().len(), 1, "a new source is written at once");
        // After a removal the binding counts as new again.
        q.removed(&b);
        q.take();
        q.saved(&b, t3);
        assert_eq!(q.take().len(), 1);
    }
}
