//! Announcement calls: Switchboard calls an extension and plays it a list of WAV prompts
//! (a callback notice, a broadcast to agents), then hangs up.
//!
//! Started by `POST /api/v1/calls` ([`Announce`] to the user agent). One
//! [`AnnouncementActor`] per call: it looks the extension's bindings up, sends the INVITE
//! from Switchboard with an SDP offer on its own RTP port, acknowledges the 2xx in the
//! call's UAC dialog, and plays the prompts with a
//! [`crate::rtp::prompt_endpoint::PromptEndpoint`] paced at 20 ms; when they have played (or
//! the callee pressed a digit, with `stop_on_digits`), it sends BYE. A callee hanging up
//! first stops the prompts. Call-layer events: `announcement_started`, `state`
//! (calling → ringing → confirmed → disconnected, or failed), `announcement_finished`.

use std::net::IpAddr;
use std::time::Instant;

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, Recipient,
    WrapFuture,
};
use media::dtmf::DtmfDigit;
use media::prompt::Prompt;
use media::sdp::SessionDescription;
use registrar::location::Binding;
use serde_json::json;
use sip::dialog::Dialog;
use sip::{NameAddr, Request, Response};
use tracing::{Span, debug, info, info_span, warn};

use super::outbound::{self, Parties};
use super::{CallEnv, media as call_media};
use crate::dialog_layer::{DialogActor, DialogNotice, DialogNoticeKind, Hangup, UacResponse};
use crate::events::{EventDraft, Layer};
use crate::registrar::LookupBindings;
use crate::rtp::prompt_endpoint::{
    PromptEndpoint, PromptEndpointSetup, PromptFinished, StopPrompt,
};
use crate::rtp::{BoundPorts, bind_pair};
use crate::transaction_layer::{StartClient, TxEvent, TxEventKind};
use crate::transport::Flow;
use crate::ua_core::new_tag;

/// Place an announcement call (→ user agent); answers its Call-ID.
#[derive(Message)]
#[rtype(result = "String")]
pub struct Announce {
    /// The extension (address-of-record) to call.
    pub extension: String,
    /// The prompts, loaded, in order.
    pub prompts: Vec<Prompt>,
    /// Digits that stop the prompts (and the call); empty for none.
    pub stop_on_digits: Vec<DtmfDigit>,
    /// The caller's name shown to the callee.
    pub from_name: String,
}

/// Where the call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Looking,
    Calling,
    Ringing,
    Playing,
    Ended,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Looking | Stage::Calling => "calling",
            Stage::Ringing => "ringing",
            Stage::Playing => "confirmed",
            Stage::Ended => "disconnected",
        }
    }
}

/// One announcement call (see the module documentation).
pub struct AnnouncementActor {
    request: Announce,
    env: CallEnv,
    /// Our address towards the callee, once its binding is known.
    local_ip: IpAddr,
    call_id: String,
    span: Span,
    stage: Stage,
    ports: Option<BoundPorts>,
    invite: Option<(Request, Flow, SessionDescription)>,
    dialog: Option<Addr<DialogActor>>,
    prompt: Option<Addr<PromptEndpoint>>,
    started: Instant,
}

impl AnnouncementActor {
    /// An announcement over `env`; `call_id` is the Call-ID its INVITE will carry.
    pub fn new(request: Announce, env: CallEnv, call_id: String) -> Self {
        let span = info_span!("announcement", call_id = %call_id, callee = %request.extension);
        AnnouncementActor {
            request,
            env,
            local_ip: IpAddr::from([0, 0, 0, 0]),
            call_id,
            span,
            stage: Stage::Looking,
            ports: None,
            invite: None,
            dialog: None,
            prompt: None,
            started: Instant::now(),
        }
    }

    fn event(&self, kind: &str) -> EventDraft {
        EventDraft::new(Layer::Call, &self.call_id).kind(kind)
    }

    fn enter_stage(&mut self, to: Stage, cause: &str) {
        if to == self.stage || self.stage == Stage::Ended {
            return;
        }
        let from = self.stage;
        self.stage = to;
        info!(
            from = from.as_str(),
            to = to.as_str(),
            cause,
            "announcement state"
        );
        if from.as_str() != to.as_str() {
            self.env.services.publish(
                self.event("state")
                    .transition(from.as_str(), to.as_str())
                    .cause(cause),
            );
        }
    }

    /// Ends the call as failed with `why`.
    fn fail(&mut self, why: &str, ctx: &mut Context<Self>) {
        warn!(reason = why, "announcement failed");
        if self.stage != Stage::Ended {
            let from = self.stage.as_str();
            self.stage = Stage::Ended;
            self.env
                .services
                .publish(self.event("state").transition(from, "failed").cause(why));
        }
        self.finish("failed", why, ctx);
    }

