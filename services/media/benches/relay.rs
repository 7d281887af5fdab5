//! RTP relay cost per packet on one core (`media::relay`).
//!
//! - `relay/same_codec`: a 20 ms PCMU packet from leg A relayed to leg B (PCMU): parse,
//!   latch check, statistics, jitter, payload-type rewrite and the copy to send.
//! - `relay/transcode`: the same packet to a PCMA leg, with the payload rewritten through the
//!   G.711 tables.
//! - `relay/telephone_event`: a telephone-event update packet, PT remapped and fed to the
//!   DTMF receiver.
//!
//! Throughput is in elements: one element is one packet, so `Melem/s` reads as millions of
//! packets per second. A plain timed loop after the criterion runs prints packets/s too.
//! Before timing, each scenario is run once and its result checked.
//!
//! Run: `cargo bench -p media --bench relay -- --noplot`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use media::dtmf::{DtmfMode, TelephoneEvent};
use media::relay::{LegConfig, LegId, RelayAction, RelayConfig, RelaySession};
use media::sdp::{Codec, Direction, RemoteEndpoint};

const A: &str = "203.0.113.5:31000";
const B: &str = "198.51.100.20:6000";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("bench address")
}

fn leg(port: u16, remote: &str, codec: Codec, pt: u8) -> LegConfig {
    let remote = addr(remote);
    LegConfig {
        rtp_port: port,
        rtcp_port: port + 1,
        remote_rtp: RemoteEndpoint::Addr(remote),
        remote_rtcp: RemoteEndpoint::Addr(SocketAddr::new(remote.ip(), remote.port() + 1)),
        codec,
        payload_type: pt,
        telephone_event: Some(if pt == 0 { 101 } else { 96 }),
        direction: Direction::SendRecv,
        dtmf_mode: DtmfMode::Rfc4733,
    }
}

fn session(b_codec: Codec, b_pt: u8, t0: Instant) -> RelaySession {
    RelaySession::new(
        RelayConfig::default(),
        leg(10000, A, Codec::pcmu(), 0),
        leg(10002, B, b_codec, b_pt),
        t0,
    )
}

fn packet(pt: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
    p.extend_from_slice(payload);
    p
}

/// Relays one packet with the next sequence number and timestamp at the next 20 ms.
struct Stream {
    session: RelaySession,
    packet: Vec<u8>,
    seq: u16,
    now: Instant,
    /// Whether the timestamp advances (audio) or stays (one long telephone-event).
    advance_ts: bool,
}

impl Stream {
    fn new(session: RelaySession, packet: Vec<u8>, t0: Instant, advance_ts: bool) -> Stream {
        Stream {
            session,
            packet,
            seq: 0,
            now: t0,
            advance_ts,
        }
    }

    fn step(&mut self) -> Vec<RelayAction> {
        self.seq = self.seq.wrapping_add(1);
        self.now += Duration::from_millis(20);
        self.packet[2..4].copy_from_slice(&self.seq.to_be_bytes());
        if self.advance_ts {
            let ts = u32::from(self.seq) * 160;
            self.packet[4..8].copy_from_slice(&ts.to_be_bytes());
        }
        self.session
            .on_rtp(LegId::A, addr(A), black_box(&self.packet), self.now)
    }
}

fn scenarios(t0: Instant) -> Vec<(&'static str, Stream)> {
    let audio = packet(0, &[0x55; 160]);
    let event = TelephoneEvent {
        event: 5,
        end: false,
        volume: 10,
        // Large so the receiver never sees the event as over within the run.
        duration: 400,
    }
    .encode();
    vec![
        (
            "same_codec",
            Stream::new(session(Codec::pcmu(), 0, t0), audio.clone(), t0, true),
        ),
        (
            "transcode",
            Stream::new(session(Codec::pcma(), 8, t0), audio, t0, true),
        ),
        (
            "telephone_event",
            Stream::new(
                session(Codec::pcmu(), 0, t0),
                packet(101, &event),
                t0,
                false,
            ),
        ),
    ]
}

fn check(name: &str, stream: &mut Stream) {
    let actions = stream.step();
    let sent = actions.iter().any(|a| {
        matches!(a, RelayAction::SendRtp { from_leg: LegId::B, to, bytes }
            if *to == addr(B) && bytes.len() == stream.packet.len())
    });
    assert!(sent, "{name}: packet not relayed: {actions:?}");
}

fn bench(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(1));
    for (name, mut stream) in scenarios(t0) {
        check(name, &mut stream);
        group.bench_function(name, |b| b.iter(|| black_box(stream.step())));
    }
    group.finish();
}

/// A plain timed loop, for a packets/s figure without criterion's statistics.
fn print_packets_per_second() {
    const PACKETS: u32 = 1_000_000;
    let t0 = Instant::now();
    for (name, mut stream) in scenarios(t0) {
        check(name, &mut stream);
        let start = Instant::now();
        for _ in 0..PACKETS {
            black_box(stream.step());
        }
        let elapsed = start.elapsed();
        println!(
            "relay/{name}: {:.0} packets/s ({:.0} ns/packet)",
            f64::from(PACKETS) / elapsed.as_secs_f64(),
            elapsed.as_nanos() as f64 / f64::from(PACKETS)
        );
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    print_packets_per_second();
}
