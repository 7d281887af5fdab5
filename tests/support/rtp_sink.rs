//! An RTP sink: a UDP socket on `127.0.0.1` that records every RTP packet it gets (arrival
//! instant, header, payload) until the sender goes quiet, and checks of what it recorded:
//! pacing ([`check_pacing`]) and one well-formed stream ([`check_stream`]), each returning a
//! readable report.
//!
//! Plain `std`, no other module of the harness: `services/switchboard/tests` include it by
//! path too.

use std::fmt::{self, Write as _};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest a recording lasts, however busy the sender: every wait is bounded.
pub const MAX_RECORDING: Duration = Duration::from_secs(120);

/// The fixed RTP header fields (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// M bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// One RTP packet as the sink got it.
#[derive(Debug, Clone)]
pub struct RtpArrival {
    /// When `recv_from` returned it.
    pub at: Instant,
    /// Where it came from.
    pub from: SocketAddr,
    /// Its header.
    pub header: RtpHeader,
    /// Its payload (after CSRCs, extension and padding).
    pub payload: Vec<u8>,
}

/// Parses an RTP packet: version 2, lengths consistent; `None` for anything else.
pub fn parse_rtp(data: &[u8]) -> Option<(RtpHeader, &[u8])> {
    let b0 = *data.first()?;
    let b1 = *data.get(1)?;
    if data.len() < 12 || b0 >> 6 != 2 {
        return None;
    }
    let word = |at: usize| -> Option<u32> {
        let b = data.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut start = 12 + 4 * usize::from(b0 & 0x0f);
    if b0 & 0x10 != 0 {
        start += 4 + 4 * (word(start)? & 0xffff) as usize;
    }
    let mut end = data.len();
    if b0 & 0x20 != 0 {
        end = end.checked_sub(usize::from(*data.last()?))?;
    }
    let header = RtpHeader {
        marker: b1 & 0x80 != 0,
        payload_type: b1 & 0x7f,
        sequence: u16::from_be_bytes([data[2], data[3]]),
        timestamp: word(4)?,
        ssrc: word(8)?,
    };
    Some((header, data.get(start..end)?))
}

/// A bound sink (see the module documentation).
#[derive(Debug)]
pub struct RtpSink {
    socket: UdpSocket,
}

impl RtpSink {
    /// Binds `127.0.0.1:0`.
    pub fn bind() -> io::Result<RtpSink> {
        Ok(RtpSink {
            socket: UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?,
        })
    }

    /// The sink's address (put it in the SDP the sender reads).
    pub fn addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .unwrap_or_else(|e| panic!("RTP sink has no local address: {e}"))
    }

    /// The sink's port.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// A handle on the same socket, to send from the sink's address (DTMF to the sender,
    /// which latches onto where RTP comes from) while it records.
    pub fn sender(&self) -> io::Result<UdpSocket> {
        self.socket.try_clone()
    }

    /// Records RTP packets: waits up to `first` for the first one, then stops after `quiet`
    /// without one (or after [`MAX_RECORDING`]). Datagrams that are not RTP are skipped.
    pub fn record(&self, first: Duration, quiet: Duration) -> Vec<RtpArrival> {
        let started = Instant::now();
        let mut packets = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            let wait = if packets.is_empty() { first } else { quiet };
            if self
                .socket
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
                .is_err()
            {
                break;
            }
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let at = Instant::now();
                    if let Some((header, payload)) = parse_rtp(&buf[..n]) {
                        packets.push(RtpArrival {
                            at,
                            from,
                            header,
                            payload: payload.to_vec(),
                        });
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                // ICMP errors from our own sends and the like: keep listening.
                Err(_) => {}
            }
            if started.elapsed() > MAX_RECORDING {
                break;
            }
        }
        packets
    }

    /// [`record`](Self::record) on a thread of its own, so the caller can start the sender.
    pub fn spawn(self, first: Duration, quiet: Duration) -> JoinHandle<Vec<RtpArrival>> {
        thread::spawn(move || self.record(first, quiet))
    }
}

/// The pacing of a recording: every inter-arrival time against the expected one.
#[derive(Debug, Clone)]
pub struct PacingReport {
    /// Packets recorded.
    pub packets: usize,
    /// The interval expected.
    pub expected: Duration,
    /// The deviation allowed either way.
    pub tolerance: Duration,
    /// The mean interval.
    pub mean: Duration,
    /// The largest deviation, signed in microseconds, and the index of the packet that
    /// ended that interval.
    pub worst: (usize, i64),
    /// Intervals outside the tolerance: (index of the later packet, interval).
    pub outliers: Vec<(usize, Duration)>,
    /// From the first packet to the last.
    pub span: Duration,
}