    fn finish(&mut self, outcome: &str, why: &str, ctx: &mut Context<Self>) {
        self.env
            .services
            .publish(self.event("announcement_finished").detail(json!({
                "outcome": outcome,
                "cause": why,
                "duration_ms": self.started.elapsed().as_millis() as u64,
            })));
        ctx.stop();
    }

    fn call(&mut self, bindings: Vec<Binding>, ctx: &mut Context<Self>) {
        let Some(binding) = outbound::best_binding(&bindings) else {
            return self.fail("the extension has no reachable device", ctx);
        };
        let flow = match outbound::flow_to(binding) {
            Ok(flow) => flow,
            Err(e) => return self.fail(&e.to_string(), ctx),
        };
        // The address the phone registered to is the one it can reach.
        if flow.local.ip().is_unspecified() {
            return self.fail(
                "the extension registered to an unspecified listen address: no address to advertise",
                ctx,
            );
        }
        self.local_ip = flow.local.ip();
        let ports = match bind_pair(self.local_ip, &self.env.ports) {
            Ok(ports) => ports,
            Err(e) => return self.fail(&e.to_string(), ctx),
        };
        let session = u64::from(rand::random::<u32>());
        let offer = match call_media::offer_to_callee(
            self.local_ip,
            ports.port,
            session,
            &self.env.media.codecs,
        ) {
            Ok(offer) => offer,
            Err(why) => {
                self.ports = Some(ports);
                return self.fail(&why, ctx);
            }
        };
        self.ports = Some(ports);
        let local = flow.local;
        let parties = Parties {
            caller_user: "switchboard".to_owned(),
            caller_display: Some(
                format!("\"{}\"", self.request.from_name.replace('"', "'")).into(),
            ),
            callee: self.request.extension.clone(),
            max_forwards: 70,
        };
        let mut request = match outbound::invite(binding, &flow, local, &parties, offer.to_string())
        {
            Ok(request) => request,
            Err(e) => return self.fail(&e.to_string(), ctx),
        };
        request
            .headers
            .set(sip::Header::CallId(self.call_id.clone().into()));
        info!(contact = %binding.contact, destination = %flow.peer, "announcement calls");
        self.invite = Some((request.clone(), flow, offer));
        self.enter_stage(Stage::Calling, "INVITE sent");
        self.env.transactions.do_send(StartClient {
            request,
            flow,
            tu: ctx.address().recipient(),
        });
    }

    fn on_response(&mut self, response: Response, ctx: &mut Context<Self>) {
        if self.stage == Stage::Ended {
            // A 2xx after the end (the INVITE transaction passes them all up): ACK and BYE.
            if response.class() == 2 {
                self.ensure_dialog(&response, ctx);
                if let Some(dialog) = &self.dialog {
                    dialog.do_send(UacResponse(response));
                    dialog.do_send(Hangup {
                        cause: "announcement over".to_owned(),
                    });
                }
            }
            return;
        }
        match response.class() {
            1 if response.status > 100 => {
                self.ensure_dialog(&response, ctx);
                self.enter_stage(
                    Stage::Ringing,
                    &format!("{} from the callee", response.status),
                );
            }
            1 => {}
            2 => {
                self.ensure_dialog(&response, ctx);
                if let Some(dialog) = &self.dialog {
                    dialog.do_send(UacResponse(response.clone()));
                }
                if self.stage != Stage::Playing {
                    self.play(&response, ctx);
                }
            }
            _ => {
                if let Some(dialog) = &self.dialog {
                    dialog.do_send(UacResponse(response.clone()));
                }
                self.fail(
                    &format!("{} {} from the callee", response.status, response.reason),
                    ctx,
                );
            }
        }
    }

    fn ensure_dialog(&mut self, response: &Response, ctx: &mut Context<Self>) {
        if self.dialog.is_some() || response.headers.to().and_then(NameAddr::tag).is_none() {
            return;
        }
        let Some((invite, flow, _)) = &self.invite else {
            return;
        };
        match Dialog::new_uac(invite, response, false, self.env.dialogs.config()) {
            Ok((dialog, actions)) => {
                // Specified: `call` refused an unspecified listen address.
                let local = flow.local;
                let owner: Recipient<DialogNotice> = ctx.address().recipient();
                self.dialog =
                    Some(
                        self.env
                            .dialogs
                            .spawn_owned(dialog, actions, *flow, local, Some(owner)),
                    );
            }
            Err(e) => warn!(error = %e, "no dialog from the callee's response"),
        }
    }

