//! The prompt endpoint actor: plays a list of WAV prompts into one call leg as paced G.711
//! RTP, around the sans-IO [`PromptPlayer`], and hears the leg's DTMF for barge-in.
//!
//! One per leg Switchboard plays to (an outbound announcement call; the IVR later). The
//! caller binds the port pair first ([`bind_pair`](super::bind_pair)) so the SDP can name it,
//! loads the prompts off the actor thread ([`load_prompts`] through `web::block` or
//! [`load_prompts_blocking`]), and starts a [`PromptEndpoint`] once the leg's SDP is
//! negotiated. The actor
//!
//! - sends the player's packets from its RTP socket, each at the deadline the player gives:
//!   one `run_later` per packet, at `start + n × 20 ms` (the player anchors its pacing, so a
//!   late timer delays one packet and never the ones after it);
//! - sends to the SDP's address until RTP arrives from the peer, then to where it comes from
//!   (symmetric RTP); packets from other addresses after that are dropped;
//! - reads the leg's RTP: RFC 4733 telephone-events (and in-band tones when asked) become the
//!   call's `dtmf` events, and a digit in `stop_on_digits` stops the list at once (barge-in);
//! - publishes Call-layer `prompt_started` (`{"prompts", "port"}`) and `prompt_finished`
//!   (`{"reason", "digit"?, "error"?, "packets_sent", "duration_ms"}`) and tells its owner
//!   [`PromptFinished`];
//! - stops on [`StopPrompt`], or once its owner or its dialog actor has gone (polled every
//!   50 ms with `connected`), releasing its ports. A list played to the end leaves it running
//!   (DTMF is still reported; [`PlayPrompts`] plays another list).
//!
//! Malformed datagrams are counted and dropped; no handler panics on input.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, Recipient, SpawnHandle,
    StreamHandler,
};
use media::codec::{FRAME_DURATION, G711Law};
use media::dtmf::{DtmfDigit, DtmfEvent};
use media::prompt::{PlayerConfig, Prompt, PromptError, PromptPlayer};
use media::sdp::{Encoding, NegotiatedStream, RemoteEndpoint};
use serde_json::json;
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::precise_timer::{Expired, PreciseTimer};
use super::prompt_listener::{ListenerConfig, PromptListener};
use super::{BoundPorts, RtpMetrics, SharedPorts};
use crate::dialog_layer::{DialogActor, dtmf_event, source_name};
use crate::events::{EventDraft, Layer};
use crate::stack::Services;

/// How often the endpoint checks that its owner and dialog are alive.
const WATCH: Duration = Duration::from_millis(50);

/// The largest datagram read; RTP for G.711 is far smaller.
const MAX_DATAGRAM: usize = 2048;

/// How long a socket's reader pauses after a receive error, so a persistent error cannot spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(20);

/// Loads WAV prompts by path, in order (blocking file IO: call it off the actor threads, e.g.
/// through `actix_web::web::block`, or use [`load_prompts_blocking`]).
pub fn load_prompts<I, P>(paths: I) -> Result<Vec<Prompt>, PromptError>
where
    I: IntoIterator<Item = P>,
    P: AsRef<Path>,
{
    paths.into_iter().map(Prompt::from_path).collect()
}

/// [`load_prompts`] on tokio's blocking thread pool.
pub async fn load_prompts_blocking(paths: Vec<PathBuf>) -> Result<Vec<Prompt>, PromptError> {
    match tokio::task::spawn_blocking(move || load_prompts(paths)).await {
        Ok(result) => result,
        Err(e) => Err(PromptError::Io {
            name: "(prompt loader)".into(),
            source: io::Error::other(e.to_string()),
        }),
    }
}

