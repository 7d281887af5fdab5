//! The user agent: the transaction user (RFC 3261 §8.2) of every request outside a dialog.
//!
//! A new request reaches it from its server transaction ([`TxEvent`] with
//! [`TxEventKind::Request`]); the answer goes back through that transaction ([`Respond`]), so a
//! retransmitted request gets the same answer again (§17.2). The §8.2 rejections (405, 415,
//! 416, 420, 501, …) and the plain answers (200 with the capabilities for OPTIONS, 404 for an
//! INVITE to nobody, 481 for the rest) are [`UaCore`]'s decisions. An INVITE to the echo
//! extension ([`crate::echo`]) rings (180, which creates the dialog), is answered after the
//! configured delay (200 with the SDP answer) and then lives in its dialog actor until BYE;
//! without an acceptable SDP offer it gets 488 with a 399 Warning saying why, and 503 when no
//! RTP port is free. Its RTP endpoint ([`crate::rtp::RtpEndpoint`]) is bound and started when
//! the call rings and stops by itself once the dialog actor has stopped. A REGISTER that
//! passes the §8.2 checks goes to the registrar ([`crate::registrar`]).
//!
//! An INVITE to any other user at this Switchboard is a call between extensions: after the
//! §8.2 checks, Max-Forwards (483 at 0) and a first look at its SDP offer (488 with a 399
//! Warning when nothing in it can be answered), a [`CallActor`] takes it over (see
//! [`crate::call`]); the user agent passes it the events of the caller's INVITE
//! transaction (a CANCEL, a timeout) from then on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, Addr, AsyncContext, Context, Handler, Recipient, SpawnHandle};
use bytestring::ByteString;
use sip::dialog::{Dialog, uas_response};
use sip::transaction::TransactionKey;
use sip::{Header, MediaType, Method, NameAddr, Request, Response};
use tracing::{debug, error, info, info_span, warn};

use crate::call::announce::{Announce, AnnouncementActor};
use crate::call::{self, CallActor, CallConfig, CallEnv, CallSetup};
use crate::dialog_layer::{Abort, DialogActor, Dialogs};
use crate::echo::{self, EchoConfig};
use crate::events::Layer;
use crate::registrar::{RegisterRequest, RegistrarActor};
use crate::rtp::{
    EchoMedia, PortAllocator, RtpEndpoint, RtpEndpointSetup, RtpMetrics, SharedPorts, bind_pair,
};
use crate::stack::Services;
use crate::supervision::{ChildFailed, InjectPanic, failure_event};
use crate::transaction_layer::TransactionLayer;
use crate::transaction_layer::{Respond, TransactionActor, TxEvent, TxEventKind};
use crate::ua_core::{UaCore, allow, new_tag, warning_399};

/// An echo call that rang and waits for its answer.
struct PendingCall {
    tx: Addr<TransactionActor>,
    dialog: Addr<DialogActor>,
    answer: Response,
    timer: SpawnHandle,
}

/// Fault injection (→ `UserAgent`): make the actor of the call with this (caller's) Call-ID
/// panic, as a bug would. Answers whether such a call was live.
#[derive(Debug, Clone, actix::Message)]
#[rtype(result = "bool")]
pub struct InjectCallPanic {
    /// The caller's Call-ID.
    pub call_id: String,
}

/// What the call engine is given (`[calls]`, the store, the CDR writer).
#[derive(Clone, Default)]
pub struct CallsSetup {
    /// `[calls]`.
    pub config: CallConfig,
    /// The store, to tell unknown users (404) from unregistered ones (480).
    pub store: Option<store::Store>,
    /// Where CDRs go.
    pub cdr: Option<store::writer::WriterHandle>,
}

impl std::fmt::Debug for CallsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallsSetup")
            .field("config", &self.config)
            .field("store", &self.store.is_some())
            .field("cdr", &self.cdr.is_some())
            .finish()
    }
}

/// The transaction user of requests outside any dialog (see the module documentation).
pub struct UserAgent {
    core: Arc<UaCore>,
    dialogs: Dialogs,
    echo: EchoConfig,
    registrar: Recipient<RegisterRequest>,
    pending: HashMap<TransactionKey, PendingCall>,
    services: Services,
    ports: SharedPorts,
    rtp_metrics: Option<RtpMetrics>,
    calls_env: CallEnv,
    /// Live calls (Call-ID, actor) by their caller's INVITE transaction.
    calls: HashMap<TransactionKey, (String, Addr<CallActor>)>,
}

