//! One actor per dialog: the shell around a `sip::dialog::Dialog`.
//!
//! Inputs: requests the peer sends in the dialog ([`InDialog`]), the responses its INVITE
//! transaction sends ([`ResponseNotice`], which confirm or end the dialog and start the 2xx
//! retransmissions), [`Abort`], and its one timer (2xx retransmission, T1 doubling to T2;
//! after 64*T1 without ACK a BYE through a non-INVITE client transaction and the end of the
//! dialog, RFC 3261 §13.3.1.4). Each runs under [`guard`]; state changes go to the event log
//! (layer Dialog). An INFO carrying a DTMF digit is answered 200 and reported as a Call-layer
//! `dtmf` event (see `info`). The actor stops when the dialog is terminated.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Recipient, SpawnHandle};
use bytestring::ByteString;
use sip::dialog::{Cause, Dialog, DialogAction, DialogState, RequestVerdict, StateChange};
use sip::{Header, Method, Request, Response, SipMessage, Via};
use tracing::{Span, debug, info, info_span, warn};

use super::control::{DialogNotice, DialogNoticeKind, Hangup, SendDtmfInfo, UacResponse};
use super::info::{self, InfoOutcome};
use super::{Abort, DialogEnded, DialogSupervisor, InDialog};
use crate::events::{EventDraft, Layer};
use crate::metrics::Direction;
use crate::stack::Services;
use crate::supervision::{ChildFailed, ChildKind, InjectPanic, guard};
use crate::transaction_layer::{
    Respond, ResponseNotice, StartClient, TransactionActor, TransactionLayer,
};
use crate::transport::{Flow, TransportKind};
use crate::ua_core::UaCore;

/// Everything a dialog actor starts with.
pub(super) struct DialogSetup {
    pub(super) child: u64,
    pub(super) dialog: Dialog,
    pub(super) created: Vec<DialogAction>,
    pub(super) flow: Flow,
    pub(super) local: SocketAddr,
    pub(super) supervisor: Addr<DialogSupervisor>,
    pub(super) transactions: Addr<TransactionLayer>,
    pub(super) services: Services,
    pub(super) core: Arc<UaCore>,
    pub(super) owner: Option<Recipient<DialogNotice>>,
}

/// How a dialog ended, for its owner.
struct DialogEnd {
    by_peer_bye: bool,
    rejected: Option<u16>,
    cause: String,
}

impl DialogEnd {
    fn by_us(cause: &str) -> DialogEnd {
        DialogEnd {
            by_peer_bye: false,
            rejected: None,
            cause: cause.to_owned(),
        }
    }
}

/// The actor of one dialog (see the module documentation).
pub struct DialogActor {
    child: u64,
    dialog: Dialog,
    created: Vec<DialogAction>,
    flow: Flow,
    local: SocketAddr,
    supervisor: Addr<DialogSupervisor>,
    transactions: Addr<TransactionLayer>,
    services: Services,
    core: Arc<UaCore>,
    owner: Option<Recipient<DialogNotice>>,
    /// Why the dialog terminated, once it has (for the owner's notice).
    end: Option<DialogEnd>,
    /// The CSeq of the INVITE whose 2xx we acknowledged (UAC dialogs).
    acked_invite: Option<u32>,
    call_id: String,
    span: Span,
    timer: Option<(Instant, SpawnHandle)>,
    retransmissions: u32,
    aborted: bool,
    ended: bool,
}

impl DialogActor {
    pub(super) fn new(setup: DialogSetup) -> DialogActor {
        let id = setup.dialog.id().clone();
        let call_id = id.call_id.to_string();
        let span = info_span!("dialog", call_id = %call_id, dialog = %id);
        DialogActor {
            child: setup.child,
            dialog: setup.dialog,
            created: setup.created,
            flow: setup.flow,
            local: setup.local,
            supervisor: setup.supervisor,
            transactions: setup.transactions,
            services: setup.services,
            core: setup.core,
            owner: setup.owner,
            end: None,
            acked_invite: None,
            call_id,
            span,
            timer: None,
            retransmissions: 0,
            aborted: false,
            ended: false,
        }
    }

