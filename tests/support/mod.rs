//! Shared end-to-end test harness.
//!
//! Every end-to-end test in the repository-root `tests/` directory is compiled
//! as an integration test of the `switchboard` package (see the `[[test]]`
//! entries in `services/switchboard/Cargo.toml`), so
//! `env!("CARGO_BIN_EXE_switchboard")` is the real, freshly built binary.
//!
//! The harness only uses `std`:
//!
//! * [`Server`] starts `switchboard serve` on free loopback ports with a
//!   private data directory, waits for `GET /health` to answer 200 and stops
//!   the process (SIGTERM, then SIGKILL) when dropped.
//! * [`Sipp`] runs a SIPp scenario against a server, bounded in time.
//! * [`udp_exchange`] / [`tcp_exchange`] send raw bytes and read one reply.
//! * [`SipMessage`] is a deliberately tiny, independent parser used to make
//!   assertions about what the server sent (it must not share code with the
//!   parser under test).
//!
//! Rules every test must follow: bind and advertise only `127.0.0.1`, and stop
//! by itself (every wait in here is bounded).

// Each test binary uses a different subset of the helpers.
#![allow(dead_code)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The only address tests may bind to or advertise.
pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// How long [`Server::start`] waits for `GET /health` to answer 200.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Server`]'s `Drop` waits after SIGTERM before sending SIGKILL.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Path of the `switchboard` binary cargo built for this test run.
pub fn switchboard_bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

/// The repository root (the directory holding `tests/sipp`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("tests").join("sipp").is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no ancestor of {} contains tests/sipp; is the repository layout intact?",
                manifest_dir.display()
            )
        })
        .to_path_buf()
}

/// Path of a SIPp scenario in `tests/sipp/`.
pub fn sipp_scenario(name: &str) -> PathBuf {
    let path = repo_root().join("tests").join("sipp").join(name);
    assert!(
        path.is_file(),
        "SIPp scenario {} does not exist",
        path.display()
    );
    path
}

// ---------------------------------------------------------------------------
// Ports and scratch directories
// ---------------------------------------------------------------------------

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

/// A fresh, unique scratch directory under cargo's target tmp directory.
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "e2e-{label}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create scratch dir {}: {e}", dir.display()));
    dir
}

