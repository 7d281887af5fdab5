//! Free loopback ports and raw SIP over UDP / TCP.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::sip_text::SipMessage;
use super::{LOOPBACK, find};

/// Ports already handed out in this test process, so tests running in
/// parallel threads never receive the same number.
fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A loopback port that is currently free for **both** UDP and TCP.
///
/// The OS picks an ephemeral UDP port; the same number is then bound over
/// TCP to prove it is free there too. Both sockets are closed before the
/// number is returned, so there is an unavoidable (tiny) race with other
/// processes; ports are never handed out twice within one test process.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let Ok(udp) = UdpSocket::bind((LOOPBACK, 0)) else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else {
            continue;
        };
        let port = addr.port();
        if TcpListener::bind((LOOPBACK, port)).is_err() {
            continue;
        }
        let mut ports = handed_out()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ports.insert(port) {
            return port;
        }
    }
    panic!("could not find a loopback port free for both UDP and TCP after 200 attempts");
}

/// A UDP socket bound to `127.0.0.1` on an ephemeral port, ready to talk to
/// the server. Bind first, so the local port can go into the Via header.
pub fn udp_socket() -> UdpSocket {
    UdpSocket::bind((LOOPBACK, 0)).unwrap_or_else(|e| panic!("cannot bind UDP on 127.0.0.1: {e}"))
}

/// Sends `request` from `socket` to `to` as one datagram, then waits up to
/// `timeout` for one datagram coming back from `to` (datagrams from other
/// sources are ignored). No retransmission: loopback does not drop.
pub fn udp_exchange(
    socket: &UdpSocket,
    to: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    socket.send_to(request, to)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65_535];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no UDP response from {to} within {timeout:?}"),
            ));
        }
        socket.set_read_timeout(Some(remaining))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == to => return Ok(buf[..n].to_vec()),
            Ok(_) => continue,
            Err(e) if is_timeout(&e) => {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads exactly one SIP message (headers plus `Content-Length` body) from a
/// stream. Leading CRLF keep-alives are skipped.
pub fn read_sip_message(stream: &mut TcpStream, timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Skip CRLF keep-alives before the start line.
        while buf.starts_with(b"\r\n") {
            buf.drain(..2);
        }
        if let Some(head_end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let body_len = SipMessage::content_length_of(&head).unwrap_or(0);
            let total = head_end + 4 + body_len;
            if buf.len() >= total {
                buf.truncate(total);
                return Ok(buf);
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "incomplete SIP message after {timeout:?}; got {:?}",
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
        stream.set_read_timeout(Some(remaining))?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a full SIP message; got {:?}",
                        String::from_utf8_lossy(&buf)
                    ),
                ));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Connects to `to` over TCP, writes `request` and reads one SIP message
/// back. Returns the response and the (still open) stream so a test can
/// inspect the local port or keep talking on the same connection.
pub fn tcp_exchange(
    to: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> io::Result<(Vec<u8>, TcpStream)> {
    let mut stream = TcpStream::connect_timeout(&to, timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request)?;
    stream.flush()?;
    let response = read_sip_message(&mut stream, timeout)?;
    Ok((response, stream))
}

/// Opens a TCP connection to `to` from `127.0.0.1`, for tests that need the
/// local port before composing the request (Via sent-by).
pub fn tcp_connect(to: SocketAddr, timeout: Duration) -> TcpStream {
    TcpStream::connect_timeout(&to, timeout)
        .unwrap_or_else(|e| panic!("cannot connect to {to} over TCP: {e}"))
}

/// Writes `request` on an open stream and reads one SIP message back.
pub fn tcp_send_and_read(
    stream: &mut TcpStream,
    request: &[u8],
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request)?;
    stream.flush()?;
    read_sip_message(stream, timeout)
}

/// True for the error kinds a socket read timeout produces.
pub(super) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