impl UserAgent {
    /// A user agent answering with `core`'s decisions, creating dialogs through `dialogs`,
    /// passing REGISTERs to `registrar` and publishing media events through `services`.
    pub fn new(
        core: Arc<UaCore>,
        dialogs: Dialogs,
        echo: EchoConfig,
        registrar: Addr<RegistrarActor>,
        transactions: Addr<TransactionLayer>,
        calls: CallsSetup,
        services: Services,
    ) -> Self {
        let ports = SharedPorts::new(PortAllocator::new(
            echo.media.rtp_port_min,
            echo.media.rtp_port_max,
        ));
        let rtp_metrics = services.metrics.as_ref().and_then(|m| {
            RtpMetrics::new(m.registry())
                .inspect_err(|e| warn!(error = %e, "RTP metrics not registered"))
                .ok()
        });
        let calls_env = CallEnv {
            dialogs: dialogs.clone(),
            transactions,
            registrar: registrar.clone(),
            core: core.clone(),
            services: services.clone(),
            ports: ports.clone(),
            rtp_metrics: rtp_metrics.clone(),
            media: echo.media.clone(),
            config: calls.config,
            store: calls.store,
            cdr: calls.cdr,
            supervisor: None,
        };
        UserAgent {
            core,
            dialogs,
            echo,
            registrar: registrar.recipient(),
            pending: HashMap::new(),
            services,
            ports,
            rtp_metrics,
            calls_env,
            calls: HashMap::new(),
        }
    }

    fn on_request(&mut self, event: &TxEvent, request: &Request, ctx: &mut Context<Self>) {
        match request.method {
            // The ACK matching an INVITE transaction in Accepted (RFC 6026 §8.7) belongs to
            // the dialog the 2xx created.
            Method::Ack => self.dialogs.ack(request.clone(), event.flow),
            Method::Invite if echo::is_echo_target(&request.uri, &event.flow) => {
                match self.core.check(request) {
                    Err(rejection) => event.tx.do_send(Respond::plain(rejection)),
                    Ok(()) => self.ring_echo(event, request, ctx),
                }
            }
            Method::Invite if call::is_local_host(&request.uri, event.flow.local.ip()) => {
                match self.core.check(request) {
                    Err(rejection) => event.tx.do_send(Respond::plain(rejection)),
                    Ok(()) => self.start_call(event, request),
                }
            }
            _ => {
                let response = self.core.answer(request);
                debug!(status = response.status, "user agent answers");
                event.tx.do_send(Respond::plain(response));
            }
        }
    }

    /// Hands an INVITE to a user here to a new call actor, after the checks that need no
    /// lookup.
    fn start_call(&mut self, event: &TxEvent, invite: &Request) {
        let local_ip = echo::advertised_ip(&event.flow, &invite.uri);
        let agent = local_ip.to_string();
        let Some(callee) = call::target_user(&invite.uri) else {
            let response = self.core.answer(invite);
            event.tx.do_send(Respond::plain(response));
            return;
        };
        if call::max_forwards(invite) == 0 {
            let response = self.core.response(invite, 483);
            event.tx.do_send(Respond::plain(response));
            return;
        }
        let offer = match echo::parse_offer(&invite.body) {
            Ok(offer) => offer,
            Err(why) => return self.refuse(event, invite, 488, &why, &agent),
        };
        if let Err(why) = call::media::check_caller_offer(&offer, local_ip, &self.echo.media.codecs)
        {
            return self.refuse(event, invite, 488, &why, &agent);
        }
        self.calls.retain(|_, (_, c)| c.connected());
        let addr = CallActor::new(CallSetup {
            caller: event.clone(),
            invite: invite.clone(),
            offer,
            callee,
            local_ip,
            env: self.calls_env.clone(),
        })
        .start();
        self.calls
            .insert(event.key.clone(), (event.call_id.clone(), addr));
    }

    /// Passes an event of a caller's INVITE transaction to its call; false when it is no
    /// call's.
    fn forward_to_call(&mut self, event: &TxEvent) -> bool {
        match self.calls.get(&event.key) {
            Some((_, call)) if call.connected() => {
                call.do_send(event.clone());
                true
            }
            Some(_) => {
                self.calls.remove(&event.key);
                false
            }
            None => false,
        }
    }

