//! One actor per transaction: the shell around a sans-IO machine of `sip::transaction`.
//!
//! Every input (a matched request or response, a response from the transaction user, a
//! CANCEL, a timer) is fed to the machine inside [`guard`]; then the actor drains the
//! machine's actions (send, deliver, timeout, transport error, state change, terminated),
//! counts retransmissions and re-arms its one timer at `next_deadline()`. A panic anywhere in
//! that stops the actor and is reported to the `TransactionLayer` as [`ChildFailed`].

use std::net::SocketAddr;
use std::time::Instant;

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Recipient, SpawnHandle};
use bytes::Bytes;
use sip::transaction::{TransactionAction, TransactionKey, TransactionState};
use sip::{Method, Request, Response, SipMessage};
use tracing::{debug, warn};

use super::TransactionLayer;
use super::lingering::Lingering;
use super::machine::Machine;
use super::messages::{
    CancelInvite, Linger, MatchedRequest, MatchedResponse, RegisterAlias, Release, Respond,
    ResponseNotice, TxEnded, TxEvent, TxEventKind,
};
use crate::events::{EventDraft, Layer, routine_events};
use crate::metrics::{Direction, TransactionKind};
use crate::stack::Services;
use crate::supervision::{ChildFailed, ChildKind, InjectPanic, guard};
use crate::transport::{Flow, TransportKind};
use crate::ua_core::{new_tag, response_to};

/// Everything a transaction actor starts with.
pub(crate) struct TxSetup {
    pub(crate) child: u64,
    pub(crate) machine: Machine,
    pub(crate) flow: Flow,
    /// Where its messages go: for a server transaction over UDP the response address of
    /// RFC 3261 §18.2.2, else the flow's peer.
    pub(crate) destination: SocketAddr,
    /// Who hears about deliveries, timeouts and errors (none for a CANCEL, which the layer
    /// handles itself).
    pub(crate) tu: Option<Recipient<TxEvent>>,
    /// The request's Call-ID.
    pub(crate) call_id: String,
    pub(crate) layer: Addr<TransactionLayer>,
    pub(crate) services: Services,
}

/// The actor of one transaction (see the module documentation).
pub struct TransactionActor {
    child: u64,
    key: TransactionKey,
    kind: TransactionKind,
    machine: Machine,
    flow: Flow,
    destination: SocketAddr,
    tu: Option<Recipient<TxEvent>>,
    layer: Addr<TransactionLayer>,
    services: Services,
    call_id: String,
    method: Method,
    /// Whether its routine events are published (not REGISTER's without debug logging).
    events: bool,
    /// The bytes of the final response sent, for the lingering entry.
    final_bytes: Option<Bytes>,
    /// The dialog to tell about responses sent for this request.
    notify: Option<Recipient<ResponseNotice>>,
    timer: Option<(Instant, SpawnHandle)>,
    /// Why the current input changes state (for the events).
    cause: Option<String>,
    /// The latest response sent (server) or received (client).
    status: Option<u16>,
    /// The To tag of the provisional responses sent, reused by a 487 after CANCEL.
    provisional_tag: Option<String>,
    counted_retransmissions: u32,
    ended: bool,
    /// Handed over to the layer's lingering table; waiting for [`Release`].
    handed_over: bool,
}

impl TransactionActor {
    pub(crate) fn new(setup: TxSetup) -> TransactionActor {
        let key = setup.machine.key().clone();
        let method = setup.machine.request().method.clone();
        let kind = setup.machine.kind();
        // No tracing span per transaction (formatting its fields was a few per cent of a
        // registrar's CPU): the actor's log lines name the Call-ID and the key themselves.
        let events = setup.services.events.is_some() && routine_events(&method);
        TransactionActor {
            child: setup.child,
            key,
            kind,
            machine: setup.machine,
            flow: setup.flow,
            destination: setup.destination,
            tu: setup.tu,
            layer: setup.layer,
            services: setup.services,
            call_id: setup.call_id,
            method,
            events,
            final_bytes: None,
            notify: None,
            timer: None,
            cause: None,
            status: None,
            provisional_tag: None,
            counted_retransmissions: 0,
            ended: false,
            handed_over: false,
        }
    }