/// Waits for `child` to exit, for at most `limit`.
fn wait_timeout(child: &mut Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The last `max` bytes of a text (on a char boundary), for panic messages.
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

// ---------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------

/// A running `switchboard serve` process, stopped when dropped.
pub struct Server {
    child: Option<Child>,
    /// SIP listen address (UDP and TCP).
    pub sip_addr: SocketAddr,
    /// HTTP (health/metrics/admin) listen address.
    pub http_addr: SocketAddr,
    /// Scratch directory: `data/` is the `--data-dir`, `server.log` the output.
    pub dir: PathBuf,
    /// File receiving the process' stdout and stderr.
    pub log_path: PathBuf,
}

impl Server {
    /// Starts `switchboard serve` on free loopback ports and waits until it is
    /// healthy. Panics (with the server log) if that takes longer than
    /// [`STARTUP_TIMEOUT`] or the process exits.
    pub fn start() -> Server {
        Server::start_with(&[], &[])
    }

    /// Like [`Server::start`], with extra command-line arguments (appended
    /// after the standard ones) and extra environment variables.
    pub fn start_with(extra_args: &[&str], extra_env: &[(&str, &str)]) -> Server {
        let dir = scratch_dir("server");
        let data_dir = dir.join("data");
        fs::create_dir_all(&data_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", data_dir.display()));
        let log_path = dir.join("server.log");
        let log = File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone log file handle: {e}"));

        let sip_addr = SocketAddr::from((LOOPBACK, free_port()));
        let http_addr = SocketAddr::from((LOOPBACK, free_port()));

        let mut cmd = Command::new(switchboard_bin());
        cmd.arg("serve")
            .arg("--sip-listen")
            .arg(sip_addr.to_string())
            .arg("--http-listen")
            .arg(http_addr.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .args(extra_args)
            .current_dir(&dir)
            // Never let the developer's environment change what is tested.
            .env_remove("SWITCHBOARD_SIP_LISTEN")
            .env_remove("SWITCHBOARD_HTTP_LISTEN")
            .env_remove("SWITCHBOARD_DATA_DIR")
            .env_remove("SWITCHBOARD_CONFIG")
            .env_remove("SWITCHBOARD_LOG_FORMAT")
            .env("RUST_LOG", "debug")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        for (key, value) in extra_env {
            cmd.env(key, value);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", switchboard_bin()));

        let mut server = Server {
            child: Some(child),
            sip_addr,
            http_addr,
            dir,
            log_path,
        };
        server.wait_until_ready();
        server
    }

    /// Polls `GET /health` until it answers 200, then checks the SIP TCP
    /// listener accepts connections.
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.fail(&format!("switchboard exited during startup with {status}"));
            }
            let last_error = match http_get(self.http_addr, "/health", Duration::from_secs(2)) {
                Ok(resp) if resp.status == 200 => break,
                Ok(resp) => format!("GET /health answered {}", resp.status_line),
                Err(e) => format!("GET /health failed: {e}"),
            };
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "switchboard not healthy within {STARTUP_TIMEOUT:?} ({last_error})"
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
        // Health is up; the SIP TCP listener must be too.
        loop {
            match TcpStream::connect_timeout(&self.sip_addr, Duration::from_secs(1)) {
                Ok(_) => return,
                Err(e) if Instant::now() >= deadline => self.fail(&format!(
                    "healthy, but SIP TCP listener {} refuses connections: {e}",
                    self.sip_addr
                )),
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Everything the server has written to stdout/stderr so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log_path.display()))
    }

    /// Panics with `msg` and the tail of the server log.
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n--- switchboard log ({}) ---\n{}\n--- end of switchboard log ---",
            self.log_path.display(),
            tail(&self.log(), 64 * 1024)
        );
    }

    /// Stops the server: SIGTERM, up to [`SHUTDOWN_GRACE`] to exit, then
    /// SIGKILL. Returns the exit status, or `None` if it had to be killed.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let termed = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if termed && let Ok(Some(status)) = wait_timeout(&mut child, SHUTDOWN_GRACE) {
            return Some(status);
        }
        // SIGKILL; errors mean it already exited.
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
        if thread::panicking() {
            eprintln!(
                "switchboard scratch dir kept for inspection: {}",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// Minimal HTTP/1.1 client
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Raw SIP over UDP / TCP
// ---------------------------------------------------------------------------

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
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A unique RFC 3261 branch parameter (magic cookie prefix).
pub fn new_branch() -> String {
    format!("z9hG4bK{}", unique_token())
}

/// A token unique within this test run (for tags, Call-IDs, branches).
pub fn unique_token() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

// ---------------------------------------------------------------------------
// Tiny independent SIP message reader for assertions
// ---------------------------------------------------------------------------

/// A SIP message split into start line, headers and body. Header names are
/// matched case-insensitively and compact forms are understood; folded
/// header lines are unfolded. Only meant for test assertions.
#[derive(Debug, Clone)]
pub struct SipMessage {
    /// The first line, e.g. `SIP/2.0 200 OK`.
    pub start_line: String,
    /// Headers in order, with names as sent and values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (everything after the blank line).
    pub body: Vec<u8>,
    /// The whole message, lossily decoded, for panic messages.
    pub raw: String,
}

/// Compact header forms (RFC 3261 section 7.3.3 and common extensions).
const COMPACT_FORMS: &[(&str, &str)] = &[
    ("i", "call-id"),
    ("m", "contact"),
    ("e", "content-encoding"),
    ("l", "content-length"),
    ("c", "content-type"),
    ("f", "from"),
    ("s", "subject"),
    ("k", "supported"),
    ("t", "to"),
    ("v", "via"),
    ("o", "event"),
    ("r", "refer-to"),
    ("u", "allow-events"),
];

fn canonical_header_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    COMPACT_FORMS
        .iter()
        .find(|(short, _)| *short == lower)
        .map(|(_, long)| (*long).to_owned())
        .unwrap_or(lower)
}

impl SipMessage {
    /// Parses `bytes`; panics with the raw text if it is not a SIP message.
    pub fn parse(bytes: &[u8]) -> SipMessage {
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let (head, body) = match find(bytes, b"\r\n\r\n") {
            Some(i) => (&bytes[..i], bytes[i + 4..].to_vec()),
            None => panic!("SIP message without end of headers (CRLF CRLF):\n{raw}"),
        };
        let head = String::from_utf8_lossy(head).into_owned();
        let mut lines = head.split("\r\n");
        let start_line = lines.next().unwrap_or_default().to_owned();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                match headers.last_mut() {
                    Some((_, value)) => {
                        value.push(' ');
                        value.push_str(line.trim());
                    }
                    None => panic!("continuation line before any header:\n{raw}"),
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                panic!("header line without a colon: {line:?}\n{raw}");
            };
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        SipMessage {
            start_line,
            headers,
            body,
            raw,
        }
    }

    /// The status code if this is a response (`SIP/2.0 200 OK` -> 200).
    pub fn status(&self) -> Option<u16> {
        let rest = self.start_line.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// All values of header `name` (full or compact form, any case), in
    /// order. Comma-separated values on one line are returned as one entry.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let wanted = canonical_header_name(name);
        self.headers
            .iter()
            .filter(|(n, _)| canonical_header_name(n) == wanted)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// The first value of header `name`; panics with the message if absent.
    pub fn expect_header(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("header {name} missing from:\n{}", self.raw))
    }

    /// Parameter `param` (e.g. `tag`, `branch`) of a header value such as
    /// `<sip:a@b>;tag=x` or `SIP/2.0/UDP h:p;branch=y`. Parameters inside
    /// `<...>` are ignored. Returns `Some("")` for a valueless parameter.
    pub fn param<'a>(header_value: &'a str, param: &str) -> Option<&'a str> {
        let after_uri = match header_value.rfind('>') {
            Some(i) => &header_value[i + 1..],
            None => header_value,
        };
        after_uri.split(';').skip(1).find_map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            name.trim()
                .eq_ignore_ascii_case(param)
                .then_some(value.trim())
        })
    }

    fn content_length_of(head: &str) -> Option<usize> {
        head.split("\r\n").skip(1).find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (canonical_header_name(name) == "content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
    }
}