    /// Hands a REGISTER that passes the §8.2 checks to the registrar. The hot path of a busy
    /// registrar: no span of its own (the registrar opens one with the Call-ID) and one copy
    /// of the request, the event itself moved.
    fn hand_to_registrar(&mut self, event: TxEvent) {
        let TxEventKind::Request(request) = &event.kind else {
            return;
        };
        match self.core.check(request) {
            Err(rejection) => event.tx.do_send(Respond::plain(rejection)),
            Ok(()) => {
                let request = request.clone();
                self.registrar.do_send(RegisterRequest { event, request });
            }
        }
    }

    /// A final refusal of `invite` with a 399 Warning saying `why`.
    fn refuse(&self, event: &TxEvent, invite: &Request, status: u16, why: &str, agent: &str) {
        info!(status, reason = %why, "echo call refused");
        let response = self
            .core
            .response(invite, status)
            .with_header(warning_399(agent, why));
        event.tx.do_send(Respond::plain(response));
    }

    /// Rings an echo call: RTP ports bound and 180 now (creating the dialog), 200 with the
    /// SDP answer later.
    fn ring_echo(&mut self, event: &TxEvent, invite: &Request, ctx: &mut Context<Self>) {
        let flow = event.flow;
        let local_ip = echo::advertised_ip(&flow, &invite.uri);
        let agent = local_ip.to_string();
        let offer = match echo::parse_offer(&invite.body) {
            Ok(offer) => offer,
            Err(why) => return self.refuse(event, invite, 488, &why, &agent),
        };
        let bound = match bind_pair(local_ip, &self.ports) {
            Ok(bound) => bound,
            Err(e) => {
                warn!(error = %e, "echo call refused: no RTP port");
                return self.refuse(event, invite, 503, &e.to_string(), &agent);
            }
        };
        let port = bound.port;
        let session = u64::from(rand::random::<u32>());
        let answered = echo::answer_offer(&offer, local_ip, port, session, &self.echo.media);
        let answered = match answered {
            Ok(answered) => answered,
            Err(why) => {
                drop(bound);
                self.ports.release(port);
                return self.refuse(event, invite, 488, &why, &agent);
            }
        };
        let sdp = answered.sdp;
        let local = SocketAddr::new(local_ip, flow.local.port());
        // Our Contact in the echo dialog: `sip:echo@<local>` (`transport=tcp` over TCP).
        let contact = NameAddr::new(call::outbound::local_uri(
            echo::ECHO_USER,
            local,
            flow.transport,
        ));
        let tag = new_tag();
        let server = Header::Server(ByteString::from_static(crate::SERVER_NAME));
        let ringing = uas_response(invite, 180, &tag, &contact).with_header(server.clone());
        let answer = uas_response(invite, 200, &tag, &contact)
            .with_header(server)
            .with_header(allow())
            .with_body(
                MediaType::new("application", "sdp"),
                sdp.into_bytes().into(),
            );
        let created = Dialog::new_uas(
            invite,
            &ringing,
            false,
            self.dialogs.config(),
            Instant::now(),
        );
        let (dialog, actions) = match created {
            Ok(created) => created,
            Err(e) => {
                // An INVITE must carry a Contact (RFC 3261 §8.1.1.8).
                info!(error = %e, "echo call refused: 400");
                drop(bound);
                self.ports.release(port);
                let reason = e.to_string();
                event.tx.do_send(Respond::plain(
                    self.core.response(invite, 400).with_reason(&reason),
                ));
                return;
            }
        };
        let dialog_id = dialog.id().to_string();
        let dialog = self.dialogs.spawn(dialog, actions, flow, local);
        let core = EchoMedia::new(
            answered.media,
            rand::random(),
            rand::random(),
            rand::random(),
            Instant::now(),
        );
        RtpEndpoint::new(RtpEndpointSetup {
            call_id: event.call_id.to_string(),
            dialog_id,
            ports: bound,
            allocator: self.ports.clone(),
            core,
            dialog: dialog.clone(),
            services: self.services.clone(),
            metrics: self.rtp_metrics.clone(),
        })
        .start();
        event.tx.do_send(Respond {
            response: ringing,
            notify: Some(dialog.clone().recipient()),
        });
        let key = event.key.clone();
        let timer_key = key.clone();
        let timer = ctx.run_later(self.echo.answer_delay, move |ua, _| {
            ua.answer_echo(&timer_key);
        });
        info!(
            delay = ?self.echo.answer_delay,
            rtp_port = port,
            caller_rtp = ?answered.remote,
            "echo call ringing"
        );
        self.pending.insert(
            key,
            PendingCall {
                tx: event.tx.clone(),
                dialog,
                answer,
                timer,
            },
        );
    }

