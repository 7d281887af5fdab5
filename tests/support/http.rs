//! Minimal HTTP/1.1 client.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::net::is_timeout;

/// A response read by [`http_get`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// The whole status line, e.g. `HTTP/1.1 200 OK`.
    pub status_line: String,
    /// Everything after the status line (headers and body), lossily decoded.
    pub rest: String,
}

/// Sends `GET path` with `Connection: close` and reads the response until
/// the server closes the connection or `timeout` passes.
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: switchboard-e2e\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )?;
    stream.flush()?;

    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // Keep what we have if the server keeps the connection open.
            Err(e) if is_timeout(&e) && !buf.is_empty() => {
                break;
            }
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (status_line, rest) = text.split_once("\r\n").unwrap_or((text.as_str(), ""));
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP response: {status_line:?}"),
            )
        })?;
    Ok(HttpResponse {
        status,
        status_line: status_line.to_owned(),
        rest: rest.to_owned(),
    })
}
