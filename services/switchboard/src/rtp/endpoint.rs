//! The RTP endpoint actor: one call's RTP and RTCP sockets around an [`EchoMedia`] core.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, StreamHandler};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use media::dtmf::DtmfEvent;
use media::recording::Leg;
use serde_json::json;
use thiserror::Error;
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::{EchoMedia, MediaOutput, PortError, RtpMetrics, SharedPorts};
use crate::dialog_layer::{DialogActor, dtmf_event, source_name};
use crate::events::{EventDraft, Layer};
use crate::recording::{
    self, ActiveCalls, ActiveRecording, StartError, StartRecording, StopRecording,
};
use crate::stack::Services;

/// How often the endpoint polls its core (DTMF end timeout, no-RTP timeout) and checks that
/// its dialog is alive.
const TICK: Duration = Duration::from_millis(50);

/// Ports tried before giving up when the ones allocated are taken by another program.
const BIND_ATTEMPTS: usize = 8;

/// The largest datagram read; RTP for G.711 is far smaller.
const MAX_DATAGRAM: usize = 2048;

/// Why no RTP sockets could be had.
#[derive(Debug, Error)]
pub enum BindError {
    /// The range is used up.
    #[error(transparent)]
    Exhausted(#[from] PortError),
    /// Binding failed on every port tried.
    #[error("cannot bind RTP ports on {ip}: {source}")]
    Bind {
        /// The address.
        ip: IpAddr,
        /// The last error.
        source: io::Error,
    },
}

/// An allocated, bound RTP/RTCP port pair.
#[derive(Debug)]
pub struct BoundPorts {
    /// The RTP port (RTCP is port + 1).
    pub port: u16,
    pub(super) rtp: Arc<UdpSocket>,
    pub(super) rtcp: Arc<UdpSocket>,
}

/// Allocates a port pair from `ports` and binds both on `ip` (trying further pairs when one
/// is taken by another program). Must run inside the actix runtime.
pub fn bind_pair(ip: IpAddr, ports: &SharedPorts) -> Result<BoundPorts, BindError> {
    let mut last = io::Error::other("no attempt");
    for _ in 0..BIND_ATTEMPTS {
        let port = ports.allocate()?;
        match bind_both(ip, port) {
            Ok((rtp, rtcp)) => {
                return Ok(BoundPorts {
                    port,
                    rtp: Arc::new(rtp),
                    rtcp: Arc::new(rtcp),
                });
            }
            Err(e) => {
                debug!(port, error = %e, "RTP port pair taken; trying the next");
                ports.release(port);
                last = e;
            }
        }
    }
    Err(BindError::Bind { ip, source: last })
}

fn bind_both(ip: IpAddr, port: u16) -> io::Result<(UdpSocket, UdpSocket)> {
    let open = |port: u16| -> io::Result<UdpSocket> {
        let socket = std::net::UdpSocket::bind(SocketAddr::new(ip, port))?;
        socket.set_nonblocking(true)?;
        UdpSocket::from_std(socket)
    };
    Ok((open(port)?, open(port.saturating_add(1))?))
}

/// Everything an endpoint starts with.
pub struct RtpEndpointSetup {
    /// The call's Call-ID, for logs and events.
    pub call_id: String,
    /// The call's dialog id (`DialogId`'s text), for the `dtmf` events.
    pub dialog_id: String,
    /// The bound ports (released when the endpoint stops).
    pub ports: BoundPorts,
    /// The allocator to release them to.
    pub allocator: SharedPorts,
    /// The media core.
    pub core: EchoMedia,
    /// The call's dialog: the endpoint stops once this actor has stopped (BYE, CANCEL,
    /// failure), which needs no message from the dialog layer.
    pub dialog: Addr<DialogActor>,
    /// Event bus and metrics.
    pub services: Services,
    /// The RTP counters, if metrics are on.
    pub metrics: Option<RtpMetrics>,
}

/// A datagram on one of the two sockets.
enum Datagram {
    Rtp(Bytes, SocketAddr),
    Rtcp,
}

/// One call's RTP endpoint (see the module documentation).
pub struct RtpEndpoint {
    setup: RtpEndpointSetup,
    started: Instant,
    next_poll: Instant,
    /// The call's id for the store's recordings (echo calls have no `calls` row; one id
    /// per call so its recordings group together).
    store_call_id: store::Id,
    /// The recording in progress, if any.
    recording: Option<ActiveRecording>,
    /// Decoded audio, reused between packets.
    pcm: Vec<i16>,
}

impl RtpEndpoint {
    /// An endpoint over `setup`, to be started.
    pub fn new(setup: RtpEndpointSetup) -> Self {
        let now = Instant::now();
        RtpEndpoint {
            setup,
            started: now,
            next_poll: now,
            store_call_id: store::Id::new(),
            recording: None,
            pcm: Vec::new(),
        }
    }