    /// Runs one input under the panic guard, then re-arms the timer or finishes.
    fn guarded(
        &mut self,
        ctx: &mut Context<Self>,
        input: impl FnOnce(&mut Self, &mut Context<Self>),
    ) {
        if self.ended {
            return;
        }
        let span = self.span.clone();
        let _entered = span.enter();
        let outcome = guard(|| {
            input(self, ctx);
            self.after_input(ctx);
        });
        if let Err(message) = outcome {
            self.ended = true;
            if let Some((_, handle)) = self.timer.take() {
                ctx.cancel_future(handle);
            }
            self.end = Some(DialogEnd::by_us(&format!("dialog actor failed: {message}")));
            self.notify_end();
            self.supervisor.do_send(ChildFailed {
                kind: ChildKind::Dialog,
                child: self.child,
                name: self.dialog.id().to_string(),
                call_id: self.call_id.clone(),
                message,
            });
            ctx.stop();
        }
    }

    fn after_input(&mut self, ctx: &mut Context<Self>) {
        if self.aborted || self.dialog.state() == DialogState::Terminated {
            self.ended = true;
            if let Some((_, handle)) = self.timer.take() {
                ctx.cancel_future(handle);
            }
            self.supervisor.do_send(DialogEnded {
                id: self.dialog.id().clone(),
                child: self.child,
            });
            self.notify_end();
            ctx.stop();
            return;
        }
        self.rearm(ctx);
    }

