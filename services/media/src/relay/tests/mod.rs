//! The relay under virtual time: one base `Instant` plus offsets, datagrams built by hand.
//!
//! - `forwarding`: what is relayed where (latching, transcoding, DTMF, hold, RTCP).
//! - `accounting`: timeouts, loss and jitter figures, malformed input, proptests.
//! - `dtmf`: digits between legs of different DTMF modes.

mod accounting;
mod dtmf;
mod forwarding;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::dtmf::DtmfMode;
use crate::sdp::{Codec, Direction, RemoteEndpoint};

const A_SDP: &str = "192.168.1.10:4000";
const A_SDP_RTCP: &str = "192.168.1.10:4001";
const A_NAT: &str = "203.0.113.5:31000";
const B_SDP: &str = "198.51.100.20:6000";
const B_SDP_RTCP: &str = "198.51.100.20:6001";
const STRAY: &str = "192.0.2.66:9999";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A plain RTP packet: no CSRC, extension or padding.
fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn audio(seq: u16) -> Vec<u8> {
    rtp(0, false, seq, u32::from(seq) * 160, 0x1111, &[0x55; 160])
}

fn leg(port: u16, remote: &str, codec: Codec, pt: u8, te: Option<u8>) -> LegConfig {
    let remote = addr(remote);
    LegConfig {
        rtp_port: port,
        rtcp_port: port + 1,
        remote_rtp: RemoteEndpoint::Addr(remote),
        remote_rtcp: RemoteEndpoint::Addr(SocketAddr::new(remote.ip(), remote.port() + 1)),
        codec,
        payload_type: pt,
        telephone_event: te,
        direction: Direction::SendRecv,
        dtmf_mode: DtmfMode::Rfc4733,
    }
}

fn pcmu_session(t0: Instant) -> RelaySession {
    RelaySession::new(
        RelayConfig::default(),
        leg(10000, A_SDP, Codec::pcmu(), 0, Some(101)),
        leg(10002, B_SDP, Codec::pcmu(), 0, Some(101)),
        t0,
    )
}

/// The RTP datagrams among `actions`, as (sending leg, destination, bytes).
fn sent(actions: &[RelayAction]) -> Vec<(LegId, SocketAddr, Vec<u8>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            RelayAction::SendRtp {
                from_leg,
                to,
                bytes,
            } => Some((*from_leg, *to, bytes.clone())),
            _ => None,
        })
        .collect()
}

fn dest_of(actions: &[RelayAction]) -> Option<SocketAddr> {
    sent(actions).first().map(|(_, to, _)| *to)
}

/// Latches leg A to `A_NAT` with three packets ending at `t`.
fn latch_a(s: &mut RelaySession, t: Instant) {
    for i in 0..3u16 {
        s.on_rtp(LegId::A, addr(A_NAT), &audio(i), t + ms(20 * u64::from(i)));
    }
}