    /// The callee answered: the prompts play on the negotiated stream.
    fn play(&mut self, response: &Response, ctx: &mut Context<Self>) {
        let Some((_, _, offer)) = &self.invite else {
            return;
        };
        let stream = match call_media::callee_leg(offer, &response.body) {
            Ok(stream) => stream,
            Err(why) => {
                if let Some(dialog) = &self.dialog {
                    dialog.do_send(Hangup { cause: why.clone() });
                }
                return self.fail(&why, ctx);
            }
        };
        let Some(ports) = self.ports.take() else {
            return;
        };
        self.enter_stage(Stage::Playing, "answered");
        let dialog_id = response
            .headers
            .to()
            .and_then(NameAddr::tag)
            .map(|tag| {
                let local = self
                    .invite
                    .as_ref()
                    .and_then(|(i, _, _)| {
                        i.headers.from().and_then(NameAddr::tag).map(str::to_owned)
                    })
                    .unwrap_or_default();
                sip::dialog::DialogId::new(&self.call_id, &local, tag).to_string()
            })
            .unwrap_or_default();
        let prompts = std::mem::take(&mut self.request.prompts);
        self.env
            .services
            .publish(self.event("announcement_started").detail(json!({
                "extension": self.request.extension,
                "prompts": prompts.iter().map(|p| p.name().to_owned()).collect::<Vec<_>>(),
                "port": ports.port,
                "codec": stream.codec.encoding.name(),
            })));
        let endpoint = PromptEndpoint::new(PromptEndpointSetup {
            call_id: self.call_id.clone(),
            dialog_id,
            ports,
            allocator: self.env.ports.clone(),
            stream,
            prompts,
            stop_on_digits: self.request.stop_on_digits.clone(),
            inband_dtmf: self.env.media.dtmf_inband,
            owner: ctx.address().recipient(),
            dialog: self.dialog.clone(),
            services: self.env.services.clone(),
            metrics: self.env.rtp_metrics.clone(),
        })
        .start();
        self.prompt = Some(endpoint);
    }
}

impl Actor for AnnouncementActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        self.env.services.publish(
            self.event("created")
                .transition("new", Stage::Calling.as_str())
                .detail(json!({
                    "callee": self.request.extension,
                    "announcement": true,
                    "prompts": self.request.prompts.len(),
                })),
        );
        let lookup = self.env.registrar.send(LookupBindings {
            aor: self.request.extension.clone(),
        });
        ctx.wait(
            async move { lookup.await.unwrap_or_default() }
                .into_actor(self)
                .map(|bindings, act, ctx| {
                    let span = act.span.clone();
                    let _entered = span.enter();
                    act.call(bindings, ctx);
                }),
        );
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(prompt) = self.prompt.take() {
            prompt.do_send(StopPrompt);
        }
        if let Some(ports) = self.ports.take() {
            self.env.ports.release(ports.port);
        }
        debug!(call_id = %self.call_id, "announcement actor stopped");
    }
}

impl Handler<TxEvent> for AnnouncementActor {
    type Result = ();

    fn handle(&mut self, event: TxEvent, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        match event.kind {
            TxEventKind::Response(response) => self.on_response(response, ctx),
            TxEventKind::Timeout if self.stage != Stage::Ended => {
                self.fail("the callee did not answer the INVITE (timer B)", ctx)
            }
            TxEventKind::TransportError | TxEventKind::Failed if self.stage != Stage::Ended => {
                self.fail("transport error towards the callee", ctx)
            }
            _ => {}
        }
    }
}

impl Handler<PromptFinished> for AnnouncementActor {
    type Result = ();

    fn handle(&mut self, msg: PromptFinished, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        let reason = msg.reason.name();
        info!(reason, packets = msg.packets_sent, "prompts finished");
        if let Some(dialog) = &self.dialog {
            dialog.do_send(Hangup {
                cause: format!("announcement over ({reason})"),
            });
        }
        self.enter_stage(Stage::Ended, &format!("prompts {reason}"));
        self.prompt = None;
        self.finish(reason, "BYE sent", ctx);
    }
}

impl Handler<DialogNotice> for AnnouncementActor {
    type Result = ();

    fn handle(&mut self, notice: DialogNotice, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        match notice.kind {
            DialogNoticeKind::Ended {
                by_peer_bye, cause, ..
            } if self.stage != Stage::Ended => {
                if let Some(prompt) = self.prompt.take() {
                    prompt.do_send(StopPrompt);
                }
                let cause = if by_peer_bye {
                    "BYE from the callee".to_owned()
                } else {
                    cause
                };
                self.enter_stage(Stage::Ended, &cause);
                self.finish("hung_up", &cause, ctx);
            }
            _ => {}
        }
    }
}

/// A fresh Call-ID for an announcement.
pub fn new_call_id() -> String {
    format!("{}@switchboard", new_tag())
}