    /// Runs one input under the panic guard, then carries out what it caused.
    fn guarded(
        &mut self,
        ctx: &mut Context<Self>,
        input: impl FnOnce(&mut Self, &mut Context<Self>),
    ) {
        if self.ended {
            return;
        }
        let outcome = guard(|| {
            input(self, ctx);
            self.after_input(ctx);
        });
        if let Err(message) = outcome {
            self.fail(message, ctx);
        }
    }

    /// Reports a panic to the supervisor and stops.
    fn fail(&mut self, message: String, ctx: &mut Context<Self>) {
        self.ended = true;
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        self.layer.do_send(ChildFailed {
            kind: ChildKind::Transaction(self.kind),
            child: self.child,
            name: self.key.to_string(),
            call_id: self.call_id.clone(),
            message,
        });
        ctx.stop();
    }

    fn after_input(&mut self, ctx: &mut Context<Self>) {
        self.drain(ctx);
        let total = self.machine.retransmissions();
        if total > self.counted_retransmissions {
            for _ in self.counted_retransmissions..total {
                if let Some(m) = &self.services.metrics {
                    m.retransmission(Direction::Out);
                }
            }
            self.counted_retransmissions = total;
            self.publish_retransmission(Direction::Out, total);
        }
        self.cause = None;
        if !self.ended {
            self.rearm(ctx);
            self.hand_over_if_lingering();
        }
    }

    /// A non-INVITE server transaction over UDP that sent its final response only answers
    /// retransmissions until timer J: the layer keeps that as data (see `lingering`), so
    /// this actor hands over and stops once the layer has it ([`Release`]).
    fn hand_over_if_lingering(&mut self) {
        if self.handed_over
            || self.flow.transport != TransportKind::Udp
            || self.machine.state() != TransactionState::Completed
        {
            return;
        }
        let Machine::NonInviteServer(tx) = &self.machine else {
            return;
        };
        let (Some(response), Some(deadline)) =
            (tx.last_response(), self.timer.as_ref().map(|(at, _)| *at))
        else {
            return;
        };
        let status = response.status;
        let bytes = match self.final_bytes.take() {
            Some(bytes) => bytes,
            None => response.to_bytes(),
        };
        self.handed_over = true;
        self.layer.do_send(Linger {
            key: self.key.clone(),
            child: self.child,
            entry: Lingering {
                status,
                response: bytes,
                destination: self.destination,
                flow: self.flow,
                deadline,
                call_id: self.call_id.clone(),
            },
        });
    }

    /// Carries out every action the machine queued. Within each batch the state changes are
    /// published first, so the event log shows a transition before the message that caused it
    /// can reach the peer; the other actions keep their order (`Terminated` last).
    fn drain(&mut self, ctx: &mut Context<Self>) {
        loop {
            let batch: Vec<TransactionAction> =
                std::iter::from_fn(|| self.machine.common().poll_action()).collect();
            if batch.is_empty() {
                return;
            }
            for action in &batch {
                match action {
                    TransactionAction::Timeout => self.cause = Some("timeout".to_owned()),
                    TransactionAction::TransportError => {
                        self.cause = Some("transport error".to_owned());
                    }
                    TransactionAction::StateChanged { from, to } => {
                        self.publish_state(Some(*from), *to);
                    }
                    _ => {}
                }
            }
            for action in batch {
                self.carry_out(action, ctx);
            }
        }
    }

    fn carry_out(&mut self, action: TransactionAction, ctx: &mut Context<Self>) {
        match action {
            TransactionAction::Send(message) => {
                match self
                    .services
                    .send_message(&self.flow, self.destination, &message)
                {
                    Some(bytes) => {
                        if let SipMessage::Response(r) = &message
                            && r.status >= 200
                            && matches!(self.machine, Machine::NonInviteServer(_))
                        {
                            self.final_bytes = Some(bytes);
                        }
                    }
                    None => {
                        self.cause = Some("transport error".to_owned());
                        self.machine.common().on_transport_error(Instant::now());
                    }
                }
            }
            TransactionAction::Deliver(message) => self.deliver(message, ctx),
            TransactionAction::Timeout => {
                if let Some(m) = &self.services.metrics {
                    m.transaction_timeout(self.kind);
                }
                warn!(call_id = %self.call_id, transaction = %self.key, state = %self.machine.state(), "sip transaction timed out");
                self.tell_tu(TxEventKind::Timeout, ctx);
            }
            TransactionAction::TransportError => {
                warn!(call_id = %self.call_id, transaction = %self.key, flow = %self.flow, "sip transaction: transport error");
                self.tell_tu(TxEventKind::TransportError, ctx);
            }
            // Published before the batch ran.
            TransactionAction::StateChanged { .. } => {}
            TransactionAction::Terminated => {
                self.ended = true;
                if let Some((_, handle)) = self.timer.take() {
                    ctx.cancel_future(handle);
                }
                self.layer.do_send(TxEnded {
                    key: self.key.clone(),
                    child: self.child,
                });
                ctx.stop();
            }
        }
    }

