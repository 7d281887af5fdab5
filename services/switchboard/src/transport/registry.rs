//! The registry of open transports: TCP connections by peer address and the UDP sockets, so a
//! message for a peer goes out on the connection (or socket) it belongs to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use actix::{Addr, Recipient};
use tokio::net::UdpSocket;
use tracing::warn;

use bytes::Bytes;

use super::{CloseConnection, Flow, FlowNotice, SendBytes, TcpConnection, udp};
use crate::ua_core::{Outbound, TransportKind};

/// Open TCP connections by peer, and the bound UDP sockets.
#[derive(Debug, Default)]
pub struct TransportRegistry {
    tcp: Mutex<HashMap<SocketAddr, Addr<TcpConnection>>>,
    udp: Mutex<Vec<(SocketAddr, Arc<UdpSocket>)>>,
    observer: Mutex<Option<Recipient<FlowNotice>>>,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl TransportRegistry {
    /// Records the connection to `peer` (replacing an older one to the same peer).
    pub fn register_tcp(&self, peer: SocketAddr, conn: Addr<TcpConnection>) {
        lock(&self.tcp).insert(peer, conn);
    }

    /// Forgets the connection to `peer`, if it is still `conn`, and tells the flow observer
    /// that the flow closed.
    pub fn unregister_tcp(&self, peer: SocketAddr, local: SocketAddr, conn: &Addr<TcpConnection>) {
        let removed = {
            let mut map = lock(&self.tcp);
            if map.get(&peer).is_some_and(|c| c == conn || !c.connected()) {
                map.remove(&peer);
                true
            } else {
                false
            }
        };
        if removed {
            self.notify(FlowNotice::Closed(Flow {
                transport: TransportKind::Tcp,
                local,
                peer,
            }));
        }
    }

    /// Names who hears of flows closing and keep-alives arriving (the registrar).
    pub fn observe_flows(&self, observer: Recipient<FlowNotice>) {
        *lock(&self.observer) = Some(observer);
    }

    /// Tells the flow observer, if any, what happened to a flow.
    pub fn notify(&self, notice: FlowNotice) {
        if let Some(observer) = lock(&self.observer).as_ref() {
            observer.do_send(notice);
        }
    }

    /// The live connection to `peer`, if any (dead entries are pruned).
    pub fn tcp_connection(&self, peer: SocketAddr) -> Option<Addr<TcpConnection>> {
        let mut map = lock(&self.tcp);
        match map.get(&peer) {
            Some(c) if c.connected() => Some(c.clone()),
            Some(_) => {
                map.remove(&peer);
                None
            }
            None => None,
        }
    }

    /// How many TCP connections are registered.
    pub fn tcp_count(&self) -> usize {
        lock(&self.tcp).len()
    }

    /// Records a bound UDP socket for outbound datagrams.
    pub fn register_udp(&self, local: SocketAddr, socket: Arc<UdpSocket>) {
        lock(&self.udp).push((local, socket));
    }

    /// A UDP socket of the destination's address family.
    fn udp_socket_for(&self, destination: SocketAddr) -> Option<Arc<UdpSocket>> {
        lock(&self.udp)
            .iter()
            .find(|(local, _)| local.is_ipv6() == destination.is_ipv6())
            .map(|(_, s)| s.clone())
    }

    /// The UDP socket bound to `local`, else one of the destination's address family.
    fn udp_socket_at(&self, local: SocketAddr, destination: SocketAddr) -> Option<Arc<UdpSocket>> {
        let found = lock(&self.udp)
            .iter()
            .find(|(l, _)| *l == local)
            .map(|(_, s)| s.clone());
        found.or_else(|| self.udp_socket_for(destination))
    }

    /// Sends `bytes` on `flow`: over UDP from the socket the flow arrived on to `destination`
    /// (for a response, the address RFC 3261 §18.2.2 gives), over TCP on the flow's
    /// connection (`destination` is ignored). False when the flow is gone: the caller reports
    /// a transport error to its transaction.
    pub fn send_on(&self, flow: &Flow, destination: SocketAddr, bytes: Bytes) -> bool {
        match flow.transport {
            TransportKind::Udp => match self.udp_socket_at(flow.local, destination) {
                Some(socket) => {
                    udp::send_datagram(&socket, bytes, destination);
                    true
                }
                None => {
                    warn!(peer = %destination, "sip out: no UDP socket for the flow; message dropped");
                    false
                }
            },
            TransportKind::Tcp => match self.tcp_connection(flow.peer) {
                Some(conn) => {
                    conn.do_send(SendBytes(bytes));
                    true
                }
                None => {
                    warn!(peer = %flow.peer, "sip out: TCP connection to peer is closed; message dropped");
                    false
                }
            },
        }
    }

    /// Sends `out` on the registered connection or a UDP socket; false when there is none.
    ///
    /// Opening new outbound TCP connections is not done yet.
    pub fn send(&self, out: Outbound) -> bool {
        match out.transport {
            TransportKind::Tcp => match self.tcp_connection(out.destination) {
                Some(conn) => {
                    conn.do_send(SendBytes(out.bytes));
                    true
                }
                None => {
                    warn!(peer = %out.destination, "sip out: no TCP connection to peer; message dropped");
                    false
                }
            },
            TransportKind::Udp => match self.udp_socket_for(out.destination) {
                Some(socket) => {
                    udp::send_datagram(&socket, out.bytes, out.destination);
                    true
                }
                None => {
                    warn!(peer = %out.destination, "sip out: no UDP socket for peer's address family; message dropped");
                    false
                }
            },
        }
    }

    /// Asks every TCP connection to close and forgets them and the UDP sockets.
    pub fn close_all(&self) -> Vec<Addr<TcpConnection>> {
        lock(&self.udp).clear();
        let conns: Vec<_> = lock(&self.tcp).drain().map(|(_, c)| c).collect();
        for c in &conns {
            c.do_send(CloseConnection);
        }
        conns
    }
}
