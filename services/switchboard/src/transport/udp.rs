//! The UDP listener actor: one datagram is one SIP message (RFC 3261 §18.3).

use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, StreamHandler, Supervised};
use bytes::Bytes;
use futures_util::Stream;
use tokio::net::UdpSocket;
use tracing::{error, info, trace, warn};

use super::{Flow, Shutdown, TransportRegistry};
use crate::stats::SipCounters;
use crate::transaction_layer::{Incoming, ShardRouter};
use crate::ua_core::{Action, Inbound, Ingested, TransportKind, UaCore};

/// Largest datagram read (the UDP maximum).
pub const MAX_DATAGRAM: usize = 65_535;

/// Pause after a receive error, so a persistent error cannot spin the arbiter.
const ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// This many receive errors in a row stop the actor, and its supervisor restarts it.
const MAX_CONSECUTIVE_ERRORS: u32 = 100;

/// Receives datagrams on one bound UDP socket: the UA core parses each (answering what does
/// not parse statelessly) and the transaction layer gets the rest.
pub struct UdpListener {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    core: Arc<UaCore>,
    registry: Arc<TransportRegistry>,
    incoming: ShardRouter,
    consecutive_errors: u32,
}

impl UdpListener {
    /// A listener on an already bound socket (register it with the registry separately)
    /// that hands parsed messages to `incoming` (the transaction layer).
    pub fn new(
        socket: Arc<UdpSocket>,
        local: SocketAddr,
        core: Arc<UaCore>,
        registry: Arc<TransportRegistry>,
        incoming: ShardRouter,
    ) -> Self {
        UdpListener {
            socket,
            local,
            core,
            registry,
            incoming,
            consecutive_errors: 0,
        }
    }

    fn on_datagram(&mut self, bytes: Bytes, source: SocketAddr) {
        // CRLF keep-alives over UDP carry nothing to answer.
        if bytes
            .iter()
            .all(|c| matches!(c, b'\r' | b'\n' | b' ' | b'\t'))
        {
            trace!(peer = %source, len = bytes.len(), "udp: keep-alive or empty datagram ignored");
            return;
        }
        let inbound = Inbound {
            bytes,
            source,
            transport: TransportKind::Udp,
        };
        let ingested = match catch_unwind(AssertUnwindSafe(|| self.core.ingest(&inbound))) {
            Ok(ingested) => ingested,
            Err(_) => {
                SipCounters::bump(&self.core.counters().handler_panics);
                error!(peer = %source, local = %self.local, "udp: message handler panicked; datagram dropped");
                return;
            }
        };
        let flow = Flow {
            transport: TransportKind::Udp,
            local: self.local,
            peer: source,
        };
        let actions = match ingested {
            Ingested::Done(actions) => actions,
            Ingested::Request(r) => {
                let message = sip::SipMessage::Request(r);
                self.incoming.route(Incoming { message, flow });
                return;
            }
            Ingested::Response(r) => {
                let message = sip::SipMessage::Response(r);
                self.incoming.route(Incoming { message, flow });
                return;
            }
        };
        for Action::Send(out) in actions {
            if out.transport == TransportKind::Udp {
                send_datagram(&self.socket, out.bytes, out.destination);
            } else {
                self.registry.send(out);
            }
        }
    }
}

/// Sends one datagram now if the socket can take it, else from a spawned task.
pub(super) fn send_datagram(socket: &Arc<UdpSocket>, bytes: Bytes, destination: SocketAddr) {
    match socket.try_send_to(&bytes, destination) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            let socket = socket.clone();
            actix_rt::spawn(async move {
                if let Err(e) = socket.send_to(&bytes, destination).await {
                    warn!(peer = %destination, error = %e, "udp: send failed");
                }
            });
        }
        Err(e) => warn!(peer = %destination, error = %e, "udp: send failed"),
    }
}

/// Datagrams read from `socket`, forever.
fn recv_stream(
    socket: Arc<UdpSocket>,
) -> impl Stream<Item = io::Result<(Bytes, SocketAddr)>> + Unpin {
    let buf = vec![0u8; MAX_DATAGRAM];
    Box::pin(futures_util::stream::unfold(
        (socket, buf),
        |(socket, mut buf)| async move {
            let item = match socket.recv_from(&mut buf).await {
                Ok((n, from)) => Ok((Bytes::copy_from_slice(&buf[..n]), from)),
                Err(e) => {
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    Err(e)
                }
            };
            Some((item, (socket, buf)))
        },
    ))
}

impl Actor for UdpListener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.consecutive_errors = 0;
        ctx.add_stream(recv_stream(self.socket.clone()));
        info!(local = %self.local, transport = "udp", "sip listener started");
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        info!(local = %self.local, transport = "udp", "sip listener stopped");
    }
}

impl Supervised for UdpListener {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        warn!(local = %self.local, transport = "udp", "sip listener restarting");
    }
}

impl StreamHandler<io::Result<(Bytes, SocketAddr)>> for UdpListener {
    fn handle(&mut self, item: io::Result<(Bytes, SocketAddr)>, ctx: &mut Self::Context) {
        match item {
            Ok((bytes, source)) => {
                self.consecutive_errors = 0;
                trace!(peer = %source, local = %self.local, len = bytes.len(), "udp: datagram received");
                self.on_datagram(bytes, source);
            }
            Err(e) => {
                self.consecutive_errors += 1;
                warn!(local = %self.local, error = %e, "udp: receive error");
                if self.consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                    error!(local = %self.local, "udp: too many receive errors; restarting listener");
                    ctx.stop();
                }
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Shutdown> for UdpListener {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use actix::Supervisor;

    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-sup;rport\r\n\
        From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\n\
        Call-ID: sup-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    async fn ask(client: &UdpSocket, server: SocketAddr) -> Vec<u8> {
        client.send_to(OPTIONS, server).await.expect("send");
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .expect("reply in time")
            .expect("recv");
        buf.truncate(n);
        buf
    }

    #[actix_rt::test]
    async fn a_stopped_listener_is_restarted_by_its_supervisor_on_the_same_socket() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
        let local = socket.local_addr().expect("local addr");
        let counters = Arc::new(SipCounters::default());
        let core = Arc::new(UaCore::new(counters.clone()));
        let registry = Arc::new(TransportRegistry::default());
        registry.register_udp(local, socket.clone());
        let services = crate::stack::Services::new(registry.clone(), counters);
        let stack = crate::stack::SipStack::start(Default::default(), core.clone(), services);
        let incoming = stack.incoming();
        let addr =
            Supervisor::start(move |_| UdpListener::new(socket, local, core, registry, incoming));
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
        assert!(ask(&client, local).await.starts_with(b"SIP/2.0 200 OK\r\n"));

        // Stopping while an Addr is alive is a failure: the supervisor restarts the actor.
        addr.send(Shutdown).await.expect("listener alive");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(addr.connected());
        assert!(ask(&client, local).await.starts_with(b"SIP/2.0 200 OK\r\n"));
    }
}