    fn rearm(&mut self, ctx: &mut Context<Self>) {
        let next = self.dialog.next_deadline();
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
                    let now = Instant::now().max(at);
                    let via = a.new_via();
                    let actions = a.dialog.on_timeout(now, || via);
                    a.apply(actions);
                });
            });
            self.timer = Some((at, handle));
        }
    }

    /// A Via with a fresh branch for a request we send in the dialog.
    fn new_via(&self) -> Via {
        crate::ua_core::outgoing::new_via(self.local, self.flow.transport)
    }

    /// Carries out the dialog's actions, in order.
    fn apply(&mut self, actions: Vec<DialogAction>) {
        for action in actions {
            match action {
                DialogAction::StateChanged(change) => self.publish_state(&change),
                DialogAction::SendResponse(response) => self.retransmit(&response),
                DialogAction::SendRequest(request) if request.method == Method::Ack => {
                    let message = SipMessage::Request(request);
                    self.services.send(&self.flow, self.flow.peer, &message);
                }
                DialogAction::SendRequest(request) => {
                    info!(method = %request.method, "dialog sends a request");
                    self.transactions.do_send(StartClient {
                        request,
                        flow: self.flow,
                        tu: self.supervisor.clone().recipient(),
                    });
                }
            }
        }
    }

    /// Sends an unacknowledged 2xx again (RFC 3261 §13.3.1.4).
    fn retransmit(&mut self, response: &Response) {
        let destination = match (self.flow.transport, response.headers.top_via()) {
            (TransportKind::Udp, Some(via)) => {
                sip::routing::response_destination(via, self.flow.peer)
            }
            _ => self.flow.peer,
        };
        self.retransmissions += 1;
        if let Some(m) = &self.services.metrics {
            m.retransmission(Direction::Out);
        }
        debug!(
            status = response.status,
            total = self.retransmissions,
            "2xx retransmitted (no ACK yet)"
        );
        self.services.publish(
            EventDraft::new(Layer::Dialog, &self.call_id)
                .kind("retransmission")
                .dialog(self.dialog.id().to_string())
                .method("INVITE")
                .status(response.status)
                .detail(serde_json::json!({
                    "direction": Direction::Out.as_str(),
                    "total": self.retransmissions,
                })),
        );
        let message = SipMessage::Response(response.clone());
        self.services.send(&self.flow, destination, &message);
    }

    /// Tells the owner, if any, that the dialog ended and why.
    fn notify_end(&mut self) {
        let Some(owner) = &self.owner else {
            return;
        };
        let end = self.end.take().unwrap_or(DialogEnd {
            by_peer_bye: false,
            rejected: None,
            cause: "dialog ended".to_owned(),
        });
        owner.do_send(DialogNotice {
            dialog: self.dialog.id().clone(),
            kind: DialogNoticeKind::Ended {
                by_peer_bye: end.by_peer_bye,
                rejected: end.rejected,
                cause: end.cause,
            },
        });
    }

    fn publish_state(&mut self, change: &StateChange) {
        if change.to == DialogState::Terminated {
            self.end = Some(DialogEnd {
                by_peer_bye: matches!(change.cause, Cause::ByeReceived),
                rejected: match change.cause {
                    Cause::Rejected(status) => Some(status),
                    _ => None,
                },
                cause: change.cause.to_string(),
            });
        }
        let from = change.from.map_or("new", DialogState::as_str);
        info!(
            from,
            to = change.to.as_str(),
            cause = %change.cause,
            "dialog state"
        );
        let mut draft = EventDraft::new(Layer::Dialog, &self.call_id)
            .kind(if change.from.is_some() {
                "state"
            } else {
                "created"
            })
            .dialog(change.id.to_string())
            .cause(change.cause.to_string());
        draft.from_state = change.from.map(|s| s.as_str().to_owned());
        draft.to_state = Some(change.to.as_str().to_owned());
        if let Some(status) = status_of(&change.cause) {
            draft = draft.status(status).method("INVITE");
        }
        if matches!(
            change.cause,
            Cause::ByeReceived | Cause::ByeSent | Cause::NoAck
        ) {
            draft = draft.method("BYE");
        }
        draft.detail = Some(serde_json::json!({ "role": self.dialog.role().to_string() }));
        self.services.publish(draft);
    }

    fn respond(&self, tx: Option<&Addr<TransactionActor>>, response: Response) {
        match tx {
            Some(tx) => tx.do_send(Respond::plain(response)),
            None => warn!(status = response.status, "no transaction to answer through"),
        }
    }

    fn on_request(&mut self, msg: InDialog) {
        let InDialog { request, tx } = msg;
        let awaiting_ack = self.dialog.awaiting_ack();
        let retry_after = rand::random_range(0..=10);
        match self.dialog.on_request(&request, retry_after) {
            RequestVerdict::Drop => debug!(method = %request.method, "in-dialog request dropped"),
            RequestVerdict::Respond(response) => {
                debug!(status = response.status, method = %request.method, "in-dialog request refused");
                self.respond(tx.as_ref(), with_server(response));
            }
            RequestVerdict::Accept(actions) => {
                self.apply(actions);
                self.on_accepted(&request, tx.as_ref(), awaiting_ack);
            }
        }
    }

    /// A request the dialog accepted: answer it by method.
    fn on_accepted(
        &mut self,
        request: &Request,
        tx: Option<&Addr<TransactionActor>>,
        awaiting_ack: bool,
    ) {
        match request.method {
            Method::Ack => {
                if awaiting_ack && !self.dialog.awaiting_ack() {
                    info!("ACK received: 2xx retransmissions stop");
                    self.services.publish(
                        EventDraft::new(Layer::Dialog, &self.call_id)
                            .kind("ack_received")
                            .dialog(self.dialog.id().to_string())
                            .method("ACK")
                            .detail(serde_json::json!({
                                "retransmissions": self.retransmissions,
                            })),
                    );
                }
            }
            // The dialog is terminated already (cause "BYE received"); §15.1.2: 200.
            Method::Bye => self.respond(tx, crate::ua_core::response_to(request, 200)),
            _ => {
                let response = match self.core.check(request) {
                    Err(rejection) => rejection,
                    Ok(()) => self.answer(request),
                };
                if request.method == Method::Invite {
                    // The re-INVITE's final response ends its pending state (§14.2).
                    match self.dialog.on_response_sent(&response, Instant::now()) {
                        Ok(actions) => self.apply(actions),
                        Err(e) => warn!(error = %e, "re-INVITE response does not fit the dialog"),
                    }
                }
                self.respond(tx, response);
            }
        }
    }

    /// The answer to an in-dialog request that passed the dialog's and §8.2's checks.
    fn answer(&self, request: &Request) -> Response {
        match request.method {
            Method::Options => self.core.options_ok(request),
            Method::Info => self.answer_info(request),
            // Media changes arrive with the media issue; until then the session stays as is.
            Method::Invite => {
                self.core
                    .response(request, 488)
                    .with_header(crate::ua_core::warning_399(
                        &self.local.ip().to_string(),
                        "re-INVITE is not supported yet",
                    ))
            }
            _ => self
                .core
                .response(request, 501)
                .with_header(crate::ua_core::allow()),
        }
    }

    /// Answers an INFO (RFC 6086) and reports the DTMF digit it carries, if any.
    fn answer_info(&self, request: &Request) -> Response {
        let outcome = info::read(request, Instant::now());
        let response = info::response(&self.core, request, &outcome);
        let dialog = self.dialog.id().to_string();
        match &outcome {
            InfoOutcome::Digit(event) => {
                info!(
                    call_id = %self.call_id,
                    dialog = %dialog,
                    digit = %event.digit,
                    duration_ms = event.duration_ms,
                    "DTMF by SIP INFO"
                );
                self.services
                    .publish(info::dtmf_event(&self.call_id, &dialog, event));
                if let Some(owner) = &self.owner {
                    owner.do_send(DialogNotice {
                        dialog: self.dialog.id().clone(),
                        kind: DialogNoticeKind::Dtmf(*event),
                    });
                }
            }
            InfoOutcome::Empty => {
                debug!(call_id = %self.call_id, dialog = %dialog, "empty INFO: 200")
            }
            InfoOutcome::BadPackage | InfoOutcome::Refused(_) => info!(
                call_id = %self.call_id,
                dialog = %dialog,
                status = response.status,
                reason = %response.reason,
                "INFO refused"
            ),
        }
        response
    }

    fn on_notice(&mut self, notice: ResponseNotice) {
        match notice {
            ResponseNotice::Sent(response) => {
                match self.dialog.on_response_sent(&response, Instant::now()) {
                    Ok(actions) => self.apply(actions),
                    Err(e) => {
                        warn!(status = response.status, error = %e, "response sent does not fit the dialog")
                    }
                }
            }
            ResponseNotice::Refused(response) => {
                if self.dialog.state() == DialogState::Early {
                    self.abort(&format!(
                        "INVITE transaction refused the {} (already answered)",
                        response.status
                    ));
                }
            }
        }
    }

    /// Ends the dialog without a message (its INVITE transaction cannot answer any more).
    fn abort(&mut self, cause: &str) {
        if self.aborted || self.dialog.state() == DialogState::Terminated {
            return;
        }
        info!(cause, "dialog aborted");
        self.end = Some(DialogEnd::by_us(cause));
        let mut draft = EventDraft::new(Layer::Dialog, &self.call_id)
            .kind("state")
            .dialog(self.dialog.id().to_string())
            .transition(
                self.dialog.state().as_str(),
                DialogState::Terminated.as_str(),
            )
            .cause(cause);
        draft.detail = Some(serde_json::json!({ "role": self.dialog.role().to_string() }));
        self.services.publish(draft);
        // The sans-IO dialog has no message-free way to end; the actor stops holding it.
        self.aborted = true;
    }
}

