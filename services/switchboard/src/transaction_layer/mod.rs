//! The transaction layer (RFC 3261 §17): the `TransactionLayer` actor, supervisor of one
//! [`TransactionActor`] per transaction.
//!
//! Transports hand it every message that parsed ([`Incoming`]); it finds the transaction the
//! message belongs to (`TransactionKey::from_request` for requests, `from_response` for
//! responses) and passes it on, or creates a server transaction for a new request:
//!
//! - a request matching a live server transaction (a retransmission, or the ACK for a non-2xx
//!   final response) goes to that transaction, which absorbs it or sends its last response
//!   again;
//! - an ACK matching none (the ACK for a 2xx is a transaction of its own) goes to the
//!   dialog layer;
//! - a CANCEL gets a non-INVITE server transaction; the layer then finds the INVITE server
//!   transaction it cancels (`invite_key_for_cancel`) and lets it answer (487 to the INVITE
//!   and 200 to the CANCEL before a final response, else 481); with no such transaction the
//!   CANCEL gets 481;
//! - any other new request gets an INVITE or non-INVITE server transaction whose deliveries
//!   go to the user agent (no To tag) or to the dialog layer (a To tag);
//! - a request matching a lingering transaction (a non-INVITE server transaction over UDP
//!   that sent its final response: its actor handed it over as data until timer J, see
//!   `lingering`) gets that response again;
//! - a response matching a live client transaction goes to it; one matching none is a stray,
//!   handed to the dialog layer (a 2xx retransmitted after its transaction ended is the
//!   dialog's to acknowledge).
//!
//! Shards (see `shards`): with `[sip] workers` above one there is a layer per worker thread,
//! each holding the transactions of the Call-IDs that hash to it. A message or a
//! `StartClient` for a Call-ID another shard owns is forwarded there; `ListTransactions` and
//! `InjectTransactionPanic` cover every shard.
//!
//! Supervision: a transaction actor that panics reports `ChildFailed`; the layer counts it in
//! `sip_actor_failures_total{actor="transaction"}`, publishes a `child_failed` event, logs an
//! error with the Call-ID, tells the transaction user (`TxEventKind::Failed`) and forgets the
//! key. Other transactions are not affected.

mod actor;
mod lingering;
mod machine;
mod messages;
mod shards;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix::{Actor, Addr, AsyncContext, Context, Handler, Recipient, ResponseFuture};
use sip::transaction::{
    InviteClientTransaction, InviteServerTransaction, NonInviteClientTransaction,
    NonInviteServerTransaction, TransactionConfig, TransactionKey, TransactionState,
};
use sip::{Method, Request, Response, SipMessage};
use tracing::{debug, error, warn};

pub use actor::TransactionActor;
pub use messages::{
    Incoming, InjectTransactionPanic, ListTransactions, Respond, ResponseNotice, StartClient,
    TransactionInfo, TxEvent, TxEventKind,
};
pub use shards::{ShardRouter, shard_of};

use actor::TxSetup;
use lingering::{LINGERING_KIND, Lingering, LingeringTable};
use machine::Machine;
use messages::{
    CancelInvite, InjectLocalPanic, Linger, ListLocalTransactions, MatchedRequest, MatchedResponse,
    RegisterAlias, Release, TxEnded,
};

use crate::dialog_layer::{DialogSupervisor, StrayResponse, UnmatchedAck};
use crate::events::{EventDraft, Layer, routine_events};
use crate::metrics::TransactionKind;
use crate::stack::Services;
use crate::supervision::{ChildFailed, InjectPanic};
use crate::transport::{Flow, TransportKind};
use crate::ua_core::response_to;

/// Where the layer sends what is not for a transaction it holds.
#[derive(Clone)]
pub struct Routes {
    /// The transaction user of requests outside any dialog (no To tag): the user agent.
    pub out_of_dialog: Recipient<TxEvent>,
    /// The dialog layer: transaction user of requests with a To tag, and the place of ACKs
    /// and responses that match no transaction.
    pub dialogs: Addr<DialogSupervisor>,
}

/// One live transaction actor.
struct Child {
    id: u64,
    addr: Addr<TransactionActor>,
    kind: TransactionKind,
    call_id: String,
    flow: Flow,
    tu: Option<Recipient<TxEvent>>,
}

