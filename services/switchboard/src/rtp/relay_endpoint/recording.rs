//! Recording a relayed call: leg A's peer (the caller) left, leg B's peer (the callee) right,
//! each as received, decoded by its own G.711 law and placed by its RTP timestamp, as the
//! echo call's endpoint does (see [`crate::recording`]). The HTTP API finds the relay in
//! [`ActiveCalls`](crate::recording::ActiveCalls) under leg A's Call-ID.

use std::time::{Duration, Instant};

use actix::{AsyncContext, Context, Handler};
use media::recording::Leg;
use media::relay::{LegId, rtp_payload};
use serde_json::json;
use store::Id;
use tracing::{info, warn};

use super::RelayEndpoint;
use crate::events::{EventDraft, Layer};
use crate::recording::{self, ActiveRecording, StartError, StartRecording, StopRecording};

/// How often a recording's file catches up with the wall clock when no audio comes.
const TICK: Duration = Duration::from_millis(50);

impl RelayEndpoint {
    /// Names the call's id (the CDR's `calls.id`) for the rows of its recordings; without
    /// one the relay mints an id of its own for the call.
    pub fn with_calls_id(mut self, id: Id) -> Self {
        self.store_call_id = id;
        self
    }

    /// Feeds the recording, if any, with an RTP datagram `leg`'s peer sent.
    pub(super) fn record(&mut self, leg: LegId, bytes: &[u8], now: Instant) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        let config = self.session.leg_config(leg);
        let (Some(law), Some(packet)) = (config.law(), rtp_payload(bytes)) else {
            return;
        };
        if packet.payload_type != config.payload_type {
            // Telephone-events, comfort noise: not audio to record.
            return;
        }
        self.pcm.resize(packet.payload.len(), 0);
        if law.decode(packet.payload, &mut self.pcm).is_err() {
            return;
        }
        let channel = match leg {
            LegId::A => Leg::A,
            LegId::B => Leg::B,
        };
        rec.push(channel, packet.timestamp, now, &self.pcm);
        if rec.has_failed() {
            self.stop_recording(now);
        }
    }

    /// Stops the recording, if any; its checksum and store row are made off the actor.
    /// Returns the file.
    pub(super) fn stop_recording(&mut self, now: Instant) -> Option<String> {
        let rec = self.recording.take()?;
        let file = rec.path().display().to_string();
        let done = rec.stop(&self.setup.call_id, self.store_call_id, now);
        actix::spawn(recording::finish_to(done, self.setup.events.clone()));
        Some(file)
    }

    /// Advances the recording's file to now; the timer ends itself once nothing records.
    fn recording_tick(&mut self, ctx: &mut Context<Self>) {
        if self.recording.is_none() {
            if let Some(handle) = self.recording_tick.take() {
                ctx.cancel_future(handle);
            }
            return;
        }
        let now = Instant::now();
        if let Some(rec) = self.recording.as_mut() {
            rec.advance(now);
            if rec.has_failed() {
                self.stop_recording(now);
            }
        }
    }
}

impl Handler<StartRecording> for RelayEndpoint {
    type Result = Result<String, StartError>;

    fn handle(&mut self, msg: StartRecording, ctx: &mut Context<Self>) -> Self::Result {
        let call_id = self.setup.call_id.clone();
        if self.recording.is_some() {
            return Err(StartError::AlreadyRecording(call_id));
        }
        let rec = ActiveRecording::start(&call_id, msg.mode, msg.target, Instant::now())
            .inspect_err(|e| {
                warn!(call_id = %call_id, error = %e, "recording not started");
                self.publish(
                    EventDraft::new(Layer::Call, &call_id)
                        .kind("recording_failed")
                        .detail(json!({ "error": e.to_string() })),
                );
            })?;
        let file = rec.path().display().to_string();
        let mode = recording::mode_name(rec.mode());
        info!(call_id = %call_id, file = %file, mode, "relayed call recording started");
        self.publish(
            EventDraft::new(Layer::Call, &call_id)
                .kind("recording_started")
                .detail(json!({ "file": file, "mode": mode })),
        );
        self.recording = Some(rec);
        if let Some(handle) = self.recording_tick.take() {
            // The timer of a recording stopped less than a tick ago.
            ctx.cancel_future(handle);
        }
        self.recording_tick =
            Some(ctx.run_interval(TICK, |endpoint, ctx| endpoint.recording_tick(ctx)));
        Ok(file)
    }
}

impl Handler<StopRecording> for RelayEndpoint {
    type Result = Option<String>;

    fn handle(&mut self, _msg: StopRecording, _ctx: &mut Context<Self>) -> Self::Result {
        self.stop_recording(Instant::now())
    }
}
