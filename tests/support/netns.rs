//! Network namespaces for peers that cannot use loopback.
//!
//! baresip puts the address of a real interface in its Contact and SDP and
//! cannot be bound to `lo`, so tests that use it run it (and the registrar it
//! talks to) inside a private network namespace holding a veth pair whose two
//! ends both stay in the namespace: every packet stays there.
//!
//! ```text
//! namespace sbt-<label>-<pid>-<n>
//!   lo  127.0.0.1          (up)
//!   v0  10.X.Y.1/24  <-veth->  v1  10.X.Y.2/24
//!       server_ip: the server under test          peer_ip: baresip and other peers
//! ```
//!
//! Creating a namespace needs root (CAP_SYS_ADMIN) and `ip` (iproute2); a test
//! without them fails saying so. The test process itself stays in the host
//! namespace: it reaches into the namespace by running commands there
//! ([`TestNetns::command`]), and [`TestNetns::udp_exchange`] /
//! [`TestNetns::http_get`] do small exchanges from inside with `bash`'s
//! `/dev/udp` and `/dev/tcp` (no extra tool). On drop every process still in
//! the namespace is killed (SIGKILL) and the namespace deleted.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::http::HttpResponse;
use super::wait_timeout;

/// Interface holding [`TestNetns::server_ip`].
pub const SERVER_IF: &str = "v0";
/// Interface holding [`TestNetns::peer_ip`].
pub const PEER_IF: &str = "v1";

/// How long one `ip` command may take.
const IP_TIMEOUT: Duration = Duration::from_secs(10);

/// A private network namespace with a veth pair, deleted (with everything
/// running in it) on drop.
pub struct TestNetns {
    name: String,
    /// `10.X.Y.1` on [`SERVER_IF`]: where the server under test listens.
    pub server_ip: Ipv4Addr,
    /// `10.X.Y.2` on [`PEER_IF`]: where peers such as baresip bind.
    pub peer_ip: Ipv4Addr,
    next_port: AtomicU16,
}

impl TestNetns {
    /// Creates `sbt-<label>-<pid>-<n>` with `lo` up and the veth pair
    /// configured. `X.Y` comes from the process id and a counter, so
    /// namespaces of parallel tests also differ in their addresses (which
    /// they would not need to: each namespace has its own stack).
    ///
    /// Panics, saying what is missing, if `ip` is not installed or the
    /// namespace cannot be created (not root).
    pub fn create(label: &str) -> TestNetns {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(24)
            .collect();
        let name = format!("sbt-{label}-{pid}-{n}");
        // 10.X.Y.0/24 with X in 1..=250: 64,000 distinct subnets.
        let slot = (pid.wrapping_mul(131).wrapping_add(n)) % (250 * 256);
        let x = 1 + (slot / 256) as u8;
        let y = (slot % 256) as u8;
        let server_ip = Ipv4Addr::new(10, x, y, 1);
        let peer_ip = Ipv4Addr::new(10, x, y, 2);

        ip(&["netns", "add", &name]).unwrap_or_else(|e| {
            panic!(
                "cannot create network namespace {name}: {e}\n\
                 Creating a network namespace needs root (CAP_SYS_ADMIN); this test runs as \
                 euid {}. Run the tests as root (e.g. in the project's container) or with sudo.",
                effective_uid().map_or_else(|| "unknown".to_owned(), |u| u.to_string())
            )
        });
        // From here on, Drop deletes the namespace if a step fails.
        let netns = TestNetns {
            name,
            server_ip,
            peer_ip,
            next_port: AtomicU16::new(20_000),
        };
        let server_cidr = format!("{server_ip}/24");
        let peer_cidr = format!("{peer_ip}/24");
        let steps: [&[&str]; 6] = [
            &["link", "set", "lo", "up"],
            &[
                "link", "add", SERVER_IF, "type", "veth", "peer", "name", PEER_IF,
            ],
            &["addr", "add", &server_cidr, "dev", SERVER_IF],
            &["addr", "add", &peer_cidr, "dev", PEER_IF],
            &["link", "set", SERVER_IF, "up"],
            &["link", "set", PEER_IF, "up"],
        ];
        for step in steps {
            let mut args = vec!["-n", netns.name.as_str()];
            args.extend_from_slice(step);
            if let Err(e) = ip(&args) {
                panic!("cannot set up network namespace {}: {e}", netns.name);
            }
        }
        netns
    }

