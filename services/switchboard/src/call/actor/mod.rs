//! The call actor: the shell around a [`CallMachine`] (see the module documentation of
//! [`crate::call`]).
//!
//! It is the transaction user of the INVITE it sends the callee (and of its CANCEL), hears
//! the caller's INVITE transaction through the user agent (a CANCEL, a timeout), owns the
//! two dialogs' actors (their BYE and end come back as [`DialogNotice`]s) and the relay.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Recipient,
    SpawnHandle, WrapFuture,
};
use bytestring::ByteString;
use media::dtmf::DtmfMode;
use media::relay::{LegId, RelayConfig};
use media::sdp::{NegotiatedStream, SessionDescription};
use registrar::location::Binding;
use serde_json::json;
use sip::dialog::{Dialog, DialogId, uas_response};
use sip::transaction::TransactionKey;
use sip::{Header, MediaType, NameAddr, Request, Response};
use store::Store;
use store::writer::{CdrRecord, Direction, Record, WriterHandle};
use time::OffsetDateTime;
use tracing::{Span, debug, info, info_span, warn};

mod actions;
mod callee;
mod start;

use super::machine::{CallAction, CallInput, CallMachine, CallOutcome, CallState, Side};
use super::outbound::{self, Parties};
use super::{CallConfig, media as call_media};
use crate::dialog_layer::SendDtmfInfo;
use crate::dialog_layer::{
    Abort, DialogActor, DialogNotice, DialogNoticeKind, Dialogs, Hangup, UacResponse,
};
use crate::events::{EventDraft, Layer};
use crate::registrar::{LookupBindings, RegistrarActor};
use crate::rtp::relay_endpoint::{
    InfoDigit, LegDtmf, LegPorts, MediaTimedOut, RelayEndpoint, RelayEndpointSetup,
    Stop as StopRelay, bind_legs,
};
use crate::rtp::{MediaConfig, RtpMetrics, SharedPorts};
use crate::stack::Services;
use crate::supervision::{ChildFailed, ChildKind, InjectPanic, guard};
use crate::transaction_layer::{Respond, StartClient, TransactionLayer, TxEvent, TxEventKind};
use crate::transport::Flow;
use crate::ua_core::{UaCore, new_tag};

/// How long a finished call waits for the callee's INVITE transaction before the actor
/// stops anyway (64*T1 with the default T1: timer B's length).
const SETTLE_LIMIT: Duration = Duration::from_secs(32);

/// The shared handles every call needs.
#[derive(Clone)]
pub struct CallEnv {
    /// Creates dialog actors.
    pub dialogs: Dialogs,
    /// Runs the callee's client transactions.
    pub transactions: Addr<TransactionLayer>,
    /// The location service.
    pub registrar: Addr<RegistrarActor>,
    /// The UA core's answers (responses, §8.2).
    pub core: std::sync::Arc<UaCore>,
    /// Transports, events, metrics.
    pub services: Services,
    /// RTP ports.
    pub ports: SharedPorts,
    /// RTP counters.
    pub rtp_metrics: Option<RtpMetrics>,
    /// `[media]`.
    pub media: MediaConfig,
    /// `[calls]`.
    pub config: CallConfig,
    /// The store (known users, for 404 against 480), if any.
    pub store: Option<Store>,
    /// Where CDRs go, if anywhere.
    pub cdr: Option<WriterHandle>,
    /// Told when a call's actor panics (the user agent).
    pub supervisor: Option<Recipient<ChildFailed>>,
}

/// Everything one call starts with.
pub struct CallSetup {
    /// The caller's INVITE as its server transaction delivered it.
    pub caller: TxEvent,
    /// The INVITE.
    pub invite: Request,
    /// Its SDP offer (checked to be answerable).
    pub offer: SessionDescription,
    /// The callee's address-of-record.
    pub callee: String,
    /// Switchboard's address on the caller's side (Contact, SDP).
    pub local_ip: IpAddr,
    /// The handles.
    pub env: CallEnv,
}

/// The callee's leg once its INVITE is out.
struct CalleeLeg {
    invite: Request,
    flow: Flow,
    offer: SessionDescription,
    dialog: Option<(String, Addr<DialogActor>)>,
    contact: String,
}

