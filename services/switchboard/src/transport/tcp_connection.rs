//! One actor per TCP connection: frames the stream (RFC 3261 §18.3), answers keep-alive pings
//! (RFC 5626 §3.5.1), closes on framing errors and idleness. Its failure ends only itself.

use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::io::{WriteHandler, Writer};
use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Running, StreamHandler};
use bytes::{Buf, Bytes, BytesMut};
use sip::{Frame, FramingError, StreamFramer};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio_util::codec::{BytesCodec, FramedRead};
use tracing::{debug, error, info, warn};

use super::{CloseConnection, Flow, FlowNotice, SendBytes, TransportRegistry, TransportSettings};
use crate::stats::SipCounters;
use crate::transaction_layer::{Incoming, ShardRouter};
use crate::ua_core::{Action, Inbound, Ingested, TransportKind, UaCore};

/// How long a closing connection may take to flush before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The RFC 5626 pong.
const PONG: &[u8] = b"\r\n";

/// A SIP connection: reads, frames and handles messages, writes responses.
pub struct TcpConnection {
    peer: SocketAddr,
    local: SocketAddr,
    core: Arc<UaCore>,
    registry: Arc<TransportRegistry>,
    incoming: ShardRouter,
    framer: StreamFramer,
    /// The bytes the framer holds, kept so an unframeable head can still be answered.
    pending: BytesMut,
    writer: Writer<OwnedWriteHalf, io::Error>,
    idle_timeout: Duration,
    last_activity: Instant,
    closing: bool,
}

impl TcpConnection {
    /// Starts the actor for an accepted stream; it registers itself with `registry` and
    /// hands parsed messages to `incoming` (the transaction layer).
    pub fn start(
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        core: Arc<UaCore>,
        registry: Arc<TransportRegistry>,
        incoming: ShardRouter,
        settings: TransportSettings,
    ) -> Addr<TcpConnection> {
        TcpConnection::create(move |ctx| {
            let (read, write) = stream.into_split();
            ctx.add_stream(FramedRead::new(read, BytesCodec::new()));
            TcpConnection {
                peer,
                local,
                core,
                registry,
                incoming,
                framer: StreamFramer::new(settings.limits),
                pending: BytesMut::new(),
                writer: Writer::new(write, ctx),
                idle_timeout: settings.idle_timeout,
                last_activity: Instant::now(),
                closing: false,
            }
        })
    }

    /// Flushes what is queued, then closes; gives up after [`CLOSE_GRACE`].
    fn close(&mut self, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.writer.close();
        // Wakes the writer so it notices the close even with nothing queued.
        self.writer.write(&[]);
        ctx.run_later(CLOSE_GRACE, |_, ctx| ctx.stop());
    }

