//! The TCP listener actor: accepts connections and starts one [`TcpConnection`] actor each.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, StreamHandler, Supervised};
use futures_util::Stream;
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::{Shutdown, TcpConnection, TransportRegistry, TransportSettings};
use crate::transaction_layer::ShardRouter;
use crate::ua_core::UaCore;

/// Pause after an accept error (e.g. out of file descriptors) before accepting again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts SIP connections on one bound TCP listener.
pub struct TcpListener {
    listener: Arc<tokio::net::TcpListener>,
    local: SocketAddr,
    core: Arc<UaCore>,
    registry: Arc<TransportRegistry>,
    incoming: ShardRouter,
    settings: TransportSettings,
}

impl TcpListener {
    /// A listener actor for an already bound, listening socket.
    pub fn new(
        listener: Arc<tokio::net::TcpListener>,
        local: SocketAddr,
        core: Arc<UaCore>,
        registry: Arc<TransportRegistry>,
        incoming: ShardRouter,
        settings: TransportSettings,
    ) -> Self {
        TcpListener {
            listener,
            local,
            core,
            registry,
            incoming,
            settings,
        }
    }
}

/// Connections accepted on `listener`, forever.
fn accept_stream(
    listener: Arc<tokio::net::TcpListener>,
) -> impl Stream<Item = io::Result<(TcpStream, SocketAddr)>> + Unpin {
    Box::pin(futures_util::stream::unfold(
        listener,
        |listener| async move {
            let item = listener.accept().await;
            if item.is_err() {
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
            }
            Some((item, listener))
        },
    ))
}

impl Actor for TcpListener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.add_stream(accept_stream(self.listener.clone()));
        info!(local = %self.local, transport = "tcp", "sip listener started");
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        info!(local = %self.local, transport = "tcp", "sip listener stopped");
    }
}

impl Supervised for TcpListener {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        warn!(local = %self.local, transport = "tcp", "sip listener restarting");
    }
}

impl StreamHandler<io::Result<(TcpStream, SocketAddr)>> for TcpListener {
    fn handle(&mut self, item: io::Result<(TcpStream, SocketAddr)>, _ctx: &mut Self::Context) {
        match item {
            Ok((stream, peer)) => {
                if let Err(e) = stream.set_nodelay(true) {
                    debug!(%peer, error = %e, "tcp: cannot set TCP_NODELAY");
                }
                TcpConnection::start(
                    stream,
                    peer,
                    self.local,
                    self.core.clone(),
                    self.registry.clone(),
                    self.incoming.clone(),
                    self.settings,
                );
            }
            Err(e) => warn!(local = %self.local, error = %e, "tcp: accept failed"),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Shutdown> for TcpListener {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