/// Everything a prompt endpoint starts with.
pub struct PromptEndpointSetup {
    /// The call's Call-ID, for logs and events.
    pub call_id: String,
    /// The leg's dialog id (`DialogId`'s text), for the `dtmf` events.
    pub dialog_id: String,
    /// The bound ports (released when the endpoint stops).
    pub ports: BoundPorts,
    /// The allocator to release them to.
    pub allocator: SharedPorts,
    /// What SDP negotiated for the leg: remote address, codec, payload types, direction.
    pub stream: NegotiatedStream,
    /// The prompts to play at once, in order (already loaded; see [`load_prompts`]).
    pub prompts: Vec<Prompt>,
    /// DTMF digits that stop the list (barge-in); empty for none.
    pub stop_on_digits: Vec<DtmfDigit>,
    /// Whether the leg's audio is searched for in-band DTMF tones too.
    pub inband_dtmf: bool,
    /// Who is told how each list ended; the endpoint stops once it has gone.
    pub owner: Recipient<PromptFinished>,
    /// The leg's dialog, if any: the endpoint stops once this actor has stopped.
    pub dialog: Option<Addr<DialogActor>>,
    /// Event bus and metrics.
    pub services: Services,
    /// The RTP counters, if metrics are on.
    pub metrics: Option<RtpMetrics>,
}

/// Why a list of prompts ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// Every prompt was played to its end.
    PlayedAll,
    /// The peer pressed one of the `stop_on_digits`.
    BargeIn(DtmfDigit),
    /// [`StopPrompt`], a new [`PlayPrompts`], or the end of the call stopped it.
    Stopped,
    /// It could not be played (a codec other than G.711, a send-less stream).
    Error(String),
}

impl FinishReason {
    /// `played_all`, `barge_in`, `stopped` or `error`, as the `prompt_finished` event says.
    pub fn name(&self) -> &'static str {
        match self {
            FinishReason::PlayedAll => "played_all",
            FinishReason::BargeIn(_) => "barge_in",
            FinishReason::Stopped => "stopped",
            FinishReason::Error(_) => "error",
        }
    }
}

/// A list of prompts ended (sent to the endpoint's owner once per list).
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct PromptFinished {
    /// The call's Call-ID.
    pub call_id: String,
    /// The leg's dialog id.
    pub dialog_id: String,
    /// Why it ended.
    pub reason: FinishReason,
    /// RTP packets sent for the list (handed to the kernel).
    pub packets_sent: u64,
    /// The audio played: 20 ms per packet the player gave, sent or not (no address yet).
    pub duration: Duration,
}

/// Plays another list, stopping the one playing (which finishes as `Stopped`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct PlayPrompts {
    /// The prompts, in order.
    pub prompts: Vec<Prompt>,
    /// DTMF digits that stop the list; empty for none.
    pub stop_on_digits: Vec<DtmfDigit>,
}

/// Stops the list playing (it finishes as `Stopped`) and the endpoint; its ports are released.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopPrompt;

/// Packet counts of the endpoint's life.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    packets_out: u64,
    /// No address to send to yet, or the kernel refused.
    unsent: u64,
}

/// The list being played.
#[derive(Debug)]
struct Play {
    /// Packets the player gave (20 ms of audio each).
    frames: u64,
    /// Those the kernel took.
    packets: u64,
}

/// One datagram read from the RTP socket (RTCP is read and dropped).
enum Datagram {
    Rtp(Vec<u8>, SocketAddr),
    Rtcp,
}

/// One leg's prompt player (see the module documentation).
pub struct PromptEndpoint {
    setup: PromptEndpointSetup,
    /// The stream's law; none when the codec is not G.711 (nothing can be played).
    law: Option<G711Law>,
    player: Option<PromptPlayer>,
    play: Option<Play>,
    /// Where packets go, and the DTMF the peer sends.
    listener: PromptListener,
    counters: Counters,
    /// The pacing timer (a timerfd), and the deadline it is armed for.
    precise: Option<PreciseTimer>,
    armed: Option<Instant>,
    /// The fallback when no timerfd could be had: the pending `run_later` and its deadline.
    timer: Option<(Instant, SpawnHandle)>,
    started: Instant,
}