    /// Feeds the recording, if any: the caller's packet `received` as leg A, what the core
    /// sends back as leg B.
    fn record(&mut self, received: &[u8], outputs: &[MediaOutput], now: Instant) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        if let Some(ts) = self.setup.core.audio_of(received, &mut self.pcm) {
            rec.push(Leg::A, ts, now, &self.pcm);
        }
        for output in outputs {
            if let MediaOutput::Send { packet, .. } = output
                && let Some(ts) = self.setup.core.audio_of(packet, &mut self.pcm)
            {
                rec.push(Leg::B, ts, now, &self.pcm);
            }
        }
        if rec.has_failed() {
            self.stop_recording(now);
        }
    }

    /// Stops the recording, if any; its checksum and store row are made off the actor.
    /// Returns the file.
    fn stop_recording(&mut self, now: Instant) -> Option<String> {
        let rec = self.recording.take()?;
        let file = rec.path().display().to_string();
        let done = rec.stop(&self.setup.call_id, self.store_call_id, now);
        actix::spawn(recording::finish(done, self.setup.services.clone()));
        Some(file)
    }

    fn apply(&mut self, outputs: Vec<MediaOutput>) {
        for output in outputs {
            match output {
                MediaOutput::Send { to, packet } => {
                    // Never wait for the socket: a packet the kernel cannot take now is lost,
                    // as it would be on the network.
                    match self.setup.ports.rtp.try_send_to(&packet, to) {
                        Ok(_) => {
                            if let Some(m) = &self.setup.metrics {
                                m.packet("out", packet.len());
                            }
                        }
                        Err(e) => {
                            debug!(call_id = %self.setup.call_id, error = %e, "RTP send failed")
                        }
                    }
                }
                MediaOutput::Dtmf(event) => self.publish_dtmf(&event),
                MediaOutput::Timeout => {
                    let secs = self.setup.core.timeout().as_secs();
                    warn!(call_id = %self.setup.call_id, timeout_secs = secs, "no RTP received");
                    self.setup.services.publish(
                        EventDraft::new(Layer::Call, &self.setup.call_id)
                            .kind("media_timeout")
                            .detail(json!({ "timeout_secs": secs, "port": self.setup.ports.port })),
                    );
                }
            }
        }
    }

    /// Publishes a digit in the shape SIP INFO digits have (one event kind for all three
    /// forms, `detail.source` telling them apart).
    fn publish_dtmf(&self, event: &DtmfEvent) {
        info!(
            call_id = %self.setup.call_id,
            digit = %event.digit,
            duration_ms = event.duration_ms,
            source = source_name(event.source),
            "DTMF"
        );
        self.setup.services.publish(dtmf_event(
            &self.setup.call_id,
            &self.setup.dialog_id,
            event,
        ));
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if !self.setup.dialog.connected() {
            ctx.stop();
            return;
        }
        let now = Instant::now();
        if let Some(rec) = self.recording.as_mut() {
            rec.advance(now);
            if rec.has_failed() {
                self.stop_recording(now);
            }
        }
        if now >= self.next_poll {
            let out = self.setup.core.poll(now);
            self.apply(out);
            self.next_poll = self.setup.core.next_deadline();
        }
    }
}

/// Datagrams read from `socket`, forever, each turned into a [`Datagram`] by `wrap`.
fn recv_stream(
    socket: Arc<UdpSocket>,
    wrap: fn(Bytes, SocketAddr) -> Datagram,
) -> impl Stream<Item = io::Result<Datagram>> + Unpin {
    let buf = vec![0u8; MAX_DATAGRAM];
    Box::pin(
        futures_util::stream::unfold((socket, buf), |(socket, mut buf)| async move {
            let item = match socket.recv_from(&mut buf).await {
                Ok((n, from)) => Ok((Bytes::copy_from_slice(buf.get(..n).unwrap_or(&[])), from)),
                Err(e) => {
                    // ICMP port unreachable and the like: back off a little, go on.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err(e)
                }
            };
            Some((item, (socket, buf)))
        })
        .map(move |r| r.map(|(b, from)| wrap(b, from))),
    )
}