// ---------------------------------------------------------------------------
// SIPp
// ---------------------------------------------------------------------------

/// Absolute path of `sipp` on `PATH`; panics telling how to install it.
pub fn sipp_path() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("sipp"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("sipp not found: install Debian package sip-tester (scripts/test.sh does this)")
        })
}

/// SIPp transport mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SippTransport {
    /// `-t u1`: UDP, one socket.
    Udp,
    /// `-t t1`: TCP, one connection.
    Tcp,
}

impl SippTransport {
    fn flag(self) -> &'static str {
        match self {
            SippTransport::Udp => "u1",
            SippTransport::Tcp => "t1",
        }
    }
}

/// A bounded SIPp run: `-m calls` makes it stop by itself, `-timeout` (with
/// `-timeout_error`) bounds it from inside, and a wall-clock watchdog kills
/// it from outside if it still has not exited.
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: PathBuf,
    transport: SippTransport,
    calls: u32,
    timeout: Duration,
    extra_args: Vec<String>,
}

/// What a SIPp run produced.
#[derive(Debug)]
pub struct SippOutcome {
    /// Exit status; `None` if the watchdog had to kill SIPp.
    pub status: Option<ExitStatus>,
    /// Exit code (0: all calls succeeded, 1: some failed, 99: no call
    /// processed, 255/254: fatal or socket bind error), if it exited normally.
    pub code: Option<i32>,
    /// Command line that was run.
    pub command: String,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// Contents of the `-trace_err` file (unexpected messages), if any.
    pub errors: String,
    /// Contents of the `-trace_screen` file (final statistics), if any.
    pub screen: String,
}

