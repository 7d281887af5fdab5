//! The relay endpoint actor: one relayed call's four sockets (RTP and RTCP for legs A and B)
//! around a sans-IO [`RelaySession`].
//!
//! The call engine binds both legs' port pairs before it answers (a port that cannot be
//! bound must never reach an SDP body; [`bind_legs`]), builds the two [`LegConfig`]s from the
//! negotiated SDP, and starts a [`RelayEndpoint`]. The actor hands every datagram to the
//! session, sends what it asks from the socket of the leg it names, polls it at its next
//! deadline, publishes `dtmf` and `media_timeout` Call-layer events, and on stop releases the
//! ports and reports both legs' counters (`media_ended`). It never stops by itself: the
//! call engine sends [`Stop`] when the call ends (a media timeout is reported, not acted on,
//! since hanging up is the call's decision).
//!
//! DTMF ([`dtmf`]): each leg's [`LegConfig::dtmf_mode`] says how digits from the other leg
//! reach it; the call engine feeds digits a peer sent by SIP INFO with [`InfoDigit`] and, as
//! the owner named by [`RelayEndpoint::with_owner`], gets [`LegDtmf`] for each digit to send
//! by INFO. Recording ([`recording`](self::recording)): the endpoint is in
//! [`ActiveCalls`] under the call's Call-ID while it runs, so the HTTP API can start and
//! stop recording it; stopping the endpoint finishes a recording in progress.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, AsyncContext, Context, Handler, Message, MessageResponse, Recipient,
    SpawnHandle, StreamHandler,
};
use futures_util::Stream;
use media::relay::{LegConfig, LegId, LegStats, RelayAction, RelayConfig, RelaySession};
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::{BindError, BoundPorts, RtpMetrics, SharedPorts, bind_pair};
use crate::events::{EventBus, EventDraft, Layer};
use crate::recording::{ActiveCalls, ActiveRecording};

mod dtmf;
mod recording;

pub use dtmf::{InfoDigit, LegDtmf, leg_dtmf_mode};

/// The largest datagram read; RTP for G.711 is far smaller.
const MAX_DATAGRAM: usize = 2048;

/// How long a socket's reader pauses after a receive error, so a persistent error cannot spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(20);

/// The shortest poll timer.
const MIN_TIMER: Duration = Duration::from_millis(1);

/// One leg's allocated, bound RTP/RTCP port pair (`port` goes in that leg's SDP).
pub type LegPorts = BoundPorts;

/// Allocates and binds both legs' RTP/RTCP port pairs on `ip` (skipping pairs another
/// program holds); when leg B's pair cannot be had, leg A's is released again so a failed
/// call leaks no port. Must run inside the actix runtime.
pub fn bind_legs(ip: IpAddr, ports: &SharedPorts) -> Result<[LegPorts; 2], BindError> {
    let a = bind_pair(ip, ports)?;
    match bind_pair(ip, ports) {
        Ok(b) => Ok([a, b]),
        Err(e) => {
            ports.release(a.port);
            Err(e)
        }
    }
}

/// Everything a relay endpoint starts with.
pub struct RelayEndpointSetup {
    /// The call's Call-ID (leg A's), for logs and events.
    pub call_id: String,
    /// The dialog id of each leg (`[A, B]`), for the `dtmf` events of that leg's peer.
    pub dialogs: [String; 2],
    /// The relay settings (no-RTP timeout, latching, DTMF).
    pub config: RelayConfig,
    /// What SDP negotiated for each leg (`[A, B]`); their `rtp_port`s are the bound ports'.
    pub legs: [LegConfig; 2],
    /// The bound port pairs of each leg (`[A, B]`), released when the endpoint stops.
    pub ports: [LegPorts; 2],
    /// The allocator to release them to.
    pub allocator: SharedPorts,
    /// The event log, if any.
    pub events: Option<EventBus>,
    /// The RTP counters, if metrics are on.
    pub metrics: Option<RtpMetrics>,
}

/// A re-INVITE changed what SDP says about `leg` (hold, resume, new address or codec).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct UpdateLeg {
    /// The leg.
    pub leg: LegId,
    /// Its new negotiated description (the same local ports).
    pub config: LegConfig,
}

