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
use media::relay::{LegId, RelayConfig};
use media::sdp::{NegotiatedStream, SessionDescription};
use registrar::location::{Binding, Reachability};
use serde_json::json;
use sip::dialog::{Dialog, DialogId, uas_response};
use sip::transaction::TransactionKey;
use sip::{Header, MediaType, NameAddr, Request, Response, Warning};
use store::Store;
use store::writer::{CdrRecord, Direction, Record, WriterHandle};
use time::OffsetDateTime;
use tracing::{Span, debug, info, info_span, warn};

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
    InfoDigit, LegDtmf, LegPorts, RelayEndpoint, RelayEndpointSetup, Stop as StopRelay, bind_legs,
};
use crate::rtp::{MediaConfig, RtpMetrics, SharedPorts};
use crate::stack::Services;
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
        }
    }

    fn services(&self) -> &Services {
        &self.setup.env.services
    }

    /// A Call-layer event of this call.
    fn event(&self, kind: &str) -> EventDraft {
        EventDraft::new(Layer::Call, &self.call_id).kind(kind)
    }

    // ---- starting --------------------------------------------------------------------

    fn lookup(&mut self, ctx: &mut Context<Self>) {
        let aor = self.setup.callee.clone();
        let store = self.setup.env.store.clone();
        let lookup = self
            .setup
            .env
            .registrar
            .send(LookupBindings { aor: aor.clone() });
        let fut = async move {
            let bindings = lookup.await.unwrap_or_default();
            let known = match (&store, bindings.is_empty()) {
                (Some(store), true) => store.get_endpoint(&aor).await.is_ok(),
                _ => true,
            };
            (bindings, known)
        };
        ctx.wait(fut.into_actor(self).map(|(bindings, known), act, ctx| {
            let span = act.span.clone();
            let _entered = span.enter();
            act.place(bindings, known, ctx);
        }));
    }

    /// Calls the best reachable binding, or refuses the caller.
    fn place(&mut self, bindings: Vec<Binding>, known: bool, ctx: &mut Context<Self>) {
        let Some(binding) = bindings
            .iter()
            .find(|b| b.reachability != Reachability::Unreachable)
        else {
            let (status, why) = match (known, bindings.is_empty()) {
                (false, _) => (404, "no such extension"),
                (true, true) => (480, "the extension has no registered device"),
                (true, false) => (480, "the extension's devices are unreachable"),
            };
            return self.refuse_before_start(status, why, ctx);
        };
        let flow = match outbound::flow_to(binding) {
            Ok(flow) => flow,
            Err(e) => return self.refuse_before_start(480, &e.to_string(), ctx),
        };
        let ip = self.setup.local_ip;
        let ports = match bind_legs(ip, &self.setup.env.ports) {
            Ok(ports) => ports,
            Err(e) => {
                warn!(error = %e, "call refused: no RTP ports");
                return self.refuse_before_start(503, &e.to_string(), ctx);
            }
        };
        let session = u64::from(rand::random::<u32>());
        let offer = match call_media::offer_to_callee(
            ip,
            ports[1].port,
            session,
            &self.setup.env.media.codecs,
        ) {
            Ok(offer) => offer,
            Err(why) => {
                self.ports = Some(ports);
                return self.refuse_before_start(500, &why, ctx);
            }
        };
        self.ports = Some(ports);
        let local = advertised(flow.local, ip);
        let invite = &self.setup.invite;
        let from = invite.headers.from();
        let parties = Parties {
            caller_user: from
                .and_then(|f| super::target_user(&f.uri))
                .unwrap_or_else(|| "anonymous".to_owned()),
            caller_display: from.and_then(|f| f.display_name.clone()),
            callee: self.setup.callee.clone(),
            max_forwards: max_forwards(invite).saturating_sub(1),
        };
        let request = match outbound::invite(binding, &flow, local, &parties, offer.to_string()) {
            Ok(request) => request,
            Err(e) => return self.refuse_before_start(480, &e.to_string(), ctx),
        };
        let callee_call_id = request
            .headers
            .call_id()
            .map_or_else(String::new, ToString::to_string);
        info!(
            contact = %binding.contact,
            destination = %flow.peer,
            callee_call_id = %callee_call_id,
            "calling the callee"
        );
        self.services().publish(
            self.event("created")
                .transition("new", CallState::Calling.as_str())
                .detail(json!({
                    "caller": from.map(|f| f.uri.to_string()),
                    "callee": self.setup.callee,
                    "contact": binding.contact.to_string(),
                    "callee_call_id": callee_call_id,
                })),
        );
        self.callee = Some(CalleeLeg {
            invite: request.clone(),
            flow,
            offer,
            dialog: None,
            contact: binding.contact.to_string(),
        });
        self.machine = Some(CallMachine::new(
            Instant::now(),
            self.setup.env.config.ring_timeout,
        ));
        self.setup.env.transactions.do_send(StartClient {
            request,
            flow,
            tu: ctx.address().recipient(),
        });
        self.rearm(ctx);
    }

    /// The call never reached the callee: the caller gets `status` and the call ends.
    fn refuse_before_start(&mut self, status: u16, why: &str, ctx: &mut Context<Self>) {
        info!(status, reason = why, "call refused");
        let response = self.with_warning(
            self.setup.env.core.response(&self.setup.invite, status),
            why,
        );
        self.setup.caller.tx.do_send(Respond::plain(response));
        self.services().publish(
            self.event("state")
                .transition("new", CallState::Failed.as_str())
                .status(status)
                .cause(why),
        );
        let now = Instant::now();
        self.write_cdr(
            &CallOutcome {
                disposition: store::writer::Disposition::Failed,
                hangup_by: Some(store::writer::HangupBy::System),
                cause: why.to_owned(),
                final_status: Some(status),
                ringing_at: None,
                answered_at: None,
            },
            now,
        );
        self.finished = true;
        ctx.stop();
    }

    fn with_warning(&self, response: Response, why: &str) -> Response {
        response.with_header(Header::Warning(vec![Warning {
            code: 399,
            agent: ByteString::from(self.setup.local_ip.to_string()),
            text: ByteString::from(format!("\"{}\"", why.replace('"', "'"))),
        }]))
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

    fn on_callee_response(&mut self, response: Response, ctx: &mut Context<Self>) {
        let is_cancel = response
            .headers
            .cseq()
            .is_some_and(|c| c.method == sip::Method::Cancel);
        if is_cancel {
            debug!(status = response.status, "response to our CANCEL");
            return;
        }
        let status = response.status;
        match response.class() {
            1 if status > 100 => {
                self.ensure_callee_dialog(&response, ctx);
                let early_media = !response.body.is_empty() && self.media_from(&response, ctx);
                self.input(
                    CallInput::CalleeProvisional {
                        status,
                        early_media,
                    },
                    ctx,
                );
            }
            1 => {}
            2 => {
                let first = self.machine.as_ref().is_some_and(|m| !m.callee_settled());
                let live = self.machine.as_ref().is_some_and(|m| !m.state().is_final());
                self.ensure_callee_dialog(&response, ctx);
                if let Some((_, dialog)) = self.callee.as_ref().and_then(|c| c.dialog.as_ref()) {
                    dialog.do_send(UacResponse(response.clone()));
                }
                if !first {
                    return;
                }
                // Too late for the call: the machine ACKs and ends it without media.
                let usable = !live || self.media.is_some() || self.media_from(&response, ctx);
                if usable {
                    self.input(CallInput::CalleeAnswered, ctx);
                } else {
                    self.input(
                        CallInput::CalleeAnsweredUnusable {
                            why: "the callee answered without usable SDP".to_owned(),
                        },
                        ctx,
                    );
                }
            }
            _ => {
                let reason = response.reason.to_string();
                self.input(CallInput::CalleeRejected { status, reason }, ctx);
                if let Some((_, dialog)) = self.callee.as_ref().and_then(|c| c.dialog.as_ref()) {
                    dialog.do_send(UacResponse(response));
                }
            }
        }
    }

    /// Makes sure the callee's dialog (UAC) exists for a response with a To tag.
    fn ensure_callee_dialog(&mut self, response: &Response, ctx: &mut Context<Self>) {
        let Some(tag) = response.headers.to().and_then(NameAddr::tag) else {
            return;
        };
        let owner: Recipient<DialogNotice> = ctx.address().recipient();
        let dialogs = self.setup.env.dialogs.clone();
        let ip = self.setup.local_ip;
        let Some(callee) = self.callee.as_mut() else {
            return;
        };
        if let Some((existing, dialog)) = &callee.dialog {
            if existing == tag {
                return;
            }
            if response.class() != 2 {
                // Another fork's early dialog: the first one is the call's.
                return;
            }
            // A 2xx from another fork replaces the early dialog (§13.2.2.4).
            dialog.do_send(Abort {
                cause: "another fork answered".to_owned(),
            });
        }
        match Dialog::new_uac(&callee.invite, response, false, dialogs.config()) {
            Ok((dialog, actions)) => {
                let local = advertised(callee.flow.local, ip);
                let addr = dialogs.spawn_owned(dialog, actions, callee.flow, local, Some(owner));
                callee.dialog = Some((tag.to_owned(), addr));
            }
            Err(e) => {
                warn!(error = %e, status = response.status, "no dialog from the callee's response")
            }
        }
    }

    /// Reads the callee's SDP answer in `response` and makes the caller's answer and the
    /// relay; false when it is unusable (then the call fails with 488).
    fn media_from(&mut self, response: &Response, ctx: &mut Context<Self>) -> bool {
        if self.media.is_some() {
            return true;
        }
        let Some(callee) = self.callee.as_ref() else {
            return false;
        };
        let leg_b = match call_media::callee_leg(&callee.offer, &response.body) {
            Ok(leg) => leg,
            Err(why) => {
                warn!(reason = %why, "callee's SDP refused");
                if response.class() == 1 {
                    self.input(CallInput::MediaFailed { why }, ctx);
                }
                return false;
            }
        };
        let Some(port_a) = self.ports.as_ref().map(|p| p[0].port) else {
            return false;
        };
        let session = u64::from(rand::random::<u32>());
        let answered = call_media::answer_caller(
            &self.setup.offer,
            self.setup.local_ip,
            port_a,
            session,
            &leg_b.codec,
            &self.setup.env.media.codecs,
        );
        let (caller_sdp, leg_a) = match answered {
            Ok(answered) => answered,
            Err(why) => {
                warn!(reason = %why, "no answer for the caller");
                if response.class() == 1 {
                    self.input(CallInput::MediaFailed { why }, ctx);
                }
                return false;
            }
        };
        self.start_relay(&leg_a, &leg_b, ctx);
        self.media = Some(CallMediaState {
            caller_sdp,
            caller_codec: leg_a.codec.encoding.name().to_owned(),
            callee_codec: leg_b.codec.encoding.name().to_owned(),
        });
        true
    }

    fn start_relay(
        &mut self,
        leg_a: &NegotiatedStream,
        leg_b: &NegotiatedStream,
        ctx: &mut Context<Self>,
    ) {
        let Some(ports) = self.ports.take() else {
            return;
        };
        let caller_dialog = self.caller_dialog_id().to_string();
        let callee_dialog = self
            .callee
            .as_ref()
            .and_then(|c| c.dialog.as_ref())
            .map(|(tag, _)| self.callee_dialog_id(tag))
            .unwrap_or_default();
        let config = RelayConfig {
            no_rtp_timeout: self.setup.env.media.rtp_timeout,
            ..RelayConfig::default()
        };
        info!(
            port_a = ports[0].port,
            port_b = ports[1].port,
            caller_codec = %leg_a.codec.encoding.name(),
            callee_codec = %leg_b.codec.encoding.name(),
            "media relay starts"
        );
        let relay = RelayEndpoint::new(RelayEndpointSetup {
            call_id: self.call_id.clone(),
            dialogs: [caller_dialog, callee_dialog],
            config,
            legs: [call_media::leg_config(leg_a), call_media::leg_config(leg_b)],
            ports,
            allocator: self.setup.env.ports.clone(),
            events: self.services().events.clone(),
            metrics: self.setup.env.rtp_metrics.clone(),
        })
        .with_owner(ctx.address().recipient())
        .with_calls_id(self.id)
        .start();
        self.relay = Some(relay);
    }

    fn caller_dialog_id(&self) -> DialogId {
        let remote = self
            .setup
            .invite
            .headers
            .from()
            .and_then(NameAddr::tag)
            .unwrap_or("");
        DialogId::new(&self.call_id, &self.caller_tag, remote)
    }

    fn callee_dialog_id(&self, remote_tag: &str) -> String {
        self.callee
            .as_ref()
            .and_then(|c| {
                let call_id = c.invite.headers.call_id()?;
                let local = c.invite.headers.from().and_then(NameAddr::tag)?;
                Some(DialogId::new(call_id, local, remote_tag).to_string())
            })
            .unwrap_or_default()
    }

    // ---- actions ---------------------------------------------------------------------

    fn apply(&mut self, action: CallAction, ctx: &mut Context<Self>) {
        match action {
            CallAction::ProvisionalToCaller {
                status,
                early_media,
            } => {
                let mut response = self.caller_response(status);
                if early_media && let Some(media) = &self.media {
                    response = with_sdp(response, &media.caller_sdp);
                }
                self.respond_caller(response, ctx);
            }
            CallAction::AnswerCaller => {
                let Some(sdp) = self.media.as_ref().map(|m| m.caller_sdp.clone()) else {
                    warn!("answer without media: refusing the caller instead");
                    return;
                };
                let response = with_sdp(
                    self.caller_response(200)
                        .with_header(crate::ua_core::allow()),
                    &sdp,
                );
                self.respond_caller(response, ctx);
            }
            CallAction::RejectCaller { status, reason } => {
                let response = self.setup.env.core.response(&self.setup.invite, status);
                let response = response.with_reason(&reason);
                let response = if matches!(status, 480 | 488 | 500 | 503) {
                    self.with_warning(response, &reason)
                } else {
                    response
                };
                let notify = self.caller_dialog.clone().map(Addr::recipient);
                self.setup.caller.tx.do_send(Respond { response, notify });
            }
            // The callee's dialog acknowledges the 2xx when it gets the response.
            CallAction::AckCallee => {}
            CallAction::CancelCallee => {
                if let Some(callee) = &self.callee {
                    info!("CANCEL to the callee");
                    self.setup.env.transactions.do_send(StartClient {
                        request: outbound::cancel(&callee.invite),
                        flow: callee.flow,
                        tu: ctx.address().recipient(),
                    });
                }
            }
            CallAction::Bye(side) => {
                let dialog = match side {
                    Side::Caller => self.caller_dialog.clone(),
                    Side::Callee => self
                        .callee
                        .as_ref()
                        .and_then(|c| c.dialog.as_ref())
                        .map(|(_, d)| d.clone()),
                };
                if let Some(dialog) = dialog {
                    dialog.do_send(Hangup {
                        cause: format!("call ended; BYE to the {}", side.as_str()),
                    });
                }
            }
            CallAction::StopMedia => {
                if let Some(relay) = self.relay.take() {
                    relay.do_send(StopRelay);
                }
            }
            CallAction::StateChanged { from, to, cause } => {
                info!(from = from.as_str(), to = to.as_str(), cause = %cause, "call state");
                self.services().publish(
                    self.event("state")
                        .transition(from.as_str(), to.as_str())
                        .cause(cause),
                );
            }
            CallAction::Finished(outcome) => {
                self.finished = true;
                info!(
                    disposition = outcome.disposition.as_str(),
                    hangup_by = outcome.hangup_by.map(|h| h.as_str()),
                    cause = %outcome.cause,
                    "call ended"
                );
                self.write_cdr(&outcome, Instant::now());
            }
        }
    }

    /// A response to the caller's INVITE with our To tag and Contact.
    fn caller_response(&self, status: u16) -> Response {
        uas_response(
            &self.setup.invite,
            status,
            &self.caller_tag,
            &self.caller_contact,
        )
        .with_header(Header::Server(ByteString::from_static(crate::SERVER_NAME)))
    }

    /// Sends a provisional or 2xx to the caller, creating its dialog with the first one.
    fn respond_caller(&mut self, response: Response, ctx: &mut Context<Self>) {
        if self.caller_dialog.is_none() {
            let created = Dialog::new_uas(
                &self.setup.invite,
                &response,
                false,
                self.setup.env.dialogs.config(),
                Instant::now(),
            );
            match created {
                Ok((dialog, actions)) => {
                    let flow = self.setup.caller.flow;
                    let local = SocketAddr::new(self.setup.local_ip, flow.local.port());
                    let owner: Recipient<DialogNotice> = ctx.address().recipient();
                    self.caller_dialog = Some(self.setup.env.dialogs.spawn_owned(
                        dialog,
                        actions,
                        flow,
                        local,
                        Some(owner),
                    ));
                }
                Err(e) => {
                    warn!(error = %e, "no dialog with the caller");
                    self.input(
                        CallInput::LegLost {
                            side: Side::Caller,
                            cause: e.to_string(),
                        },
                        ctx,
                    );
                    return;
                }
            }
        }
        let notify = self.caller_dialog.clone().map(Addr::recipient);
        self.setup.caller.tx.do_send(Respond { response, notify });
    }

    fn write_cdr(&self, outcome: &CallOutcome, now: Instant) {
        let Some(writer) = &self.setup.env.cdr else {
            return;
        };
        let at = |t: Instant| {
            self.started_at
                + time::Duration::try_from(t.saturating_duration_since(self.started))
                    .unwrap_or_default()
        };
        let record = CdrRecord {
            id: self.id,
            sip_call_id: self.call_id.clone(),
            direction: Direction::Internal,
            caller: self
                .setup
                .invite
                .headers
                .from()
                .map_or_else(String::new, |f| f.uri.to_string()),
            callee: self.setup.callee.clone(),
            started_at: self.started_at,
            ringing_at: outcome.ringing_at.map(at),
            answered_at: outcome.answered_at.map(at),
            ended_at: at(now),
            disposition: outcome.disposition,
            hangup_by: outcome.hangup_by,
            hangup_cause: Some(outcome.cause.clone()),
            final_status: outcome.final_status.map(i32::from),
            caller_codec: self.media.as_ref().map(|m| m.caller_codec.clone()),
            callee_codec: self.media.as_ref().map(|m| m.callee_codec.clone()),
            route: self
                .callee
                .as_ref()
                .map(|c| format!("extension {} via {}", self.setup.callee, c.contact)),
            queue_id: None,
            queue_name: None,
            agent_id: None,
            agent_name: None,
            trunk_name: None,
        };
        if let Err(e) = writer.try_submit(Record::Cdr(record)) {
            warn!(error = %e, "CDR not written");
        }
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
                let span = act.span.clone();
                let _entered = span.enter();
                if let Some(machine) = act.machine.as_mut() {
                    machine.on_timeout(Instant::now().max(at));
                }
                act.run_actions(ctx);
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

/// The request's Max-Forwards (70 when it has none).
pub(super) fn max_forwards(request: &Request) -> u8 {
    request
        .headers
        .iter()
        .find_map(|h| match h {
            Header::MaxForwards(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(70)
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
        let span = self.span.clone();
        let _entered = span.enter();
        self.lookup(ctx);
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
        let span = self.span.clone();
        let _entered = span.enter();
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
        let span = self.span.clone();
        let _entered = span.enter();
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
    fn handle(&mut self, msg: LegDtmf, _ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        let dialog = match msg.leg {
            LegId::A => self.caller_dialog.clone(),
            LegId::B => self
                .callee
                .as_ref()
                .and_then(|c| c.dialog.as_ref())
                .map(|(_, d)| d.clone()),
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