impl Actor for RtpEndpoint {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.add_stream(recv_stream(self.setup.ports.rtp.clone(), Datagram::Rtp));
        ctx.add_stream(recv_stream(self.setup.ports.rtcp.clone(), |_, _| {
            Datagram::Rtcp
        }));
        ctx.run_interval(TICK, |endpoint, ctx| endpoint.tick(ctx));
        self.next_poll = self.setup.core.next_deadline();
        ActiveCalls::global().insert(&self.setup.call_id, ctx.address());
        info!(call_id = %self.setup.call_id, port = self.setup.ports.port, "RTP endpoint started");
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        // The call ended: so does its recording.
        ActiveCalls::global().remove(&self.setup.call_id, &ctx.address());
        self.stop_recording(Instant::now());
        let out = self.setup.core.finish(Instant::now());
        self.apply(out);
        self.setup.allocator.release(self.setup.ports.port);
        let s = self.setup.core.stats();
        info!(
            call_id = %self.setup.call_id,
            port = self.setup.ports.port,
            packets_in = s.packets_in,
            packets_out = s.packets_out,
            bytes_in = s.bytes_in,
            bytes_out = s.bytes_out,
            dropped = s.dropped,
            seconds = self.started.elapsed().as_secs(),
            "RTP endpoint stopped; ports released"
        );
        self.setup.services.publish(
            EventDraft::new(Layer::Call, &self.setup.call_id)
                .kind("media_ended")
                .detail(json!({
                    "port": self.setup.ports.port,
                    "packets_in": s.packets_in,
                    "packets_out": s.packets_out,
                    "bytes_in": s.bytes_in,
                    "bytes_out": s.bytes_out,
                    "dropped": s.dropped,
                })),
        );
    }
}

impl StreamHandler<io::Result<Datagram>> for RtpEndpoint {
    fn handle(&mut self, item: io::Result<Datagram>, _ctx: &mut Self::Context) {
        match item {
            Ok(Datagram::Rtp(data, from)) => {
                if let Some(m) = &self.setup.metrics {
                    m.packet("in", data.len());
                }
                let now = Instant::now();
                let out = self.setup.core.on_datagram(from, &data, now);
                self.record(&data, &out, now);
                self.apply(out);
                self.next_poll = self.setup.core.next_deadline();
            }
            // RTCP is read so the peer's reports do not pile up; Switchboard sends none yet.
            Ok(Datagram::Rtcp) => {}
            Err(e) => debug!(call_id = %self.setup.call_id, error = %e, "RTP receive error"),
        }
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        // The streams never end; the endpoint stops with its dialog.
    }
}

impl Handler<StartRecording> for RtpEndpoint {
    type Result = Result<String, StartError>;

    fn handle(&mut self, msg: StartRecording, _ctx: &mut Self::Context) -> Self::Result {
        let call_id = &self.setup.call_id;
        if self.recording.is_some() {
            return Err(StartError::AlreadyRecording(call_id.clone()));
        }
        // Creating the file is a mkdir and an open: short enough for the actor thread.
        let rec = ActiveRecording::start(call_id, msg.mode, msg.target, Instant::now())
            .inspect_err(|e| {
                warn!(call_id = %call_id, error = %e, "recording not started");
                self.setup.services.publish(
                    EventDraft::new(Layer::Call, call_id)
                        .kind("recording_failed")
                        .detail(json!({ "error": e.to_string() })),
                );
            })?;
        let file = rec.path().display().to_string();
        let mode = recording::mode_name(rec.mode());
        info!(call_id = %call_id, file = %file, mode, "recording started");
        self.setup.services.publish(
            EventDraft::new(Layer::Call, call_id)
                .kind("recording_started")
                .detail(json!({ "file": file, "mode": mode })),
        );
        self.recording = Some(rec);
        Ok(file)
    }
}

impl Handler<StopRecording> for RtpEndpoint {
    type Result = Option<String>;

    fn handle(&mut self, _msg: StopRecording, _ctx: &mut Self::Context) -> Self::Result {
        self.stop_recording(Instant::now())
    }
}