/// A leg sent no RTP for the no-RTP timeout (→ the timeout owner; once per silence).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct MediaTimedOut {
    /// The call (leg A's Call-ID).
    pub call_id: String,
    /// The silent leg.
    pub leg: LegId,
}

/// Ends the relay: ports released, `media_ended` published.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Stop;

/// Asks for both legs' counters now.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "RelayLegStats")]
pub struct RelayStats;

/// Both legs' counters (the answer to [`RelayStats`]).
#[derive(Debug, Clone, PartialEq, MessageResponse)]
pub struct RelayLegStats {
    /// Leg A (the caller).
    pub a: LegStats,
    /// Leg B (the callee).
    pub b: LegStats,
}

/// One datagram read from one of the four sockets.
struct Datagram {
    leg: LegId,
    rtcp: bool,
    from: SocketAddr,
    bytes: Vec<u8>,
}

/// One relayed call's media (see the module documentation).
pub struct RelayEndpoint {
    setup: RelayEndpointSetup,
    session: RelaySession,
    started: Instant,
    /// The pending poll timer and the deadline it is set for.
    timer: Option<(Instant, SpawnHandle)>,
    /// Who sends SIP INFO for legs in INFO mode.
    owner: Option<Recipient<LegDtmf>>,
    /// Who decides what a media timeout means for the call.
    timeout_owner: Option<Recipient<MediaTimedOut>>,
    /// The call's id for the store's recordings.
    store_call_id: store::Id,
    /// The recording in progress, if any, and its file's catch-up timer.
    recording: Option<ActiveRecording>,
    recording_tick: Option<SpawnHandle>,
    /// Decoded audio for the recording, reused between packets.
    pcm: Vec<i16>,
}

impl RelayEndpoint {
    /// An endpoint over `setup`, to be started.
    pub fn new(setup: RelayEndpointSetup) -> Self {
        let now = Instant::now();
        let [a, b] = setup.legs.clone();
        for (leg, (config, bound)) in [LegId::A, LegId::B]
            .into_iter()
            .zip(setup.legs.iter().zip(setup.ports.iter()))
        {
            if config.rtp_port != bound.port {
                // The sockets are what packets really use; the SDP port is only a label here.
                warn!(call_id = %setup.call_id, leg = leg_name(leg), sdp_port = config.rtp_port,
                    bound_port = bound.port, "leg's SDP port differs from its bound port");
            }
        }
        RelayEndpoint {
            session: RelaySession::new(setup.config, a, b, now),
            setup,
            started: now,
            timer: None,
            owner: None,
            timeout_owner: None,
            store_call_id: store::Id::new(),
            recording: None,
            recording_tick: None,
            pcm: Vec::new(),
        }
    }

    fn socket(&self, leg: LegId, rtcp: bool) -> &UdpSocket {
        let bound = &self.setup.ports[leg_index(leg)];
        if rtcp { &bound.rtcp } else { &bound.rtp }
    }

    fn apply(&mut self, actions: Vec<RelayAction>) {
        for action in actions {
            match action {
                RelayAction::SendRtp {
                    from_leg,
                    to,
                    bytes,
                } => self.send(from_leg, false, to, &bytes),
                RelayAction::SendRtcp {
                    from_leg,
                    to,
                    bytes,
                } => self.send(from_leg, true, to, &bytes),
                RelayAction::Dtmf { leg, event } => self.publish_dtmf(leg, &event),
                RelayAction::SendInfo { leg, event } => self.send_info(leg, event),
                RelayAction::Latched { leg, addr } => {
                    info!(call_id = %self.setup.call_id, leg = leg_name(leg), %addr,
                        "RTP latched to the peer's source");
                }
                RelayAction::MediaTimeout { leg } => self.publish_timeout(leg),
            }
        }
    }

    fn send(&self, leg: LegId, rtcp: bool, to: SocketAddr, bytes: &[u8]) {
        // Never wait for the socket: a packet the kernel cannot take now is lost, as it would
        // be on the network, and the other legs' packets must not wait behind it.
        match self.socket(leg, rtcp).try_send_to(bytes, to) {
            Ok(_) => {
                if let (Some(m), false) = (&self.setup.metrics, rtcp) {
                    m.packet("out", bytes.len());
                }
            }
            Err(e) => debug!(call_id = %self.setup.call_id, leg = leg_name(leg), rtcp, %to,
                error = %e, "relay send failed"),
        }
    }

