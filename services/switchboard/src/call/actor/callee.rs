//! The callee's side: its responses, its dialog, its SDP answer and the relay it makes
//! possible.

use super::*;

impl CallActor {
    pub(super) fn on_callee_response(&mut self, response: Response, ctx: &mut Context<Self>) {
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
                if let Some(dialog) = self.callee_dialog() {
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
                if let Some(dialog) = self.callee_dialog() {
                    dialog.do_send(UacResponse(response));
                }
            }
        }
    }

    /// Makes sure the callee's dialog (UAC) exists for a response with a To tag.
    pub(super) fn ensure_callee_dialog(&mut self, response: &Response, ctx: &mut Context<Self>) {
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
    pub(super) fn media_from(&mut self, response: &Response, ctx: &mut Context<Self>) -> bool {
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

    pub(super) fn start_relay(
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
            legs: [
                call_media::leg_config(leg_a, self.dtmf_modes[0]),
                call_media::leg_config(leg_b, self.dtmf_modes[1]),
            ],
            ports,
            allocator: self.setup.env.ports.clone(),
            events: self.services().events.clone(),
            metrics: self.setup.env.rtp_metrics.clone(),
        })
        .with_owner(ctx.address().recipient())
        .with_timeout_owner(ctx.address().recipient())
        .with_calls_id(self.id)
        .start();
        self.relay = Some(relay);
    }

    pub(super) fn caller_dialog_id(&self) -> DialogId {
        let remote = self
            .setup
            .invite
            .headers
            .from()
            .and_then(NameAddr::tag)
            .unwrap_or("");
        DialogId::new(&self.call_id, &self.caller_tag, remote)
    }

    pub(super) fn callee_dialog_id(&self, remote_tag: &str) -> String {
        self.callee
            .as_ref()
            .and_then(|c| {
                let call_id = c.invite.headers.call_id()?;
                let local = c.invite.headers.from().and_then(NameAddr::tag)?;
                Some(DialogId::new(call_id, local, remote_tag).to_string())
            })
            .unwrap_or_default()
    }
}