/// Media, once both SDP answers are known.
struct CallMediaState {
    caller_sdp: String,
    caller_codec: String,
    callee_codec: String,
}

/// One B2BUA call (see the module documentation).
pub struct CallActor {
    setup: CallSetup,
    /// How each leg (`[caller, callee]`) wants DTMF: its endpoint's mode.
    dtmf_modes: [DtmfMode; 2],
    span: Span,
    call_id: String,
    id: store::Id,
    started_at: OffsetDateTime,
    started: Instant,
    machine: Option<CallMachine>,
    caller_tag: String,
    caller_contact: NameAddr,
    caller_dialog: Option<Addr<DialogActor>>,
    callee: Option<CalleeLeg>,
    ports: Option<[LegPorts; 2]>,
    media: Option<CallMediaState>,
    relay: Option<Addr<RelayEndpoint>>,
    timer: Option<(Instant, SpawnHandle)>,
    finished: bool,
    /// A handler panicked: the call was torn down and takes no more input.
    failed: bool,
}

impl CallActor {
    /// A call from `setup` (started with `.start()`).
    pub fn new(setup: CallSetup) -> CallActor {
        let call_id = setup.caller.call_id.clone();
        let span = info_span!("call", call_id = %call_id, callee = %setup.callee);
        let local = SocketAddr::new(setup.local_ip, setup.caller.flow.local.port());
        let caller_contact = NameAddr::new(outbound::local_uri(
            &setup.callee,
            local,
            setup.caller.flow.transport,
        ));
        CallActor {
            setup,
            dtmf_modes: [DtmfMode::default(); 2],
            span,
            call_id,
            id: store::Id::new(),
            started_at: OffsetDateTime::now_utc(),
            started: Instant::now(),
            machine: None,
            caller_tag: new_tag(),
            caller_contact,
            caller_dialog: None,
            callee: None,
            ports: None,
            media: None,
            relay: None,
            timer: None,
            finished: false,
            failed: false,
        }
    }

    fn services(&self) -> &Services {
        &self.setup.env.services
    }

    /// A Call-layer event of this call.
    fn event(&self, kind: &str) -> EventDraft {
        EventDraft::new(Layer::Call, &self.call_id).kind(kind)
    }

    // ---- inputs ----------------------------------------------------------------------

    /// Feeds the machine and carries out what it decides.
    fn input(&mut self, input: CallInput, ctx: &mut Context<Self>) {
        let Some(machine) = self.machine.as_mut() else {
            return;
        };
        machine.on_input(input, Instant::now());
        self.run_actions(ctx);
    }

    fn run_actions(&mut self, ctx: &mut Context<Self>) {
        let actions = self
            .machine
            .as_mut()
            .map(CallMachine::take_actions)
            .unwrap_or_default();
        for action in actions {
            self.apply(action, ctx);
        }
        self.rearm(ctx);
        self.maybe_stop(ctx);
    }

    // ---- supervision -----------------------------------------------------------------

    /// Runs one input in the call's span under the panic guard: a panic ends this call only
    /// (both legs hung up, the caller refused if it has no final response yet, the relay
    /// stopped) and is reported to the user agent, its supervisor.
    fn guarded(
        &mut self,
        ctx: &mut Context<Self>,
        input: impl FnOnce(&mut Self, &mut Context<Self>),
    ) {
        if self.failed {
            return;
        }
        let span = self.span.clone();
        let _entered = span.enter();
        if let Err(message) = guard(|| input(self, ctx)) {
            self.on_panic(message, ctx);
        }
    }