    /// The answer delay passed: 200 with the SDP answer, through the INVITE transaction (the
    /// dialog hears of it from the transaction and retransmits it until the ACK).
    fn answer_echo(&mut self, key: &TransactionKey) {
        let Some(call) = self.pending.remove(key) else {
            return;
        };
        let span = info_span!("user_agent", transaction = %key);
        let _entered = span.enter();
        info!("echo call answered");
        call.tx.do_send(Respond {
            response: call.answer,
            notify: Some(call.dialog.recipient()),
        });
    }

    /// The INVITE transaction of a pending call ended early: drop the call.
    fn drop_pending(&mut self, key: &TransactionKey, cause: &str, ctx: &mut Context<Self>) {
        if let Some(call) = self.pending.remove(key) {
            ctx.cancel_future(call.timer);
            call.dialog.do_send(Abort {
                cause: cause.to_owned(),
            });
        }
    }
}

impl Actor for UserAgent {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.calls_env.supervisor = Some(ctx.address().recipient());
    }
}

impl Handler<ChildFailed> for UserAgent {
    type Result = ();

    /// A call actor panicked: it tore its call down itself; count, log and publish it.
    fn handle(&mut self, failed: ChildFailed, _ctx: &mut Self::Context) {
        error!(
            call_id = %failed.call_id,
            panic = %failed.message,
            "call actor panicked; its call was ended (other calls carry on)"
        );
        let event = failure_event(&self.services, &failed, Layer::Call);
        self.services.publish(event);
        self.calls
            .retain(|_, (call_id, _)| *call_id != failed.call_id);
    }
}

impl Handler<InjectCallPanic> for UserAgent {
    type Result = bool;

    fn handle(&mut self, msg: InjectCallPanic, _ctx: &mut Self::Context) -> bool {
        let found = self
            .calls
            .values()
            .find(|(call_id, addr)| *call_id == msg.call_id && addr.connected());
        match found {
            Some((_, addr)) => {
                warn!(call_id = %msg.call_id, "fault injection: making a call actor panic");
                addr.do_send(InjectPanic);
                true
            }
            None => false,
        }
    }
}

impl Handler<TxEvent> for UserAgent {
    type Result = ();

    fn handle(&mut self, event: TxEvent, ctx: &mut Self::Context) {
        if matches!(&event.kind, TxEventKind::Request(r) if r.method == Method::Register) {
            return self.hand_to_registrar(event);
        }
        let span = info_span!("user_agent", call_id = %event.call_id, transaction = %event.key);
        let _entered = span.enter();
        if !matches!(event.kind, TxEventKind::Request(_)) && self.forward_to_call(&event) {
            return;
        }
        match &event.kind {
            TxEventKind::Request(request) => self.on_request(&event, request, ctx),
            TxEventKind::Response(response) => {
                debug!(status = response.status, "response to a request of ours");
            }
            TxEventKind::Timeout => {
                info!("transaction timed out (408)");
                self.drop_pending(&event.key, "INVITE transaction timed out", ctx);
            }
            TxEventKind::TransportError => {
                warn!("transaction failed: transport error (503)");
                self.drop_pending(&event.key, "transport error", ctx);
            }
            TxEventKind::Cancelled => {
                // The transaction sent the 487, and the dialog heard of it.
                info!("INVITE cancelled by the caller");
                if let Some(call) = self.pending.remove(&event.key) {
                    ctx.cancel_future(call.timer);
                }
            }
            TxEventKind::Refused(status) => debug!(status, "transaction refused a response"),
            TxEventKind::Failed => {
                warn!("transaction actor failed; its request is dropped");
                self.drop_pending(&event.key, "INVITE transaction failed", ctx);
            }
        }
    }
}

impl Handler<Announce> for UserAgent {
    type Result = String;

    fn handle(&mut self, msg: Announce, _ctx: &mut Self::Context) -> String {
        let call_id = call::announce::new_call_id();
        AnnouncementActor::new(msg, self.calls_env.clone(), call_id.clone()).start();
        call_id
    }
}