    /// Names the actor told of each media timeout (the call engine, which may hang up).
    pub fn with_timeout_owner(mut self, owner: Recipient<MediaTimedOut>) -> Self {
        self.timeout_owner = Some(owner);
        self
    }

    fn publish_timeout(&self, leg: LegId) {
        if let Some(owner) = &self.timeout_owner {
            owner.do_send(MediaTimedOut {
                call_id: self.setup.call_id.clone(),
                leg,
            });
        }
        let secs = self.session.config().no_rtp_timeout.as_secs();
        let port = self.setup.ports[leg_index(leg)].port;
        warn!(call_id = %self.setup.call_id, leg = leg_name(leg), timeout_secs = secs, port,
            "no RTP received on a relayed leg");
        self.publish(
            EventDraft::new(Layer::Call, &self.setup.call_id)
                .kind("media_timeout")
                .dialog(&self.setup.dialogs[leg_index(leg)])
                .detail(json!({ "leg": leg_name(leg), "timeout_secs": secs, "port": port })),
        );
    }

    fn publish(&self, draft: EventDraft) {
        if let Some(events) = &self.setup.events {
            events.publish(draft);
        }
    }

    /// Keeps one timer at the session's next deadline. Each packet pushes the no-RTP deadline
    /// later, so the timer is moved only when the deadline comes *earlier* (a DTMF end timer);
    /// a timer that fires early just sets itself again. That is one timer per call per
    /// timeout period instead of one per packet.
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        let Some(deadline) = self.session.next_deadline() else {
            if let Some((_, handle)) = self.timer.take() {
                ctx.cancel_future(handle);
            }
            return;
        };
        if let Some((at, handle)) = self.timer {
            if at <= deadline {
                return;
            }
            ctx.cancel_future(handle);
        }
        // At least a millisecond: a deadline that `poll` somehow left in the past must not
        // turn into a busy loop on the relay's thread.
        let delay = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_TIMER);
        let handle = ctx.run_later(delay, |endpoint, ctx| {
            endpoint.timer = None;
            let now = Instant::now();
            if endpoint.session.next_deadline().is_some_and(|d| d <= now) {
                let actions = endpoint.session.poll(now);
                endpoint.apply(actions);
            }
            endpoint.schedule(ctx);
        });
        self.timer = Some((deadline, handle));
    }

    fn stats(&self) -> RelayLegStats {
        RelayLegStats {
            a: self.session.stats(LegId::A),
            b: self.session.stats(LegId::B),
        }
    }
}

/// `a` or `b`, for logs and events.
fn leg_name(leg: LegId) -> &'static str {
    match leg {
        LegId::A => "a",
        LegId::B => "b",
    }
}

fn leg_index(leg: LegId) -> usize {
    match leg {
        LegId::A => 0,
        LegId::B => 1,
    }
}

/// One leg's counters as the `media_ended` event carries them.
fn leg_json(stats: &LegStats, port: u16) -> Value {
    json!({
        "port": port,
        "packets_in": stats.packets_in,
        "bytes_in": stats.bytes_in,
        "packets_out": stats.packets_out,
        "bytes_out": stats.bytes_out,
        "rtcp_in": stats.rtcp_in,
        "rtcp_out": stats.rtcp_out,
        "malformed": stats.malformed,
        "dropped": stats.dropped,
        "dtmf_generated": stats.dtmf_generated,
        "foreign": stats.foreign,
        "expected": stats.expected,
        "lost": stats.lost,
        "loss": stats.loss_fraction(),
        "jitter_ms": stats.jitter_ms,
        "latched_rtp": stats.latched_rtp.map(|a| a.to_string()),
    })
}

/// Datagrams read from `socket` (leg `leg`, RTCP or not), forever.
fn recv_stream(
    socket: Arc<UdpSocket>,
    leg: LegId,
    rtcp: bool,
) -> impl Stream<Item = io::Result<Datagram>> + Unpin {
    let buf = vec![0u8; MAX_DATAGRAM];
    Box::pin(futures_util::stream::unfold(
        (socket, buf),
        move |(socket, mut buf)| async move {
            let item = match socket.recv_from(&mut buf).await {
                Ok((n, from)) => Ok(Datagram {
                    leg,
                    rtcp,
                    from,
                    bytes: buf.get(..n).unwrap_or(&[]).to_vec(),
                }),
                Err(e) => {
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    Err(e)
                }
            };
            Some((item, (socket, buf)))
        },
    ))
}