impl SippOutcome {
    /// True if SIPp exited with code 0 (every call succeeded).
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// A readable dump of everything SIPp produced.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "sipp command: {}", self.command);
        let _ = writeln!(
            out,
            "sipp exit: {}",
            match self.status {
                Some(s) => s.to_string(),
                None => "killed by watchdog (did not stop by itself)".to_owned(),
            }
        );
        for (name, text) in [
            ("errors (-trace_err)", &self.errors),
            ("stderr", &self.stderr),
            ("screen (-trace_screen)", &self.screen),
            ("stdout", &self.stdout),
        ] {
            let _ = writeln!(out, "--- sipp {name} ---\n{}", tail(text, 16 * 1024));
        }
        out
    }
}

impl Sipp {
    /// A run of `scenario` (see [`sipp_scenario`]) over UDP, 1 call, 20 s.
    pub fn new(scenario: impl Into<PathBuf>) -> Sipp {
        Sipp {
            scenario: scenario.into(),
            transport: SippTransport::Udp,
            calls: 1,
            timeout: Duration::from_secs(20),
            extra_args: Vec::new(),
        }
    }

    /// Sets the transport.
    pub fn transport(mut self, transport: SippTransport) -> Sipp {
        self.transport = transport;
        self
    }

    /// Sets how many calls (`-m`) to run before exiting.
    pub fn calls(mut self, calls: u32) -> Sipp {
        self.calls = calls;
        self
    }

    /// Sets SIPp's global timeout (`-timeout`), in whole seconds (min 1).
    pub fn timeout(mut self, timeout: Duration) -> Sipp {
        self.timeout = timeout;
        self
    }

    /// Adds raw SIPp arguments (e.g. `-key`, `-set`).
    pub fn arg(mut self, arg: impl Into<String>) -> Sipp {
        self.extra_args.push(arg.into());
        self
    }

    /// Runs the scenario against `target`, from `127.0.0.1` on a free port,
    /// writing SIPp's files into a scratch directory. Never blocks longer
    /// than the SIPp timeout plus 30 s.
    pub fn run(&self, target: SocketAddr) -> SippOutcome {
        let sipp = sipp_path();
        let dir = scratch_dir("sipp");
        let local_port = free_port();
        let media_port = free_port();
        let timeout_secs = self.timeout.as_secs().max(1);
        let errors_path = dir.join("errors.log");
        let screen_path = dir.join("screen.log");
        let stdout_path = dir.join("stdout.log");
        let stderr_path = dir.join("stderr.log");

        let mut args: Vec<String> = vec![
            target.to_string(),
            "-sf".into(),
            self.scenario.display().to_string(),
            "-t".into(),
            self.transport.flag().into(),
            "-i".into(),
            LOOPBACK.to_string(),
            "-bind_local".into(),
            "-p".into(),
            local_port.to_string(),
            "-mp".into(),
            media_port.to_string(),
            "-m".into(),
            self.calls.to_string(),
            "-timeout".into(),
            format!("{timeout_secs}s"),
            "-timeout_error".into(),
            "-nostdin".into(),
            "-trace_err".into(),
            "-error_file".into(),
            errors_path.display().to_string(),
            "-trace_screen".into(),
            "-screen_file".into(),
            screen_path.display().to_string(),
        ];
        args.extend(self.extra_args.iter().cloned());
        let command = format!("{} {}", sipp.display(), args.join(" "));

        let stdout = File::create(&stdout_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stdout_path.display()));
        let stderr = File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr_path.display()));
        let mut child = Command::new(&sipp)
            .args(&args)
            .current_dir(&dir)
            .env("TERM", "dumb")
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn `{command}`: {e}"));

        let watchdog = Duration::from_secs(timeout_secs + 30);
        let status = match wait_timeout(&mut child, watchdog) {
            Ok(Some(status)) => Some(status),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        };
        let read = |p: &Path| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let outcome = SippOutcome {
            status,
            code: status.and_then(|s| s.code()),
            command,
            stdout: read(&stdout_path),
            stderr: read(&stderr_path),
            errors: read(&errors_path),
            screen: read(&screen_path),
        };
        if outcome.success() && !thread::panicking() {
            let _ = fs::remove_dir_all(&dir);
        }
        outcome
    }
}