    fn on_panic(&mut self, message: String, ctx: &mut Context<Self>) {
        self.failed = true;
        let cause = format!("call actor failed: {message}");
        // Refused by the transaction when a final response went out already.
        let response = self
            .setup
            .env
            .core
            .response(&self.setup.invite, 500)
            .with_reason("Call Failed");
        self.setup.caller.tx.do_send(Respond::plain(response));
        if let Some(callee) = &self.callee
            && self.callee_dialog().is_none()
        {
            self.setup.env.transactions.do_send(StartClient {
                request: outbound::cancel(&callee.invite),
                flow: callee.flow,
                tu: ctx.address().recipient(),
            });
        }
        for dialog in [self.caller_dialog.clone(), self.callee_dialog()]
            .into_iter()
            .flatten()
        {
            dialog.do_send(Hangup {
                cause: cause.clone(),
            });
        }
        if let Some(relay) = self.relay.take() {
            relay.do_send(StopRelay);
        }
        if let Some(supervisor) = &self.setup.env.supervisor {
            supervisor.do_send(ChildFailed {
                kind: ChildKind::Call,
                child: 0,
                name: self.call_id.clone(),
                call_id: self.call_id.clone(),
                message,
            });
        }
        ctx.stop();
    }

    /// The callee's dialog, once there is one.
    pub(super) fn callee_dialog(&self) -> Option<Addr<DialogActor>> {
        self.callee
            .as_ref()
            .and_then(|c| c.dialog.as_ref())
            .map(|(_, d)| d.clone())
    }

    // ---- timers and the end ----------------------------------------------------------

    fn rearm(&mut self, ctx: &mut Context<Self>) {
        let next = self.machine.as_ref().and_then(CallMachine::next_deadline);
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
                act.guarded(ctx, |act, ctx| {
                    if let Some(machine) = act.machine.as_mut() {
                        machine.on_timeout(Instant::now().max(at));
                    }
                    act.run_actions(ctx);
                });
            });
            self.timer = Some((at, handle));
        }
    }

    /// Stops once the call is over and the callee's INVITE has its final response.
    fn maybe_stop(&mut self, ctx: &mut Context<Self>) {
        if !self.finished {
            return;
        }
        let settled = self
            .machine
            .as_ref()
            .is_none_or(CallMachine::callee_settled);
        if settled {
            ctx.stop();
        } else if self.timer.is_none() {
            let handle = ctx.run_later(SETTLE_LIMIT, |act, ctx| {
                debug!(call_id = %act.call_id, "callee's INVITE never settled; call actor stops");
                ctx.stop();
            });
            self.timer = Some((Instant::now() + SETTLE_LIMIT, handle));
        }
    }
}

/// `response` with an SDP body.
fn with_sdp(response: Response, sdp: &str) -> Response {
    response.with_body(
        MediaType::new("application", "sdp"),
        sdp.to_owned().into_bytes().into(),
    )
}

/// Our address on a flow: its local address, or `ip` when the socket is unspecified.
fn advertised(local: SocketAddr, ip: IpAddr) -> SocketAddr {
    if local.ip().is_unspecified() {
        SocketAddr::new(ip, local.port())
    } else {
        local
    }
}

impl Actor for CallActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.guarded(ctx, Self::lookup);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(relay) = self.relay.take() {
            relay.do_send(StopRelay);
        }
        if let Some(ports) = self.ports.take() {
            for leg in ports {
                self.setup.env.ports.release(leg.port);
            }
        }
        debug!(call_id = %self.call_id, "call actor stopped");
    }
}

impl Handler<TxEvent> for CallActor {
    type Result = ();

    fn handle(&mut self, event: TxEvent, ctx: &mut Self::Context) {
        self.guarded(ctx, |act, ctx| act.on_tx_event(event, ctx));
    }
}

impl CallActor {
    fn on_tx_event(&mut self, event: TxEvent, ctx: &mut Context<Self>) {
        let from_caller = event.key == self.setup.caller.key;
        match (from_caller, event.kind) {
            (true, TxEventKind::Cancelled) => {
                info!("the caller cancelled");
                self.input(CallInput::CallerCancelled, ctx);
            }
            (true, TxEventKind::Timeout | TxEventKind::TransportError | TxEventKind::Failed) => {
                self.input(
                    CallInput::LegLost {
                        side: Side::Caller,
                        cause: "the caller's INVITE transaction ended".to_owned(),
                    },
                    ctx,
                );
            }
            (true, _) => {}
            (false, TxEventKind::Response(response)) => self.on_callee_response(response, ctx),
            (false, TxEventKind::Timeout) if is_invite(&event.key) => {
                self.input(CallInput::CalleeTimedOut, ctx);
            }
            (false, TxEventKind::TransportError | TxEventKind::Failed) if is_invite(&event.key) => {
                self.input(
                    CallInput::CalleeUnreachable {
                        why: "transport error towards the callee".to_owned(),
                    },
                    ctx,
                );
            }
            (false, kind) => debug!(?kind, "callee transaction event"),
        }
    }
}

