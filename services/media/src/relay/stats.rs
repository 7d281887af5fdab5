//! Per-leg counters and RFC 3550 reception statistics (§A.1 sequence tracking, §A.3 loss,
//! §A.8 interarrival jitter).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A jump of fewer than this many sequence numbers ahead is in-order with a gap (RFC 3550 §A.1).
const MAX_DROPOUT: u16 = 3000;
/// A packet up to this many sequence numbers behind is a late or duplicate one (RFC 3550 §A.1).
const MAX_MISORDER: u16 = 100;

/// A snapshot of one leg's counters; "in" is what the leg's peer sent to Switchboard, "out"
/// what Switchboard relayed to the peer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegStats {
    /// RTP packets accepted from the peer.
    pub packets_in: u64,
    /// Bytes of those packets (UDP payload).
    pub bytes_in: u64,
    /// RTP packets relayed to the peer.
    pub packets_out: u64,
    /// Bytes of those packets.
    pub bytes_out: u64,
    /// RTCP packets accepted from the peer.
    pub rtcp_in: u64,
    /// RTCP packets relayed to the peer.
    pub rtcp_out: u64,
    /// RTP or RTCP datagrams from the peer that did not parse.
    pub malformed: u64,
    /// Valid packets from the peer not relayed: the other leg has no address, is on hold, or
    /// cannot take the payload (different codecs that cannot be transcoded, no
    /// telephone-event payload type).
    pub dropped: u64,
    /// Packets the relay made for this peer (telephone-events and tones rendering the other
    /// leg's digits), counted in `packets_out` too.
    pub dtmf_generated: u64,
    /// Valid packets from a source other than the latched one, not relayed (see the latching
    /// rule in [`super`]).
    pub foreign: u64,
    /// Packets expected from the sequence numbers seen (RFC 3550 §A.3), over all SSRCs.
    pub expected: u64,
    /// Packets lost: expected minus received, never below 0 (duplicates can outnumber losses).
    pub lost: u64,
    /// Interarrival jitter of the audio payload type, in RTP timestamp units (RFC 3550 §A.8).
    pub jitter: f64,
    /// The same in milliseconds.
    pub jitter_ms: f64,
    /// The SSRC of the peer's current stream.
    pub ssrc: Option<u32>,
    /// The RTP source address media is sent back to, once latched.
    pub latched_rtp: Option<SocketAddr>,
    /// The RTCP source address RTCP is sent back to, once latched.
    pub latched_rtcp: Option<SocketAddr>,
    /// When the last RTP packet from the peer was accepted.
    pub last_packet: Option<Instant>,
}

impl LegStats {
    /// The fraction of expected packets lost, 0.0 when nothing was expected.
    pub fn loss_fraction(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.lost as f64 / self.expected as f64
        }
    }
}

/// RFC 3550 reception state for the peer's stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reception {
    ssrc: Option<u32>,
    /// Extended sequence number of the first packet of the current SSRC or resync.
    base_seq: u64,
    max_seq: u16,
    /// Wrap-arounds, shifted: the high bits of the extended sequence number.
    cycles: u64,
    /// The sequence number that confirms a large jump as a restart (RFC 3550 §A.1).
    bad_seq: Option<u16>,
    received: u64,
    /// Expected and received of earlier SSRCs and resyncs, so totals survive them.
    prior_expected: u64,
    prior_received: u64,
    jitter: f64,
    last_transit: Option<u32>,
}

impl Reception {
    /// Takes one packet's SSRC and sequence number; returns true when the SSRC changed (a new
    /// stream: timestamp-based state elsewhere must reset).
    pub(crate) fn on_packet(&mut self, ssrc: u32, seq: u16) -> bool {
        if self.ssrc != Some(ssrc) {
            let changed = self.ssrc.is_some();
            self.restart(seq);
            self.ssrc = Some(ssrc);
            self.last_transit = None;
            return changed;
        }
        let delta = seq.wrapping_sub(self.max_seq);
        if delta < MAX_DROPOUT {
            if delta != 0 && seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            if delta != 0 {
                self.max_seq = seq;
            }
            self.bad_seq = None;
            self.received += 1;
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A very large jump: a restarted sender, or a stray. Only the packet after it
            // confirms a restart; until then it is not counted.
            if self.bad_seq == Some(seq) {
                self.restart(seq);
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
            }
        } else {
            // Late or duplicate: received, but the highest sequence number stays.
            self.received += 1;
        }
        false
    }

    /// Folds the current run into the totals and starts again at `seq`.
    fn restart(&mut self, seq: u16) {
        if self.ssrc.is_some() {
            self.prior_expected += self.run_expected();
            self.prior_received += self.received;
        }
        self.max_seq = seq;
        self.cycles = 0;
        self.base_seq = u64::from(seq);
        self.bad_seq = None;
        self.received = 1;
    }

    fn run_expected(&self) -> u64 {
        (self.cycles + u64::from(self.max_seq) + 1).saturating_sub(self.base_seq)
    }

    /// Updates the jitter estimate with an audio packet's timestamp and its arrival, both in
    /// RTP clock units (RFC 3550 §A.8: J += (|D| - J) / 16).
    pub(crate) fn on_audio(&mut self, timestamp: u32, arrival: u32) {
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(last) = self.last_transit {
            let d = f64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// Writes the loss and jitter figures into `stats`.
    pub(crate) fn fill(&self, stats: &mut LegStats, clock_rate: u32) {
        let (expected, received) = if self.ssrc.is_some() {
            (
                self.prior_expected + self.run_expected(),
                self.prior_received + self.received,
            )
        } else {
            (0, 0)
        };
        stats.expected = expected;
        stats.lost = expected.saturating_sub(received);
        stats.jitter = self.jitter;
        stats.jitter_ms = if clock_rate == 0 {
            0.0
        } else {
            self.jitter * 1000.0 / f64::from(clock_rate)
        };
        stats.ssrc = self.ssrc;
    }
}

/// `elapsed` in RTP clock units, modulo 2³² (only differences matter).
pub(crate) fn clock_units(elapsed: Duration, clock_rate: u32) -> u32 {
    (elapsed.as_nanos() * u128::from(clock_rate) / 1_000_000_000) as u32
}