/// The supervisor of the transaction actors (see the module documentation).
pub struct TransactionLayer {
    config: TransactionConfig,
    services: Services,
    routes: Routes,
    children: HashMap<TransactionKey, Child>,
    /// ACK keys of RFC 2543 INVITE transactions answered with a To tag.
    aliases: HashMap<TransactionKey, TransactionKey>,
    /// Non-INVITE server transactions over UDP in Completed, kept as data until timer J.
    lingering: LingeringTable,
    next_child: u64,
    /// This layer's shard, and every shard's layer once all are started (see `shards`).
    shard: usize,
    shards: Arc<OnceLock<ShardRouter>>,
}

/// How often lingering transactions are checked for timer J.
const LINGER_SWEEP: std::time::Duration = std::time::Duration::from_millis(250);

impl TransactionLayer {
    /// A layer with these timer values.
    pub fn new(config: TransactionConfig, services: Services, routes: Routes) -> Self {
        TransactionLayer {
            config,
            services,
            routes,
            children: HashMap::new(),
            aliases: HashMap::new(),
            lingering: LingeringTable::default(),
            next_child: 1,
            shard: 0,
            shards: Arc::new(OnceLock::new()),
        }
    }

    /// This layer as shard `index` of the layers `shards` will hold once they are all
    /// started: messages for a Call-ID another shard owns are forwarded there.
    pub fn in_shard(mut self, index: usize, shards: Arc<OnceLock<ShardRouter>>) -> Self {
        self.shard = index;
        self.shards = shards;
        self
    }

    /// The layer of the shard owning `call_id`, when that is not this one.
    fn elsewhere(&self, call_id: &str) -> Option<Addr<TransactionLayer>> {
        let router = self.shards.get()?;
        if router.len() <= 1 {
            return None;
        }
        let owner = router.shard_of(call_id);
        (owner != self.shard).then(|| router.layers()[owner].clone())
    }