impl PromptEndpoint {
    /// An endpoint over `setup`, to be started.
    pub fn new(setup: PromptEndpointSetup) -> Self {
        let stream = &setup.stream;
        let law = match stream.codec.encoding {
            Encoding::Pcmu => Some(G711Law::Mu),
            Encoding::Pcma => Some(G711Law::A),
            _ => None,
        };
        let player = law.map(|law| {
            PromptPlayer::new(PlayerConfig {
                payload_type: stream.payload_type,
                ..PlayerConfig::new(law, rand::random(), rand::random(), rand::random())
            })
        });
        let remote = match &stream.remote_rtp {
            RemoteEndpoint::Addr(addr) => Some(*addr),
            RemoteEndpoint::OnHold => None,
            RemoteEndpoint::Host { host, port } => {
                // Resolving is I/O the caller did not do: wait for the peer's RTP instead.
                warn!(call_id = %setup.call_id, host = %host, port, "prompt leg names a host \
                    name; sending only once RTP arrives from the peer");
                None
            }
        };
        let listener = PromptListener::new(
            ListenerConfig {
                audio_pt: stream.payload_type,
                law,
                telephone_event: stream.telephone_event,
                inband: setup.inband_dtmf,
            },
            remote,
        );
        PromptEndpoint {
            law,
            player,
            play: None,
            listener,
            counters: Counters::default(),
            precise: None,
            armed: None,
            timer: None,
            started: Instant::now(),
            setup,
        }
    }

    /// Starts playing `prompts`; a list already playing finishes as `Stopped` first.
    fn start_play(&mut self, prompts: Vec<Prompt>, stop_on: &[DtmfDigit], ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.finish(FinishReason::Stopped, now);
        let names: Vec<&str> = prompts.iter().map(Prompt::name).collect();
        info!(call_id = %self.setup.call_id, prompts = ?names, port = self.setup.ports.port,
            "prompt started");
        self.publish(
            EventDraft::new(Layer::Call, &self.setup.call_id)
                .kind("prompt_started")
                .dialog(&self.setup.dialog_id)
                .detail(json!({ "prompts": names, "port": self.setup.ports.port })),
        );
        self.play = Some(Play {
            frames: 0,
            packets: 0,
        });
        if let Some(why) = self.cannot_play() {
            self.finish(FinishReason::Error(why), now);
            return;
        }
        if let Some(player) = self.player.as_mut() {
            player.play(prompts, stop_on, now);
        }
        self.poll(now);
        self.schedule(ctx);
    }

    /// Why this leg cannot be played to, if it cannot.
    fn cannot_play(&self) -> Option<String> {
        let stream = &self.setup.stream;
        if self.law.is_none() {
            return Some(format!(
                "the leg's codec {} is not G.711 (PCMU or PCMA)",
                stream.codec.encoding.name()
            ));
        }
        if !stream.direction.sends() {
            return Some(format!(
                "the leg's stream is {}: Switchboard may not send",
                stream.direction.as_str()
            ));
        }
        None
    }

    /// Sends the packets due at `now`, finishes the list when the player has nothing left,
    /// and finishes a DTMF event whose end packets were lost.
    fn poll(&mut self, now: Instant) {
        if let Some(player) = self.player.as_mut() {
            let due = player.poll(now);
            let done = player.is_done();
            for event in player.take_events() {
                debug!(call_id = %self.setup.call_id, ?event, "prompt event");
            }
            for out in due {
                self.send(&out.to_bytes());
            }
            if done && self.play.is_some() {
                self.finish(FinishReason::PlayedAll, now);
            }
        }
        if let Some(event) = self.listener.poll(now) {
            self.on_digit(&event, now);
        }
    }

    fn send(&mut self, packet: &[u8]) {
        if let Some(play) = self.play.as_mut() {
            play.frames += 1;
        }
        let Some(to) = self.listener.remote() else {
            self.counters.unsent += 1;
            return;
        };
        // Never wait for the socket: a packet the kernel cannot take now is lost, as it would
        // be on the network. The send goes straight to the kernel: tokio's `try_send_to`
        // answers WouldBlock until its reactor has seen the new socket writable, which would
        // lose the first packet of a list started at once.
        let socket = socket2::SockRef::from(&*self.setup.ports.rtp);
        match socket.send_to(packet, &to.into()) {
            Ok(_) => {
                self.counters.packets_out += 1;
                if let Some(play) = self.play.as_mut() {
                    play.packets += 1;
                }
                if let Some(m) = &self.setup.metrics {
                    m.packet("out", packet.len());
                }
            }
            Err(e) => {
                self.counters.unsent += 1;
                debug!(call_id = %self.setup.call_id, %to, error = %e, "prompt RTP send failed");
            }
        }
    }

