//! Starting a call: the callee's bindings, the RTP ports, the INVITE to the callee; or the
//! caller's refusal when none of that can be had.

use super::*;
use crate::rtp::relay_endpoint::leg_dtmf_mode;

impl CallActor {
    // ---- starting --------------------------------------------------------------------

    pub(super) fn lookup(&mut self, ctx: &mut Context<Self>) {
        let aor = self.setup.callee.clone();
        let caller = self
            .setup
            .invite
            .headers
            .from()
            .and_then(|f| crate::call::target_user(&f.uri));
        let store = self.setup.env.store.clone();
        let lookup = self
            .setup
            .env
            .registrar
            .send(LookupBindings { aor: aor.clone() });
        let fut = async move {
            let bindings = lookup.await.unwrap_or_default();
            let Some(store) = store else {
                return (bindings, true, [DtmfMode::default(); 2]);
            };
            let known = !bindings.is_empty() || store.get_endpoint(&aor).await.is_ok();
            // Each leg that is one of our endpoints gets DTMF in its configured form.
            let mode = |user: Option<String>| {
                let store = store.clone();
                async move {
                    let Some(user) = user else {
                        return DtmfMode::default();
                    };
                    match store.endpoint_dtmf_mode(&user).await {
                        Ok(Some(mode)) => leg_dtmf_mode(mode),
                        Ok(None) => DtmfMode::default(),
                        Err(e) => {
                            warn!(user = %user, error = %e, "DTMF mode not read; RFC 4733");
                            DtmfMode::default()
                        }
                    }
                }
            };
            let modes = [mode(caller).await, mode(Some(aor)).await];
            (bindings, known, modes)
        };
        ctx.wait(
            fut.into_actor(self)
                .map(|(bindings, known, modes), act, ctx| {
                    let span = act.span.clone();
                    let _entered = span.enter();
                    act.dtmf_modes = modes;
                    act.place(bindings, known, ctx);
                }),
        );
    }

    /// Calls the best reachable binding, or refuses the caller.
    pub(super) fn place(&mut self, bindings: Vec<Binding>, known: bool, ctx: &mut Context<Self>) {
        let Some(binding) = outbound::best_binding(&bindings) else {
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
                .and_then(|f| crate::call::target_user(&f.uri))
                .unwrap_or_else(|| "anonymous".to_owned()),
            caller_display: from.and_then(|f| f.display_name.clone()),
            callee: self.setup.callee.clone(),
            max_forwards: crate::call::max_forwards(invite).saturating_sub(1),
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
    pub(super) fn refuse_before_start(&mut self, status: u16, why: &str, ctx: &mut Context<Self>) {
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

    pub(super) fn with_warning(&self, response: Response, why: &str) -> Response {
        response.with_header(crate::ua_core::warning_399(
            &self.setup.local_ip.to_string(),
            why,
        ))
    }
}
