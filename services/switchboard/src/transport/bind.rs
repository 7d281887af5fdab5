//! Binding SIP sockets with socket2: IPV6_V6ONLY on IPv6 (so `[::]` and `0.0.0.0` coexist) and
//! SO_REUSEADDR on TCP listeners (fast restarts despite TIME_WAIT).

use std::io;
use std::net::SocketAddr;

use anyhow::Context as _;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Receive buffer asked for on UDP sockets (best effort; the kernel may cap it).
const UDP_RECV_BUFFER: usize = 4 * 1024 * 1024;

/// Pending connections the kernel queues for a TCP listener.
const TCP_BACKLOG: i32 = 1024;

/// The UDP socket and TCP listener bound for one listen address (non-blocking std sockets).
#[derive(Debug)]
pub struct BoundListener {
    /// The UDP socket.
    pub udp: std::net::UdpSocket,
    /// The TCP listener.
    pub tcp: std::net::TcpListener,
}

impl BoundListener {
    /// The UDP socket's bound address.
    pub fn udp_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// The TCP listener's bound address.
    pub fn tcp_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// How many UDP ports port 0 tries before giving up because TCP holds each one.
const PORT_ZERO_ATTEMPTS: usize = 16;

/// Binds UDP and TCP on `addr`. Port 0 picks a free UDP port and uses it for TCP too; when
/// TCP already uses that port (another program's connection from the same ephemeral
/// range), it picks another.
pub fn bind_listener(addr: SocketAddr) -> anyhow::Result<BoundListener> {
    bind_listener_with(addr, bind_tcp)
}

/// [`bind_listener`] with the TCP bind given (tests make it fail).
fn bind_listener_with(
    addr: SocketAddr,
    mut tcp_on: impl FnMut(SocketAddr) -> io::Result<std::net::TcpListener>,
) -> anyhow::Result<BoundListener> {
    let attempts = if addr.port() == 0 {
        PORT_ZERO_ATTEMPTS
    } else {
        1
    };
    let mut attempt = 1;
    loop {
        let udp =
            bind_udp(addr).with_context(|| format!("cannot bind SIP UDP socket on {addr}"))?;
        let udp_addr = udp
            .local_addr()
            .context("UDP socket has no local address")?;
        let tcp_addr = SocketAddr::new(addr.ip(), udp_addr.port());
        match tcp_on(tcp_addr) {
            Ok(tcp) => return Ok(BoundListener { udp, tcp }),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < attempts => {
                attempt += 1;
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot bind SIP TCP listener on {tcp_addr}"));
            }
        }
    }
}

fn socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = socket(addr, Type::DGRAM, Protocol::UDP)?;
    // Best effort: a larger buffer absorbs bursts; failure only means the default size.
    let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket.into())
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(TCP_BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_binds_udp_and_tcp_on_the_same_port() {
        let bound = bind_listener("127.0.0.1:0".parse().expect("addr")).expect("bind loopback");
        let udp = bound.udp_addr().expect("udp addr");
        let tcp = bound.tcp_addr().expect("tcp addr");
        assert_ne!(udp.port(), 0);
        assert_eq!(udp, tcp);
    }

    #[test]
    fn a_taken_port_is_a_clear_error() {
        let first = bind_listener("127.0.0.1:0".parse().expect("addr")).expect("bind loopback");
        let taken = first.udp_addr().expect("udp addr");
        let err = bind_listener(taken).expect_err("second bind must fail");
        assert!(
            format!("{err:#}").contains(&format!("cannot bind SIP UDP socket on {taken}")),
            "{err:#}"
        );
    }

    #[test]
    fn ipv6_sockets_are_v6_only() {
        // Not every test machine has IPv6 loopback; only then is there nothing to check.
        let Ok(v6) = bind_listener("[::1]:0".parse().expect("addr")) else {
            return;
        };
        assert!(
            socket2::SockRef::from(&v6.udp)
                .only_v6()
                .expect("UDP IPV6_V6ONLY")
        );
        assert!(
            socket2::SockRef::from(&v6.tcp)
                .only_v6()
                .expect("TCP IPV6_V6ONLY")
        );
        assert!(
            socket2::SockRef::from(&v6.tcp)
                .reuse_address()
                .expect("SO_REUSEADDR")
        );
    }

    #[test]
    fn port_zero_tries_another_port_while_tcp_holds_the_one_picked() {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let mut tried = Vec::new();
        let bound = bind_listener_with(addr, |a| {
            tried.push(a.port());
            if tried.len() < 4 {
                Err(io::ErrorKind::AddrInUse.into())
            } else {
                bind_tcp(a)
            }
        })
        .expect("the fourth port is free");
        assert_eq!(tried.len(), 4);
        let port = bound.udp_addr().expect("udp addr").port();
        assert_eq!(Some(&port), tried.last());
        assert_eq!(bound.tcp_addr().expect("tcp addr").port(), port);
        // Always taken: it gives up after PORT_ZERO_ATTEMPTS ports, naming the last.
        let mut count = 0;
        let e = bind_listener_with(addr, |_| {
            count += 1;
            Err(io::ErrorKind::AddrInUse.into())
        })
        .expect_err("every port taken");
        assert_eq!(count, PORT_ZERO_ATTEMPTS);
        assert!(
            format!("{e:#}").contains("cannot bind SIP TCP listener"),
            "{e:#}"
        );
    }

    #[test]
    fn a_fixed_port_is_not_swapped_for_another() {
        let held = bind_udp("127.0.0.1:0".parse().expect("addr")).expect("udp");
        let port = held.local_addr().expect("addr").port();
        drop(held);
        let mut count = 0;
        let addr = SocketAddr::new("127.0.0.1".parse().expect("ip"), port);
        let e = bind_listener_with(addr, |_| {
            count += 1;
            Err(io::ErrorKind::AddrInUse.into())
        })
        .expect_err("the TCP side is taken");
        assert_eq!(count, 1);
        assert!(format!("{e:#}").contains(&port.to_string()), "{e:#}");
    }
}
