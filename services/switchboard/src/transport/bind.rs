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

/// Binds UDP and TCP on `addr`. Port 0 picks one free UDP port and uses it for TCP too.
pub fn bind_listener(addr: SocketAddr) -> anyhow::Result<BoundListener> {
    let udp = bind_udp(addr).with_context(|| format!("cannot bind SIP UDP socket on {addr}"))?;
    let udp_addr = udp
        .local_addr()
        .context("UDP socket has no local address")?;
    let tcp_addr = SocketAddr::new(addr.ip(), udp_addr.port());
    let tcp = bind_tcp(tcp_addr)
        .with_context(|| format!("cannot bind SIP TCP listener on {tcp_addr}"))?;
    Ok(BoundListener { udp, tcp })
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
}