    /// The other shards' layers.
    fn peers(&self) -> Vec<Addr<TransactionLayer>> {
        self.shards.get().map_or_else(Vec::new, |router| {
            router
                .layers()
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.shard)
                .map(|(_, l)| l.clone())
                .collect()
        })
    }

    /// The live actor filed under `key` (an alias leads to its transaction). A stopped actor
    /// still filed is forgotten on the way.
    fn live(&mut self, key: &TransactionKey) -> Option<Addr<TransactionActor>> {
        if let Some(child) = self.children.get(key) {
            if child.addr.connected() {
                return Some(child.addr.clone());
            }
            let id = child.id;
            self.forget(key, id);
            return None;
        }
        let key = self.aliases.get(key)?.clone();
        let child = self.children.get(&key)?;
        if child.addr.connected() {
            return Some(child.addr.clone());
        }
        let id = child.id;
        self.forget(&key, id);
        None
    }

    /// Removes `key` if it still names child `id`; returns the child removed.
    fn forget(&mut self, key: &TransactionKey, id: u64) -> Option<Child> {
        if self.children.get(key).is_none_or(|c| c.id != id) {
            return None;
        }
        let child = self.children.remove(key)?;
        self.aliases.retain(|_, target| target != key);
        if let Some(m) = &self.services.metrics {
            m.transaction_ended(child.kind);
        }
        Some(child)
    }

    fn spawn(
        &mut self,
        machine: Machine,
        flow: Flow,
        destination: std::net::SocketAddr,
        tu: Option<Recipient<TxEvent>>,
        ctx: &mut Context<Self>,
    ) -> (TransactionKey, Addr<TransactionActor>) {
        let id = self.next_child;
        self.next_child += 1;
        let key = machine.key().clone();
        let kind = machine.kind();
        let call_id = machine
            .request()
            .headers
            .call_id()
            .map_or_else(String::new, |c| String::from(&**c));
        if let Some(old) = self.children.get(&key).map(|c| c.id) {
            self.forget(&key, old);
        }
        let addr = TransactionActor::new(TxSetup {
            child: id,
            machine,
            flow,
            destination,
            tu: tu.clone(),
            call_id: call_id.clone(),
            layer: ctx.address(),
            services: self.services.clone(),
        })
        .start();
        if let Some(m) = &self.services.metrics {
            m.transaction_started(kind);
        }
        self.children.insert(
            key.clone(),
            Child {
                id,
                addr: addr.clone(),
                kind,
                call_id,
                flow,
                tu,
            },
        );
        (key, addr)
    }

    /// Creates the server transaction for a new request.
    fn start_server(
        &mut self,
        request: Request,
        flow: Flow,
        tu: Option<Recipient<TxEvent>>,
        ctx: &mut Context<Self>,
    ) -> Option<(TransactionKey, Addr<TransactionActor>)> {
        let now = Instant::now();
        let reliable = flow.is_reliable();
        let destination = match (flow.transport, request.headers.top_via()) {
            (TransportKind::Udp, Some(via)) => sip::routing::response_destination(via, flow.peer),
            _ => flow.peer,
        };
        // Kept for the log line only if the transaction cannot be created.
        let call_id = request.headers.call_id().cloned();
        let machine = if request.method == Method::Invite {
            InviteServerTransaction::new(request, self.config, reliable, now)
                .map(Machine::InviteServer)
        } else {
            NonInviteServerTransaction::new(request, self.config, reliable, now)
                .map(Machine::NonInviteServer)
        };
        match machine {
            Ok(machine) => Some(self.spawn(machine, flow, destination, tu, ctx)),
            Err(e) => {
                let call_id = call_id.as_deref().unwrap_or("");
                warn!(call_id, error = %e, "sip in: cannot create a server transaction; request dropped");
                None
            }
        }
    }

    fn on_request(&mut self, request: Request, flow: Flow, ctx: &mut Context<Self>) {
        let key = match TransactionKey::from_request(&request) {
            Ok(key) => key,
            Err(e) => {
                let call_id = request.headers.call_id().map_or("", |c| c.as_ref());
                warn!(call_id, error = %e, "sip in: request without a transaction key dropped");
                return;
            }
        };
        if let Some(tx) = self.live(&key) {
            tx.do_send(MatchedRequest(request));
            return;
        }
        if request.method != Method::Ack && self.lingering.get(&key).is_some() {
            self.answer_from_lingering(&key);
            return;
        }
        match request.method {
            Method::Ack => self.on_unmatched_ack(request, flow),
            Method::Cancel => self.on_cancel(request, flow, ctx),
            _ => {
                let tu = self.transaction_user(&request);
                self.start_server(request, flow, Some(tu), ctx);
            }
        }
    }

    /// A retransmitted request of a lingering transaction: its final response again, counted
    /// and published as the transaction actor would (RFC 3261 §17.2.2).
    fn answer_from_lingering(&self, key: &TransactionKey) {
        let Some(entry) = self.lingering.get(key) else {
            return;
        };
        debug!(call_id = %entry.call_id, key = %key, status = entry.status, "retransmitted request: final response sent again");
        if let Some(m) = &self.services.metrics {
            m.retransmission(crate::metrics::Direction::In);
            m.retransmission(crate::metrics::Direction::Out);
            m.message_out(key.method(), Some(entry.status));
        }
        crate::stats::SipCounters::bump(&self.services.counters.responses_sent);
        let publish = self.services.events.is_some() && routine_events(key.method());
        for direction in ["in", "out"].into_iter().filter(|_| publish) {
            self.services.publish(
                EventDraft::new(Layer::Transaction, &entry.call_id)
                    .kind("retransmission")
                    .transaction(key.to_string())
                    .method(key.method().as_str())
                    .status(entry.status)
                    .detail(serde_json::json!({
                        "direction": direction,
                        "total": 1,
                        "kind": LINGERING_KIND.as_str(),
                    })),
            );
        }
        self.services
            .registry
            .send_on(&entry.flow, entry.destination, entry.response.clone());
    }

    /// Ends the lingering transactions whose timer J fired: Completed → Terminated.
    fn sweep_lingering(&mut self) {
        for (key, entry) in self.lingering.expire(Instant::now()) {
            self.end_lingering(&key, &entry);
        }
    }

    fn end_lingering(&self, key: &TransactionKey, entry: &Lingering) {
        if let Some(m) = &self.services.metrics {
            m.transaction_ended(LINGERING_KIND);
        }
        if self.services.events.is_none() || !routine_events(key.method()) {
            return;
        }
        let mut draft = EventDraft::new(Layer::Transaction, &entry.call_id)
            .kind("state")
            .transaction(key.to_string())
            .method(key.method().as_str())
            .status(entry.status)
            .cause("timer");
        draft.from_state = Some(TransactionState::Completed.as_str().to_owned());
        draft.to_state = Some(TransactionState::Terminated.as_str().to_owned());
        draft.detail = Some(serde_json::json!({ "kind": LINGERING_KIND.as_str() }));
        self.services.publish(draft);
    }

    /// The transaction user of a new request: the dialog layer when To has a tag (the
    /// request names a dialog, RFC 3261 §12.2.2), else the user agent.
    fn transaction_user(&self, request: &Request) -> Recipient<TxEvent> {
        match request.headers.to().and_then(|to| to.tag()) {
            Some(_) => self.routes.dialogs.clone().recipient(),
            None => self.routes.out_of_dialog.clone(),
        }
    }

    /// An ACK matching no transaction: the ACK for a 2xx, which belongs to its dialog.
    fn on_unmatched_ack(&mut self, request: Request, flow: Flow) {
        self.routes.dialogs.do_send(UnmatchedAck { request, flow });
    }

    fn on_cancel(&mut self, cancel: Request, flow: Flow, ctx: &mut Context<Self>) {
        let Some((key, cancel_tx)) = self.start_server(cancel.clone(), flow, None, ctx) else {
            return;
        };
        match key.invite_key_for_cancel().and_then(|k| self.live(&k)) {
            Some(invite_tx) => invite_tx.do_send(CancelInvite { cancel, cancel_tx }),
            None => {
                let call_id = cancel.headers.call_id().map_or("", |c| c.as_ref());
                debug!(call_id, key = %key, "CANCEL matches no INVITE transaction: 481");
                cancel_tx.do_send(Respond::plain(response_to(&cancel, 481)));
            }
        }
    }

    /// A response goes to its client transaction; a stray one (e.g. a 2xx retransmitted
    /// after its INVITE transaction ended) to the dialog layer.
    fn on_response(&mut self, response: Response, flow: Flow) {
        let tx = TransactionKey::from_response(&response)
            .ok()
            .and_then(|key| self.live(&key));
        match tx {
            Some(tx) => tx.do_send(MatchedResponse(response)),
            None => self
                .routes
                .dialogs
                .do_send(StrayResponse { response, flow }),
        }
    }

    /// Records a child's failure: metric, event, error log; tells its transaction user.
    fn on_child_failed(&mut self, failed: ChildFailed) {
        let key = self
            .children
            .iter()
            .find(|(_, c)| c.id == failed.child)
            .map(|(k, _)| k.clone());
        if let Some(m) = &self.services.metrics {
            m.actor_failed(failed.kind.label());
        }
        error!(
            call_id = %failed.call_id,
            transaction = %failed.name,
            kind = %failed.kind,
            panic = %failed.message,
            "transaction actor panicked; stopped and forgotten (other transactions carry on)"
        );
        self.services.publish(
            EventDraft::new(Layer::Transaction, &failed.call_id)
                .kind("child_failed")
                .transaction(failed.name.clone())
                .cause(failed.message.clone())
                .detail(serde_json::json!({ "actor": failed.kind.to_string() })),
        );
        let Some(key) = key else { return };
        if let Some(child) = self.forget(&key, failed.child)
            && let Some(tu) = child.tu
        {
            tu.do_send(TxEvent {
                key,
                call_id: child.call_id,
                tx: child.addr,
                flow: child.flow,
                kind: TxEventKind::Failed,
            });
        }
    }
}