    /// The namespace's name (for `ip netns exec NAME ...`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `server_ip:port`.
    pub fn server_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.server_ip, port))
    }

    /// A block of `count` consecutive port numbers not handed out before in
    /// this namespace. The namespace is fresh, so nothing else holds them.
    pub fn alloc_ports(&self, count: u16) -> u16 {
        let first = self.next_port.fetch_add(count, Ordering::Relaxed);
        assert!(
            first.checked_add(count).is_some_and(|end| end < 60_000),
            "network namespace {} ran out of ports",
            self.name
        );
        first
    }

    /// A `Command` running `program` inside the namespace
    /// (`ip netns exec NAME program`). `ip` execs the program, so the child's
    /// pid is the program's own and signals reach it directly.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        command_in(&self.name, program)
    }

    /// Runs `program args` inside the namespace to completion (at most
    /// `limit`) and returns its output; panics with stdout and stderr if it
    /// cannot run, times out or exits unsuccessfully.
    pub fn run(&self, program: &str, args: &[&str], limit: Duration) -> Output {
        let mut cmd = self.command(program);
        cmd.args(args);
        let output = run_bounded(cmd, None, limit)
            .unwrap_or_else(|e| panic!("{program} {args:?} in netns {}: {e}", self.name));
        if !output.status.success() {
            panic!(
                "{program} {args:?} in netns {} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.name,
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        output
    }

    /// Pids of every process inside the namespace.
    pub fn pids(&self) -> Vec<u32> {
        pids_in(&self.name)
    }

    /// From inside the namespace, sends `payload` as one UDP datagram to
    /// `to` and returns the first datagram that comes back within `wait`, or
    /// `None`. The source is an ephemeral port (on the address the kernel picks
    /// for `to`) not known in advance: a SIP request must carry `rport` in its
    /// Via so the answer comes back to it (RFC 3581). Payloads must fit one
    /// datagram (64 KiB).
    pub fn udp_exchange(&self, to: SocketAddr, payload: &[u8], wait: Duration) -> Option<Vec<u8>> {
        udp_exchange_in(&self.name, to, payload, wait)
    }

    /// `GET path` over HTTP/1.1 to `addr` from inside the namespace
    /// (`Connection: close`), bounded by `timeout`.
    pub fn http_get(
        &self,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> io::Result<HttpResponse> {
        http_get_in(&self.name, addr, path, timeout)
    }

    /// True if a TCP connection to `addr` from inside the namespace succeeds.
    pub fn tcp_connects(&self, addr: SocketAddr, timeout: Duration) -> bool {
        tcp_connects_in(&self.name, addr, timeout)
    }
}

/// See [`TestNetns::tcp_connects`].
pub(super) fn tcp_connects_in(netns: &str, addr: SocketAddr, timeout: Duration) -> bool {
    let script = r#"exec 3<>"/dev/tcp/$1/$2""#;
    let mut cmd = command_in(netns, "bash");
    cmd.arg("-c")
        .arg(script)
        .arg("sb-tcp-probe")
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string());
    run_bounded(cmd, None, timeout).is_ok_and(|out| out.status.success())
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        // Everything started in the namespace dies with it.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = pids_in(&self.name);
            if pids.is_empty() || Instant::now() >= deadline {
                break;
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            thread::sleep(Duration::from_millis(50));
        }
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!(
                "warning: cannot delete network namespace {}: {e}",
                self.name
            );
        }
    }
}

/// `ip netns exec NAME program`.
pub(super) fn command_in(netns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.arg("netns").arg("exec").arg(netns).arg(program);
    cmd
}