impl DialogActor {
    /// Ends the dialog with BYE through a client transaction; an early dialog we may not
    /// BYE (the callee's side) ends without a message.
    fn hangup(&mut self, cause: &str) {
        if self.aborted || self.dialog.state() == DialogState::Terminated {
            return;
        }
        let via = self.new_via();
        match self.dialog.bye(via) {
            Ok((bye, change)) => {
                info!(cause, "dialog sends BYE");
                self.publish_state(&change);
                self.end = Some(DialogEnd::by_us(cause));
                self.transactions.do_send(StartClient {
                    request: bye,
                    flow: self.flow,
                    tu: self.supervisor.clone().recipient(),
                });
            }
            Err(e) => {
                debug!(error = %e, "no BYE possible; the dialog ends without one");
                self.abort(cause);
            }
        }
    }

    /// A response to our INVITE (UAC dialogs): the dialog's rules, then the ACK for a 2xx
    /// (sent once; a retransmitted 2xx gets the same ACK again from the dialog).
    fn on_uac_response(&mut self, response: &Response) {
        let actions = match self.dialog.on_response(response) {
            Ok(actions) => actions,
            Err(e) => {
                warn!(status = response.status, error = %e, "response does not fit the dialog");
                return;
            }
        };
        let resends_ack = actions
            .iter()
            .any(|a| matches!(a, DialogAction::SendRequest(r) if r.method == Method::Ack));
        self.apply(actions);
        let Some(cseq) = response.headers.cseq() else {
            return;
        };
        if response.class() != 2
            || cseq.method != Method::Invite
            || resends_ack
            || self.acked_invite == Some(cseq.seq)
        {
            return;
        }
        let via = self.new_via();
        match self.dialog.ack(via, None) {
            Ok(ack) => {
                debug!(cseq = cseq.seq, "ACK for the 2xx");
                self.acked_invite = Some(cseq.seq);
                let message = SipMessage::Request(ack);
                self.services.send(&self.flow, self.flow.peer, &message);
            }
            Err(e) => warn!(error = %e, "cannot acknowledge the 2xx"),
        }
    }