    /// Ends the list playing, if any: `prompt_finished` and [`PromptFinished`] to the owner.
    fn finish(&mut self, reason: FinishReason, now: Instant) {
        let Some(play) = self.play.take() else {
            return;
        };
        if let Some(player) = self.player.as_mut() {
            player.stop(now);
            player.take_events();
        }
        let duration = FRAME_DURATION * u32::try_from(play.frames).unwrap_or(u32::MAX);
        let mut detail = json!({
            "reason": reason.name(),
            "packets_sent": play.packets,
            "duration_ms": duration.as_millis() as u64,
        });
        match &reason {
            FinishReason::BargeIn(digit) => detail["digit"] = json!(digit.to_string()),
            FinishReason::Error(why) => {
                warn!(call_id = %self.setup.call_id, error = %why, "prompt not played");
                detail["error"] = json!(why);
            }
            _ => {}
        }
        info!(call_id = %self.setup.call_id, reason = reason.name(), packets_sent = play.packets,
            "prompt finished");
        self.publish(
            EventDraft::new(Layer::Call, &self.setup.call_id)
                .kind("prompt_finished")
                .dialog(&self.setup.dialog_id)
                .detail(detail),
        );
        self.setup.owner.do_send(PromptFinished {
            call_id: self.setup.call_id.clone(),
            dialog_id: self.setup.dialog_id.clone(),
            reason,
            packets_sent: play.packets,
            duration,
        });
    }

    /// Takes one datagram from the RTP socket.
    fn on_rtp(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        if let Some(m) = &self.setup.metrics {
            m.packet("in", data.len());
        }
        let heard = self.listener.on_datagram(from, data, now);
        if let Some(to) = heard.latched {
            info!(call_id = %self.setup.call_id, %to, "prompt RTP latched to the peer's source");
        }
        for event in &heard.finished {
            self.on_digit(event, now);
        }
        if let Some(digit) = heard.held {
            self.barge_in(digit, now);
        }
    }

    /// A finished digit: the call's `dtmf` event, and barge-in if it was not seen held down.
    fn on_digit(&mut self, event: &DtmfEvent, now: Instant) {
        info!(call_id = %self.setup.call_id, digit = %event.digit,
            duration_ms = event.duration_ms, source = source_name(event.source), "DTMF");
        self.publish(dtmf_event(
            &self.setup.call_id,
            &self.setup.dialog_id,
            event,
        ));
        self.barge_in(event.digit, now);
    }

    /// Stops the list if `digit` is one of its barge-in digits.
    fn barge_in(&mut self, digit: DtmfDigit, now: Instant) {
        if self.play.is_some()
            && let Some(player) = self.player.as_mut()
            && player.barge_in(digit, now)
        {
            self.finish(FinishReason::BargeIn(digit), now);
        }
    }

    fn publish(&self, draft: EventDraft) {
        self.setup.services.publish(draft);
    }