fn is_invite(key: &TransactionKey) -> bool {
    key.method() == &sip::Method::Invite
}

impl Handler<DialogNotice> for CallActor {
    type Result = ();

    fn handle(&mut self, notice: DialogNotice, ctx: &mut Self::Context) {
        self.guarded(ctx, |act, ctx| act.on_dialog_notice(notice, ctx));
    }
}

impl CallActor {
    fn on_dialog_notice(&mut self, notice: DialogNotice, ctx: &mut Context<Self>) {
        let side = if notice.dialog.call_id.as_ref() == self.call_id {
            Side::Caller
        } else {
            Side::Callee
        };
        let current = self
            .callee
            .as_ref()
            .and_then(|c| c.dialog.as_ref())
            .is_some_and(|(tag, _)| *tag == *notice.dialog.remote_tag);
        if side == Side::Callee && !current {
            debug!(dialog = %notice.dialog, "notice from a replaced fork's dialog");
            return;
        }
        match notice.kind {
            DialogNoticeKind::Ended {
                by_peer_bye: true, ..
            } => self.input(CallInput::ByeFrom(side), ctx),
            // The caller's transaction answered its CANCEL with 487, which ended the early
            // dialog; the transaction's own report may come after this.
            DialogNoticeKind::Ended {
                rejected: Some(487),
                ..
            } if side == Side::Caller => self.input(CallInput::CallerCancelled, ctx),
            DialogNoticeKind::Ended { cause, .. } => {
                self.input(CallInput::LegLost { side, cause }, ctx)
            }
            DialogNoticeKind::Dtmf(event) => {
                debug!(side = side.as_str(), digit = %event.digit.to_char(), "DTMF by INFO");
                if let Some(relay) = &self.relay {
                    let leg = match side {
                        Side::Caller => LegId::A,
                        Side::Callee => LegId::B,
                    };
                    relay.do_send(InfoDigit { leg, event });
                }
            }
        }
    }
}

impl Handler<LegDtmf> for CallActor {
    type Result = ();

    /// The relay wants a digit sent as SIP INFO on a leg whose DTMF mode is `info`.
    fn handle(&mut self, msg: LegDtmf, ctx: &mut Self::Context) {
        self.guarded(ctx, |act, _| act.send_info_digit(&msg));
    }
}

impl CallActor {
    fn send_info_digit(&mut self, msg: &LegDtmf) {
        let dialog = match msg.leg {
            LegId::A => self.caller_dialog.clone(),
            LegId::B => self.callee_dialog(),
        };
        match dialog {
            Some(dialog) => dialog.do_send(SendDtmfInfo {
                digit: msg.event.digit,
                duration_ms: msg.event.duration_ms,
            }),
            None => debug!("no dialog on that leg for the INFO"),
        }
    }
}

impl Handler<InjectPanic> for CallActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Self::Context) {
        self.guarded(ctx, |act, _| {
            panic!("injected panic in call {}", act.call_id)
        });
    }
}

impl Handler<MediaTimedOut> for CallActor {
    type Result = ();

    /// No RTP from a leg: the call is hung up when `[calls] hangup_on_media_timeout` says so
    /// (the relay published the `media_timeout` event already).
    fn handle(&mut self, msg: MediaTimedOut, ctx: &mut Self::Context) {
        self.guarded(ctx, |act, ctx| {
            let leg = match msg.leg {
                LegId::A => "caller",
                LegId::B => "callee",
            };
            if act.setup.env.config.hangup_on_media_timeout {
                info!(leg, "no RTP from the {leg}: the call is hung up");
                act.input(CallInput::MediaTimeout, ctx);
            } else {
                info!(
                    leg,
                    "no RTP from the {leg}; the call goes on (hangup_on_media_timeout off)"
                );
            }
        });
    }
}