    /// Sends `digit` as an INFO with an `application/dtmf-relay` body (RFC 6086, legacy use).
    fn send_dtmf_info(&mut self, msg: SendDtmfInfo) {
        let via = self.new_via();
        match self.dialog.request(Method::Info, via, None) {
            Ok(builder) => {
                let body = media::dtmf::info::dtmf_relay_body(msg.digit, msg.duration_ms);
                let request = builder
                    .body(
                        sip::MediaType::new("application", "dtmf-relay"),
                        body.into_bytes().into(),
                    )
                    .build();
                debug!(digit = %msg.digit.to_char(), "DTMF sent by SIP INFO");
                self.transactions.do_send(StartClient {
                    request,
                    flow: self.flow,
                    tu: self.supervisor.clone().recipient(),
                });
            }
            Err(e) => warn!(error = %e, "cannot send INFO in the dialog"),
        }
    }
}

/// The status a dialog cause carries, if any.
fn status_of(cause: &Cause) -> Option<u16> {
    match cause {
        Cause::Provisional(s) | Cause::Answered(s) | Cause::Rejected(s) => Some(*s),
        Cause::RequestFailed(s) => Some(*s),
        _ => None,
    }
}

/// Adds the Server header to a response the dialog built.
fn with_server(response: Response) -> Response {
    response.with_header(Header::Server(ByteString::from_static(crate::SERVER_NAME)))
}

impl Actor for DialogActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| {
            let created = std::mem::take(&mut a.created);
            a.apply(created);
        });
    }
}

impl Handler<InDialog> for DialogActor {
    type Result = ();

    fn handle(&mut self, msg: InDialog, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| a.on_request(msg));
    }
}

impl Handler<ResponseNotice> for DialogActor {
    type Result = ();

    fn handle(&mut self, msg: ResponseNotice, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| a.on_notice(msg));
    }
}

impl Handler<Abort> for DialogActor {
    type Result = ();

    fn handle(&mut self, msg: Abort, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| a.abort(&msg.cause));
    }
}

impl Handler<Hangup> for DialogActor {
    type Result = ();

    fn handle(&mut self, msg: Hangup, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| a.hangup(&msg.cause));
    }
}

impl Handler<UacResponse> for DialogActor {
    type Result = ();

    fn handle(&mut self, msg: UacResponse, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| a.on_uac_response(&msg.0));
    }
}

impl Handler<SendDtmfInfo> for DialogActor {
    type Result = ();

    fn handle(&mut self, msg: SendDtmfInfo, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| a.send_dtmf_info(msg));
    }
}

impl Handler<InjectPanic> for DialogActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Self::Context) {
        self.guarded(ctx, |a, _| {
            panic!("injected panic in dialog {}", a.dialog.id());
        });
    }
}