impl PacingReport {
    /// Whether every interval is within the tolerance.
    pub fn ok(&self) -> bool {
        self.packets >= 2 && self.outliers.is_empty()
    }

    /// The share of intervals within the tolerance (0 without any interval).
    pub fn within(&self) -> f64 {
        let intervals = self.packets.saturating_sub(1);
        if intervals == 0 {
            return 0.0;
        }
        (intervals - self.outliers.len()) as f64 / intervals as f64
    }
}

impl fmt::Display for PacingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |us: f64| us / 1000.0;
        write!(
            f,
            "{} packets over {:.1} ms; interval {:.3} ms mean, {:.1} ± {:.1} ms expected; worst \
             deviation {:+.3} ms (packet {}); {} interval(s) out of tolerance",
            self.packets,
            ms(self.span.as_micros() as f64),
            ms(self.mean.as_micros() as f64),
            ms(self.expected.as_micros() as f64),
            ms(self.tolerance.as_micros() as f64),
            ms(self.worst.1 as f64),
            self.worst.0,
            self.outliers.len(),
        )?;
        for (i, d) in self.outliers.iter().take(10) {
            write!(
                f,
                "\n  packet {i}: {:.3} ms after the previous",
                ms(d.as_micros() as f64)
            )?;
        }
        if self.outliers.len() > 10 {
            write!(f, "\n  … and {} more", self.outliers.len() - 10)?;
        }
        Ok(())
    }
}

/// The pacing of `packets` (in arrival order) against `expected` ± `tolerance`, measured
/// between consecutive arrivals.
pub fn pacing(packets: &[RtpArrival], expected: Duration, tolerance: Duration) -> PacingReport {
    let mut worst = (0usize, 0i64);
    let mut outliers = Vec::new();
    for (i, pair) in packets.windows(2).enumerate() {
        let interval = pair[1].at.saturating_duration_since(pair[0].at);
        let deviation = interval.as_micros() as i64 - expected.as_micros() as i64;
        if deviation.abs() > worst.1.abs() {
            worst = (i + 1, deviation);
        }
        if deviation.unsigned_abs() > tolerance.as_micros() as u64 {
            outliers.push((i + 1, interval));
        }
    }
    let span = match (packets.first(), packets.last()) {
        (Some(a), Some(b)) => b.at.saturating_duration_since(a.at),
        _ => Duration::ZERO,
    };
    let intervals = packets.len().saturating_sub(1).max(1) as u32;
    PacingReport {
        packets: packets.len(),
        expected,
        tolerance,
        mean: span / intervals,
        worst,
        outliers,
        span,
    }
}

/// [`pacing`], `Ok` when every interval is within the tolerance, else `Err` with the
/// report's text.
pub fn check_pacing(
    packets: &[RtpArrival],
    expected: Duration,
    tolerance: Duration,
) -> Result<PacingReport, String> {
    let report = pacing(packets, expected, tolerance);
    if report.ok() {
        Ok(report)
    } else if report.packets < 2 {
        Err(format!(
            "pacing: {} packet(s), at least 2 needed",
            report.packets
        ))
    } else {
        Err(format!("pacing out of tolerance: {report}"))
    }
}

/// Checks that `packets` are one RTP stream sent in order: one SSRC and payload type,
/// sequence numbers +1 and timestamps +`timestamp_step` from packet to packet (both
/// wrapping). `Err` lists the first few breaks.
pub fn check_stream(packets: &[RtpArrival], timestamp_step: u32) -> Result<(), String> {
    let Some(first) = packets.first() else {
        return Err("stream: no packet".into());
    };
    let mut problems = Vec::new();
    for (i, pair) in packets.windows(2).enumerate() {
        let (a, b) = (&pair[0].header, &pair[1].header);
        if b.ssrc != first.header.ssrc {
            problems.push(format!(
                "packet {}: SSRC {:#x}, not {:#x}",
                i + 1,
                b.ssrc,
                first.header.ssrc
            ));
        }
        if b.payload_type != first.header.payload_type {
            problems.push(format!("packet {}: payload type {}", i + 1, b.payload_type));
        }
        if b.sequence != a.sequence.wrapping_add(1) {
            problems.push(format!(
                "packet {}: sequence {} after {}",
                i + 1,
                b.sequence,
                a.sequence
            ));
        }
        if b.timestamp != a.timestamp.wrapping_add(timestamp_step) {
            problems.push(format!(
                "packet {}: timestamp {} after {} (step {} expected)",
                i + 1,
                b.timestamp,
                a.timestamp,
                timestamp_step
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut text = format!(
        "stream of {} packets has {} break(s):",
        packets.len(),
        problems.len()
    );
    for p in problems.iter().take(10) {
        let _ = write!(text, "\n  {p}");
    }
    Err(text)
}