impl Actor for TransactionLayer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(LINGER_SWEEP, |layer, _| layer.sweep_lingering());
    }
}

impl Handler<Linger> for TransactionLayer {
    type Result = ();

    /// Takes over a Completed non-INVITE server transaction (if it is still the one filed
    /// under its key) and releases its actor.
    fn handle(&mut self, msg: Linger, _ctx: &mut Self::Context) {
        if self
            .children
            .get(&msg.key)
            .is_none_or(|c| c.id != msg.child)
        {
            return;
        }
        let Some(child) = self.children.remove(&msg.key) else {
            return;
        };
        self.aliases.retain(|_, target| *target != msg.key);
        self.lingering.insert(msg.key, msg.entry);
        child.addr.do_send(Release);
    }
}

impl Handler<Incoming> for TransactionLayer {
    type Result = ();

    fn handle(&mut self, msg: Incoming, ctx: &mut Self::Context) {
        // The transports route by Call-ID already; this only catches a sender that did not.
        let call_id = msg.message.headers().call_id().map_or("", |c| c.as_ref());
        if let Some(owner) = self.elsewhere(call_id) {
            owner.do_send(msg);
            return;
        }
        match msg.message {
            SipMessage::Request(r) => self.on_request(r, msg.flow, ctx),
            SipMessage::Response(r) => self.on_response(r, msg.flow),
        }
    }
}

impl Handler<StartClient> for TransactionLayer {
    type Result = ();