fn pids_in(netns: &str) -> Vec<u32> {
    match ip(&["netns", "pids", netns]) {
        Ok(out) => out
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// See [`TestNetns::udp_exchange`].
pub(super) fn udp_exchange_in(
    netns: &str,
    to: SocketAddr,
    payload: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let reply = udp_in(netns, to, payload, wait, false);
    (!reply.is_empty()).then_some(reply)
}

/// Like [`udp_exchange_in`], but returns every datagram that came back
/// within `wait`, concatenated (waits the whole time).
pub(super) fn udp_collect_in(
    netns: &str,
    to: SocketAddr,
    payload: &[u8],
    wait: Duration,
) -> Vec<u8> {
    udp_in(netns, to, payload, wait, true)
}

/// `dd ... iflag=fullblock` reads the whole payload before its single
/// write, so it leaves as one datagram; a reply is read with one `read`, so
/// one datagram (or `cat`: all of them).
fn udp_in(netns: &str, to: SocketAddr, payload: &[u8], wait: Duration, all: bool) -> Vec<u8> {
    let script = r#"exec 3<>"/dev/udp/$1/$2" || exit 97
dd bs=65535 count=1 iflag=fullblock status=none >&3 || exit 98
if [ "$4" = all ]; then
    timeout "$3" cat <&3
else
    timeout "$3" dd bs=65535 count=1 status=none <&3
fi
exit 0"#;
    let mut cmd = command_in(netns, "bash");
    cmd.arg("-c")
        .arg(script)
        .arg("sb-udp")
        .arg(to.ip().to_string())
        .arg(to.port().to_string())
        .arg(format!("{:.3}", wait.as_secs_f64()))
        .arg(if all { "all" } else { "one" });
    let output = run_bounded(cmd, Some(payload), wait + Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("UDP exchange with {to} in netns {netns}: {e}"));
    if !output.status.success() {
        panic!(
            "UDP exchange with {to} in netns {netns} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output.stdout
}

/// See [`TestNetns::http_get`].
pub(super) fn http_get_in(
    netns: &str,
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let script = r#"exec 3<>"/dev/tcp/$1/$2" || exit 97
printf 'GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: switchboard-e2e\r\nAccept: */*\r\nConnection: close\r\n\r\n' "$3" "$1" "$2" >&3 || exit 98
timeout "$4" cat <&3
exit 0"#;
    let mut cmd = command_in(netns, "bash");
    cmd.arg("-c")
        .arg(script)
        .arg("sb-http")
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(path)
        .arg(format!("{:.3}", timeout.as_secs_f64()));
    let output = run_bounded(cmd, None, timeout + Duration::from_secs(10))?;
    if !output.status.success() {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "GET {path} from {addr} in netns {netns} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
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

/// Runs `ip args` (bounded), returning stdout, or an error naming the cause.
fn ip(args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    match run_bounded(cmd, None, IP_TIMEOUT) {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "`ip {}` exited with {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(
            "`ip` not found: install the Debian package iproute2 (scripts/test.sh does)".to_owned(),
        ),
        Err(e) => Err(format!("`ip {}`: {e}", args.join(" "))),
    }
}

/// Runs `cmd` with `stdin` (or nothing) as input, collecting stdout and
/// stderr, killing it if it runs longer than `limit`.
pub(super) fn run_bounded(
    mut cmd: Command,
    stdin: Option<&[u8]>,
    limit: Duration,
) -> io::Result<Output> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let stdout = drain(&mut child, true);
    let stderr = drain(&mut child, false);
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // The child may exit without reading (error paths); its status says so.
        // Dropping the pipe closes it: the child sees the end of its input.
        let _ = pipe.write_all(input);
    }
    let status = match wait_timeout(&mut child, limit)? {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{cmd:?} still running after {limit:?}; killed"),
            ));
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Reads the child's stdout (or stderr) to the end on a thread, so a full
/// pipe never blocks it.
fn drain(child: &mut Child, stdout: bool) -> thread::JoinHandle<Vec<u8>> {
    let pipe: Option<Box<dyn Read + Send>> = if stdout {
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>)
    } else {
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>)
    };
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

/// The effective uid of this process, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