    fn deliver(&mut self, message: SipMessage, ctx: &mut Context<Self>) {
        let kind = match message {
            SipMessage::Request(r) => TxEventKind::Request(r),
            SipMessage::Response(r) => TxEventKind::Response(r),
        };
        self.tell_tu(kind, ctx);
    }

    fn tell_tu(&self, kind: TxEventKind, ctx: &mut Context<Self>) {
        if let Some(tu) = &self.tu {
            tu.do_send(TxEvent {
                key: self.key.clone(),
                call_id: self.call_id.clone(),
                tx: ctx.address(),
                flow: self.flow,
                kind,
            });
        }
    }

    /// Arms the one timer at the machine's next deadline (re-arming only when it moved).
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        let next = self.machine.common().next_deadline();
        if self.timer.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(at) = next {
            let delay = at.saturating_duration_since(Instant::now());
            let handle = ctx.run_later(delay, move |act, ctx| {
                act.timer = None;
                act.guarded(ctx, |a, _| {
                    a.cause = Some("timer".to_owned());
                    // Never earlier than the deadline, whatever the timer's rounding.
                    let now = Instant::now().max(at);
                    a.machine.common().on_timeout(now);
                });
            });
            self.timer = Some((at, handle));
        }
    }

    fn publish_state(&self, from: Option<TransactionState>, to: TransactionState) {
        debug!(
            call_id = %self.call_id,
            transaction = %self.key,
            from = from.map_or("-", TransactionState::as_str),
            to = to.as_str(),
            status = self.status,
            cause = self.cause.as_deref().unwrap_or("-"),
            "sip transaction state"
        );
        if !self.events {
            return;
        }
        let mut draft = EventDraft::new(Layer::Transaction, &self.call_id)
            .kind(if from.is_some() { "state" } else { "created" })
            .transaction(self.key.to_string())
            .method(self.method.as_str());
        draft.from_state = from.map(|s| s.as_str().to_owned());
        draft.to_state = Some(to.as_str().to_owned());
        if let Some(status) = self.status {
            draft = draft.status(status);
        }
        if let Some(cause) = &self.cause {
            draft = draft.cause(cause.clone());
        }
        draft.detail = Some(serde_json::json!({ "kind": self.kind.as_str() }));
        self.services.publish(draft);
    }

    fn publish_retransmission(&self, direction: Direction, total: u32) {
        debug!(call_id = %self.call_id, transaction = %self.key, direction = direction.as_str(), total, "sip retransmission");
        if !self.events {
            return;
        }
        let mut draft = EventDraft::new(Layer::Transaction, &self.call_id)
            .kind("retransmission")
            .transaction(self.key.to_string())
            .method(self.method.as_str())
            .detail(serde_json::json!({
                "direction": direction.as_str(),
                "total": total,
                "kind": self.kind.as_str(),
            }));
        if let Some(status) = self.status {
            draft = draft.status(status);
        }
        self.services.publish(draft);
    }

    /// Counts a request or response the peer sent again.
    fn count_incoming_retransmission(&mut self) {
        if let Some(m) = &self.services.metrics {
            m.retransmission(Direction::In);
        }
        self.publish_retransmission(Direction::In, 1);
    }

    fn on_matched_request(&mut self, request: Request) {
        if request.method == Method::Ack {
            self.cause = Some("ACK received".to_owned());
            if self.machine.state() != TransactionState::Accepted {
                crate::stats::SipCounters::bump(&self.services.counters.acks_absorbed);
            }
        } else {
            self.cause = Some("request retransmitted".to_owned());
            self.count_incoming_retransmission();
        }
        self.machine.on_request(request, Instant::now());
    }

    fn on_matched_response(&mut self, response: Response) {
        let state = self.machine.state();
        if matches!(
            state,
            TransactionState::Completed | TransactionState::Accepted
        ) {
            self.count_incoming_retransmission();
        }
        self.status = Some(response.status);
        self.cause = Some(format!("{} received", response.status));
        self.machine.on_response(response, Instant::now());
    }

    fn on_respond(&mut self, respond: Respond, ctx: &mut Context<Self>) {
        let Respond { response, notify } = respond;
        let status = response.status;
        let tag = if (101..200).contains(&status) {
            response
                .headers
                .to()
                .and_then(|t| t.tag())
                .map(str::to_owned)
        } else {
            None
        };
        // A copy only for whoever is to be told.
        let notice = notify.as_ref().map(|_| response.clone());
        match self.machine.send_response(response, Instant::now()) {
            Ok(()) => {
                self.status = Some(status);
                self.cause = Some(format!("{status} sent"));
                if tag.is_some() {
                    self.provisional_tag = tag;
                }
                if let (Some(n), Some(response)) = (notify, notice) {
                    // Before the response leaves, so the dialog knows of it first.
                    n.do_send(ResponseNotice::Sent(response));
                    self.notify = Some(n);
                }
                if status >= 300
                    && let Some(alias) = self.machine.ack_alias()
                {
                    self.layer.do_send(RegisterAlias {
                        alias,
                        key: self.key.clone(),
                    });
                }
            }
            Err(e) => {
                debug!(call_id = %self.call_id, transaction = %self.key, status, error = %e, "sip transaction refused a response");
                if let (Some(n), Some(response)) = (notify, notice) {
                    n.do_send(ResponseNotice::Refused(response));
                }
                self.tell_tu(TxEventKind::Refused(status), ctx);
            }
        }
    }

    /// CANCEL for this INVITE server transaction (RFC 3261 §9.2): before a final response,
    /// 487 to the INVITE (To tag of the provisional responses) and 200 to the CANCEL (same
    /// tag), and the TU is told; afterwards 481 to the CANCEL.
    fn on_cancel(&mut self, cancel: CancelInvite, ctx: &mut Context<Self>) {
        let CancelInvite { cancel, cancel_tx } = cancel;
        let proceeding = matches!(self.machine, Machine::InviteServer(_))
            && self.machine.state() == TransactionState::Proceeding;
        if !proceeding {
            debug!(call_id = %self.call_id, transaction = %self.key, "CANCEL after the final response: 481");
            cancel_tx.do_send(Respond::plain(response_to(&cancel, 481)));
            return;
        }
        let tag = self.provisional_tag.clone().unwrap_or_else(new_tag);
        let server = sip::Header::Server(bytestring::ByteString::from_static(crate::SERVER_NAME));
        let terminated = Response::from_request(self.machine.request(), 487, Some(&tag))
            .with_header(server.clone());
        self.status = Some(487);
        self.cause = Some("CANCEL received".to_owned());
        if self
            .machine
            .send_response(terminated.clone(), Instant::now())
            .is_ok()
        {
            if let Some(n) = &self.notify {
                n.do_send(ResponseNotice::Sent(terminated));
            }
            let ok = Response::from_request(&cancel, 200, Some(&tag)).with_header(server);
            cancel_tx.do_send(Respond::plain(ok));
            self.tell_tu(TxEventKind::Cancelled, ctx);
        }
    }
}

impl Actor for TransactionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| {
            let state = a.machine.state();
            a.publish_state(None, state);
        });
    }
}

impl Handler<MatchedRequest> for TransactionActor {
    type Result = ();

    fn handle(&mut self, msg: MatchedRequest, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| a.on_matched_request(msg.0));
    }
}

impl Handler<MatchedResponse> for TransactionActor {
    type Result = ();

    fn handle(&mut self, msg: MatchedResponse, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| a.on_matched_response(msg.0));
    }
}

impl Handler<Respond> for TransactionActor {
    type Result = ();

    fn handle(&mut self, msg: Respond, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, ctx| a.on_respond(msg, ctx));
    }
}

impl Handler<CancelInvite> for TransactionActor {
    type Result = ();

    fn handle(&mut self, msg: CancelInvite, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, ctx| a.on_cancel(msg, ctx));
    }
}

impl Handler<Release> for TransactionActor {
    type Result = ();

    /// The layer holds the lingering transaction now: stop quietly (the layer ends it).
    fn handle(&mut self, _: Release, ctx: &mut Self::Context) {
        self.ended = true;
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        ctx.stop();
    }
}

impl Handler<InjectPanic> for TransactionActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| {
            panic!("injected panic in transaction {}", a.key);
        });
    }
}