    fn handle(&mut self, msg: StartClient, ctx: &mut Self::Context) {
        // The responses will come to the shard owning the Call-ID: the transaction lives there.
        let call_id = msg.request.headers.call_id().map_or("", |c| c.as_ref());
        if let Some(owner) = self.elsewhere(call_id) {
            owner.do_send(msg);
            return;
        }
        let now = Instant::now();
        let reliable = msg.flow.is_reliable();
        let call_id = msg
            .request
            .headers
            .call_id()
            .map_or_else(String::new, ToString::to_string);
        let machine = match msg.request.method {
            Method::Invite => InviteClientTransaction::new(msg.request, self.config, reliable, now)
                .map(Machine::InviteClient),
            _ => NonInviteClientTransaction::new(msg.request, self.config, reliable, now)
                .map(Machine::NonInviteClient),
        };
        match machine {
            Ok(machine) => {
                self.spawn(machine, msg.flow, msg.flow.peer, Some(msg.tu), ctx);
            }
            Err(e) => {
                error!(call_id = %call_id, error = %e, "cannot start a client transaction");
            }
        }
    }
}

impl Handler<TxEnded> for TransactionLayer {
    type Result = ();

    fn handle(&mut self, msg: TxEnded, _ctx: &mut Self::Context) {
        self.forget(&msg.key, msg.child);
    }
}

impl Handler<RegisterAlias> for TransactionLayer {
    type Result = ();

    fn handle(&mut self, msg: RegisterAlias, _ctx: &mut Self::Context) {
        if self.children.contains_key(&msg.key) {
            self.aliases.insert(msg.alias, msg.key);
        }
    }
}

impl Handler<ChildFailed> for TransactionLayer {
    type Result = ();

    fn handle(&mut self, msg: ChildFailed, _ctx: &mut Self::Context) {
        self.on_child_failed(msg);
    }
}

impl TransactionLayer {
    /// Makes the live transaction filed under `key` on this shard panic; false if none.
    fn inject_panic(&mut self, key: &TransactionKey) -> bool {
        match self.live(key) {
            Some(tx) => {
                warn!(key = %key, "fault injection: making a transaction actor panic");
                tx.do_send(InjectPanic);
                true
            }
            None => false,
        }
    }

    /// The live and lingering transactions of this shard.
    fn list_local(&self) -> Vec<TransactionInfo> {
        let live = self
            .children
            .iter()
            .filter(|(_, c)| c.addr.connected())
            .map(|(key, c)| TransactionInfo {
                key: key.clone(),
                kind: c.kind,
                call_id: c.call_id.clone(),
            });
        let lingering = self.lingering.iter().map(|(key, e)| TransactionInfo {
            key: key.clone(),
            kind: LINGERING_KIND,
            call_id: e.call_id.clone(),
        });
        live.chain(lingering).collect()
    }
}

impl Handler<InjectTransactionPanic> for TransactionLayer {
    type Result = ResponseFuture<bool>;

    /// The key names no Call-ID: this shard first, then the others.
    fn handle(&mut self, msg: InjectTransactionPanic, _ctx: &mut Self::Context) -> Self::Result {
        if self.inject_panic(&msg.key) {
            return Box::pin(async { true });
        }
        let peers = self.peers();
        Box::pin(async move {
            for peer in peers {
                if peer
                    .send(InjectLocalPanic(msg.key.clone()))
                    .await
                    .unwrap_or(false)
                {
                    return true;
                }
            }
            false
        })
    }
}

impl Handler<InjectLocalPanic> for TransactionLayer {
    type Result = bool;

    fn handle(&mut self, msg: InjectLocalPanic, _ctx: &mut Self::Context) -> bool {
        self.inject_panic(&msg.0)
    }
}

impl Handler<ListTransactions> for TransactionLayer {
    type Result = ResponseFuture<Vec<TransactionInfo>>;

    /// Every shard's transactions.
    fn handle(&mut self, _: ListTransactions, _ctx: &mut Self::Context) -> Self::Result {
        let mut all = self.list_local();
        let peers = self.peers();
        Box::pin(async move {
            for peer in peers {
                all.extend(peer.send(ListLocalTransactions).await.unwrap_or_default());
            }
            all
        })
    }
}

impl Handler<ListLocalTransactions> for TransactionLayer {
    type Result = Vec<TransactionInfo>;

    fn handle(&mut self, _: ListLocalTransactions, _ctx: &mut Self::Context) -> Self::Result {
        self.list_local()
    }
}
