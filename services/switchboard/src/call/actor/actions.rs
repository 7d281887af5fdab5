//! Carrying out the call machine's decisions: responses to the caller (its dialog made
//! with the first), CANCEL and BYE, media, events and the CDR.

use super::*;

impl CallActor {
    // ---- actions ---------------------------------------------------------------------

    pub(super) fn apply(&mut self, action: CallAction, ctx: &mut Context<Self>) {
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
                    Side::Callee => self.callee_dialog(),
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
    pub(super) fn caller_response(&self, status: u16) -> Response {
        uas_response(
            &self.setup.invite,
            status,
            &self.caller_tag,
            &self.caller_contact,
        )
        .with_header(Header::Server(ByteString::from_static(crate::SERVER_NAME)))
    }

    /// Sends a provisional or 2xx to the caller, creating its dialog with the first one.
    pub(super) fn respond_caller(&mut self, response: Response, ctx: &mut Context<Self>) {
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

    pub(super) fn write_cdr(&self, outcome: &CallOutcome, now: Instant) {
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
}