impl Actor for RelayEndpoint {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        for leg in [LegId::A, LegId::B] {
            let bound = &self.setup.ports[leg_index(leg)];
            let (rtp, rtcp) = (bound.rtp.clone(), bound.rtcp.clone());
            ctx.add_stream(recv_stream(rtp, leg, false));
            ctx.add_stream(recv_stream(rtcp, leg, true));
        }
        self.schedule(ctx);
        ActiveCalls::global().insert(&self.setup.call_id, ctx.address());
        info!(
            call_id = %self.setup.call_id,
            port_a = self.setup.ports[0].port,
            port_b = self.setup.ports[1].port,
            "relay endpoint started"
        );
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        // The call ended: so does its recording.
        ActiveCalls::global().remove(&self.setup.call_id, &ctx.address());
        self.stop_recording(Instant::now());
        for bound in &self.setup.ports {
            self.setup.allocator.release(bound.port);
        }
        let RelayLegStats { a, b } = self.stats();
        let (port_a, port_b) = (self.setup.ports[0].port, self.setup.ports[1].port);
        let seconds = self.started.elapsed().as_secs();
        for (name, s) in [("a", &a), ("b", &b)] {
            info!(
                call_id = %self.setup.call_id,
                leg = name,
                packets_in = s.packets_in,
                packets_out = s.packets_out,
                rtcp_in = s.rtcp_in,
                rtcp_out = s.rtcp_out,
                dropped = s.dropped,
                foreign = s.foreign,
                malformed = s.malformed,
                lost = s.lost,
                loss = s.loss_fraction(),
                jitter_ms = s.jitter_ms,
                seconds,
                "relay leg ended"
            );
        }
        info!(call_id = %self.setup.call_id, port_a, port_b, "relay endpoint stopped; ports released");
        self.publish(
            EventDraft::new(Layer::Call, &self.setup.call_id)
                .kind("media_ended")
                .detail(json!({
                    "relay": true,
                    "seconds": seconds,
                    "a": leg_json(&a, port_a),
                    "b": leg_json(&b, port_b),
                })),
        );
    }
}

impl StreamHandler<io::Result<Datagram>> for RelayEndpoint {
    fn handle(&mut self, item: io::Result<Datagram>, ctx: &mut Self::Context) {
        let d = match item {
            Ok(d) => d,
            Err(e) => {
                debug!(call_id = %self.setup.call_id, error = %e, "relay receive error");
                return;
            }
        };
        let now = Instant::now();
        let actions = if d.rtcp {
            self.session.on_rtcp(d.leg, d.from, &d.bytes, now)
        } else {
            if let Some(m) = &self.setup.metrics {
                m.packet("in", d.bytes.len());
            }
            if self.recording.is_some() {
                self.record(d.leg, &d.bytes, now);
            }
            self.session.on_rtp(d.leg, d.from, &d.bytes, now)
        };
        self.apply(actions);
        self.schedule(ctx);
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        // The streams never end; the endpoint stops on `Stop`.
    }
}

impl Handler<UpdateLeg> for RelayEndpoint {
    type Result = ();

    fn handle(&mut self, msg: UpdateLeg, ctx: &mut Self::Context) {
        info!(call_id = %self.setup.call_id, leg = leg_name(msg.leg), direction = ?msg.config.direction,
            remote = ?msg.config.remote_rtp, "relay leg updated");
        self.session.update_leg(msg.leg, msg.config, Instant::now());
        // The no-RTP timer restarted, possibly earlier than the timer set (hold -> resume).
        self.schedule(ctx);
    }
}

impl Handler<Stop> for RelayEndpoint {
    type Result = ();

    fn handle(&mut self, _msg: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<RelayStats> for RelayEndpoint {
    type Result = RelayLegStats;

    fn handle(&mut self, _msg: RelayStats, _ctx: &mut Self::Context) -> RelayLegStats {
        self.stats()
    }
}