    /// The earliest of the player's next packet and the DTMF end timeout.
    fn next_deadline(&self) -> Option<Instant> {
        let packet = self.player.as_ref().and_then(PromptPlayer::next_deadline);
        match (packet, self.listener.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Keeps one timer at the next deadline: the timerfd, re-armed when the deadline changes;
    /// without one, a `run_later` (moved only when the deadline comes earlier).
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        let deadline = self.next_deadline();
        if let Some(timer) = &self.precise {
            if deadline == self.armed {
                return;
            }
            let armed = match deadline {
                Some(at) => timer.set(at.saturating_duration_since(Instant::now())),
                None => timer.cancel(),
            };
            match armed {
                Ok(()) => {
                    self.armed = deadline;
                    return;
                }
                Err(e) => {
                    warn!(call_id = %self.setup.call_id, error = %e,
                        "prompt timerfd failed; pacing on tokio's timer");
                    self.precise = None;
                }
            }
        }
        let Some(deadline) = deadline else {
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
        let delay = deadline.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(delay, |endpoint, ctx| {
            endpoint.timer = None;
            endpoint.poll(Instant::now());
            endpoint.schedule(ctx);
        });
        self.timer = Some((deadline, handle));
    }

    /// Whether the owner or the dialog has gone.
    fn orphaned(&self) -> bool {
        !self.setup.owner.connected() || self.setup.dialog.as_ref().is_some_and(|d| !d.connected())
    }
}

/// Datagrams read from `socket`, forever.
fn recv_stream(
    socket: std::sync::Arc<UdpSocket>,
    rtcp: bool,
) -> impl futures_util::Stream<Item = io::Result<Datagram>> + Unpin {
    let buf = vec![0u8; MAX_DATAGRAM];
    Box::pin(futures_util::stream::unfold(
        (socket, buf),
        move |(socket, mut buf)| async move {
            let item = match socket.recv_from(&mut buf).await {
                Ok(_) if rtcp => Ok(Datagram::Rtcp),
                Ok((n, from)) => Ok(Datagram::Rtp(buf.get(..n).unwrap_or(&[]).to_vec(), from)),
                Err(e) => {
                    // ICMP port unreachable and the like: back off a little, go on.
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    Err(e)
                }
            };
            Some((item, (socket, buf)))
        },
    ))
}

impl Actor for PromptEndpoint {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.add_stream(recv_stream(self.setup.ports.rtp.clone(), false));
        ctx.add_stream(recv_stream(self.setup.ports.rtcp.clone(), true));
        match PreciseTimer::new() {
            Ok(timer) => {
                ctx.add_stream(timer.expiries());
                self.precise = Some(timer);
            }
            Err(e) => warn!(call_id = %self.setup.call_id, error = %e,
                "no timerfd; pacing prompts on tokio's timer (up to ±2 ms of jitter)"),
        }
        ctx.run_interval(WATCH, |endpoint, ctx| {
            if endpoint.orphaned() {
                ctx.stop();
            }
        });
        let prompts = std::mem::take(&mut self.setup.prompts);
        let stop_on = std::mem::take(&mut self.setup.stop_on_digits);
        self.start_play(prompts, &stop_on, ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let now = Instant::now();
        for event in self.listener.finish(now) {
            // A key held when the leg ended still counts.
            self.on_digit(&event, now);
        }
        self.finish(FinishReason::Stopped, now);
        self.setup.allocator.release(self.setup.ports.port);
        let (c, l) = (self.counters, self.listener.counters());
        info!(
            call_id = %self.setup.call_id,
            port = self.setup.ports.port,
            packets_in = l.packets_in,
            packets_out = c.packets_out,
            malformed = l.malformed,
            foreign = l.foreign,
            unsent = c.unsent,
            seconds = self.started.elapsed().as_secs(),
            "prompt endpoint stopped; ports released"
        );
    }
}

impl StreamHandler<io::Result<Datagram>> for PromptEndpoint {
    fn handle(&mut self, item: io::Result<Datagram>, ctx: &mut Self::Context) {
        match item {
            Ok(Datagram::Rtp(data, from)) => {
                self.on_rtp(&data, from, Instant::now());
                self.schedule(ctx);
            }
            // RTCP is read so the peer's reports do not pile up; Switchboard sends none yet.
            Ok(Datagram::Rtcp) => {}
            Err(e) => debug!(call_id = %self.setup.call_id, error = %e, "prompt RTP receive error"),
        }
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        // The streams never end; the endpoint stops on StopPrompt or with its owner.
    }
}

impl StreamHandler<Expired> for PromptEndpoint {
    fn handle(&mut self, _item: Expired, ctx: &mut Self::Context) {
        self.armed = None;
        self.poll(Instant::now());
        self.schedule(ctx);
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        // Only if the reactor went away; the fallback timer takes over.
        self.precise = None;
        self.armed = None;
    }
}

impl Handler<PlayPrompts> for PromptEndpoint {
    type Result = ();

    fn handle(&mut self, msg: PlayPrompts, ctx: &mut Self::Context) {
        self.start_play(msg.prompts, &msg.stop_on_digits, ctx);
    }
}

impl Handler<StopPrompt> for PromptEndpoint {
    type Result = ();

    fn handle(&mut self, _msg: StopPrompt, ctx: &mut Self::Context) {
        self.finish(FinishReason::Stopped, Instant::now());
        ctx.stop();
    }
}
