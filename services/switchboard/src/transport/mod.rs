//! SIP transports as actix actors: UDP and TCP on every listen address.
//!
//! Actor tree (all on the System's arbiter):
//!
//! ```text
//! server ─┬─ Supervisor<UdpListener>   one per listen address, owns the bound UDP socket
//!         └─ Supervisor<TcpListener>   one per listen address, owns the bound TCP listener
//!                 └─ TcpConnection     one per accepted connection (not supervised)
//! ```
//!
//! Failure policy: message handling is wrapped in `catch_unwind`. A panic or I/O error in a
//! [`TcpConnection`] ends that connection only. A listener whose receive/accept stream ends
//! stops, and its `Supervisor` restarts it in place on the same bound socket. The
//! [`TransportRegistry`] maps TCP peers to their connection so responses and later requests go
//! back on the connection a request came from.

mod bind;
mod registry;
mod tcp_connection;
mod tcp_listener;
mod udp;

use std::net::SocketAddr;
use std::time::Duration;

use actix::Message;
use bytes::Bytes;
use serde::Serialize;
use sip::FramingLimits;

pub use bind::{BoundListener, bind_listener};
pub use registry::TransportRegistry;
pub use tcp_connection::TcpConnection;
pub use tcp_listener::TcpListener;
pub use udp::{MAX_DATAGRAM, UdpListener};

pub use crate::ua_core::TransportKind;

/// Tunables shared by every transport actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportSettings {
    /// TCP framing limits (header section and body sizes).
    pub limits: FramingLimits,
    /// A TCP connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for TransportSettings {
    fn default() -> Self {
        TransportSettings {
            limits: FramingLimits::default(),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// One bound SIP socket, as reported by `/health` and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListenerInfo {
    /// `udp` or `tcp`.
    pub transport: &'static str,
    /// The bound address (with the real port when 0 was asked for).
    pub address: SocketAddr,
}

impl std::fmt::Display for ListenerInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.transport, self.address)
    }
}

/// The way a message came in, and so the way back: the transport, our socket's address and
/// the peer's. Responses and in-dialog requests go out on the flow their transaction or dialog
/// belongs to (RFC 3261 §18.2.2; for TCP the same connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// UDP or TCP.
    pub transport: TransportKind,
    /// Our address: the bound UDP socket, or the local end of the TCP connection's listener.
    pub local: SocketAddr,
    /// The peer: the UDP source address, or the TCP connection's remote end.
    pub peer: SocketAddr,
}

impl Flow {
    /// Whether the transport is reliable (TCP), which switches off retransmission timers.
    pub fn is_reliable(&self) -> bool {
        self.transport == TransportKind::Tcp
    }
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}<->{}", self.transport, self.local, self.peer)
    }
}

/// What the transports tell the flow observer (the registrar): a flow closed, or a keep-alive
/// came in on it (RFC 5626 §3.5.1 CRLF ping over TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub enum FlowNotice {
    /// The connection closed; nothing can be sent on the flow any more.
    Closed(Flow),
    /// A keep-alive arrived on the flow: the peer is alive.
    KeepAlive(Flow),
}

/// Bytes to write on a TCP connection.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SendBytes(pub Bytes);

/// Asks a TCP connection to flush and close.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct CloseConnection;

/// Asks a listener actor to stop for good (the caller must drop its `Addr` first).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Shutdown;