    /// The flow this connection is.
    fn flow(&self) -> Flow {
        Flow {
            transport: TransportKind::Tcp,
            local: self.local,
            peer: self.peer,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.last_activity = Instant::now();
        self.writer.write(bytes);
    }

    fn on_bytes(&mut self, chunk: &[u8], ctx: &mut Context<Self>) {
        self.framer.push(chunk);
        self.pending.extend_from_slice(chunk);
        loop {
            let next = self.framer.next_frame();
            // Keep the mirror in step: the framer holds the last `buffered()` bytes.
            let consumed = self.pending.len().saturating_sub(self.framer.buffered());
            self.pending.advance(consumed);
            match next {
                Ok(None) => break,
                Ok(Some(Frame::KeepAlivePing)) => {
                    SipCounters::bump(&self.core.counters().keepalive_pings);
                    debug!(peer = %self.peer, "tcp: keep-alive ping; pong sent");
                    self.write(PONG);
                    self.registry.notify(FlowNotice::KeepAlive(self.flow()));
                }
                Ok(Some(Frame::Message(message))) => {
                    if !self.on_message(message, ctx) {
                        break;
                    }
                }
                Err(e) => {
                    self.on_framing_error(&e, ctx);
                    break;
                }
            }
        }
    }

    /// Handles one framed message; false when the connection is closing.
    fn on_message(&mut self, bytes: Bytes, ctx: &mut Context<Self>) -> bool {
        let inbound = Inbound {
            bytes,
            source: self.peer,
            transport: TransportKind::Tcp,
        };
        match catch_unwind(AssertUnwindSafe(|| self.core.ingest(&inbound))) {
            Ok(Ingested::Done(actions)) => {
                self.deliver(actions);
                true
            }
            Ok(Ingested::Request(r)) => {
                self.forward(sip::SipMessage::Request(r));
                true
            }
            Ok(Ingested::Response(r)) => {
                self.forward(sip::SipMessage::Response(r));
                true
            }
            Err(_) => {
                SipCounters::bump(&self.core.counters().handler_panics);
                error!(peer = %self.peer, "tcp: message handler panicked; closing this connection");
                self.close(ctx);
                false
            }
        }
    }

    fn on_framing_error(&mut self, e: &FramingError, ctx: &mut Context<Self>) {
        SipCounters::bump(&self.core.counters().framing_errors);
        let status = match e {
            FramingError::HeadersTooLarge(_) | FramingError::BodyTooLarge(_) => 513,
            FramingError::MultipleContentLength | FramingError::BadContentLength => 400,
        };
        warn!(peer = %self.peer, error = %e, status, "tcp: cannot frame stream; answering if possible and closing");
        let head = self.pending.split().freeze();
        let actions = self.core.reject_unframeable(
            &head,
            status,
            &e.to_string(),
            self.peer,
            TransportKind::Tcp,
        );
        self.deliver(actions);
        self.close(ctx);
    }

    /// Hands a parsed message to the transaction layer, with this connection as its flow.
    fn forward(&self, message: sip::SipMessage) {
        let flow = Flow {
            transport: TransportKind::Tcp,
            local: self.local,
            peer: self.peer,
        };
        self.incoming.route(Incoming { message, flow });
    }

    fn deliver(&mut self, actions: Vec<Action>) {
        for Action::Send(out) in actions {
            if out.transport == TransportKind::Tcp && out.destination == self.peer {
                self.write(&out.bytes);
            } else {
                self.registry.send(out);
            }
        }
    }
}

impl Actor for TcpConnection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.registry.register_tcp(self.peer, ctx.address());
        let period =
            (self.idle_timeout / 10).clamp(Duration::from_millis(100), Duration::from_secs(30));
        ctx.run_interval(period, |conn, ctx| {
            if !conn.closing && conn.last_activity.elapsed() >= conn.idle_timeout {
                info!(peer = %conn.peer, idle_timeout = ?conn.idle_timeout, "tcp: closing idle connection");
                conn.close(ctx);
            }
        });
        debug!(peer = %self.peer, local = %self.local, "tcp: connection opened");
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.registry
            .unregister_tcp(self.peer, self.local, &ctx.address());
        debug!(peer = %self.peer, local = %self.local, "tcp: connection closed");
    }
}

impl StreamHandler<Result<BytesMut, io::Error>> for TcpConnection {
    fn handle(&mut self, item: Result<BytesMut, io::Error>, ctx: &mut Self::Context) {
        if self.closing {
            return;
        }
        match item {
            Ok(chunk) => {
                self.last_activity = Instant::now();
                self.on_bytes(&chunk, ctx);
            }
            Err(e) => {
                debug!(peer = %self.peer, error = %e, "tcp: read error; closing");
                ctx.stop();
            }
        }
    }

    /// The peer closed its side: flush what is queued, then close ours.
    fn finished(&mut self, ctx: &mut Self::Context) {
        self.close(ctx);
    }
}

impl WriteHandler<io::Error> for TcpConnection {
    fn error(&mut self, err: io::Error, _ctx: &mut Self::Context) -> Running {
        debug!(peer = %self.peer, error = %err, "tcp: write error; closing");
        Running::Stop
    }
}

impl Handler<SendBytes> for TcpConnection {
    type Result = ();

    fn handle(&mut self, msg: SendBytes, _ctx: &mut Self::Context) {
        if !self.closing {
            self.write(&msg.0);
        }
    }
}

impl Handler<CloseConnection> for TcpConnection {
    type Result = ();

    fn handle(&mut self, _: CloseConnection, ctx: &mut Self::Context) {
        self.close(ctx);
    }
}
